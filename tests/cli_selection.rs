//! Selections that gate: an id in `--check`, `--group` or `--skip` that the benchmark does not
//! have is exit 2 naming it, and a selection that runs no check is exit 2 unless
//! `--allow-empty` — never a passing gate that checked nothing (issue #13, item 2); and
//! `collect` from a `--root` that is no node is exit 2 (item 11).

use assert_cmd::Command;
use predicates::prelude::*;

fn scan(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("cisgate")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["scan", "-q", "--snapshot", "examples/snapshots"])
        .args(args)
        .assert()
}

#[test]
fn a_group_the_benchmark_does_not_have_is_exit_2_naming_it() {
    scan(&["--group", "7.7"])
        .code(2)
        .stderr(predicate::str::contains(
            "--group: no group 7.7 in cis-1.12",
        ));
}

#[test]
fn a_skip_the_benchmark_does_not_have_is_exit_2_naming_it() {
    scan(&["--skip", "9.9"])
        .code(2)
        .stderr(predicate::str::contains("--skip: no check or group 9.9"));
}

#[test]
fn unknown_checks_are_all_named() {
    scan(&["--check", "1.2.15,8.8.8,9.9.9"])
        .code(2)
        .stderr(predicate::str::contains(
            "--check: no check 8.8.8, 9.9.9 in cis-1.12",
        ));
}

#[test]
fn existing_ids_that_select_nothing_together_are_exit_2_unless_allowed() {
    scan(&["--check", "1.2.15", "--group", "4.1"])
        .code(2)
        .stderr(predicate::str::contains(
            "ran no check on 2 node(s) (--check 1.2.15, --group 4.1)",
        ))
        .stderr(predicate::str::contains("--allow-empty"));
    scan(&["--check", "1.2.15", "--group", "4.1", "--allow-empty"]).code(0);
}

#[test]
fn a_check_that_exists_runs_and_gates() {
    scan(&["--check", "1.2.15"]).code(1);
    scan(&["--skip", "1.2", "--check", "1.2.15"]).code(0);
}

#[test]
fn collect_from_a_root_that_is_not_a_node_is_exit_2_and_writes_nothing() {
    let out = tempfile::TempDir::new().unwrap();
    let snapshot = out.path().join("node.json.gz");
    let empty = tempfile::TempDir::new().unwrap();
    for (root, says) in [
        ("/no/such/root", "no such directory"),
        (
            empty.path().to_str().unwrap(),
            "not a node's root filesystem",
        ),
    ] {
        Command::cargo_bin("cisgate")
            .unwrap()
            .args(["collect", "--benchmark", "cis-1.12", "--root", root, "-o"])
            .arg(&snapshot)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
        assert!(!snapshot.exists());
    }
}

/// Issue #13, item 1: a report to `-` is all of stdout.
#[test]
fn a_report_on_stdout_is_the_whole_of_stdout() {
    let output = Command::cargo_bin("cisgate")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["scan", "--snapshot", "examples/snapshots", "--sarif", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one SARIF document ({e})"));
    assert_eq!(log["version"], "2.1.0");
    let output = Command::cargo_bin("cisgate")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["scan", "--snapshot", "examples/snapshots", "--junit", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.trim_end().ends_with("</testsuites>"), "{text}");
    assert!(
        !text.contains("[FAIL]"),
        "console text mixed into the JUnit report"
    );
}

#[test]
fn two_reports_on_stdout_are_refused_before_anything_is_written() {
    for pair in [["--json", "--sarif"], ["--html", "--sarif"]] {
        let output = Command::cargo_bin("cisgate")
            .unwrap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "scan",
                "--snapshot",
                "examples/snapshots",
                pair[0],
                "-",
                pair[1],
                "-",
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{pair:?}");
        assert!(output.stdout.is_empty(), "{pair:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("only one report can go to stdout")
        );
    }
}

/// Issue #13, item 3: an unreadable node is named on stderr even with `--quiet`, and exit 1
/// (regressions) wins over exit 3 (partial) while the summary says both.
#[test]
fn unreadable_nodes_are_named_on_stderr_even_when_quiet() {
    let fleet = tempfile::TempDir::new().unwrap();
    std::fs::write(fleet.path().join("broken.json"), "{ not json").unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshots");
    let output = Command::cargo_bin("cisgate")
        .unwrap()
        .args(["scan", "-q", "--snapshot"])
        .arg(fleet.path())
        .arg("--snapshot")
        .arg(&examples)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not evaluate") && stderr.contains("broken.json"),
        "{stderr}"
    );
    let loud = Command::cargo_bin("cisgate")
        .unwrap()
        .args(["scan", "--no-color", "--snapshot"])
        .arg(fleet.path())
        .arg("--snapshot")
        .arg(&examples)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&loud.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.contains("regressions at or above --fail-on")
            && summary.ends_with("; 1 node could not be evaluated"),
        "{summary}"
    );
}

/// Issue #13, item 10: one rule in `scan` and `report --from`: a node is in a run once.
#[test]
fn the_same_node_twice_in_one_scan_is_refused_naming_both_sources() {
    let fleet = tempfile::TempDir::new().unwrap();
    let collected =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/collected/cp-1.json.gz");
    for name in ["cp-1.json.gz", "copy-of-cp-1.json.gz"] {
        std::fs::copy(&collected, fleet.path().join(name)).unwrap();
    }
    Command::cargo_bin("cisgate")
        .unwrap()
        .args(["scan", "-q", "--snapshot"])
        .arg(fleet.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("node cp-1 appears both in"))
        .stderr(predicate::str::contains("copy-of-cp-1.json.gz"));
}
