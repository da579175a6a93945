//! A fake Kubernetes node for live-scan tests, snapshot parity tests and benchmarks.
//!
//! [`FakeNode::start`] lays out a temporary root the way `kubeadm init` (control plane) or
//! `kubeadm join` (worker) leaves a node — static pod manifests, kubeconfigs, PKI, the
//! kubelet's config, systemd unit and flag files, `/etc/passwd` and `/etc/group` — with
//! real modes and owners, then starts a sleeper program under each component's name with
//! the same command line its manifest or unit gives it. Scan it with `--root <root>`.
//!
//! **Serialize**: a live scan sees every process on the machine, so two fake nodes at
//! once would confuse each other. A `FakeNode` holds [`LiveNodeLock`] (an exclusive lock
//! on a file in the temp dir) for its whole life, which serializes fake nodes across
//! threads *and* test binaries. A test that scans this machine without a fake node (and
//! expects no components) takes [`LiveNodeLock::acquire`] itself.
//!
//! Use from a test: `#[path = "support/fake_node.rs"] mod fake_node;`. The sleeper is the
//! `fake-k8s-component` example, which `cargo test` builds; when only one test target was
//! built (`cargo test --test x`) it is compiled here with `rustc` instead.
//!
//! Owners: running as root, files get their owners (`etcd:etcd` for the etcd data dir);
//! otherwise chown is skipped and [`FakeNode::owners_applied`] says so.
#![allow(dead_code)] // each test binary uses its own part of this file

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// In every private key, client key and token the fake node holds (never in certificates):
/// a snapshot or report containing it has leaked a secret.
pub const SECRET_MARKER: &str = "CISGATEFAKESECRET";
/// In every certificate the fake node holds (public, fine to record).
pub const CERT_MARKER: &str = "CISGATEFAKECERT";

pub const ETCD_UID: u32 = 2379;
pub const ETCD_GID: u32 = 2379;

pub const APISERVER_MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";
pub const CONTROLLER_MANAGER_MANIFEST: &str =
    "/etc/kubernetes/manifests/kube-controller-manager.yaml";
pub const SCHEDULER_MANIFEST: &str = "/etc/kubernetes/manifests/kube-scheduler.yaml";
pub const ETCD_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
pub const KUBELET_SERVICE: &str = "/usr/lib/systemd/system/kubelet.service";
pub const KUBELET_DROP_IN: &str = "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf";
pub const KUBEADM_FLAGS_ENV: &str = "/var/lib/kubelet/kubeadm-flags.env";
pub const KUBELET_EXTRA_ARGS_FILE: &str = "/etc/default/kubelet";
pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
pub const ETCD_DATA_DIR: &str = "/var/lib/etcd";
pub const PKI_DIR: &str = "/etc/kubernetes/pki";

const LOCK_FILE_NAME: &str = "cisgate-fake-node.lock";
const LOCK_WAIT: Duration = Duration::from_secs(600);
/// How long a wait for the lock goes unexplained.
const LOCK_QUIET: Duration = Duration::from_secs(5);
const DEFAULT_LIFETIME_SECS: u64 = 300;

/// What `kubeadm` made of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// After `kubeadm init`: control-plane static pods, etcd, kubelet and kube-proxy.
    ControlPlane,
    /// After `kubeadm join`: kubelet and kube-proxy.
    Worker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
    Etcd,
    Kubelet,
    Proxy,
}

impl Component {
    pub const ALL: [Component; 6] = [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Etcd,
        Component::Kubelet,
        Component::Proxy,
    ];

    /// The program's file name, as copied to `<root>/usr/bin/`.
    pub fn binary(self) -> &'static str {
        match self {
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Etcd => "etcd",
            Component::Kubelet => "kubelet",
            Component::Proxy => "kube-proxy",
        }
    }

    /// The kernel's command name (`/proc/<pid>/comm`): the file name cut to 15 bytes,
    /// which is why kube-bench lists `kube-controller` among the controller manager's bins.
    pub fn comm(self) -> &'static str {
        let binary = self.binary();
        &binary[..binary.len().min(15)]
    }

    /// `argv[0]` as the component is started on a kubeadm node.
    pub fn argv0(self) -> &'static str {
        match self {
            Component::Kubelet => "/usr/bin/kubelet",
            Component::Proxy => "/usr/local/bin/kube-proxy",
            other => other.binary(),
        }
    }

    /// The static pod manifest that starts the component, if any.
    pub fn manifest_path(self) -> Option<&'static str> {
        match self {
            Component::ApiServer => Some(APISERVER_MANIFEST),
            Component::ControllerManager => Some(CONTROLLER_MANAGER_MANIFEST),
            Component::Scheduler => Some(SCHEDULER_MANIFEST),
            Component::Etcd => Some(ETCD_MANIFEST),
            Component::Kubelet | Component::Proxy => None,
        }
    }

    fn on(self, kind: NodeKind) -> bool {
        kind == NodeKind::ControlPlane || matches!(self, Component::Kubelet | Component::Proxy)
    }
}

/// The kubelet's flags, kept where kubeadm puts them so unit files and argv agree.
#[derive(Debug, Clone)]
struct KubeletFlags {
    /// `KUBELET_KUBECONFIG_ARGS` in the drop-in.
    kubeconfig_args: Vec<String>,
    /// `KUBELET_CONFIG_ARGS` in the drop-in.
    config_args: Vec<String>,
    /// `KUBELET_KUBEADM_ARGS` in `/var/lib/kubelet/kubeadm-flags.env`.
    kubeadm_args: Vec<String>,
    /// `KUBELET_EXTRA_ARGS` in `/etc/default/kubelet` (flags a test adds land here).
    extra_args: Vec<String>,
}

