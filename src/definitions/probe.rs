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
    /// (Joined with `concat`: every check's result names its probe, and `format!` was a
    /// measurable part of a one-node scan.)
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
            Probe::FileContent { path } => ["probe file_content ", path].concat(),
            Probe::Process { bin } => ["probe process ", bin].concat(),
            Probe::KubeletConfig { bin, config } => {
                let mut text = String::from("probe kubelet_config");
                if let Some(bin) = bin {
                    text.extend([" bin=", bin]);
                }
                if let Some(config) = config {
                    text.extend([" config=", config]);
                }
                text
            }
            Probe::K3sArgs { component, config } => match config {
                Some(config) => ["probe k3s_args ", component, " config=", config].concat(),
                None => ["probe k3s_args ", component].concat(),
            },
            Probe::ApiQuery { kinds, jq } => {
                ["probe api_query ", &kinds.join(","), " | jq ", jq].concat()
            }
            Probe::StaticPodFile {
                manifest,
                path,
                show,
            } => [
                "probe static_pod_file ",
                path,
                " (",
                show.name(),
                ") in the pod of ",
                manifest,
            ]
            .concat(),
            Probe::ApiObjects { kind, jq } => match jq {
                Some(filter) => ["probe api_objects ", kind, " | jq ", filter].concat(),
                None => ["probe api_objects ", kind].concat(),
            },
        }
    }
}

fn describe_tree(name: &str, path: &str, glob: &Option<String>, recursive: bool) -> String {
    let mut text = ["probe ", name, " ", path].concat();
    match (glob, recursive) {
        (Some(glob), _) => text.extend([" (every path matching ", glob, ")"]),
        (None, true) => text.push_str(" (every path below it)"),
        (None, false) => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_probe_and_its_arguments() {
        let text = |t: &str| t.to_string();
        let cases = [
            (
                Probe::FileMode {
                    path: text("/etc/kubernetes/pki"),
                    glob: Some(text("*.key")),
                    recursive: false,
                },
                "probe file_mode /etc/kubernetes/pki (every path matching *.key)",
            ),
            (
                Probe::FileOwner {
                    path: text("/var/lib/etcd"),
                    glob: None,
                    recursive: true,
                },
                "probe file_owner /var/lib/etcd (every path below it)",
            ),
            (
                Probe::FileContent { path: text("/a") },
                "probe file_content /a",
            ),
            (
                Probe::KubeletConfig {
                    bin: Some(text("kubelet")),
                    config: Some(text("/c.yaml")),
                },
                "probe kubelet_config bin=kubelet config=/c.yaml",
            ),
            (
                Probe::ApiQuery {
                    kinds: vec![text("namespaces"), text("networkpolicies")],
                    jq: text(".x"),
                },
                "probe api_query namespaces,networkpolicies | jq .x",
            ),
            (
                Probe::StaticPodFile {
                    manifest: text("/m.yaml"),
                    path: text("/p"),
                    show: StaticPodShow::Mode,
                },
                "probe static_pod_file /p (mode) in the pod of /m.yaml",
            ),
            (
                Probe::ApiObjects {
                    kind: text("pods"),
                    jq: Some(text(".a")),
                },
                "probe api_objects pods | jq .a",
            ),
            (
                Probe::K3sArgs {
                    component: text("kubelet"),
                    config: None,
                },
                "probe k3s_args kubelet",
            ),
        ];
        for (probe, described) in cases {
            assert_eq!(probe.describe(), described);
        }
    }
}
