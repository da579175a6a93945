//! cisgate's own gke-1.9.0 and gke-1.8.0, end to end through the embedded tree.
//!
//! Section 3 runs on snapshot directories under `tests/fixtures/<benchmark>/nodes/`:
//! - `cos-default`: a Container-Optimized OS node as GKE's node scripts leave it (kubelet
//!   read-only port 10255 on, as on node pools created before GKE 1.32);
//! - `ubuntu-default`: the same on GKE's Ubuntu image;
//! - `cos-dataplane-v2`: a COS node of a GKE Dataplane V2 cluster (no kube-proxy, so no
//!   kube-proxy kubeconfig: 3.1.1 and 3.1.2 have nothing to object to);
//! - `cos-hardened`: a COS node of a pool created with the read-only port off;
//! - `cos-broken`: a COS node loosened by hand (files opened up and given away, kubelet flags
//!   that override its configuration file, no client CA).
//!
//! Sections 4 and 5 run on recorded API objects (`tests/fixtures/<benchmark>/api/{good,bad}/`,
//! as `kubectl get KIND -A -o json` prints them) through the real kubectl talking to a
//! loopback API server (`tests/support/api_server.rs`), and through a snapshot `cisgate
//! collect` recorded from it.
//!
//! Every automated check passes on some fixture and fails (FAIL, or WARN when unscored) on
//! another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "support/api_server.rs"]
mod api_server;
mod support;

use assert_cmd::Command;
use cisgate::definitions::model::Controls;
use serde_json::Value;
use tempfile::TempDir;

const NODE_FIXTURES: [&str; 5] = [
    "cos-default",
    "ubuntu-default",
    "cos-dataplane-v2",
    "cos-hardened",
    "cos-broken",
];

/// Expected state of each section 3 check per node, for both benchmarks (their node
/// sections are the same).
const EXPECTED_ON_NODES: &str = "
# id   cos    ubuntu dpv2   hardened broken
3.1.1  PASS   PASS   PASS   PASS     FAIL
3.1.2  PASS   PASS   PASS   PASS     FAIL
3.1.3  PASS   PASS   PASS   PASS     FAIL
3.1.4  PASS   PASS   PASS   PASS     FAIL
3.2.1  PASS   PASS   PASS   PASS     FAIL
3.2.2  PASS   PASS   PASS   PASS     FAIL
3.2.3  PASS   PASS   PASS   PASS     FAIL
3.2.4  FAIL   FAIL   FAIL   PASS     FAIL
3.2.5  PASS   PASS   PASS   PASS     FAIL
3.2.6  PASS   PASS   PASS   PASS     FAIL
3.2.7  PASS   PASS   PASS   PASS     FAIL
3.2.8  PASS   PASS   PASS   PASS     FAIL
3.2.9  PASS   PASS   PASS   PASS     FAIL
";

