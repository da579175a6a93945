//! `cisgate report`: re-renders reports from saved JSON results, merging several results files
//! (one per node, e.g. a fleet's nightly jobs) into one report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::args::LimitArgs;
use crate::facts::bounded::{self, Limit};
use crate::report::args::{write_reports, Rendered, ReportArgs};
use crate::report::json::Json;
use crate::report::merge::merge;
use crate::report::{Emitter, RenderOptions};
use crate::results::{RunResults, RESULTS_VERSION};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportCommand {
    /// A JSON results file written by `cisgate scan` (gzip accepted, `-` for stdin). Repeat it
    /// to merge several runs, one per node, into one report.
    #[arg(long = "from", value_name = "RESULTS.json", required = true)]
    pub from: Vec<PathBuf>,
    /// An earlier run's JSON results: marks each result new, unchanged or fixed.
    #[arg(long, value_name = "RESULTS.json")]
    pub previous: Option<PathBuf>,
    /// Also write the merged (and `--previous`-marked) JSON results to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Reads, merges and renders. Returns the exit code: 0 once the reports are written (the gate
/// belongs to `cisgate scan`; re-rendering never fails a pipeline for regressions).
pub fn run(cmd: ReportCommand) -> anyhow::Result<i32> {
    if !cmd.reports.any() && cmd.json.is_none() {
        bail!("nothing to write: give at least one of --sarif, --junit, --html, --codequality, --summary-md or --json");
    }
    cmd.limits.apply();
    let mut inputs = Vec::with_capacity(cmd.from.len());
    for path in &cmd.from {
        inputs.push((path.display().to_string(), read_results(path)?));
    }
    let mut results = merge(inputs)?;
    if let Some(previous_path) = &cmd.previous {
        let previous = read_results(previous_path)?;
        crate::baseline::previous::mark(
            &mut results,
            &previous,
            &previous_path.display().to_string(),
        );
    }
    let options = RenderOptions::default();
    // Rendered before any report is written, like the others.
    let merged_json = match &cmd.json {
        Some(path) => Some((path, Json.render(&results, &options)?)),
        None => None,
    };
    if merged_json
        .as_ref()
        .is_some_and(|(path, _)| path.as_path() == Path::new("-"))
        && cmd.reports.uses_stdout()
    {
        bail!("only one output can go to stdout (`-`): --json and a report both ask for it");
    }
    let extra = merged_json
        .map(|(path, bytes)| Rendered {
            flag: "--json".into(),
            path: path.to_path_buf(),
            bytes,
        })
        .into_iter()
        .collect();
    write_reports(&results, &cmd.reports, &options, extra)?;
    Ok(0)
}

/// Reads one results file with an error that names the file and says what was expected.
pub fn read_results(path: &Path) -> anyhow::Result<RunResults> {
    let bytes = read_bytes(path)?;
    let name = path.display();
    match serde_json::from_slice::<RunResults>(&bytes) {
        Ok(results) if results.results_version > RESULTS_VERSION => bail!(
            "{name}: results_version {} is newer than this cisgate reads ({RESULTS_VERSION}); use a newer cisgate",
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
        Some(version) if version > u64::from(RESULTS_VERSION) => anyhow::anyhow!(
            "{name}: results_version {version} is newer than this cisgate reads ({RESULTS_VERSION}); use a newer cisgate"
        ),
        Some(_) => anyhow::anyhow!(
            "{name}:{}:{}: {error}; {expected}",
            error.line(),
            error.column()
        ),
    }
}
