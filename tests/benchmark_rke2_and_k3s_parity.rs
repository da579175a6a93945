//! rke2-cis-1.8 and k3s-cis-1.9 three ways: each fixture as a live node (real processes, real
//! files with their modes and owners under `--root`), as a snapshot directory, and as the
//! snapshot file `cisgate collect` records from the live node give the same verdicts; and
//! kube-bench's own trees, run chrooted on the same live node, agree except where
//! `docs/differences-from-kube-bench.md` says why.

#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use live_tree::{assert_same_verdicts, documented_differences, scan_snapshot, states, LiveTree};
use support::benchmark_fixture;

const SERVER: &str = "master,etcd,controlplane,node";
const NODES: [(&str, &str, &str); 8] = [
    ("rke2-cis-1.8", "rke2-server", SERVER),
    ("rke2-cis-1.8", "rke2-server-cis", SERVER),
    ("rke2-cis-1.8", "rke2-broken-server", SERVER),
    ("rke2-cis-1.8", "rke2-agent", "node"),
    ("k3s-cis-1.9", "k3s-server", SERVER),
    ("k3s-cis-1.9", "k3s-server-hardened", SERVER),
    ("k3s-cis-1.9", "k3s-broken-server", SERVER),
    ("k3s-cis-1.9", "k3s-agent", "node"),
];

fn node_fixture(benchmark: &str, name: &str) -> std::path::PathBuf {
    benchmark_fixture(&format!("{benchmark}/nodes/{name}"))
}

#[test]
fn live_snapshot_directory_and_collected_snapshot_agree() {
    for (benchmark, name, targets) in NODES {
        let fixture = node_fixture(benchmark, name);
        let args = ["--benchmark", benchmark, "--targets", targets];
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
fn kube_bench_reference_trees_agree_except_documented_differences() {
    for (benchmark, name, targets) in NODES {
        let allowed = documented_differences(benchmark);
        assert!(
            !allowed.is_empty(),
            "the differences doc has a `## {benchmark}` section"
        );
        let tree = LiveTree::start(&node_fixture(benchmark, name));
        let ours = tree.scan(&["--benchmark", benchmark, "--targets", targets]);
        let Some(theirs) = tree.scan_kube_bench(benchmark, targets) else {
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
