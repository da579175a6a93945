//! Typed probes: side-effect-free questions to the facts layer, written in a
//! benchmark file where kube-bench would write a shell `audit`.
//! The syntax is documented in `docs/probes.md`.

use serde::{Deserialize, Serialize};

/// A probe as written in a benchmark file. Values have had `$variables` substituted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(tag = "probe", rename_all = "snake_case", deny_unknown_fields)]
pub enum Probe {
    /// `permissions=600` for the path (or for each path under it matching `glob`).
    FileMode {
        path: String,
        #[serde(default)]
        glob: Option<String>,
        #[serde(default)]
        recursive: bool,
    },
    /// `root:root` for the path (or for each path under it matching `glob`).
    FileOwner {
        path: String,
        #[serde(default)]
        glob: Option<String>,
        #[serde(default)]
        recursive: bool,
    },
    /// The file's content, for `path` tests; nothing when it does not exist.
    FileContent { path: String },
    /// The command line of each running process whose program is `bin`, one per line.
    Process { bin: String },
    /// The kubelet's effective configuration as JSON: its `--config` file (or `config`
    /// when the process has none), then its `--config-dir` drop-ins, then its flags.
    KubeletConfig {
        #[serde(default)]
        bin: Option<String>,
        #[serde(default)]
        config: Option<String>,
    },
    /// API objects of one kind, one line per object: `namespace/name`, or whatever the
    /// `jq` filter prints for that object (strings raw, other values as compact JSON).
    ApiObjects {
        kind: String,
        #[serde(default)]
        jq: Option<String>,
    },
    /// One `jq` filter over several kinds at once, for questions that join kinds
    /// (namespaces without a NetworkPolicy): the input is `{"<kind>": [objects], ...}`
    /// and each output is one line.
    ApiQuery { kinds: Vec<String>, jq: String },
    /// The command line k3s runs an embedded component with (`kube-apiserver`,
    /// `kube-controller-manager`, `kube-scheduler`, `kubelet`, `kube-proxy`), derived from
    /// k3s's config file (`config`, default `/etc/rancher/k3s/config.yaml`, plus its
    /// `config.yaml.d/` drop-ins) and k3s's defaults, as k3s logs it after `Running`.
    K3sArgs {
        component: String,
        #[serde(default)]
        config: Option<String>,
    },
    /// A file as a static pod's containers see it (`path`), found on the node through the
    /// `hostPath` volumes of the pod in `manifest`: its content, or its mode or owner as
    /// `file_mode`/`file_owner` print them.
    StaticPodFile {
        manifest: String,
        path: String,
        #[serde(default)]
        show: StaticPodShow,
    },
}

/// What `static_pod_file` prints about the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaticPodShow {
    /// The file's text.
    #[default]
    Content,
    /// `permissions=600`.
    Mode,
    /// `root:root`.
    Owner,
}

impl StaticPodShow {
    /// The name as written in a benchmark file.
    pub fn name(self) -> &'static str {
        match self {
            StaticPodShow::Content => "content",
            StaticPodShow::Mode => "mode",
            StaticPodShow::Owner => "owner",
        }
    }
}

impl Probe {
    /// A one-line description for evidence, e.g. `probe file_mode /etc/kubernetes/admin.conf`.
    pub fn describe(&self) -> String {
        match self {
            Probe::FileMode {
                path,
                glob,
                recursive,
            } => describe_tree("file_mode", path, glob, *recursive),
            Probe::FileOwner {
                path,
                glob,
                recursive,
            } => describe_tree("file_owner", path, glob, *recursive),
            Probe::FileContent { path } => format!("probe file_content {path}"),
            Probe::Process { bin } => format!("probe process {bin}"),
            Probe::KubeletConfig { bin, config } => {
                let mut text = String::from("probe kubelet_config");
                if let Some(bin) = bin {
                    text.push_str(&format!(" bin={bin}"));
                }
                if let Some(config) = config {
                    text.push_str(&format!(" config={config}"));
                }
                text
            }
            Probe::K3sArgs { component, config } => match config {
                Some(config) => format!("probe k3s_args {component} config={config}"),
                None => format!("probe k3s_args {component}"),
            },
            Probe::ApiQuery { kinds, jq } => {
                format!("probe api_query {} | jq {jq}", kinds.join(","))
            }
            Probe::StaticPodFile {
                manifest,
                path,
                show,
            } => format!(
                "probe static_pod_file {path} ({}) in the pod of {manifest}",
                show.name()
            ),
            Probe::ApiObjects { kind, jq } => match jq {
                Some(filter) => format!("probe api_objects {kind} | jq {filter}"),
                None => format!("probe api_objects {kind}"),
            },
        }
    }
}

fn describe_tree(name: &str, path: &str, glob: &Option<String>, recursive: bool) -> String {
    match (glob, recursive) {
        (Some(glob), _) => format!("probe {name} {path} (every path matching {glob})"),
        (None, true) => format!("probe {name} {path} (every path below it)"),
        (None, false) => format!("probe {name} {path}"),
    }
}
