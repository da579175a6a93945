//! A live scan through the binary of a fake kubeadm control-plane node: real processes
//! named kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubelet and
//! kube-proxy with kubeadm's command lines, real files with real modes and owners under
//! a temporary `--root`, and kube-bench-format definitions written here with shell audits
//! and typed probes side by side (each shell check has a probe twin that must agree).

#[path = "support/fake_node.rs"]
mod fake_node;

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use fake_node::{Component, FakeNode, NodeKind, SCHEDULER_MANIFEST};
use tempfile::TempDir;

const CONFIG: &str = r#"---
master:
  components: [apiserver, scheduler, controllermanager, etcd]
  apiserver:
    bins: ["kube-apiserver", "hyperkube apiserver"]
    confs: [/etc/kubernetes/manifests/kube-apiserver.yaml]
  scheduler:
    bins: ["kube-scheduler"]
    confs: [/etc/kubernetes/manifests/kube-scheduler.yaml]
  controllermanager:
    bins: ["kube-controller-manager", "kube-controller"]
    confs: [/etc/kubernetes/manifests/kube-controller-manager.yaml]
  etcd:
    optional: true
    bins: ["etcd"]
    datadirs: [/var/lib/etcd]
node:
  components: [kubelet]
  kubelet:
    bins: ["hyperkube kubelet", "kubelet"]
    confs: [/var/lib/kubelet/config.yaml]
version_mapping:
  "1.33": "demo-1.0"
target_mapping:
  "demo-1.0": [master, node]
"#;

const MASTER: &str = r#"---
controls:
version: "demo-1.0"
id: 1
text: "Control Plane"
type: "master"
groups:
  - id: 1.1
    text: "Files"
    checks:
      - id: 1.1.1
        text: "API server manifest mode (shell)"
        audit: "/bin/sh -c 'if test -e $apiserverconf; then stat -c permissions=%a $apiserverconf; fi'"
        tests:
          test_items:
            - flag: "permissions"
              compare: {op: bitmask, value: "600"}
        scored: true
      - id: 1.1.1p
        text: "API server manifest mode (probe)"
        audit: {probe: file_mode, path: $apiserverconf}
        tests:
          test_items:
            - flag: "permissions"
              compare: {op: bitmask, value: "600"}
        scored: true
      - id: 1.1.2
        text: "Scheduler manifest mode (shell)"
        audit: "/bin/sh -c 'if test -e $schedulerconf; then stat -c permissions=%a $schedulerconf; fi'"
        tests:
          test_items:
            - flag: "permissions"
              compare: {op: bitmask, value: "600"}
        scored: true
      - id: 1.1.2p
        text: "Scheduler manifest mode (probe)"
        audit: {probe: file_mode, path: $schedulerconf}
        tests:
          test_items:
            - flag: "permissions"
              compare: {op: bitmask, value: "600"}
        scored: true
      - id: 1.1.3
        text: "Scheduler manifest owner (shell)"
        audit: "/bin/sh -c 'if test -e $schedulerconf; then stat -c %U:%G $schedulerconf; fi'"
        tests:
          test_items:
            - flag: "root:root"
        scored: true
      - id: 1.1.3p
        text: "Scheduler manifest owner (probe)"
        audit: {probe: file_owner, path: $schedulerconf}
        tests:
          test_items:
            - flag: "root:root"
        scored: true
      - id: 1.1.4p
        text: "etcd data directory owner"
        audit: {probe: file_owner, path: $etcddatadir}
        tests:
          test_items:
            - flag: "etcd:etcd"
        scored: true
      - id: 1.1.5
        text: "A manual check"
        type: manual
        remediation: "Look at it."
        scored: false
      - id: 1.1.6
        text: "A skipped check"
        type: skip
        scored: true
  - id: 1.2
    text: "API Server"
    checks:
      - id: 1.2.1
        text: "Anonymous auth off (shell)"
        audit: "/bin/ps -ef | grep $apiserverbin | grep -v grep"
        tests:
          test_items:
            - flag: "--anonymous-auth"
              compare: {op: eq, value: false}
        scored: true
      - id: 1.2.1p
        text: "Anonymous auth off (probe)"
        audit: {probe: process, bin: $apiserverbin}
        tests:
          test_items:
            - flag: "--anonymous-auth"
              compare: {op: eq, value: false}
        scored: true
      - id: 1.2.2
        text: "Profiling off (shell)"
        audit: "/bin/ps -ef | grep $apiserverbin | grep -v grep"
        tests:
          test_items:
            - flag: "--profiling"
              compare: {op: eq, value: false}
        remediation: "Set --profiling=false in $apiserverconf"
        scored: true
      - id: 1.2.2p
        text: "Profiling off (probe)"
        audit: {probe: process, bin: $apiserverbin}
        tests:
          test_items:
            - flag: "--profiling"
              compare: {op: eq, value: false}
        remediation: "Set --profiling=false in $apiserverconf"
        scored: true
      - id: 1.2.3p
        text: "Authorization mode has RBAC (probe)"
        audit: {probe: process, bin: $apiserverbin}
        tests:
          test_items:
            - flag: "--authorization-mode"
              compare: {op: has, value: RBAC}
        scored: true
      - id: 1.2.4
        text: "An audit that exits non-zero"
        audit: "/bin/ps -ef | grep no-such-process-anywhere | grep -v grep"
        tests:
          test_items:
            - flag: "--x"
        scored: true
      - id: 1.2.5
        text: "An audit that times out"
        audit: "sleep 5"
        tests:
          test_items:
            - flag: "--x"
        scored: true
  - id: 1.3
    text: "Controller Manager"
    checks:
      - id: 1.3.1
        text: "Controller manager profiling off (shell)"
        audit: "/bin/ps -ef | grep $controllermanagerbin | grep -v grep"
        tests:
          test_items:
            - flag: "--profiling"
              compare: {op: eq, value: false}
        scored: true
      - id: 1.3.1p
        text: "Controller manager profiling off (probe)"
        audit: {probe: process, bin: $controllermanagerbin}
        tests:
          test_items:
            - flag: "--profiling"
              compare: {op: eq, value: false}
        scored: true
