//! cisgate's own cis-1.10 (Kubernetes 1.28) and cis-1.11 (Kubernetes 1.29–1.31), end to end
//! through the binary and its embedded tree, on kubeadm-shaped nodes and a recorded cluster.
//!
//! Sections 1–4 run on snapshot directories under `tests/fixtures/<benchmark>/nodes/`
//! (kubeadm 1.28.15 for cis-1.10, kubeadm 1.30.6 for cis-1.11; sources in each README):
//! - `good-control-plane`, `good-worker`: `kubeadm init`/`join` hardened as the benchmark asks;
//! - `kubeadm-control-plane`, `kubeadm-worker`: exactly as kubeadm and the packages leave them;
//! - `broken-control-plane`: `kubeadm init` loosened by hand (files opened up, flags weakened);
//! - `broken-worker`: an older layout (unit in /lib, drop-in in /etc, as the retired
//!   apt.kubernetes.io packages installed them) whose /etc/default/kubelet flags override
//!   its config file, with kube-proxy run from a unit.
//!
//! Section 5 runs on the recorded API objects of cis-1.12's tests
//! (`tests/fixtures/cis-1.12/api/{good,bad}/`; the policy checks are the same, numbered as
//! each version numbers them) through the real kubectl and a loopback API server, and
//! through the snapshot `cisgate collect` records from it.
//!
//! Every automated check must pass on at least one node or cluster and fail (FAIL, or WARN
//! when it is unscored) on another. Without `--benchmark`, a node's Kubernetes version picks
//! the benchmark: 1.28 → cis-1.10, 1.30 → cis-1.11.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "support/api_server.rs"]
mod api_server;
mod support;

use assert_cmd::Command;
use cisgate::definitions::model::Controls;
use serde_json::Value;
use tempfile::TempDir;

/// The node fixtures, in the column order of the expected tables.
const NODE_FIXTURES: [&str; 6] = [
    "good-control-plane",
    "kubeadm-control-plane",
    "broken-control-plane",
    "good-worker",
    "kubeadm-worker",
    "broken-worker",
];

