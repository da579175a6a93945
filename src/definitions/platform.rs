//! The `platforms` section of the top `config.yaml`: the Kubernetes distributions that have
//! benchmarks of their own, how each is recognised, where it says its version, and which
//! benchmark each version uses. Data, so that a new platform is a config entry plus tests.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::error::DefinitionError;

/// Who runs the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlPlane {
    /// The provider (EKS, GKE, AKS): no control-plane component runs on a node.
    Managed,
    /// The cluster's own nodes.
    Nodes,
}

/// Which version picks the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionedBy {
    #[default]
    Kubernetes,
    /// The platform's own version (OpenShift 4.x), read from `version_from` only.
    Platform,
}

/// A file whose presence (and, with a regex, content) tells something.
#[derive(Debug, Clone)]
pub struct FileMatch {
    pub path: String,
    pub regex: Option<Pattern>,
}

/// A platform regex, compiled when first used. Loading the embedded config compiled all of
/// them (a third of a one-node scan), though most runs never detect a platform; the
/// embedded ones are compiled by `build.rs` instead, which fails the build on a bad one,
/// and a `--config-dir` tree's are compiled when it loads (see [`platforms_from`]).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    compiled: OnceLock<Regex>,
}

impl Pattern {
    fn checked(source: String) -> Result<Self, regex::Error> {
        let compiled = OnceLock::from(Regex::new(&source)?);
        Ok(Pattern { source, compiled })
    }

    fn unchecked(source: String) -> Self {
        Pattern {
            source,
            compiled: OnceLock::new(),
        }
    }
}

impl Deref for Pattern {
    type Target = Regex;

    fn deref(&self) -> &Regex {
        self.compiled.get_or_init(|| {
            Regex::new(&self.source).expect("an embedded platform regex, compiled by build.rs")
        })
    }
}

#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// The key in `platforms` (`eks`, `rke2`, ...).
    pub name: String,
    pub title: String,
    pub control_plane: ControlPlane,
    pub server_version: Option<Pattern>,
    pub node_markers: Vec<FileMatch>,
    pub version_from: Vec<FileMatch>,
    pub versioned_by: VersionedBy,
    /// `MAJOR.MINOR` → benchmark.
    pub benchmarks: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    title: String,
    control_plane: ControlPlane,
    #[serde(default)]
    server_version: Option<String>,
    #[serde(default)]
    node_markers: Vec<RawFileMatch>,
    #[serde(default)]
    version_from: Vec<RawFileMatch>,
    #[serde(default)]
    versioned_by: VersionedBy,
    benchmarks: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileMatch {
    path: String,
    #[serde(default)]
    regex: Option<String>,
}

/// Reads the `platforms` section (absent in kube-bench trees: no platform then). Its
/// regexes are compiled (and so checked) now when `checked`, else when first used: only
/// for the embedded tree, whose regexes `build.rs` compiled.
pub fn platforms_from(
    section: Option<&Value>,
    file: &Path,
    checked: bool,
) -> Result<Vec<PlatformConfig>, DefinitionError> {
    let Some(Value::Object(entries)) = section else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|(name, body)| {
            let raw: RawPlatform = serde_json::from_value(body.clone())
                .map_err(|e| DefinitionError::invalid(file, format!("platforms.{name}: {e}")))?;
            platform(name, raw, file, checked)
        })
        .collect()
}

