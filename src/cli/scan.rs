//! `cisgate scan`: definitions → facts → engine → results → gate → reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayon::prelude::*;

use anyhow::{bail, Context};
use clap::Args;

use crate::baseline::{self, args::BaselineArgs};
use crate::definitions::config::BenchmarkConfig;
use crate::definitions::select::{KubernetesVersion, Selection};
use crate::definitions::tree::BenchmarkTree;
use crate::engine::choose::{self, ChooseError, Request};
use crate::engine::detect;
use crate::engine::run::CheckFilter;
use crate::engine::scan::{scan_node, ScanError, ScanPlan};
use crate::facts::discover::discover;
use crate::facts::kubectl::KubectlOptions;
use crate::facts::live::{LiveFacts, LiveOptions};
use crate::facts::Facts;
use crate::gate::{self, FailOn, GatePolicy};
use crate::report::args::{write_reports, ReportArgs};
use crate::report::{self, Emitter, RenderOptions};
use crate::results::{
    BenchmarkInfo, GateOutcome, NodeResults, RunResults, ToolInfo, Totals, UnreadableNode,
    RESULTS_VERSION,
};

#[derive(Debug, Args)]
pub struct ScanCommand {
    /// Scan the node this runs on (the default without --snapshot).
    #[arg(long, conflicts_with = "snapshots")]
    live: bool,
    /// Where the node's filesystem is mounted (`/host` in a pod with the host mounted).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        conflicts_with = "snapshots"
    )]
    root: PathBuf,
    /// Evaluate snapshots instead of this node: a snapshot file (.json, .json.gz), a
    /// snapshot directory (a node's root tree), or a folder holding many (repeatable).
    #[arg(long = "snapshot", value_name = "PATH")]
    snapshots: Vec<PathBuf>,
    /// A kube-bench-format benchmark tree to use instead of the embedded one.
    #[arg(long, value_name = "DIR", env = "CISGATE_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// The benchmark to run (e.g. cis-1.12); default: chosen from the Kubernetes version.
    #[arg(long, value_name = "NAME", conflicts_with = "k8s_version")]
    benchmark: Option<String>,
    /// The Kubernetes version (X.Y) that chooses the benchmark through the version mapping.
    #[arg(long = "k8s-version", value_name = "X.Y")]
    k8s_version: Option<String>,
    /// Targets to run (master, node, etcd, controlplane, policies); default: what the node is.
    #[arg(long, value_delimiter = ',', value_name = "TARGET,...")]
    targets: Vec<String>,
    /// Run only these checks.
    #[arg(long = "check", value_delimiter = ',', value_name = "ID,...")]
    checks: Vec<String>,
    /// Report these checks (or groups) as INFO without running them.
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    skip: Vec<String>,
    /// Run only the checks of these groups.
    #[arg(long = "group", value_delimiter = ',', value_name = "ID,...")]
    groups: Vec<String>,
    /// Run only scored checks.
    #[arg(long, conflicts_with = "unscored")]
    scored: bool,
    /// Run only unscored checks.
    #[arg(long)]
    unscored: bool,
    /// Write the JSON results file (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The lowest state that fails the gate.
    #[arg(long, value_enum, default_value = "fail")]
    fail_on: FailOn,
    /// Checks that could not be evaluated (ERROR) do not fail the gate.
    #[arg(long)]
    allow_errors: bool,
    /// No colour in console output (also: NO_COLOR set, or stdout not a terminal).
    #[arg(long)]
    no_color: bool,
    /// No console report.
    #[arg(long, short)]
    quiet: bool,
    /// Say more: unknown keys in benchmark files, what was detected.
    #[arg(long, short)]
    verbose: bool,
    /// Print each failing check's audit output in the console report.
    #[arg(long)]
    include_test_output: bool,
    /// The node's name in reports (default: its hostname).
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Seconds one shell audit may run before it is stopped (the check is then ERROR).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    shell_timeout: u64,
    /// The kubeconfig kubectl uses for API objects (default: kubectl's own resolution).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The kubectl program.
    #[arg(long, value_name = "PATH", default_value = "kubectl")]
    kubectl: PathBuf,
    #[command(flatten)]
    baseline: BaselineArgs,
    #[command(flatten)]
    reports: ReportArgs,
}

pub fn run(cmd: ScanCommand) -> anyhow::Result<i32> {
    let tree = match &cmd.config_dir {
        Some(dir) => BenchmarkTree::directory(dir)?,
        None => BenchmarkTree::Embedded,
    };
    let runner = NodeRunner {
        tree: &tree,
        request: Request {
            benchmark: cmd.benchmark.clone(),
            k8s_version: cmd.k8s_version.clone(),
            targets: cmd.targets.clone(),
        },
        filter: CheckFilter {
            only_checks: cmd.checks.clone(),
            only_groups: cmd.groups.clone(),
            skip: cmd.skip.clone(),
            scored_only: cmd.scored,
            unscored_only: cmd.unscored,
        },
        configs: Mutex::new(BTreeMap::new()),
        warnings: Mutex::new(BTreeSet::new()),
    };
    let outcomes = if cmd.snapshots.is_empty() {
        let facts = LiveFacts::new(live_options(&cmd));
        let source = facts.describe();
        let outcome = runner.evaluate(&facts, &source, || {
            facts.api_server_version().and_then(|v| {
                KubernetesVersion::parse(&v, "the API server's version (kubectl version)")
            })
        });
        vec![(source, outcome)]
    } else {
        evaluate_snapshots(&runner, &cmd.snapshots)
    };
    if cmd.verbose {
        for warning in runner.warnings.lock().expect("warnings").iter() {
            eprintln!("cisgate: warning: {warning}");
        }
    }
    let mut results = assemble(&tree, outcomes)?;
    if !cmd.checks.is_empty() {
        ensure_checks_exist(&cmd.checks, &results)?;
    }
    baseline::apply(&mut results, &cmd.baseline, cmd.baseline.today())?;
    let policy = GatePolicy {
        fail_on: cmd.fail_on,
        allow_errors: cmd.allow_errors,
        strict: cmd.baseline.strict,
    };
    results.gate = gate::decide(&results, &policy);
    emit(&cmd, &results)?;
    Ok(results.gate.exit_code)
}

