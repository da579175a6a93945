//! The command line: parses arguments, runs a command, turns its outcome into an exit
//! code (0 no regressions · 1 regressions · 2 could not run as asked · 3 partial).

mod args;
pub mod baseline_cmd;
mod benchmarks;
mod collect;
mod completions;
mod history;
mod history_args;
pub mod report_cmd;
mod scan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::gate::EXIT_USAGE;
use crate::report::sanitize;

/// The exit codes, for `--help` and the man page's EXIT STATUS (one table, so they agree).
pub(crate) const EXIT_CODES: [(i32, &str); 4] = [
    (0, "no regressions at or above --fail-on"),
    (
        1,
        "regressions, or expired baseline exceptions (with --strict also stale or expiring \
         ones); 1 wins when some nodes could not be evaluated as well",
    ),
    (
        2,
        "the run could not be done as asked: bad flags, an unreadable or invalid cfg, \
         snapshot or baseline, a selection that runs no check",
    ),
    (
        3,
        "partial: some nodes could not be evaluated, the others were reported",
    ),
];

/// `Exit codes:` and the table, wrapped to 80 columns with the text indented under itself.
fn exit_codes_help() -> String {
    const WIDTH: usize = 80;
    const INDENT: &str = "     ";
    let mut help = String::from("Exit codes:");
    for (code, text) in EXIT_CODES {
        let mut line = format!("  {code}  ");
        for word in text.split_whitespace() {
            if line.len() + 1 + word.len() > WIDTH && line.len() > INDENT.len() {
                help.push('\n');
                help.push_str(line.trim_end());
                line = INDENT.to_string();
            } else if !line.ends_with(' ') {
                line.push(' ');
            }
            line.push_str(word);
        }
        help.push('\n');
        help.push_str(&line);
    }
    help
}

/// Checks Kubernetes nodes against the CIS Kubernetes Benchmark, for CI pipelines.
#[derive(Debug, Parser)]
#[command(name = "cisgate", version, about, after_help = exit_codes_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `defer`: a subcommand's arguments are built only when it is the one run (or when help,
/// completions or the man page walk the whole tree); building all of them was ~0.4 M
/// instructions of every one-node scan. The argument groups subcommands flatten carry `//`
/// comments, not doc comments: clap makes a group's doc comment the command's `about`, and
/// when deferred that would replace the subcommand's own.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Evaluate a live node (or snapshots) against a benchmark, write reports, gate.
    Scan(Box<scan::ScanCommand>),
    /// On a node: record what the benchmark asks for into a snapshot to scan anywhere.
    Collect(Box<collect::CollectCommand>),
    /// List and inspect the benchmarks a tree holds.
    #[command(subcommand)]
    Benchmarks(benchmarks::BenchmarksCommand),
    /// Explain one check: what it checks, how it decides, the remediation.
    Explain(benchmarks::ExplainCommand),
    /// Create or update the baseline allowlist from a run's JSON results (--from) or snapshots (--snapshot).
    Baseline(baseline_cmd::BaselineCommand),
    /// Reports, console and (--gate) the gate from saved JSON results, merging nodes' files.
    Report(report_cmd::ReportCommand),
    /// The results store over time: import runs, trend report, prune, list runs.
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions::CompletionsCommand),
    /// Print the man page (or write one page per command with --dir).
    Man(completions::ManCommand),
}

pub fn main() -> ExitCode {
    let cli = completions::parse();
    let outcome = match cli.command {
        Command::Scan(cmd) => scan::run(*cmd),
        Command::Collect(cmd) => collect::run(*cmd),
        Command::Benchmarks(cmd) => benchmarks::run(cmd),
        Command::Explain(cmd) => benchmarks::explain(cmd),
        Command::Baseline(cmd) => baseline_cmd::run(cmd),
        Command::Report(cmd) => report_cmd::run(cmd),
        Command::History(cmd) => history::run(cmd),
        Command::Completions(cmd) => completions::completions(cmd),
        Command::Man(cmd) => completions::man(cmd),
    };
    match outcome {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            let message = format!("{error:#}");
            eprintln!("cisgate: error: {}", sanitize::for_terminal(&message));
            ExitCode::from(EXIT_USAGE as u8)
        }
    }
}
