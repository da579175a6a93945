//! JUnit XML for CI servers (GitLab, Jenkins, Azure, ...): a suite per node × section, a case per
//! check. Valid against the Jenkins xUnit plugin's `junit-10.xsd` (`docs/reports.md`).
//!
//! The layout is quick-junit 0.8's (what this report was first written with), written
//! directly: quick-junit passes every text through an ANSI-escape parser one character at a
//! time, most of a fleet's JUnit time. Texts reach here already cleaned by
//! [`super::sanitize::for_xml`]; `xml_text` applies what quick-junit's `XmlString` does on
//! top of that (tabs and other C0 controls but newline removed).

use std::fmt::Write as _;

use super::findings::{disposition, exception, finding_message, found_text, Disposition};
use super::{Emitter, RenderOptions};
use crate::results::{CheckResult, NodeResults, RunResults, SectionResult, State};

pub struct JunitEmitter;

impl Emitter for JunitEmitter {
    fn render(&self, results: &RunResults, options: &RenderOptions) -> anyhow::Result<Vec<u8>> {
        // Text from nodes is untrusted: characters XML 1.0 forbids (and control characters) removed.
        let results = &*super::sanitize::results_with(results, super::sanitize::for_xml)?;
        let timestamp = scan_time(results);
        let mut suites = String::new();
        let mut counts = Counts::default();
        for node in &results.nodes {
            counts.add(write_node(
                &mut suites,
                results,
                node,
                options.include_test_output,
                timestamp.as_deref(),
            ));
        }
        let mut xml = open_testsuites(&format!("cisgate {}", results.benchmark.name), &counts);
        xml.push_str(&suites);
        xml.push_str(CLOSE_TESTSUITES);
        Ok(xml.into_bytes())
    }
}

/// What closes the document: `</testsuites>` on its own line, and a newline.
const CLOSE_TESTSUITES: &str = "\n</testsuites>\n";

/// The counts `<testsuites>` and each `<testsuite>` carry.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tests: usize,
    skipped: usize,
    errors: usize,
    failures: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.tests += other.tests;
        self.skipped += other.skipped;
        self.errors += other.errors;
        self.failures += other.failures;
    }
}

/// The declaration and `<testsuites …>`. junit-10.xsd allows only name, time, tests,
/// failures and errors on it (no `skipped`; each suite's `skipped` stays).
fn open_testsuites(name: &str, counts: &Counts) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
    attribute(&mut xml, "name", name);
    let _ = write!(
        xml,
        " tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        counts.tests, counts.failures, counts.errors
    );
    xml
}

/// The scan's time for each suite's `timestamp` (junit-10.xsd allows none on `<testsuites>`),
/// as quick-junit wrote it (RFC 3339 with milliseconds).
fn scan_time(results: &RunResults) -> Option<String> {
    let time = results.scanned_at?;
    let time: chrono::DateTime<chrono::FixedOffset> =
        chrono::DateTime::from_timestamp(time.as_second(), 0)?.into();
    Some(time.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string())
}

/// ` name="value"`, the value as quick-junit kept it ([`xml_text`]) and escaped.
fn attribute(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape_into(out, &xml_text(value));
    out.push('"');
}

/// What quick-junit's `XmlString` keeps of a text already cleaned for XML: C0 controls but
/// newline (tabs among them) and DEL removed.
fn xml_text(text: &str) -> std::borrow::Cow<'_, str> {
    let dropped = |c: char| (c < ' ' && c != '\n') || c == '\u{7f}';
    if !text.contains(dropped) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.chars().filter(|c| !dropped(*c)).collect())
}

