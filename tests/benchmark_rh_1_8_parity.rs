//! rh-1.8 on OpenShift nodes three ways: each fixture as a live node (real processes, real
//! files with their modes and owners under `--root`), the same fixture as a snapshot
//! directory, and the snapshot file `cisgate collect` records from the live node give the
//! same verdicts with the embedded tree; and each node is recognised as OpenShift 4.14, so
//! rh-1.8 is chosen without `--benchmark`.
//!
//! kube-bench's own rh-1.8 is not run on these nodes: every one of its audits calls `oc`
//! against a cluster, which a node tree cannot provide. `tests/benchmark_rh_1_8.rs` instead
//! evaluates kube-bench's test items on the values each fixture holds.

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use live_tree::{scan_snapshot, states, LiveTree};
use support::benchmark_fixture;

const BENCHMARK: &str = "rh-1.8";
const NODES: [(&str, &str); 5] = [
    ("ocp-master", "master,etcd,controlplane,node"),
    ("hardened-master", "master,etcd,controlplane,node"),
    ("broken-master", "master,etcd,controlplane,node"),
    ("ocp-worker", "node"),
    ("broken-worker", "node"),
];

fn node_fixture(name: &str) -> std::path::PathBuf {
    benchmark_fixture(&format!("{BENCHMARK}/nodes/{name}"))
}

#[test]
fn live_snapshot_directory_and_collected_snapshot_agree() {
    for (name, targets) in NODES {
        let fixture = node_fixture(name);
        let args = ["--benchmark", BENCHMARK, "--targets", targets];
        let from_dir = scan_snapshot(&fixture, &args);
        assert!(
            states(&from_dir.results).len() > 20,
            "{name}: {}",
            from_dir.stderr
        );
        let tree = LiveTree::start(&fixture);
        let live = tree.scan(&args);
        assert_eq!(live.code, from_dir.code, "{name}: {}", live.stderr);
        assert_eq!(
            states(&live.results),
            states(&from_dir.results),
            "{name}: live vs snapshot directory"
        );
        let out = tempfile::TempDir::new().unwrap();
        let snapshot = tree.collect(out.path(), &args);
        drop(tree);
        let collected = scan_snapshot(&snapshot, &args);
        assert_eq!(
            states(&live.results),
            states(&collected.results),
            "{name}: live vs collected snapshot"
        );
    }
}

#[test]
fn each_node_is_recognised_as_openshift_and_gets_rh_1_8() {
    for (name, targets) in NODES {
        let outcome = scan_snapshot(&node_fixture(name), &["--targets", targets]);
        let node = &outcome.results["nodes"][0]["node"];
        assert_eq!(node["benchmark"], BENCHMARK, "{name}: {}", outcome.stderr);
        assert_eq!(
            node["distribution"]["name"], "openshift",
            "{name}: {node:#}"
        );
        let evidence = node["distribution"]["evidence"].to_string();
        assert!(
            evidence.contains("OPENSHIFT_VERSION"),
            "{name}: the RHCOS os-release tells the platform: {evidence}"
        );
    }
}

#[test]
fn a_collected_master_keeps_the_static_pod_files_it_read_and_no_secret_bytes() {
    let tree = LiveTree::start(&node_fixture("ocp-master"));
    let out = tempfile::TempDir::new().unwrap();
    let snapshot = tree.collect(
        out.path(),
        &["--benchmark", BENCHMARK, "--targets", "master,etcd"],
    );
    drop(tree);
    let bytes = std::fs::read(&snapshot).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .expect("gzip JSON");
    let document: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let files = &document["files"];
    let config =
        "/etc/kubernetes/static-pod-resources/kube-apiserver-pod-7/configmaps/config/config.yaml";
    assert!(
        files[config]["content"]
            .as_str()
            .is_some_and(|c| c.contains("apiServerArguments")),
        "the observed config the checks read is recorded: {}",
        files[config]
    );
    assert!(
        !text.contains("PLACEHOLDER-KEY-NOT-A-REAL-KEY"),
        "no private key bytes in the snapshot"
    );
}
