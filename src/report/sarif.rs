//! SARIF 2.1.0 for GitHub code scanning and other SARIF viewers (`docs/reports.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_sarif::sarif;

use super::findings::{
    compare_ids, disposition, exception, fenced_block, finding_detail, finding_message,
    fingerprint, found_text, one_line, report_path, Disposition, ReportPath, MESSAGE_LIMIT,
    NODES_BASE, SOURCE_ROOT_BASE,
};
use super::{Emitter, RenderOptions};
use crate::results::{Change, CheckResult, NodeResults, RunResults, SectionResult, State};

pub const INFORMATION_URI: &str = "https://github.com/cisgate/cisgate";
/// The key of our entry in `partialFingerprints`; bump the version if the hash input changes.
pub const FINGERPRINT_KEY: &str = "cisgate/v2";
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
    let sarif_results: Vec<sarif::Result> = finding_groups(results, source_root)
        .iter()
        .map(|group| {
            let index = rule_index
                .get(group.check().id.as_str())
                .copied()
                .unwrap_or(0);
            result(group, index)
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

/// One node's non-passing result and where it points to.
struct Member<'a> {
    node: &'a NodeResults,
    section: &'a SectionResult,
    check: &'a CheckResult,
    path: ReportPath,
}

/// The nodes that share one finding: the same check, failing the same way (classification,
/// state, accepting exception) at the same place (the same repository file, or the same
/// path on each node). One SARIF result each, so a fleet of a thousand identical nodes
/// gives one result per check instead of a thousand (GitHub takes at most 25,000 per run).
struct FindingGroup<'a> {
    /// What identifies the place: `SRCROOT/<file>`, or the node path, or `target:<target>`.
    place: String,
    disposition: Disposition,
    members: Vec<Member<'a>>,
}

impl<'a> FindingGroup<'a> {
    fn first(&self) -> &Member<'a> {
        &self.members[0]
    }

    fn check(&self) -> &'a CheckResult {
        self.first().check
    }
}

/// Every non-passing result, grouped, in report order (of each group's first node).
fn finding_groups<'a>(
    results: &'a RunResults,
    source_root: Option<&Path>,
) -> Vec<FindingGroup<'a>> {
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    let mut groups: Vec<FindingGroup<'a>> = Vec::new();
    for (node, section, check) in results.checks() {
        if check.state == State::Pass {
            continue;
        }
        let path = report_path(node, section, check, source_root);
        let place = place_of(section, check, &path);
        let disposition = disposition(check, &results.gate);
        let key = GroupKey {
            check: check.id.as_str().to_owned(),
            place: place.clone(),
            disposition,
            state: check.state,
            exception_line: exception(check).map(|e| e.line),
        };
        let member = Member {
            node,
            section,
            check,
            path,
        };
        match index.get(&key) {
            Some(&at) => groups[at].members.push(member),
            None => {
                index.insert(key, groups.len());
                groups.push(FindingGroup {
                    place,
                    disposition,
                    members: vec![member],
                });
            }
        }
    }
    groups
}

#[derive(PartialEq, Eq, Hash)]
struct GroupKey {
    check: String,
    place: String,
    disposition: Disposition,
    state: State,
    exception_line: Option<u32>,
}