/// `text` with `<`, `>`, `&`, `'` and `"` escaped (quick-xml's `escape`).
fn escape_into(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find(['<', '>', '&', '\'', '"']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\'' => "&apos;",
            _ => "&quot;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// A case's outcome as the XML shows it.
enum Status {
    Success,
    Skipped {
        message: String,
        ty: &'static str,
    },
    /// `<failure>` or `<error>`, with a body.
    NonSuccess {
        tag: &'static str,
        message: String,
        ty: &'static str,
        description: String,
    },
}

/// Every section of `node` as a `<testsuite>` (indented inside `<testsuites>`); its counts.
/// `with_output`: the failure bodies carry each audit's output (`--include-test-output`).
fn write_node(
    out: &mut String,
    results: &RunResults,
    node: &NodeResults,
    with_output: bool,
    timestamp: Option<&str>,
) -> Counts {
    let mut counts = Counts::default();
    for section in &node.sections {
        counts.add(write_suite(
            out,
            results,
            node,
            section,
            with_output,
            timestamp,
        ));
    }
    counts
}

fn write_suite(
    out: &mut String,
    results: &RunResults,
    node: &NodeResults,
    section: &SectionResult,
    with_output: bool,
    timestamp: Option<&str>,
) -> Counts {
    let cases: Vec<(&CheckResult, Status)> = section
        .groups
        .iter()
        .flat_map(|group| &group.checks)
        .map(|check| (check, status(results, node, check, with_output)))
        .collect();
    let mut counts = Counts::default();
    for (_, status) in &cases {
        counts.tests += 1;
        match status {
            Status::Success => {}
            Status::Skipped { .. } => counts.skipped += 1,
            Status::NonSuccess { tag: "error", .. } => counts.errors += 1,
            Status::NonSuccess { .. } => counts.failures += 1,
        }
    }
    out.push_str("\n    <testsuite");
    attribute(
        out,
        "name",
        &format!("{} / {} {}", node.node.name, section.id, section.text),
    );
    let _ = write!(
        out,
        " tests=\"{}\" skipped=\"{}\" errors=\"{}\" failures=\"{}\"",
        counts.tests, counts.skipped, counts.errors, counts.failures
    );
    if let Some(timestamp) = timestamp {
        attribute(out, "timestamp", timestamp);
    }
    out.push_str(">\n        <properties>");
    // The node's own benchmark: a fleet may mix them.
    let benchmark = node
        .node
        .benchmark
        .as_deref()
        .unwrap_or(results.benchmark.name.as_str());
    property(out, "benchmark", benchmark);
    property(out, "benchmark.version", &section.version);
    property(out, "node", &node.node.name);
    property(out, "node.roles", &node.node.roles.join(","));
    property(out, "node.source", &node.node.source);
    property(out, "section", &section.id);
    property(out, "target", &section.target);
    if let Some(version) = &node.node.kubernetes_version {
        property(out, "node.kubernetes_version", version);
    }
    out.push_str("\n        </properties>");
    let mut classname = String::new();
    let _ = write!(classname, "{}.{}", node.node.name, section.id);
    let mut name = String::new();
    for (check, status) in &cases {
        name.clear();
        let _ = write!(name, "{} {}", check.id, check.text);
        out.push_str("\n        <testcase");
        attribute(out, "name", &name);
        attribute(out, "classname", &classname);
        match status {
            Status::Success => out.push_str("/>"),
            Status::Skipped { message, ty } => {
                out.push_str(">\n            <skipped");
                attribute(out, "message", message);
                attribute(out, "type", ty);
                out.push_str("/>\n        </testcase>");
            }
            Status::NonSuccess {
                tag,
                message,
                ty,
                description,
            } => {
                out.push_str(">\n            <");
                out.push_str(tag);
                attribute(out, "message", message);
                attribute(out, "type", ty);
                out.push('>');
                escape_into(out, &xml_text(description));
                out.push_str("</");
                out.push_str(tag);
                out.push_str(">\n        </testcase>");
            }
        }
    }
    out.push_str("\n    </testsuite>");
    counts
}

fn property(out: &mut String, name: &str, value: &str) {
    out.push_str("\n            <property");
    attribute(out, "name", name);
    attribute(out, "value", value);
    out.push_str("/>");
}

fn status(
    results: &RunResults,
    node: &NodeResults,
    check: &CheckResult,
    with_output: bool,
) -> Status {
    match (disposition(check, &results.gate), check.state) {
        (Disposition::Passed, _) => Status::Success,
        (Disposition::Accepted, _) => {
            let reason = exception(check).map_or("no reason recorded", |e| e.reason.as_str());
            Status::Skipped {
                message: format!(
                    "{} accepted by the baseline: {reason}",
                    check.state.as_str()
                ),
                ty: "accepted",
            }
        }
        (_, State::Error) => Status::NonSuccess {
            tag: "error",
            message: finding_message(node, check),
            ty: "ERROR",
            description: details(check, with_output),
        },
        (Disposition::Regression, state) => Status::NonSuccess {
            tag: "failure",
            message: finding_message(node, check),
            ty: state.as_str(),
            description: details(check, with_output),
        },
        (Disposition::NotGating, state) => Status::Skipped {
            message: skip_reason(check),
            ty: state.as_str(),
        },
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

/// `--junit` written as nodes arrive: each node's suites are written on their own and
/// spooled; `<testsuites>` with the run's counts is put around them, in report order, at
/// the end. The same bytes as [`JunitEmitter`].
pub struct JunitSink {
    path: std::path::PathBuf,
    spool: Option<super::stream::Spool>,
    template: RunResults,
    timestamp: Option<String>,
    counts: Counts,
    outputs: super::stream::Outputs,
    include_test_output: bool,
    suites: String,
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
            timestamp: scan_time(&template),
            template,
            counts: Counts::default(),
            outputs,
            include_test_output: options.include_test_output,
            suites: String::new(),
        })
    }
}

impl crate::runner::Sink for JunitSink {
    fn node(&mut self, node: &NodeResults) -> anyhow::Result<()> {
        let node = &*super::sanitize::cleaned(node, super::sanitize::for_xml)?;
        // The template stands for the run: its gate is the run's; its benchmark name is
        // empty, so each suite names its node's own.
        self.suites.clear();
        let counts = write_node(
            &mut self.suites,
            &self.template,
            node,
            self.include_test_output,
            self.timestamp.as_deref(),
        );
        self.counts.add(counts);
        if let Some(spool) = self.spool.as_mut() {
            spool.add(node, self.suites.as_bytes())?;
        }
        Ok(())
    }

    fn end(&mut self, run: &RunResults) -> anyhow::Result<()> {
        use std::io::Write;
        let spool = self.spool.take().expect("ended once");
        let name = super::sanitize::for_xml(&run.benchmark.name);
        let open = open_testsuites(&format!("cisgate {name}"), &self.counts);
        super::stream::finish(&self.outputs, "--junit", &self.path, |file| {
            file.write_all(open.as_bytes())?;
            spool.write_sorted(file, b"")?;
            file.write_all(CLOSE_TESTSUITES.as_bytes())?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_escaped_and_lose_what_quick_junit_dropped() {
        let mut out = String::new();
        attribute(&mut out, "name", "a<b>&'c\"\td\ne");
        assert_eq!(out, " name=\"a&lt;b&gt;&amp;&apos;c&quot;d\ne\"");
    }

    #[test]
    fn testsuites_carries_no_skipped_attribute() {
        let counts = Counts {
            tests: 2,
            skipped: 1,
            errors: 0,
            failures: 0,
        };
        assert_eq!(
            open_testsuites("x", &counts),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"x\" tests=\"2\" failures=\"0\" errors=\"0\">"
        );
    }
}
