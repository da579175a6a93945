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
    /// Leave out the per-check lines in console output (kube-bench's `--noresults`).
    pub no_results: bool,
    /// Leave out remediations in console output.
    pub no_remediations: bool,
    /// Leave out the `Summary total` block in console output.
    pub no_totals: bool,
    /// Print each FAIL check's actual output in console output.
    pub include_test_output: bool,
    /// The repository root that reported file paths are made relative to.
    pub source_root: Option<std::path::PathBuf>,
}

/// One output format.
pub trait Emitter {
    /// Renders the results; the same results and options always give the same bytes.
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>>;
}

/// Writes a report so that a reader never sees it half-written: a temporary file in the
/// same directory, renamed into place. `-` writes to stdout.
pub fn write_output(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        let written = out.write_all(bytes).and_then(|()| out.flush());
        // A reader that stopped early (`| head`) wanted no more; that is not a failure.
        return match written {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        };
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let temporary = dir.join(format!(".{file_name}.cisgate-tmp-{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

pub mod args;
pub mod codequality;
pub mod findings;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod sanitize;
pub mod sarif;
