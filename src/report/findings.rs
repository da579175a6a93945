//! What every report format needs to agree on: how a result is classified for the reader,
//! where it points to in the repository, and the fingerprint that identifies it across runs.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::results::{
    CheckResult, Classification, ExceptionRef, GateOutcome, NodeResults, SectionResult, State,
};

/// The uriBaseId of paths relative to `--source-root` (a repository checkout).
pub const SOURCE_ROOT_BASE: &str = "SRCROOT";
/// The uriBaseId of the stable per-node paths (`nodes/<node>/...`) used when a result has no
/// file of its own in the repository.
pub const NODES_BASE: &str = "NODES";

/// How a report presents one check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Disposition {
    Passed,
    /// Fails the gate: not covered by a live baseline exception.
    Regression,
    /// Does not pass, but a live baseline exception accepts it.
    Accepted,
    /// Does not pass and does not gate (WARN under `--fail-on fail`, INFO, allowed ERROR).
    NotGating,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Passed => "passed",
            Disposition::Regression => "regression",
            Disposition::Accepted => "accepted",
            Disposition::NotGating => "not-gating",
        }
    }
}

/// Whether a state fails the gate when nothing accepts it, by the policy recorded in the results
/// (the same rule as `crate::gate::GatePolicy::gates`).
pub fn state_gates(state: State, gate: &GateOutcome) -> bool {
    match state {
        State::Fail => true,
        State::Error => !gate.allow_errors,
        State::Warn => gate.fail_on == "warn",
        State::Pass | State::Info => false,
    }
}

pub fn disposition(check: &CheckResult, gate: &GateOutcome) -> Disposition {
    if check.state == State::Pass {
        return Disposition::Passed;
    }
    let accepted = check
        .baseline
        .as_ref()
        .is_some_and(|mark| mark.classification == Classification::Accepted);
    if accepted {
        Disposition::Accepted
    } else if state_gates(check.state, gate) {
        Disposition::Regression
    } else {
        Disposition::NotGating
    }
}

/// The exception that covers a result (accepted) or covered it until it expired.
pub fn exception(check: &CheckResult) -> Option<&ExceptionRef> {
    check
        .baseline
        .as_ref()
        .and_then(|mark| mark.exception.as_ref())
}

/// A finding's message is cut to this many characters (SARIF viewers show it in a line).
pub const MESSAGE_LIMIT: usize = 300;
/// Found values that older results files carry only as whole audit outputs are cut to this.
const FOUND_FALLBACK_LIMIT: usize = 120;

/// What was found, short: the engine's decisive value (`--anonymous-auth=true`,
/// `authentication.anonymous.enabled: true`, `--profiling not set`). Results written before
/// it existed fall back to the first line of what the tests read, cut. The whole audit output
/// stays in the JSON results and under `--include-test-output`.
pub fn found_text(check: &CheckResult) -> String {
    let decisive = check.evidence.decisive.trim();
    if !decisive.is_empty() {
        return one_line(decisive, MESSAGE_LIMIT);
    }
    let actual = check.evidence.actual.trim();
    let first = actual.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        Some(line) if line.len() < actual.len() => {
            let mut text = one_line(line, FOUND_FALLBACK_LIMIT);
            if !text.ends_with('…') {
                text.push('…');
            }
            text
        }
        Some(line) => one_line(line, FOUND_FALLBACK_LIMIT),
        None => String::new(),
    }
}

