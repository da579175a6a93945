//! One node through the whole engine: every target of the chosen benchmark, resolved,
//! loaded, evaluated.

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::error::DefinitionError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::definitions::load::{load_controls, LoadedControls};
use crate::definitions::tree::BenchmarkTree;
use crate::definitions::variables::Variables;
use crate::facts::{FactError, Facts};
use crate::results::{NodeInfo, NodeResults, SectionResult, Totals};
use crate::sync::locked;

use super::run::{run_prepared, CheckFilter, PreparedControls, ProbeAnswers, TargetContext};
use super::substitute::resolve_components;

/// What to run on every node.
pub struct ScanPlan<'a> {
    pub tree: &'a BenchmarkTree,
    pub config: &'a BenchmarkConfig,
    pub benchmark: &'a str,
    pub targets: &'a [String],
    pub filter: &'a CheckFilter,
    /// Controls already loaded for other nodes; share one across a fleet.
    pub loaded: &'a LoadedCache,
    /// [`TargetContext::locations`].
    pub locations: bool,
}

/// Controls files loaded once per target and set of variables: nodes laid out alike
/// resolve to the same variables and share one parse.
#[derive(Debug, Default)]
pub struct LoadedCache {
    /// Benchmark → target → variables: looked up by reference, keys cloned only when a
    /// layout is new (each node asks once per target).
    entries: Mutex<FastMap<String, ByTarget>>,
}

type FastMap<K, V> = HashMap<K, V, foldhash::quality::RandomState>;
/// A benchmark's loaded controls: target → variables → controls.
type ByTarget = FastMap<String, FastMap<Variables, Arc<Loaded>>>;

/// A loaded controls file with the texts its checks show on every node.
#[derive(Debug)]
struct Loaded {
    controls: LoadedControls,
    prepared: PreparedControls,
}

impl LoadedCache {
    fn get_or_load(
        &self,
        plan: &ScanPlan,
        target: &str,
        variables: &Variables,
        warn: &mut dyn FnMut(String),
    ) -> Result<Arc<Loaded>, DefinitionError> {
        let known = locked(&self.entries)
            .get(plan.benchmark)
            .and_then(|targets| targets.get(target))
            .and_then(|layouts| layouts.get(variables))
            .cloned();
        if let Some(hit) = known {
            return Ok(hit);
        }
        let controls = load_controls(plan.tree, plan.benchmark, target, variables, warn)?;
        let loaded = Arc::new(Loaded {
            prepared: PreparedControls::new(&controls.controls),
            controls,
        });
        locked(&self.entries)
            .entry(plan.benchmark.to_owned())
            .or_default()
            .entry(target.to_owned())
            .or_default()
            .insert(variables.clone(), Arc::clone(&loaded));
        Ok(loaded)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error("{0}")]
    Fact(#[from] FactError),
    #[error("No config settings for {target}: the benchmark tree's config.yaml has no `{target}` section")]
    NoTargetConfig { target: String },
}

/// Evaluates every target on one node. `warn` receives notes such as unknown keys.
pub fn scan_node(
    plan: &ScanPlan,
    facts: &dyn Facts,
    source: &str,
    roles: Vec<String>,
    warn: &mut dyn FnMut(String),
) -> Result<NodeResults, ScanError> {
    let mut sections = Vec::new();
    let answers = ProbeAnswers::default();
    for target in plan.targets {
        if !plan.config.has_target(target) {
            return Err(ScanError::NoTargetConfig {
                target: target.clone(),
            });
        }
        let resolution = resolve_components(&plan.config.target_components(target), facts)?;
        let loaded = plan
            .loaded
            .get_or_load(plan, target, &resolution.variables, warn)?;
        let ctx = TargetContext {
            facts,
            variables: &resolution.variables,
            missing: &resolution.missing,
            filter: plan.filter,
            answers: &answers,
            locations: plan.locations,
        };
        let section = run_prepared(&loaded.controls, &loaded.prepared, &ctx);
        if !section.groups.is_empty() {
            sections.push(section);
        }
    }
    sections.sort_by(|a, b| section_order(a).total_cmp(&section_order(b)));
    let mut totals = Totals::default();
    for section in &sections {
        totals.merge(&section.totals);
    }
    let identity = facts.identity();
    Ok(NodeResults {
        node: NodeInfo {
            name: identity.name,
            roles: if identity.roles.is_empty() {
                roles
            } else {
                identity.roles
            },
            kubernetes_version: identity.kubernetes_version,
            platform: identity.platform,
            source: source.to_owned(),
            cluster: identity.cluster,
            benchmark: Some(plan.benchmark.to_owned()),
            distribution: None,
        },
        sections,
        totals,
    })
}

/// Sections print in ascending numeric order of their id; a non-numeric id counts as 0.
fn section_order(section: &SectionResult) -> f64 {
    section.id.trim().parse().unwrap_or(0.0)
}