impl KubeletFlags {
    fn groups_mut(&mut self) -> [&mut Vec<String>; 4] {
        [
            &mut self.kubeconfig_args,
            &mut self.config_args,
            &mut self.kubeadm_args,
            &mut self.extra_args,
        ]
    }

    fn all(&self) -> Vec<String> {
        [
            &self.kubeconfig_args,
            &self.config_args,
            &self.kubeadm_args,
            &self.extra_args,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        content: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Symlink {
        target: String,
    },
}

#[derive(Debug, Clone)]
enum Change {
    Mode(String, u32),
    Owner(String, u32, u32),
    Content(String, Vec<u8>),
    Dir(String, u32),
    Symlink(String, String),
    Remove(String),
    Replace(String, String, String),
}

/// Describes a fake node; [`FakeNodeBuilder::start`] makes it.
#[derive(Debug, Clone)]
pub struct FakeNodeBuilder {
    kind: NodeKind,
    node_name: String,
    address: String,
    flags: BTreeMap<Component, Vec<String>>,
    kubelet: KubeletFlags,
    not_running: BTreeSet<Component>,
    env: BTreeMap<Component, Vec<(String, String)>>,
    changes: Vec<Change>,
    lifetime_secs: u64,
}

impl FakeNodeBuilder {
    fn new(kind: NodeKind) -> Self {
        let (node_name, address) = match kind {
            NodeKind::ControlPlane => ("cp-1", "192.168.1.10"),
            NodeKind::Worker => ("worker-1", "192.168.1.21"),
        };
        let mut builder = FakeNodeBuilder {
            kind,
            node_name: node_name.to_string(),
            address: address.to_string(),
            flags: BTreeMap::new(),
            kubelet: default_kubelet_flags(),
            not_running: BTreeSet::new(),
            env: BTreeMap::new(),
            changes: Vec::new(),
            lifetime_secs: DEFAULT_LIFETIME_SECS,
        };
        for component in Component::ALL {
            if component != Component::Kubelet {
                let flags = builder.default_flags(component);
                builder.flags.insert(component, flags);
            }
        }
        builder
    }

    /// The node's name (`/etc/hostname`, etcd's member name, kube-proxy's hostname override).
    /// Call it first: flags already changed keep the old name.
    pub fn node_name(mut self, name: &str) -> Self {
        self.node_name = name.to_string();
        for component in Component::ALL {
            if component != Component::Kubelet {
                let flags = self.default_flags(component);
                self.flags.insert(component, flags);
            }
        }
        self
    }

    /// Sets `--<flag>=<value>` on a component: replaced where it is (manifest, unit drop-in
    /// or kubeadm-flags.env), else added (for the kubelet: to `/etc/default/kubelet`).
    pub fn set_flag(mut self, component: Component, flag: &str, value: &str) -> Self {
        let flag = dashed(flag);
        let arg = format!("{flag}={value}");
        let replaced = self
            .flag_groups(component)
            .into_iter()
            .any(|args| replace_flag(args, &flag, &arg));
        if !replaced {
            self.flag_groups(component)
                .pop()
                .expect("every component has a flag list")
                .push(arg);
        }
        self
    }

    /// Adds a raw argument (a bare `--flag`, or anything else) at the end of the command line.
    pub fn add_arg(mut self, component: Component, arg: &str) -> Self {
        self.flag_groups(component)
            .pop()
            .expect("every component has a flag list")
            .push(arg.to_string());
        self
    }

    /// Removes `--<flag>` in every spelling (`--flag=value`, bare `--flag`) wherever it is.
    pub fn drop_flag(mut self, component: Component, flag: &str) -> Self {
        let flag = dashed(flag);
        for args in self.flag_groups(component) {
            args.retain(|arg| !is_flag(arg, &flag));
        }
        self
    }

    /// Leaves the component's files in place but does not start it.
    pub fn not_running(mut self, component: Component) -> Self {
        self.not_running.insert(component);
        self
    }

    /// An environment variable of the component's process (`/proc/<pid>/environ`).
    pub fn env(mut self, component: Component, key: &str, value: &str) -> Self {
        self.env
            .entry(component)
            .or_default()
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Permission bits of a file or directory that exists on the node.
    pub fn mode(mut self, path: &str, mode: u32) -> Self {
        self.changes.push(Change::Mode(path.to_string(), mode));
        self
    }

    /// Owner of a file or directory that exists on the node (numeric ids; names come from
    /// the node's `/etc/passwd` and `/etc/group`).
    pub fn owner(mut self, path: &str, uid: u32, gid: u32) -> Self {
        self.changes.push(Change::Owner(path.to_string(), uid, gid));
        self
    }

    /// Writes a file (a new one is `0644 root:root`; an existing one keeps mode and owner).
    pub fn file(mut self, path: &str, content: &str) -> Self {
        self.changes.push(Change::Content(
            path.to_string(),
            content.as_bytes().to_vec(),
        ));
        self
    }

    /// Creates a directory (`root:root`).
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.changes.push(Change::Dir(path.to_string(), mode));
        self
    }

    /// Creates a symbolic link at `path` pointing to `target` (a node path when absolute).
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.changes
            .push(Change::Symlink(path.to_string(), target.to_string()));
        self
    }

    /// Removes a file or a directory with everything below it.
    pub fn remove(mut self, path: &str) -> Self {
        self.changes.push(Change::Remove(path.to_string()));
        self
    }

    /// Replaces text in a file's rendered content; `start` panics when `from` is not found,
    /// so a typo in a test cannot pass silently. Flags are better changed with
    /// [`FakeNodeBuilder::set_flag`], which keeps the manifest and the process in step.
    pub fn replace_in_file(mut self, path: &str, from: &str, to: &str) -> Self {
        self.changes.push(Change::Replace(
            path.to_string(),
            from.to_string(),
            to.to_string(),
        ));
        self
    }

    /// How long the component processes live at most if nothing kills them (default 300 s).
    pub fn lifetime_secs(mut self, seconds: u64) -> Self {
        self.lifetime_secs = seconds;
        self
    }

    /// The full command line each running component gets (argv[0] included).
    pub fn argv(&self, component: Component) -> Vec<String> {
        let flags = match component {
            Component::Kubelet => self.kubelet.all(),
            other => self.flags[&other].clone(),
        };
        std::iter::once(component.argv0().to_string())
            .chain(flags)
            .collect()
    }

    /// Takes the machine-wide lock, writes the node and starts its components.
    pub fn start(self) -> FakeNode {
        let lock = LiveNodeLock::acquire();
        let root = tempfile::Builder::new()
            .prefix("cisgate-fake-node-")
            .tempdir()
            .expect("create the fake node's root");
        let entries = self.entries();
        let owners_applied = is_root();
        write_entries(root.path(), &entries, owners_applied);
        let mut node = FakeNode {
            root,
            kind: self.kind,
            node_name: self.node_name.clone(),
            owners_applied,
            running: Vec::new(),
            _lock: lock,
        };
        let sleeper = fake_component_binary();
        for component in Component::ALL {
            if component.on(self.kind) && !self.not_running.contains(&component) {
                let running = self.spawn(component, node.root(), &sleeper);
                node.running.push(running);
            }
        }
        node
    }

    fn spawn(&self, component: Component, root: &Path, sleeper: &Path) -> RunningComponent {
        let program = root.join("usr/bin").join(component.binary());
        fs::create_dir_all(program.parent().unwrap()).unwrap();
        // A hard link is instant; a copy when the target dir is on another filesystem.
        if fs::hard_link(sleeper, &program).is_err() {
            fs::copy(sleeper, &program).expect("copy the fake component binary");
        }
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        let argv = self.argv(component);
        let child = Command::new(&program)
            .arg0(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env(
                "FAKE_COMPONENT_LIFETIME_SECS",
                self.lifetime_secs.to_string(),
            )
            .envs(self.env.get(&component).into_iter().flatten().cloned())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("start fake {}: {error}", component.binary()));
        wait_until_listed(child.id(), component.comm());
        RunningComponent {
            component,
            child,
            argv,
        }
    }

    fn flag_groups(&mut self, component: Component) -> Vec<&mut Vec<String>> {
        match component {
            Component::Kubelet => self.kubelet.groups_mut().into_iter().collect(),
            other => vec![self
                .flags
                .get_mut(&other)
                .expect("flags of every component")],
        }
    }

    /// Everything on the node: rendered defaults, then the test's changes in order.
    fn entries(&self) -> BTreeMap<String, Entry> {
        let mut entries = BTreeMap::new();
        self.render(&mut entries);
        for change in &self.changes {
            apply(&mut entries, change);
        }
        entries
    }

    fn default_flags(&self, component: Component) -> Vec<String> {
        let address = &self.address;
        let name = &self.node_name;
        let flags: Vec<String> = match component {
            Component::ApiServer => vec![
                format!("--advertise-address={address}"),
                "--allow-privileged=true".into(),
                "--authorization-mode=Node,RBAC".into(),
                "--client-ca-file=/etc/kubernetes/pki/ca.crt".into(),
                "--enable-admission-plugins=NodeRestriction".into(),
                "--enable-bootstrap-token-auth=true".into(),
                "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt".into(),
                "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt".into(),
                "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key".into(),
                "--etcd-servers=https://127.0.0.1:2379".into(),
                "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt"
                    .into(),
                "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key".into(),
                "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
                "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt".into(),
                "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key".into(),
                "--requestheader-allowed-names=front-proxy-client".into(),
                "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt".into(),
                "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
                "--requestheader-group-headers=X-Remote-Group".into(),
                "--requestheader-username-headers=X-Remote-User".into(),
                "--secure-port=6443".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                "--service-account-key-file=/etc/kubernetes/pki/sa.pub".into(),
                "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key".into(),
                "--service-cluster-ip-range=10.96.0.0/12".into(),
                "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt".into(),
                "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key".into(),
            ],
            Component::ControllerManager => vec![
                "--allocate-node-cidrs=true".into(),
                "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
                "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
                "--bind-address=127.0.0.1".into(),
                "--client-ca-file=/etc/kubernetes/pki/ca.crt".into(),
                "--cluster-cidr=10.244.0.0/16".into(),
                "--cluster-name=kubernetes".into(),
                "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt".into(),
                "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key".into(),
                "--controllers=*,bootstrapsigner,tokencleaner".into(),
                "--kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
                "--leader-elect=true".into(),
                "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt".into(),
                "--root-ca-file=/etc/kubernetes/pki/ca.crt".into(),
                "--service-account-private-key-file=/etc/kubernetes/pki/sa.key".into(),
                "--service-cluster-ip-range=10.96.0.0/12".into(),
                "--use-service-account-credentials=true".into(),
            ],
            Component::Scheduler => vec![
                "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf".into(),
                "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf".into(),
                "--bind-address=127.0.0.1".into(),
                "--kubeconfig=/etc/kubernetes/scheduler.conf".into(),
                "--leader-elect=true".into(),
            ],
            Component::Etcd => vec![
                format!("--advertise-client-urls=https://{address}:2379"),
                "--cert-file=/etc/kubernetes/pki/etcd/server.crt".into(),
                "--client-cert-auth=true".into(),
                "--data-dir=/var/lib/etcd".into(),
                "--experimental-initial-corrupt-check=true".into(),
                "--experimental-watch-progress-notify-interval=5s".into(),
                format!("--initial-advertise-peer-urls=https://{address}:2380"),
                format!("--initial-cluster={name}=https://{address}:2380"),
                "--key-file=/etc/kubernetes/pki/etcd/server.key".into(),
                format!("--listen-client-urls=https://127.0.0.1:2379,https://{address}:2379"),
                "--listen-metrics-urls=http://127.0.0.1:2381".into(),
                format!("--listen-peer-urls=https://{address}:2380"),
                format!("--name={name}"),
                "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt".into(),
                "--peer-client-cert-auth=true".into(),
                "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key".into(),
                "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt".into(),
                "--snapshot-count=10000".into(),
                "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt".into(),
            ],
            Component::Proxy => vec![
                "--config=/var/lib/kube-proxy/config.conf".into(),
                format!("--hostname-override={name}"),
            ],
            Component::Kubelet => default_kubelet_flags().all(),
        };
        flags
    }

    fn render(&self, entries: &mut BTreeMap<String, Entry>) {
        let control_plane = self.kind == NodeKind::ControlPlane;
        let server = format!("https://{}:6443", self.address);
        let mut add = |path: &str, content: String, mode: u32| {
            add_file(entries, path, content.into_bytes(), mode, 0, 0);
        };

        add("/etc/hostname", format!("{}\n", self.node_name), 0o644);
        add("/etc/passwd", PASSWD.to_string(), 0o644);
        add("/etc/group", GROUP.to_string(), 0o644);

        add(KUBELET_SERVICE, KUBELET_SERVICE_UNIT.to_string(), 0o644);
        add(KUBELET_DROP_IN, self.kubelet_drop_in(), 0o644);
        add(
            KUBEADM_FLAGS_ENV,
            format!(
                "KUBELET_KUBEADM_ARGS=\"{}\"\n",
                self.kubelet.kubeadm_args.join(" ")
            ),
            0o644,
        );
        if !self.kubelet.extra_args.is_empty() {
            add(
                KUBELET_EXTRA_ARGS_FILE,
                format!(
                    "KUBELET_EXTRA_ARGS=\"{}\"\n",
                    self.kubelet.extra_args.join(" ")
                ),
                0o644,
            );
        }
        add(KUBELET_CONFIG, KUBELET_CONFIGURATION.to_string(), 0o644);
        add(
            KUBELET_KUBECONFIG,
            kubelet_kubeconfig(&server, &self.node_name),
            0o600,
        );
        add(
            "/etc/kubernetes/pki/ca.crt",
            fake_pem("CERTIFICATE", CERT_MARKER, "ca"),
            0o644,
        );
        add(
            "/var/lib/kubelet/pki/kubelet.crt",
            fake_pem("CERTIFICATE", CERT_MARKER, "kubelet-serving"),
            0o644,
        );
        add(
            "/var/lib/kubelet/pki/kubelet.key",
            fake_pem("RSA PRIVATE KEY", SECRET_MARKER, "kubelet-serving"),
            0o600,
        );
        let rotated = "/var/lib/kubelet/pki/kubelet-client-2026-01-15-10-30-00.pem";
        add(
            rotated,
            fake_pem("CERTIFICATE", CERT_MARKER, "kubelet-client")
                + &fake_pem("EC PRIVATE KEY", SECRET_MARKER, "kubelet-client"),
            0o600,
        );
        entries.insert(
            "/var/lib/kubelet/pki/kubelet-client-current.pem".to_string(),
            Entry::Symlink {
                target: rotated.to_string(),
            },
        );
        // Merged /usr (Debian 12, Ubuntu 22.04+): kube-bench's `/lib/systemd/system/kubelet.service`
        // reaches the packaged unit through this relative link.
        entries.insert(
            "/lib".to_string(),
            Entry::Symlink {
                target: "usr/lib".to_string(),
            },
        );
        add_dir(entries, "/etc/kubernetes/manifests", 0o755, 0, 0);
        add_dir(entries, "/var/lib/kubelet", 0o700, 0, 0);

        if !control_plane {
            return;
        }
        for component in Component::ALL {
            if let Some(path) = component.manifest_path() {
                let manifest = self.manifest(component);
                add_file(entries, path, manifest.into_bytes(), 0o600, 0, 0);
            }
        }
        for (file, user) in [
            ("admin.conf", "kubernetes-admin"),
            ("super-admin.conf", "kubernetes-super-admin"),
            ("controller-manager.conf", "system:kube-controller-manager"),
            ("scheduler.conf", "system:kube-scheduler"),
        ] {
            let path = format!("/etc/kubernetes/{file}");
            let text = client_kubeconfig(&server, user, file);
            add_file(entries, &path, text.into_bytes(), 0o600, 0, 0);
        }
        for (name, has_key) in PKI_FILES {
            let path = format!("{PKI_DIR}/{name}");
            if name.ends_with(".pub") {
                let text = fake_pem("PUBLIC KEY", CERT_MARKER, name);
                add_file(entries, &path, text.into_bytes(), 0o600, 0, 0);
                continue;
            }
            let crt = format!("{path}.crt");
            let text = fake_pem("CERTIFICATE", CERT_MARKER, name);
            add_file(entries, &crt, text.into_bytes(), 0o644, 0, 0);
            if *has_key {
                let key = format!("{path}.key");
                let text = fake_pem("RSA PRIVATE KEY", SECRET_MARKER, name);
                add_file(entries, &key, text.into_bytes(), 0o600, 0, 0);
            }
        }
        add_file(
            entries,
            "/etc/kubernetes/pki/sa.key",
            fake_pem("RSA PRIVATE KEY", SECRET_MARKER, "sa").into_bytes(),
            0o600,
            0,
            0,
        );
        for dir in [
            ETCD_DATA_DIR,
            "/var/lib/etcd/member",
            "/var/lib/etcd/member/snap",
            "/var/lib/etcd/member/wal",
        ] {
            add_dir(entries, dir, 0o700, ETCD_UID, ETCD_GID);
        }
        for file in [
            "/var/lib/etcd/member/snap/db",
            "/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal",
        ] {
            add_file(
                entries,
                file,
                b"fake etcd data\n".to_vec(),
                0o600,
                ETCD_UID,
                ETCD_GID,
            );
        }
    }

    fn kubelet_drop_in(&self) -> String {
        format!(
            "# Note: This dropin only works with kubeadm and kubelet v1.11+\n\
             [Service]\n\
             Environment=\"KUBELET_KUBECONFIG_ARGS={}\"\n\
             Environment=\"KUBELET_CONFIG_ARGS={}\"\n\
             # This is a file that \"kubeadm init\" and \"kubeadm join\" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically\n\
             EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n\
             # This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use\n\
             # the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.\n\
             EnvironmentFile=-/etc/default/kubelet\n\
             ExecStart=\n\
             ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n",
            self.kubelet.kubeconfig_args.join(" "),
            self.kubelet.config_args.join(" "),
        )
    }

    fn manifest(&self, component: Component) -> String {
        let name = component.binary();
        let command: String = self
            .argv(component)
            .iter()
            .map(|arg| format!("    - {}\n", yaml_scalar(arg)))
            .collect();
        let address = &self.address;
        let (annotations, probe_host, probe_path, probe_port, scheme, cpu, mounts, volumes) =
            match component {
                Component::ApiServer => (
                    format!(
                        "    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: {address}:6443\n"
                    ),
                    address.as_str(),
                    "/livez",
                    "6443",
                    "HTTPS",
                    "250m",
                    APISERVER_MOUNTS,
                    APISERVER_VOLUMES,
                ),
                Component::ControllerManager => (
                    String::new(),
                    "127.0.0.1",
                    "/healthz",
                    "10257",
                    "HTTPS",
                    "200m",
                    CONTROLLER_MANAGER_MOUNTS,
                    CONTROLLER_MANAGER_VOLUMES,
                ),
                Component::Scheduler => (
                    String::new(),
                    "127.0.0.1",
                    "/healthz",
                    "10259",
                    "HTTPS",
                    "100m",
                    SCHEDULER_MOUNTS,
                    SCHEDULER_VOLUMES,
                ),
                Component::Etcd => (
                    format!(
                        "    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://{address}:2379\n"
                    ),
                    "127.0.0.1",
                    "/livez",
                    "2381",
                    "HTTP",
                    "100m",
                    ETCD_MOUNTS,
                    ETCD_VOLUMES,
                ),
                Component::Kubelet | Component::Proxy => unreachable!("no static pod"),
            };
        let image = match component {
            Component::Etcd => "registry.k8s.io/etcd:3.5.21-0".to_string(),
            _ => format!("registry.k8s.io/{name}:v1.33.1"),
        };
        let label = if component == Component::Etcd {
            "etcd"
        } else {
            name
        };
        let annotations = if annotations.is_empty() {
            String::new()
        } else {
            format!("  annotations:\n{annotations}")
        };
        format!(
            "apiVersion: v1\n\
             kind: Pod\n\
             metadata:\n\
             {annotations}  creationTimestamp: null\n\
             \x20 labels:\n\
             \x20   component: {label}\n\
             \x20   tier: control-plane\n\
             \x20 name: {name}\n\
             \x20 namespace: kube-system\n\
             spec:\n\
             \x20 containers:\n\
             \x20 - command:\n\
             {command}\
             \x20   image: {image}\n\
             \x20   imagePullPolicy: IfNotPresent\n\
             \x20   livenessProbe:\n\
             \x20     failureThreshold: 8\n\
             \x20     httpGet:\n\
             \x20       host: {probe_host}\n\
             \x20       path: {probe_path}\n\
             \x20       port: {probe_port}\n\
             \x20       scheme: {scheme}\n\
             \x20     initialDelaySeconds: 10\n\
             \x20     periodSeconds: 10\n\
             \x20     timeoutSeconds: 15\n\
             \x20   name: {name}\n\
             \x20   resources:\n\
             \x20     requests:\n\
             \x20       cpu: {cpu}\n\
             \x20   startupProbe:\n\
             \x20     failureThreshold: 24\n\
             \x20     httpGet:\n\
             \x20       host: {probe_host}\n\
             \x20       path: {probe_path}\n\
             \x20       port: {probe_port}\n\
             \x20       scheme: {scheme}\n\
             \x20     initialDelaySeconds: 10\n\
             \x20     periodSeconds: 10\n\
             \x20     timeoutSeconds: 15\n\
             \x20   volumeMounts:\n\
             {mounts}\
             \x20 hostNetwork: true\n\
             \x20 priority: 2000001000\n\
             \x20 priorityClassName: system-node-critical\n\
             \x20 securityContext:\n\
             \x20   seccompProfile:\n\
             \x20     type: RuntimeDefault\n\
             \x20 volumes:\n\
             {volumes}\
             status: {{}}\n"
        )
    }
}

fn default_kubelet_flags() -> KubeletFlags {
    KubeletFlags {
        kubeconfig_args: vec![
            "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf".into(),
            "--kubeconfig=/etc/kubernetes/kubelet.conf".into(),
        ],
        config_args: vec!["--config=/var/lib/kubelet/config.yaml".into()],
        kubeadm_args: vec![
            "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock".into(),
            "--pod-infra-container-image=registry.k8s.io/pause:3.9".into(),
        ],
        extra_args: Vec::new(),
    }
}

fn dashed(flag: &str) -> String {
    format!("--{}", flag.trim_start_matches('-'))
}

fn is_flag(arg: &str, flag: &str) -> bool {
    arg == flag
        || arg
            .strip_prefix(flag)
            .is_some_and(|rest| rest.starts_with('='))
}

fn replace_flag(args: &mut [String], flag: &str, replacement: &str) -> bool {
    match args.iter_mut().find(|arg| is_flag(arg, flag)) {
        Some(arg) => {
            *arg = replacement.to_string();
            true
        }
        None => false,
    }
}

/// A YAML plain scalar where that is safe (as kubeadm writes flags), else single-quoted.
fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.starts_with(|c: char| "'\"&*!|>%@`{}[]#,? ".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

// ---------------------------------------------------------------------------------------
// The tree on disk

fn add_file(
    entries: &mut BTreeMap<String, Entry>,
    path: &str,
    content: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
) {
    entries.insert(
        path.to_string(),
        Entry::File {
            content,
            mode,
            uid,
            gid,
        },
    );
}

fn add_dir(entries: &mut BTreeMap<String, Entry>, path: &str, mode: u32, uid: u32, gid: u32) {
    entries.insert(path.to_string(), Entry::Dir { mode, uid, gid });
}

fn apply(entries: &mut BTreeMap<String, Entry>, change: &Change) {
    let missing = |path: &str| -> ! { panic!("fake node: {path} does not exist on this node") };
    match change {
        Change::Mode(path, new_mode) => match entries.get_mut(path) {
            Some(Entry::File { mode, .. } | Entry::Dir { mode, .. }) => *mode = *new_mode,
            _ => missing(path),
        },
        Change::Owner(path, new_uid, new_gid) => match entries.get_mut(path) {
            Some(Entry::File { uid, gid, .. } | Entry::Dir { uid, gid, .. }) => {
                (*uid, *gid) = (*new_uid, *new_gid)
            }
            _ => missing(path),
        },
        Change::Content(path, new_content) => match entries.get_mut(path) {
            Some(Entry::File { content, .. }) => *content = new_content.clone(),
            _ => add_file(entries, path, new_content.clone(), 0o644, 0, 0),
        },
        Change::Dir(path, mode) => add_dir(entries, path, *mode, 0, 0),
        Change::Symlink(path, target) => {
            entries.insert(
                path.clone(),
                Entry::Symlink {
                    target: target.clone(),
                },
            );
        }
        Change::Remove(path) => {
            let below = format!("{path}/");
            let before = entries.len();
            entries.retain(|key, _| key != path && !key.starts_with(&below));
            if entries.len() == before {
                missing(path);
            }
        }
        Change::Replace(path, from, to) => match entries.get_mut(path) {
            Some(Entry::File { content, .. }) => {
                let text = String::from_utf8(content.clone()).expect("text file");
                assert!(
                    text.contains(from.as_str()),
                    "fake node: {path} does not contain {from:?}"
                );
                *content = text.replace(from.as_str(), to).into_bytes();
            }
            _ => missing(path),
        },
    }
}

fn write_entries(root: &Path, entries: &BTreeMap<String, Entry>, chown: bool) {
    // Directories first (in path order, parents before children), so files land in them;
    // their modes are set last, so a 0700 directory does not matter while writing.
    for (path, entry) in entries {
        if matches!(entry, Entry::Dir { .. }) {
            fs::create_dir_all(local(root, path)).unwrap();
        }
    }
    for (path, entry) in entries {
        let local = local(root, path);
        match entry {
            Entry::File {
                content,
                mode,
                uid,
                gid,
            } => {
                fs::create_dir_all(local.parent().unwrap()).unwrap();
                fs::write(&local, content).unwrap();
                set_mode_and_owner(&local, *mode, *uid, *gid, chown);
            }
            Entry::Symlink { target } => {
                fs::create_dir_all(local.parent().unwrap()).unwrap();
                symlink(target, &local).unwrap();
            }
            Entry::Dir { .. } => {}
        }
    }
    for (path, entry) in entries.iter().rev() {
        if let Entry::Dir { mode, uid, gid } = entry {
            set_mode_and_owner(&local(root, path), *mode, *uid, *gid, chown);
        }
    }
}

fn set_mode_and_owner(path: &Path, mode: u32, uid: u32, gid: u32, chown: bool) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    if chown {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
}

fn local(root: &Path, node_path: &str) -> PathBuf {
    root.join(node_path.trim_start_matches('/'))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// ---------------------------------------------------------------------------------------
// The running node

struct RunningComponent {
    component: Component,
    child: Child,
    argv: Vec<String>,
}

/// A fake node on disk with its components running; everything stops and is removed
/// when it is dropped.
pub struct FakeNode {
    root: tempfile::TempDir,
    kind: NodeKind,
    node_name: String,
    owners_applied: bool,
    running: Vec<RunningComponent>,
    _lock: LiveNodeLock,
}

impl FakeNode {
    /// A node exactly as kubeadm leaves it.
    pub fn start(kind: NodeKind) -> FakeNode {
        FakeNode::builder(kind).start()
    }

    /// A node to alter before it starts (modes, owners, flags, files).
    pub fn builder(kind: NodeKind) -> FakeNodeBuilder {
        FakeNodeBuilder::new(kind)
    }

    /// The node's root: pass it as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where a node path (`/etc/kubernetes/admin.conf`) is on this machine.
    pub fn host_path(&self, node_path: &str) -> PathBuf {
        local(self.root(), node_path)
    }

    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// False when not running as root: every file is then owned by the current user.
    pub fn owners_applied(&self) -> bool {
        self.owners_applied
    }

    /// The components started, in [`Component::ALL`] order.
    pub fn components(&self) -> Vec<Component> {
        self.running
            .iter()
            .map(|running| running.component)
            .collect()
    }

    pub fn pid(&self, component: Component) -> Option<u32> {
        self.find(component).map(|running| running.child.id())
    }

    /// The command line the component runs with (argv[0] included).
    pub fn argv(&self, component: Component) -> Option<&[String]> {
        self.find(component).map(|running| running.argv.as_slice())
    }

    /// Stops one component now (the others keep running).
    pub fn stop(&mut self, component: Component) {
        if let Some(index) = self.running.iter().position(|r| r.component == component) {
            let mut running = self.running.remove(index);
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }

    fn find(&self, component: Component) -> Option<&RunningComponent> {
        self.running
            .iter()
            .find(|running| running.component == component)
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        for running in &mut self.running {
            let _ = running.child.kill();
        }
        for running in &mut self.running {
            let _ = running.child.wait();
        }
        // Then the root is removed and the lock released (fields drop after this).
    }
}

/// Exclusive use of this machine's process table for a live scan: held by every
/// [`FakeNode`], across threads and test binaries (an OS file lock in the temp dir).
pub struct LiveNodeLock {
    _file: File,
}

impl LiveNodeLock {
    /// Waits (up to ten minutes) until no other fake node or live-scan test runs.
    pub fn acquire() -> LiveNodeLock {
        let path = std::env::temp_dir().join(LOCK_FILE_NAME);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
        let started = Instant::now();
        let mut said_why = false;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // The holder's pid, for the message of whoever waits next.
                    let _ = file.set_len(0);
                    let _ = (&file).write_all(std::process::id().to_string().as_bytes());
                    return LiveNodeLock { _file: file };
                }
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    if !said_why && started.elapsed() >= LOCK_QUIET {
                        // Straight to stderr: the test harness's capture would hide it
                        // until the test ends.
                        let _ = writeln!(std::io::stderr(), "{}", Self::waiting_message(&path));
                        said_why = true;
                    }
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(fs::TryLockError::WouldBlock) => panic!(
                    "gave up after {LOCK_WAIT:?}: {}",
                    Self::waiting_message(&path)
                ),
                Err(error) => panic!("lock {}: {error:?}", path.display()),
            }
        }
    }

    fn waiting_message(path: &Path) -> String {
        // The pid the last holder wrote; a lock taken otherwise (`flock`) leaves a stale one.
        let pid = fs::read_to_string(path).unwrap_or_default();
        let pid = pid.trim();
        let holder = if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
            format!("process {pid}")
        } else {
            "another process".to_string()
        };
        format!(
            "waiting for the machine-wide fake-node lock {} held by {holder}: live tests and \
             benches run one at a time on a machine, since their fake components share its \
             process table",
            path.display()
        )
    }
}

