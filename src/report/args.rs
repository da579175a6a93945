//! The report flags shared by `cisgate scan` and `cisgate report`, and writing every report
//! asked for: all are rendered first, then written, so a failure leaves nothing half-written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::codequality::CodeQualityEmitter;
use super::html::HtmlEmitter;
use super::json::ResultsFormat;
use super::junit::JunitEmitter;
use super::markdown::MarkdownEmitter;
use super::sarif::SarifEmitter;
use super::stream::Outputs;
use super::{destination, ConsoleFormat, Emitter, RenderOptions};
use crate::results::RunResults;
use crate::runner::Sink;

#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Reports")]
pub struct ReportArgs {
    /// Write a SARIF 2.1.0 report (GitHub code scanning) to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write a JUnit XML report (one suite per node and section) to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a GitLab Code Quality report (one issue per regression) to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub codequality: Option<PathBuf>,
    /// Write a Markdown summary to FILE, e.g. "$GITHUB_STEP_SUMMARY" (`-` for stdout).
    #[arg(long = "summary-md", value_name = "FILE")]
    pub summary_md: Option<PathBuf>,
    /// Report file paths relative to DIR (the repository root holding snapshot directories).
    #[arg(long = "source-root", value_name = "DIR")]
    pub source_root: Option<PathBuf>,
}

// The JSON results flags of `cisgate scan` and `cisgate report`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct JsonArgs {
    /// Write the JSON results file (`-` for stdout); `cisgate report` writes the merged,
    /// `--previous`-marked results.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The form of the JSON results: `full` (results_version 1, every check whole) or
    /// `compact` (results_version 2: each distinct title, remediation and evidence once,
    /// for fleets); every cisgate command that reads results reads both.
    #[arg(
        long,
        value_enum,
        value_name = "FORM",
        default_value = "full",
        requires = "json"
    )]
    pub results_format: ResultsFormat,
}

impl JsonArgs {
    /// Whether the JSON results go to stdout (then nothing else may).
    pub fn to_stdout(&self) -> bool {
        self.json.as_deref() == Some(Path::new("-"))
    }

    /// `--json -` and another report on stdout would mix two documents.
    pub fn ensure_one_on_stdout(&self, reports: &ReportArgs) -> anyhow::Result<()> {
        if self.to_stdout() && reports.uses_stdout() {
            bail!(
                "only one report can go to stdout (`-`), but --json and another report both ask for it"
            );
        }
        Ok(())
    }

    /// The JSON results rendered whole, when `--json` asks for them.
    pub fn render(
        &self,
        results: &RunResults,
        without_passing_evidence: bool,
    ) -> anyhow::Result<Option<Rendered>> {
        let Some(path) = &self.json else {
            return Ok(None);
        };
        Ok(Some(Rendered {
            flag: "--json".into(),
            path: path.clone(),
            bytes: super::json::render_results(
                results,
                self.results_format,
                without_passing_evidence,
            )?,
        }))
    }
}

// What the console report shows (kube-bench's spellings accepted as aliases).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Console")]
pub struct ConsoleArgs {
    /// What the console lists: `full` (every check per node, kube-bench's layout),
    /// `failures` (the checks that did not pass), `summary` (one line per node, then the
    /// regressions by check) [default: full for one node, summary for more]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ConsoleFormat>,
    /// Leave out the per-check lines (also --noresults)
    #[arg(long = "no-results", visible_alias = "noresults")]
    pub no_results: bool,
    /// Leave out the remediations (also --noremediations)
    #[arg(long = "no-remediations", visible_alias = "noremediations")]
    pub no_remediations: bool,
    /// Leave out the per-section summaries (also --nosummary)
    #[arg(long = "no-summary", visible_alias = "nosummary")]
    pub no_summary: bool,
    /// Leave out the total summary (also --nototals)
    #[arg(long = "no-totals", visible_alias = "nototals")]
    pub no_totals: bool,
    /// Print each failing check's audit output
    #[arg(long)]
    pub include_test_output: bool,
}

impl ConsoleArgs {
    /// The render options these flags ask for, with `color` decided by the caller.
    pub fn options(&self, color: bool) -> RenderOptions {
        RenderOptions {
            color,
            format: self.format,
            no_results: self.no_results,
            no_remediations: self.no_remediations,
            no_summary: self.no_summary,
            no_totals: self.no_totals,
            include_test_output: self.include_test_output,
            source_root: None,
        }
    }
}

