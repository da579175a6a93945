//! cisgate's own rh-1.8 (OpenShift Container Platform 4.13+), end to end.
//!
//! Sections 1–4 run on snapshot directories under `tests/fixtures/rh-1.8/nodes/`, written
//! from OpenShift 4.14's public sources (see the fixtures' README):
//! - `ocp-master`: a control-plane node as the installer pods, the certificate syncers, the
//!   machine config daemon and the kubelet leave it (OVN-Kubernetes, encryption off);
//! - `hardened-master`: the same with etcd encryption on and the kubelet's configuration
//!   restricted to mode 600 by a MachineConfig;
//! - `broken-master`: files opened up and settings weakened (as unsupported overrides would);
//! - `ocp-worker`: a compute node as the machine config daemon writes it;
//! - `broken-worker`: an OpenShift SDN node whose files and kubelet were loosened by hand.
//!
//! The checks kube-bench answers from the cluster (RBAC bindings, kubeapiserver/cluster,
//! SCCs) run on recorded API objects (`tests/fixtures/rh-1.8/api/{good,bad}/`) through the
//! real kubectl and a loopback API server, and through a snapshot `collect` recorded.
//!
//! kube-bench's own rh-1.8 needs `oc` and a cluster, so it cannot run here. Instead, for
//! every automated check and every fixture, the output kube-bench's `oc` audit would print
//! for the value the node (or the cluster) holds is built from that value, kube-bench's own
//! test items (read from its published tree) are evaluated on it with cisgate's engine,
//! and the verdict must equal ours — except for the checks in [`VERDICTS_DIFFER`], which
//! `docs/differences-from-kube-bench.md` explains, each of which must really differ on some
//! fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[path = "support/api_server.rs"]
mod api_server;

use assert_cmd::Command;
use cisgate::definitions::model::{Check, Controls};
use cisgate::definitions::probe::Probe;
use cisgate::engine::evaluate::{evaluate_tests, AuditOutputs};
use cisgate::engine::probes::{answer, ApiCache};
use cisgate::facts::snapshot_dir::SnapshotDirFacts;
use cisgate::facts::Facts;
use serde_json::{json, Value};
use tempfile::TempDir;

const BENCHMARK: &str = "rh-1.8";
const SPR: &str = "/etc/kubernetes/static-pod-resources";

/// Node fixtures, in the columns of [`EXPECTED_ON_NODES`].
const NODES: [&str; 5] = [
    "ocp-master",
    "hardened-master",
    "broken-master",
    "ocp-worker",
    "broken-worker",
];

/// Expected state per check and node; `-` = the target does not run there. The checks
/// kube-bench answers from API objects are ERROR on a snapshot directory (it holds none)
/// and are tested on the recorded clusters below.
const EXPECTED_ON_NODES: &str = "
# id     ocp-m  hard-m broken-m ocp-w broken-w
1.1.1    PASS   PASS   FAIL   -      -
1.1.2    PASS   PASS   FAIL   -      -
1.1.3    PASS   PASS   FAIL   -      -
1.1.4    PASS   PASS   FAIL   -      -
1.1.5    PASS   PASS   FAIL   -      -
1.1.6    PASS   PASS   FAIL   -      -
1.1.7    PASS   PASS   FAIL   -      -
1.1.8    PASS   PASS   FAIL   -      -
1.1.9    PASS   PASS   FAIL   -      -
1.1.10   PASS   PASS   FAIL   -      -
1.1.11   PASS   PASS   FAIL   -      -
1.1.12   PASS   PASS   FAIL   -      -
1.1.13   PASS   PASS   FAIL   -      -
1.1.14   PASS   PASS   FAIL   -      -
1.1.15   PASS   PASS   FAIL   -      -
1.1.16   PASS   PASS   FAIL   -      -
1.1.17   PASS   PASS   FAIL   -      -
1.1.18   PASS   PASS   FAIL   -      -
1.1.19   PASS   PASS   FAIL   -      -
1.1.20   PASS   PASS   FAIL   -      -
1.1.21   PASS   PASS   FAIL   -      -
1.2.1    ERROR  ERROR  ERROR  -      -
1.2.2    PASS   PASS   WARN   -      -
1.2.3    PASS   PASS   FAIL   -      -
1.2.4    PASS   PASS   FAIL   -      -
1.2.5    PASS   PASS   FAIL   -      -
1.2.6    PASS   PASS   FAIL   -      -
1.2.7    PASS   PASS   FAIL   -      -
1.2.8    PASS   PASS   FAIL   -      -
1.2.9    PASS   PASS   FAIL   -      -
1.2.10   PASS   PASS   FAIL   -      -
1.2.11   PASS   PASS   FAIL   -      -
1.2.12   PASS   PASS   FAIL   -      -
1.2.13   PASS   PASS   FAIL   -      -
1.2.14   PASS   PASS   FAIL   -      -
1.2.15   PASS   PASS   FAIL   -      -
1.2.16   PASS   PASS   FAIL   -      -
1.2.17   WARN   WARN   WARN   -      -
1.2.18   PASS   PASS   FAIL   -      -
1.2.19   WARN   WARN   WARN   -      -
1.2.20   PASS   PASS   FAIL   -      -
1.2.21   PASS   PASS   FAIL   -      -
1.2.22   PASS   PASS   FAIL   -      -
1.2.23   PASS   PASS   FAIL   -      -
1.2.24   PASS   PASS   FAIL   -      -
1.2.25   PASS   PASS   FAIL   -      -
1.2.26   PASS   PASS   FAIL   -      -
1.2.27   PASS   PASS   FAIL   -      -
1.2.28   PASS   PASS   FAIL   -      -
1.2.29   FAIL   PASS   FAIL   -      -
1.2.30   WARN   WARN   WARN   -      -
1.2.31   ERROR  ERROR  ERROR  -      -
1.3.1    WARN   WARN   WARN   -      -
1.3.2    PASS   PASS   FAIL   -      -
1.3.3    PASS   PASS   FAIL   -      -
1.3.4    PASS   PASS   FAIL   -      -
1.4.1    WARN   WARN   WARN   -      -
1.4.2    WARN   WARN   WARN   -      -
2.1      PASS   PASS   FAIL   -      -
2.2      PASS   PASS   FAIL   -      -
2.3      PASS   PASS   FAIL   -      -
2.4      PASS   PASS   FAIL   -      -
2.5      PASS   PASS   FAIL   -      -
2.6      PASS   PASS   FAIL   -      -
2.7      PASS   PASS   FAIL   -      -
3.1.1    WARN   WARN   WARN   -      -
3.2.1    WARN   WARN   WARN   -      -
3.2.2    WARN   WARN   WARN   -      -
4.1.1    PASS   PASS   PASS   PASS   FAIL
4.1.2    PASS   PASS   PASS   PASS   FAIL
4.1.3    PASS   PASS   PASS   PASS   FAIL
4.1.4    PASS   PASS   PASS   PASS   FAIL
4.1.5    PASS   PASS   PASS   PASS   FAIL
4.1.6    PASS   PASS   PASS   PASS   FAIL
4.1.7    PASS   PASS   PASS   PASS   FAIL
4.1.8    PASS   PASS   PASS   PASS   FAIL
4.1.9    FAIL   PASS   FAIL   FAIL   FAIL
4.1.10   PASS   PASS   PASS   PASS   FAIL
4.2.1    PASS   PASS   PASS   PASS   FAIL
4.2.2    PASS   PASS   PASS   PASS   FAIL
4.2.3    PASS   PASS   PASS   PASS   FAIL
4.2.4    PASS   PASS   PASS   PASS   FAIL
4.2.5    PASS   PASS   PASS   PASS   FAIL
4.2.6    PASS   PASS   PASS   PASS   FAIL
4.2.7    PASS   PASS   PASS   PASS   FAIL
4.2.8    PASS   PASS   PASS   PASS   FAIL
4.2.9    PASS   PASS   PASS   PASS   FAIL
4.2.10   PASS   PASS   PASS   PASS   FAIL
4.2.11   PASS   PASS   PASS   PASS   FAIL
4.2.13   WARN   WARN   WARN   WARN   WARN
";

