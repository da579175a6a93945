//! Baseline allowlist: accepted exceptions, expiry, stale entries, and the previous-run
//! comparison (`docs/baseline.md`).
//!
//! The scan calls [`apply`] once, after the engine and before [`crate::gate::decide`]:
//! it classifies every non-passing result against the allowlist and marks changes
//! against `--previous`. The gate then counts regressions.

pub mod args;
pub mod classify;
pub mod file;
pub mod previous;
pub mod update;

use std::path::Path;

use jiff::civil::Date;

use crate::results::RunResults;

pub use args::BaselineArgs;
pub use classify::{classify, ClassifyOptions};
pub use file::{BaselineFile, Entry, Exception};

/// Where the allowlist lives when `--baseline` is not given.
pub const DEFAULT_PATH: &str = ".cisgate/baseline.yaml";

/// The reason `cisgate baseline` writes for a new entry; it is a placeholder (see
/// [`is_placeholder_reason`]).
pub const PLACEHOLDER_REASON: &str = "TODO: explain why this is accepted";

/// Words that mark a reason still to be written when the reason starts with one.
const PLACEHOLDER_WORDS: [&str; 5] = ["todo", "fixme", "tbd", "xxx", "placeholder"];

/// A reason that still has to be written: empty or only punctuation, or starting with
/// TODO, FIXME, TBD, XXX or "placeholder" (any case). Reports warn about it;
/// `--require-reasons` does not accept it.
pub fn is_placeholder_reason(reason: &str) -> bool {
    let first_word = reason
        .split(|c: char| !c.is_alphanumeric())
        .find(|word| !word.is_empty());
    match first_word {
        None => true,
        Some(word) => PLACEHOLDER_WORDS.contains(&word.to_lowercase().as_str()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The OS error is said once, in this message (not also as a source anyhow would repeat).
    #[error("{file}: cannot read: {error}")]
    Read { file: String, error: std::io::Error },
    /// `--baseline FILE` names a file that is not there.
    #[error(
        "{file}: no such baseline file; write one from a run with `cisgate baseline create \
         --from results.json -o {file}` (or `--snapshot DIR` instead of `--from`), or leave out \
         --baseline"
    )]
    Missing { file: String },
    /// The baseline file is invalid; the CLI exits 2.
    #[error("{file}:{line}: {problem}")]
    Invalid {
        file: String,
        line: u32,
        problem: String,
    },
    /// A JSON results file (`--previous`, `baseline --from`) is not one.
    #[error("{file}:{line}:{column}: not a cisgate JSON results file: {problem}")]
    Results {
        file: String,
        line: usize,
        column: usize,
        problem: String,
    },
}

/// Loads the allowlist named by `args` (if any), classifies every non-passing result
/// (filling `CheckResult.baseline` and `RunResults.baseline`), and marks changes against
/// `--previous` (filling `CheckResult.change` and `RunResults.previous`).
///
/// `today` is injected so that expiry is testable; the CLI passes [`BaselineArgs::today`]
/// (`--today`, else the current UTC date). Call it before [`crate::gate::decide`], with
/// `GatePolicy.strict = args.strict`. An error means exit 2.
pub fn apply(
    results: &mut RunResults,
    args: &BaselineArgs,
    today: Date,
) -> Result<(), BaselineError> {
    if let Some(path) = args.baseline_file() {
        let (baseline, options) = allowlist(&path, args, today)?;
        classify(results, &baseline, &options);
    }
    if let Some(path) = &args.previous {
        let earlier = read_results(path)?;
        previous::mark(results, &earlier, &path.display().to_string());
    }
    Ok(())
}

/// The allowlist at `path`, with how the flags say to classify against it as of `today`.
fn allowlist(
    path: &Path,
    args: &BaselineArgs,
    today: Date,
) -> Result<(BaselineFile, ClassifyOptions), BaselineError> {
    let options = ClassifyOptions {
        today,
        warn_expiry_days: args.warn_expiry,
        require_reasons: args.require_reasons,
    };
    Ok((BaselineFile::load(path)?, options))
}

