//! Reports: one emitter per file, all rendered from [`RunResults`].

pub mod json;
pub mod text;

use std::path::Path;

use crate::results::RunResults;

/// Options every emitter may consult; none of them changes a verdict.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// ANSI colour in console output.
    pub color: bool,
    /// What the console report lists; `None`: [`ConsoleFormat::for_nodes`].
    pub format: Option<ConsoleFormat>,
    /// Leave out the per-check lines in console output (kube-bench's `--noresults`).
    pub no_results: bool,
    /// Leave out remediations in console output.
    pub no_remediations: bool,
    /// Leave out the per-section `Summary` blocks in console output (kube-bench's `--nosummary`).
    pub no_summary: bool,
    /// Leave out the `Summary total` block in console output.
    pub no_totals: bool,
    /// Print each FAIL check's actual output in console output.
    pub include_test_output: bool,
    /// The repository root that reported file paths are made relative to.
    pub source_root: Option<std::path::PathBuf>,
}

/// What the console report lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsoleFormat {
    /// Every check of every node, kube-bench's layout, with remediations.
    Full,
    /// As `full`, but only the checks that did not pass (and, with `--previous`, fixed ones).
    Failures,
    /// One line per node (state counts, regressions), then the regressions by check.
    Summary,
}

impl ConsoleFormat {
    /// Above this many nodes the console summarises by default.
    pub const FULL_UP_TO_NODES: usize = 1;

    /// The default: `full` for one node, `summary` for a fleet.
    pub fn for_nodes(nodes: usize) -> Self {
        if nodes > Self::FULL_UP_TO_NODES {
            ConsoleFormat::Summary
        } else {
            ConsoleFormat::Full
        }
    }
}

/// One output format.
pub trait Emitter {
    /// Renders the results; the same results and options always give the same bytes.
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>>;
}

/// Writes a report so that a reader never sees it half-written: a temporary file in the
/// same directory, renamed into place. `-` writes to stdout; a device, a FIFO or a symlink
/// (`/dev/null`, `/dev/stdout`) is written in place, never replaced.
pub fn write_output(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    destination::write_all(&[(path, bytes)]).map_err(|(_, error)| error)
}

pub mod destination;

pub mod args;
pub mod asff;
pub mod codequality;
pub mod findings;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod sanitize;
pub mod sarif;
pub mod stream;
