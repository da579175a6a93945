//! Without `--benchmark`, each node gets its platform's benchmark, chosen from what the node
//! itself shows (`platforms` in cfg/config.yaml): from a snapshot directory, from the snapshot
//! file `cisgate collect` records on the live node, and live (the fixture laid out as a node
//! with real processes, scanned with `--root`). Evidence for two platforms stops the run.
//!
//! Most tests here have no API server (kubectl finds no cluster), so the node's own files
//! decide. Nodes whose files do not tell their version (AKS, EKS on AL2, k3s, a kubeadm
//! worker) are also scanned live against a loopback API server (`tests/support/api_server.rs`,
//! through the real kubectl) that answers `/version` with the platform's version string.

#[path = "support/api_server.rs"]
mod api_server;
#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::path::PathBuf;

use live_tree::{scan_snapshot, LiveTree, Outcome};
use support::benchmark_fixture;

/// Fixture → the benchmark and platform a scan without `--benchmark` must choose, and whether
/// the live node shows its version by itself (a kubeadm worker does not: its version comes
/// from the API server or the snapshot's metadata).
#[rustfmt::skip]
const NODES: &[(&str, &str, Option<&str>, bool)] = &[
    ("cis-1.10/nodes/kubeadm-control-plane", "cis-1.10", None, true),
    ("cis-1.11/nodes/kubeadm-control-plane", "cis-1.11", None, true),
    ("cis-1.12/nodes/kubeadm-control-plane", "cis-1.12", None, true),
    ("cis-1.12/nodes/good-worker", "cis-1.12", None, false),
    ("eks-1.8.0/nodes/al2023-nodeadm", "eks-1.8.0", Some("eks"), true),
    ("eks-1.8.0/nodes/al2-bootstrap", "eks-1.8.0", Some("eks"), false),
    ("aks-1.8/nodes/ubuntu", "aks-1.8", Some("aks"), false),
    ("aks-1.8/nodes/azurelinux", "aks-1.8", Some("aks"), false),
    ("gke-1.9.0/nodes/cos-default", "gke-1.9.0", Some("gke"), true),
    ("gke-1.9.0/nodes/ubuntu-default", "gke-1.9.0", Some("gke"), true),
    ("gke-1.8.0/nodes/cos-default", "gke-1.8.0", Some("gke"), true),
    ("rke2-cis-1.8/nodes/rke2-server", "rke2-cis-1.8", Some("rke2"), true),
    ("rke2-cis-1.8/nodes/rke2-agent", "rke2-cis-1.8", Some("rke2"), false),
    ("k3s-cis-1.9/nodes/k3s-server", "k3s-cis-1.9", Some("k3s"), false),
    ("k3s-cis-1.9/nodes/k3s-agent", "k3s-cis-1.9", Some("k3s"), false),
    ("rh-1.8/nodes/ocp-master", "rh-1.8", Some("openshift"), true),
    ("rh-1.8/nodes/ocp-worker", "rh-1.8", Some("openshift"), true),
];

fn chosen(outcome: &Outcome) -> (String, Option<String>) {
    let node = &outcome.results["nodes"][0]["node"];
    (
        node["benchmark"].as_str().unwrap_or_default().to_owned(),
        node["distribution"]["name"].as_str().map(str::to_owned),
    )
}

fn assert_chosen(
    outcome: &Outcome,
    fixture: &str,
    benchmark: &str,
    platform: Option<&str>,
    how: &str,
) {
    assert!(
        !outcome.results.is_null(),
        "{fixture} ({how}): no results (exit {}): {}",
        outcome.code,
        outcome.stderr
    );
    assert_eq!(
        chosen(outcome),
        (benchmark.to_owned(), platform.map(str::to_owned)),
        "{fixture} ({how}): {}",
        outcome.stderr
    );
}

#[test]
fn each_platforms_node_gets_its_benchmark_from_a_snapshot_directory() {
    for (fixture, benchmark, platform, _) in NODES {
        let outcome = scan_snapshot(&benchmark_fixture(fixture), &[]);
        assert_chosen(
            &outcome,
            fixture,
            benchmark,
            *platform,
            "snapshot directory",
        );
    }
}

#[test]
fn each_platforms_node_gets_its_benchmark_live_and_from_its_collected_snapshot() {
    for (fixture, benchmark, platform, _) in NODES.iter().filter(|node| node.3) {
        let tree = LiveTree::start(&benchmark_fixture(fixture));
        let live = tree.scan(&[]);
        assert_chosen(&live, fixture, benchmark, *platform, "live");
        let out = tempfile::TempDir::new().unwrap();
        let snapshot = tree.collect(out.path(), &[]);
        drop(tree);
        let collected = scan_snapshot(&snapshot, &[]);
        assert_chosen(
            &collected,
            fixture,
            benchmark,
            *platform,
            "collected snapshot",
        );
    }
}

