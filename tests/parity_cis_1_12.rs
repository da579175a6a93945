//! cis-1.12 on kubeadm nodes three ways: the fixture as a live node (real processes, real
//! files under `--root`), the same fixture as a snapshot directory, and the snapshot file
//! `cisgate collect` records from the live node give the same verdicts; and kube-bench's own
//! cis-1.12 tree, run chrooted on the same live node, agrees except where
//! `docs/differences-from-kube-bench.md` says why.

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use live_tree::{assert_same_verdicts, documented_differences, scan_snapshot, states, LiveTree};
use support::benchmark_fixture;

const BENCHMARK: &str = "cis-1.12";
const NODES: [(&str, &str); 4] = [
    ("good-control-plane", "master,etcd,node"),
    ("kubeadm-control-plane", "master,etcd,node"),
    ("broken-control-plane", "master,etcd,node"),
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
fn kube_bench_reference_tree_agrees_except_documented_differences() {
    let allowed = documented_differences(BENCHMARK);
    assert!(
        !allowed.is_empty(),
        "the differences doc has a `## {BENCHMARK}` section"
    );
    for (name, targets) in NODES {
        let tree = LiveTree::start(&node_fixture(name));
        let ours = tree.scan(&["--benchmark", BENCHMARK, "--targets", targets]);
        let Some(theirs) = tree.scan_kube_bench(BENCHMARK, targets) else {
            return;
        };
        assert!(
            states(&theirs.results).len() > 20,
            "{name}: {}",
            theirs.stderr
        );
        assert_same_verdicts(&ours.results, &theirs.results, &allowed);
    }
}
