//! Shared by the tests: fixtures, the shared folder, external tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cisgate::report::{Emitter, RenderOptions};
use cisgate::results::RunResults;

pub mod chromium;
pub mod definitions;

/// `check id → (state, evidence actual)` of every check in a results document (one node, or
/// the last node's where ids repeat).
pub fn check_states(
    results: &serde_json::Value,
) -> std::collections::BTreeMap<String, (String, String)> {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    results["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|node| node["sections"].as_array().into_iter().flatten())
        .flat_map(|section| section["groups"].as_array().into_iter().flatten())
        .flat_map(|group| group["checks"].as_array().into_iter().flatten())
        .map(|check| {
            (
                text(&check["id"]),
                (text(&check["state"]), text(&check["evidence"]["actual"])),
            )
        })
        .collect()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a directory tree (a node fixture, a fleet), symlinks kept as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A benchmark's test data: `tests/fixtures/<relative>` (e.g. `cis-1.12/nodes/good-worker`).
pub fn benchmark_fixture(relative: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(relative)
}

pub fn fixture_path(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/results").join(name)
}

pub fn small_fixture() -> RunResults {
    let text = std::fs::read_to_string(fixture_path("small.json")).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is valid RunResults")
}

pub fn render(emitter: &dyn Emitter, results: &RunResults) -> Vec<u8> {
    emitter
        .render(results, &RenderOptions::default())
        .expect("renders")
}

pub fn render_string(emitter: &dyn Emitter, results: &RunResults) -> String {
    String::from_utf8(render(emitter, results)).expect("UTF-8")
}

/// A test that cannot run here: under CI (`CI` set) that is a failure, since `.ci/run`
/// installs everything the tests need; locally the reason is printed in the normal output
/// (not only under `--nocapture`) and the test returns early.
pub fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}, and CI is set: .ci/run must provide it");
    }
    // Written to the terminal directly: the test harness captures stdout and stderr.
    let note = format!("NOT RUN (not a pass): {what}\n");
    if std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/tty")
        .and_then(|mut tty| std::io::Write::write_all(&mut tty, note.as_bytes()))
        .is_err()
    {
        eprint!("{note}");
    }
}

/// `<repo>/../shared`, where CI keeps the schemas; `None` where absent (see [`missing`]).
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = repo_root().join("..").join("shared").join(relative);
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!("{} is absent", path.display()));
        None
    }
}

/// kube-bench's published cfg/ tree at `<repo>/../shared/kube-bench-cfg`; `None` where it
/// is absent, as in a user's clone (see [`missing`]).
pub fn kube_bench_cfg() -> Option<PathBuf> {
    let path = repo_root().join("../shared/kube-bench-cfg");
    if path.join("config.yaml").is_file() {
        Some(path)
    } else {
        missing(&format!(
            "{} is absent (it is present in CI)",
            path.display()
        ));
        None
    }
}

/// Whether a program can be run; when not, says so (see [`missing`]).
pub fn tool_available(program: &str, probe_args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe_args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        missing(&format!("`{program}` is not installed"));
    }
    ok
}