/// The checks decided from API objects: expected state on the good and the bad cluster,
/// and a text the evidence must show on the bad one.
const EXPECTED_ON_CLUSTERS: &[(&str, &str, &str, &str)] = &[
    ("1.2.1", "PASS", "FAIL", "unauthenticated_bindings_missing"),
    ("1.2.31", "PASS", "FAIL", "audit-log-maxbackup"),
    (
        "5.2.1",
        "PASS",
        "FAIL",
        "no SCC forbids privileged containers",
    ),
    (
        "5.2.2",
        "PASS",
        "FAIL",
        "no SCC allows the host PID namespace",
    ),
    (
        "5.2.3",
        "PASS",
        "FAIL",
        "no SCC forbids the host IPC namespace",
    ),
    ("5.2.4", "PASS", "FAIL", "no SCC forbids the host network"),
    (
        "5.2.5",
        "PASS",
        "FAIL",
        "no SCC forbids privilege escalation",
    ),
    ("5.2.6", "PASS", "FAIL", "no SCC requires a non-root user"),
    ("5.2.7", "PASS", "FAIL", "no SCC drops ALL capabilities"),
    (
        "5.2.8",
        "PASS",
        "FAIL",
        "no SCC allows no added capabilities",
    ),
    ("5.2.9", "PASS", "FAIL", "no SCC drops ALL capabilities"),
];

/// Checks whose verdict differs from the one kube-bench's test items give on the same node
/// (each explained under `## rh-1.8` in docs/differences-from-kube-bench.md).
const VERDICTS_DIFFER: &[&str] = &[
    "1.1.9", "1.1.10", "1.1.19", "1.2.15", "1.2.23", "1.2.27", "4.1.3", "4.1.4", "4.1.9", "4.1.10",
    "4.2.1", "4.2.5", "4.2.6", "4.2.7", "4.2.8", "4.2.9", "4.2.10", "4.2.11",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    repo_root().join("tests").join("fixtures").join(BENCHMARK)
}

fn node_dir(node: &str) -> PathBuf {
    fixtures().join("nodes").join(node)
}

fn targets_of(node: &str) -> &'static str {
    if node.ends_with("worker") {
        "node"
    } else {
        "master,etcd,controlplane,node"
    }
}

fn expected_on_nodes() -> BTreeMap<String, BTreeMap<&'static str, String>> {
    let mut expected = BTreeMap::new();
    for line in EXPECTED_ON_NODES.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 1 + NODES.len(), "bad table row: {line}");
        let states = NODES
            .iter()
            .zip(&fields[1..])
            .filter(|(_, state)| **state != "-")
            .map(|(node, state)| (*node, state.to_string()))
            .collect();
        expected.insert(fields[0].to_string(), states);
    }
    expected
}

fn run_cisgate(args: &[&str], envs: &[(&str, &Path)]) -> std::process::Output {
    let mut command = Command::cargo_bin("cisgate").expect("binary");
    command.args(args);
    for (name, value) in envs {
        command.env(name, value);
    }
    command.output().expect("cisgate runs")
}

