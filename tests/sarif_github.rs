//! SARIF from every way of scanning passes GitHub code scanning's documented ingestion rules
//! (`tests/support/github_sarif.rs`), not only the SARIF schema: snapshot directories, a
//! snapshot file, a live node (real processes and files under `--root`), kube-bench's own
//! tree, and `report --from` saved results.

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/github_sarif.rs"]
mod github_sarif;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::path::Path;
use std::process::Command;

use live_tree::{cisgate_binary, LiveTree};
use serde_json::Value;
use support::{benchmark_fixture, kube_bench_cfg, repo_root};

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs cisgate with `--sarif <file>` appended and returns the log.
fn sarif_of(args: &[&str]) -> Value {
    let dir = tempfile::TempDir::new().unwrap();
    let sarif = dir.path().join("cisgate.sarif");
    let output = Command::new(cisgate_binary())
        .args(args)
        .arg("--sarif")
        .arg(&sarif)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        sarif.is_file(),
        "no SARIF from {args:?} (exit {:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    read_json(&sarif)
}

fn assert_github_accepts(log: &Value, how: &str) {
    let violations = github_sarif::violations(log);
    assert!(violations.is_empty(), "{how}:\n{}", violations.join("\n"));
    let results: usize = log["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["results"].as_array().unwrap().len())
        .sum();
    assert!(results > 0, "{how}: a scan with findings has results");
}

#[test]
fn snapshot_directories_and_a_snapshot_file() {
    let log = sarif_of(&["scan", "-q", "--snapshot", "examples/snapshots"]);
    assert_github_accepts(&log, "snapshot directories");
    let log = sarif_of(&["scan", "-q", "--snapshot", "examples/collected"]);
    assert_github_accepts(&log, "snapshot file");
}

#[test]
fn a_live_node_with_our_benchmark_and_with_kube_benchs_tree() {
    let tree = LiveTree::start(&benchmark_fixture("cis-1.12/nodes/broken-control-plane"));
    let root = tree.root().to_str().unwrap().to_owned();
    let args = [
        "scan",
        "-q",
        "--benchmark",
        "cis-1.12",
        "--targets",
        "master,etcd,node",
        "--root",
        &root,
    ];
    assert_github_accepts(&sarif_of(&args), "live node");
    let Some(reference) = kube_bench_cfg() else {
        return;
    };
    let mut with_tree = args.to_vec();
    with_tree.extend(["--config-dir", reference.to_str().unwrap()]);
    assert_github_accepts(&sarif_of(&with_tree), "live node, kube-bench's tree");
}

#[test]
fn saved_results_rendered_again() {
    let dir = tempfile::TempDir::new().unwrap();
    let json = dir.path().join("results.json");
    let status = Command::new(cisgate_binary())
        .args(["scan", "-q", "--snapshot", "examples/snapshots", "--json"])
        .arg(&json)
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let log = sarif_of(&["report", "--from", json.to_str().unwrap()]);
    assert_github_accepts(&log, "report --from");
}

#[test]
fn the_rules_catch_a_location_without_a_line() {
    let mut log = sarif_of(&["scan", "-q", "--snapshot", "examples/snapshots"]);
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        .as_object_mut()
        .unwrap()
        .remove("region");
    let violations = github_sarif::violations(&log);
    assert!(
        violations.iter().any(|v| v.contains("region.startLine")),
        "{violations:?}"
    );
}
