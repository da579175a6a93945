//! Choosing the benchmark: `--benchmark`, or the Kubernetes version through the
//! version mapping (KUBE_BENCH_FORMAT.md §5.5), saying why in words.

use super::config::BenchmarkConfig;
use super::error::DefinitionError;
use super::tree::BenchmarkTree;

/// The chosen benchmark and the reason, for the report header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub benchmark: String,
    pub because: String,
}

/// A Kubernetes version and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesVersion {
    /// `major.minor`, e.g. `1.33`.
    pub major_minor: String,
    /// e.g. `--k8s-version`, `the kube-apiserver image tag in /etc/kubernetes/manifests/...`.
    pub source: String,
}

impl KubernetesVersion {
    /// Accepts `1.33`, `v1.33.2`, `1.33.2-eks-1234`, `1.33+`; `None` otherwise.
    pub fn parse(text: &str, source: impl Into<String>) -> Option<Self> {
        let text = text.trim().trim_start_matches('v');
        let mut parts = text.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor_text: String = parts
            .next()?
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let minor: u32 = minor_text.parse().ok()?;
        Some(KubernetesVersion {
            major_minor: format!("{major}.{minor}"),
            source: source.into(),
        })
    }
}

/// `--benchmark NAME`: it must exist in the tree.
pub fn by_name(tree: &BenchmarkTree, name: &str) -> Result<Selection, DefinitionError> {
    let available = tree.benchmark_names();
    if available.iter().any(|b| b == name) {
        Ok(Selection {
            benchmark: name.to_owned(),
            because: "chosen with --benchmark".into(),
        })
    } else {
        Err(DefinitionError::Selection(format!(
            "unknown benchmark `{name}` in the {} benchmark tree; available: {}",
            tree.describe(),
            available.join(", ")
        )))
    }
}

/// The benchmark the version mapping gives for a Kubernetes version. A version newer
/// than every mapping entry uses the newest entry below it (kube-bench counts the minor
/// version down); an older version with no entry stops with a message saying the ways on.
pub fn by_version(
    tree: &BenchmarkTree,
    config: &BenchmarkConfig,
    version: &KubernetesVersion,
) -> Result<Selection, DefinitionError> {
    let mapping = config.version_mapping();
    let (major, minor) = version
        .major_minor
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(|| {
            DefinitionError::Selection(format!(
                "`{}` is not a Kubernetes version (expected MAJOR.MINOR, e.g. 1.33)",
                version.major_minor
            ))
        })?;
    for candidate in (1..=minor).rev() {
        let key = format!("{major}.{candidate}");
        if let Some(benchmark) = mapping.get(&key) {
            let how = if candidate == minor {
                format!("Kubernetes {key} ({}) maps to {benchmark}", version.source)
            } else {
                format!(
                    "Kubernetes {} ({}) has no entry in the version mapping; the nearest lower version {key} maps to {benchmark}",
                    version.major_minor, version.source
                )
            };
            return Ok(Selection {
                benchmark: benchmark.clone(),
                because: how,
            });
        }
    }
    Err(DefinitionError::Selection(format!(
        "no benchmark in the {} benchmark tree covers Kubernetes {} ({}); choose one with --benchmark NAME (available: {}) or point --config-dir at a tree that has one",
        tree.describe(),
        version.major_minor,
        version.source,
        tree.benchmark_names().join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_version_spellings() {
        for (text, expected) in [
            ("1.33", "1.33"),
            ("v1.33.2", "1.33"),
            ("1.30.4-eks-1234", "1.30"),
            ("1.29+", "1.29"),
        ] {
            assert_eq!(
                KubernetesVersion::parse(text, "t").unwrap().major_minor,
                expected,
                "{text}"
            );
        }
        assert!(KubernetesVersion::parse("latest", "t").is_none());
        assert!(KubernetesVersion::parse("1", "t").is_none());
    }
}
