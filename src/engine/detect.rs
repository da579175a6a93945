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
/// node was a fifth of a fleet scan. Only for text that is not ASCII (see [`image_tag`]).
static IMAGE_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"image:\s*\S*kube-[a-z-]+:(v\d+\.\d+[^\s]*)").expect("valid regex")
});

/// The node's Kubernetes version from what the facts hold: the image tag of a control-plane
/// static pod, else the version recorded for the node (a snapshot's metadata).
pub fn kubernetes_version(facts: &dyn Facts) -> Option<KubernetesVersion> {
    let from_manifest = VERSIONED_MANIFESTS.iter().find_map(|path| {
        let text = facts.read_file(path).ok()??;
        let tag = image_tag(&text)?.to_owned();
        KubernetesVersion::parse(&tag, format!("the image tag {tag} in {path}"))
    });
    from_manifest.or_else(|| {
        let version = facts.identity().kubernetes_version?;
        KubernetesVersion::parse(&version, "the version recorded for the node")
    })
}

/// What [`IMAGE_TAG`] captures. ASCII text (every manifest seen so far) is matched by hand:
/// compiling the regex was 3% of a one-node scan. Either way the match is the first
/// `image:` whose value holds `kube-<name>:v<digits>.<digits>`; the tag runs from that
/// `v` to the end of the value, after the last such `kube-` in it.
fn image_tag(text: &str) -> Option<&str> {
    if !text.is_ascii() {
        return IMAGE_TAG.captures(text)?.get(1).map(|tag| tag.as_str());
    }
    text.match_indices("image:").find_map(|(at, key)| {
        let value = text[at + key.len()..]
            .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        let end = value
            .find(|c: char| c.is_ascii_whitespace() || c == '\x0b')
            .unwrap_or(value.len());
        let value = &value[..end];
        value
            .rmatch_indices("kube-")
            .find_map(|(kube, prefix)| tag_after_component(&value[kube + prefix.len()..]))
    })
}

/// `[a-z-]+:(v\d+\.\d+.*)` at the start of `rest`: the captured tag.
fn tag_after_component(rest: &str) -> Option<&str> {
    let name = rest.len()
        - rest
            .trim_start_matches(|c: char| c.is_ascii_lowercase() || c == '-')
            .len();
    let tag = rest[name..].strip_prefix(':').filter(|_| name > 0)?;
    let digits =
        |text: &str| text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let major = tag.strip_prefix('v')?;
    let minor = major[digits(major)..]
        .strip_prefix('.')
        .filter(|_| digits(major) > 0)?;
    (digits(minor) > 0).then_some(tag)
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
                .target_components(target)
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
                            .filter(|file| file.kind == FileKind::Conf)
                            .flat_map(|file| &file.candidates)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_tag_is_found_by_hand_as_the_regex_finds_it() {
        let cases = [
            "    image: registry.k8s.io/kube-apiserver:v1.33.1\n",
            "image:registry.k8s.io/kube-apiserver:v1.33.1-rc.0+abc more",
            "image:\n  kube-scheduler:v1.30.2",
            "image:\x0bkube-scheduler:v1.30.2\x0bnext",
            "image: quay.io/kube-proxy:latest\nimage: kube-controller-manager:v1.29.0",
            "image: mirror/kube-x:v1.2/kube-apiserver:v1.31.0",
            "image: kube-apiserver:v1.31.0:kube-apiserver:junk",
            "image: kube-:v1.2 image: kube-a:v1. image: kube-b:v.1 image: kube-c:x1.2",
            "image: kube-Apiserver:v1.2",
            "image: kube-a-b-:v10.20",
            "no image here",
            "image: ",
            "",
        ];
        for text in cases {
            let by_regex = IMAGE_TAG
                .captures(text)
                .and_then(|c| c.get(1))
                .map(|tag| tag.as_str());
            assert_eq!(image_tag(text), by_regex, "{text:?}");
        }
        assert_eq!(
            image_tag("image: registry.k8s.io/kube-apiserver:v1.33.1 # \u{e9}"),
            Some("v1.33.1")
        );
    }
}
