//! Choosing, for one node, the benchmark (`--benchmark`, or the Kubernetes version
//! through the version mapping) and the targets (`--targets`, or what the node is).

use std::sync::Arc;

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::error::DefinitionError;
use crate::definitions::platform::{ControlPlane, PlatformConfig, VersionedBy};
use crate::definitions::select::{self, KubernetesVersion, Selection};
use crate::definitions::tree::BenchmarkTree;
use crate::facts::Facts;
use crate::results::PlatformInfo;

use super::detect;
use super::platform::{self, Detected, Finding};

/// What the user asked for; empty fields mean "decide from the node".
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub benchmark: Option<String>,
    pub k8s_version: Option<String>,
    pub targets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    /// The request itself cannot work (unknown benchmark or target): no node can run.
    #[error("{0}")]
    Request(String),
    /// This node cannot say what it is (no version): other nodes may still run.
    #[error("{0}")]
    Node(String),
}

/// The benchmark chosen for a node, and the platform recognised on it.
#[derive(Debug, Clone)]
pub struct Choice {
    pub selection: Selection,
    pub platform: Option<PlatformInfo>,
}

/// The benchmark for a node: `--benchmark`, else the platform's mapping when a platform is
/// recognised (`platform::detect`), else the Kubernetes version's. `ask_api` (the API server's
/// version string, live only) is asked at most once, when the node itself does not say enough.
/// Fails closed: no version, no benchmark; evidence for two platforms stops the run.
/// `top_config` gives the tree's top `config.yaml`; a fleet can read it once for all nodes.
pub fn benchmark(
    tree: &BenchmarkTree,
    request: &Request,
    facts: &dyn Facts,
    top_config: impl FnOnce() -> Result<Arc<BenchmarkConfig>, DefinitionError>,
    ask_api: impl FnOnce() -> Option<String>,
) -> Result<Choice, ChooseError> {
    let config = top_config().map_err(|e| ChooseError::Request(e.to_string()))?;
    let requested_version = requested_version(request)?;
    let recorded = facts.identity().server_version;
    // A snapshot's recorded API server version answers for the API (never asked then).
    let mut api = ApiVersion::new(ask_api, recorded.clone());
    let mut finding = platform::detect(config.platforms(), facts, recorded.as_deref());
    // `--k8s-version`, else what the node's files or snapshot say: looked up once, when needed.
    let local = std::cell::OnceCell::new();
    let local_version = || {
        local
            .get_or_init(|| {
                requested_version
                    .clone()
                    .or_else(|| detect::kubernetes_version(facts))
            })
            .clone()
    };
    if matches!(finding, Finding::None) && recorded.is_none() && local_version().is_none() {
        if let Some(version) = api.get() {
            finding = platform::detect(config.platforms(), facts, Some(&version));
        }
    }
    if let Some(name) = &request.benchmark {
        let selection =
            select::by_name(tree, name).map_err(|e| ChooseError::Request(e.to_string()))?;
        let platform = match &finding {
            Finding::One(detected) => Some(platform_info(detected)),
            _ => None,
        };
        return Ok(Choice {
            selection,
            platform,
        });
    }
    match finding {
        Finding::Conflict(all) => Err(ChooseError::Request(conflict_message(facts, &all))),
        Finding::One(detected) => {
            let version = platform_version(&detected, facts, local_version(), &mut api)?;
            let selection = by_platform(tree, &detected, &version)?;
            Ok(Choice {
                selection,
                platform: Some(platform_info(&detected)),
            })
        }
        Finding::None => {
            let version = local_version()
                .or_else(|| api.kubernetes_version())
                .ok_or_else(|| {
                    ChooseError::Node(
                        "cannot determine the node's Kubernetes version (no recorded version, no control-plane \
                         manifest image tag, no API server answered); pass --k8s-version X.Y or --benchmark NAME"
                            .to_owned(),
                    )
                })?;
            let selection = select::by_version(tree, &config, &version)
                .map_err(|e| ChooseError::Request(e.to_string()))?;
            Ok(Choice {
                selection,
                platform: None,
            })
        }
    }
}

fn requested_version(request: &Request) -> Result<Option<KubernetesVersion>, ChooseError> {
    request
        .k8s_version
        .as_ref()
        .map(|text| {
            KubernetesVersion::parse(text, "--k8s-version").ok_or_else(|| {
                ChooseError::Request(format!(
                    "--k8s-version `{text}` is not a Kubernetes version (expected X.Y, e.g. 1.33)"
                ))
            })
        })
        .transpose()
}

/// The API server's version string, asked for at most once.
struct ApiVersion<F> {
    ask: Option<F>,
    answer: Option<String>,
}

impl<F: FnOnce() -> Option<String>> ApiVersion<F> {
    /// `known`: an answer already at hand (a snapshot's recorded version), so `ask` is not run.
    fn new(ask: F, known: Option<String>) -> Self {
        ApiVersion {
            ask: known.is_none().then_some(ask),
            answer: known,
        }
    }

    fn get(&mut self) -> Option<String> {
        if let Some(ask) = self.ask.take() {
            self.answer = ask();
        }
        self.answer.clone()
    }

