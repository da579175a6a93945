//! JUnit XML for CI servers (GitLab, Jenkins, Azure, ...): a suite per node × section, a case per
//! check. Valid against the Jenkins xUnit plugin's `junit-10.xsd` (`docs/reports.md`).

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::findings::{disposition, exception, finding_message, found_text, Disposition};
use super::{Emitter, RenderOptions};
use crate::results::{CheckResult, NodeResults, RunResults, SectionResult, State};

pub struct JunitEmitter;

impl Emitter for JunitEmitter {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: characters XML 1.0 forbids (and control characters) removed.
        let results = &*super::sanitize::results_with(results, super::sanitize::for_xml)?;
        let mut report = Report::new(format!("cisgate {}", results.benchmark.name));
        for node in &results.nodes {
            for section in &node.sections {
                let mut suite = suite(results, node, section, options.include_test_output);
                if let Some(time) = scan_time(results) {
                    suite.set_timestamp(time);
                }
                report.add_test_suite(suite);
            }
        }
        let xml = report.to_string()?;
        Ok(without_testsuites_skipped(&xml).into_bytes())
    }
}

/// The scan's time for each suite's `timestamp` (junit-10.xsd allows none on `<testsuites>`).
fn scan_time(results: &RunResults) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let time = results.scanned_at?;
    chrono::DateTime::from_timestamp(time.as_second(), 0).map(Into::into)
}

/// junit-10.xsd allows only name, time, tests, failures and errors on `<testsuites>`;
/// quick-junit always writes `skipped` there. The per-suite `skipped` stays (it is allowed).
fn without_testsuites_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |i| start + i);
    let tag = &xml[start..end];
    let Some(attribute) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_start = start + attribute + " skipped=\"".len();
    let value_end = xml[value_start..]
        .find('"')
        .map_or(end, |i| value_start + i + 1);
    format!("{}{}", &xml[..start + attribute], &xml[value_end..])
}

/// `with_output`: the failure bodies carry each audit's output (`--include-test-output`).
fn suite(
    results: &RunResults,
    node: &NodeResults,
    section: &SectionResult,
    with_output: bool,
) -> TestSuite {
    let mut suite = TestSuite::new(format!(
        "{} / {} {}",
        node.node.name, section.id, section.text
    ));
    suite.add_properties([
        // The node's own benchmark: a fleet may mix them.
        Property::new(
            "benchmark",
            node.node
                .benchmark
                .as_deref()
                .unwrap_or(results.benchmark.name.as_str()),
        ),
        Property::new("benchmark.version", section.version.as_str()),
        Property::new("node", node.node.name.as_str()),
        Property::new("node.roles", node.node.roles.join(",")),
        Property::new("node.source", node.node.source.as_str()),
        Property::new("section", section.id.as_str()),
        Property::new("target", section.target.as_str()),
    ]);
    if let Some(version) = &node.node.kubernetes_version {
        suite.add_property(Property::new("node.kubernetes_version", version.as_str()));
    }
    for group in &section.groups {
        for check in &group.checks {
            suite.add_test_case(case(results, node, section, check, with_output));
        }
    }
    suite
}

fn case(
    results: &RunResults,
    node: &NodeResults,
    section: &SectionResult,
    check: &CheckResult,
    with_output: bool,
) -> TestCase {
    let mut case = TestCase::new(
        format!("{} {}", check.id, check.text),
        status(results, node, check, with_output),
    );
    case.set_classname(format!("{}.{}", node.node.name, section.id));
    case
}

fn status(
    results: &RunResults,
    node: &NodeResults,
    check: &CheckResult,
    with_output: bool,
) -> TestCaseStatus {
    match (disposition(check, &results.gate), check.state) {
        (Disposition::Passed, _) => TestCaseStatus::success(),
        (Disposition::Accepted, _) => {
            let mut status = TestCaseStatus::skipped();
            let reason = exception(check).map_or("no reason recorded", |e| e.reason.as_str());
            status.set_message(format!(
                "{} accepted by the baseline: {reason}",
                check.state.as_str()
            ));
            status.set_type("accepted");
            status
        }
        (_, State::Error) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(finding_message(node, check));
            status.set_type("ERROR");
            status.set_description(details(check, with_output));
            status
        }
        (Disposition::Regression, state) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(finding_message(node, check));
            status.set_type(state.as_str());
            status.set_description(details(check, with_output));
            status
        }
        (Disposition::NotGating, state) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(skip_reason(check));
            status.set_type(state.as_str());
            status
        }
    }
}

fn skip_reason(check: &CheckResult) -> String {
    if !check.reason.is_empty() {
        return format!("{}: {}", check.state.as_str(), check.reason);
    }
    if check.check_type == "manual" {
        return format!("{}: manual check", check.state.as_str());
    }
    let expected = check.evidence.expected.trim();
    if expected.is_empty() {
        format!("{}: does not gate", check.state.as_str())
    } else {
        format!("{}: expected {expected}", check.state.as_str())
    }
}

