//! A self-contained HTML page (inline CSS, JS and SVG; no network) for people: verdict, fleet
//! view, regressions with evidence, baseline, and every check per node, filterable. Built from a
//! view model computed here and the minijinja template `templates/report.html`, which escapes
//! every value.
//!
//! The page is built from a compact form of the run ([`FleetPage`]), fed one node at a time
//! (as [`HtmlSink`] while a run streams, or from whole results by [`HtmlEmitter`]): every
//! distinct text (titles, remediations, evidence, paths) is kept once in a string table, and
//! nodes whose results are alike share one list of results (a "profile"). Memory and page
//! size grow with what differs between nodes, not with their number. The per-node table is
//! drawn by the page's script from a JSON data island in that same shared form, a page of
//! rows at a time (`docs/reports.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::findings::{compare_ids, disposition, exception, found_text, Disposition};
use super::sanitize::strip_controls;
use super::stream::Outputs;
use super::{Emitter, RenderOptions};
use crate::results::{Change, GateOutcome, NodeResults, RunResults, State, Totals};

const TEMPLATE_NAME: &str = "report.html";
const TEMPLATE: &str = include_str!("../../templates/report.html");

/// Above this many regression rows (distinct findings of a check), rows show found/expected
/// but not each audit's command and output.
pub const EVIDENCE_DETAIL_LIMIT: usize = 2_000;
/// Node names listed in one group, exception or finding before "and N more".
const NAMES_SHOWN: usize = 30;
/// Rows of the fleet table (worst first); the others are counted, and in the per-node table.
/// Each row is a dozen cells the browser builds before the page's script runs: 1,000 rows
/// kept a 1,000-node page from being interactive for ~1.1 s in headless Chromium on a
/// 2-core machine, 200 rows for ~0.1-0.2 s (docs/performance.md).
pub const FLEET_ROWS_SHOWN: usize = 200;
/// Drift entries listed before "and N more".
const DRIFT_SHOWN: usize = 200;

pub struct HtmlEmitter;

impl Emitter for HtmlEmitter {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        let mut page = FleetPage::new(&results.gate, options.include_test_output);
        for node in &results.nodes {
            page.add(node);
        }
        let header = RunResults {
            unreadable: results.unreadable.clone(),
            ..results.clone_header()
        };
        let mut html = Vec::new();
        page.write(&header, &mut html)?;
        Ok(html)
    }
}

/// The HTML report as a consumer of a streamed run: each node is folded into the compact
/// form as it arrives; the page is written when the run ends.
pub struct HtmlSink {
    path: PathBuf,
    page: Option<FleetPage>,
    outputs: Outputs,
}

impl HtmlSink {
    /// `template`: what is known before the first node ([`super::stream::template`]).
    pub fn new(
        path: &Path,
        template: &RunResults,
        options: &RenderOptions,
        outputs: Outputs,
    ) -> HtmlSink {
        HtmlSink {
            path: path.to_path_buf(),
            page: Some(FleetPage::new(&template.gate, options.include_test_output)),
            outputs,
        }
    }
}

impl crate::runner::Sink for HtmlSink {
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()> {
        if let Some(page) = self.page.as_mut() {
            page.add(node);
        }
        Ok(())
    }

    fn end(&mut self, run: &RunResults) -> anyhow::Result<()> {
        let page = self.page.take().expect("ended once");
        super::stream::finish(&self.outputs, "--html", &self.path, |file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            page.write(run, &mut out)?;
            out.flush()?;
            Ok(())
        })
    }
}

/// Index of a distinct text in [`Strings`].
type Sym = u32;

/// Every distinct text once, control characters from nodes removed.
#[derive(Default)]
struct Strings {
    index: foldhash::HashMap<Arc<str>, Sym>,
    list: Vec<Arc<str>>,
}

impl Strings {
    fn add(&mut self, text: &str) -> Sym {
        let text = strip_controls(text);
        if let Some(&sym) = self.index.get(text.as_ref()) {
            return sym;
        }
        let sym = self.list.len() as Sym;
        let shared: Arc<str> = Arc::from(text.as_ref());
        self.list.push(shared.clone());
        self.index.insert(shared, sym);
        sym
    }

