//! The Kubernetes examples and the Dockerfile.
//!
//! `kubectl apply --dry-run=client` cannot run offline: it asks the API server for discovery
//! before it validates anything. So the manifests are checked three ways here: kubectl decodes
//! every object (`kubectl label --local`, offline), a JSON Schema written from the API reference
//! for the kinds and fields the examples use rejects unknown or mistyped fields, and the
//! properties a scan depends on (host PID, read-only host paths under /host, `--root /host`,
//! names that refer to each other) are asserted directly.
//! The image itself is built with podman and its binary run in `tests/release_image.rs`; here
//! the Dockerfile is checked for what needs no image builder, and every container of the
//! manifests is started from that image's exported files (`support/image.rs`): the image has
//! no shell, so each container must run cisgate itself, with the manifest's arguments,
//! environment, working directory and mounts.

#[path = "support/image.rs"]
mod image;
mod pipeline_common;
#[path = "support/release.rs"]
mod release;
/// What `support/image.rs` needs of the shared support (loaded once, by pipeline_common).
mod support {
    pub use crate::pipeline_common::missing;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image::{exported_image, start_container, ExportedImage, Volumes};

use pipeline_common::*;
use serde_json::{json, Value};

fn manifests_dir() -> PathBuf {
    repo_root().join("examples/kubernetes")
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifests_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn objects_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

fn all_objects() -> Vec<Value> {
    manifest_files()
        .iter()
        .flat_map(|f| objects_of(f))
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn pod_spec(object: &Value) -> &Value {
    match object["kind"].as_str().unwrap() {
        "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &object["spec"]["template"]["spec"],
    }
}

/// The container's command and arguments, `--flag=value` split into two words.
fn argv_words(container: &Value) -> Vec<String> {
    [strings(&container["command"]), strings(&container["args"])]
        .concat()
        .iter()
        .flat_map(|word| match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                vec![flag.to_string(), value.to_string()]
            }
            _ => vec![word.to_string()],
        })
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The schema check through check-jsonschema; `Err` with its message when it rejects.
fn schema_check(objects: &[Value]) -> Option<Result<(), String>> {
    if !tool_available(
        "check-jsonschema",
        "validates the manifests against the schema",
    ) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.json");
    let document = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&list, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let output = Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(repo_root().join("tests/fixtures/kubernetes/manifests.schema.yaml"))
        .arg(&list)
        .output()
        .unwrap();
    Some(if output.status.success() {
        Ok(())
    } else {
        Err(describe(&output))
    })
}

#[test]
fn the_manifests_match_the_api_schema_of_their_kinds() {
    if let Some(result) = schema_check(&all_objects()) {
        result.unwrap();
    }
}

#[test]
fn the_schema_check_rejects_a_misspelled_or_mistyped_field() {
    let objects = all_objects();
    let mut misspelled = find(&objects, "Job", "cisgate-worker").clone();
    let spec = misspelled["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap();
    let host_pid = spec.remove("hostPID").unwrap();
    spec.insert("hostPid".into(), host_pid);
    let Some(result) = schema_check(&[misspelled]) else {
        return;
    };
    assert!(result.unwrap_err().contains("hostPid"));

    let mut mistyped = find(&objects, "DaemonSet", "cisgate-collect").clone();
    mistyped["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] =
        json!("yes");
    assert!(schema_check(&[mistyped]).unwrap().is_err());
}

#[test]
fn kubectl_decodes_every_object_offline() {
    if !tool_available("kubectl", "decodes the manifests") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A kubeconfig that points nowhere: nothing here may talk to a cluster.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]\n\
         users: [{name: none, user: {token: none}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\n\
         current-context: none\n",
    )
    .unwrap();
    for file in manifest_files() {
        let output = Command::new("kubectl")
            .args(["label", "--local", "--dry-run=client", "-o", "name", "-f"])
            .arg(&file)
            .arg("cisgate.test/decoded=true")
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            describe(&output)
        );
        let names: Vec<String> = text(&output.stdout).lines().map(str::to_string).collect();
        assert_eq!(
            names.len(),
            objects_of(&file).len(),
            "{}: {names:?}",
            file.display()
        );
    }
}

#[test]
fn node_scans_see_host_processes_and_read_host_paths_read_only_under_host() {
    let objects = all_objects();
    for (kind, name, subcommand) in [
        ("Job", "cisgate-control-plane", "scan"),
        ("Job", "cisgate-worker", "scan"),
        ("DaemonSet", "cisgate-collect", "collect"),
    ] {
        let object = find(&objects, kind, name);
        let spec = pod_spec(object);
        assert_eq!(spec["hostPID"], true, "{name}");
        let container = &spec["containers"][0];
        let command = argv_words(container).join(" ");
        assert!(
            command.contains(&format!("{subcommand} ")) && command.contains("--root /host"),
            "{name}: {command}"
        );
        let host_volumes: Vec<&str> = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v.get("hostPath").is_some())
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert!(!host_volumes.is_empty(), "{name}");
        for volume in spec["volumes"].as_array().unwrap() {
            let Some(host_path) = volume["hostPath"]["path"].as_str() else {
                continue;
            };
            let mount = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == volume["name"])
                .unwrap_or_else(|| panic!("{name}: volume {} not mounted", volume["name"]));
            assert_eq!(mount["readOnly"], true, "{name}: {host_path}");
            assert_eq!(mount["mountPath"], format!("/host{host_path}"), "{name}");
        }
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"], false,
            "{name}"
        );
    }
}