/// The same work as [`apply`], as stages that mark each node as it arrives
/// ([`crate::runner::Stage`]): classification against the allowlist, then changes against
/// `--previous`.
pub fn stages(
    args: &BaselineArgs,
    today: Date,
) -> Result<Vec<Box<dyn crate::runner::Stage>>, BaselineError> {
    let mut stages: Vec<Box<dyn crate::runner::Stage>> = Vec::new();
    if let Some(path) = args.baseline_file() {
        let (baseline, options) = allowlist(&path, args, today)?;
        stages.push(Box::new(classify::Classifier::new(baseline, options)));
    }
    if let Some(path) = &args.previous {
        let earlier = read_results(path)?;
        stages.push(Box::new(previous::Marker::new(
            &earlier,
            &path.display().to_string(),
        )));
    }
    Ok(stages)
}

/// For results read back (`cisgate report`): an explicit `--baseline` classifies them again
/// (as of `today`), `--no-baseline` drops every mark (each non-passing result is then a
/// regression), and neither keeps the classification the scan recorded. The default file is
/// not looked for: the results already say what it accepted when they were written.
pub fn reapply(
    results: &mut RunResults,
    args: &BaselineArgs,
    today: Date,
) -> Result<(), BaselineError> {
    if args.no_baseline {
        for node in &mut results.nodes {
            for section in &mut node.sections {
                for check in section.groups.iter_mut().flat_map(|g| g.checks.iter_mut()) {
                    check.baseline = None;
                }
            }
        }
        results.baseline = None;
    } else if let Some(path) = &args.baseline {
        let (baseline, options) = allowlist(path, args, today)?;
        classify(results, &baseline, &options);
    }
    Ok(())
}

/// Reads a JSON results file written by `cisgate scan --json`.
pub fn read_results(path: &Path) -> Result<RunResults, BaselineError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| BaselineError::Read {
        file: file.clone(),
        error,
    })?;
    crate::results::from_json_slice(text.as_bytes()).map_err(|error| BaselineError::Results {
        file,
        line: error.line(),
        column: error.column(),
        problem: error.to_string(),
    })
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn placeholder_reasons_are_recognised_in_any_case_and_real_ones_are_not() {
        for reason in [
            PLACEHOLDER_REASON,
            "TODO",
            "todo: ask the platform team",
            "FIXME later",
            "tbd",
            "TBD.",
            "XXX",
            "",
            "  ",
            "-",
            "Placeholder",
        ] {
            assert!(is_placeholder_reason(reason), "{reason:?}");
        }
        for reason in [
            "etcd runs as root on this distribution",
            "Todoist integration needs it",
            "kubeadm default, fixed in the next image",
        ] {
            assert!(!is_placeholder_reason(reason), "{reason:?}");
        }
    }
}

/// Small hand-built runs for the unit tests of this module.
#[cfg(test)]
pub(crate) mod testing {
    use crate::results::*;

    pub fn check(id: &str, state: State) -> CheckResult {
        CheckResult {
            id: id.into(),
            text: format!("Check {id}").into(),
            state,
            scored: true,
            check_type: Default::default(),
            reason: Default::default(),
            remediation: Default::default(),
            evidence: Evidence::default(),
            location: None,
            baseline: None,
            change: None,
        }
    }

    /// A node with one section of `target` holding `checks` in one group.
    pub fn node(name: &str, target: &str, checks: Vec<CheckResult>) -> NodeResults {
        NodeResults {
            node: NodeInfo {
                name: name.into(),
                roles: Vec::new(),
                kubernetes_version: None,
                platform: None,
                source: format!("snapshots/{name}"),
                cluster: None,
                benchmark: None,
                distribution: None,
            },
            sections: vec![SectionResult {
                id: target.into(),
                text: target.into(),
                version: "cis-1.12".into(),
                target: target.into(),
                groups: vec![GroupResult {
                    id: "g".into(),
                    text: "group".into(),
                    checks,
                    totals: Totals::default(),
                }],
                totals: Totals::default(),
            }],
            totals: Totals::default(),
        }
    }

    pub fn run(benchmark: &str, nodes: Vec<NodeResults>) -> RunResults {
        RunResults {
            results_version: RESULTS_VERSION,
            tool: ToolInfo::current(),
            scanned_at: None,
            benchmark: BenchmarkInfo {
                name: benchmark.into(),
                source: "embedded".into(),
                selected_because: "--benchmark".into(),
                targets: vec!["master".into(), "node".into()],
            },
            benchmarks: Vec::new(),
            nodes,
            unreadable: Vec::new(),
            totals: Totals::default(),
            gate: GateOutcome {
                fail_on: "fail".into(),
                allow_errors: false,
                passed: true,
                exit_code: 0,
                regressions: 0,
            },
            baseline: None,
            previous: None,
        }
    }
}
