//! `cisgate scan`: definitions → facts → engine → results → gate → reports.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use super::args::{LimitArgs, LiveArgs, SelectionArgs};
use super::history_args::{take_previous_from_store, StoreArgs};
use crate::baseline::{self, args::BaselineArgs};
use crate::definitions::load::benchmark_controls;
use crate::definitions::tree::BenchmarkTree;
use crate::engine::run::CheckFilter;
use crate::facts::live::LiveFacts;
use crate::gate::{self, FailOn, GatePolicy};
use crate::report::args::{check_destination, write_reports, ConsoleArgs, Rendered, ReportArgs};
use crate::report::asff::AsffArgs;
use crate::report::destination;
use crate::report::json::JsonSink;
use crate::report::sanitize;
use crate::report::stream::Outputs;
use crate::report::{self, Emitter, RenderOptions};
use crate::results::{GateOutcome, RunResults};
use crate::runner::{self, Input, NodeRunner, Pipeline};
use crate::store::sink;

#[derive(Debug, Args)]
pub struct ScanCommand {
    /// Scan the node this runs on (the default without --snapshot).
    #[arg(long)]
    live: bool,
    /// Evaluate snapshots instead of this node: a snapshot file (.json, .json.gz), a
    /// snapshot directory (a node's root tree), or a folder holding many (repeatable).
    #[arg(long = "snapshot", value_name = "PATH", conflicts_with_all = ["live", "root"])]
    snapshots: Vec<PathBuf>,
    #[command(flatten)]
    selection: SelectionArgs,
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
    #[command(flatten)]
    json: report::args::JsonArgs,
    /// Leave passing checks' evidence out of the JSON results (audits, found and expected
    /// empty): a fleet's results shrink to what needs attention.
    #[arg(long, requires = "json")]
    json_without_passing_evidence: bool,
    /// The lowest state that fails the gate.
    #[arg(long, value_enum, default_value = "fail")]
    fail_on: FailOn,
    /// Checks that could not be evaluated (ERROR) do not fail the gate.
    #[arg(long)]
    allow_errors: bool,
    /// A selection (--check, --group, --targets, --scored, ...) that runs no check is not an
    /// error (exit 0 instead of 2).
    #[arg(long)]
    allow_empty: bool,
    /// No colour in console output (also: NO_COLOR set, or stdout not a terminal).
    #[arg(long)]
    no_color: bool,
    /// No console report.
    #[arg(long, short)]
    quiet: bool,
    /// Say more: unknown keys in benchmark files, what was detected.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    console: ConsoleArgs,
    #[command(flatten)]
    node: LiveArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    baseline: BaselineArgs,
    #[command(flatten)]
    reports: ReportArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    asff: AsffArgs,
}

pub fn run(cmd: ScanCommand) -> anyhow::Result<i32> {
    cmd.limits.apply();
    let started_at = cmd.baseline.scan_time().map_err(anyhow::Error::msg)?;
    let mut baseline_args = cmd.baseline.clone();
    let previous_from_store = take_previous_from_store(&mut baseline_args, &cmd.store)?;
    let tree = cmd.selection.tree()?;
    let filter = CheckFilter {
        only_checks: cmd.checks.clone(),
        only_groups: cmd.groups.clone(),
        skip: cmd.skip.clone(),
        scored_only: cmd.scored,
        unscored_only: cmd.unscored,
    };
    let runner = NodeRunner::new(&tree, cmd.selection.request(), filter);
    let live;
    let input = if cmd.snapshots.is_empty() {
        live = LiveFacts::new(cmd.node.options());
        Input::Live(&live)
    } else {
        Input::Snapshots(&cmd.snapshots)
    };
    if streams(&cmd) {
        // Its staged reports are dropped (removed) before an interrupted run ends.
        return run_streamed(&cmd, &tree, runner, input, &baseline_args, started_at)
            .map_err(stop_if_interrupted);
    }
    let mut results = runner::run_whole(&runner, input)?;
    results.scanned_at = Some(started_at);
    say_warnings(&runner, cmd.verbose);
    let_the_process_free(runner);
    say_unreadable(&results);
    ensure_selection_exists(&tree, &cmd, &results)?;
    ensure_not_empty(&cmd, &results, results.nodes.len())?;
    baseline::apply(&mut results, &baseline_args, cmd.baseline.today())?;
    // The run's cluster and id matter only where the run is stored or exported (a fleet of
    // several clusters scans fine without them).
    let meta = if cmd.store.store.is_some() || cmd.asff.asff.is_some() {
        Some(cmd.store.identity().scan_meta(&results, started_at)?)
    } else {
        None
    };
    if let (true, Some(url), Some(meta)) = (previous_from_store, &cmd.store.store, &meta) {
        sink::mark_previous_from_store(url, &meta.cluster, &mut results)?;
    }
    results.gate = gate::decide(&results, &policy(&cmd));
    let mut extra = Vec::new();
    if let (Some(path), Some(meta)) = (&cmd.asff.asff, &meta) {
        let context = cmd.asff.context(&meta.cluster, started_at, &meta.run_id)?;
        extra.push(Rendered {
            flag: "--asff".into(),
            path: path.clone(),
            bytes: report::asff::render(&results, &context)?,
        });
    }
    emit(&cmd, &results, extra)?;
    if let (Some(url), Some(meta)) = (&cmd.store.store, &meta) {
        sink::record(url, meta, &results, cmd.quiet)?;
    }
    Ok(results.gate.exit_code)
}