/// Expected state of each check per node; `-` = the target does not run there.
const CIS_1_10_ON_NODES: &str = "
# id     good-cp kubeadm broken good-w kubeadm-w broken-w
1.1.1    PASS   PASS   FAIL   -      -      -
1.1.2    PASS   PASS   FAIL   -      -      -
1.1.3    PASS   PASS   FAIL   -      -      -
1.1.4    PASS   PASS   FAIL   -      -      -
1.1.5    PASS   PASS   FAIL   -      -      -
1.1.6    PASS   PASS   FAIL   -      -      -
1.1.7    PASS   PASS   FAIL   -      -      -
1.1.8    PASS   PASS   FAIL   -      -      -
1.1.9    PASS   WARN   WARN   -      -      -
1.1.10   PASS   PASS   WARN   -      -      -
1.1.11   PASS   PASS   FAIL   -      -      -
1.1.12   PASS   FAIL   FAIL   -      -      -
1.1.13   PASS   PASS   FAIL   -      -      -
1.1.14   PASS   PASS   FAIL   -      -      -
1.1.15   PASS   PASS   FAIL   -      -      -
1.1.16   PASS   PASS   FAIL   -      -      -
1.1.17   PASS   PASS   FAIL   -      -      -
1.1.18   PASS   PASS   FAIL   -      -      -
1.1.19   PASS   PASS   FAIL   -      -      -
1.1.20   PASS   WARN   WARN   -      -      -
1.1.21   PASS   PASS   WARN   -      -      -
1.2.1    PASS   WARN   WARN   -      -      -
1.2.2    PASS   PASS   FAIL   -      -      -
1.2.3    PASS   WARN   WARN   -      -      -
1.2.4    PASS   PASS   FAIL   -      -      -
1.2.5    PASS   FAIL   FAIL   -      -      -
1.2.6    PASS   PASS   FAIL   -      -      -
1.2.7    PASS   PASS   FAIL   -      -      -
1.2.8    PASS   PASS   FAIL   -      -      -
1.2.9    PASS   WARN   WARN   -      -      -
1.2.10   PASS   PASS   FAIL   -      -      -
1.2.11   PASS   WARN   WARN   -      -      -
1.2.12   PASS   PASS   FAIL   -      -      -
1.2.13   PASS   PASS   FAIL   -      -      -
1.2.14   PASS   PASS   FAIL   -      -      -
1.2.15   PASS   FAIL   FAIL   -      -      -
1.2.16   PASS   FAIL   FAIL   -      -      -
1.2.17   PASS   FAIL   FAIL   -      -      -
1.2.18   PASS   FAIL   FAIL   -      -      -
1.2.19   PASS   FAIL   FAIL   -      -      -
1.2.20   WARN   WARN   WARN   -      -      -
1.2.21   PASS   PASS   FAIL   -      -      -
1.2.22   PASS   PASS   FAIL   -      -      -
1.2.23   PASS   PASS   FAIL   -      -      -
1.2.24   PASS   PASS   FAIL   -      -      -
1.2.25   PASS   PASS   FAIL   -      -      -
1.2.26   PASS   PASS   FAIL   -      -      -
1.2.27   PASS   WARN   WARN   -      -      -
1.2.28   WARN   WARN   WARN   -      -      -
1.2.29   PASS   WARN   WARN   -      -      -
1.3.1    PASS   WARN   WARN   -      -      -
1.3.2    PASS   FAIL   FAIL   -      -      -
1.3.3    PASS   PASS   FAIL   -      -      -
1.3.4    PASS   PASS   FAIL   -      -      -
1.3.5    PASS   PASS   FAIL   -      -      -
1.3.6    PASS   PASS   FAIL   -      -      -
1.3.7    PASS   PASS   FAIL   -      -      -
1.4.1    PASS   FAIL   FAIL   -      -      -
1.4.2    PASS   PASS   FAIL   -      -      -
2.1      PASS   PASS   FAIL   -      -      -
2.2      PASS   PASS   FAIL   -      -      -
2.3      PASS   PASS   FAIL   -      -      -
2.4      PASS   PASS   FAIL   -      -      -
2.5      PASS   PASS   FAIL   -      -      -
2.6      PASS   PASS   FAIL   -      -      -
2.7      PASS   PASS   WARN   -      -      -
3.1.1    WARN   WARN   WARN   -      -      -
3.1.2    WARN   WARN   WARN   -      -      -
3.1.3    WARN   WARN   WARN   -      -      -
3.2.1    PASS   WARN   WARN   -      -      -
3.2.2    WARN   WARN   WARN   -      -      -
4.1.1    PASS   FAIL   FAIL   PASS   FAIL   FAIL
4.1.2    PASS   PASS   FAIL   PASS   PASS   FAIL
4.1.3    PASS   PASS   PASS   PASS   PASS   WARN
4.1.4    PASS   PASS   PASS   PASS   PASS   WARN
4.1.5    PASS   PASS   FAIL   PASS   PASS   FAIL
4.1.6    PASS   PASS   FAIL   PASS   PASS   FAIL
4.1.7    PASS   WARN   WARN   PASS   WARN   WARN
4.1.8    PASS   PASS   PASS   PASS   PASS   WARN
4.1.9    PASS   FAIL   FAIL   PASS   FAIL   FAIL
4.1.10   PASS   PASS   FAIL   PASS   PASS   FAIL
4.2.1    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.2    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.3    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.4    PASS   PASS   PASS   PASS   PASS   WARN
4.2.5    PASS   PASS   WARN   PASS   PASS   WARN
4.2.6    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.7    PASS   PASS   PASS   PASS   PASS   WARN
4.2.8    PASS   PASS   PASS   PASS   PASS   WARN
4.2.9    PASS   WARN   WARN   PASS   WARN   WARN
4.2.10   PASS   PASS   PASS   PASS   PASS   FAIL
4.2.11   PASS   PASS   PASS   PASS   PASS   WARN
4.2.12   PASS   WARN   WARN   PASS   WARN   WARN
4.2.13   PASS   WARN   WARN   PASS   WARN   WARN
4.3.1    PASS   PASS   PASS   PASS   PASS   FAIL
";

