//! gke-1.9.0 and gke-1.8.0 on GKE nodes three ways: the fixture as a live node (real
//! processes, real files with their modes and owners under `--root`), the same fixture as a
//! snapshot directory, and the snapshot file `cisgate collect` records from the live node give
//! the same verdicts; and kube-bench's own GKE trees, run chrooted on the same live node, agree
//! except where `docs/differences-from-kube-bench.md` says why.

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use live_tree::{assert_same_verdicts, documented_differences, scan_snapshot, states, LiveTree};
use support::benchmark_fixture;

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