/// Whether the run can go node by node into its consumers, never holding the whole run:
/// no console report, results store or ASFF (they take the whole run), and only reports
/// written as nodes arrive.
fn streams(cmd: &ScanCommand) -> bool {
    let console = !(cmd.quiet || cmd.json.to_stdout() || cmd.reports.uses_stdout());
    !console && cmd.store.store.is_none() && cmd.asff.asff.is_none()
}

/// The scan as a stream: each node is classified, counted by the gate and written into
/// every report as it finishes; reports are renamed into place only when the run is done.
fn run_streamed(
    cmd: &ScanCommand,
    tree: &BenchmarkTree,
    runner: NodeRunner,
    input: Input,
    baseline_args: &BaselineArgs,
    started_at: jiff::Timestamp,
) -> anyhow::Result<i32> {
    // Signals are noted, not fatal, only while there are reports to stage and remove.
    let writes_reports = cmd.json.json.is_some() || cmd.reports.any();
    let _interruptible = writes_reports.then(destination::Interruptible::install);
    let mut stages = baseline::stages(baseline_args, cmd.baseline.today())?;
    stages.push(Box::new(gate::Counter::new(policy(cmd))));
    let outputs = Outputs::default();
    let template = report::stream::template(
        GateOutcome {
            fail_on: cmd.fail_on.as_str().into(),
            allow_errors: cmd.allow_errors,
            ..GateOutcome::undecided()
        },
        Some(started_at),
    );
    cmd.json.ensure_one_on_stdout(&cmd.reports)?;
    let mut sinks: Vec<Box<dyn runner::Sink>> = Vec::new();
    if let Some(path) = &cmd.json.json {
        check_destination("--json", path)?;
        sinks.push(Box::new(JsonSink::new(
            path,
            cmd.json_without_passing_evidence,
            cmd.json.results_format,
            outputs.clone(),
        )?));
    }
    sinks.extend(report::args::sinks(
        &cmd.reports,
        &render_options(cmd),
        &template,
        &outputs,
    )?);
    let pipeline = Pipeline::new(stages, sinks);
    // A quiet gate that writes no report reads no location.
    let runner = if pipeline.reads_locations() {
        runner
    } else {
        runner.without_locations()
    };
    pipeline.begin()?;
    let nodes = std::sync::atomic::AtomicUsize::new(0);
    let mut header = runner::run(&runner, input, &|node| {
        if let Some(signal) = destination::interrupted() {
            bail!(Interrupted(signal));
        }
        nodes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        pipeline.node(node)
    })?;
    say_warnings(&runner, cmd.verbose);
    let_the_process_free(runner);
    say_unreadable(&header);
    ensure_selection_exists(tree, cmd, &header)?;
    ensure_not_empty(cmd, &header, nodes.into_inner())?;
    header.scanned_at = Some(started_at);
    pipeline.finish_header(&mut header);
    pipeline.end(&header)?;
    report::stream::commit(&outputs, &[])?;
    Ok(header.gate.exit_code)
}

/// Leaves the runner's caches (configs, every loaded controls file) to the end of the
/// process, which frees them at once: dropping them piece by piece was 2% of a one-node scan.
fn let_the_process_free(runner: NodeRunner) {
    std::mem::forget(runner);
}

/// A signal asked the run to stop while reports were being written.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by signal {0}")]
struct Interrupted(i32);

/// Ends the process for an interrupted run (its staged reports already removed).
fn stop_if_interrupted(error: anyhow::Error) -> anyhow::Error {
    if let Some(Interrupted(signal)) = error.downcast_ref::<Interrupted>() {
        eprintln!("cisgate: interrupted; no report was changed");
        std::process::exit(128 + signal);
    }
    error
}

fn render_options(cmd: &ScanCommand) -> RenderOptions {
    cmd.console.options(
        !cmd.no_color
            && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never,
    )
}

fn policy(cmd: &ScanCommand) -> GatePolicy {
    GatePolicy {
        fail_on: cmd.fail_on,
        allow_errors: cmd.allow_errors,
        strict: cmd.baseline.strict,
    }
}

