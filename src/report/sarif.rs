//! SARIF 2.1.0 for GitHub code scanning and other SARIF viewers (`docs/reports.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_sarif::sarif;

use super::findings::{
    compare_ids, disposition, exception, fenced_block, finding_detail, finding_message_on,
    fingerprint, found_text, one_line, report_path, Disposition, ReportPath, MESSAGE_LIMIT,
    NODES_BASE, SOURCE_ROOT_BASE,
};
use super::{Emitter, RenderOptions};
use crate::results::{
    BenchmarkInfo, Change, CheckResult, GateOutcome, NodeResults, RunResults, SectionResult, State,
};

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
        let mut aggregate = Aggregate::new(results.gate.clone(), options.source_root.clone());
        for node in &results.nodes {
            aggregate.add(node);
        }
        render_log(&aggregate.into_log(results))
    }
}

fn render_log(log: &sarif::Sarif) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(log)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The SARIF log of a whole run: one run per benchmark (a fleet that mixes benchmarks gets
/// several runs, each with its own rules and `automationDetails.id`).
pub fn build_log(results: &RunResults, source_root: Option<&Path>) -> sarif::Sarif {
    let mut aggregate = Aggregate::new(results.gate.clone(), source_root.map(Path::to_path_buf));
    for node in &results.nodes {
        aggregate.add(node);
    }
    aggregate.into_log(results)
}

/// `--sarif` as nodes arrive: each node is folded into an `Aggregate` whose size depends
/// on the distinct findings (one per check and place) and rules, not on how many nodes
/// share them; the log is written at the end. The same bytes as [`SarifEmitter`].
pub struct SarifSink {
    path: PathBuf,
    aggregate: Aggregate,
    outputs: super::stream::Outputs,
}

impl SarifSink {
    /// `template`: what is known before the first node ([`super::stream::template`]).
    pub fn new(
        path: &Path,
        template: RunResults,
        options: &RenderOptions,
        outputs: super::stream::Outputs,
    ) -> SarifSink {
        SarifSink {
            path: path.to_path_buf(),
            aggregate: Aggregate::new(template.gate.clone(), options.source_root.clone()),
            outputs,
        }
    }
}

impl crate::runner::Sink for SarifSink {
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()> {
        let node = super::sanitize::cleaned(node, super::sanitize::strip_controls)?;
        self.aggregate.add(&node);
        Ok(())
    }

    fn end(&mut self, run: &RunResults) -> anyhow::Result<()> {
        use std::io::Write;
        let header = super::sanitize::results_with(run, super::sanitize::strip_controls)?;
        let aggregate =
            std::mem::replace(&mut self.aggregate, Aggregate::new(run.gate.clone(), None));
        let bytes = render_log(&aggregate.into_log(&header))?;
        super::stream::finish(&self.outputs, "--sarif", &self.path, |file| {
            file.write_all(&bytes)?;
            Ok(())
        })
    }
}

/// A node's place in report order, shared by everything kept about it.
type NodeKey = Arc<(String, String)>;
/// A check result's place in report order: its node, then its position among the node's checks.
type Order = (NodeKey, usize);

/// What the log needs of a run's nodes, folded node by node in any order.
struct Aggregate {
    gate: GateOutcome,
    source_root: Option<PathBuf>,
    /// Per benchmark the nodes named (`None` for results files that do not name it).
    parts: BTreeMap<Option<String>, Part>,
}

#[derive(Default)]
struct Part {
    /// Per check id: the first (in report order) section and check with that id.
    rules: foldhash::HashMap<String, RuleSeed>,
    groups: foldhash::HashMap<GroupKey, FindingGroup>,
}

struct RuleSeed {
    order: Order,
    section: SectionResult,
    check: CheckResult,
}

impl Aggregate {
    fn new(gate: GateOutcome, source_root: Option<PathBuf>) -> Aggregate {
        Aggregate {
            gate,
            source_root,
            parts: BTreeMap::new(),
        }
    }

    fn add(&mut self, node: &NodeResults) {
        let key: NodeKey = Arc::new((node.node.name.clone(), node.node.source.clone()));
        let part = self.parts.entry(node.node.benchmark.clone()).or_default();
        let checks = node.sections.iter().flat_map(|section| {
            section
                .groups
                .iter()
                .flat_map(move |group| group.checks.iter().map(move |check| (section, check)))
        });
        for (position, (section, check)) in checks.enumerate() {
            let order = (key.clone(), position);
            part.add_rule(&order, section, check);
            if check.state == State::Pass {
                continue;
            }
            let path = report_path(node, section, check, self.source_root.as_deref());
            let place = place_of(section, check, &path);
            let disposition = disposition(check, &self.gate);
            let group_key = GroupKey {
                check: check.id.as_str().to_owned(),
                place: place.clone(),
                disposition,
                state: check.state,
                exception_line: exception(check).map(|e| e.line),
            };
            let member = Member {
                order,
                node_name: &node.node.name,
                target: &section.target,
                check,
                path,
            };
            match part.groups.get_mut(&group_key) {
                Some(group) => group.add(member),
                None => {
                    part.groups
                        .insert(group_key, FindingGroup::new(place, disposition, member));
                }
            }
        }
    }

    /// The log, with `results`' header (its nodes are not read).
    fn into_log(self, results: &RunResults) -> sarif::Sarif {
        let mut parts = self.parts;
        let headers: Vec<(Option<String>, RunResults)> = if results.benchmarks.len() <= 1 {
            vec![(None, part_header(results, results.benchmark.clone(), true))]
        } else {
            results
                .benchmarks
                .iter()
                .enumerate()
                .map(|(index, info)| {
                    let header = part_header(results, info.clone(), index == 0);
                    (Some(info.name.clone()), header)
                })
                .collect()
        };
        let runs: Vec<sarif::Run> = headers
            .into_iter()
            .map(|(benchmark, header)| {
                let part = match benchmark {
                    // One benchmark: every node's findings, whatever benchmark it names.
                    None => std::mem::take(&mut parts)
                        .into_values()
                        .reduce(Part::absorb)
                        .unwrap_or_default(),
                    Some(name) => parts.remove(&Some(name)).unwrap_or_default(),
                };
                build_run(&header, part)
            })
            .collect();
        sarif::Sarif::builder()
            .schema(SCHEMA_URI)
            .version(serde_json::json!("2.1.0"))
            .runs(runs)
            .build()
    }
}

impl Part {
    fn add_rule(&mut self, order: &Order, section: &SectionResult, check: &CheckResult) {
        match self.rules.get_mut(check.id.as_str()) {
            Some(seed) if seed.order <= *order => {}
            Some(seed) => *seed = RuleSeed::new(order, section, check),
            None => {
                self.rules.insert(
                    check.id.as_str().to_owned(),
                    RuleSeed::new(order, section, check),
                );
            }
        }
    }

    /// Both parts as one (a run whose nodes name different benchmarks but whose header
    /// describes one).
    fn absorb(mut self, other: Part) -> Part {
        for (id, seed) in other.rules {
            match self.rules.get(&id) {
                Some(mine) if mine.order <= seed.order => {}
                _ => {
                    self.rules.insert(id, seed);
                }
            }
        }
        for (key, group) in other.groups {
            match self.groups.remove(&key) {
                Some(mine) => {
                    self.groups.insert(key, mine.absorb(group));
                }
                None => {
                    self.groups.insert(key, group);
                }
            }
        }
        self
    }
}

impl RuleSeed {
    fn new(order: &Order, section: &SectionResult, check: &CheckResult) -> RuleSeed {
        RuleSeed {
            order: order.clone(),
            section: SectionResult {
                groups: Vec::new(),
                ..section.clone()
            },
            // A rule shows the check's title and remediation, never its evidence.
            check: CheckResult {
                evidence: Default::default(),
                ..check.clone()
            },
        }
    }
}

fn build_run(results: &RunResults, part: Part) -> sarif::Run {
    let rules = rules(results, &part);
    let rule_index: BTreeMap<&str, i64> = rules
        .iter()
        .enumerate()
        .map(|(index, rule)| (rule.id.as_str(), index as i64))
        .collect();
    let mut groups: Vec<FindingGroup> = part.groups.into_values().collect();
    groups.sort_by(|a, b| a.first.order.cmp(&b.first.order));
    let sarif_results: Vec<sarif::Result> = groups
        .into_iter()
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

/// One node's non-passing result and where it points to, while it is folded in.
struct Member<'a> {
    order: Order,
    node_name: &'a str,
    target: &'a str,
    check: &'a CheckResult,
    path: ReportPath,
}

/// The first member of a group, kept whole: the result's message, level, suppression and
/// properties come from it.
struct First {
    order: Order,
    node_name: String,
    check: CheckResult,
}

/// The nodes that share one finding: the same check, failing the same way (classification,
/// state, accepting exception) at the same place (the same repository file, or the same
/// path on each node). One SARIF result each, so a fleet of a thousand identical nodes
/// gives one result per check instead of a thousand (GitHub takes at most 25,000 per run).
/// Kept compact: the first member whole, each member's order (for `properties.nodes`), the
/// first [`LOCATIONS_PER_RESULT`] distinct locations, the distinct found values counted.
struct FindingGroup {
    /// What identifies the place: `SRCROOT/<file>`, or the node path, or `target:<target>`.
    place: String,
    disposition: Disposition,
    first: First,
    members: Vec<Order>,
    /// The earliest member (in report order) at each distinct place, at most
    /// [`LOCATIONS_PER_RESULT`] of them: the earliest places.
    locations: HashMap<(String, &'static str, Option<u32>), (Order, sarif::Location)>,
    /// The latest order in `locations` once it is full.
    locations_last: Option<Order>,
    found: BTreeMap<String, usize>,
    changes: BTreeSet<Change>,
}

impl FindingGroup {
    fn new(place: String, disposition: Disposition, member: Member<'_>) -> FindingGroup {
        let mut group = FindingGroup {
            place,
            disposition,
            first: First {
                order: member.order.clone(),
                node_name: member.node_name.to_owned(),
                check: member.check.clone(),
            },
            members: Vec::new(),
            locations: HashMap::new(),
            locations_last: None,
            found: BTreeMap::new(),
            changes: BTreeSet::new(),
        };
        group.add(member);
        group
    }

    fn check(&self) -> &CheckResult {
        &self.first.check
    }

    fn add(&mut self, member: Member<'_>) {
        if member.order < self.first.order {
            self.first = First {
                order: member.order.clone(),
                node_name: member.node_name.to_owned(),
                check: member.check.clone(),
            };
        }
        *self.found.entry(found_text(member.check)).or_default() += 1;
        if let Some(change) = member.check.change {
            self.changes.insert(change);
        }
        let place = (member.path.uri.clone(), member.path.base, member.path.line);
        let order = member.order.clone();
        self.members.push(member.order.clone());
        if self
            .locations_last
            .as_ref()
            .is_some_and(|last| order >= *last)
        {
            return;
        }
        let location = location(&member);
        self.keep_location(place, order, location);
    }

    fn keep_location(
        &mut self,
        place: (String, &'static str, Option<u32>),
        order: Order,
        location: sarif::Location,
    ) {
        match self.locations.get_mut(&place) {
            Some(kept) if kept.0 <= order => return,
            Some(kept) => *kept = (order, location),
            None => {
                self.locations.insert(place, (order, location));
            }
        }
        if self.locations.len() > LOCATIONS_PER_RESULT {
            let latest = self
                .locations
                .iter()
                .max_by(|a, b| a.1 .0.cmp(&b.1 .0))
                .map(|(place, _)| place.clone());
            if let Some(latest) = latest {
                self.locations.remove(&latest);
            }
        }
        self.locations_last = if self.locations.len() == LOCATIONS_PER_RESULT {
            self.locations.values().map(|kept| kept.0.clone()).max()
        } else {
            None
        };
    }

    fn absorb(mut self, other: FindingGroup) -> FindingGroup {
        if other.first.order < self.first.order {
            self.first = other.first;
        }
        self.members.extend(other.members);
        for (value, count) in other.found {
            *self.found.entry(value).or_default() += count;
        }
        self.changes.extend(other.changes);
        for (place, (order, location)) in other.locations {
            self.keep_location(place, order, location);
        }
        self
    }

    /// The members' node names in report order.
    fn node_names(&self) -> Vec<&str> {
        let mut members: Vec<&Order> = self.members.iter().collect();
        members.sort();
        members.iter().map(|(node, _)| node.0.as_str()).collect()
    }

    /// The first locations, in report order.
    fn locations(&self) -> Vec<sarif::Location> {
        let mut kept: Vec<&(Order, sarif::Location)> = self.locations.values().collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        kept.into_iter()
            .map(|(_, location)| location.clone())
            .collect()
    }
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

/// A part of the run's header for one SARIF run: every field a run reads (not the nodes).
fn part_header(results: &RunResults, benchmark: BenchmarkInfo, unreadable: bool) -> RunResults {
    RunResults {
        results_version: results.results_version,
        tool: results.tool.clone(),
        scanned_at: results.scanned_at,
        benchmark,
        benchmarks: Vec::new(),
        nodes: Vec::new(),
        unreadable: if unreadable {
            results.unreadable.clone()
        } else {
            Vec::new()
        },
        totals: results.totals,
        gate: results.gate.clone(),
        baseline: results.baseline.clone(),
        previous: results.previous.clone(),
    }
}

/// One rule per check of the benchmark that was run (passing ones too), in id order.
fn rules(results: &RunResults, part: &Part) -> Vec<sarif::ReportingDescriptor> {
    let mut first: Vec<&RuleSeed> = part.rules.values().collect();
    first.sort_by(|a, b| compare_ids(&a.check.id, &b.check.id));
    first
        .into_iter()
        .map(|seed| rule(results, &seed.section, &seed.check))
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

fn result(group: FindingGroup, rule_index: i64) -> sarif::Result {
    let check = group.check();
    let disposition = group.disposition;
    let level = match (disposition, check.state) {
        (Disposition::Regression, _) | (_, State::Fail) => sarif::ResultLevel::Error,
        (_, State::Warn) | (_, State::Error) => sarif::ResultLevel::Warning,
        _ => sarif::ResultLevel::Note,
    };
    let stable = group_fingerprint(&group);
    // GitHub's own key, in its `hash:occurrence` form, from the same stable inputs (no line
    // content: a moved line is the same finding), so GitHub does not compute one itself.
    let line_hash = format!("{}:1", &stable[..16]);
    let fingerprints = BTreeMap::from([
        (FINGERPRINT_KEY.to_string(), stable),
        (PRIMARY_LINE_HASH_KEY.to_string(), line_hash),
    ]);
    let names = group.node_names();
    let builder = sarif::Result::builder()
        .rule_id(check.id.to_string())
        .rule_index(rule_index)
        .level(level)
        .kind(sarif::ResultKind::Fail)
        .message(
            sarif::Message::builder()
                .text(group_message(&group, &names))
                .build(),
        )
        .locations(group.locations())
        .partial_fingerprints(fingerprints)
        .properties(
            sarif::PropertyBag::builder()
                .additional_properties(result_properties(&group, &names))
                .build(),
        );
    match (suppression(check, disposition), baseline_state(&group)) {
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
        .name(member.target.to_string())
        .fully_qualified_name(format!("{}/{}", member.node_name, member.target))
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
fn group_fingerprint(group: &FindingGroup) -> String {
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
fn group_message(group: &FindingGroup, names: &[&str]) -> String {
    let first = &group.first;
    if names.len() == 1 {
        return finding_message_on(&first.node_name, &first.check);
    }
    let check = &first.check;
    let count = names.len();
    let shown: Vec<&str> = names.iter().take(NAMES_IN_MESSAGE).copied().collect();
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
        shown.join(", "),
        check.text
    );
    one_line(&message, MESSAGE_LIMIT)
}

/// Each distinct found value of a group with its node count, most nodes first.
fn found_values(group: &FindingGroup) -> Vec<(String, usize)> {
    let mut values: Vec<(String, usize)> = group
        .found
        .iter()
        .map(|(value, count)| (value.clone(), *count))
        .collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values
}

fn result_properties(group: &FindingGroup, names: &[&str]) -> BTreeMap<String, serde_json::Value> {
    let first = &group.first;
    let mut properties = BTreeMap::new();
    properties.insert("node".into(), serde_json::json!(first.node_name));
    properties.insert("nodeCount".into(), serde_json::json!(names.len()));
    properties.insert("nodes".into(), serde_json::json!(names));
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
fn baseline_state(group: &FindingGroup) -> Option<serde_json::Value> {
    let changes = &group.changes;
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
pub(crate) mod tests {
    use super::*;

    /// `small.json`'s node copied `count` times under distinct names, in report order.
    pub(crate) fn fleet(count: usize) -> RunResults {
        let mut results: RunResults =
            serde_json::from_str(include_str!("../../tests/fixtures/results/small.json")).unwrap();
        let node = results.nodes[0].clone();
        results.nodes = (0..count)
            .map(|index| {
                let mut copy = node.clone();
                copy.node.name = format!("node-{index:04}");
                copy
            })
            .collect();
        results
    }

    #[test]
    fn nodes_folded_in_any_order_give_the_log_of_the_whole_run() {
        let results = fleet(LOCATIONS_PER_RESULT + 37);
        let whole = render_log(&build_log(&results, None)).unwrap();
        let mut aggregate = Aggregate::new(results.gate.clone(), None);
        // Completion order: late nodes first, then the early ones.
        for node in results.nodes.iter().rev().step_by(2) {
            aggregate.add(node);
        }
        for node in results.nodes.iter().rev().skip(1).step_by(2) {
            aggregate.add(node);
        }
        let streamed = render_log(&aggregate.into_log(&results)).unwrap();
        assert!(
            whole == streamed,
            "streamed SARIF differs from the whole run's"
        );
        let log: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        let first = &log["runs"][0]["results"][0];
        assert_eq!(
            first["locations"].as_array().unwrap().len(),
            LOCATIONS_PER_RESULT
        );
        assert_eq!(first["properties"]["nodes"][0], "node-0000");
        assert_eq!(first["properties"]["nodeCount"], LOCATIONS_PER_RESULT + 37);
    }

    #[test]
    fn rule_name_is_pascal_case_without_punctuation() {
        assert_eq!(
            rule_name("Ensure that the --anonymous-auth argument is set to false"),
            "EnsureThatTheAnonymousAuthArgumentIsSetToFalse"
        );
    }
}
