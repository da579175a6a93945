//! The cluster a stored run belongs to, without `--cluster`: the one its nodes name — a
//! snapshot directory's `cisgate-node.yaml` (`node.cluster`), a snapshot file's `node.cluster`
//! (written by `collect --cluster`, else from the kubeconfig's current context where `collect`
//! ran), a live node's kubeconfig context — else `default`. Nodes naming different clusters
//! cannot be stored as one run.

mod pipeline_common;

use std::path::Path;
use std::process::{Command, Output};

use pipeline_common::*;
use serde_json::Value;

fn cisgate(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(cisgate_bin());
    command
        .args(args)
        .env_remove("CISGATE_CLUSTER")
        .env_remove("CISGATE_STORE")
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stored_clusters(store: &Path) -> Vec<String> {
    let output = cisgate(
        &[
            "history",
            "runs",
            "--json",
            "--store",
            store.to_str().unwrap(),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["cluster"].as_str().unwrap().to_string())
        .collect()
}

/// A copy of an example node whose metadata names `cluster` (None: names none).
fn node_dir(to: &Path, node: &str, cluster: Option<&str>) {
    let status = Command::new("cp")
        .arg("-R")
        .arg(repo_root().join("examples/snapshots").join(node))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
    if let Some(cluster) = cluster {
        let metadata = to.join("cisgate-node.yaml");
        let text = std::fs::read_to_string(&metadata).unwrap();
        let text = text.replacen("node:\n", &format!("node:\n  cluster: {cluster}\n"), 1);
        std::fs::write(metadata, text).unwrap();
    }
}

fn kubeconfig(dir: &Path, context: &str) -> std::path::PathBuf {
    let path = dir.join(format!("kubeconfig-{context}"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:9'}}}}]\n\
             users: [{{name: u, user: {{token: none}}}}]\n\
             contexts: [{{name: {context}, context: {{cluster: c, user: u}}}}]\ncurrent-context: {context}\n"
        ),
    )
    .unwrap();
    path
}

fn scan_into(store: &Path, snapshots: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["scan", "--quiet", "--store", store.to_str().unwrap()];
    for snapshot in snapshots {
        args.extend(["--snapshot", snapshot.to_str().unwrap()]);
    }
    args.extend(extra);
    cisgate(&args, &[])
}

#[test]
fn a_snapshot_directory_names_its_cluster_in_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("worker-1");
    node_dir(&node, "worker-1", Some("lab-eu-2"));
    let store = dir.path().join("history.db");
    let json = dir.path().join("results.json");
    let run = scan_into(&store, &[&node], &["--json", json.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert_eq!(stored_clusters(&store), ["lab-eu-2"]);
    let results: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(results["nodes"][0]["node"]["cluster"], "lab-eu-2");

    // --cluster wins over the metadata.
    let run = scan_into(&store, &[&node], &["--cluster", "other"]);
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert_eq!(stored_clusters(&store).len(), 2);
    assert!(stored_clusters(&store).contains(&"other".to_string()));
}

#[test]
fn collect_records_the_cluster_given_or_the_kubeconfig_context() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root().join("examples/snapshots/control-plane-1");
    let given = dir.path().join("given.json");
    let collect = |output: &Path, extra: &[&str], env: &[(&str, &Path)]| {
        let mut args = vec![
            "collect",
            "--kubectl",
            "/nonexistent/kubectl",
            "--root",
            root.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ];
        args.extend(extra);
        let run = cisgate(&args, env);
        assert!(run.status.success(), "{}", describe(&run));
        let snapshot: Value = serde_json::from_slice(&std::fs::read(output).unwrap()).unwrap();
        snapshot["node"]["cluster"].clone()
    };
    assert_eq!(
        collect(&given, &["--cluster", "prod-eu-1"], &[]),
        "prod-eu-1"
    );
    let config = kubeconfig(dir.path(), "staging-ctx");
    let from_context = dir.path().join("context.json");
    assert_eq!(
        collect(&from_context, &[], &[("KUBECONFIG", &config)]),
        "staging-ctx"
    );
    let neither = dir.path().join("neither.json");
    assert_eq!(collect(&neither, &[], &[]), Value::Null, "no cluster named");

    let store = dir.path().join("history.db");
    let run = scan_into(&store, &[&given], &[]);
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "{}",
        describe(&run)
    );
    let run = scan_into(&store, &[&neither], &[]);
    assert!(
        matches!(run.status.code(), Some(0 | 1)),
        "{}",
        describe(&run)
    );
    let mut clusters = stored_clusters(&store);
    clusters.sort();
    assert_eq!(clusters, ["default", "prod-eu-1"]);
}

#[test]
fn a_live_scan_belongs_to_the_kubeconfig_context() {
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), "live-ctx");
    let store = dir.path().join("history.db");
    let root = repo_root().join("examples/snapshots/control-plane-1");
    let run = cisgate(
        &[
            "scan",
            "--quiet",
            "--kubectl",
            "/nonexistent/kubectl",
            "--kubeconfig",
            config.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        matches!(run.status.code(), Some(0 | 1 | 3)),
        "{}",
        describe(&run)
    );
    assert_eq!(stored_clusters(&store), ["live-ctx"]);
}

#[test]
fn nodes_of_different_clusters_are_not_stored_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    node_dir(&a, "worker-1", Some("east"));
    node_dir(&b, "control-plane-1", Some("west"));
    let store = dir.path().join("history.db");

    let run = scan_into(&store, &[&a, &b], &[]);
    assert_eq!(run.status.code(), Some(2), "{}", describe(&run));
    let error = text(&run.stderr);
    assert!(
        error.contains("east, west") && error.contains("--cluster"),
        "{error}"
    );
    assert!(!store.exists() || stored_clusters(&store).is_empty());

    // Without a store the fleet scans as before; with --cluster it is stored.
    let plain = cisgate(
        &[
            "scan",
            "--quiet",
            "--snapshot",
            a.to_str().unwrap(),
            "--snapshot",
            b.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(plain.status.code(), Some(1), "{}", describe(&plain));
    let named = scan_into(&store, &[&a, &b], &["--cluster", "both"]);
    assert_eq!(named.status.code(), Some(1), "{}", describe(&named));
    assert_eq!(stored_clusters(&store), ["both"]);
}