    fn get(&self, sym: Sym) -> &str {
        &self.list[sym as usize]
    }
}

/// Distinct values, each once, by index.
struct Table<T> {
    index: foldhash::HashMap<T, u32>,
    list: Vec<T>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            index: foldhash::HashMap::default(),
            list: Vec::new(),
        }
    }
}

impl<T: Clone + Hash + Eq> Table<T> {
    fn add(&mut self, item: T) -> u32 {
        if let Some(&index) = self.index.get(&item) {
            return index;
        }
        let index = self.list.len() as u32;
        self.list.push(item.clone());
        self.index.insert(item, index);
        index
    }
}

/// A baseline exception as results carry it; `None` fields are the empty string.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ExceptionKey {
    check: Sym,
    reason: Sym,
    expires: Sym,
    owner: Sym,
    ticket: Sym,
    line: u32,
    expired: bool,
}

/// An audit's role, kind, command and (with `--include-test-output`) output.
type AuditKey = [Sym; 4];

/// One check result on one node, its texts in the string table.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    section: Sym,
    section_text: Sym,
    id: Sym,
    text: Sym,
    state: State,
    disposition: Disposition,
    change: &'static str,
    location: Sym,
    found: Sym,
    reason: Sym,
    expected: Sym,
    remediation: Sym,
    /// Index in the exceptions table, or `None`.
    exception: Option<u32>,
    /// Index in the audit lists table.
    audits: u32,
}

/// What is kept of a node: its identity and which profile its results are.
struct NodeRecord {
    name: Sym,
    source: Sym,
    roles: Vec<Sym>,
    benchmark: Option<Sym>,
    totals: Totals,
    profile: u32,
}

/// The run in the compact form the page is built from.
pub struct FleetPage {
    strings: Strings,
    exceptions: Table<ExceptionKey>,
    audits: Table<Vec<AuditKey>>,
    profiles: Table<Vec<Row>>,
    nodes: Vec<NodeRecord>,
    /// The gate's policy (`fail_on`, `allow_errors`): what a node's disposition needs.
    policy: GateOutcome,
    with_output: bool,
}

impl FleetPage {
    pub fn new(policy: &GateOutcome, with_output: bool) -> FleetPage {
        FleetPage {
            strings: Strings::default(),
            exceptions: Table::default(),
            audits: Table::default(),
            profiles: Table::default(),
            nodes: Vec::new(),
            policy: policy.clone(),
            with_output,
        }
    }

    /// Folds one node in: its texts into the string table, its results into a profile.
    pub fn add(&mut self, node: &NodeResults) {
        let mut rows = Vec::new();
        for section in &node.sections {
            let section_id = self.strings.add(&section.id);
            let section_text = self.strings.add(&section.text);
            for check in section.groups.iter().flat_map(|g| g.checks.iter()) {
                let row = Row {
                    section: section_id,
                    section_text,
                    id: self.strings.add(&check.id),
                    text: self.strings.add(&check.text),
                    state: check.state,
                    disposition: disposition(check, &self.policy),
                    change: change_str(check.change),
                    location: self.strings.add(&location_text(check)),
                    found: self.strings.add(&found_text(check)),
                    reason: self.strings.add(&check.reason),
                    expected: self.strings.add(&check.evidence.expected),
                    remediation: self.strings.add(check.remediation.trim()),
                    exception: exception(check).map(|e| {
                        let key = ExceptionKey {
                            check: self.strings.add(&e.check),
                            reason: self.strings.add(&e.reason),
                            expires: self.strings.add(e.expires.as_deref().unwrap_or("")),
                            owner: self.strings.add(e.owner.as_deref().unwrap_or("")),
                            ticket: self.strings.add(e.ticket.as_deref().unwrap_or("")),
                            line: e.line,
                            expired: e.expired,
                        };
                        self.exceptions.add(key)
                    }),
                    audits: {
                        let audits = check
                            .evidence
                            .audits
                            .iter()
                            .map(|a| {
                                let output = if self.with_output { &*a.output } else { "" };
                                [
                                    self.strings.add(&a.role),
                                    self.strings.add(&a.kind),
                                    self.strings.add(&a.command),
                                    self.strings.add(output),
                                ]
                            })
                            .collect();
                        self.audits.add(audits)
                    },
                };
                rows.push(row);
            }
        }
        let record = NodeRecord {
            name: self.strings.add(&node.node.name),
            source: self.strings.add(&node.node.source),
            roles: node
                .node
                .roles
                .iter()
                .map(|r| self.strings.add(r))
                .collect(),
            benchmark: node.node.benchmark.as_deref().map(|b| self.strings.add(b)),
            totals: node.totals,
            profile: self.profiles.add(rows),
        };
        self.nodes.push(record);
    }