/// As cis-1.10, except: certificates and the client CA file may be 644 (1.1.20, 4.1.7), and
/// 1.2.30, 4.2.14 and 4.2.15 exist.
const CIS_1_11_ON_NODES: &str = "
# id     good-cp kubeadm broken good-w kubeadm-w broken-w
1.1.1    PASS   PASS   FAIL   -      -      -
1.1.2    PASS   PASS   FAIL   -      -      -
1.1.3    PASS   PASS   FAIL   -      -      -
1.1.4    PASS   PASS   FAIL   -      -      -
1.1.5    PASS   PASS   FAIL   -      -      -
1.1.6    PASS   PASS   FAIL   -      -      -
1.1.7    PASS   PASS   FAIL   -      -      -
1.1.8    PASS   PASS   FAIL   -      -      -
1.1.9    PASS   WARN   WARN   -      -      -
1.1.10   PASS   PASS   WARN   -      -      -
1.1.11   PASS   PASS   FAIL   -      -      -
1.1.12   PASS   FAIL   FAIL   -      -      -
1.1.13   PASS   PASS   FAIL   -      -      -
1.1.14   PASS   PASS   FAIL   -      -      -
1.1.15   PASS   PASS   FAIL   -      -      -
1.1.16   PASS   PASS   FAIL   -      -      -
1.1.17   PASS   PASS   FAIL   -      -      -
1.1.18   PASS   PASS   FAIL   -      -      -
1.1.19   PASS   PASS   FAIL   -      -      -
1.1.20   PASS   PASS   WARN   -      -      -
1.1.21   PASS   PASS   WARN   -      -      -
1.2.1    PASS   WARN   WARN   -      -      -
1.2.2    PASS   PASS   FAIL   -      -      -
1.2.3    PASS   WARN   WARN   -      -      -
1.2.4    PASS   PASS   FAIL   -      -      -
1.2.5    PASS   FAIL   FAIL   -      -      -
1.2.6    PASS   PASS   FAIL   -      -      -
1.2.7    PASS   PASS   FAIL   -      -      -
1.2.8    PASS   PASS   FAIL   -      -      -
1.2.9    PASS   WARN   WARN   -      -      -
1.2.10   PASS   PASS   FAIL   -      -      -
1.2.11   PASS   WARN   WARN   -      -      -
1.2.12   PASS   PASS   FAIL   -      -      -
1.2.13   PASS   PASS   FAIL   -      -      -
1.2.14   PASS   PASS   FAIL   -      -      -
1.2.15   PASS   FAIL   FAIL   -      -      -
1.2.16   PASS   FAIL   FAIL   -      -      -
1.2.17   PASS   FAIL   FAIL   -      -      -
1.2.18   PASS   FAIL   FAIL   -      -      -
1.2.19   PASS   FAIL   FAIL   -      -      -
1.2.20   WARN   WARN   WARN   -      -      -
1.2.21   PASS   PASS   FAIL   -      -      -
1.2.22   PASS   PASS   FAIL   -      -      -
1.2.23   PASS   PASS   FAIL   -      -      -
1.2.24   PASS   PASS   FAIL   -      -      -
1.2.25   PASS   PASS   FAIL   -      -      -
1.2.26   PASS   PASS   FAIL   -      -      -
1.2.27   PASS   WARN   WARN   -      -      -
1.2.28   WARN   WARN   WARN   -      -      -
1.2.29   PASS   WARN   WARN   -      -      -
1.2.30   PASS   FAIL   FAIL   -      -      -
1.3.1    PASS   WARN   WARN   -      -      -
1.3.2    PASS   FAIL   FAIL   -      -      -
1.3.3    PASS   PASS   FAIL   -      -      -
1.3.4    PASS   PASS   FAIL   -      -      -
1.3.5    PASS   PASS   FAIL   -      -      -
1.3.6    PASS   PASS   FAIL   -      -      -
1.3.7    PASS   PASS   FAIL   -      -      -
1.4.1    PASS   FAIL   FAIL   -      -      -
1.4.2    PASS   PASS   FAIL   -      -      -
2.1      PASS   PASS   FAIL   -      -      -
2.2      PASS   PASS   FAIL   -      -      -
2.3      PASS   PASS   FAIL   -      -      -
2.4      PASS   PASS   FAIL   -      -      -
2.5      PASS   PASS   FAIL   -      -      -
2.6      PASS   PASS   FAIL   -      -      -
2.7      PASS   PASS   WARN   -      -      -
3.1.1    WARN   WARN   WARN   -      -      -
3.1.2    WARN   WARN   WARN   -      -      -
3.1.3    WARN   WARN   WARN   -      -      -
3.2.1    PASS   WARN   WARN   -      -      -
3.2.2    WARN   WARN   WARN   -      -      -
4.1.1    PASS   FAIL   FAIL   PASS   FAIL   FAIL
4.1.2    PASS   PASS   FAIL   PASS   PASS   FAIL
4.1.3    PASS   PASS   PASS   PASS   PASS   WARN
4.1.4    PASS   PASS   PASS   PASS   PASS   WARN
4.1.5    PASS   PASS   FAIL   PASS   PASS   FAIL
4.1.6    PASS   PASS   FAIL   PASS   PASS   FAIL
4.1.7    PASS   PASS   PASS   PASS   PASS   WARN
4.1.8    PASS   PASS   PASS   PASS   PASS   WARN
4.1.9    PASS   FAIL   FAIL   PASS   FAIL   FAIL
4.1.10   PASS   PASS   FAIL   PASS   PASS   FAIL
4.2.1    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.2    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.3    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.4    PASS   PASS   PASS   PASS   PASS   WARN
4.2.5    PASS   PASS   WARN   PASS   PASS   WARN
4.2.6    PASS   PASS   PASS   PASS   PASS   FAIL
4.2.7    PASS   PASS   PASS   PASS   PASS   WARN
4.2.8    PASS   PASS   PASS   PASS   PASS   WARN
4.2.9    PASS   WARN   WARN   PASS   WARN   WARN
4.2.10   PASS   PASS   PASS   PASS   PASS   FAIL
4.2.11   PASS   PASS   PASS   PASS   PASS   WARN
4.2.12   PASS   WARN   WARN   PASS   WARN   WARN
4.2.13   PASS   WARN   WARN   PASS   WARN   WARN
4.2.14   PASS   WARN   WARN   PASS   WARN   WARN
4.2.15   PASS   WARN   WARN   PASS   WARN   WARN
4.3.1    PASS   PASS   PASS   PASS   PASS   FAIL
";