/// The sleeper binary: `$CISGATE_FAKE_COMPONENT` when set, else the `fake-k8s-component`
/// example cargo built next to this executable (`target/<profile>/examples/`, found from
/// `target/<profile>/deps/<test>` or `target/<profile>/examples/<bench>`), else compiled
/// once from its source with `rustc` (when cargo built only the test: `cargo test --test x`).
pub fn fake_component_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    static BUILDING: Mutex<()> = Mutex::new(());
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("CISGATE_FAKE_COMPONENT") {
                return PathBuf::from(path);
            }
            let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
            let exe = std::env::current_exe().expect("this executable's path");
            let exe_dir = exe.parent().expect("executable in a directory");
            let built = exe_dir
                .ancestors()
                .take(3)
                .map(|dir| dir.join("examples/fake-k8s-component"))
                .find(|candidate| candidate.is_file());
            built.unwrap_or_else(|| compile_fake_component(exe_dir.parent().unwrap_or(exe_dir)))
        })
        .clone()
}

fn compile_fake_component(profile_dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_component.rs");
    let out_dir = profile_dir.join("fake-k8s-component-rustc");
    fs::create_dir_all(&out_dir).unwrap();
    let binary = out_dir.join("fake-k8s-component");
    let partial = out_dir.join(format!("fake-k8s-component.{}", std::process::id()));
    let status = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&partial)
        .arg(&source)
        .status()
        .expect("run rustc to build the fake component");
    assert!(status.success(), "rustc failed on {}", source.display());
    fs::rename(&partial, &binary).unwrap();
    binary
}

