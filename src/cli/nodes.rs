//! Evaluating nodes: choosing each node's benchmark and targets and running the engine,
//! shared by `scan` (live or snapshots) and `collect`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::select::{KubernetesVersion, Selection};
use crate::definitions::tree::BenchmarkTree;
use crate::engine::choose::{self, ChooseError, Request};
use crate::engine::detect;
use crate::engine::run::CheckFilter;
use crate::engine::scan::{scan_node, ScanError, ScanPlan};
use crate::facts::Facts;
use crate::results::NodeResults;

/// Evaluates one node after another, sharing what all nodes share.
pub struct NodeRunner<'a> {
    pub tree: &'a BenchmarkTree,
    pub request: Request,
    pub filter: CheckFilter,
    /// Each benchmark's merged config.yaml, read once however many nodes use it.
    pub configs: Mutex<BTreeMap<String, Arc<BenchmarkConfig>>>,
    /// Notes such as unknown keys, said once for the whole run.
    pub warnings: Mutex<BTreeSet<String>>,
}

/// One node's results with the benchmark and targets chosen for it.
pub struct Evaluated {
    pub node: NodeResults,
    pub selection: Selection,
    pub targets: Vec<String>,
}

/// Why a node has no results: the whole run cannot go on, or only this node cannot.
pub enum NodeFailure {
    Fatal(anyhow::Error),
    Unreadable(String),
}

impl NodeRunner<'_> {
    pub fn evaluate(
        &self,
        facts: &dyn Facts,
        source: &str,
        ask_api: impl FnOnce() -> Option<KubernetesVersion>,
    ) -> Result<Evaluated, NodeFailure> {
        let selection =
            choose::benchmark(self.tree, &self.request, facts, ask_api).map_err(choose_failure)?;
        let config = self.config(&selection.benchmark)?;
        let targets = choose::targets(&config, &selection.benchmark, &self.request, facts)
            .map_err(choose_failure)?;
        let plan = ScanPlan {
            tree: self.tree,
            config: &config,
            benchmark: &selection.benchmark,
            targets: &targets,
            filter: &self.filter,
        };
        let mut notes = Vec::new();
        let node = scan_node(
            &plan,
            facts,
            source,
            detect::roles_of(&targets),
            &mut |note| notes.push(note),
        )
        .map_err(|error| match error {
            ScanError::Fact(fact) => NodeFailure::Unreadable(fact.to_string()),
            other => NodeFailure::Fatal(other.into()),
        })?;
        self.warnings.lock().expect("warnings").extend(notes);
        Ok(Evaluated {
            node,
            selection,
            targets,
        })
    }

    fn config(&self, benchmark: &str) -> Result<Arc<BenchmarkConfig>, NodeFailure> {
        let mut configs = self.configs.lock().expect("configs");
        if let Some(config) = configs.get(benchmark) {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(
            BenchmarkConfig::load(self.tree, Some(benchmark))
                .map_err(|e| NodeFailure::Fatal(e.into()))?,
        );
        configs.insert(benchmark.to_owned(), Arc::clone(&config));
        Ok(config)
    }
}

fn choose_failure(error: ChooseError) -> NodeFailure {
    match error {
        ChooseError::Request(message) => NodeFailure::Fatal(anyhow::anyhow!(message)),
        ChooseError::Node(message) => NodeFailure::Unreadable(message),
    }
}

/// The API server's version, asked through kubectl: the last source of a live node's
/// Kubernetes version.
pub fn api_server_version(facts: &crate::facts::live::LiveFacts) -> Option<KubernetesVersion> {
    facts
        .api_server_version()
        .and_then(|v| KubernetesVersion::parse(&v, "the API server's version (kubectl version)"))
}