/// Expected state of each automated section 5 check on the good and the bad cluster, and
/// an offender the evidence must name on the bad one. `5.x.4` is the default-namespace check:
/// 5.7.4 in cis-1.10, 5.6.4 in cis-1.11.
const POLICIES_ON_CLUSTERS: &[(&str, &str, &str, &str)] = &[
    (
        "5.1.1",
        "PASS",
        "WARN",
        "ClusterRoleBinding ci-deployer-admin",
    ),
    (
        "5.1.2",
        "PASS",
        "WARN",
        "ClusterRoleBinding all-users-read-secrets",
    ),
    ("5.1.3", "PASS", "WARN", "ClusterRole ci-superuser"),
    ("5.1.4", "PASS", "WARN", "RoleBinding legacy/everyone-edits"),
    ("5.1.5", "PASS", "WARN", "legacy/default"),
    ("5.1.6", "PASS", "WARN", "legacy/debug-shell"),
    ("5.2.1", "PASS", "WARN", "ci (enforce=privileged)"),
    (
        "5.2.2",
        "PASS",
        "WARN",
        "legacy/debug-shell container shell",
    ),
    ("5.2.3", "PASS", "WARN", "legacy/debug-shell"),
    ("5.2.4", "PASS", "WARN", "legacy/debug-shell"),
    ("5.2.5", "PASS", "WARN", "ci/windows-agent-0"),
    (
        "5.2.6",
        "PASS",
        "WARN",
        "legacy/debug-shell container shell",
    ),
    (
        "5.2.7",
        "PASS",
        "WARN",
        "legacy/report-27890400-x8k2d container report",
    ),
    ("5.2.8", "PASS", "WARN", "default/nginx container nginx"),
    ("5.2.9", "PASS", "WARN", "adds NET_RAW,SYS_ADMIN"),
    ("5.2.10", "PASS", "WARN", "adds NET_RAW,SYS_ADMIN"),
    ("5.2.11", "PASS", "WARN", "ci/windows-agent-0"),
    (
        "5.2.12",
        "PASS",
        "WARN",
        "legacy/debug-shell volume host-root (/)",
    ),
    ("5.2.13", "PASS", "WARN", "port 8080"),
    (
        "5.3.2",
        "PASS",
        "WARN",
        "namespace without NetworkPolicy: legacy",
    ),
    ("5.4.1", "PASS", "WARN", "API_TOKEN from secret legacy-api"),
    ("5.x.4", "PASS", "WARN", "Service nginx"),
];