// ---------------------------------------------------------------------------------------
// Content

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
etcd:x:2379:2379:etcd user:/var/lib/etcd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

const GROUP: &str = "\
root:x:0:
daemon:x:1:
systemd-network:x:998:
etcd:x:2379:
nogroup:x:65534:
";

/// The PKI kubeadm writes: base name, and whether a private key goes with the certificate.
const PKI_FILES: &[(&str, bool)] = &[
    ("ca", true),
    ("apiserver", true),
    ("apiserver-kubelet-client", true),
    ("apiserver-etcd-client", true),
    ("front-proxy-ca", true),
    ("front-proxy-client", true),
    ("sa.pub", false),
    ("etcd/ca", true),
    ("etcd/server", true),
    ("etcd/peer", true),
    ("etcd/healthcheck-client", true),
];

const KUBELET_SERVICE_UNIT: &str = "\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
";

const KUBELET_CONFIGURATION: &str = "\
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: \"\"
cpuManagerReconcilePeriod: 0s
evictionPressureTransitionPeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 0s
imageMaximumGCAge: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: \"0\"
    text:
      infoBufferSize: \"0\"
  verbosity: 0
memorySwap: {}
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
resolvConf: /run/systemd/resolve/resolv.conf
rotateCertificates: true
runtimeRequestTimeout: 0s
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 0s
syncFrequency: 0s
volumeStatsAggPeriod: 0s
";

