//! `cisgate scan`: definitions → facts → engine → results → gate → reports.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use super::args::{LimitArgs, LiveArgs, SelectionArgs};
use super::nodes::{api_server_version, assemble, evaluate_snapshots, NodeRunner};
use crate::baseline::{self, args::BaselineArgs};
use crate::engine::run::CheckFilter;
use crate::facts::live::LiveFacts;
use crate::facts::Facts;
use crate::gate::{self, FailOn, GatePolicy};
use crate::report::args::{write_reports, Rendered, ReportArgs};
use crate::report::{self, Emitter, RenderOptions};
use crate::results::RunResults;

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
    #[command(flatten)]
    node: LiveArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    baseline: BaselineArgs,
    #[command(flatten)]
    reports: ReportArgs,
}

pub fn run(cmd: ScanCommand) -> anyhow::Result<i32> {
    cmd.limits.apply();
    let tree = cmd.selection.tree()?;
    let filter = CheckFilter {
        only_checks: cmd.checks.clone(),
        only_groups: cmd.groups.clone(),
        skip: cmd.skip.clone(),
        scored_only: cmd.scored,
        unscored_only: cmd.unscored,
    };
    let runner = NodeRunner::new(&tree, cmd.selection.request(), filter);
    let outcomes = if cmd.snapshots.is_empty() {
        let facts = LiveFacts::new(cmd.node.options());
        let source = facts.describe();
        let outcome = runner.evaluate(&facts, &source, || api_server_version(&facts));
        vec![(source, outcome)]
    } else {
        evaluate_snapshots(&runner, &cmd.snapshots)
    };
    runner.say_warnings(cmd.verbose);
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
    let mut outputs = Vec::new();
    if let Some(path) = &cmd.json {
        outputs.push(Rendered {
            flag: "--json".into(),
            path: path.clone(),
            bytes: report::json::Json.render(results, &options)?,
        });
    }
    let console = if cmd.quiet || cmd.json.as_deref() == Some(std::path::Path::new("-")) {
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
