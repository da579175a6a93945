//! The adversarial corpus (issue #12) through the binary: every case of
//! `tests/adversarial/cases.json` (written by `tests/adversarial/generate.py`) is scanned
//! under an address-space limit (`prlimit --as`, 1 GiB) and a timeout (60 s, then KILL),
//! and must
//! - exit with the code the case expects (2: bad input, the file named; 3: a fleet with one
//!   broken node, the others reported; 0/1 otherwise) — never a signal (an abort, an
//!   allocation failure under the limit) or a hang;
//! - name the file (and the limit where one was hit) in its output or reports;
//! - leak nothing: neither the canary planted beside the node nor the first line of the
//!   host's `/etc/shadow` appears in stdout, stderr or any report;
//! - print no raw control characters on the terminal or in a report, and no
//!   noncharacter or bidi control in the console, HTML, Markdown, SARIF or JUnit.
//!
//! What git cannot hold (FIFOs, a `/dev/zero` character device, sparse files of GiB) is
//! made here, in the test's temp dir, from each case's `runtime` steps.

mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Address space a run may use (`prlimit --as`): far below what any unbounded read,
/// inflation or jq value of the corpus would take.
const ADDRESS_SPACE: u64 = 1 << 30;
/// Seconds a run may take before it counts as a hang.
const TIMEOUT_SECONDS: &str = "60";
/// The jq time limit of these runs (`CISGATE_JQ_TIME_LIMIT`, 30 s by default): the cases
/// that run until that bound end sooner.
const JQ_TIME_LIMIT_SECONDS: &str = "10";

fn corpus() -> PathBuf {
    support::repo_root().join("tests/adversarial")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(corpus().join("cases.json")).expect("cases.json");
    serde_json::from_str(&text).expect("cases.json is JSON")
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key].as_str().unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The tools every case needs; `false` after `support::missing`.
fn tools_present() -> bool {
    ["timeout", "prlimit"]
        .iter()
        .all(|tool| support::tool_available(tool, &["--version"]))
}

struct Outcome {
    /// The exit code, or `None` when a signal ended the run.
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// (report file name, its text)
    reports: Vec<(String, String)>,
}

impl Outcome {
    fn everything(&self) -> String {
        let mut all = format!("{}\n{}", self.stdout, self.stderr);
        for (_, text) in &self.reports {
            all.push('\n');
            all.push_str(text);
        }
        all
    }
}

