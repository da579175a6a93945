//! cisgate's own eks-1.8.0 and aks-1.8, end to end through the binary and its embedded
//! benchmarks, on node fixtures written from the platforms' sources and on recorded
//! clusters (see `tests/fixtures/{eks-1.8.0,aks-1.8}/README.md`).
//!
//! Nodes (snapshot directories under `tests/fixtures/<benchmark>/nodes/`):
//! - EKS `al2023-nodeadm`: an Amazon Linux 2023 worker as nodeadm sets it up;
//! - EKS `al2023-broken`: the same with a NodeConfig whose kubelet config drop-in opens the
//!   kubelet up, a zero streaming timeout flag, and loosened file modes;
//! - EKS `al2-bootstrap`: an Amazon Linux 2 worker as bootstrap.sh sets it up;
//! - EKS `al2-broken`: the same with `--kubelet-extra-args` opening the kubelet, a hand-edited
//!   kubelet-config.json and files given to ec2-user;
//! - AKS `ubuntu`: an Ubuntu 22.04 node with the kubelet configured by flags;
//! - AKS `azurelinux`: an Azure Linux 3 node with AKS's kubelet config file;
//! - AKS `ubuntu-broken`: the Ubuntu node with weakened flags and loosened files.
//!
//! Policies run on recorded API objects (`tests/fixtures/<benchmark>/api/{good,bad}/`, as
//! `kubectl get KIND -A -o json` prints them) through the real kubectl talking to a loopback
//! API server that serves them.

#[path = "support/api_server.rs"]
mod api_server;
#[path = "support/fake_node.rs"]
mod fake_node;
#[path = "support/live_tree.rs"]
mod live_tree;
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use live_tree::{cisgate_binary, scan_snapshot};
use serde_json::Value;
use support::benchmark_fixture;
use tempfile::TempDir;

const NODE_TARGETS: &str = "master,controlplane,node,managedservices";

const EKS_NODES: [&str; 4] = [
    "al2023-nodeadm",
    "al2023-broken",
    "al2-bootstrap",
    "al2-broken",
];
const EKS_ON_NODES: &str = "
# id    al2023 al2023-broken al2 al2-broken
2.1.1   WARN   WARN   WARN   WARN
2.1.2   WARN   WARN   WARN   WARN
3.1.1   PASS   FAIL   PASS   PASS
3.1.2   PASS   PASS   PASS   FAIL
3.1.3   PASS   FAIL   PASS   PASS
3.1.4   PASS   PASS   PASS   FAIL
3.2.1   PASS   FAIL   PASS   FAIL
3.2.2   PASS   FAIL   PASS   FAIL
3.2.3   PASS   PASS   PASS   FAIL
3.2.4   PASS   FAIL   PASS   FAIL
3.2.5   PASS   FAIL   PASS   PASS
3.2.6   PASS   FAIL   PASS   PASS
3.2.7   PASS   PASS   PASS   PASS
3.2.8   PASS   FAIL   PASS   PASS
3.2.9   PASS   FAIL   PASS   PASS
5.1.1   WARN   WARN   WARN   WARN
5.1.2   WARN   WARN   WARN   WARN
5.1.3   WARN   WARN   WARN   WARN
5.1.4   WARN   WARN   WARN   WARN
5.2.1   WARN   WARN   WARN   WARN
5.3.1   WARN   WARN   WARN   WARN
5.4.1   WARN   WARN   WARN   WARN
5.4.2   WARN   WARN   WARN   WARN
5.4.3   WARN   WARN   WARN   WARN
5.4.4   WARN   WARN   WARN   WARN
5.4.5   WARN   WARN   WARN   WARN
5.5.1   WARN   WARN   WARN   WARN
";

