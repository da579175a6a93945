//! The batch runner: evaluates a run's nodes (a live node or a fleet of snapshots) on every
//! core and streams each node's results, as it finishes, into the run's consumers
//! ([`sink`]). What the run's header needs (benchmarks, totals, unreadable nodes) is kept
//! in a compact form; the nodes themselves are not kept here.
//!
//! Called by `cisgate scan`, `cisgate baseline create --snapshot`, `cisgate collect` (one
//! node) and the benchmarks.

pub mod evaluate;
pub mod sink;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

pub use evaluate::{api_server_version, Evaluated, NodeFailure, NodeRunner};
pub use sink::{node_key, Collect, Pipeline, Sink, Stage};

use crate::definitions::tree::BenchmarkTree;
use crate::facts::discover::{discover, SnapshotSource};
use crate::facts::live::LiveFacts;
use crate::facts::Facts;
use crate::results::{
    BenchmarkInfo, GateOutcome, NodeResults, RunResults, ToolInfo, Totals, UnreadableNode,
    RESULTS_VERSION,
};
use crate::sync::locked;

/// What a run evaluates.
pub enum Input<'a> {
    /// The node this runs on.
    Live(&'a LiveFacts),
    /// Snapshot files, snapshot directories and folders holding many.
    Snapshots(&'a [PathBuf]),
}

/// Evaluates every node of `input`, handing each node's results to `deliver` as soon as it
/// is done (from any worker thread, in completion order). Returns the run's header: every
/// field of the results but the nodes, the gate still undecided. An error stops the run:
/// a fatal problem (bad request, broken definitions), no node evaluated, or one node name
/// twice.
pub fn run(
    runner: &NodeRunner,
    input: Input,
    deliver: &(dyn Fn(NodeResults) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<RunResults> {
    let fleet = Mutex::new(Fleet::default());
    let take = |source: String, outcome: Result<Evaluated, NodeFailure>| {
        let result = match outcome {
            Ok(evaluated) => {
                locked(&fleet).add(&evaluated);
                deliver(evaluated.node)
            }
            Err(NodeFailure::Fatal(error)) => Err(error),
            Err(NodeFailure::Unreadable(reason)) => {
                locked(&fleet)
                    .unreadable
                    .push(UnreadableNode { source, reason });
                Ok(())
            }
        };
        if let Err(error) = result {
            locked(&fleet).fatal.get_or_insert(error);
        }
    };
    match input {
        Input::Live(facts) => {
            let source = facts.describe();
            let outcome = runner.evaluate(facts, &source, || api_server_version(facts));
            take(source, outcome);
        }
        Input::Snapshots(paths) => {
            let discovery = discover(paths);
            for error in discovery.errors {
                take(
                    error.path.display().to_string(),
                    Err(NodeFailure::Unreadable(error.reason)),
                );
            }
            let progress = progress_bar(discovery.sources.len());
            let evaluate_one = |source: &SnapshotSource| {
                if locked(&fleet).fatal.is_some() {
                    return;
                }
                let name = source.path.display().to_string();
                let outcome = match source.open() {
                    Ok(facts) => runner.evaluate(facts.as_ref(), &name, || None),
                    Err(error) => Err(NodeFailure::Unreadable(error.to_string())),
                };
                take(name, outcome);
                progress.inc(1);
            };
            // One node runs on the calling thread: starting rayon's pool for it cost more
            // than the node (its idle worker spun in `sched_yield` on the other core).
            if discovery.sources.len() == 1 {
                discovery.sources.iter().for_each(evaluate_one);
            } else {
                discovery.sources.par_iter().for_each(evaluate_one);
            }
            progress.finish_and_clear();
        }
    }
    fleet
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .header(runner.tree)
}

/// Evaluates every node and keeps them all: the whole run, nodes in report order.
pub fn run_whole(runner: &NodeRunner, input: Input) -> anyhow::Result<RunResults> {
    let collect = Mutex::new(Collect::default());
    let header = run(runner, input, &|node| {
        locked(&collect).push(node);
        Ok(())
    })?;
    Ok(collect
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_results(header))
}

/// The run's header as nodes finish, in a form that does not grow with their results.
#[derive(Default)]
struct Fleet {
    /// Per benchmark: why it was chosen, and each distinct target list with the first node
    /// (in report order) that ran it.
    benchmarks: BTreeMap<String, BenchmarkUse>,
    /// Node name → its source, to find a node given twice.
    names: HashMap<String, String>,
    /// Names given more than once, with every source that gave them.
    duplicates: BTreeMap<String, BTreeSet<String>>,
    unreadable: Vec<UnreadableNode>,
    totals: Totals,
    evaluated: usize,
    fatal: Option<anyhow::Error>,
}

#[derive(Default)]
struct BenchmarkUse {
    because: BTreeSet<String>,
    targets: HashMap<Vec<String>, (String, String)>,
}

impl Fleet {
    fn add(&mut self, evaluated: &Evaluated) {
        let info = &evaluated.node.node;
        let key = (info.name.clone(), info.source.clone());
        let used = self
            .benchmarks
            .entry(evaluated.selection.benchmark.clone())
            .or_default();
        used.because.insert(evaluated.selection.because.clone());
        let first = used
            .targets
            .entry(evaluated.targets.clone())
            .or_insert_with(|| key.clone());
        if key < *first {
            *first = key;
        }
        if let Some(other) = self.names.insert(info.name.clone(), info.source.clone()) {
            let sources = self.duplicates.entry(info.name.clone()).or_default();
            sources.insert(other);
            sources.insert(info.source.clone());
        }
        self.totals.merge(&evaluated.node.totals);
        self.evaluated += 1;
    }

    /// The header, or why the run cannot go on. Nodes may have run different benchmarks
    /// (a mixed fleet): each node names its own, and `benchmarks` describes each.
    fn header(mut self, tree: &BenchmarkTree) -> anyhow::Result<RunResults> {
        if let Some(error) = self.fatal {
            return Err(error);
        }
        self.unreadable.sort_by(|a, b| a.source.cmp(&b.source));
        if self.evaluated == 0 {
            match self.unreadable.as_slice() {
                [] => bail!("no snapshot found under the --snapshot paths"),
                [only] if only.source.starts_with("live node") => bail!("{}", only.reason),
                _ => bail!(
                    "no node could be evaluated:\n{}",
                    self.unreadable
                        .iter()
                        .map(|u| format!("  {}: {}", u.source, u.reason))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
        // One rule with `report --from`: a node is in a run once. Two snapshots of one name
        // would count its findings twice and make baseline scopes and fingerprints ambiguous.
        if let Some((name, sources)) = self.duplicates.iter().next() {
            let mut sources = sources.iter();
            bail!(
                "node {name} appears both in {} and in {}: a node is scanned once per run (give one of them \
                 another name, e.g. `node.name` in a snapshot directory's cisgate-node.yaml, or scan them separately)",
                sources.next().map_or("", String::as_str),
                sources.next().map_or("", String::as_str),
            );
        }
        let mut infos: Vec<BenchmarkInfo> = self
            .benchmarks
            .iter()
            .map(|(name, used)| benchmark_info(tree, name, [used]))
            .collect();
        let (benchmark, benchmarks) = if infos.len() == 1 {
            (infos.remove(0), Vec::new())
        } else {
            let mut combined = benchmark_info(tree, "", self.benchmarks.values());
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
        Ok(RunResults {
            results_version: RESULTS_VERSION,
            tool: ToolInfo::current(),
            scanned_at: None,
            benchmark,
            benchmarks,
            nodes: Vec::new(),
            unreadable: self.unreadable,
            totals: self.totals,
            gate: GateOutcome::undecided(),
            baseline: None,
            previous: None,
        })
    }
}

/// A benchmark's entry in the results: why it was chosen (each distinct reason once) and the
/// targets its nodes ran, in the order the nodes (sorted by name) first ran them.
fn benchmark_info<'a>(
    tree: &BenchmarkTree,
    name: &str,
    uses: impl IntoIterator<Item = &'a BenchmarkUse>,
) -> BenchmarkInfo {
    let mut because: BTreeSet<&str> = BTreeSet::new();
    let mut lists: Vec<(&(String, String), &Vec<String>)> = Vec::new();
    for used in uses {
        because.extend(used.because.iter().map(String::as_str));
        lists.extend(used.targets.iter().map(|(targets, first)| (first, targets)));
    }
    lists.sort();
    let mut targets: Vec<String> = Vec::new();
    for target in lists.into_iter().flat_map(|(_, targets)| targets) {
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
