//! Reports of a real scan (the bundled example nodes with the embedded benchmark), end to
//! end through the binary: every format written in one run, byte-identical on a second
//! run, and accepted by its independent consumer where that tool is installed (CI
//! installs them; elsewhere `support::missing` says the check did not run).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use support::{repo_root, shared_file, tool_available};
use tempfile::TempDir;

const REPORTS: [(&str, &str); 6] = [
    ("--json", "results.json"),
    ("--sarif", "results.sarif"),
    ("--junit", "junit.xml"),
    ("--html", "report.html"),
    ("--codequality", "codequality.json"),
    ("--summary-md", "summary.md"),
];

/// Scans the examples from the repository root, writing every report into `out`.
fn scan_examples(out: &Path) -> i32 {
    let mut command = Command::cargo_bin("cisgate").unwrap();
    // Reports carry the scan's time: pinned, as for any reproducible output.
    command.env("SOURCE_DATE_EPOCH", "1781481600");
    command.current_dir(repo_root()).args([
        "scan",
        "--quiet",
        "--snapshot",
        "examples/snapshots",
        "--snapshot",
        "examples/collected",
    ]);
    for (flag, file) in REPORTS {
        command.arg(flag).arg(out.join(file));
    }
    command.output().unwrap().status.code().unwrap()
}

fn report(out: &Path, name: &str) -> PathBuf {
    out.join(name)
}

#[test]
fn every_report_of_a_scan_is_written_and_identical_on_a_second_run() {
    let first = TempDir::new().unwrap();
    let second = TempDir::new().unwrap();
    assert_eq!(
        scan_examples(first.path()),
        1,
        "kubeadm defaults have findings"
    );
    assert_eq!(scan_examples(second.path()), 1);
    for (_, file) in REPORTS {
        let a = std::fs::read(report(first.path(), file)).unwrap();
        let b = std::fs::read(report(second.path(), file)).unwrap();
        assert!(!a.is_empty(), "{file} is empty");
        assert!(a == b, "{file} differs between two runs on the same input");
    }
}

#[test]
fn the_sarif_of_a_scan_is_valid_sarif_2_1_0() {
    let Some(schema) = shared_file("schemas/sarif-schema-2.1.0.json") else {
        return;
    };
    if !tool_available("check-jsonschema", &["--version"]) {
        return;
    }
    let out = TempDir::new().unwrap();
    scan_examples(out.path());
    let status = Process::new("check-jsonschema")
        .arg("--schemafile")
        .arg(schema)
        .arg(report(out.path(), "results.sarif"))
        .status()
        .unwrap();
    assert!(status.success(), "check-jsonschema rejected the SARIF");
}

#[test]
fn the_junit_of_a_scan_is_valid_against_the_junit_schema() {
    let Some(xsd) = shared_file("schemas/junit-10.xsd") else {
        return;
    };
    if !tool_available("xmllint", &["--version"]) {
        return;
    }
    let out = TempDir::new().unwrap();
    scan_examples(out.path());
    let output = Process::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(xsd)
        .arg(report(out.path(), "junit.xml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "xmllint rejected the JUnit report: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sarif_points_at_the_files_in_the_snapshot_directory() {
    let out = TempDir::new().unwrap();
    scan_examples(out.path());
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report(out.path(), "results.sarif")).unwrap())
            .unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let profiling = results
        .iter()
        .find(|r| r["ruleId"] == "1.2.15")
        .expect("1.2.15 fails on kubeadm defaults");
    let location = &profiling["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "examples/snapshots/control-plane-1/etc/kubernetes/manifests/kube-apiserver.yaml"
    );
    assert!(
        location["region"]["startLine"].as_u64().is_some(),
        "{location}"
    );
}

/// The reports a scan writes node by node (`--quiet`: the stream) are the bytes the same
/// scan renders from the whole run (console on), with a baseline accepting some findings
/// and `--previous` marking changes.
#[test]
fn streamed_reports_are_the_bytes_of_whole_run_reports() {
    let dir = TempDir::new().unwrap();
    let baseline = dir.path().join("baseline.yaml");
    std::fs::write(
        &baseline,
        "exceptions:\n  - check: \"1.2.*\"\n    reason: the API server is managed elsewhere\n  - check: \"9.9.9\"\n    reason: stale on purpose\n",
    )
    .unwrap();
    let previous = dir.path().join("previous.json");
    let mut first = Command::cargo_bin("cisgate").unwrap();
    first
        .current_dir(repo_root())
        .args([
            "scan",
            "--quiet",
            "--snapshot",
            "examples/snapshots/worker-1",
            "--json",
        ])
        .arg(&previous);
    assert!(matches!(first.output().unwrap().status.code(), Some(0 | 1)));
    let run = |out: &Path, quiet: bool| {
        std::fs::create_dir_all(out).unwrap();
        let mut command = Command::cargo_bin("cisgate").unwrap();
        // Both runs carry the same scan time.
        command.env("SOURCE_DATE_EPOCH", "1767225600");
        command.current_dir(repo_root()).args([
            "scan",
            "--snapshot",
            "examples/snapshots",
            "--snapshot",
            "examples/collected",
        ]);
        command.arg("--baseline").arg(&baseline);
        command.arg("--previous").arg(&previous);
        if quiet {
            command.arg("--quiet");
        }
        for (flag, file) in REPORTS {
            command.arg(flag).arg(out.join(file));
        }
        command.output().unwrap().status.code().unwrap()
    };
    let streamed = dir.path().join("streamed");
    let whole = dir.path().join("whole");
    assert_eq!(run(&streamed, true), run(&whole, false));
    for (flag, file) in REPORTS {
        let (a, b) = (
            std::fs::read(streamed.join(file)).unwrap(),
            std::fs::read(whole.join(file)).unwrap(),
        );
        assert!(a == b, "{flag}: streamed and whole-run reports differ");
    }
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(streamed.join("results.json")).unwrap()).unwrap();
    assert!(results["baseline"]["accepted"].as_u64().unwrap() > 0);
    assert_eq!(results["baseline"]["stale"].as_array().unwrap().len(), 1);
    assert!(results["previous"]["new"].as_u64().unwrap() > 0);
}