#[test]
fn the_control_plane_job_runs_on_control_planes_and_the_worker_job_elsewhere() {
    let objects = all_objects();
    let control_plane = pod_spec(find(&objects, "Job", "cisgate-control-plane"));
    assert!(control_plane["nodeSelector"]
        .get("node-role.kubernetes.io/control-plane")
        .is_some());
    assert!(control_plane["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "node-role.kubernetes.io/control-plane"));
    let worker = pod_spec(find(&objects, "Job", "cisgate-worker"));
    let expression = &worker["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
        ["matchExpressions"][0];
    assert_eq!(expression["key"], "node-role.kubernetes.io/control-plane");
    assert_eq!(expression["operator"], "DoesNotExist");
}

#[test]
fn the_nightly_scan_reads_the_snapshots_the_daemonset_writes_without_privileges() {
    let objects = all_objects();
    let daemonset = find(&objects, "DaemonSet", "cisgate-collect");
    let cronjob = find(&objects, "CronJob", "cisgate-nightly");
    let claim_of = |spec: &Value| -> (String, String) {
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v.get("persistentVolumeClaim").is_some())
            .unwrap();
        let mount = spec["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap();
        (
            volume["persistentVolumeClaim"]["claimName"]
                .as_str()
                .unwrap()
                .to_string(),
            mount["mountPath"].as_str().unwrap().to_string(),
        )
    };
    let (ds_claim, ds_mount) = claim_of(pod_spec(daemonset));
    let (cj_claim, cj_mount) = claim_of(pod_spec(cronjob));
    assert_eq!(ds_claim, cj_claim);
    let pvc = find(&objects, "PersistentVolumeClaim", &ds_claim);
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"]);

    let collect = argv_words(&pod_spec(daemonset)["containers"][0]).join(" ");
    assert!(
        collect.contains(&format!(
            "--output {ds_mount}/snapshots/$(NODE_NAME).json.gz"
        )),
        "{collect}"
    );
    let scan_container = &pod_spec(cronjob)["containers"][0];
    let scan = argv_words(scan_container).join(" ");
    assert_eq!(scan_container["workingDir"], cj_mount.as_str());
    assert!(scan.contains("--snapshot snapshots"), "{scan}");
    assert_eq!(pod_spec(cronjob)["securityContext"]["runAsNonRoot"], true);
    assert!(pod_spec(cronjob).get("hostPID").is_none());

    let selector = &daemonset["spec"]["selector"]["matchLabels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(
            &daemonset["spec"]["template"]["metadata"]["labels"][key], value,
            "the DaemonSet's selector matches its pods"
        );
    }
}

#[test]
fn every_namespaced_object_and_service_account_reference_exists() {
    let objects = all_objects();
    find(&objects, "Namespace", "cisgate");
    for object in &objects {
        if let Some(namespace) = object["metadata"]["namespace"].as_str() {
            find(&objects, "Namespace", namespace);
        }
        if matches!(
            object["kind"].as_str(),
            Some("Job" | "DaemonSet" | "CronJob")
        ) {
            let account = pod_spec(object)["serviceAccountName"].as_str().unwrap();
            find(&objects, "ServiceAccount", account);
            let image = pod_spec(object)["containers"][0]["image"].as_str().unwrap();
            assert!(image.starts_with("ghcr.io/cisgate/cisgate:"), "{image}");
        }
    }
    let binding = find(&objects, "ClusterRoleBinding", "cisgate-reader");
    find(
        &objects,
        "ClusterRole",
        binding["roleRef"]["name"].as_str().unwrap(),
    );
    let verbs: Vec<&str> = find(&objects, "ClusterRole", "cisgate-reader")["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| strings(&r["verbs"]))
        .collect();
    assert!(
        verbs.iter().all(|v| *v == "get" || *v == "list"),
        "read-only: {verbs:?}"
    );
}

/// The Dockerfile's instructions, continuation lines joined: (instruction, the rest).
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (op.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn the_dockerfile_puts_only_the_static_binary_on_scratch_and_runs_unprivileged() {
    let instructions = dockerfile_instructions();
    let from: Vec<&String> = instructions
        .iter()
        .filter(|(op, _)| op == "FROM")
        .map(|(_, rest)| rest)
        .collect();
    assert_eq!(from, ["scratch"], "one stage, on scratch");
    assert!(
        !instructions.iter().any(|(op, _)| op == "RUN"),
        "no RUN: the image builds offline and for any platform without emulation"
    );
    let copies: Vec<&String> = instructions
        .iter()
        .filter(|(op, _)| op == "COPY" || op == "ADD")
        .map(|(_, rest)| rest)
        .collect();
    assert_eq!(
        copies,
        ["target/image/${TARGETOS}/${TARGETARCH}/cisgate /usr/local/bin/cisgate"]
    );
    let users: Vec<&String> = instructions
        .iter()
        .filter(|(op, _)| op == "USER")
        .map(|(_, rest)| rest)
        .collect();
    assert_eq!(users, ["65532:65532"]);
    assert!(instructions
        .iter()
        .any(|(op, rest)| op == "ENTRYPOINT" && rest == "[\"/usr/local/bin/cisgate\"]"));
    // The build context lets in the staged binaries and nothing else.
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules, ["*", "!target/image/"]);
}

fn container_of<'a>(object: &'a Value, name: &str) -> &'a Value {
    let spec = pod_spec(object);
    ["initContainers", "containers"]
        .iter()
        .flat_map(|key| spec[*key].as_array().into_iter().flatten())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// Runs a container to its end; (exit code, stdout, stderr).
fn run_to_end(
    image: &ExportedImage,
    object: &Value,
    container: &str,
    volumes: &Volumes,
) -> (Option<i32>, String, String) {
    let mut started = start_container(
        image,
        pod_spec(object),
        container_of(object, container),
        volumes,
    );
    let output = started.command.output().unwrap();
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    eprintln!("{container}: {:?}\n{err}", started.argv);
    (output.status.code(), out, err)
}

fn read_snapshot(path: &Path) -> Value {
    let mut json = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut json,
    )
    .unwrap();
    serde_json::from_str(&json).unwrap()
}

fn env_value(container: &Value, name: &str) -> String {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no {name}"))
        .to_string()
}

/// The whole fleet flow from the image, no shell anywhere: the collector DaemonSet's pod
/// keeps running and writes its node's snapshot (naming the cluster) to the shared volume;
/// the nightly CronJob scans the volume twice (two nights), storing each run under the
/// snapshots' cluster and comparing with the night before; the trend CronJob prunes and
/// writes the trend report.
#[test]
fn the_collector_and_the_nightly_cronjobs_run_from_the_image_without_a_shell() {
    let Some(image) = exported_image() else {
        return;
    };
    let objects = all_objects();
    let daemonset = find(&objects, "DaemonSet", "cisgate-collect");
    let data = tempfile::tempdir().unwrap();
    let volumes = |node: &str| Volumes {
        claims: [("cisgate-data".to_string(), data.path().to_path_buf())].into(),
        node_root: Some(repo_root().join("examples/snapshots").join(node)),
        node_name: node.to_string(),
    };

    let collector = container_of(daemonset, "collect");
    let mut started = start_container(
        image,
        pod_spec(daemonset),
        collector,
        &volumes("control-plane-1"),
    );
    let mut child = started
        .command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let snapshot = data.path().join("snapshots/control-plane-1.json.gz");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !snapshot.exists() && Instant::now() < deadline {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the collector ended: {:?}",
            started.argv
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    let log = text(&child.wait_with_output().unwrap().stderr);
    assert!(snapshot.exists(), "no snapshot written: {log}");
    assert!(
        still_running,
        "the collector pod keeps running (--every): {log}"
    );
    let cluster = env_value(collector, "CLUSTER_NAME");
    let recorded = read_snapshot(&snapshot);
    assert_eq!(recorded["node"]["name"], "control-plane-1");
    assert_eq!(
        recorded["node"]["cluster"],
        cluster.as_str(),
        "the snapshot names its cluster"
    );

    // A second node's snapshot on the volume: a snapshot directory without a cluster.
    let copied = Command::new("cp")
        .arg("-R")
        .arg(repo_root().join("examples/snapshots/worker-1"))
        .arg(data.path().join("snapshots/worker-1"))
        .status()
        .unwrap();
    assert!(copied.success());

    let nightly = find(&objects, "CronJob", "cisgate-nightly");
    for night in 1..=2 {
        let (code, out, err) = run_to_end(image, nightly, "scan", &volumes("none"));
        assert_eq!(code, Some(1), "night {night}: regressions\n{out}\n{err}");
    }
    let results: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(
        results["previous"]["new"], 0,
        "night 2 compared with night 1"
    );
    for report in ["report.html", "junit.xml", "summary.md"] {
        assert!(data.path().join(report).is_file(), "{report}");
    }
    let runs = Command::new(cisgate_bin())
        .args(["history", "runs", "--json", "--store"])
        .arg(data.path().join("history.db"))
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    let clusters: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["cluster"])
        .collect();
    assert_eq!(
        clusters,
        [&json!(cluster), &json!(cluster)],
        "stored under the snapshots' cluster"
    );

    let trend = find(&objects, "CronJob", "cisgate-trend");
    let (code, _, err) = run_to_end(image, trend, "prune", &volumes("none"));
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run_to_end(image, trend, "trend", &volumes("none"));
    assert_eq!(code, Some(0), "{err}");
    let page = std::fs::read_to_string(data.path().join("trend.html")).unwrap();
    assert!(
        page.contains(&cluster),
        "the trend report names the cluster"
    );
    assert!(data.path().join("trend.md").is_file());
}

/// The live-scan Jobs start from the image with their arguments as written: the command line
/// is accepted (not exit 2) and the node is scanned under the name the pod gives it.
#[test]
fn the_live_scan_jobs_run_from_the_image_without_a_shell() {
    let Some(image) = exported_image() else {
        return;
    };
    let objects = all_objects();
    for (job, node) in [
        ("cisgate-control-plane", "control-plane-1"),
        ("cisgate-worker", "worker-1"),
    ] {
        let volumes = Volumes {
            node_root: Some(repo_root().join("examples/snapshots").join(node)),
            node_name: node.to_string(),
            ..Volumes::default()
        };
        let (code, out, err) = run_to_end(image, find(&objects, "Job", job), "cisgate", &volumes);
        assert!(matches!(code, Some(0 | 1)), "{job}: {code:?}\n{out}\n{err}");
        assert!(
            out.contains(node),
            "{job}: the console report names {node}:\n{out}"
        );
    }
}

/// A manifest that runs a shell fails against the image, as it would in a cluster.
#[test]
fn a_container_that_needs_a_shell_cannot_start_from_the_image() {
    let Some(image) = exported_image() else {
        return;
    };
    let mut job = find(&all_objects(), "Job", "cisgate-worker").clone();
    job["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["/bin/sh", "-c"]);
    let volumes = Volumes {
        node_root: Some(repo_root().join("examples/snapshots/worker-1")),
        node_name: "worker-1".into(),
        ..Volumes::default()
    };
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        start_container(
            image,
            pod_spec(&job),
            container_of(&job, "cisgate"),
            &volumes,
        )
    }));
    let message = *refused
        .err()
        .expect("no shell in the image")
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("/bin/sh"), "{message}");
}

