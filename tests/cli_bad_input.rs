//! Bad input through the binary: each mistake gets a message naming the file (and line)
//! or flag and what was expected, exit code 2, and no report file left behind.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

const CONFIG: &str = r#"---
node:
  components: [kubelet]
  kubelet:
    optional: true
    bins: [kubelet]
    confs: [/var/lib/kubelet/config.yaml]
    defaultconf: /var/lib/kubelet/config.yaml
version_mapping:
  "1.33": "demo-1.0"
target_mapping:
  "demo-1.0": [node]
"#;

const NODE: &str = r#"---
controls:
version: "demo-1.0"
id: 4
text: "Worker Node"
type: "node"
groups:
  - id: 4.1
    text: "Files"
    checks:
      - id: 4.1.1
        text: "Kubelet config mode"
        audit:
          probe: file_mode
          path: $kubeletconf
        tests:
          test_items:
            - flag: "permissions"
              compare:
                op: bitmask
                value: "600"
        remediation: "chmod 600 $kubeletconf"
        scored: true
"#;

/// A benchmark tree in a temporary directory, with `node.yaml` as given.
fn tree_with_node(node_yaml: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("demo-1.0")).unwrap();
    std::fs::write(dir.path().join("demo-1.0/node.yaml"), node_yaml).unwrap();
    dir
}

fn scan(tree: &Path, extra: &[&str]) -> Command {
    let root = TempDir::new().unwrap().keep();
    let mut cmd = Command::cargo_bin("cisgate").unwrap();
    cmd.arg("scan")
        .arg("--config-dir")
        .arg(tree)
        .arg("--root")
        .arg(root)
        .arg("--no-color")
        .args(extra);
    cmd
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let tree =
        tree_with_node("---\ncontrols:\ntype: \"node\"\ngroups:\n  - id: 4.1\n    checks: [\n");
    scan(
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "node"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("demo-1.0/node.yaml:"));
}

#[test]
fn a_wrong_field_type_names_the_field_and_line() {
    let broken = NODE.replace("scored: true", "scored: [yes, no]");
    let tree = tree_with_node(&broken);
    scan(
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "node"],
    )
    .assert()
    .code(2)
    .stderr(
        predicate::str::contains("demo-1.0/node.yaml:23:17:")
            .and(predicate::str::contains("`scored` expects true or false")),
    );
}

#[test]
fn a_missing_controls_file_is_named() {
    let tree = tree_with_node(NODE);
    std::fs::remove_file(tree.path().join("demo-1.0/node.yaml")).unwrap();
    std::fs::write(tree.path().join("demo-1.0/master.yaml"), "---\n").unwrap();
    scan(
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "node"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("node.yaml").and(predicate::str::contains("not found")));
}

#[test]
fn an_invalid_regex_in_a_test_is_rejected_at_load_time() {
    let broken = NODE.replace(
        "op: bitmask\n                value: \"600\"",
        "op: regex\n                value: \"(unclosed\"",
    );
    let tree = tree_with_node(&broken);
    scan(
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "node"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("check 4.1.1").and(predicate::str::contains("regex")));
}

#[test]
fn an_invalid_flag_pattern_is_rejected_at_load_time() {
    let broken = NODE.replace("flag: \"permissions\"", "flag: \"--bad(\"");
    let tree = tree_with_node(&broken);
    scan(
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "node"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("check 4.1.1").and(predicate::str::contains("--bad(")));
}

#[test]
fn an_unknown_benchmark_lists_the_available_ones() {
    let tree = tree_with_node(NODE);
    scan(
        tree.path(),
        &["--benchmark", "cis-9.9", "--targets", "node"],
    )
    .assert()
    .code(2)
    .stderr(
        predicate::str::contains("unknown benchmark `cis-9.9`")
            .and(predicate::str::contains("demo-1.0")),
    );
}

#[test]
fn an_undeterminable_version_says_how_to_pass_it() {
    let tree = tree_with_node(NODE);
    scan(
        tree.path(),
        &["--targets", "node", "--kubectl", "/nonexistent/kubectl"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("--k8s-version").and(predicate::str::contains("--benchmark")));
}

#[test]
fn a_version_without_a_benchmark_names_the_ways_on() {
    let tree = tree_with_node(NODE);
    scan(tree.path(), &["--k8s-version", "1.20", "--targets", "node"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--benchmark").and(predicate::str::contains("--config-dir")),
        );
}

#[test]
fn an_unknown_check_id_is_an_error_and_writes_no_report() {
    let tree = tree_with_node(NODE);
    let out = TempDir::new().unwrap();
    let json = out.path().join("results.json");
    scan(
        tree.path(),
        &[
            "--benchmark",
            "demo-1.0",
            "--targets",
            "node",
            "--check",
            "9.9.9",
            "--json",
        ],
    )
    .arg(&json)
    .assert()
    .code(2)
    .stderr(predicate::str::contains("9.9.9"));
    assert!(!json.exists(), "no report may be left behind");
}

#[test]
fn an_unknown_target_is_an_error() {
    let tree = tree_with_node(NODE);
    scan(
        tree.path(),
        &["--benchmark", "demo-1.0", "--targets", "nodes"],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("no target `nodes`"));
}

#[test]
fn a_config_dir_without_config_yaml_is_rejected() {
    let empty = TempDir::new().unwrap();
    scan(empty.path(), &["--benchmark", "demo-1.0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("config.yaml"));
}
