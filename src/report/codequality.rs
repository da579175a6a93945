//! GitLab Code Quality JSON (the merge-request widget's format): one issue per regression.

use serde::Serialize;

use super::findings::{
    disposition, fenced_block, finding_message, fingerprint, report_path, Disposition,
};
use super::{Emitter, RenderOptions};
use crate::results::{CheckResult, RunResults, State};

pub struct CodeQualityEmitter;

#[derive(Debug, Serialize)]
struct Issue {
    #[serde(rename = "type")]
    kind: &'static str,
    check_name: String,
    description: String,
    content: Content,
    categories: Vec<&'static str>,
    severity: &'static str,
    fingerprint: String,
    location: IssueLocation,
}

#[derive(Debug, Serialize)]
struct Content {
    body: String,
}

#[derive(Debug, Serialize)]
struct IssueLocation {
    path: String,
    lines: Lines,
}

#[derive(Debug, Serialize)]
struct Lines {
    begin: u32,
}

impl Emitter for CodeQualityEmitter {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: control characters from a node removed.
        let results = &*super::sanitize::results_with(results, super::sanitize::strip_controls)?;
        let issues: Vec<Issue> = results
            .checks()
            .filter(|(_, _, check)| disposition(check, &results.gate) == Disposition::Regression)
            .map(|(node, section, check)| {
                let path = report_path(node, section, check, options.source_root.as_deref());
                Issue {
                    kind: "issue",
                    check_name: format!("cisgate/{}", check.id),
                    description: finding_message(node, check),
                    content: Content {
                        // Markdown (Code Climate's `content.body`): the remediation's lines kept.
                        body: format!(
                            "**Remediation**\n\n{}",
                            fenced_block(check.remediation.trim_end())
                        ),
                    },
                    categories: vec!["Security"],
                    severity: severity(check),
                    fingerprint: fingerprint(&check.id, &node.node.name, &path),
                    location: IssueLocation {
                        path: path.uri,
                        lines: Lines {
                            begin: path.line.unwrap_or(1),
                        },
                    },
                }
            })
            .collect();
        let mut bytes = serde_json::to_vec_pretty(&issues)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// GitLab's severities are info, minor, major, critical, blocker.
fn severity(check: &CheckResult) -> &'static str {
    match check.state {
        State::Fail if check.scored => "critical",
        State::Fail | State::Error => "major",
        State::Warn => "minor",
        State::Info | State::Pass => "info",
    }
}
