//! A Markdown summary for `$GITHUB_STEP_SUMMARY` and merge-request comments: verdict, totals,
//! the top regressions and their remediations. Always under GitHub's 1 MiB step-summary limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::findings::{compare_ids, disposition, fenced_block, found_text, Disposition};
use super::{Emitter, RenderOptions};
use crate::results::{Change, CheckResult, GateOutcome, NodeResults, RunResults, Totals};

/// GitHub rejects a step summary over 1 MiB; stay well below so other steps can add theirs.
pub const SIZE_LIMIT: usize = 512 * 1024;
/// How many regression rows the table lists before it says how many more there are.
pub const TOP_REGRESSIONS: usize = 50;
/// How many node rows the per-node table lists (worst first).
pub const TOP_NODES: usize = 25;

pub struct MarkdownEmitter;

impl Emitter for MarkdownEmitter {
    fn render(&self, results: &RunResults, _options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: control characters from a node removed.
        let results = &*super::sanitize::results_with(results, super::sanitize::strip_controls)?;
        let mut summary = Summary::new(results.gate.clone());
        for node in &results.nodes {
            summary.add(node);
        }
        Ok(summary.render(results))
    }
}

/// `--summary-md` as nodes arrive: each node is folded into a `Summary` that keeps the
/// worst nodes and, per failing check, what the tables show; the same bytes as
/// [`MarkdownEmitter`].
pub struct MarkdownSink {
    path: std::path::PathBuf,
    summary: Summary,
    outputs: super::stream::Outputs,
}

impl MarkdownSink {
    /// `template`: what is known before the first node ([`super::stream::template`]).
    pub fn new(
        path: &std::path::Path,
        template: RunResults,
        outputs: super::stream::Outputs,
    ) -> MarkdownSink {
        MarkdownSink {
            path: path.to_path_buf(),
            summary: Summary::new(template.gate.clone()),
            outputs,
        }
    }
}

impl crate::runner::Sink for MarkdownSink {
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()> {
        let node = super::sanitize::cleaned(node, super::sanitize::strip_controls)?;
        self.summary.add(&node);
        Ok(())
    }

    fn end(&mut self, run: &RunResults) -> anyhow::Result<()> {
        use std::io::Write;
        let header = super::sanitize::results_with(run, super::sanitize::strip_controls)?;
        let summary = std::mem::replace(&mut self.summary, Summary::new(run.gate.clone()));
        let bytes = summary.render(&header);
        super::stream::finish(&self.outputs, "--summary-md", &self.path, |file| {
            file.write_all(&bytes)?;
            Ok(())
        })
    }
}

/// A node's place in report order (name, source), then a check's position in it.
type Order = (std::sync::Arc<(String, String)>, usize);

/// What the summary shows of a run's nodes, folded node by node in any order: its size
/// depends on the failing checks and their distinct values, not on the number of nodes.
struct Summary {
    gate: GateOutcome,
    nodes: usize,
    /// The worst nodes so far (at most a few times [`TOP_NODES`]).
    worst: Vec<NodeRow>,
    by_check: BTreeMap<String, CheckRegressions>,
}

struct NodeRow {
    regressions: usize,
    name: String,
    source: String,
    roles: String,
    totals: Totals,
}

impl Summary {
    fn new(gate: GateOutcome) -> Summary {
        Summary {
            gate,
            nodes: 0,
            worst: Vec::new(),
            by_check: BTreeMap::new(),
        }
    }

    fn add(&mut self, node: &NodeResults) {
        self.nodes += 1;
        let key = std::sync::Arc::new((node.node.name.clone(), node.node.source.clone()));
        let checks = node
            .sections
            .iter()
            .flat_map(|s| &s.groups)
            .flat_map(|g| &g.checks);
        let mut regressions = 0;
        for (position, check) in checks.enumerate() {
            if disposition(check, &self.gate) != Disposition::Regression {
                continue;
            }
            regressions += 1;
            let order = (key.clone(), position);
            match self.by_check.get_mut(check.id.as_str()) {
                Some(entry) => entry.add(order, check),
                None => {
                    self.by_check.insert(
                        check.id.as_str().to_owned(),
                        CheckRegressions::new(order, check),
                    );
                }
            }
        }
        self.worst.push(NodeRow {
            regressions,
            name: node.node.name.clone(),
            source: node.node.source.clone(),
            roles: node.node.roles.join(", "),
            totals: node.totals,
        });
        if self.worst.len() > 4 * TOP_NODES {
            self.sort_worst();
            self.worst.truncate(TOP_NODES);
        }
    }