/// `cisgate scan` with our tree (the `cfg/` the binary embeds), JSON results on stdout.
fn scan(args: &[&str], envs: &[(&str, &Path)]) -> Value {
    let cfg = repo_root().join("cfg");
    let mut all = vec![
        "scan",
        "--config-dir",
        cfg.to_str().expect("utf-8"),
        "--benchmark",
        BENCHMARK,
        "--json",
        "-",
        "--quiet",
        "--allow-errors",
    ];
    all.extend_from_slice(args);
    let output = run_cisgate(&all, envs);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "cisgate {all:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "cisgate {all:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn scan_node(node: &str) -> BTreeMap<String, (String, String)> {
    let dir = node_dir(node);
    support::check_states(&scan(
        &[
            "--snapshot",
            dir.to_str().expect("utf-8"),
            "--targets",
            targets_of(node),
        ],
        &[],
    ))
}

#[test]
fn each_check_gets_its_expected_state_on_each_openshift_node() {
    let expected = expected_on_nodes();
    let mut wrong = Vec::new();
    for node in NODES {
        let actual = scan_node(node);
        for (id, states) in &expected {
            let Some(want) = states.get(node) else {
                continue;
            };
            match actual.get(id) {
                Some((got, _)) if got == want => {}
                Some((got, evidence)) => wrong.push(format!(
                    "{node} {id}: expected {want}, got {got} (actual: {evidence})"
                )),
                None => wrong.push(format!("{node} {id}: expected {want}, not reported")),
            }
        }
        for id in actual.keys() {
            if !expected.get(id).is_some_and(|s| s.contains_key(node)) {
                wrong.push(format!("{node} {id}: reported but not in the table"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_observed_config_is_read_from_the_revision_the_kubelet_runs() {
    // broken-master keeps the good revision 11 next to the running revision 12: the
    // verdicts come from 12, and the evidence names its file.
    let dir = node_dir("broken-master");
    let results = scan(
        &[
            "--snapshot",
            dir.to_str().expect("utf-8"),
            "--targets",
            "master",
            "--check",
            "1.2.20",
        ],
        &[],
    );
    let check = &results["nodes"][0]["sections"][0]["groups"][0]["checks"][0];
    assert_eq!(check["state"], "FAIL", "{check:#}");
    let text = check.to_string();
    assert!(
        text.contains("kube-apiserver-pod-12/configmaps/config/config.yaml"),
        "the location names the running revision's config: {check:#}"
    );
}

// ---------------------------------------------------------------------------------------
// Clusters: the checks kube-bench answers with `oc get`.

fn kubeconfig_for(cluster: &str, temp: &Path) -> (api_server::RecordedApiServer, PathBuf) {
    let server =
        api_server::RecordedApiServer::for_recorded_lists(&fixtures().join("api").join(cluster));
    let kubeconfig = server.kubeconfig(temp);
    (server, kubeconfig)
}

/// The master's API checks (live, with the master fixture as the node root) and the
/// policies, through kubectl and the loopback server.
fn scan_cluster(cluster: &str) -> Option<BTreeMap<String, (String, String)>> {
    if !support_kubectl() {
        return None;
    }
    let temp = TempDir::new().expect("temp dir");
    let (server, kubeconfig) = kubeconfig_for(cluster, temp.path());
    let root = node_dir("ocp-master");
    let results = scan(
        &[
            "--root",
            root.to_str().expect("utf-8"),
            "--targets",
            "master,policies",
            "--check",
            "1.2.1,1.2.31,5.2.1,5.2.2,5.2.3,5.2.4,5.2.5,5.2.6,5.2.7,5.2.8,5.2.9",
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

/// The same through a snapshot file: `collect` records the API objects, the file is
/// scanned offline.
fn scan_cluster_snapshot(cluster: &str) -> Option<BTreeMap<String, (String, String)>> {
    if !support_kubectl() {
        return None;
    }
    let temp = TempDir::new().expect("temp dir");
    let (server, kubeconfig) = kubeconfig_for(cluster, temp.path());
    let snapshot = temp.path().join("master.json.gz");
    let cfg = repo_root().join("cfg");
    let root = node_dir("ocp-master");
    let collected = run_cisgate(
        &[
            "collect",
            "--no-timestamp",
            "--config-dir",
            cfg.to_str().expect("utf-8"),
            "--benchmark",
            BENCHMARK,
            "--root",
            root.to_str().expect("utf-8"),
            "--targets",
            "master,policies",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8"),
            "-o",
            snapshot.to_str().expect("utf-8"),
        ],
        &[("KUBECACHEDIR", &temp.path().join("cache"))],
    );
    assert!(
        collected.status.success(),
        "{}",
        String::from_utf8_lossy(&collected.stderr)
    );
    drop(server);
    let results = scan(
        &[
            "--snapshot",
            snapshot.to_str().expect("utf-8"),
            "--targets",
            "master,policies",
            "--check",
            "1.2.1,1.2.31,5.2.1,5.2.2,5.2.3,5.2.4,5.2.5,5.2.6,5.2.7,5.2.8,5.2.9",
        ],
        &[],
    );
    Some(support::check_states(&results))
}

fn support_kubectl() -> bool {
    if api_server::kubectl_installed() {
        return true;
    }
    support::missing("kubectl (the API checks read the recorded cluster through it)");
    false
}

mod support;

#[test]
fn api_checks_pass_on_the_default_cluster_and_fail_on_the_broken_one() {
    let (Some(good), Some(bad)) = (scan_cluster("good"), scan_cluster("bad")) else {
        return;
    };
    let mut wrong = Vec::new();
    for (id, on_good, on_bad, shown) in EXPECTED_ON_CLUSTERS {
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
        if !bad_evidence.contains(shown) {
            wrong.push(format!(
                "bad {id}: evidence lacks `{shown}`: {bad_evidence}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn api_checks_decide_the_same_through_a_collected_snapshot() {
    for cluster in ["good", "bad"] {
        let (Some(live), Some(replayed)) = (scan_cluster(cluster), scan_cluster_snapshot(cluster))
        else {
            return;
        };
        assert_eq!(live, replayed, "{cluster} cluster");
    }
}

/// Every automated check has a fixture where it passes and one where it fails.
#[test]
fn every_automated_check_has_a_passing_and_a_failing_fixture() {
    let expected = expected_on_nodes();
    let mut missing = Vec::new();
    for (_, check) in our_checks() {
        if check.check_type == "manual" {
            continue;
        }
        let failing = if check.scored { "FAIL" } else { "WARN" };
        let mut states: Vec<String> = expected
            .get(check.id.as_str())
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        states.extend(
            EXPECTED_ON_CLUSTERS
                .iter()
                .filter(|row| row.0 == check.id)
                .flat_map(|row| [row.1.to_string(), row.2.to_string()]),
        );
        if !states.iter().any(|s| s == "PASS") || !states.iter().any(|s| s == failing) {
            missing.push(format!("{} ({states:?})", check.id));
        }
    }
    assert!(missing.is_empty(), "no pass/fail fixture for: {missing:#?}");
}

// ---------------------------------------------------------------------------------------
// kube-bench's verdicts on the same values.

fn load_controls(dir: &Path) -> Vec<Controls> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("benchmark directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "config.yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            serde_saphyr::from_multiple::<Controls>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn checks_of(controls: Vec<Controls>) -> Vec<(String, Check)> {
    controls
        .into_iter()
        .flat_map(|c| {
            let node_type = c.node_type.to_string();
            c.groups
                .into_iter()
                .flat_map(|g| g.checks)
                .map(move |check| (node_type.clone(), check))
        })
        .collect()
}

fn our_checks() -> Vec<(String, Check)> {
    checks_of(load_controls(&repo_root().join("cfg").join(BENCHMARK)))
}

fn kube_bench_checks() -> Option<BTreeMap<String, Check>> {
    let root = repo_root();
    let dir = std::env::var_os("CISGATE_SHARED")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("../shared"), root.join("../../shared")])
        .map(|shared| shared.join("kube-bench-cfg").join(BENCHMARK))
        .find(|dir| dir.is_dir());
    let Some(dir) = dir else {
        support::missing("kube-bench's rh-1.8 tree (shared/kube-bench-cfg/rh-1.8)");
        return None;
    };
    Some(
        checks_of(load_controls(&dir))
            .into_iter()
            .map(|(_, check)| (check.id.to_string(), check))
            .collect(),
    )
}

/// What kube-bench's audit would print: its `audit` and `audit_config` outputs, or the
/// audit failing (a non-zero exit: FAIL or WARN whatever the tests say).
enum KubeBenchAudit {
    Printed { command: String, config: String },
    Failed,
}

fn printed(command: impl Into<String>) -> KubeBenchAudit {
    KubeBenchAudit::Printed {
        command: command.into(),
        config: String::new(),
    }
}

/// The node as kube-bench's `oc` commands would see it.
struct NodeView {
    name: &'static str,
    facts: SnapshotDirFacts,
    /// The kube-apiserver's observed configuration the cluster serves (the node's own on a
    /// master, the default master's on a worker: `oc get cm config` is cluster-wide).
    kas_config: Value,
}

impl NodeView {
    fn open(name: &'static str) -> NodeView {
        let facts = SnapshotDirFacts::open(&node_dir(name)).expect("fixture opens");
        let master = if name.ends_with("master") {
            name
        } else {
            "ocp-master"
        };
        let master_facts = SnapshotDirFacts::open(&node_dir(master)).expect("fixture opens");
        let kas_config = observed_config(&master_facts, "kube-apiserver");
        NodeView {
            name,
            facts,
            kas_config,
        }
    }

    fn stat(&self, path: &str) -> Option<(String, String)> {
        self.facts
            .stat(path)
            .expect("stat")
            .map(|s| (s.mode_text(), s.owner_text()))
    }

    fn kcm_config(&self) -> Value {
        observed_config(&self.facts, "kube-controller-manager")
    }

    fn arg(&self, name: &str) -> Value {
        self.kas_config["apiServerArguments"][name].clone()
    }

    /// `stat -c "<prefix> %n permissions=%a" PATH` (or `%U:%G`) where `node_path` is the
    /// file on the node; a missing file makes `stat` fail.
    fn stat_line(&self, prefix: &str, shown: &str, node_path: &str, owner: bool) -> Option<String> {
        let (mode, who) = self.stat(node_path)?;
        Some(if owner {
            format!("{prefix} {shown} {who}")
        } else {
            format!("{prefix} {shown} permissions={mode}")
        })
    }

    /// `oc exec` of `stat` in a control-plane pod: a path under the pod's resource-dir.
    fn pod_stat(&self, component: &str, container_path: &str, owner: bool) -> KubeBenchAudit {
        let node_path = container_path.replacen(SPR, &revision_dir(&self.facts, component), 1);
        match self.stat_line(component, container_path, &node_path, owner) {
            Some(line) => printed(line),
            None => printed(format!(
                "stat: cannot statx '{container_path}': No such file or directory"
            )),
        }
    }

    /// `oc debug node/... -- chroot /host stat ...`: the command's failure fails the audit.
    fn debug_stat(&self, path: &str, owner: bool) -> KubeBenchAudit {
        match self.stat_line(self.name, path, path, owner) {
            Some(line) => printed(line),
            None => KubeBenchAudit::Failed,
        }
    }

    /// `oc get --raw /api/v1/nodes/NODE/proxy/configz | jq '.kubeletconfig'`: the
    /// kubelet's configuration with its defaults filled in.
    fn configz(&self) -> Value {
        let probe = Probe::KubeletConfig {
            bin: None,
            config: Some("/etc/kubernetes/kubelet.conf".into()),
        };
        let text = answer(&probe, &self.facts, &ApiCache::default()).expect("kubelet config");
        let mut config: Value = serde_json::from_str(&text).expect("JSON");
        let defaults = json!({
            "authentication": {"anonymous": {"enabled": false}},
            "authorization": {"mode": "Webhook"},
            "readOnlyPort": 0,
            "streamingConnectionIdleTimeout": "4h0m0s",
            "makeIPTablesUtilChains": true,
            "kubeAPIQPS": 50,
            "rotateCertificates": false,
            "imageGCHighThresholdPercent": 85,
            "imageGCLowThresholdPercent": 80,
            "imageMinimumGCAge": "2m0s",
            "evictionHard": {"imagefs.available": "15%", "memory.available": "100Mi",
                             "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
        });
        fill_defaults(&mut config, &defaults);
        config
    }
}

fn fill_defaults(config: &mut Value, defaults: &Value) {
    let (Some(config), Some(defaults)) = (config.as_object_mut(), defaults.as_object()) else {
        return;
    };
    for (key, default) in defaults {
        match config.get_mut(key) {
            None => {
                config.insert(key.clone(), default.clone());
            }
            Some(value) if value.is_object() => fill_defaults(value, default),
            Some(_) => {}
        }
    }
}

/// The node directory behind a control-plane pod's resource-dir, from the manifest the
/// kubelet runs.
fn revision_dir(facts: &SnapshotDirFacts, component: &str) -> String {
    let manifest = format!("/etc/kubernetes/manifests/{component}-pod.yaml");
    let text = facts.read_file(&manifest).expect("read").expect("manifest");
    let pod: Value = serde_json::from_str(&text).expect("the installer writes JSON");
    pod["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "resource-dir")
        .and_then(|v| v["hostPath"]["path"].as_str())
        .expect("resource-dir")
        .to_owned()
}

fn observed_config(facts: &SnapshotDirFacts, component: &str) -> Value {
    let path = format!(
        "{}/configmaps/config/config.yaml",
        revision_dir(facts, component)
    );
    serde_json::from_str(&facts.read_file(&path).expect("read").expect("config")).expect("JSON")
}

/// `jq '.x'` of a value: pretty JSON, `null` when absent.
fn jq(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON")
}

/// `jq -r '.x[]?'`: each element on its own line.
fn jq_raw_elements(value: &Value) -> String {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn first_number(value: &Value) -> Option<i64> {
    value[0].as_str().and_then(|s| s.parse().ok())
}

/// The `pass (current=…)`/`fail (current=…)` scripts of 1.2.20–1.2.22.
fn threshold_script(value: &Value, passes: impl Fn(i64) -> bool) -> KubeBenchAudit {
    let current = value[0].as_str().unwrap_or_default();
    let verdict = if first_number(value).is_some_and(passes) {
        "pass"
    } else {
        "fail"
    };
    printed(format!("{verdict} (current={current})"))
}

/// `ps -o command= -C etcd` inside the etcd container: etcd's command line as the script in
/// its manifest execs it.
fn etcd_command_line(view: &NodeView) -> String {
    let text = view
        .facts
        .read_file("/etc/kubernetes/manifests/etcd-pod.yaml")
        .expect("read")
        .expect("etcd manifest");
    let pod: Value = serde_json::from_str(&text).expect("JSON");
    let container = pod["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == "etcd")
        .expect("etcd container");
    let script = container["command"][2].as_str().expect("script");
    let exec = script
        .split("ionice -c2 -n0 ")
        .nth(1)
        .expect("exec line")
        .split(" ||")
        .next()
        .expect("command");
    exec.split_whitespace()
        .filter(|word| *word != "\\")
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sed 's/.*\(--flag=[^ ]*\).*/\1/'` on a line.
fn sed_flag(line: &str, flag: &str) -> String {
    line.split(' ')
        .find(|word| word.starts_with(&format!("{flag}=")))
        .map(str::to_owned)
        .unwrap_or_else(|| line.to_owned())
}

fn api_list(cluster: &str, kind: &str) -> Vec<Value> {
    let path = fixtures()
        .join("api")
        .join(cluster)
        .join(format!("{kind}.json"));
    let list: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("recorded")).expect("JSON");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// `oc get scc -o json | jq '[.items[] | select(F) | .metadata.name] | length | if . > 0
/// then "yes" else "no" end'`.
fn any_scc(cluster: &str, select: impl Fn(&Value) -> bool, yes: &str, no: &str) -> String {
    let found = api_list(cluster, "securitycontextconstraints")
        .iter()
        .any(select);
    if found { yes } else { no }.to_owned()
}

/// kube-bench's audit outputs for a check on a node, built from the node's values.
fn kube_bench_audit(id: &str, view: &NodeView) -> KubeBenchAudit {
    let kas = "kube-apiserver";
    let kcm = "kube-controller-manager";
    let sched = "kube-scheduler";
    let no_pod = "No matching pods found on the current node.";
    match id {
        "1.1.1" | "1.1.2" => view.pod_stat(kas, &format!("{SPR}/kube-apiserver-pod.yaml"), id == "1.1.2"),
        "1.1.3" | "1.1.4" => view.pod_stat(kcm, &format!("{SPR}/kube-controller-manager-pod.yaml"), id == "1.1.4"),
        "1.1.5" | "1.1.6" => view.pod_stat(sched, &format!("{SPR}/kube-scheduler-pod.yaml"), id == "1.1.6"),
        "1.1.7" | "1.1.8" => {
            let path = "/etc/kubernetes/manifests/etcd-pod.yaml";
            printed(view.stat_line("etcd", path, path, id == "1.1.8").unwrap_or_default())
        }
        "1.1.9" | "1.1.10" => {
            // Multus's two directories (the second has no *.conf on these nodes, and its
            // error is not redirected in 1.1.9), then no openshift-sdn or OVS pods: the
            // cluster network is OVN-Kubernetes.
            let owner = id == "1.1.10";
            let mut lines: Vec<String> = view
                .facts
                .list_tree("/etc/kubernetes/cni/net.d")
                .expect("listing")
                .iter()
                .filter(|p| p.ends_with(".conf"))
                .filter_map(|p| {
                    let shown = p.replace("/etc/kubernetes/cni/net.d", "/host/etc/cni/net.d");
                    view.stat_line("", &shown, p, owner)
                })
                .collect();
            if !owner {
                lines.push("stat: cannot statx '/host/var/run/multus/cni/net.d/*.conf': No such file or directory".into());
                lines.push("command terminated with exit code 1".into());
            }
            lines.extend([no_pod.to_owned(), no_pod.to_owned()]);
            printed(lines.join("\n"))
        }
        "1.1.11" | "1.1.12" => {
            let path = "/var/lib/etcd/member";
            printed(view.stat_line("etcd", path, path, id == "1.1.12").unwrap_or_default())
        }
        "1.1.13" | "1.1.14" => view.debug_stat("/etc/kubernetes/kubeconfig", id == "1.1.14"),
        "1.1.15" | "1.1.16" => view.pod_stat(sched, &format!("{SPR}/configmaps/scheduler-kubeconfig/kubeconfig"), id == "1.1.16"),
        "1.1.17" | "1.1.18" => view.pod_stat(kcm, &format!("{SPR}/configmaps/controller-manager-kubeconfig/kubeconfig"), id == "1.1.18"),
        "1.1.19" | "1.1.20" | "1.1.21" => {
            let certs = format!("{SPR}/kube-apiserver-certs");
            let resources = revision_dir(&view.facts, kas);
            let mut lines = Vec::new();
            for (node_root, pod_root) in [(certs.as_str(), "/etc/kubernetes/static-pod-certs"), (resources.as_str(), SPR)] {
                if id != "1.1.19" && pod_root == SPR {
                    continue;
                }
                let paths = view.facts.list_tree(node_root).expect("listing");
                let mut dirs = Vec::new();
                let mut files = Vec::new();
                for path in paths.iter().cloned() {
                    let shown = path.replacen(node_root, pod_root, 1);
                    let is_dir = view
                        .facts
                        .stat(&path)
                        .expect("stat")
                        .is_some_and(|s| s.kind == cisgate::facts::FileKind::Dir);
                    let wanted = match id {
                        "1.1.19" => shown.contains("/secrets"),
                        "1.1.20" => !is_dir && shown.contains("/secrets/") && shown.ends_with(".crt"),
                        _ => !is_dir && shown.contains("/secrets/") && shown.ends_with(".key"),
                    };
                    if wanted {
                        if is_dir { dirs.push((path, shown)) } else { files.push((path, shown)) }
                    }
                }
                for (path, shown) in dirs.into_iter().chain(files) {
                    let prefix = if id == "1.1.19" { "" } else { kas };
                    lines.extend(view.stat_line(prefix, &shown, &path, id == "1.1.19"));
                }
            }
            printed(lines.join("\n"))
        }
        "1.2.2" => {
            let cfg = view.kas_config.to_string();
            let cert = regex::Regex::new(r"/etc/kubernetes/static-pod-(resources/kube-apiserver-certs|certs)/secrets/kubelet-client/tls\.crt").unwrap();
            let key = regex::Regex::new(r"/etc/kubernetes/static-pod-(resources/kube-apiserver-certs|certs)/secrets/kubelet-client/tls\.key").unwrap();
            let verdict = if cert.is_match(&cfg) && key.is_match(&cfg) { "pass" } else { "fail" };
            // The JSON config never matches the `kubelet-https:` grep, so the script says true;
            // the openshift-apiserver serving-cert secret exists on every cluster.
            printed(format!("{verdict}\ntrue\nType:  kubernetes.io/tls\ntls.crt:  2466 bytes\ntls.key:  1679 bytes"))
        }
        "1.2.3" => printed(format!(
            "{}\n{}\nName:         serving-cert\nNamespace:    openshift-apiserver\nType:  kubernetes.io/tls",
            jq(&view.arg("kubelet-client-certificate")),
            jq(&view.arg("kubelet-client-key"))
        )),
        "1.2.4" => printed(jq(&view.arg("kubelet-certificate-authority"))),
        "1.2.5" | "1.2.6" => KubeBenchAudit::Printed {
            command: jq(&view.arg("authorization-mode")),
            config: jq(&view.kas_config["apiServerArguments"]),
        },
        "1.2.7" => printed(jq(&view.kas_config["apiServerArguments"])),
        "1.2.8" | "1.2.9" | "1.2.10" => printed(jq(&view.arg("enable-admission-plugins"))),
        "1.2.11" | "1.2.12" | "1.2.13" => {
            let plugins = view.arg("enable-admission-plugins");
            let pretty = jq(&plugins);
            let second = if plugins.is_null() {
                let name = match id {
                    "1.2.11" => "NamespaceLifecycle",
                    "1.2.12" => "SecurityContextConstraint",
                    _ => "NodeRestriction",
                };
                format!("ocp 4.5 has {name} compiled")
            } else {
                pretty.split_whitespace().collect::<Vec<_>>().join(" ")
            };
            printed(format!("{pretty}\n{second}"))
        }
        "1.2.14" => {
            // The kube-apiserver and openshift-apiserver endpoints serve 6443 and 8443.
            let insecure = jq_raw_elements(&view.arg("insecure-bind-address"));
            printed(if insecure.is_empty() { "pass" } else { "fail" })
        }
        "1.2.15" => printed("6443 6443 6443"),
        "1.2.16" => {
            let bind = view.kas_config["servingInfo"]["bindAddress"].as_str().unwrap_or_default();
            let ports_6443 = view
                .facts
                .read_file("/etc/kubernetes/manifests/kube-apiserver-pod.yaml")
                .expect("read")
                .is_some_and(|text| text.contains("\"containerPort\":6443"));
            printed(if bind == "0.0.0.0:6443" && ports_6443 { "pass" } else { "fail" })
        }
        "1.2.18" => {
            let path = jq_raw_elements(&view.arg("audit-log-path"));
            let exists = path.starts_with("/var/log/kube-apiserver/") && view.stat(&path).is_some();
            printed(if path == "/var/log/kube-apiserver/audit.log" && exists { "pass" } else { "fail" })
        }
        "1.2.20" => threshold_script(&view.arg("audit-log-maxbackup"), |v| v >= 10),
        "1.2.21" => threshold_script(&view.arg("audit-log-maxsize"), |v| v >= 100),
        "1.2.22" => threshold_script(&view.arg("min-request-timeout"), |v| v == 3600),
        "1.2.23" => {
            // `jq -r` without a filter prints the whole ConfigMap; the second line is run
            // as a command of its own and is not found.
            let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "data": {"config.yaml": view.kas_config.to_string()},
                "metadata": {"name": "config", "namespace": "openshift-kube-apiserver"}});
            printed(format!("{}\nsh: 2: .data[\"config.yaml\"]: not found", jq(&configmap)))
        }
        "1.2.24" => printed(jq_raw_elements(&view.kas_config["serviceAccountPublicKeyFiles"])),
        "1.2.25" => printed(format!("{}\n\n{}", jq_raw_elements(&view.arg("etcd-certfile")), jq_raw_elements(&view.arg("etcd-keyfile")))),
        "1.2.26" => printed(format!("{}\n\n{}", jq_raw_elements(&view.arg("tls-cert-file")), jq_raw_elements(&view.arg("tls-private-key-file")))),
        "1.2.27" => printed(
            view.kas_config["servingInfo"]["clientCA"]
                .as_str()
                .unwrap_or("null")
                .to_owned(),
        ),
        "1.2.28" => printed(jq(&view.arg("etcd-cafile"))),
        "1.2.29" => printed(if view.arg("encryption-provider-config").is_null() {
            "EncryptionDisabled\nEncryption is not enabled"
        } else {
            "EncryptionCompleted\nAll resources encrypted: routes.route.openshift.io"
        }),
        "1.3.2" => printed(jq_raw_elements(&view.kcm_config()["extendedArguments"]["use-service-account-credentials"])),
        "1.3.3" => printed(jq_raw_elements(&view.kcm_config()["extendedArguments"]["service-account-private-key-file"])),
        "1.3.4" => printed(jq_raw_elements(&view.kcm_config()["extendedArguments"]["root-ca-file"])),
        "2.1" | "2.4" | "2.7" => {
            let line = etcd_command_line(view);
            let flags = match id {
                "2.1" => ["--cert-file", "--key-file"],
                "2.4" => ["--peer-cert-file", "--peer-key-file"],
                _ => ["--trusted-ca-file", "--peer-trusted-ca-file"],
            };
            printed(flags.iter().map(|f| sed_flag(&line, f)).collect::<Vec<_>>().join("\n"))
        }
        "2.2" => printed(sed_flag(&etcd_command_line(view), "--client-cert-auth")),
        "2.5" => printed(sed_flag(&etcd_command_line(view), "--peer-client-cert-auth")),
        "2.3" | "2.6" => {
            let line = etcd_command_line(view);
            let flag = if id == "2.3" { "--auto-tls=true" } else { "--peer-auto-tls=true" };
            let found = line.split(' ').any(|w| w == flag);
            printed(if found { format!("{line}\nexit_code=0") } else { "exit_code=1".to_owned() })
        }
        "4.1.1" | "4.1.2" => view.debug_stat("/etc/systemd/system/kubelet.service", id == "4.1.2"),
        "4.1.3" | "4.1.4" => {
            // Only an openshift-sdn node has the sdn pod; its /config is the ConfigMap volume.
            let file = view
                .facts
                .list_tree("/var/lib/kubelet/pods")
                .unwrap_or_default()
                .iter()
                .find(|p| p.ends_with("/kube-proxy-config.yaml"))
                .cloned();
            match file {
                Some(path) => printed(view.stat_line("", "/config/kube-proxy-config.yaml", &path, id == "4.1.4").unwrap_or_default()),
                None => printed(no_pod),
            }
        }
        "4.1.5" | "4.1.6" => view.debug_stat("/etc/kubernetes/kubelet.conf", id == "4.1.6"),
        "4.1.7" => {
            let ca = jq(&view.configz()["authentication"]["x509"]["clientCAFile"]);
            match view.stat("/etc/kubernetes/kubelet-ca.crt") {
                Some((mode, _)) => printed(format!("{ca}\n{} permissions={mode}", view.name)),
                None => KubeBenchAudit::Failed,
            }
        }
        "4.1.8" => view.debug_stat("/etc/kubernetes/kubelet-ca.crt", true),
        "4.1.9" | "4.1.10" => view.debug_stat("/var/data/kubelet/config.json", id == "4.1.10"),
        "4.2.1" => printed(format!("Retrieving and inspecting garbage collection configuration from node-local kubelet configz...\n{}", jq(&view.configz()))),
        "4.2.2" => printed(format!("Checking if anonymous-auth is disabled in kubelet configuration on the current node...\n{}", jq(&view.configz()["authentication"]["anonymous"]["enabled"]))),
        "4.2.3" => printed(format!("Checking kubelet authorization mode on the current node...\n{}", jq(&view.configz()["authorization"]["mode"]))),
        "4.2.4" => printed(format!("Checking Kubelet 'clientCAFile' setting on current node...\n{}", jq(&view.configz()["authentication"]["x509"]["clientCAFile"]))),
        "4.2.5" => printed(format!(
            "Checking 'kubelet-read-only-port' argument in openshift-kube-apiserver config...\n{}",
            view.arg("kubelet-read-only-port")[0].as_str().unwrap_or("null")
        )),
        "4.2.6" | "4.2.7" | "4.2.8" | "4.2.10" => printed(jq(&view.configz())),
        "4.2.9" => printed(format!("{}\n\n{}", jq_raw_elements(&view.arg("kubelet-client-certificate")), jq_raw_elements(&view.arg("kubelet-client-key")))),
        "4.2.11" => {
            let configz = view.configz();
            printed(format!(
                "Checking that RotateKubeletServerCertificate is enabled in kubelet config on current node...\nVerifying feature gate: RotateKubeletServerCertificate\n{}\nVerifying that certificate rotation is enabled\n{}",
                jq(&configz["featureGates"]["RotateKubeletServerCertificate"]),
                jq(&configz["rotateCertificates"])
            ))
        }
        other => panic!("no emulation of kube-bench's {other}"),
    }
}

/// kube-bench's audit output for the API checks on a recorded cluster.
fn kube_bench_cluster_audit(id: &str, cluster: &str) -> KubeBenchAudit {
    let unauth = |b: &Value| {
        b["subjects"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["kind"] == "Group" && s["name"] == "system:unauthenticated")
        })
    };
    let yes_no = |f: fn(&Value) -> bool| any_scc(cluster, f, "pass", "fail");
    match id {
        "1.2.1" => {
            let found = api_list(cluster, "clusterrolebindings").iter().any(unauth)
                || api_list(cluster, "rolebindings").iter().any(unauth);
            printed(if found {
                "unauthenticated_bindings_present"
            } else {
                "unauthenticated_bindings_missing"
            })
        }
        "1.2.31" => {
            let overrides = api_list(cluster, "kubeapiservers")
                .iter()
                .find(|o| o["metadata"]["name"] == "cluster")
                .map(|o| o["spec"]["unsupportedConfigOverrides"].clone())
                .unwrap_or(Value::Null);
            printed(overrides.to_string())
        }
        "5.2.1" => printed(yes_no(|s| s["allowPrivilegedContainer"] == false)),
        "5.2.2" => printed(yes_no(|s| s["allowHostPID"] == true)),
        "5.2.3" => printed(yes_no(|s| s["allowHostIPC"] == false)),
        "5.2.4" => printed(yes_no(|s| s["allowHostNetwork"] == false)),
        "5.2.5" => printed(yes_no(|s| s["allowPrivilegeEscalation"] == false)),
        "5.2.6" => printed(yes_no(|s| s["runAsUser"]["type"] == "MustRunAsNonRoot")),
        "5.2.7" => printed(yes_no(drops_all)),
        "5.2.8" => printed(format!(
            "{}\n{}",
            yes_no(|s| s["allowedCapabilities"].is_null()),
            any_scc(
                cluster,
                |s| s["defaultAddCapabilities"].is_null(),
                "true",
                "false"
            )
        )),
        "5.2.9" => printed(any_scc(cluster, drops_all, "true", "false")),
        other => panic!("no emulation of kube-bench's {other}"),
    }
}

fn drops_all(scc: &Value) -> bool {
    scc["requiredDropCapabilities"]
        .as_array()
        .is_some_and(|caps| caps.iter().any(|c| c == "ALL"))
}

/// kube-bench's state for a check whose audit printed `audit` (§3.1 of the format notes).
fn kube_bench_state(check: &Check, audit: KubeBenchAudit) -> String {
    let failing = if check.scored { "FAIL" } else { "WARN" };
    let KubeBenchAudit::Printed { command, config } = audit else {
        return failing.to_owned();
    };
    let tests = check.tests.as_ref().expect("kube-bench's check has tests");
    let outcome = evaluate_tests(
        tests,
        check.use_multiple_values,
        &AuditOutputs {
            command: &command,
            config: &config,
            env: "",
            has_config_command: !check.audit_config.is_empty(),
        },
    );
    if outcome.passed { "PASS" } else { failing }.to_owned()
}

#[test]
fn our_verdicts_are_kube_benchs_on_the_same_values_except_the_documented_ones() {
    let Some(theirs) = kube_bench_checks() else {
        return;
    };
    let mut unexpected = Vec::new();
    let mut differing: BTreeSet<String> = BTreeSet::new();
    let mut compare = |id: &str, fixture: &str, ours: &str, kube_bench: String| {
        if ours == kube_bench {
            return;
        }
        differing.insert(id.to_owned());
        if !VERDICTS_DIFFER.contains(&id) {
            unexpected.push(format!(
                "{fixture} {id}: ours {ours}, kube-bench {kube_bench}"
            ));
        }
    };
    for node in NODES {
        let view = NodeView::open(node);
        let states = scan_node(node);
        for (id, (state, _)) in &states {
            let their = &theirs[id];
            if their.check_type == "manual" || state == "ERROR" {
                continue;
            }
            let kube_bench = kube_bench_state(their, kube_bench_audit(id, &view));
            compare(id, node, state, kube_bench);
        }
    }
    if let (Some(good), Some(bad)) = (scan_cluster("good"), scan_cluster("bad")) {
        for (cluster, states) in [("good", good), ("bad", bad)] {
            for (id, (state, _)) in &states {
                let kube_bench =
                    kube_bench_state(&theirs[id], kube_bench_cluster_audit(id, cluster));
                compare(id, cluster, state, kube_bench);
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "verdicts that differ from kube-bench's without being documented:\n{}",
        unexpected.join("\n")
    );
    let stale: Vec<&&str> = VERDICTS_DIFFER
        .iter()
        .filter(|id| !differing.contains(**id))
        .collect();
    assert!(
        stale.is_empty(),
        "listed as differing but agreeing with kube-bench on every fixture: {stale:?}"
    );
}

#[test]
fn every_differing_verdict_is_documented() {
    let doc = std::fs::read_to_string(repo_root().join("docs/differences-from-kube-bench.md"))
        .expect("differences doc");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(&format!("{BENCHMARK}\n")))
        .expect("a `## rh-1.8` section");
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("- "))
        .flat_map(|bullet| {
            let ids = bullet.split(':').next().unwrap_or_default();
            ids.split(',')
                .map(|id| id.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for id in VERDICTS_DIFFER {
        assert!(
            documented.contains(*id),
            "{id} differs from kube-bench but has no bullet under ## {BENCHMARK}"
        );
    }
    for (_, check) in our_checks() {
        let id = check.id.to_string();
        let covered =
            documented.contains(&id) || documented.iter().any(|range| in_range(range, &id));
        assert!(
            covered,
            "{id}: no bullet under ## {BENCHMARK} says how it is decided"
        );
    }
}

/// Whether `id` lies in a bullet range such as `1.1.1–1.1.8` (en dash, one group).
fn in_range(range: &str, id: &str) -> bool {
    let Some((from, to)) = range.split_once('–') else {
        return false;
    };
    let (Some((group, first)), Some((to_group, last))) =
        (from.rsplit_once('.'), to.rsplit_once('.'))
    else {
        return false;
    };
    let Some((id_group, n)) = id.rsplit_once('.') else {
        return false;
    };
    let (Ok(first), Ok(last), Ok(n)) =
        (first.parse::<u32>(), last.parse::<u32>(), n.parse::<u32>())
    else {
        return false;
    };
    group == to_group && group == id_group && (first..=last).contains(&n)
}