/// One benchmark under test: its name, its node table, the id of its default-namespace
/// check, and the Kubernetes version of its fixtures.
struct Benchmark {
    name: &'static str,
    on_nodes: &'static str,
    default_namespace_check: &'static str,
    kubernetes_version: &'static str,
}

const BENCHMARKS: [Benchmark; 2] = [
    Benchmark {
        name: "cis-1.10",
        on_nodes: CIS_1_10_ON_NODES,
        default_namespace_check: "5.7.4",
        kubernetes_version: "1.28.15",
    },
    Benchmark {
        name: "cis-1.11",
        on_nodes: CIS_1_11_ON_NODES,
        default_namespace_check: "5.6.4",
        kubernetes_version: "1.30.6",
    },
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn node_fixture(benchmark: &str, node: &str) -> PathBuf {
    repo_root()
        .join("tests/fixtures")
        .join(benchmark)
        .join("nodes")
        .join(node)
}

fn recorded_cluster(cluster: &str) -> PathBuf {
    repo_root()
        .join("tests/fixtures/cis-1.12/api")
        .join(cluster)
}

/// `check id → node → state` from a table.
fn expected_on_nodes(table: &str) -> BTreeMap<String, BTreeMap<&'static str, String>> {
    let mut expected = BTreeMap::new();
    for line in table.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            fields.len(),
            1 + NODE_FIXTURES.len(),
            "bad table row: {line}"
        );
        let states = NODE_FIXTURES
            .iter()
            .zip(&fields[1..])
            .filter(|(_, state)| **state != "-")
            .map(|(node, state)| (*node, state.to_string()))
            .collect();
        expected.insert(fields[0].to_string(), states);
    }
    expected
}

/// `cisgate scan --json -` with the embedded tree; exit code 0 or 1 expected.
fn scan(args: &[&str], envs: &[(&str, &Path)]) -> Value {
    let mut command = Command::cargo_bin("cisgate").expect("binary");
    command
        .args(["scan", "--json", "-", "--quiet", "--allow-errors"])
        .args(args);
    for (name, value) in envs {
        command.env(name, value);
    }
    let output = command.output().expect("cisgate runs");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "cisgate scan {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "cisgate scan {args:?} did not print JSON results ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn targets_of(node: &str) -> &'static str {
    if node.ends_with("worker") {
        "node"
    } else {
        "master,etcd,controlplane,node"
    }
}

fn scan_node(benchmark: &str, node: &str) -> BTreeMap<String, (String, String)> {
    let dir = node_fixture(benchmark, node);
    let dir = dir.to_str().expect("utf-8 path");
    support::check_states(&scan(
        &[
            "--benchmark",
            benchmark,
            "--snapshot",
            dir,
            "--targets",
            targets_of(node),
        ],
        &[],
    ))
}

