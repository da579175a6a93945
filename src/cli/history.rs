//! `cisgate history`: the results store over time — import saved results, report trends,
//! prune old runs, list runs.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use jiff::civil::Date;
use jiff::Timestamp;

use crate::report::write_output;
use crate::store::read::{format_time, RunFilter};
use crate::store::sink::{self, Import, RunIdentity};
use crate::store::trend::{Trend, TrendOptions};
use crate::store::{trend_report, Store, Written, DEFAULT_STORE};

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Store saved JSON results files as runs (each file one run; importing again changes nothing).
    Import(ImportCommand),
    /// The trend report: pass rate over time, regressions opened and fixed, time to fix, …
    Report(TrendCommand),
    /// Delete runs older than a duration (and what only they referred to).
    Prune(PruneCommand),
    /// List the stored runs.
    Runs(RunsCommand),
}

#[derive(Debug, Args)]
pub struct StoreLocation {
    /// The results store: a SQLite file or postgres://user@host/db
    #[arg(long, value_name = "URL", env = "CISGATE_STORE", default_value = DEFAULT_STORE)]
    store: String,
}

#[derive(Debug, Args)]
pub struct ImportCommand {
    /// JSON results files written by `cisgate scan --json`.
    #[arg(value_name = "RESULTS.json", required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    location: StoreLocation,
    /// The cluster the runs belong to [default: the `cluster` the results' nodes name,
    /// else `default`]
    #[arg(long, value_name = "NAME", env = "CISGATE_CLUSTER")]
    cluster: Option<String>,
    /// The run id (one file only) [default: derived from the file's content and cluster]
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
    /// When the run happened (RFC 3339, e.g. 2026-11-02T02:00:00Z) [default: the file's
    /// modification time]
    #[arg(long, value_name = "TIME")]
    started_at: Option<Timestamp>,
    /// Say nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct TrendCommand {
    #[command(flatten)]
    location: StoreLocation,
    /// Write the self-contained HTML trend report to FILE (`-` for stdout)
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write a Markdown summary to FILE, e.g. "$GITHUB_STEP_SUMMARY" (`-` for stdout)
    #[arg(long = "summary-md", value_name = "FILE")]
    summary_md: Option<PathBuf>,
    /// Write the numbers as JSON to FILE (`-` for stdout)
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// Only this benchmark.
    #[arg(long, value_name = "NAME")]
    benchmark: Option<String>,
    /// Only runs of the last DURATION (e.g. 90d, 12w, 48h) or since a date (YYYY-MM-DD)
    #[arg(long, value_name = "DURATION|DATE")]
    since: Option<String>,
    /// List accepted exceptions expiring within DAYS
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    expiring_within: i64,
    /// Judge expiry as of this date instead of today (UTC)
    #[arg(long, value_name = "YYYY-MM-DD", env = "CISGATE_TODAY")]
    today: Option<Date>,
}

