//! `cisgate baseline create|update`: write the allowlist from a run: its JSON results
//! (`--from`) or snapshots scanned on the spot (`--snapshot`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::args::SelectionArgs;
use crate::baseline::update::{self, Updated};
use crate::baseline::{read_results, BaselineFile, DEFAULT_PATH};
use crate::engine::run::CheckFilter;
use crate::gate::{FailOn, GatePolicy, EXIT_OK};
use crate::results::RunResults;
use crate::runner::{self, Input, NodeRunner};

#[derive(Debug, Clone, clap::Args)]
pub struct BaselineCommand {
    #[command(subcommand)]
    pub action: BaselineAction,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BaselineAction {
    /// Write a new allowlist accepting every current failure (placeholder reasons)
    Create {
        #[command(flatten)]
        run: FromRun,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Keep FILE's entries and reasons, add new failures, report (or --prune) stale entries
    Update {
        #[command(flatten)]
        run: FromRun,
        /// Remove entries that match no failure of the run any more
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct FromRun {
    /// A JSON results file written by `cisgate scan --json`
    #[arg(
        long,
        value_name = "RESULTS.json",
        required_unless_present = "snapshots",
        conflicts_with = "snapshots"
    )]
    pub from: Option<PathBuf>,

    /// Scan these snapshots (files, node trees, or folders of them) instead of reading a
    /// results file (repeatable)
    #[arg(long = "snapshot", value_name = "PATH")]
    pub snapshots: Vec<PathBuf>,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// The baseline file to write (`-` = stdout, `create` only)
    #[arg(short, long, value_name = "FILE", default_value = DEFAULT_PATH)]
    pub output: PathBuf,

    /// Which states to accept: `fail` (FAIL and ERROR) or `warn` (WARN too)
    /// [default: as the run was gated]
    #[arg(long, value_enum, value_name = "STATE")]
    pub fail_on: Option<FailOn>,
}

pub fn run(cmd: BaselineCommand) -> anyhow::Result<i32> {
    let run = match &cmd.action {
        BaselineAction::Create { run, .. } | BaselineAction::Update { run, .. } => run,
    };
    let results = match &run.from {
        Some(from) => read_results(from)?,
        None => scan_snapshots(run)?,
    };
    run_with_results(&cmd, &results)
}

/// The `--snapshot` form: evaluates the snapshots as `cisgate scan` would, gated as asked.
fn scan_snapshots(run: &FromRun) -> anyhow::Result<RunResults> {
    let tree = run.selection.tree()?;
    let runner = NodeRunner::new(&tree, run.selection.request(), CheckFilter::default());
    let mut results = runner::run_whole(&runner, Input::Snapshots(&run.snapshots))?;
    let policy = GatePolicy {
        fail_on: run.fail_on.unwrap_or_default(),
        allow_errors: false,
        strict: false,
    };
    results.gate = crate::gate::decide(&results, &policy);
    Ok(results)
}

/// Writes the baseline from results already in memory (the `--snapshot` form scans first).
pub fn run_with_results(cmd: &BaselineCommand, results: &RunResults) -> anyhow::Result<i32> {
    match &cmd.action {
        BaselineAction::Create { run, force } => {
            if run.output != Path::new("-") && run.output.exists() && !force {
                bail!(
                    "{}: already exists; use `cisgate baseline update` to keep its reasons, or --force to replace it",
                    run.output.display()
                );
            }
            let created = update::create(results, &policy(run, results));
            write(&run.output, &created)?;
            report(&run.output, &created);
        }
        BaselineAction::Update { run, prune } => {
            if run.output == Path::new("-") {
                bail!("`baseline update` reads and rewrites FILE: give a path with -o, not `-`");
            }
            let existing = if run.output.exists() {
                BaselineFile::load(&run.output)?
            } else {
                BaselineFile::empty(&run.output.display().to_string())
            };
            let updated = update::update(&existing, results, &policy(run, results), *prune);
            write(&run.output, &updated)?;
            report(&run.output, &updated);
        }
    }
    Ok(EXIT_OK)
}

/// The states that need an exception: `--fail-on`, else those the run was gated on.
fn policy(run: &FromRun, results: &RunResults) -> GatePolicy {
    let recorded = if results.gate.fail_on == FailOn::Warn.as_str() {
        FailOn::Warn
    } else {
        FailOn::Fail
    };
    GatePolicy {
        fail_on: run.fail_on.unwrap_or(recorded),
        allow_errors: results.gate.allow_errors,
        strict: false,
    }
}

fn write(output: &Path, updated: &Updated) -> anyhow::Result<()> {
    let text = update::render(&updated.entries);
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
    }
    crate::report::write_output(output, text.as_bytes())
        .with_context(|| format!("{}: cannot write", output.display()))
}

fn report(output: &Path, updated: &Updated) {
    let shown = if output == Path::new("-") {
        "stdout".to_string()
    } else {
        output.display().to_string()
    };
    eprintln!(
        "{shown}: {} ({} kept, {} added)",
        count_of(updated.entries.len(), "entry", "entries"),
        updated.kept,
        updated.added
    );
    if updated.added > 0 {
        let have = if updated.added == 1 { "has" } else { "have" };
        eprintln!(
            "  {} {have} a placeholder reason: write why each is accepted (--require-reasons rejects placeholders)",
            count_of(updated.added, "new entry", "new entries")
        );
    }
    for entry in &updated.pruned {
        eprintln!("  pruned stale entry: check {}", entry.check);
    }
    if updated.stale_kept > 0 {
        eprintln!(
            "  {} kept: run `cisgate baseline update --prune` to remove {}",
            count_of(updated.stale_kept, "stale entry", "stale entries"),
            if updated.stale_kept == 1 {
                "it"
            } else {
                "them"
            }
        );
    }
}

/// `1 entry`, `2 entries`.
fn count_of(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}
