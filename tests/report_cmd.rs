//! `cisgate report --from …`: reading results files, merging, writing every report, and the
//! errors a user sees for bad input. Driven through the command's parser and `run`.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use cisgate::cli::report_cmd::{run, ReportCommand};
use cisgate::results::RunResults;
use clap::Parser;
use support::{fixture_path, small_fixture};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    report: ReportCommand,
}

fn command(args: &[&str]) -> ReportCommand {
    let mut argv = vec!["cisgate-report"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("flags parse").report
}

/// One results file per node, as a fleet's jobs would write them.
fn write_per_node_files(dir: &Path) -> Vec<PathBuf> {
    let full = small_fixture();
    full.nodes
        .iter()
        .map(|node| {
            let mut one = full.clone();
            one.nodes = vec![node.clone()];
            let mut totals = cisgate::results::Totals::default();
            totals.merge(&node.totals);
            one.totals = totals;
            let path = dir.join(format!("{}.json", node.node.name));
            std::fs::write(&path, serde_json::to_vec_pretty(&one).unwrap()).unwrap();
            path
        })
        .collect()
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn merges_per_node_files_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_per_node_files(dir.path());
    let out = |name: &str| dir.path().join(name);
    let mut args: Vec<String> = Vec::new();
    for input in inputs.iter().rev() {
        args.push("--from".into());
        args.push(arg(input));
    }
    for (flag, name) in [
        ("--sarif", "r.sarif"),
        ("--junit", "junit.xml"),
        ("--html", "r.html"),
        ("--codequality", "cq.json"),
        ("--summary-md", "summary.md"),
    ] {
        args.push(flag.into());
        args.push(arg(&out(name)));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run(command(&args)).unwrap(), 0);

    let full = small_fixture();
    let xml = std::fs::read_to_string(out("junit.xml")).unwrap();
    let document = roxmltree::Document::parse(&xml).unwrap();
    let tests: usize = document
        .root_element()
        .attribute("tests")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(tests, full.totals.checks());
    let suites: Vec<&str> = document
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert!(
        suites[0].starts_with("cp-1 /"),
        "nodes sorted by name: {suites:?}"
    );
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out("r.sarif")).unwrap()).unwrap();
    let non_passing = full.totals.checks() - full.totals.pass;
    // one SARIF result per check and place, naming its nodes
    let nodes_in_results: u64 = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["properties"]["nodeCount"].as_u64().unwrap())
        .sum();
    assert_eq!(nodes_in_results as usize, non_passing);
    let issues: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out("cq.json")).unwrap()).unwrap();
    assert_eq!(issues.len(), full.gate.regressions);
    assert!(std::fs::read_to_string(out("summary.md"))
        .unwrap()
        .contains("gate failed"));
    assert!(std::fs::read_to_string(out("r.html"))
        .unwrap()
        .contains("worker-2"));
}

#[test]
fn gzip_results_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("results.json.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(&std::fs::read(fixture_path("small.json")).unwrap())
        .unwrap();
    encoder.finish().unwrap();
    let md = dir.path().join("summary.md");
    run(command(&["--from", &arg(&gz), "--summary-md", &arg(&md)])).unwrap();
    assert!(md.is_file());
}

fn error_for(content: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.json");
    std::fs::write(&input, content).unwrap();
    let md = dir.path().join("summary.md");
    let error = run(command(&[
        "--from",
        &arg(&input),
        "--summary-md",
        &arg(&md),
    ]))
    .unwrap_err();
    assert!(!md.exists(), "nothing is written when an input is bad");
    format!("{error:#}")
}

#[test]
fn invalid_json_names_the_file_line_and_what_was_expected() {
    let message = error_for("{\n  \"results_version\": 1,\n  oops\n}");
    assert!(message.contains("bad.json:3:"), "{message}");
    assert!(
        message.contains("expected a cisgate JSON results file"),
        "{message}"
    );
}

#[test]
fn json_that_is_not_results_is_named_as_such() {
    let message = error_for("{\"version\": \"2.1.0\", \"runs\": []}");
    assert!(
        message.contains("bad.json: no \"results_version\" field"),
        "{message}"
    );
}

