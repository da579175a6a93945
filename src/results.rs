//! The results of a run: what the engine decided, per node, section, group and check.
//!
//! This is also cisgate's JSON results format (`docs/results-format.md`): every
//! report is rendered from it, `cisgate report --from` reads it back, and
//! `--previous` compares against it. Add fields; never rename or remove them
//! without bumping [`RESULTS_VERSION`].

use arcstr::ArcStr;
use serde::{Deserialize, Serialize};

pub const RESULTS_VERSION: u32 = 1;
/// The compact form (`--results-format compact`): each check's title, reason, remediation and
/// evidence kept once per distinct value in a top-level `details` table.
pub const COMPACT_RESULTS_VERSION: u32 = 2;
/// The newest results version this cisgate reads.
pub const READS_RESULTS_VERSION: u32 = COMPACT_RESULTS_VERSION;

/// What the compact form keeps once per distinct value: a check's words and evidence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CheckDetails {
    pub text: ArcStr,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    pub reason: ArcStr,
    pub remediation: ArcStr,
    pub evidence: Evidence,
}

impl CheckDetails {
    pub fn of(check: &CheckResult) -> CheckDetails {
        CheckDetails {
            text: check.text.clone(),
            reason: check.reason.clone(),
            remediation: check.remediation.clone(),
            evidence: check.evidence.clone(),
        }
    }
}

/// Reads a JSON results file of either form (`results_version` 1, or 2: the compact form,
/// expanded); the run comes back in the full form (`results_version` 1).
pub fn from_json_slice(bytes: &[u8]) -> Result<RunResults, serde_json::Error> {
    let error = match serde_json::from_slice::<RunResults>(bytes) {
        Ok(results) => return Ok(results),
        Err(error) => error,
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(error);
    };
    let version = value.get("results_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(COMPACT_RESULTS_VERSION)) {
        return Err(error);
    }
    expand_compact(&mut value)?;
    serde_json::from_value(value)
}

