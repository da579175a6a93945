//! A Markdown summary for `$GITHUB_STEP_SUMMARY` and merge-request comments: verdict, totals,
//! the top regressions and their remediations. Always under GitHub's 1 MiB step-summary limit.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::findings::{compare_ids, disposition, Disposition};
use super::{Emitter, RenderOptions};
use crate::results::{Change, CheckResult, NodeResults, RunResults, Totals};

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
        let mut out = String::new();
        verdict(&mut out, results);
        totals_table(&mut out, results);
        nodes_table(&mut out, results);
        let regressions = regressions_by_check(results);
        regressions_table(&mut out, &regressions, results.previous.is_some());
        baseline_notes(&mut out, results);
        remediations(&mut out, &regressions);
        Ok(within_limit(out).into_bytes())
    }
}

fn verdict(out: &mut String, results: &RunResults) {
    let benchmark = &results.benchmark.name;
    let nodes = results.nodes.len();
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

fn node_regressions(results: &RunResults, node: &NodeResults) -> usize {
    node.sections
        .iter()
        .flat_map(|s| &s.groups)
        .flat_map(|g| &g.checks)
        .filter(|c| disposition(c, &results.gate) == Disposition::Regression)
        .count()
}

fn nodes_table(out: &mut String, results: &RunResults) {
    if results.nodes.len() < 2 {
        return;
    }
    let mut nodes: Vec<(&NodeResults, usize)> = results
        .nodes
        .iter()
        .map(|node| (node, node_regressions(results, node)))
        .collect();
    nodes.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.node.name.cmp(&b.0.node.name))
    });
    let _ = writeln!(out, "\n### Nodes, worst first\n");
    let _ = writeln!(
        out,
        "| Node | Roles | Regressions | PASS | FAIL | WARN | ERROR |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for (node, regressions) in nodes.iter().take(TOP_NODES) {
        let t: &Totals = &node.totals;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&node.node.name),
            cell(&node.node.roles.join(", ")),
            regressions,
            t.pass,
            t.fail,
            t.warn,
            t.error
        );
    }
    if nodes.len() > TOP_NODES {
        let _ = writeln!(out, "\n… and {} more node(s).", nodes.len() - TOP_NODES);
    }
}

struct CheckRegressions<'a> {
    check: &'a CheckResult,
    nodes: Vec<&'a str>,
    new: usize,
}

fn regressions_by_check(results: &RunResults) -> Vec<CheckRegressions<'_>> {
    let mut by_id: BTreeMap<&str, CheckRegressions<'_>> = BTreeMap::new();
    for (node, _, check) in results.checks() {
        if disposition(check, &results.gate) != Disposition::Regression {
            continue;
        }
        let entry = by_id.entry(check.id.as_str()).or_insert(CheckRegressions {
            check,
            nodes: Vec::new(),
            new: 0,
        });
        entry.nodes.push(node.node.name.as_str());
        if check.change == Some(Change::New) {
            entry.new += 1;
        }
    }
    let mut list: Vec<CheckRegressions<'_>> = by_id.into_values().collect();
    // Most nodes first; among equals, FAIL before WARN before ERROR (could not evaluate).
    list.sort_by(|a, b| {
        b.nodes
            .len()
            .cmp(&a.nodes.len())
            .then_with(|| a.check.state.cmp(&b.check.state))
            .then_with(|| compare_ids(&a.check.id, &b.check.id))
    });
    list
}

fn regressions_table(out: &mut String, regressions: &[CheckRegressions<'_>], with_new: bool) {
    if regressions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Top regressions\n");
    if with_new {
        let _ = writeln!(out, "| Check | State | Nodes | New | Title | Fix |");
        let _ = writeln!(out, "|---|---|---|---:|---|---|");
    } else {
        let _ = writeln!(out, "| Check | State | Nodes | Title | Fix |");
        let _ = writeln!(out, "|---|---|---|---|---|");
    }
    for entry in regressions.iter().take(TOP_REGRESSIONS) {
        let new = if with_new {
            format!(" {} |", entry.new)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |{new} {} | [remediation](#{}) |",
            cell(&entry.check.id),
            entry.check.state.as_str(),
            node_list(&entry.nodes),
            cell(&entry.check.text),
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

fn node_list(nodes: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut text = nodes
        .iter()
        .take(SHOWN)
        .map(|n| cell(n))
        .collect::<Vec<_>>()
        .join(", ");
    if nodes.len() > SHOWN {
        let _ = write!(text, " and {} more", nodes.len() - SHOWN);
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

fn remediations(out: &mut String, regressions: &[CheckRegressions<'_>]) {
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
            cell(entry.check.remediation.trim())
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
    fn cell_escapes_markup_and_table_breakers() {
        assert_eq!(cell("a|b\n<x> `c`"), "a\\|b &lt;x&gt; \\`c\\`");
    }

    #[test]
    fn anchor_is_stable_and_url_safe() {
        assert_eq!(anchor("1.2.10"), "fix-1-2-10");
    }
}
