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

use std::collections::BTreeSet;
use std::io::{Read, Write};
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

/// Nodes in the fleet below: with 29 findings each on the bundled snapshot, more node×check
/// findings than GitHub takes in one run.
const FLEET_NODES: usize = 900;

/// `examples/collected/cp-1.json.gz` copied `nodes` times under different node names.
fn fleet_of_snapshot_files(dir: &Path, nodes: usize) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(repo_root().join("examples/collected/cp-1.json.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let mut snapshot: Value = serde_json::from_str(&text).unwrap();
    for n in 0..nodes {
        let name = format!("cp-{n:04}");
        snapshot["node"]["name"] = Value::from(name.as_str());
        let file = std::fs::File::create(dir.join(format!("{name}.json.gz"))).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        encoder
            .write_all(&serde_json::to_vec(&snapshot).unwrap())
            .unwrap();
        encoder.finish().unwrap();
    }
}

#[test]
fn a_fleet_with_more_findings_than_github_takes_gives_one_result_per_check_and_place() {
    let dir = tempfile::TempDir::new().unwrap();
    let fleet = dir.path().join("fleet");
    std::fs::create_dir(&fleet).unwrap();
    fleet_of_snapshot_files(&fleet, FLEET_NODES);
    let sarif = dir.path().join("results.sarif");
    let output = Command::new(cisgate_binary())
        .args(["scan", "-q", "--snapshot"])
        .arg(&fleet)
        .arg("--sarif")
        .arg(&sarif)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&sarif).unwrap();
    let violations = github_sarif::file_violations(&bytes);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    let log: Value = serde_json::from_slice(&bytes).unwrap();
    let run = &log["runs"][0];
    let sarif_results = run["results"].as_array().unwrap();
    // Each node's finding is in exactly one result.
    let findings: u64 = sarif_results
        .iter()
        .map(|r| r["properties"]["nodeCount"].as_u64().unwrap())
        .sum();
    assert!(
        findings > 25_000,
        "the fleet must exceed GitHub's per-run limit node by node: {findings} findings"
    );
    assert_eq!(
        sarif_results.len() * FLEET_NODES,
        findings as usize,
        "identical nodes: one result per check, each for every node"
    );
    let mut fingerprints = BTreeSet::new();
    for result in sarif_results {
        let properties = &result["properties"];
        assert_eq!(properties["nodeCount"], FLEET_NODES);
        assert_eq!(properties["nodes"].as_array().unwrap().len(), FLEET_NODES);
        let message = result["message"]["text"].as_str().unwrap();
        assert!(message.chars().count() <= 300, "{message}");
        assert!(
            message.contains(&format!(
                "on {FLEET_NODES} nodes (cp-0000, cp-0001, cp-0002 and 897 more)"
            )),
            "{message}"
        );
        assert!(
            fingerprints
                .insert(result["partialFingerprints"]["primaryLocationLineHash"].to_string()),
            "fingerprints are distinct within the run: {message}"
        );
    }
}

#[test]
fn a_fleet_finding_keeps_its_fingerprint_when_nodes_join() {
    let fingerprints = |nodes: usize| {
        let dir = tempfile::TempDir::new().unwrap();
        fleet_of_snapshot_files(dir.path(), nodes);
        let log = sarif_of(&["scan", "-q", "--snapshot", dir.path().to_str().unwrap()]);
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(fingerprints(2), fingerprints(3));
}