fn platform(
    name: &str,
    raw: RawPlatform,
    file: &Path,
    checked: bool,
) -> Result<PlatformConfig, DefinitionError> {
    let compile = |what: &str, pattern: &str| {
        if !checked {
            return Ok(Pattern::unchecked(pattern.to_owned()));
        }
        Pattern::checked(pattern.to_owned()).map_err(|e| {
            DefinitionError::invalid(file, format!("platforms.{name}.{what}: invalid regex: {e}"))
        })
    };
    let matches = |what: &str, list: Vec<RawFileMatch>| {
        list.into_iter()
            .map(|m| {
                Ok(FileMatch {
                    regex: m.regex.as_deref().map(|r| compile(what, r)).transpose()?,
                    path: m.path,
                })
            })
            .collect::<Result<Vec<_>, DefinitionError>>()
    };
    if raw.benchmarks.is_empty() {
        return Err(DefinitionError::invalid(
            file,
            format!(
                "platforms.{name}.benchmarks: expected at least one `VERSION: benchmark` entry"
            ),
        ));
    }
    for version in raw.benchmarks.keys() {
        if parse_major_minor(version).is_none() {
            return Err(DefinitionError::invalid(
                file,
                format!("platforms.{name}.benchmarks: `{version}` is not a MAJOR.MINOR version"),
            ));
        }
    }
    Ok(PlatformConfig {
        name: name.to_owned(),
        title: raw.title,
        control_plane: raw.control_plane,
        server_version: raw
            .server_version
            .as_deref()
            .map(|r| compile("server_version", r))
            .transpose()?,
        node_markers: matches("node_markers", raw.node_markers)?,
        version_from: matches("version_from", raw.version_from)?,
        versioned_by: raw.versioned_by,
        benchmarks: raw.benchmarks,
    })
}

impl PlatformConfig {
    /// The benchmark for a `MAJOR.MINOR` version: the entry for the nearest version at or
    /// below it, and whether that was an exact entry.
    pub fn benchmark_for(&self, major_minor: &str) -> Option<(&str, bool)> {
        let wanted = parse_major_minor(major_minor)?;
        self.benchmarks
            .iter()
            .filter_map(|(key, benchmark)| Some((parse_major_minor(key)?, benchmark)))
            .filter(|(key, _)| *key <= wanted)
            .max_by_key(|(key, _)| *key)
            .map(|(key, benchmark)| (benchmark.as_str(), key == wanted))
    }

    /// The lowest version with a benchmark, for messages.
    pub fn lowest_version(&self) -> Option<String> {
        self.benchmarks
            .keys()
            .filter_map(|k| Some((parse_major_minor(k)?, k)))
            .min()
            .map(|(_, k)| k.clone())
    }
}

fn parse_major_minor(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gke() -> PlatformConfig {
        let section = json!({"gke": {
            "title": "GKE", "control_plane": "managed",
            "benchmarks": {"1.28": "gke-1.8.0", "1.31": "gke-1.9.0"}
        }});
        platforms_from(Some(&section), Path::new("config.yaml"), true)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn the_nearest_lower_version_chooses_the_benchmark() {
        let gke = gke();
        assert_eq!(gke.benchmark_for("1.28"), Some(("gke-1.8.0", true)));
        assert_eq!(gke.benchmark_for("1.30"), Some(("gke-1.8.0", false)));
        assert_eq!(gke.benchmark_for("1.31"), Some(("gke-1.9.0", true)));
        assert_eq!(gke.benchmark_for("1.40"), Some(("gke-1.9.0", false)));
        assert_eq!(gke.benchmark_for("1.27"), None);
        assert_eq!(gke.lowest_version().as_deref(), Some("1.28"));
    }

    #[test]
    fn mistakes_in_the_section_name_the_platform_and_field() {
        let bad_regex = json!({"x": {"title": "X", "control_plane": "nodes",
            "server_version": "(", "benchmarks": {"1.1": "b"}}});
        let error = platforms_from(Some(&bad_regex), Path::new("c.yaml"), true).unwrap_err();
        assert!(
            error.to_string().contains("platforms.x.server_version"),
            "{error}"
        );
        let unknown = json!({"x": {"title": "X", "control_plane": "cloud", "benchmarks": {}}});
        let error = platforms_from(Some(&unknown), Path::new("c.yaml"), true).unwrap_err();
        assert!(error.to_string().contains("platforms.x"), "{error}");
    }
}