const APISERVER_MOUNTS: &str = "    - mountPath: /etc/ssl/certs
      name: ca-certs
      readOnly: true
    - mountPath: /etc/ca-certificates
      name: etc-ca-certificates
      readOnly: true
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
    - mountPath: /usr/local/share/ca-certificates
      name: usr-local-share-ca-certificates
      readOnly: true
    - mountPath: /usr/share/ca-certificates
      name: usr-share-ca-certificates
      readOnly: true
";

const APISERVER_VOLUMES: &str = "  - hostPath:
      path: /etc/ssl/certs
      type: DirectoryOrCreate
    name: ca-certs
  - hostPath:
      path: /etc/ca-certificates
      type: DirectoryOrCreate
    name: etc-ca-certificates
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
  - hostPath:
      path: /usr/local/share/ca-certificates
      type: DirectoryOrCreate
    name: usr-local-share-ca-certificates
  - hostPath:
      path: /usr/share/ca-certificates
      type: DirectoryOrCreate
    name: usr-share-ca-certificates
";

const CONTROLLER_MANAGER_MOUNTS: &str = "    - mountPath: /etc/ssl/certs
      name: ca-certs
      readOnly: true
    - mountPath: /usr/libexec/kubernetes/kubelet-plugins/volume/exec
      name: flexvolume-dir
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
    - mountPath: /etc/kubernetes/controller-manager.conf
      name: kubeconfig
      readOnly: true
