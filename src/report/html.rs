//! A self-contained HTML page (inline CSS, JS and SVG; no network) for people: verdict, fleet
//! view, regressions with evidence, baseline, and every check per node, filterable. Built from a
//! view model computed here and the minijinja template `templates/report.html`, which escapes
//! every value. Large fleets are aggregated so the page stays small (`docs/reports.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::findings::{compare_ids, disposition, exception, Disposition};
use super::{Emitter, RenderOptions};
use crate::results::{Change, CheckResult, ExceptionRef, NodeResults, RunResults, State, Totals};

const TEMPLATE_NAME: &str = "report.html";
const TEMPLATE: &str = include_str!("../../templates/report.html");

/// Above this many check results, passing and non-gating WARN/INFO results are counted per check
/// instead of listed per node.
pub const LIST_ALL_LIMIT: usize = 5_000;
/// Above this many regression rows, rows show found/expected but not each audit's output.
pub const EVIDENCE_DETAIL_LIMIT: usize = 2_000;
/// Node names listed in one group or exception before "and N more".
const NAMES_SHOWN: usize = 30;
/// Drift entries listed before "and N more".
const DRIFT_SHOWN: usize = 200;

pub struct HtmlEmitter;

impl Emitter for HtmlEmitter {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: control characters from a node removed.
        let results = &*super::sanitize::results_with(results, super::sanitize::strip_controls)?;
        let page = Page::build(results, options);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template(TEMPLATE_NAME, TEMPLATE)?;
        let html = env
            .get_template(TEMPLATE_NAME)?
            .render(minijinja::context! { page => minijinja::value::Serde(&page) })?;
        Ok(html.into_bytes())
    }
}

#[derive(Serialize)]
struct Page {
    title: String,
    tool: String,
    /// The scan's time (RFC 3339, UTC), when the results carry it.
    scanned_at: Option<String>,
    benchmark: String,
    benchmark_source: String,
    selected_because: String,
    targets: String,
    passed: bool,
    fail_on: String,
    allow_errors: bool,
    regressions: usize,
    exit_code: i32,
    node_count: usize,
    totals: Totals,
    check_count: usize,
    state_bars: Vec<Bar>,
    histogram: Vec<HistogramBar>,
    unreadable: Vec<(String, String)>,
    baseline: Option<BaselineView>,
    previous: Option<PreviousView>,
    sections: Vec<SectionHead>,
    /// The fleet table and the check matrix, once per benchmark (a fleet may mix them).
    benchmarks: Vec<BenchmarkView>,
    failing_groups: Vec<FailingGroup>,
    drift: Vec<Drift>,
    drift_more: usize,
    regression_groups: Vec<RegressionGroup>,
    evidence_detail: bool,
    fixed: Vec<ChangeGroup>,
    rows: Vec<CheckRow>,
    rows_aggregated: bool,
    node_names: Vec<String>,
}

/// One benchmark's part of the page: its nodes (worst first) with a column per section of
/// that benchmark, and its checks with how many nodes are in each state.
#[derive(Serialize)]
struct BenchmarkView {
    name: String,
    selected_because: String,
    sections: Vec<SectionHead>,
    fleet: Vec<FleetRow>,
    matrix: Vec<MatrixRow>,
}

impl BenchmarkView {
    fn build(results: &RunResults) -> BenchmarkView {
        let sections = section_heads(results);
        BenchmarkView {
            name: results.benchmark.name.clone(),
            selected_because: results.benchmark.selected_because.clone(),
            fleet: fleet(results, &sections),
            matrix: matrix(results),
            sections,
        }
    }
}

#[derive(Serialize)]
struct Bar {
    state: &'static str,
    count: usize,
    x: String,
    width: String,
}

#[derive(Serialize)]
struct HistogramBar {
    label: String,
    count: usize,
    x: u32,
    y: String,
    height: String,
}

#[derive(Serialize)]
struct BaselineView {
    file: String,
    accepted: usize,
    accepted_groups: Vec<AcceptedGroup>,
    expired: Vec<ExceptionView>,
    expiring: Vec<ExceptionView>,
    stale: Vec<StaleView>,
}