    /// Most regressions first; among equals, in report order.
    fn sort_worst(&mut self) {
        self.worst.sort_by(|a, b| {
            b.regressions
                .cmp(&a.regressions)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.source.cmp(&b.source))
        });
    }

    /// The summary, with `results`' header (its nodes are not read).
    fn render(mut self, results: &RunResults) -> Vec<u8> {
        self.sort_worst();
        let mut out = String::new();
        verdict(&mut out, results, self.nodes);
        totals_table(&mut out, results);
        nodes_table(&mut out, &self.worst, self.nodes);
        let regressions = regressions_by_check(self.by_check);
        regressions_table(&mut out, &regressions, results.previous.is_some());
        baseline_notes(&mut out, results);
        remediations(&mut out, &regressions);
        within_limit(out).into_bytes()
    }
}

fn verdict(out: &mut String, results: &RunResults, nodes: usize) {
    let benchmark = &results.benchmark.name;
    if results.gate.passed {
        let _ = writeln!(out, "## ✅ cisgate: gate passed");
    } else {
        let _ = writeln!(out, "## ❌ cisgate: gate failed");
    }
    let _ = writeln!(
        out,
        "\n{} regression(s) on {} node(s), benchmark {} (fail on {}).",
        results.gate.regressions,
        nodes,
        cell(benchmark),
        results.gate.fail_on
    );
    if let Some(time) = &results.scanned_at {
        let _ = writeln!(out, "\nScanned at {time}.");
    }
    if !results.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "\n⚠️ {} node(s) could not be evaluated: {}.",
            results.unreadable.len(),
            results
                .unreadable
                .iter()
                .take(10)
                .map(|u| format!("{} ({})", cell(&u.source), cell(&u.reason)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn totals_table(out: &mut String, results: &RunResults) {
    let t = &results.totals;
    let _ = writeln!(out, "\n| Checks | PASS | FAIL | WARN | INFO | ERROR |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        t.checks(),
        t.pass,
        t.fail,
        t.warn,
        t.info,
        t.error
    );
    let mut extra = vec![format!("| Regressions | {} |", results.gate.regressions)];
    if let Some(baseline) = &results.baseline {
        extra.push(format!(
            "| Accepted by the baseline | {} |",
            baseline.accepted
        ));
        extra.push(format!("| Stale exceptions | {} |", baseline.stale.len()));
        extra.push(format!(
            "| Exceptions expiring soon | {} |",
            baseline.expiring.len()
        ));
        extra.push(format!(
            "| Expired exceptions | {} |",
            baseline.expired.len()
        ));
    }
    if let Some(previous) = &results.previous {
        extra.push(format!("| New since the previous run | {} |", previous.new));
        extra.push(format!(
            "| Fixed since the previous run | {} |",
            previous.fixed
        ));
    }
    let _ = writeln!(out, "\n| | |\n|---|---:|");
    for row in extra {
        let _ = writeln!(out, "{row}");
    }
}

fn nodes_table(out: &mut String, worst: &[NodeRow], nodes: usize) {
    if nodes < 2 {
        return;
    }
    let _ = writeln!(out, "\n### Nodes, worst first\n");
    let _ = writeln!(
        out,
        "| Node | Roles | Regressions | PASS | FAIL | WARN | ERROR |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for node in worst.iter().take(TOP_NODES) {
        let t: &Totals = &node.totals;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&node.name),
            cell(&node.roles),
            node.regressions,
            t.pass,
            t.fail,
            t.warn,
            t.error
        );
    }
    if nodes > TOP_NODES {
        let _ = writeln!(out, "\n… and {} more node(s).", nodes - TOP_NODES);
    }
}

/// One failing check across the nodes: the first node's result (in report order), the
/// first node names, how many nodes, and each distinct decisive value.
struct CheckRegressions {
    first: Order,
    check: CheckResult,
    /// The first [`NAMES_SHOWN`] members in report order.
    names: Vec<Order>,
    count: usize,
    /// Each distinct decisive value with the first member that showed it.
    found: BTreeMap<String, Order>,
    new: usize,
}

/// Node names a regression row lists before it says how many more.
const NAMES_SHOWN: usize = 3;

impl CheckRegressions {
    fn new(order: Order, check: &CheckResult) -> CheckRegressions {
        let mut entry = CheckRegressions {
            first: order.clone(),
            check: check.clone(),
            names: Vec::new(),
            count: 0,
            found: BTreeMap::new(),
            new: 0,
        };
        entry.add(order, check);
        entry
    }

    fn add(&mut self, order: Order, check: &CheckResult) {
        if order < self.first {
            self.first = order.clone();
            self.check = check.clone();
        }
        self.count += 1;
        if check.change == Some(Change::New) {
            self.new += 1;
        }
        match self.found.get_mut(&found_text(check)) {
            Some(seen) if *seen <= order => {}
            Some(seen) => *seen = order.clone(),
            None => {
                self.found.insert(found_text(check), order.clone());
            }
        }
        self.names.push(order);
        if self.names.len() > NAMES_SHOWN {
            self.names.sort();
            self.names.truncate(NAMES_SHOWN);
        }
    }
}

/// What a regression row shows.
struct Row {
    check: CheckResult,
    names: Vec<String>,
    count: usize,
    /// Each distinct decisive value, in the order the nodes showed them.
    found: Vec<String>,
    new: usize,
}

fn regressions_by_check(by_check: BTreeMap<String, CheckRegressions>) -> Vec<Row> {
    let mut list: Vec<Row> = by_check
        .into_values()
        .map(|mut entry| {
            entry.names.sort();
            let mut found: Vec<(String, Order)> = entry.found.into_iter().collect();
            found.sort_by(|a, b| a.1.cmp(&b.1));
            Row {
                check: entry.check,
                names: entry.names.iter().map(|(node, _)| node.0.clone()).collect(),
                count: entry.count,
                found: found.into_iter().map(|(value, _)| value).collect(),
                new: entry.new,
            }
        })
        .collect();
    // Most nodes first; among equals, FAIL before WARN before ERROR (could not evaluate).
    list.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.check.state.cmp(&b.check.state))
            .then_with(|| compare_ids(&a.check.id, &b.check.id))
    });
    list
}

