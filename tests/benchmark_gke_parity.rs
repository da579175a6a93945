//! gke-1.9.0 and gke-1.8.0 on GKE nodes three ways: the fixture as a live node (real
//! processes, real files with their modes and owners under `--root`), the same fixture as a
//! snapshot directory, and the snapshot file `cisgate collect` records from the live node give
//! the same verdicts; and kube-bench's own GKE trees, run chrooted on the same live node, agree
//! except where `docs/differences-from-kube-bench.md` says why. Sections 4 and 5 are compared
//! the same way on recorded clusters: both trees ask the real kubectl, talking to a loopback
//! API server that serves the recorded objects (kube-bench's shell audits, with kubectl, jq,
//! base64 and openssl from this machine).

#[path = "support/api_server.rs"]
mod api_server;
#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::path::Path;
use std::process::Command;

use live_tree::{
    assert_same_verdicts, cisgate_binary, documented_differences, scan_snapshot, states, LiveTree,
};
use serde_json::Value;
use support::benchmark_fixture;
use tempfile::TempDir;

const BENCHMARKS: [&str; 2] = ["gke-1.9.0", "gke-1.8.0"];
const NODES: [&str; 5] = [
    "cos-default",
    "ubuntu-default",
    "cos-dataplane-v2",
    "cos-hardened",
    "cos-broken",
];

/// The managed control plane has nothing on a node: master and controlplane run no checks,
/// and node runs all of section 3.
const TARGETS: &str = "master,controlplane,node";

fn node_fixture(benchmark: &str, name: &str) -> std::path::PathBuf {
    benchmark_fixture(&format!("{benchmark}/nodes/{name}"))
}

fn live_snapshot_directory_and_collected_snapshot_agree(benchmark: &str) {
    for name in NODES {
        let fixture = node_fixture(benchmark, name);
        let args = ["--benchmark", benchmark, "--targets", TARGETS];
        let from_dir = scan_snapshot(&fixture, &args);
        assert_eq!(
            states(&from_dir.results).len(),
            13,
            "{benchmark} {name}: section 3 from the snapshot directory: {}",
            from_dir.stderr
        );
        let tree = LiveTree::start(&fixture);
        let live = tree.scan(&args);
        assert_eq!(
            live.code, from_dir.code,
            "{benchmark} {name}: {}",
            live.stderr
        );
        assert_eq!(
            states(&live.results),
            states(&from_dir.results),
            "{benchmark} {name}: live vs snapshot directory"
        );
        let out = tempfile::TempDir::new().unwrap();
        let snapshot = tree.collect(out.path(), &args);
        drop(tree);
        let collected = scan_snapshot(&snapshot, &args);
        assert_eq!(
            states(&live.results),
            states(&collected.results),
            "{benchmark} {name}: live vs collected snapshot"
        );
    }
}

fn kube_bench_reference_tree_agrees_except_documented_differences(benchmark: &str) {
    let allowed = documented_differences(benchmark);
    assert!(
        !allowed.is_empty(),
        "the differences doc has a `## {benchmark}` section"
    );
    for name in NODES {
        let tree = LiveTree::start(&node_fixture(benchmark, name));
        let ours = tree.scan(&["--benchmark", benchmark, "--targets", TARGETS]);
        let Some(theirs) = tree.scan_kube_bench(benchmark, TARGETS) else {
            return;
        };
        assert_eq!(
            states(&theirs.results).len(),
            4,
            "{benchmark} {name}: kube-bench's section 3 has 3.1.1-3.1.4: {}",
            theirs.stderr
        );
        assert_same_verdicts(&ours.results, &theirs.results, &allowed);
    }
}

#[test]
fn gke_1_9_0_live_snapshot_directory_and_collected_snapshot_agree() {
    live_snapshot_directory_and_collected_snapshot_agree(BENCHMARKS[0]);
}

#[test]
fn gke_1_8_0_live_snapshot_directory_and_collected_snapshot_agree() {
    live_snapshot_directory_and_collected_snapshot_agree(BENCHMARKS[1]);
}

#[test]
fn gke_1_9_0_kube_bench_reference_tree_agrees_except_documented_differences() {
    kube_bench_reference_tree_agrees_except_documented_differences(BENCHMARKS[0]);
}

#[test]
fn gke_1_8_0_kube_bench_reference_tree_agrees_except_documented_differences() {
    kube_bench_reference_tree_agrees_except_documented_differences(BENCHMARKS[1]);
}

/// `cisgate scan --targets policies,managedservices` against a recorded cluster: with our
/// embedded benchmark (`--kubeconfig`), or with kube-bench's tree (`--config-dir`), whose shell
/// audits find the cluster through `KUBECONFIG`.
fn scan_cluster(
    benchmark: &str,
    kubeconfig: &Path,
    cache: &Path,
    config_dir: Option<&Path>,
) -> Value {
    let out = TempDir::new().unwrap();
    let json = out.path().join("results.json");
    let mut command = Command::new(cisgate_binary());
    command.args(["scan", "--quiet", "--benchmark", benchmark]);
    command.args(["--targets", "policies,managedservices", "--json"]);
    command.arg(&json).arg("--kubeconfig").arg(kubeconfig);
    if let Some(dir) = config_dir {
        command.arg("--config-dir").arg(dir);
    }
    let output = command
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .output()
        .expect("run cisgate");
    let results = std::fs::read(&json).unwrap_or_else(|_| {
        panic!(
            "{benchmark}: no results (exit {:?}): {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_slice(&results).expect("results JSON")
}

fn kube_bench_policies_agree_on_recorded_clusters(benchmark: &str) {
    let Some(reference) = support::kube_bench_cfg() else {
        return;
    };
    let tools: [(&str, &[&str]); 4] = [
        ("kubectl", &["version", "--client"]),
        ("jq", &["--version"]),
        ("openssl", &["version"]),
        ("base64", &["--version"]),
    ];
    for (tool, probe) in tools {
        if !support::tool_available(tool, probe) {
            return;
        }
    }
    let allowed = documented_differences(benchmark);
    for cluster in ["good", "bad"] {
        let temp = TempDir::new().unwrap();
        let server = api_server::RecordedApiServer::for_recorded_lists(&benchmark_fixture(
            &format!("{benchmark}/api/{cluster}"),
        ));
        let kubeconfig = server.kubeconfig(temp.path());
        let cache = temp.path().join("cache");
        let ours = scan_cluster(benchmark, &kubeconfig, &cache, None);
        let theirs = scan_cluster(benchmark, &kubeconfig, &cache, Some(&reference));
        assert_eq!(
            states(&theirs).len(),
            states(&ours).len(),
            "{benchmark} {cluster}: the same checks ran"
        );
        assert_same_verdicts(&ours, &theirs, &allowed);
    }
}

#[test]
fn gke_1_9_0_kube_bench_policies_agree_on_recorded_clusters_except_documented_differences() {
    kube_bench_policies_agree_on_recorded_clusters(BENCHMARKS[0]);
}

#[test]
fn gke_1_8_0_kube_bench_policies_agree_on_recorded_clusters_except_documented_differences() {
    kube_bench_policies_agree_on_recorded_clusters(BENCHMARKS[1]);
}
