//! `cisgate benchmarks list|show` and `cisgate explain`, through the binary.

use std::process::Stdio;

use assert_cmd::Command;

fn cisgate(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("cisgate")
        .expect("binary")
        .args(args)
        .output()
        .expect("cisgate runs")
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn list_names_the_embedded_benchmark_with_its_kubernetes_versions() {
    let output = cisgate(&["benchmarks", "list"]);
    assert!(output.status.success());
    let text = stdout_of(&output);
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("cis-1.12"))
        .unwrap_or_else(|| panic!("no cis-1.12 line in:\n{text}"));
    assert!(line.contains("1.32"), "{line}");
    assert!(line.contains("policies"), "{line}");
}

#[test]
fn show_counts_automated_and_manual_checks_per_section() {
    let output = cisgate(&["benchmarks", "show", "cis-1.12"]);
    assert!(output.status.success());
    let text = stdout_of(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with("5 ") && l.contains("[policies]") && l.contains("manual")),
        "{text}"
    );
    assert!(text.contains("1.2.1 "), "{text}");
}

/// Issue #13 item 15: a check titled "(Manual)" is never listed as scored (it was listed as
/// "automated", which read as a contradiction).
#[test]
fn show_lists_how_each_check_is_treated_consistently_with_its_title() {
    let output = cisgate(&["benchmarks", "show", "cis-1.12"]);
    let text = stdout_of(&output);
    assert!(
        text.starts_with("Each check: its id, how cisgate treats it"),
        "{text}"
    );
    let checks: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| l.starts_with("    "))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let (_, kind) = (parts.next().unwrap(), parts.next().unwrap());
            (kind, l)
        })
        .collect();
    assert!(checks.len() > 100, "{text}");
    for (kind, line) in &checks {
        assert!(
            ["scored", "unscored", "manual", "skip"].contains(kind),
            "{line}"
        );
        if line.ends_with("(Manual)") {
            assert_ne!(*kind, "scored", "{line}");
        }
    }
    assert!(!text.contains("automated"), "{text}");
    assert!(text.contains("    1.1.9    unscored  "), "{text}");
}

#[test]
fn explain_resolves_variables_to_the_benchmarks_default_paths() {
    let output = cisgate(&["explain", "1.2.1"]);
    assert!(output.status.success());
    let text = stdout_of(&output);
    assert!(text.contains("probe process kube-apiserver"), "{text}");
    assert!(
        text.contains("/etc/kubernetes/manifests/kube-apiserver.yaml"),
        "{text}"
    );
    assert!(!text.contains('$'), "unresolved variable in:\n{text}");
    assert!(text.contains("a scan names the node's own"), "{text}");
}

#[test]
fn explain_of_an_unknown_check_says_so_and_exits_2() {
    let output = cisgate(&["explain", "9.9.9"]);
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("no check `9.9.9`"), "{error}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // A pipe whose reading end is already closed, as after `| head -1` has read its line:
    // every write to it fails with a broken pipe.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("cisgate"))
        .args(["benchmarks", "show", "cis-1.12"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("cisgate runs");
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {error}", output.status);
    assert!(!error.contains("panicked"), "{error}");
}

#[test]
fn show_lists_sections_in_numeric_order_for_every_embedded_benchmark() {
    for benchmark in ["cis-1.12", "eks-1.8.0", "rke2-cis-1.8", "rh-1.8"] {
        let output = cisgate(&["benchmarks", "show", benchmark]);
        assert!(output.status.success(), "{benchmark}");
        let sections: Vec<u32> = stdout_of(&output)
            .lines()
            .filter(|line| !line.starts_with(' '))
            .filter_map(|line| line.split_whitespace().next()?.parse().ok())
            .collect();
        let mut sorted = sections.clone();
        sorted.sort();
        assert!(sections.len() >= 3, "{benchmark}: {sections:?}");
        assert_eq!(sections, sorted, "{benchmark}");
    }
}
