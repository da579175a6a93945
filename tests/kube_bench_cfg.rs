//! kube-bench's published `cfg/` trees load and run unchanged (`--config-dir`). Needs
//! `../shared/kube-bench-cfg`; where it is absent, `support::missing` (a failure under CI).

#[path = "support/fake_node.rs"]
mod fake_node;
mod support;

use support::kube_bench_cfg;

use assert_cmd::Command;
use cisgate::definitions::config::BenchmarkConfig;
use cisgate::definitions::load::parse_controls;
use cisgate::definitions::tree::BenchmarkTree;
use fake_node::{FakeNode, NodeKind};

#[test]
fn every_kube_bench_benchmark_file_parses() {
    let Some(root) = kube_bench_cfg() else { return };
    let tree = BenchmarkTree::directory(&root).unwrap();
    let benchmarks = tree.benchmark_names();
    assert!(benchmarks.len() >= 40, "{benchmarks:?}");
    let mut files = 0;
    for benchmark in &benchmarks {
        BenchmarkConfig::load(&tree, Some(benchmark))
            .unwrap_or_else(|e| panic!("{benchmark}/config.yaml: {e}"));
        for entry in std::fs::read_dir(root.join(benchmark)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "config.yaml" || !name.ends_with(".yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let controls =
                parse_controls(&path, &text, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                format!("{}.yaml", controls.node_type),
                name,
                "{}: the file's type names its target",
                path.display()
            );
            files += 1;
        }
    }
    assert!(files > 200, "parsed {files} controls files");
}

#[test]
fn kube_bench_cis_1_12_runs_unchanged_on_a_live_node() {
    let Some(root) = kube_bench_cfg() else { return };
    let node = FakeNode::start(NodeKind::ControlPlane);
    let out = tempfile::TempDir::new().unwrap();
    let json = out.path().join("results.json");
    let assert = Command::cargo_bin("cisgate")
        .unwrap()
        .args([
            "scan",
            "--quiet",
            "--benchmark",
            "cis-1.12",
            "--targets",
            "master,etcd,node",
        ])
        .arg("--config-dir")
        .arg(&root)
        .arg("--root")
        .arg(node.root())
        .arg("--json")
        .arg(&json)
        .assert();
    assert_eq!(
        assert.get_output().status.code(),
        Some(1),
        "kubeadm defaults fail some checks"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let totals = &results["totals"];
    assert!(totals["pass"].as_u64().unwrap() > 30, "{totals}");
    assert!(totals["fail"].as_u64().unwrap() > 0, "{totals}");
    let state = |id: &str| {
        results["nodes"][0]["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["groups"].as_array().unwrap())
            .flat_map(|g| g["checks"].as_array().unwrap())
            .find(|c| c["id"] == id)
            .map(|c| c["state"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    // kubeadm writes the API server manifest 600 root:root and enables RBAC; it leaves
    // profiling on.
    assert_eq!(state("1.1.1"), "PASS");
    assert_eq!(state("1.1.2"), "PASS");
    assert_eq!(
        state("1.2.6"),
        "PASS",
        "authorization-mode is not AlwaysAllow"
    );
    assert_eq!(state("1.2.15"), "FAIL", "--profiling is not set to false");
}