const AKS_NODES: [&str; 3] = ["ubuntu", "azurelinux", "ubuntu-broken"];
const AKS_ON_NODES: &str = "
# id    ubuntu azurelinux ubuntu-broken
2.1.1   WARN   WARN   WARN
3.1.1   PASS   PASS   FAIL
3.1.2   PASS   PASS   FAIL
3.1.3   PASS   PASS   FAIL
3.1.4   PASS   PASS   FAIL
3.2.1   PASS   PASS   FAIL
3.2.2   PASS   PASS   FAIL
3.2.3   PASS   PASS   FAIL
3.2.4   PASS   PASS   FAIL
3.2.5   PASS   PASS   FAIL
3.2.6   PASS   PASS   FAIL
3.2.7   PASS   PASS   PASS
3.2.8   PASS   PASS   FAIL
3.2.9   PASS   PASS   FAIL
5.1.1   WARN   WARN   WARN
5.1.2   WARN   WARN   WARN
5.1.3   WARN   WARN   WARN
5.1.4   WARN   WARN   WARN
5.2.1   WARN   WARN   WARN
5.3.1   WARN   WARN   WARN
5.4.1   WARN   WARN   WARN
5.4.2   WARN   WARN   WARN
5.4.3   WARN   WARN   WARN
5.4.4   WARN   WARN   WARN
5.4.5   WARN   WARN   WARN
5.5.1   WARN   WARN   WARN
5.5.2   WARN   WARN   WARN
";

/// Automated checks no fixture can fail, with the reason.
const CANNOT_FAIL: &[(&str, &str, &str)] = &[
    (
        "eks-1.8.0",
        "3.2.7",
        "any eventRecordQPS >= 0 or the default passes; the kubelet refuses a negative one",
    ),
    (
        "aks-1.8",
        "3.2.7",
        "any eventRecordQPS >= 0 or the default passes; the kubelet refuses a negative one",
    ),
];

/// Each automated policy check: state on the good and the bad cluster, and an offender
/// the evidence must name on the bad one.
const EKS_ON_CLUSTERS: &[(&str, &str, &str, &str)] = &[
    (
        "4.1.1",
        "PASS",
        "FAIL",
        "ClusterRoleBinding ci-deployer-admin to ServiceAccount deployer",
    ),
    ("4.1.2", "PASS", "FAIL", "ClusterRole secret-reader"),
    ("4.1.3", "PASS", "FAIL", "ClusterRole ops-superuser"),
    ("4.1.4", "PASS", "FAIL", "ClusterRole pod-launcher"),
    ("4.1.5", "PASS", "FAIL", "legacy/default"),
    ("4.1.6", "PASS", "FAIL", "legacy/debug-shell"),
    (
        "4.2.1",
        "PASS",
        "FAIL",
        "legacy/debug-shell container shell",
    ),
    ("4.2.2", "PASS", "FAIL", "legacy/debug-shell"),
    ("4.2.3", "PASS", "FAIL", "legacy/debug-shell"),
    ("4.2.4", "PASS", "FAIL", "legacy/debug-shell"),
    (
        "4.2.5",
        "PASS",
        "FAIL",
        "legacy/debug-shell container shell",
    ),
    (
        "4.3.2",
        "PASS",
        "FAIL",
        "namespace without NetworkPolicy: legacy",
    ),
    ("4.4.1", "PASS", "FAIL", "API_TOKEN from secret legacy-api"),
    ("4.5.2", "PASS", "FAIL", "Pod nginx"),
];
const EKS_MANUAL_POLICIES: &[&str] = &[
    "4.1.7", "4.1.8", "4.1.9", "4.1.10", "4.1.11", "4.1.12", "4.3.1", "4.4.2", "4.5.1",
];

const AKS_ON_CLUSTERS: &[(&str, &str, &str, &str)] = &[("4.6.3", "PASS", "FAIL", "Pod nginx")];
const AKS_MANUAL_POLICIES: &[&str] = &[
    "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.1.5", "4.1.6", "4.1.7", "4.1.8", "4.1.9", "4.1.10",
    "4.1.11", "4.1.12", "4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.2.5", "4.4.1", "4.5.2", "4.6.1",
    "4.6.2",
];
const AKS_SKIPPED_POLICIES: &[&str] = &["4.4.2", "4.5.1"];

/// `check id → (node → state)` from a table whose columns are `nodes`.
fn table(text: &str, nodes: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut expected = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 1 + nodes.len(), "bad table row: {line}");
        let states = nodes
            .iter()
            .zip(&fields[1..])
            .map(|(node, state)| (node.to_string(), state.to_string()))
            .collect();
        expected.insert(fields[0].to_string(), states);
    }
    expected
}

fn scan_node(benchmark: &str, node: &str) -> BTreeMap<String, (String, String)> {
    let fixture = benchmark_fixture(&format!("{benchmark}/nodes/{node}"));
    let outcome = scan_snapshot(
        &fixture,
        &["--benchmark", benchmark, "--targets", NODE_TARGETS],
    );
    assert!(
        matches!(outcome.code, 0 | 1),
        "{benchmark} {node}: exit {}: {}",
        outcome.code,
        outcome.stderr
    );
    support::check_states(&outcome.results)
}