"#;

const NODE: &str = r#"---
controls:
version: "demo-1.0"
id: 4
text: "Worker Node"
type: "node"
groups:
  - id: 4.2
    text: "Kubelet"
    checks:
      - id: 4.2.1
        text: "Kubelet anonymous auth off (shell, kube-bench style)"
        audit: "/bin/ps -fC $kubeletbin"
        audit_config: "/bin/cat $kubeletconf"
        tests:
          test_items:
            - flag: "--anonymous-auth"
              path: "{.authentication.anonymous.enabled}"
              compare: {op: eq, value: false}
        scored: true
      - id: 4.2.1p
        text: "Kubelet anonymous auth off (effective config probe)"
        audit_config: {probe: kubelet_config, config: $kubeletconf}
        tests:
          test_items:
            - path: "{.authentication.anonymous.enabled}"
              compare: {op: eq, value: false}
        scored: true
      - id: 4.2.2p
        text: "Kubelet read-only port off"
        audit_config: {probe: kubelet_config, config: $kubeletconf}
        tests:
          test_items:
            - path: "{.readOnlyPort}"
              compare: {op: eq, value: 0}
        scored: true
      - id: 4.2.3p
        text: "Kubelet config mode"
        audit: {probe: file_mode, path: $kubeletconf}
        tests:
          test_items:
            - flag: "permissions"
              compare: {op: bitmask, value: "600"}
        scored: true
"#;

fn benchmark_tree() -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("demo-1.0")).unwrap();
    std::fs::write(dir.path().join("demo-1.0/master.yaml"), MASTER).unwrap();
    std::fs::write(dir.path().join("demo-1.0/node.yaml"), NODE).unwrap();
    dir
}

/// Scans the node and returns the exit code and each check's state by id.
fn scan(
    node: &FakeNode,
    tree: &Path,
    extra: &[&str],
) -> (i32, serde_json::Value, BTreeMap<String, String>) {
    let out = TempDir::new().unwrap();
    let json = out.path().join("results.json");
    let assert = Command::cargo_bin("cisgate")
        .unwrap()
        .args([
            "scan",
            "--no-color",
            "--quiet",
            "--shell-timeout",
            "1",
            "--kubectl",
            "/nonexistent",
        ])
        .arg("--config-dir")
        .arg(tree)
        .arg("--root")
        .arg(node.root())
        .arg("--json")
        .arg(&json)
        .args(extra)
        .assert();
    let code = assert.get_output().status.code().unwrap();
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results written")).unwrap();
    let mut states = BTreeMap::new();
    for node in results["nodes"].as_array().unwrap() {
        for section in node["sections"].as_array().unwrap() {
            for group in section["groups"].as_array().unwrap() {
                for check in group["checks"].as_array().unwrap() {
                    states.insert(
                        check["id"].as_str().unwrap().to_owned(),
                        check["state"].as_str().unwrap().to_owned(),
                    );
                }
            }
        }
    }
    (code, results, states)
}

