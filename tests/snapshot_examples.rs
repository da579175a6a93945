//! The example snapshot directories under `examples/snapshots/`, read as a scan would.

use std::path::{Path, PathBuf};

use cisgate::facts::discover::{discover, SnapshotKind};
use cisgate::facts::snapshot_dir::SnapshotDirFacts;
use cisgate::facts::{FactError, Facts, FileKind, ShellCommand};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/snapshots")
        .join(name)
}

fn argv_of(facts: &dyn Facts, comm: &str) -> Vec<String> {
    let processes = facts.processes().unwrap();
    let matching: Vec<_> = processes.iter().filter(|p| p.comm == comm).collect();
    assert_eq!(matching.len(), 1, "one {comm} in {processes:?}");
    matching[0].argv.clone()
}

#[test]
fn control_plane_kubelet_argv_is_derived_from_unit_drop_in_and_env_files() {
    let facts = SnapshotDirFacts::open(&example("control-plane-1")).unwrap();
    assert_eq!(
        argv_of(&facts, "kubelet"),
        [
            "/usr/bin/kubelet",
            "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
            "--kubeconfig=/etc/kubernetes/kubelet.conf",
            "--config=/var/lib/kubelet/config.yaml",
            "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
            "--pod-infra-container-image=registry.k8s.io/pause:3.10",
        ]
    );
}

#[test]
fn worker_kubelet_gets_its_quoted_extra_args_as_separate_words() {
    let facts = SnapshotDirFacts::open(&example("worker-1")).unwrap();
    let argv = argv_of(&facts, "kubelet");
    assert_eq!(
        &argv[argv.len() - 2..],
        [
            "--node-ip=10.0.0.21",
            "--node-labels=topology.kubernetes.io/zone=zone-a"
        ]
    );
}

#[test]
fn control_plane_static_pods_yield_kubeadm_command_lines() {
    let facts = SnapshotDirFacts::open(&example("control-plane-1")).unwrap();
    let comms: Vec<String> = facts
        .processes()
        .unwrap()
        .iter()
        .map(|p| p.comm.clone())
        .collect();
    assert_eq!(
        comms,
        [
            "kubelet",
            "etcd",
            "kube-apiserver",
            "kube-controller",
            "kube-scheduler",
            "containerd",
            "kube-proxy"
        ]
    );
    let apiserver = argv_of(&facts, "kube-apiserver");
    assert_eq!(apiserver[0], "kube-apiserver");
    assert!(apiserver.contains(&"--authorization-mode=Node,RBAC".to_string()));
    // kubeadm's defaults that CIS flags: no --profiling=false, no audit log
    assert!(!apiserver.iter().any(|a| a.starts_with("--profiling")));
    assert!(!apiserver.iter().any(|a| a.starts_with("--audit-log-path")));
    assert!(argv_of(&facts, "etcd").contains(&"--data-dir=/var/lib/etcd".to_string()));
}

#[test]
fn identity_comes_from_the_metadata_file() {
    let identity = SnapshotDirFacts::open(&example("control-plane-1"))
        .unwrap()
        .identity();
    assert_eq!(identity.name, "control-plane-1");
    assert_eq!(identity.kubernetes_version.as_deref(), Some("1.33.1"));
    assert_eq!(identity.platform.as_deref(), Some("linux/amd64"));
    let worker = SnapshotDirFacts::open(&example("worker-1"))
        .unwrap()
        .identity();
    assert_eq!(worker.name, "worker-1");
}

#[test]
fn modes_and_owners_are_kubeadms() {
    let facts = SnapshotDirFacts::open(&example("control-plane-1")).unwrap();
    let expect = [
        ("/etc/kubernetes/manifests/kube-apiserver.yaml", "600"),
        ("/etc/kubernetes/admin.conf", "600"),
        ("/etc/kubernetes/pki/ca.crt", "644"),
        ("/etc/kubernetes/pki/etcd/peer.key", "600"),
        ("/var/lib/kubelet/config.yaml", "644"),
        (
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "644",
        ),
        ("/var/lib/etcd", "700"),
        // an absolute symlink, followed inside the snapshot
        ("/var/lib/kubelet/pki/kubelet-client-current.pem", "600"),
    ];
    for (path, mode) in expect {
        let stat = facts
            .stat(path)
            .unwrap()
            .unwrap_or_else(|| panic!("{path}"));
        assert_eq!(stat.mode_text(), mode, "{path}");
        assert_eq!(stat.owner_text(), "root:root", "{path}");
    }
    assert_eq!(
        facts.stat("/var/lib/etcd").unwrap().unwrap().kind,
        FileKind::Dir
    );
    assert_eq!(
        facts
            .stat("/etc/kubernetes/bootstrap-kubelet.conf")
            .unwrap(),
        None
    );
}

#[test]
fn kubelet_config_is_read_from_the_snapshot() {
    let facts = SnapshotDirFacts::open(&example("worker-1")).unwrap();
    let config = facts
        .read_file("/var/lib/kubelet/config.yaml")
        .unwrap()
        .unwrap();
    assert!(config.contains("streamingConnectionIdleTimeout: 0s"));
    assert!(!config.contains("protectKernelDefaults"));
}

#[test]
fn shell_audits_and_api_objects_are_not_evaluable_from_a_directory() {
    let facts = SnapshotDirFacts::open(&example("worker-1")).unwrap();
    let command = ShellCommand {
        on_node: "ps -ef | grep kubelet".into(),
        to_run: "ps -ef | grep kubelet".into(),
    };
    assert!(matches!(
        facts.run_shell(&command),
        Err(FactError::NotRecorded { .. })
    ));
    assert!(matches!(
        facts.api_objects("pods"),
        Err(FactError::NotRecorded { .. })
    ));
}

#[test]
fn the_examples_folder_is_discovered_as_two_nodes() {
    let discovery = discover(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshots")]);
    let names: Vec<_> = discovery
        .sources
        .iter()
        .filter(|s| s.kind == SnapshotKind::Directory)
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["control-plane-1", "worker-1"]);
    for source in &discovery.sources {
        source.open().unwrap();
    }
}