    fn kubernetes_version(&mut self) -> Option<KubernetesVersion> {
        let version = self.get()?;
        KubernetesVersion::parse(&version, format!("the API server's version {version}"))
    }
}

/// The version that picks the platform's benchmark: the Kubernetes version (`local`: asked
/// for, or the node's; then the platform's own files', the API server's), or the platform's
/// own version.
fn platform_version<F: FnOnce() -> Option<String>>(
    detected: &Detected,
    facts: &dyn Facts,
    local: Option<KubernetesVersion>,
    api: &mut ApiVersion<F>,
) -> Result<KubernetesVersion, ChooseError> {
    let platform = detected.platform;
    let version = match platform.versioned_by {
        VersionedBy::Platform => platform::platform_version(platform, facts),
        VersionedBy::Kubernetes => local
            .or_else(|| platform::platform_version(platform, facts))
            .or_else(|| api.kubernetes_version()),
    };
    version.ok_or_else(|| {
        let what = match platform.versioned_by {
            VersionedBy::Platform => format!("{} version", platform.title),
            VersionedBy::Kubernetes => "Kubernetes version".to_owned(),
        };
        ChooseError::Node(format!(
            "{} node ({}), but cannot determine its {what}; pass --benchmark NAME ({}){}",
            platform.title,
            detected.evidence.join(", "),
            benchmark_names(platform),
            match platform.versioned_by {
                VersionedBy::Platform => "",
                VersionedBy::Kubernetes => " or --k8s-version X.Y",
            }
        ))
    })
}

fn by_platform(
    tree: &BenchmarkTree,
    detected: &Detected,
    version: &KubernetesVersion,
) -> Result<Selection, ChooseError> {
    let platform = detected.platform;
    let evidence = detected.evidence.join(", ");
    let Some((benchmark, exact)) = platform.benchmark_for(&version.major_minor) else {
        return Err(ChooseError::Request(format!(
            "{} {} ({evidence}; version from {}): no benchmark covers versions below {}; pass --benchmark NAME ({})",
            platform.title,
            version.major_minor,
            version.source,
            platform.lowest_version().unwrap_or_default(),
            benchmark_names(platform)
        )));
    };
    select::by_name(tree, benchmark).map_err(|e| ChooseError::Request(e.to_string()))?;
    let nearest = if exact {
        ""
    } else {
        " (the nearest lower version in its mapping)"
    };
    Ok(Selection {
        benchmark: benchmark.to_owned(),
        because: format!(
            "{} ({evidence}) at version {} ({}) maps to {benchmark}{nearest}",
            platform.title, version.major_minor, version.source
        ),
    })
}

fn benchmark_names(platform: &PlatformConfig) -> String {
    let mut names: Vec<&str> = platform.benchmarks.values().map(String::as_str).collect();
    names.dedup();
    names.join(", ")
}

fn conflict_message(facts: &dyn Facts, all: &[Detected]) -> String {
    format!(
        "{}: evidence for more than one platform ({}); pass --benchmark NAME to choose",
        facts.describe(),
        all.iter()
            .map(|d| format!("{}: {}", d.platform.title, d.evidence.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    )
}

fn platform_info(detected: &Detected) -> PlatformInfo {
    PlatformInfo {
        name: detected.platform.name.clone(),
        title: detected.platform.title.clone(),
        managed_control_plane: detected.platform.control_plane == ControlPlane::Managed,
        evidence: detected.evidence.clone(),
    }
}

/// The targets to run on a node: `--targets` (each must exist in the benchmark), or the
/// benchmark's targets that apply to what the node is. On a platform whose provider runs the
/// control plane, `master` and `etcd` never apply (nothing of them is on a node), while the
/// cluster-level `controlplane` and `managedservices` recommendations always do.
pub fn targets(
    config: &BenchmarkConfig,
    benchmark: &str,
    request: &Request,
    facts: &dyn Facts,
    platform: Option<&PlatformInfo>,
) -> Result<Vec<String>, ChooseError> {
    let all = config.targets_of(benchmark).unwrap_or_else(|| {
        ["master", "controlplane", "etcd", "node", "policies"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    if request.targets.is_empty() {
        let managed = platform.is_some_and(|p| p.managed_control_plane);
        let applicable: Vec<String> = if managed {
            let on_node = detect::applicable_targets(config, &all, facts);
            all.iter()
                .filter(|t| match t.as_str() {
                    "master" | "etcd" => false,
                    "controlplane" | "managedservices" => true,
                    _ => on_node.contains(t),
                })
                .cloned()
                .collect()
        } else {
            detect::applicable_targets(config, &all, facts)
        };
        if applicable.is_empty() {
            return Err(ChooseError::Node(format!(
                "nothing to check on {}: no control-plane component, etcd or kubelet runs or is configured, \
                 and no API server answered; name what to check with --targets ({})",
                facts.describe(),
                all.join(", ")
            )));
        }
        return Ok(applicable);
    }
    if let Some(unknown) = request.targets.iter().find(|t| !all.contains(t)) {
        return Err(ChooseError::Request(format!(
            "--targets: benchmark {benchmark} has no target `{unknown}` (it has: {})",
            all.join(", ")
        )));
    }
    Ok(request.targets.clone())
}