/// `collect --every`: collects again after the interval, and a failed collection is reported
/// and tried again instead of ending the collector.
#[test]
fn collect_every_collects_again_and_outlives_a_failed_collection() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("node.json");
    let root = repo_root().join("examples/snapshots/control-plane-1");
    let mut child = Command::new(cisgate_bin())
        .args(["collect", "--every", "1s", "--cluster", "lab", "--root"])
        .arg(&root)
        .arg("--output")
        .arg(&output)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let collected_at = || -> Option<String> {
        let document: Value = serde_json::from_slice(&std::fs::read(&output).ok()?).ok()?;
        Some(document["node"]["collected_at"].as_str()?.to_string())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 && Instant::now() < deadline {
        seen.extend(collected_at());
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(seen.len(), 2, "two collections: {seen:?}");

    // The output's directory is a file: every collection fails, the collector stays up.
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let mut child = Command::new(cisgate_bin())
        .args(["collect", "--every", "1s", "--root"])
        .arg(&root)
        .arg("--output")
        .arg(dir.path().join("blocked/node.json"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut failures = Vec::new();
    while failures.len() < 2 {
        match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("collect failed") => failures.push(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(running, "the collector stays up after failed collections");
    assert!(failures[0].contains("blocked"), "{failures:?}");
}
