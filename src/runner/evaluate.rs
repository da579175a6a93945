//! Evaluating one node: choosing its benchmark and targets and running the engine, with
//! what all nodes of a run share (configs, parsed controls files) kept once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::definitions::config::BenchmarkConfig;
use crate::definitions::error::DefinitionError;
use crate::definitions::select::Selection;
use crate::definitions::tree::BenchmarkTree;
use crate::engine::choose::{self, ChooseError, Request};
use crate::engine::detect;
use crate::engine::run::CheckFilter;
use crate::engine::scan::{scan_node, LoadedCache, ScanError, ScanPlan};

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
    /// Controls files parsed once for all nodes laid out alike.
    pub loaded: LoadedCache,
    /// Whether results say where to fix each check; see [`Self::without_locations`].
    pub locations: bool,
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
    /// A runner for a tree and request, with nothing cached yet.
    pub fn new(tree: &BenchmarkTree, request: Request, filter: CheckFilter) -> NodeRunner<'_> {
        NodeRunner {
            tree,
            request,
            filter,
            configs: Mutex::new(BTreeMap::new()),
            warnings: Mutex::new(BTreeSet::new()),
            loaded: LoadedCache::default(),
            locations: true,
        }
    }

    /// Results without locations, for a run whose consumers never read them (a gate that
    /// writes no report): a tenth of a fleet scan's work is finding a finding's line.
    pub fn without_locations(self) -> Self {
        NodeRunner {
            locations: false,
            ..self
        }
    }

    /// The run's notes (unknown keys and the like), each once.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .expect("warnings")
            .iter()
            .cloned()
            .collect()
    }

    pub fn evaluate(
        &self,
        facts: &dyn Facts,
        source: &str,
        ask_api: impl FnOnce() -> Option<String>,
    ) -> Result<Evaluated, NodeFailure> {
        let choice = choose::benchmark(
            self.tree,
            &self.request,
            facts,
            || self.config(None),
            ask_api,
        )
        .map_err(choose_failure)?;
        let selection = choice.selection;
        let config = self
            .config(Some(&selection.benchmark))
            .map_err(|e| NodeFailure::Fatal(e.into()))?;
        let targets = choose::targets(
            &config,
            &selection.benchmark,
            &self.request,
            facts,
            choice.platform.as_ref(),
        )
        .map_err(choose_failure)?;
        let plan = ScanPlan {
            tree: self.tree,
            config: &config,
            benchmark: &selection.benchmark,
            targets: &targets,
            filter: &self.filter,
            loaded: &self.loaded,
            locations: self.locations,
        };
        let mut notes = Vec::new();
        let mut node = scan_node(
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
        node.node.distribution = choice.platform;
        Ok(Evaluated {
            node,
            selection,
            targets,
        })
    }

    /// A benchmark's merged config.yaml, or the top one alone (`None`), read once per run.
    /// A benchmark's is merged over the top one already read (the top file is read once).
    fn config(&self, benchmark: Option<&str>) -> Result<Arc<BenchmarkConfig>, DefinitionError> {
        const TOP: &str = ""; // no benchmark directory has an empty name
        let mut configs = self.configs.lock().expect("configs");
        let key = benchmark.unwrap_or(TOP);
        if let Some(config) = configs.get(key) {
            return Ok(Arc::clone(config));
        }
        let config = match (benchmark, configs.get(TOP)) {
            (Some(benchmark), Some(top)) => top.with_benchmark(self.tree, benchmark)?,
            _ => BenchmarkConfig::load(self.tree, benchmark)?,
        };
        let config = Arc::new(config);
        configs.insert(key.to_owned(), Arc::clone(&config));
        Ok(config)
    }
}

fn choose_failure(error: ChooseError) -> NodeFailure {
    match error {
        ChooseError::Request(message) => NodeFailure::Fatal(anyhow::anyhow!(message)),
        ChooseError::Node(message) => NodeFailure::Unreadable(message),
    }
}

/// The API server's version string, asked through kubectl: names the platform
/// (`v1.31.4-eks-…`) and, last of all sources, a live node's Kubernetes version.
pub fn api_server_version(facts: &crate::facts::live::LiveFacts) -> Option<String> {
    facts.api_server_version()
}