fn assert_table(benchmark: &str, nodes: &[&str], text: &str) {
    let expected = table(text, nodes);
    let mut wrong = Vec::new();
    for node in nodes {
        let actual = scan_node(benchmark, node);
        for (id, states) in &expected {
            let want = &states[*node];
            match actual.get(id) {
                Some((got, _)) if got == want => {}
                Some((got, evidence)) => wrong.push(format!(
                    "{node} {id}: expected {want}, got {got} (actual: {evidence})"
                )),
                None => wrong.push(format!("{node} {id}: expected {want}, not reported")),
            }
        }
        for id in actual.keys().filter(|id| !expected.contains_key(*id)) {
            wrong.push(format!("{node} {id}: reported but not in the table"));
        }
    }
    assert!(wrong.is_empty(), "{benchmark}:\n{}", wrong.join("\n"));
}

#[test]
fn eks_checks_get_their_expected_state_on_each_node() {
    assert_table("eks-1.8.0", &EKS_NODES, EKS_ON_NODES);
}

#[test]
fn aks_checks_get_their_expected_state_on_each_node() {
    assert_table("aks-1.8", &AKS_NODES, AKS_ON_NODES);
}

/// The kubelet on the AL2023 node is the one the unit derives from nodeadm's environment
/// file, and the drop-in of the broken node is merged into its effective configuration.
#[test]
fn eks_kubelet_evidence_names_nodeadms_files() {
    let default = scan_node("eks-1.8.0", "al2023-nodeadm");
    assert!(
        default["3.2.9"]
            .1
            .contains("\"RotateKubeletServerCertificate\":true"),
        "{}",
        default["3.2.9"].1
    );
    let broken = scan_node("eks-1.8.0", "al2023-broken");
    assert!(
        broken["3.2.1"]
            .1
            .contains("\"anonymous\":{\"enabled\":true}"),
        "the drop-in should decide 3.2.1: {}",
        broken["3.2.1"].1
    );
}