/// Evaluates one node after another, sharing what all nodes share.
struct NodeRunner<'a> {
    tree: &'a BenchmarkTree,
    request: Request,
    filter: CheckFilter,
    /// Each benchmark's merged config.yaml, read once however many nodes use it.
    configs: Mutex<BTreeMap<String, Arc<BenchmarkConfig>>>,
    /// Notes such as unknown keys, said once for the whole run.
    warnings: Mutex<BTreeSet<String>>,
}

/// One node's results with the benchmark and targets chosen for it.
struct Evaluated {
    node: NodeResults,
    selection: Selection,
    targets: Vec<String>,
}

/// Why a node has no results: the whole run cannot go on, or only this node cannot.
enum NodeFailure {
    Fatal(anyhow::Error),
    Unreadable(String),
}

impl NodeRunner<'_> {
    fn evaluate(
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

/// Every snapshot, in parallel; each is loaded, evaluated and dropped, so memory grows
/// with results, not with snapshots.
fn evaluate_snapshots(
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
    outcomes.par_extend(discovery.sources.par_iter().map(|source| {
        let name = source.path.display().to_string();
        let outcome = match source.open() {
            Ok(facts) => runner.evaluate(facts.as_ref(), &name, || None),
            Err(error) => Err(NodeFailure::Unreadable(error.to_string())),
        };
        (name, outcome)
    }));
    outcomes
}

/// One results document from every node's outcome: nodes sorted by name, unreadable
/// ones listed with their reason. All nodes must have run the same benchmark.
fn assemble(
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
    let benchmarks: BTreeSet<&str> = evaluated
        .iter()
        .map(|e| e.selection.benchmark.as_str())
        .collect();
    if benchmarks.len() > 1 {
        bail!(
            "the nodes map to different benchmarks ({}); scan them separately or choose one with --benchmark",
            evaluated
                .iter()
                .map(|e| format!("{}: {}", e.node.node.name, e.selection.benchmark))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
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
    let benchmark = BenchmarkInfo {
        name: evaluated[0].selection.benchmark.clone(),
        source: tree.describe(),
        selected_because: because.into_iter().collect::<Vec<_>>().join("; "),
        targets,
    };
    let nodes: Vec<NodeResults> = evaluated.into_iter().map(|e| e.node).collect();
    let mut totals = Totals::default();
    for node in &nodes {
        totals.merge(&node.totals);
    }
    Ok(RunResults {
        results_version: RESULTS_VERSION,
        tool: ToolInfo::current(),
        benchmark,
        nodes,
        unreadable,
        totals,
        gate: GateOutcome {
            fail_on: String::new(),
            allow_errors: false,
            passed: true,
            exit_code: 0,
            regressions: 0,
        },
        baseline: None,
        previous: None,
    })
}

fn live_options(cmd: &ScanCommand) -> LiveOptions {
    LiveOptions {
        root: cmd.root.clone(),
        shell_timeout: Duration::from_secs(cmd.shell_timeout),
        kubectl: KubectlOptions {
            binary: cmd.kubectl.clone(),
            kubeconfig: cmd.kubeconfig.clone(),
            ..KubectlOptions::default()
        },
        node_name: cmd.node_name.clone(),
        ..LiveOptions::default()
    }
}

fn ensure_checks_exist(asked: &[String], results: &RunResults) -> anyhow::Result<()> {
    let found: BTreeSet<&str> = results.checks().map(|(_, _, c)| c.id.as_str()).collect();
    let unknown: Vec<&str> = asked
        .iter()
        .map(String::as_str)
        .filter(|id| !found.contains(id))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        bail!(
            "--check: no check with id {} in the selected targets",
            unknown.join(", ")
        )
    }
}

/// Renders every report first and writes them only when all rendered, so a failure
/// leaves no half-written report behind.
fn emit(cmd: &ScanCommand, results: &RunResults) -> anyhow::Result<()> {
    let options = RenderOptions {
        color: !cmd.no_color
            && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never,
        include_test_output: cmd.include_test_output,
        ..RenderOptions::default()
    };
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Some(path) = &cmd.json {
        outputs.push((path.clone(), report::json::Json.render(results, &options)?));
    }
    let console = if cmd.quiet || cmd.json.as_deref() == Some(std::path::Path::new("-")) {
        None
    } else {
        Some(report::text::Text.render(results, &options)?)
    };
    write_reports(results, &cmd.reports, &options)?;
    for (path, bytes) in &outputs {
        report::write_output(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(bytes) = console {
        report::write_output(std::path::Path::new("-"), &bytes)?;
    }
    Ok(())
}
