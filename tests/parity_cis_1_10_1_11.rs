//! cis-1.10 (Kubernetes 1.28) and cis-1.11 (Kubernetes 1.30) on kubeadm nodes three ways: the
//! fixture as a live node (real processes, real files with their modes and owners under
//! `--root`), the same fixture as a snapshot directory, and the snapshot file `cisgate
//! collect` records from the live node give the same verdicts; and kube-bench's own tree of
//! the same name, run chrooted on the same live node, agrees except where
//! `docs/differences-from-kube-bench.md` says why.

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use live_tree::{assert_same_verdicts, documented_differences, scan_snapshot, states, LiveTree};
use support::benchmark_fixture;

const BENCHMARKS: [&str; 2] = ["cis-1.10", "cis-1.11"];
const NODES: [(&str, &str); 6] = [
    ("good-control-plane", "master,etcd,controlplane,node"),
    ("kubeadm-control-plane", "master,etcd,controlplane,node"),
    ("broken-control-plane", "master,etcd,controlplane,node"),
    ("good-worker", "node"),
    ("kubeadm-worker", "node"),
    ("broken-worker", "node"),
];

fn node_fixture(benchmark: &str, name: &str) -> std::path::PathBuf {
    benchmark_fixture(&format!("{benchmark}/nodes/{name}"))
}

#[test]
fn live_snapshot_directory_and_collected_snapshot_agree() {
    for benchmark in BENCHMARKS {
        for (name, targets) in NODES {
            let fixture = node_fixture(benchmark, name);
            let args = ["--benchmark", benchmark, "--targets", targets];
            let from_dir = scan_snapshot(&fixture, &args);
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
}

#[test]
fn kube_bench_reference_tree_agrees_except_documented_differences() {
    for benchmark in BENCHMARKS {
        let allowed = documented_differences(benchmark);
        assert!(
            !allowed.is_empty(),
            "the differences doc has a `## {benchmark}` section"
        );
        for (name, targets) in NODES {
            let tree = LiveTree::start(&node_fixture(benchmark, name));
            let ours = tree.scan(&["--benchmark", benchmark, "--targets", targets]);
            let Some(theirs) = tree.scan_kube_bench(benchmark, targets) else {
                return;
            };
            assert!(
                states(&theirs.results).len() > 20,
                "{benchmark} {name}: {}",
                theirs.stderr
            );
            println!("{benchmark} {name}");
            assert_same_verdicts(&ours.results, &theirs.results, &allowed);
        }
    }
}

/// On a live kubeadm control plane, without `--benchmark`, the kube-apiserver manifest's image
/// tag chooses the benchmark, as it does for the snapshot directory.
#[test]
fn a_live_kubeadm_control_plane_chooses_its_benchmark_from_the_image_tag() {
    for (benchmark, version) in [("cis-1.10", "1.28"), ("cis-1.11", "1.30")] {
        let tree = LiveTree::start(&node_fixture(benchmark, "kubeadm-control-plane"));
        let live = tree.scan(&["--targets", "master,etcd,controlplane,node"]);
        assert_eq!(
            live.results["benchmark"]["name"], benchmark,
            "{}: {}",
            live.stderr, live.results["benchmark"]
        );
        let because = live.results["benchmark"]["selected_because"]
            .as_str()
            .unwrap_or_default();
        assert!(
            because.contains(&format!("Kubernetes {version} (the image tag v{version}.")),
            "{benchmark}: {because}"
        );
    }
}
