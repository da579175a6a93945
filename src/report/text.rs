//! The console report, laid out like kube-bench's: per section the `[STATE] id text`
//! lines, the remediations, a summary; then the totals, the baseline's entries that need
//! attention and the gate's verdict. A fleet gets one line per node instead
//! ([`ConsoleFormat`], `docs/reports.md`).
//!
//! A finding the baseline accepts prints as `[ACCEPTED]`, with its state, the entry's line,
//! reason and expiry on the line below; a regression an entry no longer accepts (expired, or a
//! placeholder reason under `--require-reasons`) says why on the line below.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::findings::{disposition, found_text, Disposition};
use super::{ConsoleFormat, Emitter, RenderOptions};
use crate::results::{
    compare_check_ids, Change, CheckResult, Classification, ExceptionRef, NodeResults,
    PlatformInfo, RunResults, SectionResult, State, Totals,
};

/// Indents the explanation lines under a check line (the width of `[PASS] `).
const DETAIL_INDENT: &str = "       ";
/// The fleet summary names at most this many nodes per regression.
const NODES_NAMED: usize = 5;

pub struct Text;

impl Emitter for Text {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: control characters from a node shown escaped.
        let results = &*super::sanitize::results_with(results, super::sanitize::for_terminal)?;
        let painter = Painter {
            color: options.color,
        };
        let mut out = String::new();
        header(&mut out, results);
        let format = options
            .format
            .unwrap_or_else(|| ConsoleFormat::for_nodes(results.nodes.len()));
        match format {
            ConsoleFormat::Summary => fleet_summary(&mut out, results, options, &painter),
            ConsoleFormat::Full | ConsoleFormat::Failures => {
                let failures_only = format == ConsoleFormat::Failures;
                per_node(&mut out, results, options, &painter, failures_only);
            }
        }
        for unreadable in &results.unreadable {
            let _ = writeln!(
                out,
                "{} {}: {}",
                painter.state(State::Error),
                unreadable.source,
                unreadable.reason
            );
        }
        if !results.unreadable.is_empty() {
            out.push('\n');
        }
        if !options.no_totals {
            summary(&mut out, "total", &results.totals, results, None, &painter);
        }
        baseline_entries(&mut out, results, &painter);
        previous_line(&mut out, results);
        verdict(&mut out, results, &painter);
        Ok(out.into_bytes())
    }
}

fn header(out: &mut String, results: &RunResults) {
    let _ = writeln!(
        out,
        "== {} {}: benchmark {} from {} ==",
        results.tool.name, results.tool.version, results.benchmark.name, results.benchmark.source
    );
    if let Some(time) = &results.scanned_at {
        let _ = writeln!(out, "== Scanned at {time} ==");
    }
    if results.benchmarks.is_empty() {
        let _ = writeln!(out, "== {} ==", results.benchmark.selected_because);
    }
    for benchmark in &results.benchmarks {
        let _ = writeln!(
            out,
            "== {}: {} ==",
            benchmark.name, benchmark.selected_because
        );
    }
}