pub fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// A deterministic fleet for scale tests: `nodes` nodes (the first three control planes) with
/// `checks` checks each across five sections, about 6 % FAIL (part of them accepted by a baseline),
/// 20 % manual WARN, a few INFO and rare ERROR, line-pinned locations and previous-run changes.
pub fn generated_fleet(nodes: usize, checks: usize) -> RunResults {
    use cisgate::results::*;
    let mut seed: u64 = 0x05ee_dc15_9a7e;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    let sections = [
        ("1", "Control Plane Security Configuration", "master"),
        ("2", "Etcd Node Configuration", "etcd"),
        ("3", "Control Plane Configuration", "controlplane"),
        ("4", "Worker Node Security Configuration", "node"),
        ("5", "Kubernetes Policies", "policies"),
    ];
    let gate = GateOutcome {
        fail_on: "fail".into(),
        allow_errors: false,
        passed: true,
        exit_code: 0,
        regressions: 0,
    };
    let accepted_exception = ExceptionRef {
        check: "1.1.12".into(),
        reason: "kubeadm runs etcd as root".into(),
        expires: Some("2027-01-31".into()),
        owner: Some("platform-team".into()),
        ticket: None,
        line: 3,
        expired: false,
    };
    let mut all_nodes = Vec::new();
    for n in 0..nodes {
        let control_plane = n < 3;
        let name = if control_plane {
            format!("cp-{n}")
        } else {
            format!("worker-{n:04}")
        };
        let mut node_totals = Totals::default();
        let mut node_sections = Vec::new();
        let per_section = checks / sections.len();
        for (s, (id, text, target)) in sections.iter().enumerate() {
            let count = if s == sections.len() - 1 {
                checks - per_section * s
            } else {
                per_section
            };
            let mut group_checks = Vec::new();
            let mut totals = Totals::default();
            for c in 0..count {
                let check_id = format!("{id}.{}.{}", c / 10 + 1, c % 10 + 1);
                let roll = next() % 100;
                let manual = c % 5 == 0;
                let state = if check_id == "1.1.2" {
                    State::Fail
                } else if manual {
                    State::Warn
                } else if roll < 5 || (roll < 7 && n % 7 == 0) {
                    State::Fail
                } else if roll < 8 {
                    State::Info
                } else if roll == 99 && n % 50 == 0 {
                    State::Error
                } else {
                    State::Pass
                };
                let baseline = match state {
                    State::Fail if check_id == "1.1.2" => Some(BaselineMark {
                        classification: Classification::Accepted,
                        exception: Some(accepted_exception.clone()),
                    }),
                    State::Fail | State::Error => Some(BaselineMark {
                        classification: Classification::Regression,
                        exception: None,
                    }),
                    _ => None,
                };
                // About 1 % of passing checks fixed and 3 % of the others new since last night.
                let change_roll = next() % 100;
                let change = match state {
                    State::Pass if change_roll == 0 => Some(Change::Fixed),
                    State::Pass => None,
                    _ if change_roll < 3 => Some(Change::New),
                    _ => Some(Change::Unchanged),
                };
                totals.add(state);
                group_checks.push(CheckResult {
                    id: check_id.as_str().into(),
                    text: format!("Ensure that the --setting-{id}-{c} argument is set as appropriate").into(),
                    state,
                    scored: !manual,
                    check_type: if manual { "manual".into() } else { Default::default() },
                    reason: if manual { "Test marked as a manual test".into() } else { Default::default() },
                    remediation: format!("Edit the {target} configuration and set --setting-{id}-{c}=true, then restart the component.").into(),
                    evidence: Evidence {
                        audits: vec![AuditEvidence {
                            role: "audit".into(),
                            kind: "probe".into(),
                            command: format!("process kube-{target}").into(),
                            output: format!("kube-{target} --setting-{id}-{c}=false --other-flag=value").into(),
                            exit_code: None,
                        }],
                        actual: format!("--setting-{id}-{c}=false").into(),
                        expected: format!("'--setting-{id}-{c}' is equal to 'true'").into(),
                        decisive: format!("--setting-{id}-{c}=false").into(),
                    },
                    location: Some(Box::new(Location {
                        path: format!("/etc/kubernetes/manifests/kube-{target}.yaml").into(),
                        line: Some(10 + c as u32),
                        source_file: None,
                    })),
                    baseline: baseline.map(Box::new),
                    change,
                });
            }
            node_totals.merge(&totals);
            node_sections.push(SectionResult {
                id: (*id).into(),
                text: (*text).into(),
                version: "cis-1.12".into(),
                target: (*target).into(),
                groups: vec![GroupResult {
                    id: format!("{id}.1").into(),
                    text: format!("{text} checks").into(),
                    checks: group_checks,
                    totals,
                }],
                totals,
            });
        }
        all_nodes.push(NodeResults {
            node: NodeInfo {
                name,
                roles: vec![if control_plane {
                    "control-plane".into()
                } else {
                    "worker".into()
                }],
                kubernetes_version: Some("v1.32.4".into()),
                platform: Some("kubeadm".into()),
                source: "live".into(),
                cluster: None,
                benchmark: None,
                distribution: None,
            },
            sections: node_sections,
            totals: node_totals,
        });
    }
    let mut results = RunResults {
        results_version: RESULTS_VERSION,
        tool: ToolInfo {
            name: "cisgate".into(),
            version: "0.1.0".into(),
        },
        scanned_at: None,
        benchmark: BenchmarkInfo {
            name: "cis-1.12".into(),
            source: "embedded".into(),
            selected_because: "--benchmark cis-1.12".into(),
            targets: sections.iter().map(|s| s.2.to_string()).collect(),
        },
        benchmarks: Vec::new(),
        nodes: all_nodes,
        unreadable: vec![],
        totals: Totals::default(),
        gate,
        baseline: None,
        previous: None,
    };
    let mut totals = Totals::default();
    for node in &results.nodes {
        totals.merge(&node.totals);
    }
    results.totals = totals;
    let regressions = results
        .checks()
        .filter(|(_, _, c)| matches!(c.state, State::Fail | State::Error))
        .filter(|(_, _, c)| {
            c.baseline
                .as_ref()
                .is_some_and(|b| b.classification == Classification::Regression)
        })
        .count();
    let accepted = results
        .checks()
        .filter(|(_, _, c)| {
            c.baseline
                .as_ref()
                .is_some_and(|b| b.classification == Classification::Accepted)
        })
        .count();
    results.gate.regressions = regressions;
    results.gate.passed = regressions == 0;
    results.gate.exit_code = if regressions == 0 { 0 } else { 1 };
    results.baseline = Some(BaselineSummary {
        file: ".cisgate/baseline.yaml".into(),
        accepted,
        regressions,
        stale: vec![],
        expiring: vec![],
        expired: vec![],
        placeholder_reasons: Vec::new(),
    });
    results
}

