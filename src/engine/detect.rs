//! What a node is: its Kubernetes version and which targets apply to it.

use std::sync::LazyLock;

use regex::Regex;

use crate::definitions::config::{BenchmarkConfig, FileKind};
use crate::definitions::select::KubernetesVersion;
use crate::facts::Facts;

use super::substitute::running_binary;

/// Static pod manifests whose image tag tells the Kubernetes version.
const VERSIONED_MANIFESTS: &[&str] = &[
    "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "/etc/kubernetes/manifests/kube-controller-manager.yaml",
    "/etc/kubernetes/manifests/kube-scheduler.yaml",
];

/// A control-plane image and its tag. Compiled once per process: compiling it for every
/// node was a fifth of a fleet scan.
static IMAGE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"image:\s*\S*kube-[a-z-]+:(v\d+\.\d+[^\s]*)").expect("valid regex")
});

/// The node's Kubernetes version from what the facts hold: the image tag of a control-plane
/// static pod, else the version recorded for the node (a snapshot's metadata).
pub fn kubernetes_version(facts: &dyn Facts) -> Option<KubernetesVersion> {
    let from_manifest = VERSIONED_MANIFESTS.iter().find_map(|path| {
        let text = facts.read_file(path).ok()??;
        let tag = IMAGE_TAG.captures(&text)?.get(1)?.as_str().to_owned();
        KubernetesVersion::parse(&tag, format!("the image tag {tag} in {path}"))
    });
    from_manifest.or_else(|| {
        let version = facts.identity().kubernetes_version?;
        KubernetesVersion::parse(&version, "the version recorded for the node")
    })
}

/// Which of a benchmark's targets apply to this node: the control plane when its
/// components run or their manifests exist, `node` when a kubelet runs or is configured,
/// `etcd` when etcd runs or has a manifest, `policies` when API objects can be read.
pub fn applicable_targets(
    config: &BenchmarkConfig,
    targets: &[String],
    facts: &dyn Facts,
) -> Vec<String> {
    let roles = facts.identity().roles;
    targets
        .iter()
        .filter(|target| role_names_target(&roles, target) || target_applies(config, target, facts))
        .cloned()
        .collect()
}

/// Whether the node's recorded roles (a snapshot's metadata, or what `collect` ran) name
/// a target: `control-plane` the control-plane targets, `etcd` etcd, `worker` node.
fn role_names_target(roles: &[String], target: &str) -> bool {
    roles.iter().any(|role| match role.as_str() {
        "control-plane" | "master" => target == "master" || target == "controlplane",
        "etcd" => target == "etcd",
        "worker" | "node" => target == "node",
        _ => false,
    })
}

fn target_applies(config: &BenchmarkConfig, target: &str, facts: &dyn Facts) -> bool {
    match target {
        "policies" => facts.api_reachable(),
        "managedservices" => false,
        _ => {
            let processes = facts.processes().unwrap_or_default();
            config
                .components(target)
                .iter()
                .filter(|c| !c.optional && (!c.bins.is_empty() || !c.markers.is_empty()))
                .any(|component| {
                    running_binary(&component.bins, &processes).is_some()
                        || component
                            .markers
                            .iter()
                            .any(|path| facts.stat(path).ok().flatten().is_some())
                        || component
                            .files
                            .iter()
                            .filter(|(kind, _, _)| *kind == FileKind::Conf)
                            .flat_map(|(_, candidates, _)| candidates)
                            .any(|path| {
                                path.contains("/manifests/")
                                    && facts.stat(path).ok().flatten().is_some()
                            })
                })
        }
    }
}

/// Roles for the report, from the targets that apply.
pub fn roles_of(targets: &[String]) -> Vec<String> {
    let mut roles = Vec::new();
    if targets.iter().any(|t| t == "master" || t == "controlplane") {
        roles.push("control-plane".to_owned());
    }
    if targets.iter().any(|t| t == "etcd") {
        roles.push("etcd".to_owned());
    }
    if targets.iter().any(|t| t == "node") {
        roles.push("worker".to_owned());
    }
    roles
}