/// The failure body: evidence first (the decisive value; each audit's whole output only with
/// `with_output`), then what to do, its lines as written.
fn details(check: &CheckResult, with_output: bool) -> String {
    let mut text = String::new();
    if let Some(location) = &check.location {
        text.push_str(&format!("Location: {}", location.path));
        if let Some(line) = location.line {
            text.push_str(&format!(":{line}"));
        }
        text.push('\n');
    }
    let found = found_text(check);
    text.push_str(&format!(
        "Found: {}\n",
        if found.is_empty() {
            "(nothing)"
        } else {
            &found
        }
    ));
    text.push_str(&format!("Expected: {}\n", check.evidence.expected));
    if !check.reason.is_empty() {
        text.push_str(&format!("Reason: {}\n", check.reason));
    }
    for audit in &check.evidence.audits {
        text.push_str(&format!(
            "{} ({}): {}\n",
            audit.role, audit.kind, audit.command
        ));
        if with_output && !audit.output.is_empty() {
            text.push_str(&format!("output: {}\n", audit.output));
        }
    }
    text.push_str(&format!("Remediation:\n{}\n", check.remediation.trim_end()));
    text
}

/// `--junit` written as nodes arrive: each node's suites are serialized on their own and
/// spooled; `<testsuites>` with the run's counts is put around them, in report order, at
/// the end. The same bytes as [`JunitEmitter`].
pub struct JunitSink {
    path: std::path::PathBuf,
    spool: Option<super::stream::Spool>,
    template: RunResults,
    counts: Report,
    outputs: super::stream::Outputs,
    include_test_output: bool,
}

impl JunitSink {
    /// `template`: what is known before the first node ([`super::stream::template`]).
    pub fn new(
        path: &std::path::Path,
        template: RunResults,
        options: &RenderOptions,
        outputs: super::stream::Outputs,
    ) -> anyhow::Result<JunitSink> {
        Ok(JunitSink {
            path: path.to_path_buf(),
            spool: Some(super::stream::Spool::create(path)?),
            template,
            counts: Report::new(""),
            outputs,
            include_test_output: options.include_test_output,
        })
    }
}

/// The part of a serialized report between `<testsuites …>` and `</testsuites>`.
fn between_testsuites_tags(xml: &str) -> (&str, &str, &str) {
    let start = xml.find("<testsuites").unwrap_or(0);
    let open_end = xml[start..].find('>').map_or(xml.len(), |i| start + i + 1);
    let close = xml.rfind("\n</testsuites>").unwrap_or(xml.len());
    (&xml[..open_end], &xml[open_end..close], &xml[close..])
}

impl crate::runner::Sink for JunitSink {
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()> {
        let node = &*super::stream::clean_node(node, super::sanitize::for_xml)?;
        // The template stands for the run: its gate and time are the run's; its benchmark
        // name is empty, so each suite names its node's own.
        let run = &self.template;
        let mut report = Report::new("");
        for section in &node.sections {
            let mut suite = suite(run, node, section, self.include_test_output);
            if let Some(time) = scan_time(run) {
                suite.set_timestamp(time);
            }
            report.add_test_suite(suite);
        }
        self.counts.tests += report.tests;
        self.counts.failures += report.failures;
        self.counts.errors += report.errors;
        self.counts.skipped += report.skipped;
        let xml = report.to_string()?;
        let (_, suites, _) = between_testsuites_tags(&xml);
        if let Some(spool) = self.spool.as_mut() {
            spool.add(node, suites.as_bytes())?;
        }
        Ok(())
    }

    fn end(&mut self, run: &RunResults) -> anyhow::Result<()> {
        use std::io::Write;
        let spool = self.spool.take().expect("ended once");
        let name = super::sanitize::for_xml(&run.benchmark.name);
        let mut header = Report::new(format!("cisgate {name}"));
        header.tests = self.counts.tests;
        header.failures = self.counts.failures;
        header.errors = self.counts.errors;
        header.skipped = self.counts.skipped;
        let header = without_testsuites_skipped(&header.to_string()?);
        let (open, _, close) = between_testsuites_tags(&header);
        super::stream::finish(&self.outputs, "--junit", &self.path, |file| {
            file.write_all(open.as_bytes())?;
            spool.write_sorted(file, b"")?;
            file.write_all(close.as_bytes())?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testsuites_skipped_attribute_is_removed_and_suite_ones_kept() {
        let xml = "<?xml version=\"1.0\"?>\n<testsuites name=\"x\" tests=\"2\" skipped=\"1\" failures=\"0\" errors=\"0\">\n<testsuite name=\"a\" tests=\"2\" skipped=\"1\" errors=\"0\" failures=\"0\"/></testsuites>";
        let fixed = without_testsuites_skipped(xml);
        assert!(fixed.contains("<testsuites name=\"x\" tests=\"2\" failures=\"0\" errors=\"0\">"));
        assert!(fixed.contains("<testsuite name=\"a\" tests=\"2\" skipped=\"1\""));
    }
}