/// The Nu HTML checker's jar: `$CISGATE_VNU_JAR` (set by `.ci/run`), `$VNU_JAR`, or where
/// `npm install -g vnu-jar` puts it.
pub fn vnu_jar() -> Option<PathBuf> {
    let candidates = ["CISGATE_VNU_JAR", "VNU_JAR"]
        .into_iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .chain(
            Command::new("npm")
                .args(["root", "-g"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| {
                    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
                        .join("vnu-jar/build/dist/vnu.jar")
                }),
        );
    for candidate in candidates {
        if candidate.is_file() {
            return tool_available("java", &["-version"]).then_some(candidate);
        }
    }
    missing("vnu.jar not found (npm install -g vnu-jar, or set CISGATE_VNU_JAR)");
    None
}

/// The Nu HTML checker finds no error in the page (see [`missing`] where it is absent).
pub fn assert_valid_html(html: &[u8]) {
    let Some(jar) = vnu_jar() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(dir.path(), "report.html", html);
    let output = Command::new("java")
        .arg("-jar")
        .arg(jar)
        .arg("--errors-only")
        .arg(&file)
        .output()
        .expect("vnu runs");
    assert!(
        output.status.success(),
        "the Nu HTML checker found errors:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Loads a page in headless Chromium and returns the DOM after its scripts ran.
pub fn chromium_dom(url: &str) -> Option<String> {
    let profile = tempfile::tempdir().expect("profile dir");
    let Some(mut command) = chromium::dump_dom_command(profile.path()) else {
        missing("chromium is not installed");
        return None;
    };
    let output = command.arg(url).output().expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("UTF-8 DOM"))
}