/// Expected state of each section 4 and 5 check on the good and the bad cluster, per
/// benchmark (`-`: the check does not exist there), and an offender the evidence must name
/// on the bad cluster (empty: nothing to name).
const EXPECTED_ON_CLUSTERS: &str = "
# id     1.9.0-good 1.9.0-bad 1.8.0-good 1.8.0-bad | offender on the bad cluster
4.1.1    PASS  FAIL  PASS  FAIL  | ClusterRoleBinding ci-deployer-admin to ServiceAccount deployer
4.1.2    PASS  FAIL  PASS  FAIL  | ClusterRole secret-reader
4.1.3    PASS  FAIL  PASS  FAIL  | ClusterRole ci-superuser
4.1.4    PASS  FAIL  PASS  FAIL  | legacy/default
4.1.5    PASS  FAIL  PASS  FAIL  | legacy/old-app-7c9d8b6f5-m4p2z
4.1.6    PASS  FAIL  PASS  FAIL  | ci-break-glass (pending)
4.1.7    WARN  WARN  WARN  WARN  |
4.1.8    PASS  FAIL  PASS  FAIL  | ClusterRoleBinding anonymous-healthz
4.1.9    PASS  FAIL  PASS  FAIL  | RoleBinding legacy/public-read
4.1.10   PASS  FAIL  PASS  FAIL  | ClusterRoleBinding all-users-view
4.2.1    WARN  WARN  WARN  WARN  |
4.3.1    WARN  WARN  WARN  WARN  |
4.3.2    PASS  FAIL  PASS  FAIL  | namespace without NetworkPolicy: legacy
4.4.1    PASS  FAIL  PASS  FAIL  | DB_PASSWORD from secret old-app-db
4.4.2    WARN  WARN  WARN  WARN  |
4.5.1    WARN  WARN  WARN  WARN  |
4.6.1    WARN  WARN  WARN  WARN  |
4.6.2    WARN  WARN  WARN  WARN  |
4.6.3    WARN  WARN  WARN  WARN  |
4.6.4    PASS  WARN  PASS  FAIL  | Service nginx
5.1.1    WARN  WARN  WARN  WARN  |
5.1.2    WARN  WARN  WARN  WARN  |
5.1.3    WARN  WARN  WARN  WARN  |
5.1.4    WARN  WARN  WARN  WARN  |
5.2.1    WARN  WARN  WARN  WARN  |
5.2.2    WARN  WARN  WARN  WARN  |
5.3.1    WARN  WARN  WARN  WARN  |
5.4.1    WARN  WARN  WARN  WARN  |
5.5.1    WARN  WARN  WARN  WARN  |
5.5.2    WARN  WARN  WARN  WARN  |
5.5.3    WARN  WARN  WARN  WARN  |
5.5.4    WARN  WARN  WARN  WARN  |
5.5.5    WARN  WARN  WARN  WARN  |
5.5.6    WARN  WARN  WARN  WARN  |
5.5.7    WARN  WARN  WARN  WARN  |
5.6.1    WARN  WARN  WARN  WARN  |
5.6.2    WARN  WARN  WARN  WARN  |
5.6.3    WARN  WARN  WARN  WARN  |
5.6.4    WARN  WARN  WARN  WARN  |
5.6.5    WARN  WARN  WARN  WARN  |
5.6.6    WARN  WARN  WARN  WARN  |
5.6.7    PASS  FAIL  PASS  FAIL  | ManagedCertificate dashboard-cert does not exist
5.7.1    WARN  WARN  WARN  WARN  |
5.7.2    WARN  WARN  WARN  WARN  |
5.8.1    WARN  WARN  WARN  WARN  |
5.8.2    WARN  WARN  WARN  WARN  |
5.8.3    WARN  WARN  WARN  WARN  |
5.9.1    WARN  WARN  WARN  WARN  |
5.9.2    WARN  WARN  WARN  WARN  |
5.10.1   WARN  WARN  WARN  WARN  |
5.10.2   WARN  WARN  WARN  WARN  |
5.10.3   WARN  WARN  WARN  WARN  |
5.10.4   WARN  WARN  -     -     |
5.10.5   -     -     WARN  WARN  |
";

const BENCHMARKS: [&str; 2] = ["gke-1.9.0", "gke-1.8.0"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(benchmark: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(benchmark)
}

/// `cisgate scan --benchmark B --json -` with the embedded tree.
fn scan(benchmark: &str, args: &[&str], envs: &[(&str, &Path)]) -> Value {
    let mut command = Command::cargo_bin("cisgate").expect("binary");
    command
        .args(["scan", "--benchmark", benchmark, "--json", "-", "--quiet"])
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

fn expected_on_nodes() -> BTreeMap<String, BTreeMap<&'static str, String>> {
    let mut expected = BTreeMap::new();
    for line in EXPECTED_ON_NODES.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 1 + NODE_FIXTURES.len(), "bad row: {line}");
        let states = NODE_FIXTURES
            .iter()
            .zip(&fields[1..])
            .map(|(node, state)| (*node, state.to_string()))
            .collect();
        expected.insert(fields[0].to_string(), states);
    }
    expected
}

struct ClusterRow {
    /// (benchmark, cluster) → state
    states: BTreeMap<(&'static str, &'static str), String>,
    offender: String,
}

