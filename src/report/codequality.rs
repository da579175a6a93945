//! GitLab Code Quality JSON (the merge-request widget's format): one issue per regression.

use serde::Serialize;

use super::findings::{
    disposition, fenced_block, finding_message, fingerprint, report_path, Disposition,
};
use super::{Emitter, RenderOptions};
use crate::results::{CheckResult, GateOutcome, NodeResults, RunResults, State};

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
        let issues = issues(results, options)?;
        let mut bytes = serde_json::to_vec_pretty(&issues)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// One issue per regression of `results`, in report order.
fn issues(results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<Issue>> {
    let mut issues = Vec::new();
    for node in &results.nodes {
        issues.extend(node_issues(&results.gate, node, options)?);
    }
    Ok(issues)
}

/// One issue per regression of `node`, in report order.
fn node_issues(
    gate: &GateOutcome,
    node: &NodeResults,
    options: &RenderOptions,
) -> anyhow::Result<Vec<Issue>> {
    // Text from nodes is untrusted: control characters from a node removed.
    let node = &*super::sanitize::cleaned(node, super::sanitize::strip_controls)?;
    let checks = node.sections.iter().flat_map(|section| {
        section
            .groups
            .iter()
            .flat_map(move |group| group.checks.iter().map(move |check| (section, check)))
    });
    Ok(checks
        .filter(|(_, check)| disposition(check, gate) == Disposition::Regression)
        .map(|(section, check)| {
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
        .collect())
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

/// `--codequality` written as nodes arrive: each node's issues go to a spool, the array is
/// put together in report order at the end; the same bytes as [`CodeQualityEmitter`].
pub struct CodeQualitySink {
    path: std::path::PathBuf,
    spool: Option<super::stream::Spool>,
    template: RunResults,
    options: RenderOptions,
    outputs: super::stream::Outputs,
}

impl CodeQualitySink {
    /// `template`: what is known before the first node ([`super::stream::template`]).
    pub fn new(
        path: &std::path::Path,
        template: RunResults,
        options: RenderOptions,
        outputs: super::stream::Outputs,
    ) -> anyhow::Result<CodeQualitySink> {
        Ok(CodeQualitySink {
            path: path.to_path_buf(),
            spool: Some(super::stream::Spool::create(path)?),
            template,
            options,
            outputs,
        })
    }
}

impl crate::runner::Sink for CodeQualitySink {
    fn node(&mut self, node: &crate::results::NodeResults) -> anyhow::Result<()> {
        let issues = node_issues(&self.template.gate, node, &self.options)?;
        if issues.is_empty() {
            return Ok(());
        }
        let mut part = Vec::new();
        for (index, issue) in issues.iter().enumerate() {
            if index > 0 {
                part.push(b',');
            }
            part.extend_from_slice(b"\n  ");
            super::stream::indent_json(&mut part, &serde_json::to_vec_pretty(issue)?, b"  ");
        }
        if let Some(spool) = self.spool.as_mut() {
            spool.add(node, &part)?;
        }
        Ok(())
    }

    fn end(&mut self, _run: &RunResults) -> anyhow::Result<()> {
        use std::io::Write;
        let spool = self.spool.take().expect("ended once");
        super::stream::finish(&self.outputs, "--codequality", &self.path, |file| {
            if spool.is_empty() {
                file.write_all(b"[]\n")?;
            } else {
                file.write_all(b"[")?;
                spool.write_sorted(file, b",")?;
                file.write_all(b"\n]\n")?;
            }
            Ok(())
        })
    }
}
