//! Evaluating nodes: choosing each node's benchmark and targets and running the engine,
//! shared by `scan` (live or snapshots) and `collect`.

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
use std::path::PathBuf;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::facts::discover::discover;
use crate::facts::Facts;
use crate::report::sanitize;
use crate::results::{
    BenchmarkInfo, GateOutcome, NodeResults, RunResults, ToolInfo, Totals, UnreadableNode,
    RESULTS_VERSION,
};

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
        }
    }

    /// Prints the run's notes (unknown keys and the like) once, when asked to.
    pub fn say_warnings(&self, verbose: bool) {
        if verbose {
            for warning in self.warnings.lock().expect("warnings").iter() {
                eprintln!("cisgate: warning: {}", sanitize::for_terminal(warning));
            }
        }
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
    fn config(&self, benchmark: Option<&str>) -> Result<Arc<BenchmarkConfig>, DefinitionError> {
        let key = benchmark.unwrap_or_default(); // no benchmark directory has an empty name
        let mut configs = self.configs.lock().expect("configs");
        if let Some(config) = configs.get(key) {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(BenchmarkConfig::load(self.tree, benchmark)?);
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

/// Every snapshot, in parallel; each is loaded, evaluated and dropped, so memory grows
/// with results, not with snapshots.
pub fn evaluate_snapshots(
    runner: &NodeRunner,
    paths: &[PathBuf],
) -> Vec<(String, Result<Evaluated, NodeFailure>)> {
    let discovery = discover(paths);
    let mut outcomes: Vec<(String, Result<Evaluated, NodeFailure>)> = discovery
        .errors
        .into_iter()
        .map(|error| {
            (
                error.path.display().to_string(),
                Err(NodeFailure::Unreadable(error.reason)),
            )
        })
        .collect();
    let progress = progress_bar(discovery.sources.len());
    outcomes.par_extend(discovery.sources.par_iter().map(|source| {
        let name = source.path.display().to_string();
        let outcome = match source.open() {
            Ok(facts) => runner.evaluate(facts.as_ref(), &name, || None),
            Err(error) => Err(NodeFailure::Unreadable(error.to_string())),
        };
        progress.inc(1);
        (name, outcome)
    }));
    progress.finish_and_clear();
    outcomes
}

/// One results document from every node's outcome: nodes sorted by name, unreadable
/// ones listed with their reason. Nodes may have run different benchmarks (a mixed fleet):
/// each node names its own, and `benchmarks` describes each.
pub fn assemble(
    tree: &BenchmarkTree,
    outcomes: Vec<(String, Result<Evaluated, NodeFailure>)>,
) -> anyhow::Result<RunResults> {
    let mut evaluated = Vec::new();
    let mut unreadable = Vec::new();
    for (source, outcome) in outcomes {
        match outcome {
            Ok(node) => evaluated.push(node),
            Err(NodeFailure::Fatal(error)) => return Err(error),
            Err(NodeFailure::Unreadable(reason)) => {
                unreadable.push(UnreadableNode { source, reason })
            }
        }
    }
    unreadable.sort_by(|a, b| a.source.cmp(&b.source));
    if evaluated.is_empty() {
        match unreadable.as_slice() {
            [] => bail!("no snapshot found under the --snapshot paths"),
            [only] if only.source.starts_with("live node") => bail!("{}", only.reason),
            _ => bail!(
                "no node could be evaluated:\n{}",
                unreadable
                    .iter()
                    .map(|u| format!("  {}: {}", u.source, u.reason))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
    evaluated.sort_by(|a, b| {
        (&a.node.node.name, &a.node.node.source).cmp(&(&b.node.node.name, &b.node.node.source))
    });
    // One rule with `report --from`: a node is in a run once. Two snapshots of one name would
    // count its findings twice and make baseline scopes and fingerprints ambiguous.
    if let Some(pair) = evaluated
        .windows(2)
        .find(|pair| pair[0].node.node.name == pair[1].node.node.name)
    {
        bail!(
            "node {} appears both in {} and in {}: a node is scanned once per run (give one of them \
             another name, e.g. `node.name` in a snapshot directory's cisgate-node.yaml, or scan them separately)",
            pair[0].node.node.name,
            pair[0].node.node.source,
            pair[1].node.node.source
        );
    }
    let mut infos: Vec<BenchmarkInfo> = Vec::new();
    for name in evaluated
        .iter()
        .map(|e| e.selection.benchmark.as_str())
        .collect::<BTreeSet<&str>>()
    {
        let of_benchmark: Vec<&Evaluated> = evaluated
            .iter()
            .filter(|e| e.selection.benchmark == name)
            .collect();
        infos.push(benchmark_info(tree, name, &of_benchmark));
    }
    let (benchmark, benchmarks) = if infos.len() == 1 {
        (infos.remove(0), Vec::new())
    } else {
        let all: Vec<&Evaluated> = evaluated.iter().collect();
        let mut combined = benchmark_info(tree, "", &all);
        combined.name = infos
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(" + ");
        combined.selected_because = format!(
            "each node's own benchmark: {}",
            infos
                .iter()
                .map(|i| format!("{} ({})", i.name, i.selected_because))
                .collect::<Vec<_>>()
                .join("; ")
        );
        (combined, infos)
    };
    let nodes: Vec<NodeResults> = evaluated.into_iter().map(|e| e.node).collect();
    let mut totals = Totals::default();
    for node in &nodes {
        totals.merge(&node.totals);
    }
    Ok(RunResults {
        results_version: RESULTS_VERSION,
        tool: ToolInfo::current(),
        scanned_at: None,
        benchmark,
        benchmarks,
        nodes,
        unreadable,
        totals,
        gate: GateOutcome::undecided(),
        baseline: None,
        previous: None,
    })
}

/// A benchmark's entry in the results: why it was chosen (each distinct reason once) and the
/// targets its nodes ran, in first-seen order.
fn benchmark_info(tree: &BenchmarkTree, name: &str, evaluated: &[&Evaluated]) -> BenchmarkInfo {
    let because: BTreeSet<&str> = evaluated
        .iter()
        .map(|e| e.selection.because.as_str())
        .collect();
    let mut targets: Vec<String> = Vec::new();
    for target in evaluated.iter().flat_map(|e| &e.targets) {
        if !targets.contains(target) {
            targets.push(target.clone());
        }
    }
    BenchmarkInfo {
        name: name.to_owned(),
        source: tree.describe(),
        selected_because: because.into_iter().collect::<Vec<_>>().join("; "),
        targets,
    }
}

/// Fleets of this many snapshots or more show their progress on a terminal.
const PROGRESS_FROM: usize = 50;

/// A progress bar on stderr for long runs; hidden when stderr is not a terminal (CI logs).
fn progress_bar(nodes: usize) -> ProgressBar {
    if nodes < PROGRESS_FROM {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(nodes as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} nodes, {eta} left") {
        bar.set_style(style);
    }
    bar
}