#[derive(Serialize)]
struct ExceptionView {
    check: String,
    reason: String,
    owner: String,
    expires: String,
    ticket: String,
    line: u32,
}

#[derive(Serialize)]
struct StaleView {
    exception: ExceptionView,
    why: String,
}

#[derive(Serialize)]
struct AcceptedGroup {
    exception: ExceptionView,
    expiring: bool,
    results: usize,
    checks: Vec<String>,
    nodes: Vec<String>,
    nodes_more: usize,
}

#[derive(Serialize)]
struct PreviousView {
    file: String,
    new: usize,
    unchanged: usize,
    fixed: usize,
}

#[derive(Serialize, Clone)]
struct SectionHead {
    id: String,
    text: String,
}

#[derive(Serialize)]
struct FleetRow {
    name: String,
    roles: String,
    source: String,
    regressions: usize,
    accepted: usize,
    pass_rate: u32,
    totals: Totals,
    cells: Vec<Option<FleetCell>>,
}

#[derive(Serialize)]
struct FleetCell {
    pass: usize,
    checks: usize,
    rate: u32,
    level: &'static str,
}

#[derive(Serialize)]
struct FailingGroup {
    size: usize,
    roles: String,
    nodes: Vec<String>,
    nodes_more: usize,
    checks: Vec<String>,
}

#[derive(Serialize)]
struct Drift {
    roles: String,
    group_size: usize,
    check: String,
    text: String,
    failing: Vec<String>,
    failing_more: usize,
    failing_count: usize,
}

#[derive(Serialize)]
struct RegressionGroup {
    /// Among groups of equal size: FAIL before WARN before ERROR (could not evaluate).
    #[serde(skip)]
    order: State,
    id: String,
    text: String,
    section: String,
    state: &'static str,
    expected: String,
    remediation: String,
    new: usize,
    rows: Vec<RegressionRow>,
}

#[derive(Serialize)]
struct RegressionRow {
    node: String,
    state: &'static str,
    location: String,
    found: String,
    reason: String,
    change: &'static str,
    expired: String,
    audits: Vec<AuditView>,
}

#[derive(Serialize)]
struct AuditView {
    role: String,
    kind: String,
    command: String,
    output: String,
}

#[derive(Serialize)]
struct ChangeGroup {
    id: String,
    text: String,
    nodes: Vec<String>,
    nodes_more: usize,
}

#[derive(Serialize)]
struct MatrixRow {
    id: String,
    text: String,
    section: String,
    totals: Totals,
    nodes: usize,
}

#[derive(Serialize)]
struct CheckRow {
    node: String,
    section: String,
    id: String,
    text: String,
    state: &'static str,
    disposition: &'static str,
    change: &'static str,
    location: String,
}

fn change_str(change: Option<Change>) -> &'static str {
    match change {
        Some(Change::New) => "new",
        Some(Change::Fixed) => "fixed",
        Some(Change::Unchanged) => "unchanged",
        None => "",
    }
}

fn location_text(check: &CheckResult) -> String {
    match &check.location {
        Some(location) => match location.line {
            Some(line) => format!("{}:{line}", location.path),
            None => location.path.to_string(),
        },
        None => String::new(),
    }
}

fn rate(pass: usize, checks: usize) -> u32 {
    (pass * 100).checked_div(checks).map_or(100, |r| r as u32)
}

fn names_with_more(names: &[String]) -> (Vec<String>, usize) {
    let shown = names.iter().take(NAMES_SHOWN).cloned().collect();
    (shown, names.len().saturating_sub(NAMES_SHOWN))
}

fn exception_view(exception: &ExceptionRef) -> ExceptionView {
    ExceptionView {
        check: exception.check.clone(),
        reason: exception.reason.clone(),
        owner: exception.owner.clone().unwrap_or_default(),
        expires: exception.expires.clone().unwrap_or_default(),
        ticket: exception.ticket.clone().unwrap_or_default(),
        line: exception.line,
    }
}

/// Whether a result counts as failing for grouping and drift: FAIL or ERROR.
fn is_failing(check: &CheckResult) -> bool {
    matches!(check.state, State::Fail | State::Error)
}