fn expected_on_clusters() -> BTreeMap<String, ClusterRow> {
    let columns = [
        ("gke-1.9.0", "good"),
        ("gke-1.9.0", "bad"),
        ("gke-1.8.0", "good"),
        ("gke-1.8.0", "bad"),
    ];
    let mut expected = BTreeMap::new();
    for line in EXPECTED_ON_CLUSTERS.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (states, offender) = line.split_once('|').expect("row has an offender column");
        let fields: Vec<&str> = states.split_whitespace().collect();
        assert_eq!(fields.len(), 1 + columns.len(), "bad row: {line}");
        let states = columns
            .iter()
            .zip(&fields[1..])
            .filter(|(_, state)| **state != "-")
            .map(|(column, state)| (*column, state.to_string()))
            .collect();
        expected.insert(
            fields[0].to_string(),
            ClusterRow {
                states,
                offender: offender.trim().to_owned(),
            },
        );
    }
    expected
}

fn scan_node(benchmark: &str, node: &str) -> BTreeMap<String, (String, String)> {
    let dir = fixtures(benchmark).join("nodes").join(node);
    support::check_states(&scan(
        benchmark,
        &[
            "--snapshot",
            dir.to_str().expect("utf-8"),
            "--targets",
            "master,controlplane,node",
        ],
        &[],
    ))
}