";

const CONTROLLER_MANAGER_VOLUMES: &str = "  - hostPath:
      path: /etc/ssl/certs
      type: DirectoryOrCreate
    name: ca-certs
  - hostPath:
      path: /usr/libexec/kubernetes/kubelet-plugins/volume/exec
      type: DirectoryOrCreate
    name: flexvolume-dir
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
  - hostPath:
      path: /etc/kubernetes/controller-manager.conf
      type: FileOrCreate
    name: kubeconfig
";

const SCHEDULER_MOUNTS: &str = "    - mountPath: /etc/kubernetes/scheduler.conf
      name: kubeconfig
      readOnly: true
";

const SCHEDULER_VOLUMES: &str = "  - hostPath:
      path: /etc/kubernetes/scheduler.conf
      type: FileOrCreate
    name: kubeconfig
";

const ETCD_MOUNTS: &str = "    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
";

const ETCD_VOLUMES: &str = "  - hostPath:
      path: /etc/kubernetes/pki/etcd
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
";

/// A kubeconfig with embedded client credentials, as kubeadm writes admin.conf & co.
fn client_kubeconfig(server: &str, user: &str, file: &str) -> String {
    let ca = fake_base64_pem("CERTIFICATE", CERT_MARKER, "ca");
    let cert = fake_base64_pem("CERTIFICATE", CERT_MARKER, file);
    let key = fake_base64_pem("RSA PRIVATE KEY", SECRET_MARKER, file);
    format!(
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n\
         \x20   certificate-authority-data: {ca}\n\
         \x20   server: {server}\n\
         \x20 name: kubernetes\n\
         contexts:\n\
         - context:\n\
         \x20   cluster: kubernetes\n\
         \x20   user: {user}\n\
         \x20 name: {user}@kubernetes\n\
         current-context: {user}@kubernetes\n\
         kind: Config\n\
         preferences: {{}}\n\
         users:\n\
         - name: {user}\n\
         \x20 user:\n\
         \x20   client-certificate-data: {cert}\n\
         \x20   client-key-data: {key}\n"
    )
}

