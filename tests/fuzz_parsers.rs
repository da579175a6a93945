//! Property tests over the parsers that read untrusted or hand-written input (issue #12):
//! the snapshot file parser, the snapshot directory reader (`cisgate-node.yaml`), the
//! benchmark loader, the baseline loader, the JSONPath and Go-regex translators, and the
//! checks and bounding rewrite of benchmark jq filters.
//!
//! Each starts from a valid input and applies random byte-level and token-level mutations
//! (a deterministic xorshift generator: failures reproduce). The property: no panic, an
//! `Ok` or a typed error naming the file. A few thousand cases per parser per run; set
//! `CISGATE_FUZZ_CASES` (e.g. 200000) and `CISGATE_FUZZ_SEED` to run longer or elsewhere
//! (docs/security.md).

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use cisgate::baseline::file::BaselineFile;
use cisgate::definitions::load::parse_controls;
use cisgate::engine::compare::go_regex;
use cisgate::engine::jsonpath;
use cisgate::facts::snapshot::{Snapshot, SnapshotNode};
use cisgate::facts::snapshot_dir::SnapshotDirFacts;
use cisgate::facts::{Facts, Process};

struct Rng(u64);

impl Rng {
    fn new(salt: u64) -> Self {
        let seed = std::env::var("CISGATE_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x05ee_dc15_9a7e);
        Rng((seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn cases(default: usize) -> usize {
    std::env::var("CISGATE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Pieces that matter to the formats: quotes, brackets, YAML and JSON syntax, escapes,
/// huge numbers, control characters, noncharacters.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    ",",
    "-",
    "- ",
    "\n",
    "\t",
    "  ",
    "#",
    "&a",
    "*a",
    "!!binary",
    "\\",
    "\\u0000",
    "\\ud800",
    "$",
    "${",
    "$(id)",
    "..",
    "/",
    "*",
    "**",
    "?",
    "|",
    ">",
    "%",
    "@",
    "~",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "99999999999999999999",
    "0x1f",
    "0o777",
    "\u{1b}[2J",
    "\r",
    "\0",
    "\u{fffe}",
    "\u{202e}",
    "é",
    "🦀",
    "{{",
    "}}",
    "(?",
    ")",
    "\\p{",
    "[[:alpha:]]",
    "(?P<x>",
    "{.",
    "range",
    "end",
    "[?(@.a==1)]",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 if at < bytes.len() => bytes[at] = rng.next() as u8,
            3 => bytes.truncate(at),
            4 if !bytes.is_empty() => {
                // duplicate a slice (repeated keys, nested structures)
                let start = rng.below(bytes.len());
                let end = (start + rng.below(64)).min(bytes.len());
                let slice = bytes[start..end].to_vec();
                bytes.splice(at..at, slice);
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.extend_from_slice(token);
            }
        }
    }
    bytes
}

/// Runs `property` on `count` mutations of `seed_input`; a panic fails with the input.
fn check(name: &str, salt: u64, count: usize, seed_input: &[u8], property: impl Fn(&[u8])) {
    let mut rng = Rng::new(salt);
    for case in 0..count {
        let input = mutate(&mut rng, seed_input);
        let outcome = catch_unwind(AssertUnwindSafe(|| property(&input)));
        if outcome.is_err() {
            panic!(
                "{name}: case {case} panicked on input {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn the_snapshot_file_parser_never_panics() {
    let mut snapshot = Snapshot::new(SnapshotNode {
        name: "worker-1".into(),
        roles: vec!["worker".into()],
        ..SnapshotNode::default()
    });
    snapshot.processes = Some(vec![Process {
        pid: 7,
        comm: "kubelet".into(),
        argv: vec![
            "/usr/bin/kubelet".into(),
            "--config=/var/lib/kubelet/config.yaml".into(),
        ],
    }]);
    let seed_input = snapshot.to_json_bytes();
    Snapshot::from_bytes(&seed_input, Path::new("node.json")).expect("the seed is valid");
    check("snapshot", 1, cases(3_000), &seed_input, |bytes| {
        if let Err(error) = Snapshot::from_bytes(bytes, Path::new("node.json")) {
            assert!(error.to_string().contains("node.json"), "{error}");
        }
    });
}

#[test]
fn the_snapshot_directory_reader_never_panics() {
    let fixture = support::repo_root().join("tests/fixtures/cis-1.12/nodes/good-worker");
    let seed_input = std::fs::read(fixture.join("cisgate-node.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("node");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&node)
        .status()
        .unwrap();
    assert!(status.success());
    check(
        "snapshot directory",
        2,
        cases(1_500),
        &seed_input,
        |bytes| {
            std::fs::write(node.join("cisgate-node.yaml"), bytes).unwrap();
            match SnapshotDirFacts::open(&node) {
                Ok(facts) => {
                    let _ = facts.identity();
                    let _ = facts.processes();
                    let _ = facts.stat("/var/lib/kubelet/config.yaml");
                    let _ = facts.list_tree("/etc");
                }
                Err(error) => assert!(
                    error.to_string().contains("cisgate-node.yaml")
                        || error.to_string().contains("node"),
                    "{error}"
                ),
            }
        },
    );
}

#[test]
fn the_benchmark_loader_never_panics() {
    let seed_input = std::fs::read(support::repo_root().join("cfg/cis-1.12/node.yaml")).unwrap();
    check("benchmark", 3, cases(2_000), &seed_input, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if let Err(error) = parse_controls(Path::new("node.yaml"), &text, &mut |_| {}) {
            assert!(error.to_string().contains("node.yaml"), "{error}");
        }
    });
}

#[test]
fn the_baseline_loader_never_panics() {
    let seed_input = b"version: 1\nexceptions:\n  - check: \"1.1.*\"\n    nodes: [\"cp-*\"]\n    targets: [master]\n    reason: accepted\n    owner: team\n    expires: 2026-12-31\n  - check: 4.2.1\n    reason: r\n";
    check("baseline", 4, cases(3_000), seed_input, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if let Err(error) = BaselineFile::parse("baseline.yaml", &text) {
            assert!(error.to_string().contains("baseline.yaml"), "{error}");
        }
    });
}

#[test]
fn the_jsonpath_and_regex_translators_never_panic() {
    let document = br#"{"a":{"b":[1,{"c":"d"}],"e":true},"f":"g"}"#;
    check(
        "jsonpath",
        5,
        cases(3_000),
        b"{.a.b[1].c}{range .a.b[*]}{@}{end}{.a[?(@.e==true)]}",
        |bytes| {
            let template = String::from_utf8_lossy(bytes);
            let _ = jsonpath::validate_template(&template);
            let _ = jsonpath::lookup_path(&String::from_utf8_lossy(document), &template);
        },
    );
    check(
        "go regex",
        6,
        cases(3_000),
        b"^--(authorization-mode)=.*(Node|RBAC)[[:alpha:]]\\d{1,3}\\z$",
        |bytes| {
            let pattern = String::from_utf8_lossy(bytes);
            let _ = go_regex::translate(&pattern);
            let _ = go_regex::is_literal(&pattern);
            let _ = go_regex::compile(&pattern);
        },
    );
}

#[test]
fn the_jq_filter_checks_and_bounding_rewrite_never_panic() {
    // the filter of cis-1.12 check 5.1.2: defs, reduce, interpolation, objects, `*`-free
    let seed_input = br#"def everyone: any(.subjects[]?; .name == "system:authenticated");
def rules_by_role: {cluster: (reduce .clusterroles[] as $r ({}; .[$r.metadata.name | tojson] += [$r.rules[]?]))};
rules_by_role as $i | (.clusterrolebindings[] | select(everyone) | "\(.metadata.name) \([.x * 2, "a" * 3] | tostring)")
| foreach .[] as $x (0; . + 1; [., $x]) | .[1:] | @base64"#;
    check("jq", 7, cases(1_500), seed_input, |bytes| {
        let filter = String::from_utf8_lossy(bytes);
        let _ = cisgate::engine::jq_bounds::forbidden_name(&filter);
        let _ = cisgate::engine::jq_bounds::program_defs(&filter);
        let _ = cisgate::engine::probes::validate_jq(&filter);
    });
}