/// Every difference between the table and a scan of each node, as lines.
fn differences_from_table(benchmark: &Benchmark) -> Vec<String> {
    let expected = expected_on_nodes(benchmark.on_nodes);
    let mut wrong = Vec::new();
    for node in NODE_FIXTURES {
        let actual = scan_node(benchmark.name, node);
        for (id, states) in &expected {
            let Some(want) = states.get(node) else {
                continue;
            };
            match actual.get(id) {
                Some((got, _)) if got == want => {}
                Some((got, evidence)) => wrong.push(format!(
                    "{} {node} {id}: expected {want}, got {got} (actual: {evidence})",
                    benchmark.name
                )),
                None => wrong.push(format!(
                    "{} {node} {id}: expected {want}, not reported",
                    benchmark.name
                )),
            }
        }
        for id in actual.keys() {
            if !expected.get(id).is_some_and(|s| s.contains_key(node)) {
                wrong.push(format!(
                    "{} {node} {id}: reported but not in the expected table",
                    benchmark.name
                ));
            }
        }
    }
    wrong
}

#[test]
fn each_check_gets_its_expected_state_on_each_kubeadm_node() {
    let wrong: Vec<String> = BENCHMARKS.iter().flat_map(differences_from_table).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn kubernetes_1_28_has_no_super_admin_conf_and_1_30_has_one() {
    let admin_confs = |benchmark: &str| {
        let actual = scan_node(benchmark, "kubeadm-control-plane");
        actual["1.1.13"].1.lines().count()
    };
    assert_eq!(admin_confs("cis-1.10"), 1, "kubeadm 1.28: admin.conf only");
    assert_eq!(
        admin_confs("cis-1.11"),
        2,
        "kubeadm 1.30: admin.conf and super-admin.conf"
    );
}

/// kube-bench tests only the first admin kubeconfig it prints; ours tests each of them, so a
/// loose `super-admin.conf` next to a correct `admin.conf` fails 1.1.13 and 1.1.14.
#[test]
fn a_loose_super_admin_conf_fails_on_its_own() {
    let temp = TempDir::new().expect("temp dir");
    let node = temp.path().join("cp");
    support::copy_tree(&node_fixture("cis-1.11", "good-control-plane"), &node);
    let metadata = node.join("cisgate-node.yaml");
    let text = std::fs::read_to_string(&metadata).expect("metadata");
    // File rules apply in order, a later one winning: this one goes after the others.
    let loose = "  - path: \"/etc/kubernetes/super-admin.conf\"\n    mode: \"0644\"\n    owner: ubuntu:ubuntu\nprocesses:\n";
    assert!(text.contains("\nprocesses:\n"), "metadata has processes");
    std::fs::write(&metadata, text.replacen("processes:\n", loose, 1)).expect("metadata written");

    let results = scan(
        &[
            "--benchmark",
            "cis-1.11",
            "--snapshot",
            node.to_str().expect("utf-8"),
            "--targets",
            "master",
        ],
        &[],
    );
    let states = support::check_states(&results);
    for id in ["1.1.13", "1.1.14"] {
        assert_eq!(states[id].0, "FAIL", "{id}: {}", states[id].1);
    }
}

/// CIS 1.10 and 1.11 still accept the ECDHE CBC suites on the API server and the two
/// RSA-key-exchange GCM suites on the kubelet; CIS 1.12 accepts neither. The same node passes
/// 1.2.29 and 4.2.12 under cis-1.10 and cis-1.11 and warns under cis-1.12.
#[test]
fn older_benchmarks_accept_the_cipher_suites_cis_1_12_dropped() {
    let temp = TempDir::new().expect("temp dir");
    let node = temp.path().join("cp");
    support::copy_tree(&node_fixture("cis-1.11", "good-control-plane"), &node);
    replace_in(
        &node.join("etc/kubernetes/manifests/kube-apiserver.yaml"),
        "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,",
        "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,",
    );
    replace_in(
        &node.join("var/lib/kubelet/config.yaml"),
        "tlsCipherSuites:\n",
        "tlsCipherSuites:\n- TLS_RSA_WITH_AES_128_GCM_SHA256\n",
    );
    let node = node.to_str().expect("utf-8");
    for (benchmark, expected) in [
        ("cis-1.10", "PASS"),
        ("cis-1.11", "PASS"),
        ("cis-1.12", "WARN"),
    ] {
        let states = support::check_states(&scan(
            &[
                "--benchmark",
                benchmark,
                "--snapshot",
                node,
                "--targets",
                "master,node",
            ],
            &[],
        ));
        for id in ["1.2.29", "4.2.12"] {
            assert_eq!(states[id].0, expected, "{benchmark} {id}: {}", states[id].1);
        }
    }
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("fixture file");
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("fixture file written");
}

/// Without `--benchmark`, the Kubernetes version of the node picks the benchmark: the
/// kube-apiserver image tag of a control plane (its metadata names no version), the version
/// the metadata records for a worker.
#[test]
fn the_node_s_kubernetes_version_chooses_the_benchmark() {
    for benchmark in &BENCHMARKS {
        for node in ["kubeadm-control-plane", "kubeadm-worker"] {
            let dir = node_fixture(benchmark.name, node);
            let metadata =
                std::fs::read_to_string(dir.join("cisgate-node.yaml")).expect("metadata");
            if node.ends_with("control-plane") {
                assert!(
                    !metadata.contains("kubernetes_version"),
                    "{node}: the version must come from the image tag"
                );
            }
            let results = scan(&["--snapshot", dir.to_str().expect("utf-8")], &[]);
            assert_eq!(
                results["benchmark"]["name"], benchmark.name,
                "{} {node}: {}",
                benchmark.name, results["benchmark"]
            );
            assert_eq!(
                results["nodes"][0]["node"]["kubernetes_version"], benchmark.kubernetes_version,
                "{} {node}",
                benchmark.name
            );
            let states = support::check_states(&results);
            let expected = expected_on_nodes(benchmark.on_nodes);
            assert!(
                expected
                    .iter()
                    .filter(|(_, s)| s.contains_key(node))
                    .all(|(id, _)| states.contains_key(id)),
                "{} {node}: the chosen targets did not run every check of the node",
                benchmark.name
            );
        }
    }
}

/// Scans a recorded cluster's policies through the real kubectl, talking to a loopback
/// API server that serves the recorded lists; each kind must be listed once.
fn scan_cluster(benchmark: &str, cluster: &str) -> Option<BTreeMap<String, (String, String)>> {
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed");
        return None;
    }
    let temp = TempDir::new().expect("temp dir");
    let server = api_server::RecordedApiServer::for_recorded_lists(&recorded_cluster(cluster));
    let kubeconfig = server.kubeconfig(temp.path());
    let results = scan(
        &[
            "--benchmark",
            benchmark,
            "--targets",
            "policies",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8"),
        ],
        &[("KUBECACHEDIR", &temp.path().join("cache"))],
    );
    for (kind, requests) in server.list_requests() {
        assert!(requests <= 1, "{kind} was listed {requests} times");
    }
    Some(support::check_states(&results))
}