#[test]
fn results_with_a_wrong_field_name_the_position() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_path("small.json")).unwrap()).unwrap();
    value["nodes"][0]["sections"][0]["groups"][0]["checks"][0]["state"] =
        serde_json::json!("MAYBE");
    let message = error_for(&serde_json::to_string_pretty(&value).unwrap());
    assert!(message.contains("unknown variant `MAYBE`"), "{message}");
    assert!(message.contains("bad.json:"), "{message}");
}

#[test]
fn newer_results_version_asks_for_a_newer_cisgate() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_path("small.json")).unwrap()).unwrap();
    value["results_version"] = serde_json::json!(99);
    let message = error_for(&serde_json::to_string(&value).unwrap());
    assert!(message.contains("results_version 99 is newer"), "{message}");
}

#[test]
fn a_missing_input_file_is_named() {
    let error = run(command(&[
        "--from",
        "/nonexistent/results.json",
        "--summary-md",
        "-",
    ]))
    .unwrap_err();
    assert!(format!("{error:#}").contains("cannot read results file /nonexistent/results.json"));
}

#[test]
fn results_of_different_benchmarks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_per_node_files(dir.path());
    let mut other: RunResults =
        serde_json::from_slice(&std::fs::read(&inputs[1]).unwrap()).unwrap();
    other.benchmark.name = "cis-1.10".into();
    std::fs::write(&inputs[1], serde_json::to_vec(&other).unwrap()).unwrap();
    let error = run(command(&[
        "--from",
        &arg(&inputs[0]),
        "--from",
        &arg(&inputs[1]),
        "--summary-md",
        "-",
    ]))
    .unwrap_err();
    assert!(error.to_string().contains("cannot be merged"), "{error}");
}

#[test]
fn a_report_into_a_missing_directory_writes_no_report_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("r.sarif");
    let error = run(command(&[
        "--from",
        &arg(&fixture_path("small.json")),
        "--sarif",
        &arg(&sarif),
        "--html",
        &arg(&dir.path().join("missing/r.html")),
    ]))
    .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(!sarif.exists());
}

#[test]
fn quiet_without_a_report_or_gate_is_an_error_that_lists_them() {
    let error = run(command(&[
        "--from",
        &arg(&fixture_path("small.json")),
        "--quiet",
    ]))
    .unwrap_err();
    assert!(error.to_string().contains(
        "--gate or at least one of --sarif, --junit, --html, --codequality, --summary-md or --json"
    ));
}

