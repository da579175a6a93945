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