/// The same cluster through a snapshot: `collect` records the API objects (through the
/// real kubectl and the loopback server), and the snapshot file is scanned offline.
fn scan_cluster_snapshot(
    benchmark: &str,
    cluster: &str,
) -> Option<BTreeMap<String, (String, String)>> {
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed");
        return None;
    }
    let temp = TempDir::new().expect("temp dir");
    let server = api_server::RecordedApiServer::for_recorded_lists(&recorded_cluster(cluster));
    let kubeconfig = server.kubeconfig(temp.path());
    let snapshot = temp.path().join("cluster.json.gz");
    let collected = Command::cargo_bin("cisgate")
        .expect("binary")
        .args(["collect", "--no-timestamp", "--benchmark", benchmark])
        .args(["--targets", "policies", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("-o")
        .arg(&snapshot)
        .env("KUBECACHEDIR", temp.path().join("cache"))
        .output()
        .expect("cisgate runs");
    assert!(
        collected.status.success(),
        "{}",
        String::from_utf8_lossy(&collected.stderr)
    );
    drop(server);
    let snapshot = snapshot.to_str().expect("utf-8");
    let args = [
        "--benchmark",
        benchmark,
        "--targets",
        "policies",
        "--snapshot",
        snapshot,
    ];
    Some(support::check_states(&scan(&args, &[])))
}

#[test]
fn policy_checks_decide_the_same_through_a_snapshot_as_through_kubectl() {
    for benchmark in &BENCHMARKS {
        for cluster in ["good", "bad"] {
            let (Some(live), Some(replayed)) = (
                scan_cluster(benchmark.name, cluster),
                scan_cluster_snapshot(benchmark.name, cluster),
            ) else {
                return;
            };
            assert!(live.len() > 30, "{}: {live:?}", benchmark.name);
            assert_eq!(live, replayed, "{} {cluster} cluster", benchmark.name);
        }
    }
}

fn policy_rows(
    benchmark: &Benchmark,
) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    POLICIES_ON_CLUSTERS
        .iter()
        .map(|&(id, good, bad, offender)| {
            let id = if id == "5.x.4" {
                benchmark.default_namespace_check
            } else {
                id
            };
            (id, good, bad, offender)
        })
        .collect()
}