impl ReportArgs {
    /// The reports asked for, in a fixed order, with their destination.
    fn requested(&self) -> Vec<(&'static str, &Path, Box<dyn Emitter + Send + Sync>)> {
        let mut list: Vec<(&'static str, &Path, Box<dyn Emitter + Send + Sync>)> = Vec::new();
        if let Some(path) = &self.sarif {
            list.push(("--sarif", path, Box::new(SarifEmitter)));
        }
        if let Some(path) = &self.junit {
            list.push(("--junit", path, Box::new(JunitEmitter)));
        }
        if let Some(path) = &self.html {
            list.push(("--html", path, Box::new(HtmlEmitter)));
        }
        if let Some(path) = &self.codequality {
            list.push(("--codequality", path, Box::new(CodeQualityEmitter)));
        }
        if let Some(path) = &self.summary_md {
            list.push(("--summary-md", path, Box::new(MarkdownEmitter)));
        }
        list
    }

    /// Whether any report file was asked for.
    pub fn any(&self) -> bool {
        !self.requested().is_empty()
    }

    /// Whether a report goes to stdout (the caller then keeps console output off stdout).
    pub fn uses_stdout(&self) -> bool {
        self.requested()
            .iter()
            .any(|(_, path, _)| *path == Path::new("-"))
    }
}

/// Renders every requested report, then writes them. `--source-root` overrides
/// `options.source_root`.
/// Renders every report asked for; nothing is written.
pub fn render_reports(
    results: &RunResults,
    args: &ReportArgs,
    options: &RenderOptions,
) -> anyhow::Result<Vec<Rendered>> {
    let requested = args.requested();
    ensure_one_stdout(&requested)?;
    let mut options = options.clone();
    if let Some(root) = &args.source_root {
        options.source_root = Some(root.clone());
    }
    for (flag, path, _) in &requested {
        check_destination(flag, path)?;
    }
    let mut rendered = Vec::with_capacity(requested.len());
    for (flag, path, emitter) in &requested {
        let bytes = emitter
            .render(results, &options)
            .with_context(|| format!("rendering the {flag} report"))?;
        rendered.push(Rendered {
            flag: flag.to_string(),
            path: path.to_path_buf(),
            bytes,
        });
    }
    Ok(rendered)
}

/// The requested reports as consumers of a streamed run: each folds nodes as they arrive
/// into its temp file or a compact in-memory form. `template` is what is known before the
/// first node ([`super::stream::template`]).
pub fn sinks(
    args: &ReportArgs,
    options: &RenderOptions,
    template: &RunResults,
    outputs: &Outputs,
) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let requested = args.requested();
    ensure_one_stdout(&requested)?;
    let mut options = options.clone();
    if let Some(root) = &args.source_root {
        options.source_root = Some(root.clone());
    }
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    for (flag, path, _) in requested {
        check_destination(flag, path)?;
        match flag {
            "--junit" => sinks.push(Box::new(super::junit::JunitSink::new(
                path,
                template.clone(),
                &options,
                outputs.clone(),
            )?)),
            "--sarif" => sinks.push(Box::new(super::sarif::SarifSink::new(
                path,
                template.clone(),
                &options,
                outputs.clone(),
            ))),
            "--summary-md" => sinks.push(Box::new(super::markdown::MarkdownSink::new(
                path,
                template.clone(),
                outputs.clone(),
            ))),
            "--codequality" => sinks.push(Box::new(super::codequality::CodeQualitySink::new(
                path,
                template.clone(),
                options.clone(),
                outputs.clone(),
            )?)),
            "--html" => sinks.push(Box::new(super::html::HtmlSink::new(
                path,
                template,
                &options,
                outputs.clone(),
            ))),
            other => unreachable!("{other} is not a report flag"),
        }
    }
    Ok(sinks)
}

fn ensure_one_stdout(
    requested: &[(&'static str, &Path, Box<dyn Emitter + Send + Sync>)],
) -> anyhow::Result<()> {
    let to_stdout: Vec<&str> = requested
        .iter()
        .filter(|(_, path, _)| *path == Path::new("-"))
        .map(|(flag, _, _)| *flag)
        .collect();
    if to_stdout.len() > 1 {
        bail!(
            "only one report can go to stdout (`-`), but {} all ask for it",
            to_stdout.join(", ")
        );
    }
    Ok(())
}

/// One rendered output and the flag that asked for it.
pub struct Rendered {
    pub flag: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Renders every report asked for and writes them (with `extra`, e.g. the JSON results)
/// as one set: all old or all new (see [`super::destination`]).
pub fn write_reports(
    results: &RunResults,
    args: &ReportArgs,
    options: &RenderOptions,
    extra: Vec<Rendered>,
) -> anyhow::Result<()> {
    let mut outputs = render_reports(results, args, options)?;
    outputs.extend(extra);
    write_set(&outputs)
}

/// Writes outputs as one set; an error names the flag and the destination.
pub fn write_set(outputs: &[Rendered]) -> anyhow::Result<()> {
    let set: Vec<(&Path, &[u8])> = outputs
        .iter()
        .map(|output| (output.path.as_path(), output.bytes.as_slice()))
        .collect();
    destination::write_all(&set).map_err(|(path, error)| {
        let flag = outputs
            .iter()
            .find(|output| output.path == path)
            .map_or("", |output| output.flag.as_str());
        anyhow::anyhow!("writing the {flag} report to {}: {error}", path.display())
    })
}

/// Fails early (before any report is written) when a report's directory does not exist.
pub fn check_destination(flag: &str, path: &Path) -> anyhow::Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !directory.is_dir() {
        bail!(
            "cannot write the {flag} report to {}: directory {} does not exist",
            path.display(),
            directory.display()
        );
    }
    if path.is_dir() {
        bail!(
            "cannot write the {flag} report to {}: it is a directory",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_reports_on_stdout_are_refused_before_anything_is_written() {
        let args = ReportArgs {
            sarif: Some("-".into()),
            junit: Some("-".into()),
            ..ReportArgs::default()
        };
        let results: RunResults =
            serde_json::from_str(include_str!("../../tests/fixtures/results/small.json")).unwrap();
        let error =
            write_reports(&results, &args, &RenderOptions::default(), Vec::new()).unwrap_err();
        assert!(error.to_string().contains("--sarif, --junit"), "{error}");
    }

    #[test]
    fn any_and_uses_stdout_follow_the_flags() {
        assert!(!ReportArgs::default().any());
        let args = ReportArgs {
            html: Some("report.html".into()),
            summary_md: Some("-".into()),
            ..ReportArgs::default()
        };
        assert!(args.any());
        assert!(args.uses_stdout());
    }
}
