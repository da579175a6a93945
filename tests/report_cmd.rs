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
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        non_passing
    );
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
fn no_report_flag_is_an_error_that_lists_them() {
    let error = run(command(&["--from", &arg(&fixture_path("small.json"))])).unwrap_err();
    assert!(error
        .to_string()
        .contains("--sarif, --junit, --html, --codequality, --summary-md or --json"));
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