fn node_checks(node: &NodeResults) -> impl Iterator<Item = (&str, &CheckResult)> {
    node.sections.iter().flat_map(|section| {
        section
            .groups
            .iter()
            .flat_map(move |group| group.checks.iter().map(move |c| (section.id.as_str(), c)))
    })
}

impl Page {
    fn build(results: &RunResults, _options: &RenderOptions) -> Page {
        let totals = results.totals;
        let sections = section_heads(results);
        let check_count = totals.checks();
        let rows_aggregated = check_count > LIST_ALL_LIMIT;
        let regression_groups = regression_groups(results);
        let regression_rows: usize = regression_groups.iter().map(|g| g.rows.len()).sum();
        let evidence_detail = regression_rows <= EVIDENCE_DETAIL_LIMIT;
        let regression_groups = if evidence_detail {
            regression_groups
        } else {
            regression_groups
                .into_iter()
                .map(|mut group| {
                    group.rows.iter_mut().for_each(|row| row.audits.clear());
                    group
                })
                .collect()
        };
        let (drift, drift_more) = drift(results);
        let mut node_names: Vec<String> =
            results.nodes.iter().map(|n| n.node.name.clone()).collect();
        node_names.sort();
        Page {
            title: format!("cisgate report: {}", results.benchmark.name),
            tool: format!("{} {}", results.tool.name, results.tool.version),
            scanned_at: results.scanned_at.map(|time| time.to_string()),
            benchmark: results.benchmark.name.clone(),
            benchmark_source: results.benchmark.source.clone(),
            selected_because: results.benchmark.selected_because.clone(),
            targets: results.benchmark.targets.join(", "),
            passed: results.gate.passed,
            fail_on: results.gate.fail_on.clone(),
            allow_errors: results.gate.allow_errors,
            regressions: results.gate.regressions,
            exit_code: results.gate.exit_code,
            node_count: results.nodes.len(),
            totals,
            check_count,
            state_bars: state_bars(&totals),
            histogram: histogram(results),
            unreadable: results
                .unreadable
                .iter()
                .map(|u| (u.source.clone(), u.reason.clone()))
                .collect(),
            baseline: baseline_view(results),
            previous: results.previous.as_ref().map(|p| PreviousView {
                file: p.file.clone(),
                new: p.new,
                unchanged: p.unchanged,
                fixed: p.fixed,
            }),
            benchmarks: results
                .by_benchmark()
                .iter()
                .map(|part| BenchmarkView::build(part))
                .collect(),
            sections,
            failing_groups: failing_groups(results),
            drift,
            drift_more,
            regression_groups,
            evidence_detail,
            fixed: fixed_groups(results),
            rows: check_rows(results, rows_aggregated),
            rows_aggregated,
            node_names,
        }
    }
}

fn section_heads(results: &RunResults) -> Vec<SectionHead> {
    let mut by_id: BTreeMap<String, String> = BTreeMap::new();
    for node in &results.nodes {
        for section in &node.sections {
            by_id
                .entry(section.id.to_string())
                .or_insert_with(|| section.text.to_string());
        }
    }
    let mut heads: Vec<SectionHead> = by_id
        .into_iter()
        .map(|(id, text)| SectionHead { id, text })
        .collect();
    heads.sort_by(|a, b| compare_ids(&a.id, &b.id));
    heads
}

/// A horizontal stacked bar of the state totals, in a 1000-unit-wide SVG.
fn state_bars(totals: &Totals) -> Vec<Bar> {
    let all = totals.checks().max(1) as f64;
    let mut x = 0.0;
    [
        ("PASS", totals.pass),
        ("FAIL", totals.fail),
        ("WARN", totals.warn),
        ("INFO", totals.info),
        ("ERROR", totals.error),
    ]
    .into_iter()
    .map(|(state, count)| {
        let width = count as f64 * 1000.0 / all;
        let bar = Bar {
            state,
            count,
            x: format!("{x:.1}"),
            width: format!("{width:.1}"),
        };
        x += width;
        bar
    })
    .collect()
}