/// `timeout -s KILL 60 prlimit --as=1G cisgate ARGS` in `cwd`, with every report written
/// to `out/`.
fn run_bounded(cwd: &Path, args: &[String]) -> Outcome {
    let out = cwd.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let report = |name: &str| out.join(name).to_str().unwrap().to_owned();
    let output = Command::new("timeout")
        .args(["--signal=KILL", TIMEOUT_SECONDS, "prlimit"])
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_cisgate"))
        .args(args)
        .args(["--no-color", "--json", &report("results.json")])
        .args([
            "--junit",
            &report("junit.xml"),
            "--html",
            &report("report.html"),
        ])
        .args(["--sarif", &report("report.sarif")])
        .args(["--summary-md", &report("summary.md")])
        .env_remove("CISGATE_CONFIG_DIR")
        .env("CISGATE_JQ_TIME_LIMIT", JQ_TIME_LIMIT_SECONDS)
        .env_remove("RUST_BACKTRACE")
        .current_dir(cwd)
        .output()
        .expect("timeout runs");
    let mut reports = Vec::new();
    for entry in std::fs::read_dir(&out).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        reports.push((
            entry.file_name().to_string_lossy().into_owned(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    reports.sort();
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        reports,
    }
}

/// Copies the cis-1.12 good worker to `to`, named `name`.
fn worker_copy(to: &Path, name: &str) {
    support::copy_tree(
        &support::benchmark_fixture("cis-1.12/nodes/good-worker"),
        to,
    );
    let metadata = to.join("cisgate-node.yaml");
    let text = std::fs::read_to_string(&metadata).unwrap();
    std::fs::write(
        &metadata,
        text.replace("name: worker-1", &format!("name: {name}")),
    )
    .unwrap();
}

/// Lays the files and symlinks under `from` over `to` (an existing path is replaced).
fn overlay(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            overlay(&entry.path(), &target);
            continue;
        }
        if target.symlink_metadata().is_ok() {
            std::fs::remove_file(&target).unwrap();
        }
        if kind.is_symlink() {
            symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Makes what git cannot hold: `fifo PATH`, `dev_zero PATH` (a character device with
/// /dev/zero's numbers as root, else a symlink to /dev/zero), `sparse PATH BYTES`,
/// `symlink PATH TARGET` (folder loops: cargo walks the package, so they are not
/// committed), `copy CORPUS_FILE PATH` (paths relative to `node`, `copy` to `root`).
fn apply_runtime(steps: &[Vec<String>], node: &Path, root: &Path) {
    for step in steps {
        let path = |relative: &str| {
            let path = node.join(relative);
            assert!(path.starts_with(node) && !relative.contains(".."));
            if path.symlink_metadata().is_ok() {
                std::fs::remove_file(&path).unwrap();
            }
            path
        };
        match step.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["fifo", relative] => {
                let status = Command::new("mkfifo").arg(path(relative)).status().unwrap();
                assert!(status.success());
            }
            ["dev_zero", relative] => {
                let target = path(relative);
                let made = nix_is_root()
                    && Command::new("mknod")
                        .arg(&target)
                        .args(["c", "1", "5"])
                        .status()
                        .is_ok_and(|status| status.success());
                if !made {
                    symlink("/dev/zero", &target).unwrap();
                }
            }
            ["sparse", relative, bytes] => {
                let target = path(relative);
                std::fs::File::create(&target)
                    .unwrap()
                    .set_len(bytes.parse().unwrap())
                    .unwrap();
            }
            ["symlink", relative, target] => symlink(target, path(relative)).unwrap(),
            ["copy", file, relative] => {
                std::fs::copy(corpus().join(file), root.join(relative)).unwrap();
            }
            _ => panic!("unknown runtime step {step:?}"),
        }
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The arguments that run `case`, its inputs made under `dir`.
fn prepare(case: &Value, dir: &Path) -> Vec<String> {
    let name = text(case, "name");
    let inputs = corpus().join("cases").join(name);
    let runtime: Vec<Vec<String>> = case["runtime"]
        .as_array()
        .unwrap()
        .iter()
        .map(strings)
        .collect();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let mut args: Vec<String> = ["scan", "--benchmark", "cis-1.12"]
        .map(String::from)
        .to_vec();
    match text(case, "kind") {
        kind @ ("node" | "root") => {
            let node = dir.join("node");
            worker_copy(&node, "worker-1");
            if inputs.join("node").is_dir() {
                overlay(&inputs.join("node"), &node);
            }
            apply_runtime(&runtime, &node, dir);
            let how = if kind == "root" {
                "--root"
            } else {
                "--snapshot"
            };
            args.extend(["--targets".into(), "node".into(), how.into(), path(&node)]);
        }
        "fleet" => {
            let fleet = dir.join("fleet");
            worker_copy(&fleet.join("healthy-a"), "healthy-a");
            worker_copy(&fleet.join("healthy-b"), "healthy-b");
            let broken = fleet.join("broken");
            let steps_on_node = runtime.iter().any(|step| step[0] != "copy");
            if inputs.join("node").is_dir() || steps_on_node {
                worker_copy(&broken, "broken");
                if inputs.join("node").is_dir() {
                    overlay(&inputs.join("node"), &broken);
                }
            }
            apply_runtime(&runtime, &broken, &fleet);
            args.extend(["--targets".into(), "node".into(), "--snapshot".into()]);
            args.push(path(&fleet));
        }
        "snapshot" => {
            let file = std::fs::read_dir(&inputs)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .next()
                .expect("the snapshot file");
            args.extend(["--targets".into(), "node".into(), "--snapshot".into()]);
            args.push(path(&file));
        }
        "jq" => {
            let cfg = dir.join("cfg");
            let repo_cfg = support::repo_root().join("cfg");
            support::copy_tree(&repo_cfg.join("cis-1.12"), &cfg.join("cis-1.12"));
            std::fs::copy(repo_cfg.join("config.yaml"), cfg.join("config.yaml")).unwrap();
            overlay(&inputs, &cfg.join("cis-1.12"));
            args.extend(["--config-dir".into(), path(&cfg)]);
            args.extend(["--targets".into(), "policies".into(), "--snapshot".into()]);
            args.push(path(&corpus().join("jq-snapshot.json")));
        }
        "baseline" => {
            let node = support::benchmark_fixture("cis-1.12/nodes/good-worker");
            args.extend(["--targets".into(), "node".into(), "--snapshot".into()]);
            args.extend([path(&node), "--baseline".into()]);
            args.push(path(&inputs.join("baseline.yaml")));
        }
        other => panic!("{name}: unknown kind {other}"),
    }
    args.extend(strings(&case["args"]));
    args
}

/// Characters no terminal or report may receive raw: C0 controls other than tab and
/// newline, DEL, C1 controls.
fn raw_control(text: &str) -> Option<char> {
    text.chars()
        .find(|&c| c.is_control() && c != '\n' && c != '\t')
}

/// What JSON itself never holds raw (it escapes C0 controls; DEL and C1 are valid JSON
/// text, kept as recorded in the results).
fn raw_c0_control(text: &str) -> Option<char> {
    text.chars().find(|&c| c < ' ' && c != '\n' && c != '\t')
}

/// Noncharacters and bidi controls (allowed only in the JSON results, kept as recorded).
fn invisible(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        matches!(c, '\u{fffe}' | '\u{ffff}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// The host's secrets a case might leak: the canary and `/etc/shadow`'s first line.
fn secrets(canary: &str) -> Vec<String> {
    let mut secrets = vec![canary.to_owned()];
    if let Ok(shadow) = std::fs::read_to_string("/etc/shadow") {
        if let Some(line) = shadow.lines().next().filter(|line| line.len() > 8) {
            secrets.push(line.to_owned());
        }
    }
    secrets
}

/// Runs one case; the reasons it failed, if any.
fn run_case(case: &Value, canary: &str) -> Vec<String> {
    let name = text(case, "name");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("canary.txt"), format!("{canary}\n")).unwrap();
    let args = prepare(case, dir.path());
    let started = std::time::Instant::now();
    let outcome = run_bounded(dir.path(), &args);
    let took = started.elapsed();
    eprintln!("{name}: exit {:?} in {took:.1?}", outcome.code);
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{name}: {what}"));
    let excerpt = |text: &str| text.chars().take(1500).collect::<String>();
    let expected: Vec<i64> = case["expect_codes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    match outcome.code {
        None => fail(format!(
            "ended by a signal after {took:?} (an abort, memory past the {} MiB address space, \
             or the {TIMEOUT_SECONDS} s timeout); stderr: {}",
            ADDRESS_SPACE >> 20,
            excerpt(&outcome.stderr)
        )),
        Some(code) if !expected.contains(&i64::from(code)) => fail(format!(
            "exit {code}, expected one of {expected:?}; stderr: {}",
            excerpt(&outcome.stderr)
        )),
        Some(_) => {}
    }
    let everything = outcome.everything();
    for message in strings(&case["messages"]) {
        if !everything.contains(&message) {
            fail(format!(
                "no output names `{message}`; stderr: {}",
                excerpt(&outcome.stderr)
            ));
        }
    }
    for secret in secrets(canary)
        .into_iter()
        .chain(strings(&case["must_not"]))
    {
        if everything.contains(&secret) {
            fail(format!("leaked `{secret}`"));
        }
    }
    let console = [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)];
    let reports = outcome
        .reports
        .iter()
        .map(|(file, text)| (file.as_str(), text));
    for (place, text) in console.into_iter().chain(reports) {
        if place == "results.json" {
            if let Some(c) = raw_c0_control(text) {
                fail(format!("raw control character {c:?} in {place}"));
            }
            continue;
        }
        if let Some(c) = raw_control(text) {
            fail(format!("raw control character {c:?} in {place}"));
        }
        if let Some(c) = invisible(text) {
            fail(format!("noncharacter or bidi control {c:?} in {place}"));
        }
    }
    if let Some((_, junit)) = outcome.reports.iter().find(|(f, _)| f == "junit.xml") {
        if let Err(error) = roxmltree::Document::parse(junit) {
            fail(format!("junit.xml is not well-formed XML: {error}"));
        }
    }
    if outcome.code == Some(3) {
        let results = outcome
            .reports
            .iter()
            .find(|(f, _)| f == "results.json")
            .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
            .unwrap_or(Value::Null);
        let names: Vec<&str> = results["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|node| node["node"]["name"].as_str().or(node["name"].as_str()))
            .collect();
        for healthy in ["healthy-a", "healthy-b"] {
            if !names.contains(&healthy) {
                fail(format!("{healthy} was not reported: nodes {names:?}"));
            }
        }
    }
    failures
}

/// Runs every case of `kinds`; fails listing every case that failed.
fn run_kinds(kinds: &[&str]) {
    if !tools_present() {
        return;
    }
    let manifest = manifest();
    let canary = manifest["canary"].as_str().unwrap().to_owned();
    let cases: Vec<&Value> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| kinds.contains(&text(case, "kind")))
        .collect();
    assert!(!cases.is_empty(), "no cases of kinds {kinds:?}");
    // Three at a time: most runs wait on their own bounds.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(case) = cases.get(index) else {
                            return failures;
                        };
                        failures.extend(run_case(case, &canary));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn hostile_node_trees_end_bounded_naming_the_file_and_leaking_nothing() {
    run_kinds(&["node"]);
}

#[test]
fn hostile_trees_under_root_end_bounded_naming_the_file() {
    run_kinds(&["root"]);
}

#[test]
fn a_fleet_with_one_hostile_node_reports_the_others_and_exits_3() {
    run_kinds(&["fleet"]);
}

#[test]
fn hostile_snapshot_files_are_exit_2_naming_the_file_and_the_limit() {
    run_kinds(&["snapshot"]);
}

#[test]
fn hostile_jq_is_refused_at_load_or_is_that_checks_error() {
    run_kinds(&["jq"]);
}

#[test]
fn hostile_baselines_are_exit_2_naming_the_file_or_load_bounded() {
    run_kinds(&["baseline"]);
}

#[test]
fn every_case_has_a_known_kind_and_the_corpus_is_what_the_generator_writes() {
    let known = ["node", "root", "fleet", "snapshot", "jq", "baseline"];
    for case in manifest()["cases"].as_array().unwrap() {
        assert!(known.contains(&text(case, "kind")), "{case}");
        assert!(corpus().join("cases").join(text(case, "name")).is_dir());
    }
    if !support::tool_available("python3", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(corpus().join("generate.py"))
        .arg("--out")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let committed = tree_listing(&corpus(), &["generate.py", "README.md"]);
    let generated = tree_listing(dir.path(), &[]);
    let differ: Vec<_> = committed
        .iter()
        .filter(|entry| !generated.contains(entry))
        .chain(generated.iter().filter(|entry| !committed.contains(entry)))
        .map(|(path, _)| path.clone())
        .collect();
    assert!(
        differ.is_empty(),
        "the committed corpus differs from what tests/adversarial/generate.py writes \
         (run it again and commit): {differ:?}"
    );
}

/// (relative path, content or symlink target) of every file under `root`.
fn tree_listing(root: &Path, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut listing = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let relative = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if skip.contains(&relative.as_str()) || relative.contains("__pycache__") {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap();
                listing.push((relative, target.to_string_lossy().as_bytes().to_vec()));
            } else {
                listing.push((relative, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    listing.sort();
    listing
}