fn per_node(
    out: &mut String,
    results: &RunResults,
    options: &RenderOptions,
    painter: &Painter,
    failures_only: bool,
) {
    let mut managed_said = false;
    for node in &results.nodes {
        if results.nodes.len() > 1 || !node.node.name.is_empty() {
            let benchmark = match (&node.node.benchmark, results.benchmarks.is_empty()) {
                (Some(name), false) => format!(", benchmark {name}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "== Node {} ({}{benchmark}) ==",
                node.node.name, node.node.source
            );
        }
        if let Some(platform) = &node.node.distribution {
            platform_line(out, platform, &mut managed_said);
        }
        for section in &node.sections {
            render_section(out, results, section, options, painter, failures_only);
        }
    }
}

/// The platform recognised on a node; the first managed one also says, once per report,
/// why there are no control-plane component checks.
fn platform_line(out: &mut String, platform: &PlatformInfo, managed_said: &mut bool) {
    let _ = writeln!(
        out,
        "== Platform {} ({}) ==",
        platform.title,
        platform.evidence.join(", ")
    );
    if platform.managed_control_plane && !*managed_said {
        *managed_said = true;
        let _ = writeln!(
            out,
            "== The provider runs the control plane: no control-plane component or etcd runs on \
             these nodes, so the master and etcd checks do not apply (not failures); the \
             controlplane and managedservices recommendations concern the cluster's settings =="
        );
    }
}

/// Whether `--format failures` lists a check: it did not pass, or `--previous` says it was fixed.
fn is_listed_as_failure(check: &CheckResult) -> bool {
    !matches!(check.state, State::Pass | State::Info) || check.change == Some(Change::Fixed)
}

fn render_section(
    out: &mut String,
    results: &RunResults,
    section: &SectionResult,
    options: &RenderOptions,
    painter: &Painter,
    failures_only: bool,
) {
    let listed = |check: &&CheckResult| !failures_only || is_listed_as_failure(check);
    if !options.no_results {
        let info = painter.state(State::Info);
        let mut lines = String::new();
        for group in &section.groups {
            if group.checks.iter().filter(listed).count() == 0 && failures_only {
                continue;
            }
            // A section with a single group of the same id and title (etcd's "2 etcd") is
            // announced once.
            if group.id != section.id || group.text != section.text {
                let _ = writeln!(lines, "{info} {} {}", group.id, group.text);
            }
            for check in group.checks.iter().filter(listed) {
                check_line(&mut lines, results, check, painter);
                if options.include_test_output && check.state == State::Fail {
                    for line in check.evidence.actual.lines() {
                        let _ = writeln!(lines, "\t {line}");
                    }
                }
            }
        }
        if !failures_only || !lines.is_empty() {
            let _ = writeln!(out, "{info} {} {}", section.id, section.text);
            out.push_str(&lines);
            out.push('\n');
        }
    }
    let t = &section.totals;
    let nothing_listed = failures_only
        && !section
            .groups
            .iter()
            .flat_map(|g| &g.checks)
            .any(is_listed_as_failure);
    if nothing_listed {
        return;
    }
    if !options.no_remediations && t.fail + t.warn + t.error > 0 {
        remediations(out, results, section, painter);
    }
    if !options.no_summary {
        summary(out, &section.target, t, results, Some(section), painter);
    }
}

/// `[STATE] id text`, marked `[NEW]`/`[FIXED]` with `--previous`; an accepted finding as
/// `[ACCEPTED]`; the baseline's word on the line below.
fn check_line(out: &mut String, results: &RunResults, check: &CheckResult, painter: &Painter) {
    let accepted = disposition(check, &results.gate) == Disposition::Accepted;
    let tag = if accepted {
        painter.paint(AnsiColor::Cyan, "[ACCEPTED]")
    } else {
        painter.state(check.state)
    };
    let change = match check.change {
        Some(Change::New) => format!(" {}", painter.paint(AnsiColor::Red, "[NEW]")),
        Some(Change::Fixed) => format!(" {}", painter.paint(AnsiColor::Green, "[FIXED]")),
        Some(Change::Unchanged) | None => String::new(),
    };
    let _ = writeln!(out, "{tag} {} {}{change}", check.id, check.text);
    let file = results
        .baseline
        .as_ref()
        .map_or("baseline", |b| b.file.as_str());
    if let Some(note) = baseline_note(check, file) {
        let _ = writeln!(out, "{DETAIL_INDENT}{note}");
    }
    if check.state == State::Fail {
        let found = found_text(check);
        if !found.is_empty() {
            let _ = writeln!(out, "{DETAIL_INDENT}found: {found}");
        }
    }
}

/// What the baseline did with a non-passing result, when an entry matched it.
fn baseline_note(check: &CheckResult, file: &str) -> Option<String> {
    let mark = check.baseline.as_ref()?;
    let entry = mark.exception.as_ref()?;
    let state = check.state.as_str();
    Some(match mark.classification {
        Classification::Accepted => {
            let mut note = format!(
                "{state} accepted by {file}:{} (check {}): {}",
                entry.line, entry.check, entry.reason
            );
            note.push_str(&entry_terms(entry));
            note
        }
        Classification::Regression if entry.expired => format!(
            "not accepted: {file}:{} (check {}) expired on {}",
            entry.line,
            entry.check,
            entry.expires.as_deref().unwrap_or("an earlier date")
        ),
        Classification::Regression => format!(
            "not accepted: {file}:{} (check {}) has a placeholder reason ({:?}) and \
             --require-reasons needs a real one",
            entry.line, entry.check, entry.reason
        ),
    })
}

/// ` (expires D, owner O, ticket T)` for the parts an entry has.
fn entry_terms(entry: &ExceptionRef) -> String {
    let mut terms = Vec::new();
    if let Some(expires) = &entry.expires {
        terms.push(format!("expires {expires}"));
    }
    if let Some(owner) = &entry.owner {
        terms.push(format!("owner {owner}"));
    }
    if let Some(ticket) = &entry.ticket {
        terms.push(format!("ticket {ticket}"));
    }
    if terms.is_empty() {
        String::new()
    } else {
        format!(" [{}]", terms.join(", "))
    }
}

/// The remediations of the section's findings that are not accepted; accepted ones are
/// counted, not repeated on every run.
fn remediations(out: &mut String, results: &RunResults, section: &SectionResult, p: &Painter) {
    let heading = format!("== Remediations {} ==", section.target);
    let mut body = String::new();
    let mut accepted = 0;
    for check in section.groups.iter().flat_map(|g| &g.checks) {
        if matches!(check.state, State::Pass | State::Info) {
            continue;
        }
        if disposition(check, &results.gate) == Disposition::Accepted {
            accepted += 1;
            continue;
        }
        remediation(&mut body, check);
    }
    if body.is_empty() && accepted == 0 {
        return;
    }
    let _ = writeln!(out, "{}", p.paint(AnsiColor::Yellow, &heading));
    out.push_str(&body);
    if accepted > 0 {
        let _ = writeln!(
            out,
            "({} accepted by the baseline not repeated here; `cisgate explain ID` prints any remediation)",
            plural(accepted, "finding", "findings")
        );
    }
    out.push('\n');
}

fn remediation(out: &mut String, check: &CheckResult) {
    match check.state {
        State::Fail => {
            let _ = write!(out, "{} {}", check.id, check.remediation);
        }
        State::Warn if !check.reason.is_empty() && check.check_type != "manual" => {
            let _ = writeln!(out, "{} audit test did not run: {}", check.id, check.reason);
        }
        State::Warn => {
            let _ = write!(out, "{} {}", check.id, check.remediation);
        }
        State::Error => {
            let _ = writeln!(out, "{} could not be evaluated: {}", check.id, check.reason);
        }
        State::Pass | State::Info => return,
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

/// kube-bench's five counts; with a baseline, how many of them it accepted.
fn summary(
    out: &mut String,
    name: &str,
    totals: &Totals,
    results: &RunResults,
    section: Option<&SectionResult>,
    painter: &Painter,
) {
    let color = if totals.fail + totals.error > 0 {
        AnsiColor::Red
    } else if totals.warn > 0 {
        AnsiColor::Yellow
    } else {
        AnsiColor::Green
    };
    let _ = writeln!(
        out,
        "{}",
        painter.paint(color, &format!("== Summary {name} =="))
    );
    let _ = writeln!(out, "{} checks PASS", totals.pass);
    let _ = writeln!(out, "{} checks FAIL", totals.fail);
    let _ = writeln!(out, "{} checks WARN", totals.warn);
    let _ = writeln!(out, "{} checks INFO", totals.info);
    let _ = writeln!(out, "{} checks ERROR", totals.error);
    if results.baseline.is_some() {
        let accepted = match section {
            Some(section) => section
                .groups
                .iter()
                .flat_map(|g| &g.checks)
                .filter(|c| disposition(c, &results.gate) == Disposition::Accepted)
                .count(),
            None => results.baseline.as_ref().map_or(0, |b| b.accepted),
        };
        if accepted > 0 {
            let _ = writeln!(out, "(of these, {accepted} accepted by the baseline)");
        }
    }
    out.push('\n');
}

/// Per node, what `--format summary` shows on its line.
struct NodeCounts {
    regressions: usize,
    accepted: usize,
    new: usize,
}

fn node_counts(results: &RunResults, node: &NodeResults) -> NodeCounts {
    let mut counts = NodeCounts {
        regressions: 0,
        accepted: 0,
        new: 0,
    };
    let checks = node
        .sections
        .iter()
        .flat_map(|s| &s.groups)
        .flat_map(|g| &g.checks);
    for check in checks {
        match disposition(check, &results.gate) {
            Disposition::Regression => counts.regressions += 1,
            Disposition::Accepted => counts.accepted += 1,
            Disposition::Passed | Disposition::NotGating => {}
        }
        if check.change == Some(Change::New) {
            counts.new += 1;
        }
    }
    counts
}

/// One line per node, then each regression once with the nodes it is on.
fn fleet_summary(out: &mut String, results: &RunResults, options: &RenderOptions, p: &Painter) {
    let width = results
        .nodes
        .iter()
        .map(|n| n.node.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let _ = writeln!(
        out,
        "== {} ==",
        plural(results.nodes.len(), "node", "nodes")
    );
    for node in &results.nodes {
        let counts = node_counts(results, node);
        let tag = if counts.regressions > 0 {
            p.paint(AnsiColor::Red, "[FAIL]")
        } else {
            p.paint(AnsiColor::Green, "[PASS]")
        };
        let t = &node.totals;
        let mut line = format!(
            "{tag} {:<width$}  {} PASS, {} FAIL, {} WARN, {} INFO, {} ERROR: {}",
            node.node.name,
            t.pass,
            t.fail,
            t.warn,
            t.info,
            t.error,
            plural(counts.regressions, "regression", "regressions")
        );
        if results.baseline.is_some() {
            let _ = write!(line, ", {} accepted", counts.accepted);
        }
        if results.previous.is_some() {
            let _ = write!(line, ", {} new", counts.new);
        }
        let benchmark = match (&node.node.benchmark, results.benchmarks.is_empty()) {
            (Some(name), false) => format!(", benchmark {name}"),
            _ => String::new(),
        };
        let _ = writeln!(line, " ({}{benchmark})", node.node.source);
        out.push_str(&line);
    }
    out.push('\n');
    if !options.no_results {
        regressions_by_check(out, results, p);
    }
}

/// Each regression once, in benchmark order, with the nodes it is on.
fn regressions_by_check(out: &mut String, results: &RunResults, p: &Painter) {
    // Keyed by check id (in reading order), then state and text: the same id can differ
    // between benchmarks of a mixed fleet.
    let mut by_check: BTreeMap<(IdOrder, State, String), Vec<(String, bool)>> = BTreeMap::new();
    for (node, _, check) in results.checks() {
        if disposition(check, &results.gate) != Disposition::Regression {
            continue;
        }
        by_check
            .entry((
                IdOrder(check.id.to_string()),
                check.state,
                check.text.to_string(),
            ))
            .or_default()
            .push((node.node.name.clone(), check.change == Some(Change::New)));
    }
    if by_check.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "== Regressions: {} ==",
        plural(by_check.len(), "check", "checks")
    );
    for ((id, state, text), nodes) in &by_check {
        let mut names: Vec<String> = nodes
            .iter()
            .take(NODES_NAMED)
            .map(|(name, new)| {
                if *new {
                    format!("{name} [NEW]")
                } else {
                    name.clone()
                }
            })
            .collect();
        if nodes.len() > NODES_NAMED {
            names.push(format!("{} more", nodes.len() - NODES_NAMED));
        }
        let _ = writeln!(
            out,
            "{} {} {text}\n{DETAIL_INDENT}on {}: {}",
            p.state(*state),
            id.0,
            plural(nodes.len(), "node", "nodes"),
            names.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "(`--format full` lists every check of every node with its remediation, `--format failures` the ones that did not pass)"
    );
    out.push('\n');
}

/// A check id ordered the way a reader expects (`1.2.9` before `1.2.10`).
#[derive(PartialEq, Eq)]
struct IdOrder(String);

impl Ord for IdOrder {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        compare_check_ids(&self.0, &other.0)
    }
}

impl PartialOrd for IdOrder {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The baseline entries that need attention, each by check pattern and line.
fn baseline_entries(out: &mut String, results: &RunResults, p: &Painter) {
    let Some(baseline) = &results.baseline else {
        return;
    };
    let file = &baseline.file;
    let mut lines = Vec::new();
    for entry in &baseline.expired {
        lines.push(format!(
            "{} {file}:{}: the entry for {} expired on {}; the findings it accepted are regressions",
            p.state(State::Fail),
            entry.line,
            entry.check,
            entry.expires.as_deref().unwrap_or("an earlier date")
        ));
    }
    for entry in &baseline.expiring {
        lines.push(format!(
            "{} {file}:{}: the entry for {} expires soon, on {}",
            p.state(State::Warn),
            entry.line,
            entry.check,
            entry.expires.as_deref().unwrap_or("an unknown date")
        ));
    }
    for stale in &baseline.stale {
        let why = match stale.why.as_str() {
            crate::baseline::classify::STALE_FIXED => "the check passes now",
            _ => "no check with this id was run",
        };
        lines.push(format!(
            "{} {file}:{}: the entry for {} is stale ({why}); remove it (`cisgate baseline update --prune`)",
            p.state(State::Warn),
            stale.exception.line,
            stale.exception.check
        ));
    }
    let rejected = rejected_placeholder_lines(results);
    for entry in &baseline.placeholder_reasons {
        let effect = if rejected.contains(&entry.line) {
            "it accepts nothing under --require-reasons"
        } else {
            "--require-reasons would reject it"
        };
        lines.push(format!(
            "{} {file}:{}: the entry for {} has a placeholder reason ({:?}); write why it is accepted ({effect})",
            p.state(State::Warn),
            entry.line,
            entry.check,
            entry.reason
        ));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "== Baseline {file}: entries to look at ==");
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

/// Lines of entries that matched a result but accepted nothing without having expired: their
/// placeholder reason was refused (`--require-reasons`).
fn rejected_placeholder_lines(results: &RunResults) -> Vec<u32> {
    let mut lines: Vec<u32> = results
        .checks()
        .filter_map(|(_, _, check)| check.baseline.as_ref())
        .filter(|mark| mark.classification == Classification::Regression)
        .filter_map(|mark| mark.exception.as_ref())
        .filter(|entry| !entry.expired)
        .map(|entry| entry.line)
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

fn previous_line(out: &mut String, results: &RunResults) {
    if let Some(previous) = &results.previous {
        let _ = writeln!(
            out,
            "Since {}: {} new, {} fixed, {} unchanged",
            previous.file, previous.new, previous.fixed, previous.unchanged
        );
    }
}

fn verdict(out: &mut String, results: &RunResults, painter: &Painter) {
    let gate = &results.gate;
    let mut line = if gate.passed {
        painter.paint(AnsiColor::Green, "Gate PASSED")
    } else {
        painter.paint(AnsiColor::Red, "Gate FAILED")
    };
    let _ = write!(
        line,
        ": {} at or above --fail-on {}",
        plural(gate.regressions, "regression", "regressions"),
        gate.fail_on
    );
    if let Some(baseline) = &results.baseline {
        let _ = write!(
            line,
            "; baseline {}: {} accepted, {} stale, {} expiring soon, {} expired",
            baseline.file,
            baseline.accepted,
            baseline.stale.len(),
            baseline.expiring.len(),
            baseline.expired.len()
        );
    }
    if !results.unreadable.is_empty() {
        let _ = write!(
            line,
            "; {} could not be evaluated",
            plural(results.unreadable.len(), "node", "nodes")
        );
    }
    let _ = writeln!(out, "{line}");
}

/// `1 node`, `2 nodes`.
fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

struct Painter {
    color: bool,
}

impl Painter {
    fn state(&self, state: State) -> String {
        let color = match state {
            State::Pass => AnsiColor::Green,
            State::Fail => AnsiColor::Red,
            State::Warn => AnsiColor::Yellow,
            State::Info => AnsiColor::Blue,
            State::Error => AnsiColor::Magenta,
        };
        self.paint(color, &format!("[{}]", state.as_str()))
    }

    fn paint(&self, color: AnsiColor, text: &str) -> String {
        if self.color {
            let style = Style::new().fg_color(Some(color.into()));
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}