    /// Writes the page; `header` is the run without its nodes.
    pub fn write(mut self, header: &RunResults, out: &mut dyn Write) -> anyhow::Result<()> {
        // Text from nodes is untrusted: control characters removed (nodes' already are).
        let header = &*super::sanitize::results_with(header, strip_controls)?;
        self.nodes.sort_by(|a, b| {
            (self.strings.get(a.name), self.strings.get(a.source))
                .cmp(&(self.strings.get(b.name), self.strings.get(b.source)))
        });
        let page = Page::build(&self, header);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template(TEMPLATE_NAME, TEMPLATE)?;
        let html = env
            .get_template(TEMPLATE_NAME)?
            .render(minijinja::context! { page => minijinja::value::Serde(&page) })?;
        out.write_all(html.as_bytes())?;
        Ok(())
    }

    fn s(&self, sym: Sym) -> &str {
        self.strings.get(sym)
    }

    fn rows(&self, node: &NodeRecord) -> &[Row] {
        &self.profiles.list[node.profile as usize]
    }

    fn name(&self, node: &NodeRecord) -> String {
        self.s(node.name).to_owned()
    }

    fn roles(&self, node: &NodeRecord) -> Vec<String> {
        node.roles.iter().map(|r| self.s(*r).to_owned()).collect()
    }

    /// Every (node, result) in report order.
    fn checks(&self) -> impl Iterator<Item = (&NodeRecord, &Row)> {
        self.nodes
            .iter()
            .flat_map(move |node| self.rows(node).iter().map(move |row| (node, row)))
    }

    fn exception(&self, row: &Row) -> Option<&ExceptionKey> {
        row.exception.map(|i| &self.exceptions.list[i as usize])
    }

    fn exception_view(&self, e: &ExceptionKey) -> ExceptionView {
        ExceptionView {
            check: self.s(e.check).to_owned(),
            reason: self.s(e.reason).to_owned(),
            owner: self.s(e.owner).to_owned(),
            expires: self.s(e.expires).to_owned(),
            ticket: self.s(e.ticket).to_owned(),
            line: e.line,
        }
    }
}

/// What one profile adds up to, computed once however many nodes share it.
struct ProfileSummary {
    regressions: usize,
    accepted: usize,
    /// Check ids that FAIL or ERROR, sorted.
    failing: Vec<String>,
    sections: HashMap<Sym, Totals>,
}

fn profile_summaries(page: &FleetPage) -> Vec<ProfileSummary> {
    page.profiles
        .list
        .iter()
        .map(|rows| {
            let mut summary = ProfileSummary {
                regressions: 0,
                accepted: 0,
                failing: Vec::new(),
                sections: HashMap::new(),
            };
            for row in rows {
                match row.disposition {
                    Disposition::Regression => summary.regressions += 1,
                    Disposition::Accepted => summary.accepted += 1,
                    _ => {}
                }
                if is_failing(row) {
                    summary.failing.push(page.s(row.id).to_owned());
                }
                summary
                    .sections
                    .entry(row.section)
                    .or_default()
                    .add(row.state);
            }
            summary.failing.sort_by(|a, b| compare_ids(a, b));
            summary.failing.dedup();
            summary
        })
        .collect()
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
    /// Every result per node, for the page's script ([`check_data`]).
    check_data: String,
    row_count: usize,
}