/// The kubelet's kubeconfig after TLS bootstrap: credentials in the rotated PEM file.
fn kubelet_kubeconfig(server: &str, node_name: &str) -> String {
    let ca = fake_base64_pem("CERTIFICATE", CERT_MARKER, "ca");
    format!(
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n\
         \x20   certificate-authority-data: {ca}\n\
         \x20   server: {server}\n\
         \x20 name: kubernetes\n\
         contexts:\n\
         - context:\n\
         \x20   cluster: kubernetes\n\
         \x20   user: system:node:{node_name}\n\
         \x20 name: system:node:{node_name}@kubernetes\n\
         current-context: system:node:{node_name}@kubernetes\n\
         kind: Config\n\
         preferences: {{}}\n\
         users:\n\
         - name: system:node:{node_name}\n\
         \x20 user:\n\
         \x20   client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n\
         \x20   client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n"
    )
}

/// A PEM block whose body carries `marker` and the item's name.
fn fake_pem(label: &str, marker: &str, name: &str) -> String {
    let tag: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_uppercase();
    format!(
        "-----BEGIN {label}-----\n\
         MIIFAKE{marker}{tag}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\
         {marker}BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB==\n\
         -----END {label}-----\n"
    )
}

/// Base64 of a PEM block, as kubeconfigs embed it, which also contains `marker`
/// *literally*: base64 of the header (padded to a 3-byte boundary), the marker as a base64
/// chunk of its own, then base64 of the footer. The whole is valid base64.
fn fake_base64_pem(label: &str, marker: &str, name: &str) -> String {
    let mut header = format!("-----BEGIN {label}-----\nMII");
    while !header.len().is_multiple_of(3) {
        header.push('A');
    }
    let mut chunk: String = format!("{marker}{name}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    while !chunk.len().is_multiple_of(4) {
        chunk.push('A');
    }
    let footer = format!("\n-----END {label}-----\n");
    format!(
        "{}{chunk}{}",
        base64(header.as_bytes()),
        base64(footer.as_bytes())
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Waits (bounded) until /proc shows the component's own comm and command line, so a
/// scan started right after `start` sees every process.
fn wait_until_listed(pid: u32, comm: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let listed_comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if listed_comm.trim_end() == comm && !cmdline.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