fn check<'a>(results: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    results["nodes"][0]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["groups"].as_array().unwrap())
        .flat_map(|g| g["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn a_live_scan_of_a_kubeadm_control_plane_gives_each_check_its_state() {
    let node = FakeNode::builder(NodeKind::ControlPlane)
        .mode(SCHEDULER_MANIFEST, 0o644)
        .owner(SCHEDULER_MANIFEST, 1000, 1000)
        .set_flag(Component::ApiServer, "anonymous-auth", "false")
        .set_flag(Component::ControllerManager, "profiling", "false")
        .start();
    let tree = benchmark_tree();
    let (code, results, states) = scan(&node, tree.path(), &["--benchmark", "demo-1.0"]);

    let expected = [
        ("1.1.1", "PASS"),
        ("1.1.1p", "PASS"),
        ("1.1.2", "FAIL"),
        ("1.1.2p", "FAIL"),
        ("1.1.3", "FAIL"),
        ("1.1.3p", "FAIL"),
        ("1.1.4p", "PASS"),
        ("1.1.5", "WARN"),
        ("1.1.6", "INFO"),
        ("1.2.1", "PASS"),
        ("1.2.1p", "PASS"),
        ("1.2.2", "FAIL"),
        ("1.2.2p", "FAIL"),
        ("1.2.3p", "PASS"),
        ("1.2.4", "FAIL"),
        ("1.2.5", "ERROR"),
        ("1.3.1", "PASS"),
        ("1.3.1p", "PASS"),
        ("4.2.1", "PASS"),
        ("4.2.1p", "PASS"),
        // kubeadm leaves readOnlyPort out of its config file, where the kubelet's own default
        // (KubeletConfiguration v1beta1) is 0: the effective configuration says 0.
        ("4.2.2p", "PASS"),
        ("4.2.3p", "FAIL"),
    ];
    for (id, state) in expected {
        assert_eq!(
            states.get(id).map(String::as_str),
            Some(state),
            "check {id}: {:#}",
            check(&results, id)
        );
    }
    assert_eq!(states.len(), expected.len());
    assert_eq!(code, 1, "failures gate the run");

    // Evidence and locations: node paths, never the temporary root.
    let mode = check(&results, "1.1.2p");
    assert_eq!(mode["evidence"]["actual"], "permissions=644");
    assert_eq!(mode["location"]["path"], SCHEDULER_MANIFEST);
    let profiling = check(&results, "1.2.2p");
    assert_eq!(
        profiling["location"]["path"],
        "/etc/kubernetes/manifests/kube-apiserver.yaml"
    );
    assert_eq!(
        profiling["remediation"],
        "Set --profiling=false in /etc/kubernetes/manifests/kube-apiserver.yaml"
    );
    let failed = check(&results, "1.2.4");
    assert!(
        failed["reason"].as_str().unwrap().contains("exit status 1"),
        "{failed:#}"
    );
    let timed_out = check(&results, "1.2.5");
    assert!(
        timed_out["reason"]
            .as_str()
            .unwrap()
            .contains("did not finish"),
        "{timed_out:#}"
    );
    let root = node.root().display().to_string();
    let sections = serde_json::to_string(&results["nodes"][0]["sections"]).unwrap();
    assert!(
        !sections.contains(&root),
        "checks show node paths, not the scanning root: {sections}"
    );
    assert_eq!(
        results["nodes"][0]["node"]["source"],
        format!("live node (root {root})")
    );
}

#[test]
fn probes_and_shell_agree_when_the_node_is_configured_either_way() {
    // kubeadm's defaults: anonymous auth is disabled only in the kubelet's config file.
    let node = FakeNode::builder(NodeKind::Worker)
        .set_flag(Component::Kubelet, "anonymous-auth", "true")
        .start();
    let tree = benchmark_tree();
    let (_, _, states) = scan(
        &node,
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "node"],
    );
    // The flag on the command line wins over the config file, for both.
    assert_eq!(states["4.2.1"], "FAIL");
    assert_eq!(states["4.2.1p"], "FAIL");
}

#[test]
fn default_targets_follow_what_the_node_is() {
    let node = FakeNode::start(NodeKind::Worker);
    let tree = benchmark_tree();
    let (_, results, _) = scan(&node, tree.path(), &["--k8s-version", "1.33"]);
    assert_eq!(results["benchmark"]["targets"], serde_json::json!(["node"]));
    assert!(results["benchmark"]["selected_because"]
        .as_str()
        .unwrap()
        .contains("--k8s-version"));
}

#[test]
fn a_control_plane_target_asked_for_on_a_worker_gives_errors_not_passes() {
    let node = FakeNode::start(NodeKind::Worker);
    let tree = benchmark_tree();
    let (code, results, states) = scan(
        &node,
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "master"],
    );
    assert_eq!(states["1.2.1p"], "ERROR");
    assert!(check(&results, "1.2.1p")["reason"]
        .as_str()
        .unwrap()
        .contains("apiserver component is not running"));
    assert_eq!(code, 1);
}