/// The place a finding is fixed, without the node: a repository file is its own place (each
/// snapshot directory's file gets its own alert); otherwise the path on the node, or the
/// section's target for checks without a file.
fn place_of(section: &SectionResult, check: &CheckResult, path: &ReportPath) -> String {
    if path.base == SOURCE_ROOT_BASE {
        return format!("{SOURCE_ROOT_BASE}/{}", path.uri);
    }
    match &check.location {
        Some(location) if !location.path.trim_start_matches('/').is_empty() => {
            location.path.to_string()
        }
        _ => format!("target:{}", section.target),
    }
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
                .markdown(format!("**Remediation**\n\n{}", fenced_block(&remediation)))
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

/// A finding's node names shown in its message; `properties.nodes` lists them all.
const NAMES_IN_MESSAGE: usize = 3;
/// Locations listed per result: GitHub shows 100 (and rejects more than 1,000).
pub const LOCATIONS_PER_RESULT: usize = 100;
/// Distinct found values listed in a fleet finding's message and properties.
const FOUND_VALUES_SHOWN: usize = 20;

fn result(group: &FindingGroup<'_>, rule_index: i64) -> sarif::Result {
    let first = group.first();
    let check = first.check;
    let disposition = group.disposition;
    let level = match (disposition, check.state) {
        (Disposition::Regression, _) | (_, State::Fail) => sarif::ResultLevel::Error,
        (_, State::Warn) | (_, State::Error) => sarif::ResultLevel::Warning,
        _ => sarif::ResultLevel::Note,
    };
    let mut seen = BTreeSet::new();
    let locations: Vec<sarif::Location> = group
        .members
        .iter()
        .filter(|m| seen.insert((m.path.uri.as_str(), m.path.base, m.path.line)))
        .take(LOCATIONS_PER_RESULT)
        .map(location)
        .collect();
    let stable = group_fingerprint(group);
    // GitHub's own key, in its `hash:occurrence` form, from the same stable inputs (no line
    // content: a moved line is the same finding), so GitHub does not compute one itself.
    let line_hash = format!("{}:1", &stable[..16]);
    let fingerprints = BTreeMap::from([
        (FINGERPRINT_KEY.to_string(), stable),
        (PRIMARY_LINE_HASH_KEY.to_string(), line_hash),
    ]);
    let builder = sarif::Result::builder()
        .rule_id(check.id.to_string())
        .rule_index(rule_index)
        .level(level)
        .kind(sarif::ResultKind::Fail)
        .message(sarif::Message::builder().text(group_message(group)).build())
        .locations(locations)
        .partial_fingerprints(fingerprints)
        .properties(
            sarif::PropertyBag::builder()
                .additional_properties(result_properties(group))
                .build(),
        );
    match (suppression(check, disposition), baseline_state(group)) {
        (Some(suppression), Some(state)) => builder
            .suppressions(vec![suppression])
            .baseline_state(state)
            .build(),
        (Some(suppression), None) => builder.suppressions(vec![suppression]).build(),
        (None, Some(state)) => builder.baseline_state(state).build(),
        (None, None) => builder.build(),
    }
}

/// One node's place: the file (line 1 when the line cannot be pinned: GitHub's ingestion
/// requires a region on every physical location) and the node and target as a logical place.
fn location(member: &Member<'_>) -> sarif::Location {
    let path = &member.path;
    let region = sarif::Region::builder()
        .start_line(i64::from(path.line.unwrap_or(1)))
        .build();
    let physical = sarif::PhysicalLocation::builder()
        .artifact_location(artifact(&path.uri, path.base))
        .region(region)
        .build();
    let logical = sarif::LogicalLocation::builder()
        .name(member.section.target.to_string())
        .fully_qualified_name(format!(
            "{}/{}",
            member.node.node.name, member.section.target
        ))
        .kind("resource")
        .build();
    sarif::Location::builder()
        .physical_location(physical)
        .logical_locations(vec![logical])
        .build()
}

/// Stable across runs while the check, the place, its state and how it is classified stay
/// the same (the parts that split a group, so results of one run never share one):
/// no node names (a node joining the fleet does not open a new alert), no line numbers, no
/// evidence.
fn group_fingerprint(group: &FindingGroup<'_>) -> String {
    let exception_line = exception(group.check())
        .filter(|_| group.disposition == Disposition::Accepted)
        .map(|e| e.line.to_string())
        .unwrap_or_default();
    fingerprint(
        &group.check().id,
        &format!(
            "{}\u{0}{}\u{0}{}",
            group.check().state.as_str(),
            group.disposition.as_str(),
            exception_line
        ),
        &ReportPath {
            uri: group.place.clone(),
            base: if group.place.starts_with(SOURCE_ROOT_BASE) {
                SOURCE_ROOT_BASE
            } else {
                NODES_BASE
            },
            line: None,
        },
    )
}

/// One node: the finding's sentence as every report words it. Several: how many and which,
/// then the title and what was found on them (each distinct value with its node count).
/// Bounded to [`MESSAGE_LIMIT`] characters; the properties hold every node.
fn group_message(group: &FindingGroup<'_>) -> String {
    let first = group.first();
    if group.members.len() == 1 {
        return finding_message(first.node, first.check);
    }
    let check = first.check;
    let count = group.members.len();
    let names: Vec<&str> = group
        .members
        .iter()
        .take(NAMES_IN_MESSAGE)
        .map(|m| m.node.node.name.as_str())
        .collect();
    let more = if count > NAMES_IN_MESSAGE {
        format!(" and {} more", count - NAMES_IN_MESSAGE)
    } else {
        String::new()
    };
    let values = found_values(group);
    let detail = if values.len() <= 1 {
        finding_detail(check)
    } else {
        let listed: Vec<String> = values
            .iter()
            .take(2)
            .map(|(value, nodes)| format!("{value} ({nodes} nodes)"))
            .collect();
        let others = if values.len() > 2 {
            format!(" and {} other values", values.len() - 2)
        } else {
            String::new()
        };
        format!(
            "Found {}{others}; expected {}",
            listed.join(", "),
            check.evidence.expected.trim()
        )
    };
    let message = format!(
        "{} on {count} nodes ({}{more}): {}. {detail}.",
        check.state.as_str(),
        names.join(", "),
        check.text
    );
    one_line(&message, MESSAGE_LIMIT)
}

/// Each distinct found value of a group with its node count, most nodes first.
fn found_values(group: &FindingGroup<'_>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for member in &group.members {
        *counts.entry(found_text(member.check)).or_default() += 1;
    }
    let mut values: Vec<(String, usize)> = counts.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values
}

