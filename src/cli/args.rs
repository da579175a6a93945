//! Arguments shared by the commands that read a node (`scan`, `collect`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::definitions::tree::BenchmarkTree;
use crate::engine::choose::Request;
use crate::facts::bounded;
use crate::facts::kubectl::KubectlOptions;
use crate::facts::live::LiveOptions;

// Which benchmark tree, benchmark and targets.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    /// A kube-bench-format benchmark tree to use instead of the embedded one.
    #[arg(long, value_name = "DIR", env = "CISGATE_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
    /// The benchmark to run (e.g. cis-1.12); default: chosen from the Kubernetes version.
    #[arg(long, value_name = "NAME", conflicts_with = "k8s_version")]
    pub benchmark: Option<String>,
    /// The Kubernetes version (X.Y) that chooses the benchmark through the version mapping.
    #[arg(long = "k8s-version", value_name = "X.Y")]
    pub k8s_version: Option<String>,
    /// Targets to run (master, node, etcd, controlplane, policies); default: what the node is.
    #[arg(long, value_delimiter = ',', value_name = "TARGET,...")]
    pub targets: Vec<String>,
}

impl SelectionArgs {
    pub fn tree(&self) -> anyhow::Result<BenchmarkTree> {
        Ok(match &self.config_dir {
            Some(dir) => BenchmarkTree::directory(dir)?,
            None => BenchmarkTree::Embedded,
        })
    }

    pub fn request(&self) -> Request {
        Request {
            benchmark: self.benchmark.clone(),
            k8s_version: self.k8s_version.clone(),
            targets: self.targets.clone(),
        }
    }
}

// How to read the node this runs on.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Where the node's filesystem is mounted (`/host` in a pod with the host mounted).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The node's name in reports (default: its hostname).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Seconds one shell audit may run before it is stopped (the check is then ERROR).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub shell_timeout: u64,
    /// The kubeconfig kubectl uses for API objects (default: kubectl's own resolution).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubectl program.
    #[arg(long, value_name = "PATH", default_value = "kubectl")]
    pub kubectl: PathBuf,
}

impl LiveArgs {
    /// `--root` must hold a node's root filesystem: a directory with `etc/` in it. A mistyped
    /// root would otherwise read as a node where every file is "not present".
    pub fn ensure_root_is_a_node(&self) -> anyhow::Result<()> {
        let root = &self.root;
        if !root.is_dir() {
            anyhow::bail!("--root {}: no such directory", root.display());
        }
        if !root.join("etc").is_dir() {
            anyhow::bail!(
                "--root {}: not a node's root filesystem (it has no etc/ directory); \
                 mount the host's / there (e.g. a hostPath volume at /host) or pass the right path",
                root.display()
            );
        }
        Ok(())
    }

    pub fn options(&self) -> LiveOptions {
        LiveOptions {
            root: self.root.clone(),
            shell_timeout: Duration::from_secs(self.shell_timeout),
            kubectl: KubectlOptions {
                binary: self.kubectl.clone(),
                kubeconfig: self.kubeconfig.clone(),
                ..KubectlOptions::default()
            },
            node_name: self.node_name.clone(),
            ..LiveOptions::default()
        }
    }
}

// Bounds on what is read from a node or a snapshot (docs/security.md).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// The largest node file read (a manifest, a kubelet config, etc/passwd); a larger one
    /// is an error for the checks that read it. Binary units: 512K, 16M, 1G.
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// The largest snapshot file, and the most a compressed one may inflate to; a larger
    /// one is an error for that node.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_snapshot_size: u64,
}

impl LimitArgs {
    /// Sets the limits for the whole run (before anything is read).
    pub fn apply(&self) {
        bounded::set_limits(self.max_file_size, self.max_snapshot_size);
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    bounded::parse_size(text)
}