/// The run's notes (unknown keys in benchmark files and the like), under `--verbose`.
fn say_warnings(runner: &NodeRunner, verbose: bool) {
    if verbose {
        for warning in runner.warnings() {
            eprintln!("cisgate: warning: {}", sanitize::for_terminal(&warning));
        }
    }
}

/// Errors go to stderr whatever the console settings (--quiet, a report on stdout).
fn say_unreadable(results: &RunResults) {
    for unreadable in &results.unreadable {
        eprintln!(
            "cisgate: could not evaluate {}: {}",
            unreadable.source, unreadable.reason
        );
    }
}

/// A selection that runs no check is an error unless `--allow-empty`.
fn ensure_not_empty(cmd: &ScanCommand, results: &RunResults, nodes: usize) -> anyhow::Result<()> {
    if results.totals.checks() == 0 && !cmd.allow_empty {
        bail!(
            "the selection ran no check on {} node(s){}; pass --allow-empty to accept an empty run",
            nodes,
            describe_selection(cmd)
        );
    }
    Ok(())
}

/// Every id named by `--check`, `--group` and `--skip` exists in a benchmark the run used: a
/// typo must not turn into a gate that checks nothing.
fn ensure_selection_exists(
    tree: &BenchmarkTree,
    cmd: &ScanCommand,
    results: &RunResults,
) -> anyhow::Result<()> {
    if cmd.checks.is_empty() && cmd.groups.is_empty() && cmd.skip.is_empty() {
        return Ok(());
    }
    let benchmarks: Vec<&str> = if results.benchmarks.is_empty() {
        vec![results.benchmark.name.as_str()]
    } else {
        results.benchmarks.iter().map(|b| b.name.as_str()).collect()
    };
    let (mut checks, mut groups) = (BTreeSet::new(), BTreeSet::new());
    for benchmark in &benchmarks {
        for (_, controls) in benchmark_controls(tree, benchmark)? {
            for group in controls.groups {
                checks.extend(group.checks.into_iter().map(|c| c.id.to_string()));
                groups.insert(group.id.to_string());
            }
        }
    }
    let unknown = |asked: &[String], known: &dyn Fn(&str) -> bool| -> Vec<String> {
        asked.iter().filter(|id| !known(id)).cloned().collect()
    };
    let problems: Vec<String> = [
        (
            "--check",
            unknown(&cmd.checks, &|id| checks.contains(id)),
            "check",
        ),
        (
            "--group",
            unknown(&cmd.groups, &|id| groups.contains(id)),
            "group",
        ),
        (
            "--skip",
            unknown(&cmd.skip, &|id| checks.contains(id) || groups.contains(id)),
            "check or group",
        ),
    ]
    .into_iter()
    .filter(|(_, ids, _)| !ids.is_empty())
    .map(|(flag, ids, what)| {
        format!(
            "{flag}: no {what} {} in {}",
            ids.join(", "),
            benchmarks.join(", ")
        )
    })
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} (`cisgate benchmarks show NAME` lists the ids)",
            problems.join("; ")
        )
    }
}

/// The selection flags given, for messages: ` (--check 1.2.15, --group 4.1)`.
fn describe_selection(cmd: &ScanCommand) -> String {
    let mut parts = Vec::new();
    for (flag, ids) in [
        ("--check", &cmd.checks),
        ("--group", &cmd.groups),
        ("--skip", &cmd.skip),
    ] {
        if !ids.is_empty() {
            parts.push(format!("{flag} {}", ids.join(",")));
        }
    }
    if !cmd.selection.targets.is_empty() {
        parts.push(format!("--targets {}", cmd.selection.targets.join(",")));
    }
    if cmd.scored {
        parts.push("--scored".to_owned());
    }
    if cmd.unscored {
        parts.push("--unscored".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Renders every report first and writes them only when all rendered, so a failure
/// leaves no half-written report behind.
/// Every report of the run, `extra` (`--asff`) included, written as one set.
fn emit(cmd: &ScanCommand, results: &RunResults, extra: Vec<Rendered>) -> anyhow::Result<()> {
    let options = render_options(cmd);
    let json_to_stdout = cmd.json.to_stdout();
    cmd.json.ensure_one_on_stdout(&cmd.reports)?;
    let mut outputs = extra;
    outputs.extend(
        cmd.json
            .render(results, cmd.json_without_passing_evidence)?,
    );
    // A report on stdout is the whole of stdout: the console report would corrupt it.
    let console = if cmd.quiet || json_to_stdout || cmd.reports.uses_stdout() {
        None
    } else {
        Some(report::text::Text.render(results, &options)?)
    };
    write_reports(results, &cmd.reports, &options, outputs)?;
    if let Some(bytes) = console {
        report::write_output(std::path::Path::new("-"), &bytes)?;
    }
    Ok(())
}