/// A compact results document made full: every check's `details` key replaced by the
/// fields it names.
fn expand_compact(value: &mut serde_json::Value) -> Result<(), serde_json::Error> {
    use serde::de::Error;
    use serde_json::Value;
    let details = match value.as_object_mut().and_then(|o| o.remove("details")) {
        Some(Value::Object(details)) => details,
        _ => {
            return Err(serde_json::Error::custom(
                "a results_version 2 file needs a `details` object",
            ))
        }
    };
    value["results_version"] = Value::from(RESULTS_VERSION);
    let nodes = value
        .get_mut("nodes")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| serde_json::Error::custom("missing field `nodes`"))?;
    let checks = nodes
        .iter_mut()
        .filter_map(|n| n.get_mut("sections").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(|s| s.get_mut("groups").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(|g| g.get_mut("checks").and_then(Value::as_array_mut))
        .flatten();
    for check in checks {
        let Some(check) = check.as_object_mut() else {
            continue;
        };
        let key = match check.remove("details") {
            Some(Value::String(key)) => key,
            _ => return Err(serde_json::Error::custom(format!(
                "check {} has no `details` key (a string naming an entry of the top-level `details`)",
                check.get("id").unwrap_or(&Value::Null)
            ))),
        };
        let Some(Value::Object(fields)) = details.get(&key) else {
            return Err(serde_json::Error::custom(format!(
                "check {} names details {key:?}, which the top-level `details` does not have",
                check.get("id").unwrap_or(&Value::Null)
            )));
        };
        for (field, value) in fields {
            check.insert(field.clone(), value.clone());
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Pass,
    Fail,
    Warn,
    Info,
    /// The check could not be evaluated (timeout, unreadable file, fact missing from a snapshot).
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pass => "PASS",
            State::Fail => "FAIL",
            State::Warn => "WARN",
            State::Info => "INFO",
            State::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub info: usize,
    pub error: usize,
}

impl Totals {
    pub fn add(&mut self, state: State) {
        match state {
            State::Pass => self.pass += 1,
            State::Fail => self.fail += 1,
            State::Warn => self.warn += 1,
            State::Info => self.info += 1,
            State::Error => self.error += 1,
        }
    }

    pub fn merge(&mut self, other: &Totals) {
        self.pass += other.pass;
        self.fail += other.fail;
        self.warn += other.warn;
        self.info += other.info;
        self.error += other.error;
    }

    pub fn checks(&self) -> usize {
        self.pass + self.fail + self.warn + self.info + self.error
    }
}

/// The whole JSON results document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub results_version: u32,
    pub tool: ToolInfo,
    /// When the scan ran: UTC, RFC 3339, to the second. `SOURCE_DATE_EPOCH` or `--today` pin it
    /// for reproducible output; absent in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<jiff::Timestamp>,
    /// The benchmark every node ran; in a fleet that mixes benchmarks, their names joined by
    /// ` + `, each described in `benchmarks`.
    pub benchmark: BenchmarkInfo,
    /// One entry per benchmark when the nodes ran more than one (each node names its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub benchmarks: Vec<BenchmarkInfo>,
    pub nodes: Vec<NodeResults>,
    /// Nodes (snapshots) that could not be evaluated at all, with the reason.
    #[serde(default)]
    pub unreadable: Vec<UnreadableNode>,
    pub totals: Totals,
    /// The gate's verdict, as the exit code reflects it.
    pub gate: GateOutcome,
    /// Filled in when a baseline allowlist was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
    /// Filled in when `--previous` named an earlier results file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousSummary>,
}

impl RunResults {
    /// The run split by benchmark, for reports that group by it (SARIF: one run each): the
    /// run itself when every node ran one benchmark; else one part per benchmark with its
    /// nodes and totals (unreadable nodes go with the first part).
    pub fn by_benchmark(&self) -> Vec<std::borrow::Cow<'_, RunResults>> {
        if self.benchmarks.len() <= 1 {
            return vec![std::borrow::Cow::Borrowed(self)];
        }
        self.benchmarks
            .iter()
            .enumerate()
            .map(|(index, info)| {
                let nodes: Vec<NodeResults> = self
                    .nodes
                    .iter()
                    .filter(|n| n.node.benchmark.as_deref() == Some(info.name.as_str()))
                    .cloned()
                    .collect();
                let mut totals = Totals::default();
                for node in &nodes {
                    totals.merge(&node.totals);
                }
                std::borrow::Cow::Owned(RunResults {
                    benchmark: info.clone(),
                    benchmarks: Vec::new(),
                    nodes,
                    unreadable: if index == 0 {
                        self.unreadable.clone()
                    } else {
                        Vec::new()
                    },
                    totals,
                    ..self.clone_header()
                })
            })
            .collect()
    }

    /// Everything but the nodes and unreadable entries.
    pub fn clone_header(&self) -> RunResults {
        RunResults {
            results_version: self.results_version,
            tool: self.tool.clone(),
            scanned_at: self.scanned_at,
            benchmark: self.benchmark.clone(),
            benchmarks: self.benchmarks.clone(),
            nodes: Vec::new(),
            unreadable: Vec::new(),
            totals: self.totals,
            gate: self.gate.clone(),
            baseline: self.baseline.clone(),
            previous: self.previous.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl ToolInfo {
    pub fn current() -> Self {
        ToolInfo {
            name: "cisgate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkInfo {
    /// e.g. `cis-1.12`.
    pub name: String,
    /// `embedded` or the `--config-dir` path.
    pub source: String,
    /// Why this benchmark was chosen, in words (`--benchmark`, or the version mapping).
    pub selected_because: String,
    /// The targets (node types) that were run, in order.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeResults {
    pub node: NodeInfo,
    pub sections: Vec<SectionResult>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    /// Where the facts came from: `live`, a snapshot file or a snapshot directory.
    pub source: String,
    /// The cluster the node belongs to, where its source names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The benchmark this node was evaluated against (a fleet may mix benchmarks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
    /// The Kubernetes platform recognised on the node (EKS, RKE2, ...), and from what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<PlatformInfo>,
}

/// A recognised Kubernetes platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// The key in the benchmark tree's `platforms` (`eks`, `gke`, `aks`, `rke2`, `k3s`, `openshift`).
    pub name: String,
    /// e.g. `Amazon EKS`.
    pub title: String,
    /// The provider runs the control plane: no control-plane checks on the node.
    pub managed_control_plane: bool,
    /// What showed it, in words.
    pub evidence: Vec<String>,
}

/// One controls file's results (kube-bench calls it a section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionResult {
    pub id: ArcStr,
    pub text: ArcStr,
    /// The controls file's `version` field.
    pub version: ArcStr,
    /// The node type (target): `master`, `node`, `etcd`, `controlplane`, `policies`, ...
    pub target: ArcStr,
    pub groups: Vec<GroupResult>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    pub id: ArcStr,
    pub text: ArcStr,
    pub checks: Vec<CheckResult>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: ArcStr,
    pub text: ArcStr,
    pub state: State,
    pub scored: bool,
    /// The check's `type` as written (`manual`, `skip`, or empty).
    #[serde(rename = "type")]
    pub check_type: ArcStr,
    /// Why the state was decided without a test (`Test marked as a manual test`, the error, ...).
    #[serde(default, skip_serializing_if = "str::is_empty")]
    pub reason: ArcStr,
    pub remediation: ArcStr,
    pub evidence: Evidence,
    /// The file (and line) a user must edit, where it can be pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<Location>>,
    /// Set when a baseline allowlist was applied and the check did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Box<BaselineMark>>,
    /// Set when `--previous` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evidence {
    /// What was asked, in order: audit_env, audit, audit_config.
    pub audits: Vec<AuditEvidence>,
    /// The text the tests looked at (kube-bench's `actual_value`), bounded in size.
    pub actual: ArcStr,
    /// The expected condition in words (kube-bench's `expected_result`).
    pub expected: ArcStr,
    /// What decided the verdict, short: each deciding test item's key and value, or its
    /// absence (`authentication.anonymous.enabled: true`, `--profiling not set`), at most
    /// 300 characters. Reports show this; `actual` stays for `--include-test-output` and
    /// this file. Empty when no test ran (older results files lack it too).
    #[serde(default, skip_serializing_if = "str::is_empty")]
    pub decisive: ArcStr,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditEvidence {
    /// `audit`, `audit_config` or `audit_env`.
    pub role: ArcStr,
    /// `shell` or `probe`.
    pub kind: ArcStr,
    /// The command (as on the node) or the probe's description.
    pub command: ArcStr,
    /// What it printed, bounded in size (`…[truncated]` marks a cut).
    pub output: ArcStr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// The node path to edit, e.g. `/etc/kubernetes/manifests/kube-apiserver.yaml`.
    pub path: ArcStr,
    /// 1-based line of the flag or key, or of where it belongs, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Where the file was found on the machine that ran cisgate (a snapshot directory's
    /// file), when that differs from `path`. Reports use it for repository-relative paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableNode {
    /// The snapshot path (or node name) that could not be evaluated.
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateOutcome {
    /// `fail` or `warn`: the lowest state that gates.
    pub fail_on: String,
    pub allow_errors: bool,
    pub passed: bool,
    pub exit_code: i32,
    /// How many results made the gate fail.
    pub regressions: usize,
}

impl GateOutcome {
    /// Before the gate has decided: passed, nothing counted.
    pub fn undecided() -> Self {
        GateOutcome {
            fail_on: String::new(),
            allow_errors: false,
            passed: true,
            exit_code: 0,
            regressions: 0,
        }
    }
}

// ---- baseline (see src/baseline) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    Accepted,
    Regression,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineMark {
    pub classification: Classification,
    /// The exception that covers (or, when expired, used to cover) this result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRef {
    /// The entry's `check` pattern as written.
    pub check: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// 1-based line of the entry in the baseline file.
    pub line: u32,
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineSummary {
    pub file: String,
    pub accepted: usize,
    pub regressions: usize,
    pub stale: Vec<StaleException>,
    pub expiring: Vec<ExceptionRef>,
    pub expired: Vec<ExceptionRef>,
    /// Entries still carrying a placeholder reason (`TODO…`) that matched a result; with
    /// `--require-reasons` they accept nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholder_reasons: Vec<ExceptionRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleException {
    pub exception: ExceptionRef,
    /// `fixed` (the check exists and now passes) or `unknown-check` (no such check was run).
    pub why: String,
}

// ---- previous run comparison ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    New,
    Unchanged,
    Fixed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSummary {
    pub file: String,
    pub new: usize,
    pub unchanged: usize,
    pub fixed: usize,
}

impl RunResults {
    /// Every check result with the node it belongs to, in report order.
    pub fn checks(&self) -> impl Iterator<Item = (&NodeResults, &SectionResult, &CheckResult)> {
        self.nodes.iter().flat_map(|node| {
            node.sections.iter().flat_map(move |section| {
                section
                    .groups
                    .iter()
                    .flat_map(move |group| group.checks.iter().map(move |c| (node, section, c)))
            })
        })
    }
}

/// Orders check ids the way a reader expects: `1.2.9` before `1.2.10`, numbers before
/// words within a part.
pub fn compare_check_ids(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_order_numerically_part_by_part() {
        let mut ids = vec!["1.2.10", "1.2.9", "1.10", "1.2", "2", "1.2.a"];
        ids.sort_by(|a, b| compare_check_ids(a, b));
        assert_eq!(ids, ["1.2", "1.2.9", "1.2.10", "1.2.a", "1.10", "2"]);
    }
}
