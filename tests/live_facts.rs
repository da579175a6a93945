//! The live facts source against a fake kubeadm node: real processes under component
//! names, real files with real modes and owners under a temporary root.

#[path = "support/fake_node.rs"]
mod fake_node;
mod support;

use std::time::{Duration, Instant};

use cisgate::facts::live::{LiveFacts, LiveOptions};
use cisgate::facts::{FactError, Facts, FileKind, ShellCommand};
use fake_node::{Component, FakeNode, LiveNodeLock, NodeKind};

fn live_facts_for(node: &FakeNode) -> LiveFacts {
    LiveFacts::new(LiveOptions {
        root: node.root().to_path_buf(),
        ..LiveOptions::default()
    })
}

fn shell(to_run: String) -> ShellCommand {
    ShellCommand {
        on_node: to_run.clone(),
        to_run,
    }
}

#[test]
fn live_facts_see_every_control_plane_component_with_its_argv_and_comm() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let facts = live_facts_for(&node);
    let processes = facts.processes().unwrap();

    assert_eq!(node.components(), Component::ALL.to_vec());
    for component in Component::ALL {
        let pid = node.pid(component).unwrap();
        let process = processes
            .iter()
            .find(|process| process.pid == pid)
            .unwrap_or_else(|| panic!("{component:?} (pid {pid}) not listed"));
        assert_eq!(process.argv, node.argv(component).unwrap());
        assert_eq!(process.comm, component.comm());
    }
    let controller = processes
        .iter()
        .find(|process| process.comm == "kube-controller")
        .expect("the kernel cuts kube-controller-manager to 15 bytes");
    assert_eq!(controller.argv[0], "kube-controller-manager");
    let apiserver = processes
        .iter()
        .find(|process| process.comm == "kube-apiserver")
        .unwrap();
    assert!(apiserver
        .command_line()
        .contains(" --authorization-mode=Node,RBAC --client-ca-file=/etc/kubernetes/pki/ca.crt "));
}

#[test]
fn a_worker_runs_only_the_kubelet_and_kube_proxy() {
    let node = FakeNode::start(NodeKind::Worker);
    let facts = live_facts_for(&node);
    assert_eq!(
        node.components(),
        vec![Component::Kubelet, Component::Proxy]
    );
    assert_eq!(facts.stat(fake_node::APISERVER_MANIFEST).unwrap(), None);
    let manifests = facts
        .list_tree("/etc/kubernetes/manifests")
        .unwrap()
        .to_vec();
    assert_eq!(manifests, vec!["/etc/kubernetes/manifests"]);
    let processes = facts.processes().unwrap();
    let kubelet = processes
        .iter()
        .find(|process| Some(process.pid) == node.pid(Component::Kubelet))
        .unwrap();
    assert_eq!(
        kubelet.argv,
        vec![
            "/usr/bin/kubelet",
            "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
            "--kubeconfig=/etc/kubernetes/kubelet.conf",
            "--config=/var/lib/kubelet/config.yaml",
            "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
            "--pod-infra-container-image=registry.k8s.io/pause:3.9",
        ]
    );
    assert_eq!(facts.identity().name, "worker-1");
}

#[test]
fn live_facts_stat_node_files_with_modes_and_the_nodes_owner_names() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let facts = live_facts_for(&node);

    let manifest = facts.stat(fake_node::APISERVER_MANIFEST).unwrap().unwrap();
    assert_eq!(
        (manifest.kind, manifest.mode_text()),
        (FileKind::File, "600".into())
    );
    let ca = facts.stat("/etc/kubernetes/pki/ca.crt").unwrap().unwrap();
    assert_eq!(ca.mode_text(), "644");
    let kubelet_config = facts.stat(fake_node::KUBELET_CONFIG).unwrap().unwrap();
    assert_eq!(kubelet_config.mode_text(), "644");

    let data_dir = facts.stat(fake_node::ETCD_DATA_DIR).unwrap().unwrap();
    assert_eq!(
        (data_dir.kind, data_dir.mode_text()),
        (FileKind::Dir, "700".into())
    );
    // The symlink kubelet-client-current.pem is followed, to a key file.
    let current = facts
        .stat("/var/lib/kubelet/pki/kubelet-client-current.pem")
        .unwrap()
        .unwrap();
    assert_eq!(
        (current.kind, current.mode_text()),
        (FileKind::File, "600".into())
    );

    let unit = facts
        .stat("/lib/systemd/system/kubelet.service")
        .unwrap()
        .expect("/lib is a link to usr/lib inside the root");
    assert_eq!(
        (unit.kind, unit.mode_text()),
        (FileKind::File, "644".into())
    );

    if node.owners_applied() {
        assert_eq!(manifest.owner_text(), "root:root");
        // uid 2379 exists only in the node's own /etc/passwd, not on this machine.
        assert_eq!(
            (data_dir.uid, data_dir.gid),
            (fake_node::ETCD_UID, fake_node::ETCD_GID)
        );
        assert_eq!(data_dir.owner_text(), "etcd:etcd");
    } else {
        support::missing("not root: the fake node's owners were not applied, so the owner assertions did not run");
    }
}

