//! The console on a fleet (#13 item 8) and its layout flags, end to end through the binary on
//! the bundled example nodes: one line per node by default for more than one node, the full
//! per-check listing on request (`--format full|failures|summary`), kube-bench's
//! `--noresults`, `--noremediations`, `--nosummary`, `--nototals`.

mod support;

use assert_cmd::Command;
use support::repo_root;

/// `cisgate scan ARGS` from the repository root: (exit code, stdout).
fn scan(args: &[&str]) -> (i32, String) {
    let output = Command::cargo_bin("cisgate")
        .unwrap()
        .current_dir(repo_root())
        .arg("scan")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

const README_FLEET: [&str; 4] = [
    "--snapshot",
    "examples/snapshots",
    "--snapshot",
    "examples/collected",
];

/// A check line of kube-bench's layout: `[PASS] 1.1.1 …`.
fn is_check_line(line: &str) -> bool {
    ["[PASS] ", "[FAIL] ", "[WARN] ", "[ERROR] ", "[ACCEPTED] "]
        .iter()
        .any(|tag| {
            line.strip_prefix(tag)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
}

#[test]
fn the_readme_command_on_a_fleet_prints_one_line_per_node_with_the_counts_of_its_results() {
    let dir = tempfile::TempDir::new().unwrap();
    let json = dir.path().join("results.json");
    let mut args = README_FLEET.to_vec();
    args.extend(["--json", json.to_str().unwrap()]);
    let (code, out) = scan(&args);
    assert_eq!(code, 1, "kubeadm defaults have findings");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let nodes = results["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(out.contains("== 3 nodes ==\n"), "{out}");
    for node in nodes {
        let name = node["node"]["name"].as_str().unwrap();
        let t = &node["totals"];
        let counts = format!(
            "{} PASS, {} FAIL, {} WARN, {} INFO, {} ERROR: ",
            t["pass"], t["fail"], t["warn"], t["info"], t["error"]
        );
        let line = out
            .lines()
            .find(|line| line.starts_with(&format!("[FAIL] {name} ")))
            .unwrap_or_else(|| panic!("no line for node {name}:\n{out}"));
        assert!(line.contains(&counts), "{line} lacks {counts}");
        let regressions = format!("{} regressions", t["fail"]);
        assert!(line.contains(&regressions), "{line} lacks {regressions}");
    }
    assert!(
        !out.contains("[PASS] ") && !out.contains("== Node "),
        "no per-check listing by default on a fleet:\n{out}"
    );
    assert!(
        out.contains("[FAIL] 4.1.1 kubelet systemd unit file is mode 600 or stricter")
            && out.contains("on 3 nodes: control-plane-1, cp-1, worker-1"),
        "each regression once, with its nodes:\n{out}"
    );
    assert!(
        out.lines().count() < 80,
        "readable: {} lines",
        out.lines().count()
    );
    assert!(out
        .lines()
        .last()
        .unwrap()
        .starts_with("Gate FAILED: 25 regressions"));
}

#[test]
fn format_full_lists_every_check_of_every_node_and_one_node_gets_it_by_default() {
    let mut args = README_FLEET.to_vec();
    args.extend(["--format", "full"]);
    let (_, fleet) = scan(&args);
    for node in ["control-plane-1", "worker-1", "cp-1"] {
        assert!(fleet.contains(&format!("== Node {node} (")), "{node}");
    }
    assert_eq!(
        fleet
            .lines()
            .filter(|l| l.starts_with("[PASS] 4.1.2 "))
            .count(),
        3
    );
    let (_, single) = scan(&["--snapshot", "examples/snapshots/worker-1"]);
    assert!(single.contains("[PASS] 4.1.2 "), "{single}");
    assert!(!single.contains("== 1 node =="));
}

#[test]
fn format_failures_lists_only_the_checks_that_did_not_pass() {
    let (_, out) = scan(&[
        "--snapshot",
        "examples/snapshots/control-plane-1",
        "--format",
        "failures",
    ]);
    assert!(out.contains("[FAIL] 1.2.15 "), "{out}");
    assert!(out.contains("[WARN] 1.1.9 "), "{out}");
    assert!(!out.contains("[PASS] "), "{out}");
    assert!(
        !out.contains("[INFO] 2 etcd"),
        "etcd passes everything: its section is left out"
    );
}

#[test]
fn kube_bench_layout_flags_are_accepted_under_both_spellings() {
    for flags in [
        [
            "--noresults",
            "--noremediations",
            "--nosummary",
            "--nototals",
        ],
        [
            "--no-results",
            "--no-remediations",
            "--no-summary",
            "--no-totals",
        ],
    ] {
        let mut args = vec!["--snapshot", "examples/snapshots/control-plane-1"];
        args.extend(flags);
        let (code, out) = scan(&args);
        assert_eq!(code, 1, "{flags:?}");
        assert!(!out.lines().any(is_check_line), "{flags:?}:\n{out}");
        assert!(!out.contains("== Remediations"), "{flags:?}");
        assert!(!out.contains("== Summary master =="), "{flags:?}");
        assert!(!out.contains("== Summary total =="), "{flags:?}");
        assert!(out.lines().last().unwrap().starts_with("Gate FAILED"));
    }
    let (_, only_totals) = scan(&[
        "--snapshot",
        "examples/snapshots/control-plane-1",
        "--noresults",
        "--noremediations",
        "--nosummary",
    ]);
    assert!(
        only_totals.contains("== Summary total ==\n"),
        "{only_totals}"
    );
}

#[test]
fn a_section_with_one_group_of_the_same_title_is_announced_once() {
    let (_, out) = scan(&["--snapshot", "examples/snapshots/control-plane-1"]);
    assert_eq!(
        out.lines().filter(|l| *l == "[INFO] 2 etcd").count(),
        1,
        "{out}"
    );
}