/// Nodes per pass-rate bucket (0–9 %, …, 90–99 %, 100 %), as bars in a 110×50 SVG.
fn histogram(results: &RunResults) -> Vec<HistogramBar> {
    let mut buckets = [0usize; 11];
    for node in &results.nodes {
        let r = rate(node.totals.pass, node.totals.checks()) as usize;
        buckets[(r / 10).min(10)] += 1;
    }
    let max = buckets.iter().copied().max().unwrap_or(0).max(1) as f64;
    buckets
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let height = count as f64 * 50.0 / max;
            HistogramBar {
                label: if i == 10 {
                    "100%".into()
                } else {
                    format!("{}–{}%", i * 10, i * 10 + 9)
                },
                count,
                x: (i as u32) * 10,
                y: format!("{:.1}", 50.0 - height),
                height: format!("{height:.1}"),
            }
        })
        .collect()
}

/// An exception, how many results it accepted, which checks, on which nodes.
type AcceptedTally = (ExceptionRef, usize, BTreeSet<String>, Vec<String>);
/// A check's title, the nodes it fails on, and how many nodes ran it.
type CheckSpread<'a> = (&'a str, Vec<String>, usize);

fn baseline_view(results: &RunResults) -> Option<BaselineView> {
    let baseline = results.baseline.as_ref()?;
    let expiring: BTreeSet<(String, u32)> = baseline
        .expiring
        .iter()
        .map(|e| (e.check.clone(), e.line))
        .collect();
    let mut groups: BTreeMap<(u32, String), AcceptedTally> = BTreeMap::new();
    for (node, _, check) in results.checks() {
        if disposition(check, &results.gate) != Disposition::Accepted {
            continue;
        }
        let Some(exception) = exception(check) else {
            continue;
        };
        let entry = groups
            .entry((exception.line, exception.check.clone()))
            .or_insert_with(|| (exception.clone(), 0, BTreeSet::new(), Vec::new()));
        entry.1 += 1;
        entry.2.insert(check.id.to_string());
        if entry.3.last() != Some(&node.node.name) {
            entry.3.push(node.node.name.clone());
        }
    }
    let accepted_groups = groups
        .into_values()
        .map(|(exception, count, checks, nodes)| {
            let (nodes, nodes_more) = names_with_more(&nodes);
            let mut checks: Vec<String> = checks.into_iter().collect();
            checks.sort_by(|a, b| compare_ids(a, b));
            AcceptedGroup {
                expiring: expiring.contains(&(exception.check.clone(), exception.line)),
                exception: exception_view(&exception),
                results: count,
                checks,
                nodes,
                nodes_more,
            }
        })
        .collect();
    Some(BaselineView {
        file: baseline.file.clone(),
        accepted: baseline.accepted,
        accepted_groups,
        expired: baseline.expired.iter().map(exception_view).collect(),
        expiring: baseline.expiring.iter().map(exception_view).collect(),
        stale: baseline
            .stale
            .iter()
            .map(|s| StaleView {
                exception: exception_view(&s.exception),
                why: s.why.clone(),
            })
            .collect(),
    })
}