/// One benchmark's part of the page: its nodes (worst first) with a column per section of
/// that benchmark, and its checks with how many nodes are in each state.
#[derive(Serialize)]
struct BenchmarkView {
    name: String,
    selected_because: String,
    sections: Vec<SectionHead>,
    fleet: Vec<FleetRow>,
    /// Nodes past [`FLEET_ROWS_SHOWN`], left out of the fleet table.
    fleet_more: usize,
    matrix: Vec<MatrixRow>,
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
    nodes: usize,
    /// The per-node table filtered to this check's regressions.
    list_href: String,
    rows: Vec<RegressionRow>,
}

/// A finding shared by one or more nodes: the same state, location, value, notes and evidence.
#[derive(Serialize)]
struct RegressionRow {
    nodes: Vec<String>,
    nodes_more: usize,
    count: usize,
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

fn change_str(change: Option<Change>) -> &'static str {
    match change {
        Some(Change::New) => "new",
        Some(Change::Fixed) => "fixed",
        Some(Change::Unchanged) => "unchanged",
        None => "",
    }
}

fn location_text(check: &crate::results::CheckResult) -> String {
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

/// Whether a result counts as failing for grouping and drift: FAIL or ERROR.
fn is_failing(row: &Row) -> bool {
    matches!(row.state, State::Fail | State::Error)
}

impl Page {
    fn build(page: &FleetPage, header: &RunResults) -> Page {
        let totals = header.totals;
        let summaries = profile_summaries(page);
        let all: Vec<&NodeRecord> = page.nodes.iter().collect();
        let sections = section_heads(page, &all);
        let mut regression_groups = regression_groups(page);
        let regression_rows: usize = regression_groups.iter().map(|g| g.rows.len()).sum();
        let evidence_detail = regression_rows <= EVIDENCE_DETAIL_LIMIT;
        if !evidence_detail {
            for group in &mut regression_groups {
                group.rows.iter_mut().for_each(|row| row.audits.clear());
            }
        }
        let (drift, drift_more) = drift(page);
        let (check_data, row_count) = check_data(page);
        Page {
            title: format!("cisgate report: {}", header.benchmark.name),
            tool: format!("{} {}", header.tool.name, header.tool.version),
            scanned_at: header.scanned_at.map(|time| time.to_string()),
            benchmark: header.benchmark.name.clone(),
            benchmark_source: header.benchmark.source.clone(),
            selected_because: header.benchmark.selected_because.clone(),
            targets: header.benchmark.targets.join(", "),
            passed: header.gate.passed,
            fail_on: header.gate.fail_on.clone(),
            allow_errors: header.gate.allow_errors,
            regressions: header.gate.regressions,
            exit_code: header.gate.exit_code,
            node_count: page.nodes.len(),
            totals,
            check_count: totals.checks(),
            state_bars: state_bars(&totals),
            histogram: histogram(page),
            unreadable: header
                .unreadable
                .iter()
                .map(|u| (u.source.clone(), u.reason.clone()))
                .collect(),
            baseline: baseline_view(page, header),
            previous: header.previous.as_ref().map(|p| PreviousView {
                file: p.file.clone(),
                new: p.new,
                unchanged: p.unchanged,
                fixed: p.fixed,
            }),
            benchmarks: benchmark_views(page, header, &summaries),
            sections,
            failing_groups: failing_groups(page, &summaries),
            drift,
            drift_more,
            regression_groups,
            evidence_detail,
            fixed: fixed_groups(page),
            check_data,
            row_count,
        }
    }
}

/// One view per benchmark: the whole run when every node ran one benchmark.
fn benchmark_views(
    page: &FleetPage,
    header: &RunResults,
    summaries: &[ProfileSummary],
) -> Vec<BenchmarkView> {
    let view = |name: &str, selected_because: &str, nodes: Vec<&NodeRecord>| {
        let sections = section_heads(page, &nodes);
        let mut fleet = fleet(page, &nodes, &sections, summaries);
        let fleet_more = fleet.len().saturating_sub(FLEET_ROWS_SHOWN);
        fleet.truncate(FLEET_ROWS_SHOWN);
        BenchmarkView {
            name: name.to_owned(),
            selected_because: selected_because.to_owned(),
            fleet,
            fleet_more,
            matrix: matrix(page, &nodes),
            sections,
        }
    };
    if header.benchmarks.len() <= 1 {
        let all = page.nodes.iter().collect();
        return vec![view(
            &header.benchmark.name,
            &header.benchmark.selected_because,
            all,
        )];
    }
    header
        .benchmarks
        .iter()
        .map(|info| {
            let nodes = page
                .nodes
                .iter()
                .filter(|n| n.benchmark.map(|b| page.s(b)) == Some(info.name.as_str()))
                .collect();
            view(&info.name, &info.selected_because, nodes)
        })
        .collect()
}

/// The distinct profiles of `nodes`, each once, in node order (not arrival order: the page
/// is the same whatever order nodes finish in).
fn profiles_of<'p>(page: &'p FleetPage, nodes: &[&NodeRecord]) -> Vec<&'p [Row]> {
    let mut seen = std::collections::HashSet::new();
    nodes
        .iter()
        .filter(|n| seen.insert(n.profile))
        .map(|n| page.profiles.list[n.profile as usize].as_slice())
        .collect()
}