/// Scans a recorded cluster's policies through the real kubectl and a loopback API server.
fn scan_cluster(benchmark: &str, cluster: &str) -> Option<BTreeMap<String, (String, String)>> {
    let (temp, server, kubeconfig) = serve_cluster(benchmark, cluster)?;
    let json = temp.path().join("results.json");
    let output = Command::new(cisgate_binary())
        .args(["scan", "--quiet", "--benchmark", benchmark])
        .args(["--targets", "policies", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--json")
        .arg(&json)
        .env("KUBECACHEDIR", temp.path().join("cache"))
        .stdin(Stdio::null())
        .output()
        .expect("cisgate runs");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{benchmark} {cluster}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (kind, requests) in server.list_requests() {
        assert!(requests <= 1, "{kind} was listed {requests} times");
    }
    Some(results_of(&json))
}

/// The same cluster through a snapshot file: `cisgate collect` records the API objects
/// (through kubectl and the loopback server), then the file is scanned offline.
fn scan_cluster_snapshot(
    benchmark: &str,
    cluster: &str,
) -> Option<BTreeMap<String, (String, String)>> {
    let (temp, server, kubeconfig) = serve_cluster(benchmark, cluster)?;
    let snapshot = temp.path().join("cluster.json.gz");
    let collected = Command::new(cisgate_binary())
        .args(["collect", "--no-timestamp", "--benchmark", benchmark])
        .args(["--targets", "policies", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("-o")
        .arg(&snapshot)
        .env("KUBECACHEDIR", temp.path().join("cache"))
        .stdin(Stdio::null())
        .output()
        .expect("cisgate runs");
    assert!(
        collected.status.success(),
        "{benchmark} {cluster}: {}",
        String::from_utf8_lossy(&collected.stderr)
    );
    drop(server);
    let outcome = scan_snapshot(
        &snapshot,
        &["--benchmark", benchmark, "--targets", "policies"],
    );
    assert!(matches!(outcome.code, 0 | 1), "{}", outcome.stderr);
    Some(support::check_states(&outcome.results))
}

fn serve_cluster(
    benchmark: &str,
    cluster: &str,
) -> Option<(TempDir, api_server::RecordedApiServer, PathBuf)> {
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed");
        return None;
    }
    let temp = TempDir::new().unwrap();
    let lists = benchmark_fixture(&format!("{benchmark}/api/{cluster}"));
    let server = api_server::RecordedApiServer::for_recorded_lists(&lists);
    let kubeconfig = server.kubeconfig(temp.path());
    Some((temp, server, kubeconfig))
}

fn results_of(json: &std::path::Path) -> BTreeMap<String, (String, String)> {
    let results: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    support::check_states(&results)
}

#[test]
fn policies_decide_the_same_through_a_collected_snapshot_as_through_kubectl() {
    for benchmark in ["eks-1.8.0", "aks-1.8"] {
        for cluster in ["good", "bad"] {
            let (Some(live), Some(replayed)) = (
                scan_cluster(benchmark, cluster),
                scan_cluster_snapshot(benchmark, cluster),
            ) else {
                return;
            };
            assert_eq!(live, replayed, "{benchmark} {cluster} cluster");
        }
    }
}

fn assert_clusters(
    benchmark: &str,
    automated: &[(&str, &str, &str, &str)],
    manual: &[&str],
    skipped: &[&str],
) {
    let (Some(good), Some(bad)) = (
        scan_cluster(benchmark, "good"),
        scan_cluster(benchmark, "bad"),
    ) else {
        return;
    };
    let mut wrong = Vec::new();
    for (id, on_good, on_bad, offender) in automated {
        let (good_state, good_evidence) = &good[*id];
        let (bad_state, bad_evidence) = &bad[*id];
        if good_state != on_good {
            wrong.push(format!(
                "good {id}: expected {on_good}, got {good_state}: {good_evidence}"
            ));
        }
        if bad_state != on_bad {
            wrong.push(format!(
                "bad {id}: expected {on_bad}, got {bad_state}: {bad_evidence}"
            ));
        }
        if !bad_evidence.contains(offender) {
            wrong.push(format!(
                "bad {id}: evidence does not name `{offender}`: {bad_evidence}"
            ));
        }
    }
    for (ids, state) in [(manual, "WARN"), (skipped, "INFO")] {
        for id in ids {
            if good.get(*id).map(|(s, _)| s.as_str()) != Some(state) {
                wrong.push(format!("{id}: expected {state}, got {:?}", good.get(*id)));
            }
        }
    }
    let listed = automated.len() + manual.len() + skipped.len();
    assert_eq!(good.len(), listed, "{benchmark}: every policy check listed");
    assert!(wrong.is_empty(), "{benchmark}:\n{}", wrong.join("\n"));
}

#[test]
fn eks_policies_pass_on_a_good_cluster_and_name_each_offender_on_a_bad_one() {
    assert_clusters("eks-1.8.0", EKS_ON_CLUSTERS, EKS_MANUAL_POLICIES, &[]);
}

#[test]
fn aks_policies_pass_on_a_good_cluster_and_name_each_offender_on_a_bad_one() {
    assert_clusters(
        "aks-1.8",
        AKS_ON_CLUSTERS,
        AKS_MANUAL_POLICIES,
        AKS_SKIPPED_POLICIES,
    );
}

/// Every automated check passes somewhere and fails (FAIL: all are scored) somewhere else,
/// except the few no real node can fail.
#[test]
fn every_automated_check_has_a_passing_and_a_failing_fixture() {
    let mut missing = Vec::new();
    for (benchmark, nodes, text, clusters) in [
        ("eks-1.8.0", &EKS_NODES[..], EKS_ON_NODES, EKS_ON_CLUSTERS),
        ("aks-1.8", &AKS_NODES[..], AKS_ON_NODES, AKS_ON_CLUSTERS),
    ] {
        let expected = table(text, nodes);
        let mut states: BTreeMap<String, Vec<String>> = expected
            .iter()
            .map(|(id, by_node)| (id.clone(), by_node.values().cloned().collect()))
            .collect();
        for (id, good, bad, _) in clusters {
            states.insert(id.to_string(), vec![good.to_string(), bad.to_string()]);
        }
        for (id, seen) in states {
            if seen.iter().all(|s| s == "WARN" || s == "INFO") {
                continue; // manual
            }
            if CANNOT_FAIL
                .iter()
                .any(|(b, i, _)| *b == benchmark && *i == id)
            {
                continue;
            }
            if !(seen.iter().any(|s| s == "PASS") && seen.iter().any(|s| s == "FAIL")) {
                missing.push(format!("{benchmark} {id}: {seen:?}"));
            }
        }
    }
    assert!(missing.is_empty(), "no pass/fail fixture for: {missing:#?}");
}