/// `text` on one line (control characters and line breaks as spaces), cut to `limit`
/// characters with `…` marking the cut.
pub fn one_line(text: &str, limit: usize) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= limit {
        return flat;
    }
    let mut kept: String = flat.chars().take(limit.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// What was found versus what was expected, with the reason and an expired exception:
/// the part of a finding's message after the title.
pub fn finding_detail(check: &CheckResult) -> String {
    let mut detail = String::new();
    let found = found_text(check);
    let expected = check.evidence.expected.trim();
    if !expected.is_empty() {
        let found = if found.is_empty() { "nothing" } else { &found };
        detail.push_str(&format!("Found {found}; expected {expected}"));
    } else if !found.is_empty() {
        detail.push_str(&format!("Found {found}"));
    }
    if !check.reason.is_empty() {
        if !detail.is_empty() {
            detail.push_str(". ");
        }
        detail.push_str(check.reason.trim().trim_end_matches('.'));
    }
    if let Some(exception) = exception(check) {
        if exception.expired {
            if !detail.is_empty() {
                detail.push_str(". ");
            }
            detail.push_str(&format!(
                "The baseline exception `{}` (line {}) expired on {}",
                exception.check,
                exception.line,
                exception.expires.as_deref().unwrap_or("an unknown date")
            ));
        }
    }
    detail
}

/// One sentence: what was found versus what was expected, on which node; at most
/// [`MESSAGE_LIMIT`] characters.
pub fn finding_message(node: &NodeResults, check: &CheckResult) -> String {
    finding_message_on(&node.node.name, check)
}

/// [`finding_message`] for the node named `node`.
pub fn finding_message_on(node: &str, check: &CheckResult) -> String {
    let mut message = format!("{} on node {}: {}", check.state.as_str(), node, check.text);
    let detail = finding_detail(check);
    if !detail.is_empty() {
        message.push_str(". ");
        message.push_str(&detail);
    }
    message.push('.');
    one_line(&message, MESSAGE_LIMIT)
}

/// `text` as a Markdown fenced code block, its lines kept as written (a remediation's YAML
/// snippet stays a snippet); the fence is longer than any run of backticks in the text, so
/// nothing in it can close the block.
pub fn fenced_block(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    format!(
        "{fence}text\n{}\n{fence}",
        text.trim_matches('\n').trim_end()
    )
}

/// Where a result points to, as a path the reader's tools understand.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReportPath {
    /// A relative path with `/` separators, never absolute.
    pub uri: String,
    /// [`SOURCE_ROOT_BASE`] or [`NODES_BASE`].
    pub base: &'static str,
    /// The line in that file, only when the path is the file itself.
    pub line: Option<u32>,
}

/// Maps a result to a repository-relative path:
/// 1. the snapshot file it came from (`location.source_file`), relative to `source_root`
///    (or to the working directory when the source file is a relative path);
/// 2. otherwise the node path under `nodes/<node>/` (e.g. `nodes/cp-1/etc/kubernetes/manifests/kube-apiserver.yaml`);
/// 3. otherwise, when the check has no file at all, `nodes/<node>/<target>` (the section's target:
///    `master`, `node`, `policies`, ...).
pub fn report_path(
    node: &NodeResults,
    section: &SectionResult,
    check: &CheckResult,
    source_root: Option<&Path>,
) -> ReportPath {
    if let Some(location) = &check.location {
        if let Some(relative) = location
            .source_file
            .as_deref()
            .and_then(|file| relative_to_root(Path::new(file), source_root))
        {
            return ReportPath {
                uri: relative,
                base: SOURCE_ROOT_BASE,
                line: location.line,
            };
        }
        let node_path = location.path.trim_start_matches('/');
        if !node_path.is_empty() {
            return ReportPath {
                uri: format!(
                    "nodes/{}/{}",
                    encode_segment(&node.node.name),
                    encode_path(node_path)
                ),
                base: NODES_BASE,
                line: location.line,
            };
        }
    }
    ReportPath {
        uri: format!(
            "nodes/{}/{}",
            encode_segment(&node.node.name),
            encode_segment(&section.target)
        ),
        base: NODES_BASE,
        line: None,
    }
}

