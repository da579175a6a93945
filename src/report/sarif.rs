//! SARIF 2.1.0 for GitHub code scanning and other SARIF viewers (`docs/reports.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_sarif::sarif;

use super::findings::{
    compare_ids, disposition, exception, finding_message, fingerprint, report_path, Disposition,
    NODES_BASE, SOURCE_ROOT_BASE,
};
use super::{Emitter, RenderOptions};
use crate::results::{Change, CheckResult, NodeResults, RunResults, SectionResult, State};

pub const INFORMATION_URI: &str = "https://github.com/cisgate/cisgate";
/// The key of our entry in `partialFingerprints`; bump the version if the hash input changes.
pub const FINGERPRINT_KEY: &str = "cisgate/v1";
/// The fingerprint GitHub code scanning tracks alerts by.
pub const PRIMARY_LINE_HASH_KEY: &str = "primaryLocationLineHash";
const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub struct SarifEmitter;

impl Emitter for SarifEmitter {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: control characters from a node removed.
        let results = &*super::sanitize::results_with(results, super::sanitize::strip_controls)?;
        let log = build_log(results, options.source_root.as_deref());
        let mut bytes = serde_json::to_vec_pretty(&log)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// The SARIF log: one run per benchmark (a fleet that mixes benchmarks gets several runs,
/// each with its own rules and `automationDetails.id`).
pub fn build_log(results: &RunResults, source_root: Option<&Path>) -> sarif::Sarif {
    let runs: Vec<sarif::Run> = results
        .by_benchmark()
        .iter()
        .map(|part| build_run(part, source_root))
        .collect();
    sarif::Sarif::builder()
        .schema(SCHEMA_URI)
        .version(serde_json::json!("2.1.0"))
        .runs(runs)
        .build()
}

fn build_run(results: &RunResults, source_root: Option<&Path>) -> sarif::Run {
    let rules = rules(results);
    let rule_index: BTreeMap<&str, i64> = rules
        .iter()
        .enumerate()
        .map(|(index, rule)| (rule.id.as_str(), index as i64))
        .collect();
    let sarif_results: Vec<sarif::Result> = results
        .checks()
        .filter(|(_, _, check)| check.state != State::Pass)
        .map(|(node, section, check)| {
            let index = rule_index.get(check.id.as_str()).copied().unwrap_or(0);
            result(results, node, section, check, index, source_root)
        })
        .collect();
    let driver = sarif::ToolComponent::builder()
        .name(results.tool.name.clone())
        .version(results.tool.version.clone())
        .semantic_version(results.tool.version.clone())
        .information_uri(INFORMATION_URI)
        .rules(rules)
        .build();
    let mut run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .automation_details(
            sarif::RunAutomationDetails::builder()
                .id(automation_id(results))
                .build(),
        )
        .original_uri_base_ids(original_uri_base_ids())
        .column_kind(serde_json::json!("unicodeCodePoints"))
        .results(sarif_results)
        .properties(run_properties(results))
        .build();
    // The scan's time; executionSuccessful: the scan ran (a failed gate is still a success).
    run.invocations = results.scanned_at.map(|time| {
        vec![sarif::Invocation::builder()
            .execution_successful(true)
            .start_time_utc(time.to_string())
            .build()]
    });
    run
}

/// `cisgate/<benchmark>/<targets>/`: GitHub keeps one set of alerts per category, so two jobs
/// that scan different targets do not close each other's alerts.
pub fn automation_id(results: &RunResults) -> String {
    let targets = if results.benchmark.targets.is_empty() {
        "all".to_string()
    } else {
        results.benchmark.targets.join("+")
    };
    format!("cisgate/{}/{}/", results.benchmark.name, targets)
}

fn original_uri_base_ids() -> BTreeMap<String, sarif::ArtifactLocation> {
    let described = |text: &str| {
        sarif::ArtifactLocation::builder()
            .description(sarif::Message::builder().text(text).build())
            .build()
    };
    BTreeMap::from([
        (
            SOURCE_ROOT_BASE.to_string(),
            described("The repository root given with --source-root (snapshot directories live under it)."),
        ),
        (
            NODES_BASE.to_string(),
            described("A stable per-node path: nodes/<node>/<path on the node>, or nodes/<node>/<target> for checks with no file."),
        ),
    ])
}

fn run_properties(results: &RunResults) -> sarif::PropertyBag {
    let mut extra = BTreeMap::new();
    extra.insert(
        "benchmark".into(),
        serde_json::json!(results.benchmark.name),
    );
    extra.insert("gatePassed".into(), serde_json::json!(results.gate.passed));
    extra.insert(
        "regressions".into(),
        serde_json::json!(results.gate.regressions),
    );
    sarif::PropertyBag::builder()
        .additional_properties(extra)
        .build()
}

/// One rule per check of the benchmark that was run (passing ones too), in id order.
fn rules(results: &RunResults) -> Vec<sarif::ReportingDescriptor> {
    let mut seen = BTreeSet::new();
    let mut first: Vec<(&SectionResult, &CheckResult)> = results
        .checks()
        .filter(|(_, _, check)| seen.insert(check.id.as_str()))
        .map(|(_, section, check)| (section, check))
        .collect();
    first.sort_by(|a, b| compare_ids(&a.1.id, &b.1.id));
    first
        .into_iter()
        .map(|(section, check)| rule(results, section, check))
        .collect()
}

fn rule(
    results: &RunResults,
    section: &SectionResult,
    check: &CheckResult,
) -> sarif::ReportingDescriptor {
    let manual = check.check_type == "manual";
    let tags = vec![
        format!("section {} {}", section.id, section.text),
        results.benchmark.name.clone(),
        if check.scored {
            "scored".to_string()
        } else {
            "not-scored".to_string()
        },
        if manual {
            "manual".to_string()
        } else {
            "automated".to_string()
        },
        "security".to_string(),
    ];
    let level = if check.scored && !manual {
        "error"
    } else {
        "warning"
    };
    let remediation = if check.remediation.trim().is_empty() {
        "No remediation is given for this check.".to_string()
    } else {
        check.remediation.trim().to_string()
    };
    sarif::ReportingDescriptor::builder()
        .id(check.id.to_string())
        .name(rule_name(&check.text))
        .short_description(message_string(format!("{} {}", check.id, check.text)))
        .full_description(message_string(format!(
            "CIS {} {} (section {}: {}, target {}): {}",
            results.benchmark.name, check.id, section.id, section.text, section.target, check.text
        )))
        .help(
            sarif::MultiformatMessageString::builder()
                .text(remediation.clone())
                .markdown(format!(
                    "**Remediation**\n\n{}",
                    markdown_text(&remediation)
                ))
                .build(),
        )
        .default_configuration(
            sarif::ReportingConfiguration::builder()
                .level(serde_json::json!(level))
                .build(),
        )
        .properties(sarif::PropertyBag::builder().tags(tags).build())
        .build()
}

fn message_string(text: String) -> sarif::MultiformatMessageString {
    sarif::MultiformatMessageString::builder()
        .text(text)
        .build()
}

/// A rule name is an identifier: the title in PascalCase, without punctuation.
fn rule_name(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

/// Remediation text is plain text; keep characters that Markdown would interpret literal.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn result(
    results: &RunResults,
    node: &NodeResults,
    section: &SectionResult,
    check: &CheckResult,
    rule_index: i64,
    source_root: Option<&Path>,
) -> sarif::Result {
    let path = report_path(node, section, check, source_root);
    let disposition = disposition(check, &results.gate);
    let level = match (disposition, check.state) {
        (Disposition::Regression, _) | (_, State::Fail) => sarif::ResultLevel::Error,
        (_, State::Warn) | (_, State::Error) => sarif::ResultLevel::Warning,
        _ => sarif::ResultLevel::Note,
    };
    // GitHub's ingestion requires a region on every physical location: line 1 stands for
    // "the file" when the line cannot be pinned.
    let region = sarif::Region::builder()
        .start_line(i64::from(path.line.unwrap_or(1)))
        .build();
    let physical = sarif::PhysicalLocation::builder()
        .artifact_location(artifact(&path.uri, path.base))
        .region(region)
        .build();
    let logical = sarif::LogicalLocation::builder()
        .name(section.target.to_string())
        .fully_qualified_name(format!("{}/{}", node.node.name, section.target))
        .kind("resource")
        .build();
    let location = sarif::Location::builder()
        .physical_location(physical)
        .logical_locations(vec![logical])
        .build();
    let stable = fingerprint(&check.id, &node.node.name, &path);
    // GitHub's own key, in its `hash:occurrence` form, from the same stable inputs (no line
    // content: a moved line is the same finding), so GitHub does not compute one itself.
    let line_hash = format!("{}:1", &stable[..16]);
    let fingerprints = BTreeMap::from([
        (FINGERPRINT_KEY.to_string(), stable),
        (PRIMARY_LINE_HASH_KEY.to_string(), line_hash),
    ]);
    let mut properties = BTreeMap::new();
    properties.insert("node".into(), serde_json::json!(node.node.name));
    properties.insert("state".into(), serde_json::json!(check.state.as_str()));
    properties.insert(
        "classification".into(),
        serde_json::json!(disposition.as_str()),
    );
    if let Some(location) = &check.location {
        properties.insert("nodePath".into(), serde_json::json!(location.path));
    }
    let builder = sarif::Result::builder()
        .rule_id(check.id.to_string())
        .rule_index(rule_index)
        .level(level)
        .kind(sarif::ResultKind::Fail)
        .message(
            sarif::Message::builder()
                .text(finding_message(node, check))
                .build(),
        )
        .locations(vec![location])
        .partial_fingerprints(fingerprints)
        .properties(
            sarif::PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        );
    match (suppression(check, disposition), baseline_state(check)) {
        (Some(suppression), Some(state)) => builder
            .suppressions(vec![suppression])
            .baseline_state(state)
            .build(),
        (Some(suppression), None) => builder.suppressions(vec![suppression]).build(),
        (None, Some(state)) => builder.baseline_state(state).build(),
        (None, None) => builder.build(),
    }
}

fn artifact(uri: &str, base: &str) -> sarif::ArtifactLocation {
    sarif::ArtifactLocation::builder()
        .uri(uri.to_string())
        .uri_base_id(base.to_string())
        .build()
}

fn suppression(check: &CheckResult, disposition: Disposition) -> Option<sarif::Suppression> {
    if disposition != Disposition::Accepted {
        return None;
    }
    let justification = exception(check)
        .map(|exception| exception.reason.clone())
        .unwrap_or_else(|| "Accepted by the baseline allowlist.".to_string());
    Some(
        sarif::Suppression::builder()
            .kind(serde_json::json!("external"))
            .status(serde_json::json!("accepted"))
            .justification(justification)
            .build(),
    )
}

fn baseline_state(check: &CheckResult) -> Option<serde_json::Value> {
    let state = match check.change? {
        Change::New => "new",
        Change::Unchanged => "unchanged",
        // A fixed check passes now and is not a result; kept for completeness.
        Change::Fixed => "absent",
    };
    Some(serde_json::json!(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_name_is_pascal_case_without_punctuation() {
        assert_eq!(
            rule_name("Ensure that the --anonymous-auth argument is set to false"),
            "EnsureThatTheAnonymousAuthArgumentIsSetToFalse"
        );
    }

    #[test]
    fn markdown_help_escapes_markup_characters() {
        assert_eq!(
            markdown_text("set <path> *now*"),
            "set \\<path\\> \\*now\\*"
        );
    }
}
