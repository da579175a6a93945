//! The console report, laid out like kube-bench's: per section the `[STATE] id text`
//! lines, the remediations, a summary; then the totals and the gate's verdict.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{Emitter, RenderOptions};
use crate::results::{
    CheckResult, Classification, PlatformInfo, RunResults, SectionResult, State, Totals,
};

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
                platform_line(&mut out, platform, &mut managed_said);
            }
            for section in &node.sections {
                render_section(&mut out, section, options, &painter);
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
        if !options.no_totals {
            summary(&mut out, "total", &results.totals, &painter);
        }
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

fn render_section(
    out: &mut String,
    section: &SectionResult,
    options: &RenderOptions,
    painter: &Painter,
) {
    if !options.no_results {
        let info = painter.state(State::Info);
        let _ = writeln!(out, "{info} {} {}", section.id, section.text);
        for group in &section.groups {
            let _ = writeln!(out, "{info} {} {}", group.id, group.text);
            for check in &group.checks {
                let _ = writeln!(
                    out,
                    "{} {} {}",
                    painter.state(check.state),
                    check.id,
                    check.text
                );
                if options.include_test_output && check.state == State::Fail {
                    for line in check.evidence.actual.lines() {
                        let _ = writeln!(out, "\t {line}");
                    }
                }
            }
        }
        out.push('\n');
    }
    let t = &section.totals;
    if !options.no_remediations && t.fail + t.warn + t.error > 0 {
        let _ = writeln!(
            out,
            "{}",
            painter.paint(
                AnsiColor::Yellow,
                &format!("== Remediations {} ==", section.target)
            )
        );
        for check in section.groups.iter().flat_map(|g| &g.checks) {
            remediation(out, check);
        }
        out.push('\n');
    }
    summary(out, &section.target, t, painter);
}

fn remediation(out: &mut String, check: &CheckResult) {
    let note = accepted_note(check);
    match check.state {
        State::Fail => {
            let _ = write!(out, "{} {}{note}", check.id, check.remediation);
        }
        State::Warn if !check.reason.is_empty() && check.check_type != "manual" => {
            let _ = writeln!(
                out,
                "{} audit test did not run: {}{note}",
                check.id, check.reason
            );
        }
        State::Warn => {
            let _ = write!(out, "{} {}{note}", check.id, check.remediation);
        }
        State::Error => {
            let _ = writeln!(
                out,
                "{} could not be evaluated: {}{note}",
                check.id, check.reason
            );
        }
        State::Pass | State::Info => return,
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

fn accepted_note(check: &CheckResult) -> String {
    match &check.baseline {
        Some(mark) if mark.classification == Classification::Accepted => {
            let reason = mark
                .exception
                .as_ref()
                .map(|e| e.reason.as_str())
                .unwrap_or("");
            format!("(accepted in the baseline: {reason})\n")
        }
        _ => String::new(),
    }
}

fn summary(out: &mut String, name: &str, totals: &Totals, painter: &Painter) {
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
    out.push('\n');
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
        ": {} regression(s) at or above --fail-on {}",
        gate.regressions, gate.fail_on
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
            "; {} node(s) could not be evaluated",
            results.unreadable.len()
        );
    }
    let _ = writeln!(out, "{line}");
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