/// Nodes × sections with pass rates, worst first (most regressions, then lowest pass rate).
fn fleet(results: &RunResults, sections: &[SectionHead]) -> Vec<FleetRow> {
    let mut rows: Vec<FleetRow> = results
        .nodes
        .iter()
        .map(|node| {
            let mut regressions = 0;
            let mut accepted = 0;
            for (_, check) in node_checks(node) {
                match disposition(check, &results.gate) {
                    Disposition::Regression => regressions += 1,
                    Disposition::Accepted => accepted += 1,
                    _ => {}
                }
            }
            let cells = sections
                .iter()
                .map(|head| {
                    let mut totals = Totals::default();
                    let mut found = false;
                    for section in node.sections.iter().filter(|s| s.id == head.id) {
                        totals.merge(&section.totals);
                        found = true;
                    }
                    found.then(|| {
                        let rate = rate(totals.pass, totals.checks());
                        FleetCell {
                            pass: totals.pass,
                            checks: totals.checks(),
                            rate,
                            level: level(rate, totals.fail + totals.error),
                        }
                    })
                })
                .collect();
            FleetRow {
                name: node.node.name.clone(),
                roles: node.node.roles.join(", "),
                source: node.node.source.clone(),
                regressions,
                accepted,
                pass_rate: rate(node.totals.pass, node.totals.checks()),
                totals: node.totals,
                cells,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.regressions
            .cmp(&a.regressions)
            .then_with(|| a.pass_rate.cmp(&b.pass_rate))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

fn level(rate: u32, failing: usize) -> &'static str {
    if failing == 0 {
        "good"
    } else if rate >= 80 {
        "fair"
    } else {
        "poor"
    }
}

fn failing_set(node: &NodeResults) -> Vec<String> {
    let mut ids: Vec<String> = node_checks(node)
        .filter(|(_, c)| is_failing(c))
        .map(|(_, c)| c.id.to_string())
        .collect();
    ids.sort_by(|a, b| compare_ids(a, b));
    ids.dedup();
    ids
}

/// Nodes that fail exactly the same checks, largest group first.
fn failing_groups(results: &RunResults) -> Vec<FailingGroup> {
    let mut groups: BTreeMap<Vec<String>, Vec<&NodeResults>> = BTreeMap::new();
    for node in &results.nodes {
        groups.entry(failing_set(node)).or_default().push(node);
    }
    let mut list: Vec<FailingGroup> = groups
        .into_iter()
        .map(|(checks, nodes)| {
            let mut names: Vec<String> = nodes.iter().map(|n| n.node.name.clone()).collect();
            names.sort();
            let mut roles: BTreeSet<String> = BTreeSet::new();
            for node in &nodes {
                roles.extend(node.node.roles.iter().cloned());
            }
            let (shown, more) = names_with_more(&names);
            FailingGroup {
                size: names.len(),
                roles: roles.into_iter().collect::<Vec<_>>().join(", "),
                nodes: shown,
                nodes_more: more,
                checks,
            }
        })
        .collect();
    list.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then_with(|| b.checks.len().cmp(&a.checks.len()))
            .then_with(|| a.nodes.cmp(&b.nodes))
    });
    list
}

/// Within nodes of the same roles, checks that fail on some nodes but pass on others.
fn drift(results: &RunResults) -> (Vec<Drift>, usize) {
    let mut by_roles: BTreeMap<String, Vec<&NodeResults>> = BTreeMap::new();
    for node in &results.nodes {
        let mut roles = node.node.roles.clone();
        roles.sort();
        by_roles.entry(roles.join(", ")).or_default().push(node);
    }
    let mut entries = Vec::new();
    for (roles, nodes) in by_roles {
        if nodes.len() < 2 {
            continue;
        }
        // check id → (title, failing nodes, nodes that ran it)
        let mut per_check: HashMap<&str, CheckSpread<'_>> = HashMap::new();
        for node in &nodes {
            for (_, check) in node_checks(node) {
                let entry = per_check.entry(check.id.as_str()).or_insert((
                    check.text.as_str(),
                    Vec::new(),
                    0,
                ));
                entry.2 += 1;
                if is_failing(check) {
                    entry.1.push(node.node.name.clone());
                }
            }
        }
        let mut drifting: Vec<(&str, CheckSpread<'_>)> = per_check
            .into_iter()
            .filter(|(_, (_, failing, ran))| !failing.is_empty() && failing.len() < *ran)
            .collect();
        drifting.sort_by(|a, b| compare_ids(a.0, b.0));
        for (id, (text, mut failing, _)) in drifting {
            failing.sort();
            let (shown, more) = names_with_more(&failing);
            entries.push(Drift {
                roles: if roles.is_empty() {
                    "(no roles)".into()
                } else {
                    roles.clone()
                },
                group_size: nodes.len(),
                check: id.to_string(),
                text: text.to_string(),
                failing_count: failing.len(),
                failing: shown,
                failing_more: more,
            });
        }
    }
    let more = entries.len().saturating_sub(DRIFT_SHOWN);
    entries.truncate(DRIFT_SHOWN);
    (entries, more)
}

fn regression_groups(results: &RunResults) -> Vec<RegressionGroup> {
    let mut groups: BTreeMap<&str, RegressionGroup> = BTreeMap::new();
    for (node, section, check) in results.checks() {
        if disposition(check, &results.gate) != Disposition::Regression {
            continue;
        }
        let group = groups
            .entry(check.id.as_str())
            .or_insert_with(|| RegressionGroup {
                order: check.state,
                id: check.id.to_string(),
                text: check.text.to_string(),
                section: format!("{} {}", section.id, section.text),
                state: check.state.as_str(),
                expected: check.evidence.expected.to_string(),
                remediation: check.remediation.trim().to_string(),
                new: 0,
                rows: Vec::new(),
            });
        if check.change == Some(Change::New) {
            group.new += 1;
        }
        let expired = exception(check)
            .filter(|e| e.expired)
            .map(|e| {
                format!(
                    "exception {} (line {}) expired {}",
                    e.check,
                    e.line,
                    e.expires.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        group.rows.push(RegressionRow {
            node: node.node.name.clone(),
            state: check.state.as_str(),
            location: location_text(check),
            found: check.evidence.actual.to_string(),
            reason: check.reason.to_string(),
            change: change_str(check.change),
            expired,
            audits: check
                .evidence
                .audits
                .iter()
                .map(|a| AuditView {
                    role: a.role.to_string(),
                    kind: a.kind.to_string(),
                    command: a.command.to_string(),
                    output: a.output.to_string(),
                })
                .collect(),
        });
    }
    let mut list: Vec<RegressionGroup> = groups.into_values().collect();
    list.sort_by(|a, b| {
        b.rows
            .len()
            .cmp(&a.rows.len())
            .then_with(|| a.order.cmp(&b.order))
            .then_with(|| compare_ids(&a.id, &b.id))
    });
    list
}

fn fixed_groups(results: &RunResults) -> Vec<ChangeGroup> {
    let mut groups: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for (node, _, check) in results.checks() {
        if check.change == Some(Change::Fixed) {
            groups
                .entry(check.id.as_str())
                .or_insert((check.text.as_str(), Vec::new()))
                .1
                .push(node.node.name.clone());
        }
    }
    let mut list: Vec<ChangeGroup> = groups
        .into_iter()
        .map(|(id, (text, nodes))| {
            let (nodes, nodes_more) = names_with_more(&nodes);
            ChangeGroup {
                id: id.to_string(),
                text: text.to_string(),
                nodes,
                nodes_more,
            }
        })
        .collect();
    list.sort_by(|a, b| compare_ids(&a.id, &b.id));
    list
}

/// Every check of the benchmark with how many nodes are in each state: the aggregate of the
/// per-node results, passing ones included.
fn matrix(results: &RunResults) -> Vec<MatrixRow> {
    let mut rows: BTreeMap<&str, MatrixRow> = BTreeMap::new();
    for (_, section, check) in results.checks() {
        let row = rows.entry(check.id.as_str()).or_insert_with(|| MatrixRow {
            id: check.id.to_string(),
            text: check.text.to_string(),
            section: section.id.to_string(),
            totals: Totals::default(),
            nodes: 0,
        });
        row.totals.add(check.state);
        row.nodes += 1;
    }
    let mut list: Vec<MatrixRow> = rows.into_values().collect();
    list.sort_by(|a, b| compare_ids(&a.id, &b.id));
    list
}

/// Whether a result gets its own row when the page aggregates: everything a reader must act on.
fn listed_when_aggregated(check: &CheckResult, disposition: Disposition) -> bool {
    matches!(disposition, Disposition::Regression | Disposition::Accepted)
        || check.state == State::Error
        || check.change == Some(Change::Fixed)
        || (check.change == Some(Change::New) && check.state != State::Pass)
}

fn check_rows(results: &RunResults, aggregated: bool) -> Vec<CheckRow> {
    results
        .checks()
        .filter_map(|(node, section, check)| {
            let disposition = disposition(check, &results.gate);
            if aggregated && !listed_when_aggregated(check, disposition) {
                return None;
            }
            Some(CheckRow {
                node: node.node.name.clone(),
                section: section.id.to_string(),
                id: check.id.to_string(),
                text: check.text.to_string(),
                state: check.state.as_str(),
                disposition: disposition.as_str(),
                change: change_str(check.change),
                location: location_text(check),
            })
        })
        .collect()
}
