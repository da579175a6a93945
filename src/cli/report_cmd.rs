//! `cisgate report`: re-renders reports and the console report from saved JSON results,
//! merging several results files (one per node, e.g. a fleet's nightly jobs) into one, and with
//! `--gate` gates on them as `cisgate scan` would (a pipeline that scans in one job and gates in
//! another).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::args::LimitArgs;
use crate::baseline::{self, args::BaselineArgs, args::DEFAULT_WARN_EXPIRY_DAYS};
use crate::facts::bounded::{self, Limit};
use crate::gate::{self, FailOn, GatePolicy, EXIT_OK};
use crate::report::args::{write_reports, ConsoleArgs, Rendered, ReportArgs};
use crate::report::merge::merge;
use crate::report::{self as reports, Emitter};
use crate::results::{RunResults, READS_RESULTS_VERSION, RESULTS_VERSION};

const BASELINE_HELP: &str = "Re-apply this allowlist to the saved results (expiry judged as of \
    today or --today); without it, the results keep the classification the scan recorded";

#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("baseline", |arg| arg.help(BASELINE_HELP)))]
pub struct ReportCommand {
    /// A JSON results file written by `cisgate scan` (gzip accepted, `-` for stdin). Repeat it
    /// to merge several runs, one per node, into one report.
    #[arg(long = "from", value_name = "RESULTS.json", required = true)]
    pub from: Vec<PathBuf>,
    /// Gate as `cisgate scan` does: exit 1 on regressions (or expired exceptions; with
    /// --strict stale or expiring ones), 3 when some nodes could not be evaluated, 0 otherwise.
    /// Without it the exit code is 0 once the reports are written.
    #[arg(long)]
    pub gate: bool,
    /// The lowest state that fails the gate [default: as the scan was gated]
    #[arg(long, value_enum, value_name = "STATE")]
    pub fail_on: Option<FailOn>,
    /// Checks that could not be evaluated (ERROR) do not fail the gate [default: as the scan
    /// was gated]
    #[arg(long)]
    pub allow_errors: bool,
    /// With --gate: results that hold no check are not an error (exit 0 instead of 2).
    #[arg(long)]
    pub allow_empty: bool,
    #[command(flatten)]
    pub json: crate::report::args::JsonArgs,
    /// No console report (it is also left out when a report goes to stdout).
    #[arg(long, short)]
    pub quiet: bool,
    /// No colour in console output (also: NO_COLOR set, or stdout not a terminal).
    #[arg(long)]
    pub no_color: bool,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub baseline: BaselineArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Reads, merges, re-applies the baseline and the gate when asked, and renders. Returns the
/// exit code: with `--gate` the gate's (as `cisgate scan`'s), else 0 once the reports are written.
pub fn run(cmd: ReportCommand) -> anyhow::Result<i32> {
    ensure_flags_fit(&cmd)?;
    cmd.limits.apply();
    let mut inputs = Vec::with_capacity(cmd.from.len());
    for path in &cmd.from {
        inputs.push((path.display().to_string(), read_results(path)?));
    }
    let mut results = merge(inputs)?;
    // Errors go to stderr whatever the console settings (--quiet, a report on stdout).
    for unreadable in &results.unreadable {
        eprintln!(
            "cisgate: could not evaluate {}: {}",
            unreadable.source, unreadable.reason
        );
    }
    if cmd.gate && results.totals.checks() == 0 && !cmd.allow_empty {
        bail!(
            "{} hold(s) no check result: a gate on them would check nothing; pass --allow-empty to accept an empty run",
            joined(&cmd.from)
        );
    }
    baseline::reapply(&mut results, &cmd.baseline, cmd.baseline.today())?;
    if let Some(previous_path) = &cmd.baseline.previous {
        let previous = read_results(previous_path)?;
        baseline::previous::mark(
            &mut results,
            &previous,
            &previous_path.display().to_string(),
        );
    }
    if decides_again(&cmd) {
        results.gate = gate::decide(&results, &policy(&cmd, &results));
    }
    emit(&cmd, &results)?;
    Ok(if cmd.gate {
        results.gate.exit_code
    } else {
        EXIT_OK
    })
}

/// Flags that would silently do nothing are refused: `--quiet` with no report, no `--json` and
/// no `--gate`; classification flags without a `--baseline` to classify against.
fn ensure_flags_fit(cmd: &ReportCommand) -> anyhow::Result<()> {
    if cmd.quiet && !cmd.gate && !cmd.reports.any() && cmd.json.json.is_none() {
        bail!("nothing to do: --quiet and no report; give --gate or at least one of --sarif, --junit, --html, --codequality, --summary-md or --json");
    }
    let args = &cmd.baseline;
    let classifies = args.require_reasons || args.warn_expiry != DEFAULT_WARN_EXPIRY_DAYS;
    if classifies && args.baseline.is_none() {
        bail!("--require-reasons and --warn-expiry classify the results against an allowlist: give it with --baseline FILE (saved results keep the classification the scan recorded)");
    }
    Ok(())
}

/// The gate is decided again when asked to gate or when a flag changes what it depends on;
/// otherwise the merged verdict of the inputs stands.
fn decides_again(cmd: &ReportCommand) -> bool {
    cmd.gate
        || cmd.fail_on.is_some()
        || cmd.allow_errors
        || cmd.baseline.strict
        || cmd.baseline.baseline.is_some()
        || cmd.baseline.no_baseline
}

/// The gate's policy: the flags given here, else the one the scan recorded.
fn policy(cmd: &ReportCommand, results: &RunResults) -> GatePolicy {
    let recorded = if results.gate.fail_on == FailOn::Warn.as_str() {
        FailOn::Warn
    } else {
        FailOn::Fail
    };
    GatePolicy {
        fail_on: cmd.fail_on.unwrap_or(recorded),
        allow_errors: cmd.allow_errors || results.gate.allow_errors,
        strict: cmd.baseline.strict,
    }
}

fn joined(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every report and `--json` rendered first and written as one set, then the console report
/// (left out with `--quiet` or when a report is the whole of stdout), as `cisgate scan` does.
fn emit(cmd: &ReportCommand, results: &RunResults) -> anyhow::Result<()> {
    let options = cmd.console.options(
        !cmd.no_color
            && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never,
    );
    cmd.json.ensure_one_on_stdout(&cmd.reports)?;
    let json_to_stdout = cmd.json.to_stdout();
    let extra: Vec<Rendered> = cmd.json.render(results, false)?.into_iter().collect();
    let console = if cmd.quiet || json_to_stdout || cmd.reports.uses_stdout() {
        None
    } else {
        Some(reports::text::Text.render(results, &options)?)
    };
    write_reports(results, &cmd.reports, &options, extra)?;
    if let Some(bytes) = console {
        reports::write_output(Path::new("-"), &bytes)?;
    }
    Ok(())
}

/// Reads one results file with an error that names the file and says what was expected.
pub fn read_results(path: &Path) -> anyhow::Result<RunResults> {
    let bytes = read_bytes(path)?;
    let name = path.display();
    match crate::results::from_json_slice(&bytes) {
        Ok(results) if results.results_version > READS_RESULTS_VERSION => bail!(
            "{name}: results_version {} is newer than this cisgate reads ({READS_RESULTS_VERSION}); use a newer cisgate",
            results.results_version
        ),
        Ok(results) => Ok(results),
        Err(error) => Err(explain(&name.to_string(), &bytes, error)),
    }
}

/// Reads a results file (or stdin), gunzipped when compressed, at most
/// `--max-snapshot-size` bytes either way: results come from nodes' pipelines.
fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    let name = path.display();
    let bytes = if path == Path::new("-") {
        bounded::read_stream_limited(std::io::stdin().lock(), Limit::Snapshot, 0)
            .context("reading results from stdin")?
    } else {
        bounded::read_regular(path, Limit::Snapshot, true)
            .with_context(|| format!("cannot read results file {name}"))?
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::GzDecoder::new(bytes.as_slice());
        return bounded::read_stream_limited(decoder, Limit::Snapshot, 0)
            .with_context(|| format!("{name}: not a valid gzip file within the size limit"));
    }
    Ok(bytes)
}

fn explain(name: &str, bytes: &[u8], error: serde_json::Error) -> anyhow::Error {
    let expected = format!(
        "expected a cisgate JSON results file (an object with \"results_version\": {RESULTS_VERSION}, as `cisgate scan` writes it)"
    );
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(syntax) => {
            return anyhow::anyhow!(
                "{name}:{}:{}: not valid JSON ({syntax}); {expected}",
                syntax.line(),
                syntax.column()
            )
        }
    };
    match value.get("results_version").and_then(|v| v.as_u64()) {
        None => anyhow::anyhow!("{name}: no \"results_version\" field; {expected}"),
        Some(version) if version > u64::from(READS_RESULTS_VERSION) => anyhow::anyhow!(
            "{name}: results_version {version} is newer than this cisgate reads ({READS_RESULTS_VERSION}); use a newer cisgate"
        ),
        Some(_) => anyhow::anyhow!(
            "{name}:{}:{}: {error}; {expected}",
            error.line(),
            error.column()
        ),
    }
}