#[test]
fn each_node_check_gets_its_expected_state_on_each_gke_node() {
    let expected = expected_on_nodes();
    let mut wrong = Vec::new();
    for benchmark in BENCHMARKS {
        for node in NODE_FIXTURES {
            let actual = scan_node(benchmark, node);
            for (id, states) in &expected {
                let want = &states[node];
                match actual.get(id) {
                    Some((got, _)) if got == want => {}
                    Some((got, evidence)) => wrong.push(format!(
                        "{benchmark} {node} {id}: expected {want}, got {got} (actual: {evidence})"
                    )),
                    None => wrong.push(format!(
                        "{benchmark} {node} {id}: expected {want}, not reported"
                    )),
                }
            }
            for id in actual.keys().filter(|id| !expected.contains_key(*id)) {
                wrong.push(format!(
                    "{benchmark} {node} {id}: not in the expected table"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The kubelet's flags (`KUBELET_OPTS` in /etc/default/kubelet) override its configuration
/// file, as the kubelet merges them: on the broken node the file still says what GKE wrote.
#[test]
fn kubelet_flags_in_etc_default_kubelet_override_kubelet_config_yaml() {
    let node = fixtures("gke-1.9.0").join("nodes/cos-broken");
    let file = std::fs::read_to_string(node.join("home/kubernetes/kubelet-config.yaml"))
        .expect("kubelet-config.yaml");
    assert!(file.contains("anonymous:\n    enabled: false"), "{file}");
    assert!(file.contains("mode: Webhook"), "{file}");
    let actual = scan_node("gke-1.9.0", "cos-broken");
    let effective: Value = serde_json::from_str(&actual["3.2.1"].1).expect("kubelet_config JSON");
    assert_eq!(
        effective["authentication"]["anonymous"]["enabled"],
        Value::Bool(true)
    );
    assert_eq!(effective["authorization"]["mode"], "AlwaysAllow");
    assert_eq!(effective["streamingConnectionIdleTimeout"], "0s");
}

/// `--config /home/kubernetes/kubelet-config.yaml`, space-separated as GKE writes it, is the
/// file the kubelet reads.
#[test]
fn the_kubelet_config_named_by_a_space_separated_flag_is_read() {
    let actual = scan_node("gke-1.9.0", "cos-hardened");
    let effective: Value = serde_json::from_str(&actual["3.2.4"].1).expect("kubelet_config JSON");
    assert_eq!(effective["readOnlyPort"], serde_json::json!(0));
    assert_eq!(
        effective["authentication"]["x509"]["clientCAFile"],
        "/etc/srv/kubernetes/pki/ca-certificates.crt"
    );
    assert_eq!(effective["staticPodPath"], "/etc/kubernetes/manifests");
}

/// Scans a recorded cluster's policies and managed services through the real kubectl,
/// talking to a loopback API server that serves the recorded lists; each kind must be listed
/// once.
fn scan_cluster(benchmark: &str, cluster: &str) -> Option<BTreeMap<String, (String, String)>> {
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed");
        return None;
    }
    let temp = TempDir::new().expect("temp dir");
    let server = api_server::RecordedApiServer::for_recorded_lists(
        &fixtures(benchmark).join("api").join(cluster),
    );
    let kubeconfig = server.kubeconfig(temp.path());
    let results = scan(
        benchmark,
        &[
            "--targets",
            "policies,managedservices",
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

/// The same cluster through a snapshot: `collect` records the API objects (through the real
/// kubectl and the loopback server), and the snapshot file is scanned offline.
fn scan_cluster_snapshot(
    benchmark: &str,
    cluster: &str,
) -> Option<BTreeMap<String, (String, String)>> {
    if !api_server::kubectl_installed() {
        support::missing("kubectl is not installed");
        return None;
    }
    let temp = TempDir::new().expect("temp dir");
    let server = api_server::RecordedApiServer::for_recorded_lists(
        &fixtures(benchmark).join("api").join(cluster),
    );
    let kubeconfig = server.kubeconfig(temp.path());
    let snapshot = temp.path().join("cluster.json.gz");
    let collected = Command::cargo_bin("cisgate")
        .expect("binary")
        .args(["collect", "--no-timestamp", "--benchmark", benchmark])
        .args(["--targets", "policies,managedservices", "--kubeconfig"])
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
    let results = scan(
        benchmark,
        &[
            "--targets",
            "policies,managedservices",
            "--snapshot",
            snapshot.to_str().expect("utf-8"),
        ],
        &[],
    );
    Some(support::check_states(&results))
}

#[test]
fn policy_and_managed_service_checks_get_their_expected_state_on_each_cluster() {
    let expected = expected_on_clusters();
    let mut wrong = Vec::new();
    for benchmark in BENCHMARKS {
        for cluster in ["good", "bad"] {
            let Some(actual) = scan_cluster(benchmark, cluster) else {
                return;
            };
            for (id, row) in &expected {
                let Some(want) = row.states.get(&(benchmark, cluster)) else {
                    if actual.contains_key(id) {
                        wrong.push(format!("{benchmark} {cluster} {id}: should not exist"));
                    }
                    continue;
                };
                match actual.get(id) {
                    Some((got, _)) if got == want => {}
                    Some((got, evidence)) => wrong.push(format!(
                        "{benchmark} {cluster} {id}: expected {want}, got {got}: {evidence}"
                    )),
                    None => wrong.push(format!(
                        "{benchmark} {cluster} {id}: expected {want}, not reported"
                    )),
                }
                if cluster == "bad" && !row.offender.is_empty() {
                    let evidence = actual.get(id).map(|(_, e)| e.as_str()).unwrap_or("");
                    if !evidence.contains(&row.offender) {
                        wrong.push(format!(
                            "{benchmark} bad {id}: evidence does not name `{}`: {evidence}",
                            row.offender
                        ));
                    }
                }
            }
            for id in actual.keys().filter(|id| !expected.contains_key(*id)) {
                wrong.push(format!(
                    "{benchmark} {cluster} {id}: not in the expected table"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn policy_checks_decide_the_same_through_a_snapshot_as_through_kubectl() {
    for benchmark in BENCHMARKS {
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

/// Every automated check of both benchmarks has a fixture where it passes and one where it
/// fails (FAIL, or WARN for an unscored check). Automated checks without tests (answered
/// only by the Google Cloud APIs) warn everywhere.
#[test]
fn every_automated_check_has_a_passing_and_a_failing_fixture() {
    let nodes = expected_on_nodes();
    let clusters = expected_on_clusters();
    let mut missing = Vec::new();
    for benchmark in BENCHMARKS {
        let dir = repo_root().join("cfg").join(benchmark);
        for entry in std::fs::read_dir(&dir).expect("cfg") {
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
            {
                if check.check_type == "manual" || check.tests.is_none() {
                    continue;
                }
                let failing = if check.scored { "FAIL" } else { "WARN" };
                let states: Vec<String> = match nodes.get(check.id.as_str()) {
                    Some(states) => states.values().cloned().collect(),
                    None => clusters
                        .get(check.id.as_str())
                        .map(|row| {
                            row.states
                                .iter()
                                .filter(|((b, _), _)| *b == benchmark)
                                .map(|(_, s)| s.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                if !states.iter().any(|s| s == "PASS") || !states.iter().any(|s| s == failing) {
                    missing.push(format!(
                        "{benchmark} {} (states {states:?}, needs PASS and {failing})",
                        check.id
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "no pass/fail fixture for: {missing:#?}");
}