fn section_heads(page: &FleetPage, nodes: &[&NodeRecord]) -> Vec<SectionHead> {
    let mut by_id: BTreeMap<&str, &str> = BTreeMap::new();
    for rows in profiles_of(page, nodes) {
        for row in rows {
            by_id
                .entry(page.s(row.section))
                .or_insert_with(|| page.s(row.section_text));
        }
    }
    let mut heads: Vec<SectionHead> = by_id
        .into_iter()
        .map(|(id, text)| SectionHead {
            id: id.to_owned(),
            text: text.to_owned(),
        })
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
fn histogram(page: &FleetPage) -> Vec<HistogramBar> {
    let mut buckets = [0usize; 11];
    for node in &page.nodes {
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

/// An exception's accepted results: how many, which checks, on which nodes.
type AcceptedTally<'p> = (&'p ExceptionKey, usize, BTreeSet<String>, Vec<String>);

fn baseline_view(page: &FleetPage, header: &RunResults) -> Option<BaselineView> {
    let baseline = header.baseline.as_ref()?;
    let expiring: BTreeSet<(String, u32)> = baseline
        .expiring
        .iter()
        .map(|e| (e.check.clone(), e.line))
        .collect();
    let mut groups: BTreeMap<(u32, &str), AcceptedTally<'_>> = BTreeMap::new();
    for (node, row) in page.checks() {
        if row.disposition != Disposition::Accepted {
            continue;
        }
        let Some(exception) = page.exception(row) else {
            continue;
        };
        let entry = groups
            .entry((exception.line, page.s(exception.check)))
            .or_insert_with(|| (exception, 0, BTreeSet::new(), Vec::new()));
        entry.1 += 1;
        entry.2.insert(page.s(row.id).to_owned());
        let name = page.s(node.name);
        if entry.3.last().map(String::as_str) != Some(name) {
            entry.3.push(name.to_owned());
        }
    }
    let accepted_groups = groups
        .into_values()
        .map(|(exception, count, checks, nodes)| {
            let (nodes, nodes_more) = names_with_more(&nodes);
            let mut checks: Vec<String> = checks.into_iter().collect();
            checks.sort_by(|a, b| compare_ids(a, b));
            let view = page.exception_view(exception);
            AcceptedGroup {
                expiring: expiring.contains(&(view.check.clone(), view.line)),
                exception: view,
                results: count,
                checks,
                nodes,
                nodes_more,
            }
        })
        .collect();
    let header_view = |e: &crate::results::ExceptionRef| ExceptionView {
        check: e.check.clone(),
        reason: e.reason.clone(),
        owner: e.owner.clone().unwrap_or_default(),
        expires: e.expires.clone().unwrap_or_default(),
        ticket: e.ticket.clone().unwrap_or_default(),
        line: e.line,
    };
    Some(BaselineView {
        file: baseline.file.clone(),
        accepted: baseline.accepted,
        accepted_groups,
        expired: baseline.expired.iter().map(header_view).collect(),
        expiring: baseline.expiring.iter().map(header_view).collect(),
        stale: baseline
            .stale
            .iter()
            .map(|s| StaleView {
                exception: header_view(&s.exception),
                why: s.why.clone(),
            })
            .collect(),
    })
}

/// Nodes × sections with pass rates, worst first (most regressions, then lowest pass rate).
fn fleet(
    page: &FleetPage,
    nodes: &[&NodeRecord],
    sections: &[SectionHead],
    summaries: &[ProfileSummary],
) -> Vec<FleetRow> {
    let section_syms: Vec<Option<Sym>> = sections
        .iter()
        .map(|head| page.strings.index.get(head.id.as_str()).copied())
        .collect();
    let mut rows: Vec<FleetRow> = nodes
        .iter()
        .map(|node| {
            let summary = &summaries[node.profile as usize];
            let cells = section_syms
                .iter()
                .map(|sym| {
                    let totals = sym.and_then(|sym| summary.sections.get(&sym))?;
                    let rate = rate(totals.pass, totals.checks());
                    Some(FleetCell {
                        pass: totals.pass,
                        checks: totals.checks(),
                        rate,
                        level: level(rate, totals.fail + totals.error),
                    })
                })
                .collect();
            FleetRow {
                name: page.name(node),
                roles: page.roles(node).join(", "),
                source: page.s(node.source).to_owned(),
                regressions: summary.regressions,
                accepted: summary.accepted,
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

/// Green only for a section that fails nothing and mostly passes: a section whose checks
/// are all WARN (manual) passes 0% and is not good news.
fn level(rate: u32, failing: usize) -> &'static str {
    if failing == 0 && rate >= 80 {
        "good"
    } else if failing == 0 || rate >= 80 {
        "fair"
    } else {
        "poor"
    }
}

/// Nodes that fail exactly the same checks, largest group first.
fn failing_groups(page: &FleetPage, summaries: &[ProfileSummary]) -> Vec<FailingGroup> {
    let mut groups: BTreeMap<&[String], Vec<&NodeRecord>> = BTreeMap::new();
    for node in &page.nodes {
        groups
            .entry(&summaries[node.profile as usize].failing)
            .or_default()
            .push(node);
    }
    let mut list: Vec<FailingGroup> = groups
        .into_iter()
        .map(|(checks, nodes)| {
            let mut names: Vec<String> = nodes.iter().map(|n| page.name(n)).collect();
            names.sort();
            let mut roles: BTreeSet<String> = BTreeSet::new();
            for node in &nodes {
                roles.extend(page.roles(node));
            }
            let (shown, more) = names_with_more(&names);
            FailingGroup {
                size: names.len(),
                roles: roles.into_iter().collect::<Vec<_>>().join(", "),
                nodes: shown,
                nodes_more: more,
                checks: checks.to_vec(),
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

/// A check's title, the nodes it fails on, and how many nodes ran it.
type CheckSpread<'a> = (&'a str, Vec<String>, usize);

/// Within nodes of the same roles, checks that fail on some nodes but pass on others.
fn drift(page: &FleetPage) -> (Vec<Drift>, usize) {
    let mut by_roles: BTreeMap<String, Vec<&NodeRecord>> = BTreeMap::new();
    for node in &page.nodes {
        let mut roles = page.roles(node);
        roles.sort();
        by_roles.entry(roles.join(", ")).or_default().push(node);
    }
    let mut entries = Vec::new();
    for (roles, nodes) in by_roles {
        if nodes.len() < 2 {
            continue;
        }
        let mut per_check: HashMap<&str, CheckSpread<'_>> = HashMap::new();
        for node in &nodes {
            for row in page.rows(node) {
                let entry =
                    per_check
                        .entry(page.s(row.id))
                        .or_insert((page.s(row.text), Vec::new(), 0));
                entry.2 += 1;
                if is_failing(row) {
                    entry.1.push(page.name(node));
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

/// What makes two nodes' regressions of one check the same row.
type FindingKey = (State, Sym, Sym, Sym, &'static str, Option<u32>, u32);

/// Each regressing check, with its nodes grouped by what was found: a fleet of alike nodes
/// gives one row per check, naming the nodes. An audit's whole output only with
/// `--include-test-output`: a row shows the decisive value.
fn regression_groups(page: &FleetPage) -> Vec<RegressionGroup> {
    type Findings = BTreeMap<FindingKey, Vec<String>>;
    let mut groups: BTreeMap<&str, (RegressionGroup, Findings)> = BTreeMap::new();
    for (node, row) in page.checks() {
        if row.disposition != Disposition::Regression {
            continue;
        }
        let (group, findings) = groups.entry(page.s(row.id)).or_insert_with(|| {
            let group = RegressionGroup {
                order: row.state,
                id: page.s(row.id).to_owned(),
                text: page.s(row.text).to_owned(),
                section: format!("{} {}", page.s(row.section), page.s(row.section_text)),
                state: row.state.as_str(),
                expected: page.s(row.expected).to_owned(),
                remediation: page.s(row.remediation).to_owned(),
                new: 0,
                nodes: 0,
                list_href: format!("#mark=regression&q={}", fragment_value(page.s(row.id))),
                rows: Vec::new(),
            };
            (group, BTreeMap::new())
        });
        if row.change == "new" {
            group.new += 1;
        }
        group.nodes += 1;
        let key = (
            row.state,
            row.location,
            row.found,
            row.reason,
            row.change,
            row.exception,
            row.audits,
        );
        findings.entry(key).or_default().push(page.name(node));
    }
    let mut list: Vec<RegressionGroup> = groups
        .into_values()
        .map(|(mut group, findings)| {
            group.rows = findings
                .into_iter()
                .map(|(key, nodes)| finding_row(page, key, nodes))
                .collect();
            group
                .rows
                .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.nodes.cmp(&b.nodes)));
            group
        })
        .collect();
    list.sort_by(|a, b| {
        b.nodes
            .cmp(&a.nodes)
            .then_with(|| a.order.cmp(&b.order))
            .then_with(|| compare_ids(&a.id, &b.id))
    });
    list
}

/// `text` percent-encoded for a URL fragment's `key=value` list.
fn fragment_value(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn finding_row(page: &FleetPage, key: FindingKey, nodes: Vec<String>) -> RegressionRow {
    let (state, location, found, reason, change, exception, audits) = key;
    let expired = exception
        .map(|i| &page.exceptions.list[i as usize])
        .filter(|e| e.expired)
        .map(|e| {
            format!(
                "exception {} (line {}) expired {}",
                page.s(e.check),
                e.line,
                page.s(e.expires)
            )
        })
        .unwrap_or_default();
    let (shown, more) = names_with_more(&nodes);
    RegressionRow {
        count: nodes.len(),
        nodes: shown,
        nodes_more: more,
        state: state.as_str(),
        location: page.s(location).to_owned(),
        found: page.s(found).to_owned(),
        reason: page.s(reason).to_owned(),
        change,
        expired,
        audits: page.audits.list[audits as usize]
            .iter()
            .map(|[role, kind, command, output]| AuditView {
                role: page.s(*role).to_owned(),
                kind: page.s(*kind).to_owned(),
                command: page.s(*command).to_owned(),
                output: page.s(*output).to_owned(),
            })
            .collect(),
    }
}

fn fixed_groups(page: &FleetPage) -> Vec<ChangeGroup> {
    let mut groups: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for (node, row) in page.checks() {
        if row.change == "fixed" {
            groups
                .entry(page.s(row.id))
                .or_insert((page.s(row.text), Vec::new()))
                .1
                .push(page.name(node));
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
fn matrix(page: &FleetPage, nodes: &[&NodeRecord]) -> Vec<MatrixRow> {
    let mut rows: BTreeMap<&str, MatrixRow> = BTreeMap::new();
    for node in nodes {
        for row in page.rows(node) {
            let entry = rows.entry(page.s(row.id)).or_insert_with(|| MatrixRow {
                id: page.s(row.id).to_owned(),
                text: page.s(row.text).to_owned(),
                section: page.s(row.section).to_owned(),
                totals: Totals::default(),
                nodes: 0,
            });
            entry.totals.add(row.state);
            entry.nodes += 1;
        }
    }
    let mut list: Vec<MatrixRow> = rows.into_values().collect();
    list.sort_by(|a, b| compare_ids(&a.id, &b.id));
    list
}

/// The per-node results for the page's script, as JSON: `strings` (each text once),
/// `profiles` (each distinct list of results once: `[check, title, section, state,
/// classification, change, location]` as indices into `strings`) and `nodes` (`[name,
/// profile]`, in report order). Returns it with `<` escaped (it sits in a `<script>`
/// element) and how many rows it holds.
fn check_data(page: &FleetPage) -> (String, usize) {
    #[derive(Serialize)]
    struct Data<'a> {
        strings: Vec<&'a str>,
        profiles: Vec<Vec<[u32; 7]>>,
        nodes: Vec<[u32; 2]>,
    }
    let mut strings: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut add = |text| {
        *index.entry(text).or_insert_with(|| {
            strings.push(text);
            strings.len() as u32 - 1
        })
    };
    let mut profile_index: HashMap<u32, u32> = HashMap::new();
    let mut profiles = Vec::new();
    let mut nodes = Vec::new();
    let mut row_count = 0;
    for node in &page.nodes {
        let profile = *profile_index.entry(node.profile).or_insert_with(|| {
            profiles.push(
                page.rows(node)
                    .iter()
                    .map(|row| {
                        [
                            add(page.s(row.id)),
                            add(page.s(row.text)),
                            add(page.s(row.section)),
                            add(row.state.as_str()),
                            add(row.disposition.as_str()),
                            add(row.change),
                            add(page.s(row.location)),
                        ]
                    })
                    .collect(),
            );
            profiles.len() as u32 - 1
        });
        row_count += page.rows(node).len();
        nodes.push([add(page.s(node.name)), profile]);
    }
    let data = Data {
        strings,
        profiles,
        nodes,
    };
    let json = serde_json::to_string(&data).expect("plain data serializes");
    (json.replace('<', "\\u003c"), row_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(results: &RunResults, nodes: &[NodeResults]) -> Vec<u8> {
        let mut page = FleetPage::new(&results.gate, false);
        for node in nodes {
            page.add(node);
        }
        let header = RunResults {
            nodes: Vec::new(),
            ..results.clone()
        };
        let mut html = Vec::new();
        page.write(&header, &mut html).unwrap();
        html
    }

    #[test]
    fn the_page_is_the_same_whatever_order_nodes_arrive_in() {
        let results: RunResults =
            serde_json::from_str(include_str!("../../tests/fixtures/results/small.json")).unwrap();
        assert!(results.nodes.len() >= 3);
        let in_order = page_of(&results, &results.nodes);
        let mut reversed = results.nodes.clone();
        reversed.reverse();
        assert_eq!(in_order, page_of(&results, &reversed));
        reversed.rotate_left(1);
        assert_eq!(in_order, page_of(&results, &reversed));
    }

    #[test]
    fn alike_nodes_share_one_profile_and_each_text_once() {
        let results: RunResults =
            serde_json::from_str(include_str!("../../tests/fixtures/results/small.json")).unwrap();
        let mut page = FleetPage::new(&results.gate, false);
        for n in 0..100 {
            let mut node = results.nodes[0].clone();
            node.node.name = format!("cp-{n}");
            page.add(&node);
        }
        assert_eq!(page.profiles.list.len(), 1);
        assert_eq!(page.nodes.len(), 100);
        let names = page
            .strings
            .list
            .iter()
            .filter(|s| s.starts_with("cp-"))
            .count();
        assert_eq!(page.strings.list.len() - names, {
            let mut one = FleetPage::new(&results.gate, false);
            one.add(&results.nodes[0]);
            one.strings.list.len() - 1
        });
    }
}