#[derive(Debug, Args)]
pub struct PruneCommand {
    #[command(flatten)]
    location: StoreLocation,
    /// Keep the runs of the last DURATION (e.g. 90d, 12w, 48h); delete older ones
    #[arg(long, value_name = "DURATION", required = true)]
    keep: String,
    /// Say nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct RunsCommand {
    #[command(flatten)]
    location: StoreLocation,
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(command: HistoryCommand) -> anyhow::Result<i32> {
    match command {
        HistoryCommand::Import(cmd) => import(cmd),
        HistoryCommand::Report(cmd) => report(cmd),
        HistoryCommand::Prune(cmd) => prune(cmd),
        HistoryCommand::Runs(cmd) => runs(cmd),
    }
}

fn import(cmd: ImportCommand) -> anyhow::Result<i32> {
    if cmd.run_id.is_some() && cmd.files.len() > 1 {
        bail!("--run-id names one run: import one file with it");
    }
    let mut store = Store::open(&cmd.location.store)?;
    for file in &cmd.files {
        let (meta, written) = sink::import(
            &mut store,
            &Import {
                file,
                identity: RunIdentity {
                    cluster: cmd.cluster.clone(),
                    run_id: cmd.run_id.clone(),
                },
                started_at: cmd.started_at,
            },
        )?;
        if !cmd.quiet {
            let what = match written {
                Written::Stored => "imported",
                Written::AlreadyStored => "already stored, unchanged:",
            };
            eprintln!(
                "cisgate: {what} {} as run {} ({}, {})",
                file.display(),
                meta.run_id,
                meta.cluster,
                format_time(meta.started_at.as_second())
            );
        }
    }
    Ok(0)
}

fn report(cmd: TrendCommand) -> anyhow::Result<i32> {
    let outputs = [&cmd.html, &cmd.summary_md, &cmd.json];
    let to_stdout = outputs
        .iter()
        .filter(|o| o.as_deref() == Some(std::path::Path::new("-")))
        .count();
    if to_stdout > 1 {
        bail!("only one of --html, --summary-md, --json can go to stdout (`-`)");
    }
    let now = Timestamp::now();
    let today = cmd
        .today
        .unwrap_or_else(|| now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date());
    let since = cmd
        .since
        .as_deref()
        .map(|text| since_seconds(text, now))
        .transpose()?;
    let mut store = Store::open(&cmd.location.store)?;
    let options = TrendOptions {
        cluster: cmd.cluster.clone(),
        benchmark: cmd.benchmark.clone(),
        since,
        today,
        expiring_within_days: cmd.expiring_within,
    };
    let trend = Trend::compute(&mut store, &options)?;
    let filtered = cmd.cluster.is_some() || cmd.benchmark.is_some() || since.is_some();
    let mut rendered = Vec::new();
    if let Some(path) = &cmd.html {
        rendered.push((
            path,
            trend_report::html(&trend, cmd.expiring_within, filtered)?,
        ));
    }
    if let Some(path) = &cmd.summary_md {
        rendered.push((path, trend_report::markdown(&trend)));
    }
    if let Some(path) = &cmd.json {
        rendered.push((path, trend_report::json(&trend)?));
    }
    if rendered.is_empty() {
        rendered.push((&STDOUT, trend_report::markdown(&trend)));
    }
    for (path, bytes) in rendered {
        write_output(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(0)
}

static STDOUT: std::sync::LazyLock<PathBuf> = std::sync::LazyLock::new(|| PathBuf::from("-"));

fn prune(cmd: PruneCommand) -> anyhow::Result<i32> {
    let keep = parse_duration(&cmd.keep).context("--keep")?;
    let cutoff = Timestamp::now().as_second() - keep;
    let mut store = Store::open(&cmd.location.store)?;
    let deleted = store.prune_before(cutoff)?;
    if !cmd.quiet {
        eprintln!(
            "cisgate: deleted {deleted} run(s) that started before {} from {}",
            format_time(cutoff),
            store.describe()
        );
    }
    Ok(0)
}

fn runs(cmd: RunsCommand) -> anyhow::Result<i32> {
    let mut store = Store::open(&cmd.location.store)?;
    let runs = store.runs(&RunFilter {
        cluster: cmd.cluster,
        ..RunFilter::default()
    })?;
    let text = if cmd.json {
        serde_json::to_string_pretty(&runs)? + "\n"
    } else {
        let mut out = String::from(
            "STARTED               CLUSTER  BENCHMARK  NODES  PASS%  REGRESSIONS  RUN\n",
        );
        for run in &runs {
            out.push_str(&format!(
                "{}  {}  {}  {}  {}  {}  {}\n",
                format_time(run.started_at),
                run.cluster,
                run.benchmark,
                run.nodes,
                trend_report::percent(
                    (run.totals.evaluated() > 0)
                        .then(|| run.totals.pass as f64 * 100.0 / run.totals.evaluated() as f64)
                ),
                run.regressions,
                run.run_id
            ));
        }
        out
    };
    write_output(std::path::Path::new("-"), text.as_bytes())?;
    Ok(0)
}

/// `90d`, `12w`, `48h`, `30m` as seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a duration like 90d, 12w or 48h"))?;
    let unit_seconds = match unit {
        "d" => 86_400,
        "w" => 7 * 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => bail!("{text:?} is not a duration like 90d, 12w or 48h"),
    };
    number
        .checked_mul(unit_seconds)
        .ok_or_else(|| anyhow::anyhow!("{text:?} is too long a duration"))
}

/// `--since`: a duration back from now, or a date (its start, UTC).
fn since_seconds(text: &str, now: Timestamp) -> anyhow::Result<i64> {
    if let Ok(date) = text.parse::<Date>() {
        let days = (date - jiff::civil::date(1970, 1, 1)).get_days();
        return Ok(i64::from(days) * 86_400);
    }
    Ok(now.as_second() - parse_duration(text).context("--since")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_days_weeks_and_hours() {
        assert_eq!(parse_duration("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("48h").unwrap(), 48 * 3_600);
        assert!(parse_duration("90").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn since_takes_a_date_or_a_duration_back_from_now() {
        let now = Timestamp::from_second(10 * 86_400).unwrap();
        assert_eq!(since_seconds("1970-01-02", now).unwrap(), 86_400);
        assert_eq!(since_seconds("2d", now).unwrap(), 8 * 86_400);
        assert!(since_seconds("yesterday", now).is_err());
    }
}