/// A run with no regression streams an empty Code Quality array and a JUnit report without
/// failures, as the whole-run rendering does.
#[test]
fn streamed_reports_of_a_passing_run_are_the_bytes_of_whole_run_reports() {
    let dir = TempDir::new().unwrap();
    let run = |out: &Path, quiet: bool| {
        std::fs::create_dir_all(out).unwrap();
        let mut command = Command::cargo_bin("cisgate").unwrap();
        // Both runs carry the same scan time.
        command.env("SOURCE_DATE_EPOCH", "1767225600");
        command.current_dir(repo_root()).args([
            "scan",
            "--snapshot",
            "examples/snapshots/control-plane-1",
            "--check",
            "1.1.1",
        ]);
        if quiet {
            command.arg("--quiet");
        }
        for (flag, file) in REPORTS {
            command.arg(flag).arg(out.join(file));
        }
        command.output().unwrap().status.code().unwrap()
    };
    let (streamed, whole) = (dir.path().join("s"), dir.path().join("w"));
    assert_eq!(run(&streamed, true), 0);
    assert_eq!(run(&whole, false), 0);
    for (flag, file) in REPORTS {
        assert!(
            std::fs::read(streamed.join(file)).unwrap() == std::fs::read(whole.join(file)).unwrap(),
            "{flag}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(streamed.join("codequality.json")).unwrap(),
        "[]\n"
    );
}

/// `--json-without-passing-evidence`: passing checks carry no evidence, the others keep
/// theirs, and the file still reads back as results (`cisgate report --from`).
#[test]
fn json_without_passing_evidence_keeps_only_what_needs_attention() {
    let dir = TempDir::new().unwrap();
    let json = dir.path().join("results.json");
    let mut command = Command::cargo_bin("cisgate").unwrap();
    command
        .current_dir(repo_root())
        .args([
            "scan",
            "--quiet",
            "--snapshot",
            "examples/snapshots",
            "--json",
        ])
        .arg(&json)
        .arg("--json-without-passing-evidence");
    assert!(matches!(
        command.output().unwrap().status.code(),
        Some(0 | 1)
    ));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let checks: Vec<&serde_json::Value> = results["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["sections"].as_array().unwrap())
        .flat_map(|s| s["groups"].as_array().unwrap())
        .flat_map(|g| g["checks"].as_array().unwrap())
        .collect();
    let passing: Vec<_> = checks.iter().filter(|c| c["state"] == "PASS").collect();
    assert!(!passing.is_empty());
    for check in &passing {
        assert_eq!(check["evidence"]["actual"], "", "{}", check["id"]);
        assert!(check["evidence"]["audits"].as_array().unwrap().is_empty());
    }
    assert!(checks
        .iter()
        .filter(|c| c["state"] == "FAIL")
        .all(|c| !c["evidence"]["audits"].as_array().unwrap().is_empty()));
    let mut report = Command::cargo_bin("cisgate").unwrap();
    report.args(["report", "--quiet", "--from"]).arg(&json);
    report.arg("--junit").arg(dir.path().join("junit.xml"));
    assert!(report.output().unwrap().status.success());
}

/// Scans the examples with `--json` and `extra` flags, into `json`; the scan's exit code.
fn scan_json(json: &Path, extra: &[&str]) -> i32 {
    let mut command = Command::cargo_bin("cisgate").unwrap();
    command.env("SOURCE_DATE_EPOCH", "1781481600");
    command
        .current_dir(repo_root())
        .args(["scan", "--snapshot", "examples/snapshots", "--json"])
        .arg(json)
        .args(extra);
    command.output().unwrap().status.code().unwrap()
}

/// The compact results form keeps each distinct title, remediation and evidence once, and
/// every reader of results files (`report --from`, `baseline create --from`, `store import`)
/// takes it as the full form: re-rendered, it gives the full form's bytes.
#[test]
fn compact_results_read_back_as_the_full_form_everywhere() {
    let dir = TempDir::new().unwrap();
    let full = dir.path().join("full.json");
    let compact = dir.path().join("compact.json");
    let compact_whole = dir.path().join("compact-whole.json");
    let code = scan_json(&full, &["--quiet"]);
    assert_eq!(
        code,
        scan_json(&compact, &["--quiet", "--results-format", "compact"])
    );
    // The whole-run rendering (console on) writes the streamed bytes.
    assert_eq!(
        code,
        scan_json(&compact_whole, &["--results-format", "compact"])
    );
    let compact_bytes = std::fs::read(&compact).unwrap();
    assert!(compact_bytes == std::fs::read(&compact_whole).unwrap());
    let document: serde_json::Value = serde_json::from_slice(&compact_bytes).unwrap();
    assert_eq!(document["results_version"], 2);
    let details = document["details"].as_object().unwrap();
    let check = &document["nodes"][0]["sections"][0]["groups"][0]["checks"][0];
    assert!(check.get("evidence").is_none() && check.get("remediation").is_none());
    assert!(details.contains_key(check["details"].as_str().unwrap()));
    let full_bytes = std::fs::read(&full).unwrap();
    assert!(compact_bytes.len() < full_bytes.len());

    let again = dir.path().join("again.json");
    let mut report = Command::cargo_bin("cisgate").unwrap();
    report
        .args(["report", "--quiet", "--gate", "--from"])
        .arg(&compact)
        .arg("--json")
        .arg(&again);
    assert_eq!(report.output().unwrap().status.code(), Some(code));
    assert!(
        std::fs::read(&again).unwrap() == full_bytes,
        "report --from compact differs from the full form"
    );

    // `report` writes the compact form too: the scan's bytes from the full form.
    let recompacted = dir.path().join("recompacted.json");
    let mut report = Command::cargo_bin("cisgate").unwrap();
    report.args(["report", "--quiet", "--from"]).arg(&full);
    report
        .arg("--json")
        .arg(&recompacted)
        .args(["--results-format", "compact"]);
    assert!(report.output().unwrap().status.success());
    assert!(std::fs::read(&recompacted).unwrap() == compact_bytes);

    let baseline = |from: &Path, out: &Path| {
        let mut create = Command::cargo_bin("cisgate").unwrap();
        create
            .args(["baseline", "create", "--from"])
            .arg(from)
            .arg("--output")
            .arg(out);
        let output = create.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read_to_string(out).unwrap()
    };
    assert_eq!(
        baseline(&compact, &dir.path().join("b1.yaml")),
        baseline(&full, &dir.path().join("b2.yaml"))
    );

    let broken = dir.path().join("broken.json");
    let text = String::from_utf8(compact_bytes.clone()).unwrap();
    let key = check["details"].as_str().unwrap();
    std::fs::write(
        &broken,
        text.replacen(
            &format!("\"details\": \"{key}\""),
            "\"details\": \"nosuchkey\"",
            1,
        ),
    )
    .unwrap();
    let mut report = Command::cargo_bin("cisgate").unwrap();
    report
        .args(["report", "--quiet", "--gate", "--from"])
        .arg(&broken);
    let output = report.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.json") && stderr.contains("nosuchkey"),
        "{stderr}"
    );
}