/// `file` relative to `root`, lexically (no file system access, so output does not depend on
/// what exists on disk). A relative `file` with no root is taken as already relative.
fn relative_to_root(file: &Path, root: Option<&Path>) -> Option<String> {
    let relative = match root {
        Some(root) => {
            let file = normalize(&std::path::absolute(file).ok()?);
            let root = normalize(&std::path::absolute(root).ok()?);
            file.strip_prefix(&root).ok()?.to_path_buf()
        }
        None if file.is_relative() => normalize(file),
        None => return None,
    };
    let parts: Vec<String> = relative
        .components()
        .map(|c| match c {
            Component::Normal(part) => Some(encode_segment(&part.to_string_lossy())),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != "." && *part != "..")
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a node name or file name
/// can never break out of its path segment.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A fingerprint that stays the same across runs as long as the check, the node and the file
/// stay the same: it ignores line numbers, evidence and wording.
pub fn fingerprint(check_id: &str, node_name: &str, path: &ReportPath) -> String {
    let mut hasher = Sha256::new();
    for part in [check_id, node_name, path.base, path.uri.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

pub use crate::results::compare_check_ids as compare_ids;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{BaselineMark, Evidence, Location, NodeInfo, Totals};

    fn gate(fail_on: &str, allow_errors: bool) -> GateOutcome {
        GateOutcome {
            fail_on: fail_on.into(),
            allow_errors,
            passed: true,
            exit_code: 0,
            regressions: 0,
        }
    }

    fn check(state: State, location: Option<Location>) -> CheckResult {
        CheckResult {
            id: "1.2.1".into(),
            text: "Ensure that the --anonymous-auth argument is set to false".into(),
            state,
            scored: true,
            check_type: Default::default(),
            reason: Default::default(),
            remediation: Default::default(),
            evidence: Evidence {
                audits: vec![],
                actual: "--anonymous-auth=true".into(),
                expected: "'--anonymous-auth' is equal to 'false'".into(),
                decisive: "--anonymous-auth=true".into(),
            },
            location: location.map(Box::new),
            baseline: None,
            change: None,
        }
    }

    fn node(name: &str) -> NodeResults {
        NodeResults {
            node: NodeInfo {
                name: name.into(),
                roles: vec![],
                kubernetes_version: None,
                platform: None,
                source: "live".into(),
                cluster: None,
                benchmark: None,
                distribution: None,
            },
            sections: vec![],
            totals: Totals::default(),
        }
    }

    fn section(target: &str) -> SectionResult {
        SectionResult {
            id: "1".into(),
            text: "Control Plane".into(),
            version: "cis-1.12".into(),
            target: target.into(),
            groups: vec![],
            totals: Totals::default(),
        }
    }

    #[test]
    fn warn_gates_only_under_fail_on_warn_and_errors_only_when_not_allowed() {
        let warn = check(State::Warn, None);
        assert_eq!(
            disposition(&warn, &gate("fail", false)),
            Disposition::NotGating
        );
        assert_eq!(
            disposition(&warn, &gate("warn", false)),
            Disposition::Regression
        );
        let error = check(State::Error, None);
        assert_eq!(
            disposition(&error, &gate("fail", false)),
            Disposition::Regression
        );
        assert_eq!(
            disposition(&error, &gate("fail", true)),
            Disposition::NotGating
        );
    }

    #[test]
    fn accepted_mark_wins_over_a_gating_state() {
        let mut fail = check(State::Fail, None);
        fail.baseline = Some(Box::new(BaselineMark {
            classification: Classification::Accepted,
            exception: None,
        }));
        assert_eq!(
            disposition(&fail, &gate("fail", false)),
            Disposition::Accepted
        );
    }

    #[test]
    fn snapshot_file_under_the_source_root_becomes_repository_relative() {
        let location = Location {
            path: "/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
            line: Some(14),
            source_file: Some(
                "/repo/snapshots/cp-1/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
            ),
        };
        let path = report_path(
            &node("cp-1"),
            &section("master"),
            &check(State::Fail, Some(location)),
            Some(Path::new("/repo/./")),
        );
        assert_eq!(
            path.uri,
            "snapshots/cp-1/etc/kubernetes/manifests/kube-apiserver.yaml"
        );
        assert_eq!(path.base, SOURCE_ROOT_BASE);
        assert_eq!(path.line, Some(14));
    }

    #[test]
    fn live_node_file_maps_under_nodes_and_escapes_the_node_name() {
        let location = Location {
            path: "/var/lib/kubelet/config.yaml".into(),
            line: Some(5),
            source_file: None,
        };
        let path = report_path(
            &node("worker 1/../x"),
            &section("node"),
            &check(State::Fail, Some(location)),
            None,
        );
        assert_eq!(
            path.uri,
            "nodes/worker%201%2F..%2Fx/var/lib/kubelet/config.yaml"
        );
        assert_eq!(path.base, NODES_BASE);
    }

    #[test]
    fn check_without_a_file_maps_to_the_node_and_target() {
        let path = report_path(
            &node("cp-1"),
            &section("policies"),
            &check(State::Warn, None),
            None,
        );
        assert_eq!(path.uri, "nodes/cp-1/policies");
        assert_eq!(path.line, None);
    }

    #[test]
    fn source_file_outside_the_root_falls_back_to_the_node_path() {
        let location = Location {
            path: "/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
            line: None,
            source_file: Some("/elsewhere/kube-apiserver.yaml".into()),
        };
        let path = report_path(
            &node("cp-1"),
            &section("master"),
            &check(State::Fail, Some(location)),
            Some(Path::new("/repo")),
        );
        assert_eq!(
            path.uri,
            "nodes/cp-1/etc/kubernetes/manifests/kube-apiserver.yaml"
        );
    }

    #[test]
    fn fingerprint_ignores_line_numbers_but_not_the_node() {
        let a = ReportPath {
            uri: "x.yaml".into(),
            base: SOURCE_ROOT_BASE,
            line: Some(3),
        };
        let b = ReportPath {
            line: Some(30),
            ..a.clone()
        };
        assert_eq!(
            fingerprint("1.2.1", "cp-1", &a),
            fingerprint("1.2.1", "cp-1", &b)
        );
        assert_ne!(
            fingerprint("1.2.1", "cp-1", &a),
            fingerprint("1.2.1", "cp-2", &a)
        );
        assert_eq!(fingerprint("1.2.1", "cp-1", &a).len(), 64);
    }

    #[test]
    fn ids_sort_numerically_by_part() {
        let mut ids = vec!["1.2.10", "1.2.9", "1.10", "1.2", "4.1.1"];
        ids.sort_by(|a, b| compare_ids(a, b));
        assert_eq!(ids, vec!["1.2", "1.2.9", "1.2.10", "1.10", "4.1.1"]);
    }

    #[test]
    fn finding_message_shows_the_decisive_value_not_the_whole_output() {
        let mut check = check(State::Fail, None);
        check.evidence.actual = format!(
            "kube-apiserver --anonymous-auth=true {}",
            "--some-flag=some-long-value ".repeat(60)
        )
        .into();
        let message = finding_message(&node("cp-1"), &check);
        assert!(
            message.contains("Found --anonymous-auth=true; expected"),
            "{message}"
        );
        assert!(!message.contains("--some-flag"), "{message}");
        assert!(message.chars().count() <= MESSAGE_LIMIT);
    }

    #[test]
    fn found_text_of_older_results_is_the_first_line_cut() {
        let mut check = check(State::Fail, None);
        check.evidence.decisive = Default::default();
        check.evidence.actual = "{\"kind\":\"KubeletConfiguration\",\n\"x\": 1}".into();
        assert_eq!(found_text(&check), "{\"kind\":\"KubeletConfiguration\",…");
        check.evidence.actual = "x".repeat(500).into();
        assert_eq!(found_text(&check).chars().count(), FOUND_FALLBACK_LIMIT);
    }

    #[test]
    fn fenced_block_keeps_lines_and_outlasts_backticks_in_the_text() {
        let text = "Set:\n```\nauthentication:\n  anonymous:\n    enabled: false\n```\n";
        assert_eq!(
            fenced_block(text),
            "````text\nSet:\n```\nauthentication:\n  anonymous:\n    enabled: false\n```\n````"
        );
        assert_eq!(fenced_block("a `b`"), "```text\na `b`\n```");
    }

    #[test]
    fn finding_message_says_found_and_expected_on_which_node() {
        let message = finding_message(&node("cp-1"), &check(State::Fail, None));
        assert_eq!(
            message,
            "FAIL on node cp-1: Ensure that the --anonymous-auth argument is set to false. \
             Found --anonymous-auth=true; expected '--anonymous-auth' is equal to 'false'."
        );
    }
}