/// A copy of a fixture with extra files.
fn node_with(fixture: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let node = dir.path().join("node-1");
    support::copy_tree(&benchmark_fixture(fixture), &node);
    for (path, text) in extra {
        let file = node.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    (dir, node)
}

#[test]
fn evidence_for_two_platforms_stops_the_run_and_says_how_to_choose() {
    let (_dir, node) = node_with(
        "cis-1.12/nodes/good-worker",
        &[
            ("/etc/eks/release", "BUILD_TIME=x\n"),
            (
                "/var/lib/rancher/k3s/agent/client-ca.crt",
                "CISGATEFAKECERT\n",
            ),
        ],
    );
    let outcome = scan_snapshot(&node, &[]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("more than one platform"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("/etc/eks exists"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("/var/lib/rancher/k3s exists"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("--benchmark"), "{}", outcome.stderr);
}

#[test]
fn a_platform_node_without_a_version_stops_and_says_how_to_choose() {
    let (_dir, node) = node_with(
        "cis-1.12/nodes/good-worker",
        &[(
            "/etc/rancher/k3s/config.yaml",
            "write-kubeconfig-mode: \"0600\"\n",
        )],
    );
    // The fixture's metadata records a Kubernetes version: take it out.
    let metadata = node.join("cisgate-node.yaml");
    let text = std::fs::read_to_string(&metadata).unwrap();
    let without_version: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("kubernetes_version"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&metadata, without_version).unwrap();
    let outcome = scan_snapshot(&node, &[]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("k3s node"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("--benchmark"), "{}", outcome.stderr);
}

#[test]
fn a_live_kubeadm_worker_without_an_api_server_stops_rather_than_guess_its_version() {
    let tree = LiveTree::start(&benchmark_fixture("cis-1.12/nodes/good-worker"));
    let live = tree.scan(&[]);
    assert_eq!(live.code, 2, "{}", live.stderr);
    assert!(live.stderr.contains("--k8s-version"), "{}", live.stderr);
    let pinned = tree.scan(&["--k8s-version", "1.32"]);
    assert_eq!(chosen(&pinned).0, "cis-1.12", "{}", pinned.stderr);
}

/// Fixture, the API server's `gitVersion`, and the benchmark and platform the live node must get.
const WITH_API: &[(&str, &str, &str, Option<&str>)] = &[
    ("aks-1.8/nodes/ubuntu", "v1.31.5", "aks-1.8", Some("aks")),
    (
        "eks-1.8.0/nodes/al2-bootstrap",
        "v1.31.4-eks-2d5f260",
        "eks-1.8.0",
        Some("eks"),
    ),
    (
        "k3s-cis-1.9/nodes/k3s-agent",
        "v1.28.15+k3s1",
        "k3s-cis-1.9",
        Some("k3s"),
    ),
    ("cis-1.12/nodes/good-worker", "v1.33.1", "cis-1.12", None),
    // No marker on the node: the API server's version string alone names the platform.
    (
        "cis-1.12/nodes/good-worker",
        "v1.30.9-gke.1127000",
        "gke-1.8.0",
        Some("gke"),
    ),
];

#[test]
fn live_nodes_whose_files_do_not_tell_the_version_ask_the_api_server() {
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed");
        return;
    }
    for (fixture, git_version, benchmark, platform) in WITH_API {
        let version = format!(
            r#"{{"major":"1","minor":"x","gitVersion":"{git_version}","platform":"linux/amd64"}}"#
        );
        let server = api_server::RecordedApiServer::start(
            [("/version".to_owned(), version)].into_iter().collect(),
        );
        let dir = tempfile::TempDir::new().unwrap();
        let kubeconfig = server.kubeconfig(dir.path());
        let kubeconfig = kubeconfig.to_str().unwrap();
        let tree = LiveTree::start(&benchmark_fixture(fixture));
        let args = ["--targets", "node", "--kubeconfig", kubeconfig];
        let live = tree.scan(&args);
        assert_chosen(&live, fixture, benchmark, *platform, "live, API server");
        let snapshot = tree.collect(dir.path(), &args);
        drop(tree);
        drop(server);
        let collected = scan_snapshot(&snapshot, &["--targets", "node"]);
        assert_chosen(
            &collected,
            fixture,
            benchmark,
            *platform,
            "collected, no API server",
        );
    }
}