#[test]
fn live_facts_read_content_and_list_trees_as_find_does() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let facts = live_facts_for(&node);

    let manifest = facts
        .read_file(fake_node::APISERVER_MANIFEST)
        .unwrap()
        .unwrap();
    assert!(manifest.contains("    - kube-apiserver\n    - --advertise-address=192.168.1.10\n"));
    let config = facts.read_file(fake_node::KUBELET_CONFIG).unwrap().unwrap();
    assert!(config.contains("authentication:\n  anonymous:\n    enabled: false\n"));
    assert_eq!(
        facts.read_file("/etc/kubernetes/absent.conf").unwrap(),
        None
    );

    let etcd_pki = facts
        .list_tree("/etc/kubernetes/pki/etcd")
        .unwrap()
        .to_vec();
    assert_eq!(
        etcd_pki,
        vec![
            "/etc/kubernetes/pki/etcd",
            "/etc/kubernetes/pki/etcd/ca.crt",
            "/etc/kubernetes/pki/etcd/ca.key",
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
            "/etc/kubernetes/pki/etcd/healthcheck-client.key",
            "/etc/kubernetes/pki/etcd/peer.crt",
            "/etc/kubernetes/pki/etcd/peer.key",
            "/etc/kubernetes/pki/etcd/server.crt",
            "/etc/kubernetes/pki/etcd/server.key",
        ]
    );
    let keys = facts
        .list_tree(fake_node::PKI_DIR)
        .unwrap()
        .iter()
        .filter(|path| path.ends_with(".key"))
        .count();
    assert_eq!(keys, 11);
}

#[test]
fn a_shell_audit_runs_under_the_root() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let facts = live_facts_for(&node);
    let command = format!(
        "stat -c permissions=%a {}{}",
        facts.shell_path_prefix(),
        fake_node::APISERVER_MANIFEST
    );
    let output = facts.run_shell(&shell(command)).unwrap();
    assert_eq!(output.output, "permissions=600\n");
    assert_eq!(output.exit_code, 0);

    let ps = facts
        .run_shell(&shell(
            "ps -C kube-controller -o cmd --no-headers".to_string(),
        ))
        .unwrap();
    assert!(
        ps.output
            .starts_with("kube-controller-manager --allocate-node-cidrs=true"),
        "{ps:?}"
    );
}