fn result_properties(group: &FindingGroup<'_>) -> BTreeMap<String, serde_json::Value> {
    let first = group.first();
    let nodes: Vec<&str> = group
        .members
        .iter()
        .map(|m| m.node.node.name.as_str())
        .collect();
    let mut properties = BTreeMap::new();
    properties.insert("node".into(), serde_json::json!(first.node.node.name));
    properties.insert("nodeCount".into(), serde_json::json!(nodes.len()));
    properties.insert("nodes".into(), serde_json::json!(nodes));
    properties.insert(
        "state".into(),
        serde_json::json!(first.check.state.as_str()),
    );
    properties.insert(
        "classification".into(),
        serde_json::json!(group.disposition.as_str()),
    );
    let found: Vec<serde_json::Value> = found_values(group)
        .into_iter()
        .filter(|(value, _)| !value.is_empty())
        .take(FOUND_VALUES_SHOWN)
        .map(|(value, nodes)| serde_json::json!({ "value": value, "nodes": nodes }))
        .collect();
    properties.insert("found".into(), serde_json::json!(found));
    if let Some(location) = &first.check.location {
        properties.insert("nodePath".into(), serde_json::json!(location.path));
    }
    properties
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

/// `new` when the finding is new on any of its nodes, `unchanged` when it was there before
/// on all of them.
fn baseline_state(group: &FindingGroup<'_>) -> Option<serde_json::Value> {
    let changes: Vec<Change> = group
        .members
        .iter()
        .filter_map(|m| m.check.change)
        .collect();
    let state = if changes.contains(&Change::New) {
        "new"
    } else if changes.contains(&Change::Unchanged) {
        "unchanged"
    } else if changes.contains(&Change::Fixed) {
        // A fixed check passes now and is not a result; kept for completeness.
        "absent"
    } else {
        return None;
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
}