#[test]
fn without_a_report_flag_the_console_report_is_printed() {
    let output = assert_cmd::Command::cargo_bin("cisgate")
        .unwrap()
        .args(["report", "--no-color", "--from"])
        .arg(fixture_path("small.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let console = String::from_utf8(output.stdout).unwrap();
    assert!(console.contains("worker-2"), "{console}");
    assert!(console.contains("Gate FAILED"), "{console}");
}

#[test]
fn from_is_required() {
    assert!(Cli::try_parse_from(["cisgate-report", "--html", "x.html"]).is_err());
}

#[test]
fn previous_run_marks_new_and_fixed_and_the_merged_json_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    // Last night worker-1 passed 4.2.1 and worker-2 failed it; tonight it is the other way round.
    let mut previous = small_fixture();
    for node in &mut previous.nodes {
        for check in node
            .sections
            .iter_mut()
            .flat_map(|s| s.groups.iter_mut())
            .flat_map(|g| g.checks.iter_mut())
        {
            check.change = None;
            if check.id == "4.2.1" && node.node.name != "cp-1" {
                check.state = if node.node.name == "worker-1" {
                    cisgate::results::State::Pass
                } else {
                    cisgate::results::State::Fail
                };
            }
        }
    }
    let previous_path = dir.path().join("previous.json");
    std::fs::write(&previous_path, serde_json::to_vec(&previous).unwrap()).unwrap();
    let merged_path = dir.path().join("merged.json");
    run(command(&[
        "--from",
        &arg(&fixture_path("small.json")),
        "--previous",
        &arg(&previous_path),
        "--json",
        &arg(&merged_path),
    ]))
    .unwrap();
    let merged: RunResults = serde_json::from_slice(&std::fs::read(&merged_path).unwrap()).unwrap();
    let change = |node: &str| {
        merged
            .checks()
            .find(|(n, _, c)| n.node.name == node && c.id == "4.2.1")
            .and_then(|(_, _, c)| c.change)
    };
    assert_eq!(change("worker-1"), Some(cisgate::results::Change::New));
    assert_eq!(change("worker-2"), Some(cisgate::results::Change::Fixed));
    assert_eq!(merged.previous.as_ref().unwrap().file, arg(&previous_path));
}

#[test]
fn the_binary_renders_sarif_to_stdout_and_exits_0() {
    let output = assert_cmd::Command::cargo_bin("cisgate")
        .unwrap()
        .args(["report", "--from"])
        .arg(fixture_path("small.json"))
        .args(["--sarif", "-"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
}

#[test]
fn the_binary_exits_2_naming_a_bad_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("nightly.json");
    std::fs::write(&bad, "[1, 2, 3]").unwrap();
    let output = assert_cmd::Command::cargo_bin("cisgate")
        .unwrap()
        .args(["report", "--from"])
        .arg(&bad)
        .args(["--html", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nightly.json") && stderr.contains("expected a cisgate JSON results file"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// `cisgate report --from … --gate`: a pipeline that scans in one job (`scan --json`, its exit
/// code ignored) and gates in another gets the exit code and the console report `cisgate scan`
/// would have given, with the baseline re-applied from `--baseline`.
mod gate_job {
    use std::path::{Path, PathBuf};
    use std::process::Output;

    use cisgate::baseline::{update, BaselineFile, Entry};
    use cisgate::results::{RunResults, State};

    use super::support::repo_root;

    fn cisgate(dir: &Path, args: &[&str]) -> Output {
        assert_cmd::Command::cargo_bin("cisgate")
            .unwrap()
            .current_dir(dir)
            .env_remove("CISGATE_TODAY")
            // The scan's time is in the results and the console: pinned (to midnight of the
            // `--today` some cases give, which pins it too), so that runs compare.
            .env("SOURCE_DATE_EPOCH", "1797724800")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap()
    }

    fn code(output: &Output) -> i32 {
        output.status.code().expect("cisgate exits with a code")
    }

    fn snapshots() -> PathBuf {
        repo_root().join("examples/snapshots")
    }

    fn path_arg(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    /// The scan job: the example fleet's results in `dir/name`, no baseline applied.
    fn scan_job(dir: &Path, name: &str, snapshot: &Path) {
        let output = cisgate(
            dir,
            &[
                "scan",
                "--snapshot",
                path_arg(snapshot),
                "--quiet",
                "--json",
                name,
            ],
        );
        assert!(
            matches!(code(&output), 0 | 1 | 3),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `allow.yaml` for the example fleet: every finding accepted with a reason, but one entry
    /// still a placeholder, one expiring at the end of 2026 and one stale (its check passes).
    fn write_allowlist(dir: &Path, results: &RunResults) {
        let mut entries: Vec<Entry> = update::create(results, &Default::default())
            .entries
            .into_iter()
            .map(|entry| Entry {
                reason: format!("accepted in the test: {}", entry.check),
                ..entry
            })
            .collect();
        assert!(entries.len() >= 3, "the example fleet has findings");
        entries[0].reason = cisgate::baseline::PLACEHOLDER_REASON.into();
        entries[1].expires = Some(jiff::civil::date(2026, 12, 31));
        let passing = results
            .checks()
            .find(|(_, _, check)| check.state == State::Pass)
            .map(|(node, _, check)| (node.node.name.clone(), check.id.to_string()))
            .unwrap();
        entries.push(Entry {
            check: passing.1,
            nodes: vec![passing.0],
            reason: "fixed since; left here to be found stale".into(),
            ..Entry::default()
        });
        std::fs::write(dir.join("allow.yaml"), update::render(&entries)).unwrap();
        BaselineFile::load(&dir.join("allow.yaml")).expect("the allowlist is valid");
    }

    fn read(path: &Path) -> RunResults {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn the_gate_job_exits_as_the_scan_would_under_every_gate_flag() {
        let dir = tempfile::tempdir().unwrap();
        scan_job(dir.path(), "results.json", &snapshots());
        write_allowlist(dir.path(), &read(&dir.path().join("results.json")));
        let cases: &[(&[&str], i32)] = &[
            (&[], 1),
            (&["--baseline", "allow.yaml"], 0),
            (&["--baseline", "allow.yaml", "--require-reasons"], 1),
            (&["--baseline", "allow.yaml", "--strict"], 1),
            (&["--baseline", "allow.yaml", "--today", "2027-01-01"], 1),
            (&["--baseline", "allow.yaml", "--today", "2026-12-31"], 0),
            (&["--baseline", "allow.yaml", "--fail-on", "warn"], 1),
            (&["--no-baseline"], 1),
        ];
        for (flags, expected) in cases {
            let fleet = snapshots();
            let mut scan = vec!["scan", "--snapshot", path_arg(&fleet), "--quiet"];
            scan.extend_from_slice(flags);
            let mut gate = vec!["report", "--from", "results.json", "--gate", "--quiet"];
            gate.extend_from_slice(flags);
            let (scanned, gated) = (cisgate(dir.path(), &scan), cisgate(dir.path(), &gate));
            assert_eq!(code(&scanned), *expected, "scan {flags:?}");
            assert_eq!(
                code(&gated),
                *expected,
                "report --gate {flags:?}: {}",
                String::from_utf8_lossy(&gated.stderr)
            );
        }
    }

    #[test]
    fn the_gate_job_prints_the_console_report_the_scan_printed() {
        let dir = tempfile::tempdir().unwrap();
        scan_job(dir.path(), "results.json", &snapshots());
        write_allowlist(dir.path(), &read(&dir.path().join("results.json")));
        for flags in [
            &[][..],
            &[
                "--format",
                "full",
                "--baseline",
                "allow.yaml",
                "--today",
                "2026-12-20",
            ],
        ] {
            let fleet = snapshots();
            let mut scan = vec!["scan", "--snapshot", path_arg(&fleet)];
            scan.extend_from_slice(flags);
            let mut gate = vec!["report", "--from", "results.json", "--gate"];
            gate.extend_from_slice(flags);
            let (scanned, gated) = (cisgate(dir.path(), &scan), cisgate(dir.path(), &gate));
            let console = String::from_utf8(gated.stdout).unwrap();
            assert!(console.contains("Gate "), "{console}");
            assert_eq!(
                String::from_utf8(scanned.stdout).unwrap(),
                console,
                "{flags:?}"
            );
        }
    }

    #[test]
    fn per_node_results_merge_into_one_gate_and_a_node_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        scan_job(dir.path(), "all.json", &snapshots());
        write_allowlist(dir.path(), &read(&dir.path().join("all.json")));
        scan_job(dir.path(), "cp.json", &snapshots().join("control-plane-1"));
        scan_job(dir.path(), "worker.json", &snapshots().join("worker-1"));
        let merged = |extra: &[&str]| {
            let mut args = vec![
                "report",
                "--from",
                "cp.json",
                "--from",
                "worker.json",
                "--gate",
                "--quiet",
            ];
            args.extend_from_slice(extra);
            code(&cisgate(dir.path(), &args))
        };
        assert_eq!(merged(&[]), 1);
        assert_eq!(merged(&["--baseline", "allow.yaml"]), 0);
        assert_eq!(
            merged(&["--baseline", "allow.yaml", "--require-reasons"]),
            1
        );
        // The stale entry is stale on the whole fleet, not per file.
        assert_eq!(merged(&["--baseline", "allow.yaml", "--strict"]), 1);

        let twice = cisgate(
            dir.path(),
            &[
                "report", "--from", "cp.json", "--from", "all.json", "--gate",
            ],
        );
        assert_eq!(code(&twice), 2);
        let stderr = String::from_utf8_lossy(&twice.stderr);
        assert!(
            stderr.contains("node control-plane-1 appears both in cp.json and in all.json"),
            "{stderr}"
        );
        assert!(twice.stdout.is_empty());
    }

    #[test]
    fn an_unreadable_node_in_the_saved_results_makes_the_gate_partial() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "not a snapshot").unwrap();
        let fleet = snapshots();
        let scan = |extra: &[&str]| {
            let mut args = vec![
                "scan",
                "--snapshot",
                path_arg(&fleet),
                "--snapshot",
                "broken.json",
                "--quiet",
            ];
            args.extend_from_slice(extra);
            cisgate(dir.path(), &args)
        };
        scan(&["--json", "results.json"]);
        write_allowlist(dir.path(), &read(&dir.path().join("results.json")));
        assert_eq!(code(&scan(&["--baseline", "allow.yaml"])), 3);
        let gated = cisgate(
            dir.path(),
            &[
                "report",
                "--from",
                "results.json",
                "--gate",
                "--quiet",
                "--baseline",
                "allow.yaml",
            ],
        );
        assert_eq!(code(&gated), 3);
        let stderr = String::from_utf8_lossy(&gated.stderr);
        assert!(
            stderr.contains("could not evaluate broken.json"),
            "{stderr}"
        );
        // Without --gate, re-rendering the same results still exits 0.
        let rendered = cisgate(
            dir.path(),
            &[
                "report",
                "--from",
                "results.json",
                "--quiet",
                "--json",
                "out.json",
            ],
        );
        assert_eq!(code(&rendered), 0);
    }

    #[test]
    fn the_gate_job_writes_reports_with_the_gate_it_decided() {
        let dir = tempfile::tempdir().unwrap();
        scan_job(dir.path(), "results.json", &snapshots());
        write_allowlist(dir.path(), &read(&dir.path().join("results.json")));
        let output = cisgate(
            dir.path(),
            &[
                "report",
                "--from",
                "results.json",
                "--gate",
                "--baseline",
                "allow.yaml",
                "--json",
                "gated.json",
                "--summary-md",
                "-",
            ],
        );
        assert_eq!(code(&output), 0);
        let summary = String::from_utf8(output.stdout).unwrap();
        assert!(
            !summary.contains("== Summary total =="),
            "no console text in a report on stdout"
        );
        let gated = read(&dir.path().join("gated.json"));
        assert!(gated.gate.passed);
        assert_eq!(gated.gate.exit_code, 0);
        let baseline = gated.baseline.unwrap();
        assert_eq!(baseline.file, "allow.yaml");
        assert_eq!(baseline.stale.len(), 1);
    }

    #[test]
    fn a_gate_on_results_without_checks_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut empty = super::small_fixture();
        empty.nodes.truncate(1);
        empty.nodes[0].sections.clear();
        empty.unreadable.clear();
        empty.baseline = None;
        std::fs::write(
            dir.path().join("empty.json"),
            serde_json::to_vec(&empty).unwrap(),
        )
        .unwrap();
        let refused = cisgate(dir.path(), &["report", "--from", "empty.json", "--gate"]);
        assert_eq!(code(&refused), 2);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("--allow-empty"), "{stderr}");
        let allowed = cisgate(
            dir.path(),
            &[
                "report",
                "--from",
                "empty.json",
                "--gate",
                "--allow-empty",
                "--quiet",
            ],
        );
        assert_eq!(
            code(&allowed),
            0,
            "{}",
            String::from_utf8_lossy(&allowed.stderr)
        );
    }

    #[test]
    fn classification_flags_without_a_baseline_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let from = super::fixture_path("small.json");
        for flags in [&["--require-reasons"][..], &["--warn-expiry", "30"]] {
            let mut args = vec!["report", "--from", path_arg(&from), "--gate"];
            args.extend_from_slice(flags);
            let output = cisgate(dir.path(), &args);
            assert_eq!(code(&output), 2, "{flags:?}");
            assert!(String::from_utf8_lossy(&output.stderr).contains("--baseline FILE"));
        }
    }
}
