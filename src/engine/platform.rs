//! Which platform a node is on (EKS, GKE, AKS, RKE2, k3s, OpenShift, or none), from the
//! API server's version string or the node's own files, as the `platforms` section of the
//! top `config.yaml` describes them; and the platform's own version where it has one.

use crate::definitions::platform::{FileMatch, PlatformConfig};
use crate::definitions::select::KubernetesVersion;
use crate::facts::Facts;

/// A platform and what showed it.
#[derive(Debug, Clone)]
pub struct Detected<'a> {
    pub platform: &'a PlatformConfig,
    /// In words, e.g. `/etc/eks exists`, `the API server's version v1.31.4-eks-2d5f260`.
    pub evidence: Vec<String>,
}

/// What the evidence says.
#[derive(Debug, Clone)]
pub enum Finding<'a> {
    /// No platform's evidence: an upstream (kubeadm-like) node.
    None,
    One(Detected<'a>),
    /// Evidence for more than one platform.
    Conflict(Vec<Detected<'a>>),
}

/// Every platform whose evidence the node or the API server's version shows.
pub fn detect<'a>(
    platforms: &'a [PlatformConfig],
    facts: &dyn Facts,
    server_version: Option<&str>,
) -> Finding<'a> {
    let mut found: Vec<Detected> = platforms
        .iter()
        .filter_map(|platform| {
            let mut evidence = Vec::new();
            if let (Some(pattern), Some(version)) = (&platform.server_version, server_version) {
                if pattern.is_match(version) {
                    evidence.push(format!("the API server's version {version}"));
                }
            }
            evidence.extend(
                platform
                    .node_markers
                    .iter()
                    .filter_map(|marker| marker_evidence(marker, facts)),
            );
            (!evidence.is_empty()).then_some(Detected { platform, evidence })
        })
        .collect();
    match found.len() {
        0 => Finding::None,
        1 => Finding::One(found.remove(0)),
        _ => Finding::Conflict(found),
    }
}

/// `PATH exists` or `PATH matches REGEX`, when the marker holds on the node.
fn marker_evidence(marker: &FileMatch, facts: &dyn Facts) -> Option<String> {
    match &marker.regex {
        None => facts
            .stat(&marker.path)
            .ok()
            .flatten()
            .map(|_| format!("{} exists", marker.path)),
        Some(regex) => {
            let text = facts.read_file(&marker.path).ok()??;
            regex
                .is_match(&text)
                .then(|| format!("{} matches `{}`", marker.path, regex.as_str()))
        }
    }
}

/// The version the platform's own files tell (`version_from`): the first file that exists and
/// matches, its regex's first group as `MAJOR.MINOR`.
pub fn platform_version(platform: &PlatformConfig, facts: &dyn Facts) -> Option<KubernetesVersion> {
    platform.version_from.iter().find_map(|source| {
        let text = facts.read_file(&source.path).ok()??;
        let regex = source.regex.as_ref()?;
        let captured = regex.captures(&text)?.get(1)?.as_str().to_owned();
        KubernetesVersion::parse(&captured, format!("{} says {captured}", source.path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::platform::platforms_from;
    use crate::facts::snapshot_dir::SnapshotDirFacts;
    use serde_json::json;
    use std::path::Path;

    fn platforms() -> Vec<PlatformConfig> {
        let section = json!({
            "eks": {"title": "Amazon EKS", "control_plane": "managed",
                    "server_version": "^v?\\d+\\.\\d+\\.\\d+-eks-",
                    "node_markers": [{"path": "/etc/eks"}], "benchmarks": {"1.28": "eks-1.8.0"}},
            "openshift": {"title": "OpenShift", "control_plane": "nodes",
                    "node_markers": [{"path": "/etc/os-release", "regex": "(?m)^OPENSHIFT_VERSION="}],
                    "version_from": [{"path": "/etc/os-release", "regex": "(?m)^OPENSHIFT_VERSION=\"?(\\d+\\.\\d+)"}],
                    "versioned_by": "platform", "benchmarks": {"4.13": "rh-1.8"}}
        });
        platforms_from(Some(&section), Path::new("config.yaml"), true).unwrap()
    }

    fn node(files: &[(&str, &str)]) -> (tempfile::TempDir, SnapshotDirFacts) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cisgate-node.yaml"), "node: {name: n}\n").unwrap();
        for (path, text) in files {
            let file = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let facts = SnapshotDirFacts::open(dir.path()).unwrap();
        (dir, facts)
    }

    fn names(finding: &Finding) -> Vec<String> {
        match finding {
            Finding::None => vec![],
            Finding::One(d) => vec![d.platform.name.clone()],
            Finding::Conflict(all) => all.iter().map(|d| d.platform.name.clone()).collect(),
        }
    }

    #[test]
    fn a_marker_file_or_the_server_version_names_the_platform() {
        let platforms = platforms();
        let (_dir, eks) = node(&[("/etc/eks/release", "x")]);
        assert_eq!(names(&detect(&platforms, &eks, None)), ["eks"]);
        let (_dir, plain) = node(&[("/etc/hostname", "n")]);
        assert!(names(&detect(&platforms, &plain, None)).is_empty());
        let found = detect(&platforms, &plain, Some("v1.31.4-eks-2d5f260"));
        assert_eq!(names(&found), ["eks"]);
        let Finding::One(detected) = found else {
            panic!()
        };
        assert_eq!(
            detected.evidence,
            ["the API server's version v1.31.4-eks-2d5f260"]
        );
    }

    #[test]
    fn a_marker_with_a_regex_needs_the_content_and_gives_the_version() {
        let platforms = platforms();
        let (_dir, rhcos) = node(&[(
            "/etc/os-release",
            "ID=\"rhcos\"\nOPENSHIFT_VERSION=\"4.14\"\n",
        )]);
        assert_eq!(names(&detect(&platforms, &rhcos, None)), ["openshift"]);
        let version = platform_version(&platforms[1], &rhcos).unwrap();
        assert_eq!(version.major_minor, "4.14");
        let (_dir, debian) = node(&[("/etc/os-release", "ID=debian\n")]);
        assert!(names(&detect(&platforms, &debian, None)).is_empty());
    }

    #[test]
    fn evidence_for_two_platforms_is_a_conflict() {
        let platforms = platforms();
        let (_dir, both) = node(&[
            ("/etc/eks/release", "x"),
            ("/etc/os-release", "OPENSHIFT_VERSION=4.14\n"),
        ]);
        assert_eq!(
            names(&detect(&platforms, &both, None)),
            ["eks", "openshift"]
        );
    }
}
