//! `cisgate scan`: definitions → facts → engine → results → gate → reports.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::baseline::{self, args::BaselineArgs};
use crate::definitions::config::BenchmarkConfig;
use crate::definitions::select::{self, KubernetesVersion, Selection};
use crate::definitions::tree::BenchmarkTree;
use crate::engine::detect;
use crate::engine::run::CheckFilter;
use crate::engine::scan::{scan_node, ScanPlan};
use crate::facts::kubectl::KubectlOptions;
use crate::facts::live::{LiveFacts, LiveOptions};
use crate::facts::Facts;
use crate::gate::{self, FailOn, GatePolicy};
use crate::report::args::{write_reports, ReportArgs};
use crate::report::{self, Emitter, RenderOptions};
use crate::results::{BenchmarkInfo, GateOutcome, RunResults, ToolInfo, Totals, RESULTS_VERSION};

#[derive(Debug, Args)]
pub struct ScanCommand {
    /// Scan the node this runs on (the default).
    #[arg(long)]
    live: bool,
    /// Where the node's filesystem is mounted (`/host` in a pod with the host mounted).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
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
    let facts = LiveFacts::new(live_options(&cmd));
    let selection = choose_benchmark(&cmd, &tree, &facts)?;
    let config = BenchmarkConfig::load(&tree, Some(&selection.benchmark))?;
    let targets = choose_targets(&cmd, &config, &selection.benchmark, &facts)?;
    let filter = CheckFilter {
        only_checks: cmd.checks.clone(),
        only_groups: cmd.groups.clone(),
        skip: cmd.skip.clone(),
        scored_only: cmd.scored,
        unscored_only: cmd.unscored,
    };
    let plan = ScanPlan {
        tree: &tree,
        config: &config,
        benchmark: &selection.benchmark,
        targets: &targets,
        filter: &filter,
    };
    let verbose = cmd.verbose;
    let mut warn = |message: String| {
        if verbose {
            eprintln!("cisgate: warning: {message}");
        }
    };
    let node = scan_node(
        &plan,
        &facts,
        &facts.describe(),
        detect::roles_of(&targets),
        &mut warn,
    )?;
    if !cmd.checks.is_empty() {
        ensure_checks_exist(&cmd.checks, &node)?;
    }
    let mut results = RunResults {
        results_version: RESULTS_VERSION,
        tool: ToolInfo::current(),
        benchmark: BenchmarkInfo {
            name: selection.benchmark.clone(),
            source: tree.describe(),
            selected_because: selection.because.clone(),
            targets: targets.clone(),
        },
        totals: node.totals,
        nodes: vec![node],
        unreadable: Vec::new(),
        gate: GateOutcome {
            fail_on: String::new(),
            allow_errors: false,
            passed: true,
            exit_code: 0,
            regressions: 0,
        },
        baseline: None,
        previous: None,
    };
    results.totals = results.nodes.iter().fold(Totals::default(), |mut t, n| {
        t.merge(&n.totals);
        t
    });
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

/// `--benchmark`, else the version mapping with `--k8s-version` or the detected version.
/// An undeterminable version stops the run: no silent fallback to an old benchmark.
fn choose_benchmark(
    cmd: &ScanCommand,
    tree: &BenchmarkTree,
    facts: &LiveFacts,
) -> anyhow::Result<Selection> {
    if let Some(name) = &cmd.benchmark {
        return Ok(select::by_name(tree, name)?);
    }
    let version = match &cmd.k8s_version {
        Some(text) => KubernetesVersion::parse(text, "--k8s-version").with_context(|| {
            format!("--k8s-version `{text}` is not a Kubernetes version (expected X.Y, e.g. 1.33)")
        })?,
        None => detect::kubernetes_version(facts)
            .or_else(|| {
                facts.api_server_version().and_then(|v| {
                    KubernetesVersion::parse(&v, "the API server's version (kubectl version)")
                })
            })
            .context(
                "cannot determine the node's Kubernetes version (no control-plane manifest image tag, no API server answered); \
                 pass --k8s-version X.Y or --benchmark NAME",
            )?,
    };
    let config = BenchmarkConfig::load(tree, None)?;
    Ok(select::by_version(tree, &config, &version)?)
}

fn choose_targets(
    cmd: &ScanCommand,
    config: &BenchmarkConfig,
    benchmark: &str,
    facts: &dyn Facts,
) -> anyhow::Result<Vec<String>> {
    let all = config.targets_of(benchmark).unwrap_or_else(|| {
        ["master", "controlplane", "etcd", "node", "policies"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    if cmd.targets.is_empty() {
        let applicable = detect::applicable_targets(config, &all, facts);
        if applicable.is_empty() {
            bail!(
                "nothing to check on this node: no control-plane component, etcd or kubelet runs or is configured{}, \
                 and no API server answered; name what to check with --targets ({})",
                if cmd.root.as_os_str() == "/" { String::new() } else { format!(" under {}", cmd.root.display()) },
                all.join(", ")
            );
        }
        return Ok(applicable);
    }
    for target in &cmd.targets {
        if !all.contains(target) {
            bail!(
                "--targets: benchmark {benchmark} has no target `{target}` (it has: {})",
                all.join(", ")
            );
        }
    }
    Ok(cmd.targets.clone())
}

fn ensure_checks_exist(asked: &[String], node: &crate::results::NodeResults) -> anyhow::Result<()> {
    let found: Vec<&str> = node
        .sections
        .iter()
        .flat_map(|s| &s.groups)
        .flat_map(|g| &g.checks)
        .map(|c| c.id.as_str())
        .collect();
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