#[test]
fn policy_checks_pass_on_the_good_cluster_and_name_each_offender_on_the_bad_one() {
    let mut wrong = Vec::new();
    for benchmark in &BENCHMARKS {
        let name = benchmark.name;
        let (Some(good), Some(bad)) = (scan_cluster(name, "good"), scan_cluster(name, "bad"))
        else {
            return;
        };
        for (id, on_good, on_bad, offender) in policy_rows(benchmark) {
            let (good_state, good_evidence) = &good[id];
            let (bad_state, bad_evidence) = &bad[id];
            if good_state != on_good {
                wrong.push(format!(
                    "{name} good {id}: expected {on_good}, got {good_state}: {good_evidence}"
                ));
            }
            if bad_state != on_bad {
                wrong.push(format!(
                    "{name} bad {id}: expected {on_bad}, got {bad_state}: {bad_evidence}"
                ));
            }
            if !bad_evidence.contains(offender) {
                wrong.push(format!(
                    "{name} bad {id}: evidence does not name `{offender}`: {bad_evidence}"
                ));
            }
        }
        let automated: Vec<&str> = policy_rows(benchmark).iter().map(|r| r.0).collect();
        for (id, (state, _)) in &good {
            if !automated.contains(&id.as_str()) && state != "WARN" {
                wrong.push(format!(
                    "{name} {id} is manual and should warn, got {state}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every automated check of each benchmark has a node or cluster where it passes and one
/// where it fails (FAIL, or WARN for an unscored check).
#[test]
fn every_automated_check_has_a_passing_and_a_failing_fixture() {
    let mut missing = Vec::new();
    for benchmark in &BENCHMARKS {
        let expected = expected_on_nodes(benchmark.on_nodes);
        let rows = policy_rows(benchmark);
        for check in automated_checks(benchmark.name) {
            let (id, scored) = (check.0.as_str(), check.1);
            let failing = if scored { "FAIL" } else { "WARN" };
            let states: Vec<String> = match expected.get(id) {
                Some(states) => states.values().cloned().collect(),
                None => rows
                    .iter()
                    .filter(|row| row.0 == id)
                    .flat_map(|row| [row.1.to_string(), row.2.to_string()])
                    .collect(),
            };
            if !states.iter().any(|s| s == "PASS") || !states.iter().any(|s| s == failing) {
                missing.push(format!(
                    "{} {id} (states {states:?}, needs PASS and {failing})",
                    benchmark.name
                ));
            }
        }
    }
    assert!(missing.is_empty(), "no pass/fail fixture for: {missing:#?}");
}

/// `(id, scored)` of every automated check of a benchmark's files.
fn automated_checks(benchmark: &str) -> Vec<(String, bool)> {
    let mut checks = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("cfg").join(benchmark)).expect("cfg") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n == "config.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("controls file");
        let controls: Vec<Controls> = serde_saphyr::from_multiple(&text).expect("parses");
        for check in controls
            .iter()
            .flat_map(|c| &c.groups)
            .flat_map(|g| &g.checks)
            .filter(|c| c.check_type != "manual")
        {
            checks.push((check.id.to_string(), check.scored));
        }
    }
    checks
}
