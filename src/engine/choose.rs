//! Choosing, for one node, the benchmark (`--benchmark`, or the Kubernetes version
//! through the version mapping) and the targets (`--targets`, or what the node is).

use std::sync::Arc;

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::error::DefinitionError;
use crate::definitions::select::{self, KubernetesVersion, Selection};
use crate::definitions::tree::BenchmarkTree;
use crate::facts::Facts;

use super::detect;

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

/// The benchmark for a node. `ask_api` is consulted last for the version (live only).
/// An undeterminable version stops: no silent fallback to an old benchmark.
/// `top_config` gives the tree's top `config.yaml` (with the version mapping); it is asked
/// only when the version decides, so a fleet can read it once for all nodes.
pub fn benchmark(
    tree: &BenchmarkTree,
    request: &Request,
    facts: &dyn Facts,
    top_config: impl FnOnce() -> Result<Arc<BenchmarkConfig>, DefinitionError>,
    ask_api: impl FnOnce() -> Option<KubernetesVersion>,
) -> Result<Selection, ChooseError> {
    if let Some(name) = &request.benchmark {
        return select::by_name(tree, name).map_err(|e| ChooseError::Request(e.to_string()));
    }
    let version = match &request.k8s_version {
        Some(text) => KubernetesVersion::parse(text, "--k8s-version").ok_or_else(|| {
            ChooseError::Request(format!(
                "--k8s-version `{text}` is not a Kubernetes version (expected X.Y, e.g. 1.33)"
            ))
        })?,
        None => detect::kubernetes_version(facts).or_else(ask_api).ok_or_else(|| {
            ChooseError::Node(
                "cannot determine the node's Kubernetes version (no recorded version, no control-plane \
                 manifest image tag, no API server answered); pass --k8s-version X.Y or --benchmark NAME"
                    .to_owned(),
            )
        })?,
    };
    let config = top_config().map_err(|e| ChooseError::Request(e.to_string()))?;
    select::by_version(tree, &config, &version).map_err(|e| ChooseError::Request(e.to_string()))
}

/// The targets to run on a node: `--targets` (each must exist in the benchmark), or the
/// benchmark's targets that apply to what the node is.
pub fn targets(
    config: &BenchmarkConfig,
    benchmark: &str,
    request: &Request,
    facts: &dyn Facts,
) -> Result<Vec<String>, ChooseError> {
    let all = config.targets_of(benchmark).unwrap_or_else(|| {
        ["master", "controlplane", "etcd", "node", "policies"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    if request.targets.is_empty() {
        let applicable = detect::applicable_targets(config, &all, facts);
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