fn regressions_table(out: &mut String, regressions: &[Row], with_new: bool) {
    if regressions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Top regressions\n");
    if with_new {
        let _ = writeln!(out, "| Check | State | Nodes | New | Title | Found | Fix |");
        let _ = writeln!(out, "|---|---|---|---:|---|---|---|");
    } else {
        let _ = writeln!(out, "| Check | State | Nodes | Title | Found | Fix |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
    }
    for entry in regressions.iter().take(TOP_REGRESSIONS) {
        let new = if with_new {
            format!(" {} |", entry.new)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |{new} {} | {} | [remediation](#{}) |",
            cell(&entry.check.id),
            entry.check.state.as_str(),
            node_list(&entry.names, entry.count),
            cell(&entry.check.text),
            found_cell(&entry.found),
            anchor(&entry.check.id)
        );
    }
    if regressions.len() > TOP_REGRESSIONS {
        let _ = writeln!(
            out,
            "\n… and {} more failing check(s); see the HTML or SARIF report.",
            regressions.len() - TOP_REGRESSIONS
        );
    }
}

/// The decisive value as code (markup in it escaped, so it stays data), and how many other
/// values other nodes showed.
fn found_cell(found: &[String]) -> String {
    let Some(first) = found.first() else {
        return String::new();
    };
    let mut text = if first.is_empty() {
        "nothing".to_owned()
    } else {
        format!("<code>{}</code>", cell(first))
    };
    if found.len() > 1 {
        let _ = write!(text, " and {} other value(s)", found.len() - 1);
    }
    text
}

fn node_list(names: &[String], count: usize) -> String {
    let mut text = names
        .iter()
        .take(NAMES_SHOWN)
        .map(|n| cell(n))
        .collect::<Vec<_>>()
        .join(", ");
    if count > NAMES_SHOWN {
        let _ = write!(text, " and {} more", count - NAMES_SHOWN);
    }
    text
}

fn baseline_notes(out: &mut String, results: &RunResults) {
    let Some(baseline) = &results.baseline else {
        return;
    };
    if baseline.expired.is_empty() && baseline.expiring.is_empty() && baseline.stale.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Baseline {}\n", cell(&baseline.file));
    for e in &baseline.expired {
        let _ = writeln!(
            out,
            "- ⛔ {} (line {}) expired on {}: {}",
            cell(&e.check),
            e.line,
            e.expires.as_deref().unwrap_or("?"),
            cell(&e.reason)
        );
    }
    for e in &baseline.expiring {
        let _ = writeln!(
            out,
            "- ⏳ {} (line {}) expires on {}: {}",
            cell(&e.check),
            e.line,
            e.expires.as_deref().unwrap_or("?"),
            cell(&e.reason)
        );
    }
    for s in &baseline.stale {
        let _ = writeln!(
            out,
            "- 🧹 {} (line {}) is stale ({}): it can be removed",
            cell(&s.exception.check),
            s.exception.line,
            s.why
        );
    }
}

fn remediations(out: &mut String, regressions: &[Row]) {
    if regressions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Remediations\n");
    for entry in regressions.iter().take(TOP_REGRESSIONS) {
        let block = format!(
            "<a id=\"{}\"></a>\n**{} {}**\n\n{}\n\n",
            anchor(&entry.check.id),
            cell(&entry.check.id),
            cell(&entry.check.text),
            fenced_block(entry.check.remediation.trim_end())
        );
        if out.len() + block.len() > SIZE_LIMIT {
            let _ = writeln!(
                out,
                "… remediations cut to stay under the step-summary size limit."
            );
            return;
        }
        out.push_str(&block);
    }
}

/// A last guard: cut at a character boundary rather than let GitHub reject the summary.
fn within_limit(mut text: String) -> String {
    if text.len() <= SIZE_LIMIT {
        return text;
    }
    let mut cut = SIZE_LIMIT - 100;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str("\n\n… cut to stay under the step-summary size limit.\n");
    text
}

fn anchor(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("fix-{safe}")
}

/// Text from the results is data: escape what Markdown or HTML would interpret, and keep it on
/// one table row.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_folded_in_any_order_give_the_summary_of_the_whole_run() {
        let mut results = crate::report::sarif::tests::fleet(4 * TOP_NODES + 11);
        // Different regression counts, so the worst-first table is not just name order.
        for (index, node) in results.nodes.iter_mut().enumerate() {
            if index % 3 == 0 {
                for check in node
                    .sections
                    .iter_mut()
                    .flat_map(|s| &mut s.groups)
                    .flat_map(|g| &mut g.checks)
                {
                    check.state = crate::results::State::Pass;
                }
            }
        }
        let whole = MarkdownEmitter
            .render(&results, &RenderOptions::default())
            .unwrap();
        let mut summary = Summary::new(results.gate.clone());
        for node in results.nodes.iter().rev() {
            summary.add(node);
        }
        let streamed = summary.render(&results);
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            String::from_utf8(streamed).unwrap()
        );
    }

    #[test]
    fn cell_escapes_markup_and_table_breakers() {
        assert_eq!(cell("a|b\n<x> `c`"), "a\\|b &lt;x&gt; \\`c\\`");
    }

    #[test]
    fn anchor_is_stable_and_url_safe() {
        assert_eq!(anchor("1.2.10"), "fix-1-2-10");
    }
}