#[test]
fn a_shell_audit_that_outlives_its_timeout_is_stopped_quickly() {
    let facts = LiveFacts::new(LiveOptions {
        shell_timeout: Duration::from_millis(300),
        ..LiveOptions::default()
    });
    let started = Instant::now();
    let error = facts.run_shell(&shell("sleep 10".to_string())).unwrap_err();
    assert!(matches!(error, FactError::Timeout { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn builder_knobs_change_modes_owners_and_flags_in_files_and_processes() {
    let node = FakeNode::builder(NodeKind::ControlPlane)
        .mode(fake_node::APISERVER_MANIFEST, 0o644)
        .owner(fake_node::ADMIN_CONF, 1, 1)
        .set_flag(Component::ApiServer, "anonymous-auth", "true")
        .set_flag(Component::ApiServer, "--authorization-mode", "AlwaysAllow")
        .drop_flag(Component::ApiServer, "enable-admission-plugins")
        .set_flag(Component::Kubelet, "read-only-port", "10255")
        .set_flag(Component::Kubelet, "config", "/etc/kubelet/other.yaml")
        .not_running(Component::Scheduler)
        .env(Component::Etcd, "ETCD_UNSUPPORTED_ARCH", "arm64")
        .start();
    let facts = live_facts_for(&node);

    let manifest = facts.stat(fake_node::APISERVER_MANIFEST).unwrap().unwrap();
    assert_eq!(manifest.mode_text(), "644");
    if node.owners_applied() {
        let admin = facts.stat(fake_node::ADMIN_CONF).unwrap().unwrap();
        assert_eq!(admin.owner_text(), "daemon:daemon");
    }

    let apiserver_argv = node.argv(Component::ApiServer).unwrap();
    assert!(apiserver_argv.contains(&"--anonymous-auth=true".to_string()));
    assert!(apiserver_argv.contains(&"--authorization-mode=AlwaysAllow".to_string()));
    assert!(!apiserver_argv
        .iter()
        .any(|arg| arg.starts_with("--enable-admission-plugins")));
    let text = facts
        .read_file(fake_node::APISERVER_MANIFEST)
        .unwrap()
        .unwrap();
    assert!(text.contains("    - --authorization-mode=AlwaysAllow\n"));
    assert!(text.contains("    - --anonymous-auth=true\n"));
    assert!(!text.contains("enable-admission-plugins"));

    let kubelet = node.argv(Component::Kubelet).unwrap();
    assert_eq!(kubelet.last().unwrap(), "--read-only-port=10255");
    assert!(kubelet.contains(&"--config=/etc/kubelet/other.yaml".to_string()));
    let extra = facts
        .read_file(fake_node::KUBELET_EXTRA_ARGS_FILE)
        .unwrap()
        .unwrap();
    assert_eq!(extra, "KUBELET_EXTRA_ARGS=\"--read-only-port=10255\"\n");
    let drop_in = facts
        .read_file(fake_node::KUBELET_DROP_IN)
        .unwrap()
        .unwrap();
    assert!(
        drop_in.contains("Environment=\"KUBELET_CONFIG_ARGS=--config=/etc/kubelet/other.yaml\"")
    );

    let processes = facts.processes().unwrap();
    assert!(!processes
        .iter()
        .any(|process| process.comm == "kube-scheduler"));
    assert!(facts.stat(fake_node::SCHEDULER_MANIFEST).unwrap().is_some());
    let etcd_pid = node.pid(Component::Etcd).unwrap();
    let environ = std::fs::read(format!("/proc/{etcd_pid}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains("ETCD_UNSUPPORTED_ARCH=arm64"));
}

#[test]
fn kubeconfig_credentials_are_valid_base64_carrying_the_secret_marker() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let facts = live_facts_for(&node);
    let admin = facts.read_file(fake_node::ADMIN_CONF).unwrap().unwrap();
    assert!(admin.contains(fake_node::SECRET_MARKER));

    let decode = format!(
        "sed -n 's/^ *client-key-data: //p' {}{} | base64 -d",
        facts.shell_path_prefix(),
        fake_node::ADMIN_CONF
    );
    let decoded = facts.run_shell(&shell(decode)).unwrap();
    assert_eq!(decoded.exit_code, 0, "{decoded:?}");
    assert!(decoded
        .output
        .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert!(decoded.output.ends_with("-----END RSA PRIVATE KEY-----\n"));

    let key = facts
        .read_file("/etc/kubernetes/pki/apiserver.key")
        .unwrap()
        .unwrap();
    assert!(key.contains(fake_node::SECRET_MARKER));
    let cert = facts
        .read_file("/etc/kubernetes/pki/apiserver.crt")
        .unwrap()
        .unwrap();
    assert!(cert.contains(fake_node::CERT_MARKER) && !cert.contains(fake_node::SECRET_MARKER));
}

#[test]
fn dropping_a_fake_node_stops_its_processes_and_removes_its_root() {
    let node = FakeNode::start(NodeKind::Worker);
    let pid = node.pid(Component::Kubelet).unwrap();
    let root = node.root().to_path_buf();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(node);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(!root.exists());
}

#[test]
fn the_live_node_lock_excludes_a_second_holder_until_released() {
    let first = LiveNodeLock::acquire();
    let (sender, receiver) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _second = LiveNodeLock::acquire();
        sender.send(Instant::now()).unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(receiver.try_recv().is_err(), "second holder got the lock");
    let released = Instant::now();
    drop(first);
    let acquired = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(acquired >= released);
    waiter.join().unwrap();
}

#[test]
fn every_yaml_file_of_the_fake_node_parses_and_manifests_match_the_processes() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let facts = live_facts_for(&node);
    for component in [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Etcd,
    ] {
        let path = component.manifest_path().unwrap();
        let text = facts.read_file(path).unwrap().unwrap();
        let pod: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"));
        let command: Vec<String> =
            serde_json::from_value(pod["spec"]["containers"][0]["command"].clone()).unwrap();
        assert_eq!(command, node.argv(component).unwrap(), "{path}");
        assert_eq!(pod["metadata"]["namespace"], "kube-system");
    }
    for path in [
        fake_node::KUBELET_CONFIG,
        fake_node::KUBELET_KUBECONFIG,
        fake_node::ADMIN_CONF,
        "/etc/kubernetes/super-admin.conf",
        "/etc/kubernetes/controller-manager.conf",
        "/etc/kubernetes/scheduler.conf",
    ] {
        let text = facts.read_file(path).unwrap().unwrap();
        let document: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"));
        assert!(document["kind"].is_string(), "{path}");
    }
}

#[test]
#[ignore = "prints a fake node's files for a human to read"]
fn print_fake_node_files() {
    let node = FakeNode::start(NodeKind::ControlPlane);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("cd \"$0\" && find . -type f -o -type l | sort | xargs ls -ln && cat etc/kubernetes/manifests/etcd.yaml etc/kubernetes/admin.conf usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf var/lib/kubelet/kubeadm-flags.env")
        .arg(node.root())
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
}
