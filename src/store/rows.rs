//! A run flattened into the store's rows.
//!
//! Everything a fleet repeats is stored once: check definitions (id, titles, section,
//! group, remediation), baseline exceptions, and each result's detail (evidence, reason,
//! location) are keyed by the SHA-256 of their content ([`content_key`]). A result row is
//! then a handful of integers and short texts. Per-run rollups (per check, per node pool)
//! are computed here so trend reports never scan every result.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::db::Value;
use super::meta::RunMeta;
use crate::gate::GatePolicy;
use crate::results::{
    BaselineSummary, BenchmarkInfo, CheckResult, Classification, Evidence, ExceptionRef,
    GateOutcome, Location, NodeResults, PreviousSummary, RunResults, SectionResult, State,
    ToolInfo, Totals, UnreadableNode,
};

/// The first 8 bytes of SHA-256 over `kind` and the parts (each length-prefixed, so no two
/// different part lists hash alike), as a signed 64-bit key.
pub fn content_key(kind: &str, parts: &[&str]) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

pub fn run_key(run_id: &str) -> i64 {
    content_key("run", &[run_id])
}

/// The node pool a node belongs to: its roles as recorded, joined with `,`; `none` without
/// (schema version 2 backfills older rows the same way).
pub fn pool_of(roles: &[String]) -> String {
    if roles.is_empty() {
        return "none".into();
    }
    roles.join(",")
}

/// What a result row points to for its details: kept as JSON, once per distinct value.
#[derive(Debug, Serialize, Deserialize)]
pub struct Detail {
    #[serde(default, skip_serializing_if = "str::is_empty")]
    pub reason: String,
    pub evidence: Evidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

#[derive(Serialize)]
struct DetailRef<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    evidence: &'a Evidence,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a Location>,
}

/// The run-level parts of the results document that are not rows.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    pub results_version: u32,
    pub tool: ToolInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<jiff::Timestamp>,
    pub benchmark: BenchmarkInfo,
    #[serde(default)]
    pub benchmarks: Vec<BenchmarkInfo>,
    #[serde(default)]
    pub unreadable: Vec<UnreadableNode>,
    pub totals: Totals,
    pub gate: GateOutcome,
    #[serde(default)]
    pub baseline: Option<BaselineSummary>,
    #[serde(default)]
    pub previous: Option<PreviousSummary>,
}

/// Whether a result counts as a regression, as the gate counted it.
pub fn is_regression(check: &CheckResult, gate: &GateOutcome) -> bool {
    crate::gate::is_regression(check, &GatePolicy::of(gate))
}

pub fn state_text(state: State) -> &'static str {
    state.as_str()
}

pub fn classification_text(classification: Classification) -> &'static str {
    match classification {
        Classification::Accepted => "accepted",
        Classification::Regression => "regression",
    }
}

pub fn change_text(change: crate::results::Change) -> &'static str {
    match change {
        crate::results::Change::New => "new",
        crate::results::Change::Unchanged => "unchanged",
        crate::results::Change::Fixed => "fixed",
    }
}

pub const RUN_COLUMNS: &[&str] = &[
    "run_key",
    "run_id",
    "started_at",
    "stored_at",
    "cluster",
    "benchmark",
    "cisgate_version",
    "git_commit",
    "pipeline_id",
    "pipeline_url",
    "summary_blob",
    "nodes",
    "pass",
    "fail",
    "warn",
    "info",
    "error",
    "regressions",
    "accepted",
];
pub const BLOB_COLUMNS: &[&str] = &["blob_key", "body"];
pub const CHECK_COLUMNS: &[&str] = &[
    "check_key",
    "check_id",
    "title",
    "section_id",
    "section_text",
    "section_version",
    "target",
    "group_id",
    "group_text",
    "scored",
    "check_type",
    "remediation_blob",
];
pub const EXCEPTION_COLUMNS: &[&str] = &[
    "exception_key",
    "pattern",
    "reason",
    "expires",
    "owner",
    "ticket",
    "line",
    "expired",
];
pub const NODE_COLUMNS: &[&str] = &[
    "run_key",
    "node_no",
    "name",
    "roles",
    "kubernetes_version",
    "platform",
    "source",
    "pool",
    "benchmark",
    "distribution",
];
pub const RESULT_COLUMNS: &[&str] = &[
    "run_key",
    "node_no",
    "seq",
    "check_key",
    "state",
    "classification",
    "exception_key",
    "regression",
    "change",
    "detail_blob",
];
pub const RUN_CHECK_COLUMNS: &[&str] = &[
    "run_key",
    "check_id",
    "title",
    "pass",
    "fail",
    "warn",
    "info",
    "error",
    "regressions",
    "accepted",
];
pub const RUN_POOL_COLUMNS: &[&str] = &[
    "run_key",
    "pool",
    "nodes",
    "pass",
    "fail",
    "warn",
    "info",
    "error",
    "regressions",
];

/// The keys one result row refers to.
#[derive(Debug, Clone, Copy)]
struct ResultKeys {
    check: i64,
    detail: i64,
    exception: Option<i64>,
}

#[derive(Default)]
struct Counts {
    totals: Totals,
    regressions: i64,
    accepted: i64,
    nodes: i64,
}

impl Counts {
    fn add(&mut self, state: State, regression: bool, accepted: bool) {
        self.totals.add(state);
        self.regressions += i64::from(regression);
        self.accepted += i64::from(accepted);
    }

    fn values(&self) -> [Value; 5] {
        let t = &self.totals;
        [t.pass, t.fail, t.warn, t.info, t.error].map(|n| Value::Int(n as i64))
    }
}

/// A run, ready to insert.
pub struct Flat<'a> {
    pub run_key: i64,
    pub run: Vec<Value>,
    /// Distinct blobs, in key order.
    pub blobs: Vec<Vec<Value>>,
    pub checks: Vec<Vec<Value>>,
    pub exceptions: Vec<Vec<Value>>,
    pub nodes: Vec<Vec<Value>>,
    pub run_checks: Vec<Vec<Value>>,
    pub run_pools: Vec<Vec<Value>>,
    results: &'a RunResults,
    keys: Vec<ResultKeys>,
}

/// Identity of a check definition as results carry it (every node repeats it).
#[derive(PartialEq, Eq, Hash)]
struct CheckIdentity<'a> {
    section: [&'a str; 4],
    group: [&'a str; 2],
    check: [&'a str; 4],
    scored: bool,
}

impl<'a> Flat<'a> {
    pub fn build(
        meta: &RunMeta,
        results: &'a RunResults,
        stored_at: i64,
    ) -> anyhow::Result<Flat<'a>> {
        let run_key = run_key(&meta.run_id);
        let mut blobs: BTreeMap<i64, String> = BTreeMap::new();
        let mut detail_memo: HashMap<String, i64> = HashMap::new();
        let mut check_memo: HashMap<CheckIdentity<'a>, i64> = HashMap::new();
        let mut checks: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        let mut exceptions: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        let mut keys = Vec::new();
        let mut nodes = Vec::new();
        let mut run_counts = Counts::default();
        let mut per_check: BTreeMap<&str, (String, Counts)> = BTreeMap::new();
        let mut per_pool: BTreeMap<String, Counts> = BTreeMap::new();
        for (node_no, node) in results.nodes.iter().enumerate() {
            let pool = pool_of(&node.node.roles);
            nodes.push(node_row(run_key, node_no, node, &pool));
            let pool_counts = per_pool.entry(pool).or_default();
            pool_counts.nodes += 1;
            run_counts.nodes += 1;
            for (section, group, check) in node_checks(node) {
                let identity = CheckIdentity {
                    section: [
                        &section.id,
                        &section.text,
                        &section.version,
                        &section.target,
                    ],
                    group: [&group.id, &group.text],
                    check: [
                        &check.id,
                        &check.text,
                        &check.check_type,
                        &check.remediation,
                    ],
                    scored: check.scored,
                };
                let check_key = *check_memo.entry(identity).or_insert_with(|| {
                    let (key, row) = check_row(section, group, check, &mut blobs);
                    checks.insert(key, row);
                    key
                });
                let detail = serde_json::to_string(&DetailRef {
                    reason: &check.reason,
                    evidence: &check.evidence,
                    location: check.location.as_deref(),
                })?;
                let detail_key = match detail_memo.get(&detail) {
                    Some(key) => *key,
                    None => {
                        let key = content_key("detail", &[&detail]);
                        blobs.insert(key, detail.clone());
                        detail_memo.insert(detail, key);
                        key
                    }
                };
                let exception = check
                    .baseline
                    .as_ref()
                    .and_then(|mark| mark.exception.as_ref())
                    .map(|exception| {
                        let (key, row) = exception_row(exception);
                        exceptions.entry(key).or_insert(row);
                        key
                    });
                keys.push(ResultKeys {
                    check: check_key,
                    detail: detail_key,
                    exception,
                });
                let regression = is_regression(check, &results.gate);
                let accepted = check
                    .baseline
                    .as_ref()
                    .is_some_and(|m| m.classification == Classification::Accepted);
                run_counts.add(check.state, regression, accepted);
                pool_counts.add(check.state, regression, accepted);
                per_check
                    .entry(&check.id)
                    .or_insert_with(|| (check.text.to_string(), Counts::default()))
                    .1
                    .add(check.state, regression, accepted);
            }
        }
        let summary = serde_json::to_string(&Summary {
            results_version: results.results_version,
            tool: results.tool.clone(),
            scanned_at: results.scanned_at,
            benchmark: results.benchmark.clone(),
            benchmarks: results.benchmarks.clone(),
            unreadable: results.unreadable.clone(),
            totals: results.totals,
            gate: results.gate.clone(),
            baseline: results.baseline.clone(),
            previous: results.previous.clone(),
        })?;
        let summary_key = content_key("summary", &[&summary]);
        blobs.insert(summary_key, summary);
        let run = run_row(meta, results, run_key, summary_key, stored_at, &run_counts);
        let run_checks = per_check
            .into_iter()
            .map(|(id, (title, counts))| {
                let mut row = vec![Value::Int(run_key), Value::text(id), Value::Text(title)];
                row.extend(counts.values());
                row.extend([Value::Int(counts.regressions), Value::Int(counts.accepted)]);
                row
            })
            .collect();
        let run_pools = per_pool
            .into_iter()
            .map(|(pool, counts)| {
                let mut row = vec![
                    Value::Int(run_key),
                    Value::Text(pool),
                    Value::Int(counts.nodes),
                ];
                row.extend(counts.values());
                row.push(Value::Int(counts.regressions));
                row
            })
            .collect();
        Ok(Flat {
            run_key,
            run,
            blobs: blobs
                .into_iter()
                .map(|(key, body)| vec![Value::Int(key), Value::Text(body)])
                .collect(),
            checks: checks.into_values().collect(),
            exceptions: exceptions.into_values().collect(),
            nodes,
            run_checks,
            run_pools,
            results,
            keys,
        })
    }

    /// The result rows in chunks of at most `chunk` rows, in report order.
    pub fn result_chunks(&self, chunk: usize) -> impl Iterator<Item = Vec<Vec<Value>>> + '_ {
        let mut all = self
            .results
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(node_no, node)| {
                node_checks(node)
                    .enumerate()
                    .map(move |(seq, (_, _, check))| (node_no, seq, check))
            });
        let mut keys = self.keys.iter();
        let run_key = self.run_key;
        let gate = &self.results.gate;
        std::iter::from_fn(move || {
            let mut rows = Vec::with_capacity(chunk);
            for (node_no, seq, check) in all.by_ref() {
                let keys = keys.next().expect("one key set per result");
                rows.push(result_row(run_key, node_no, seq, check, keys, gate));
                if rows.len() == chunk {
                    break;
                }
            }
            (!rows.is_empty()).then_some(rows)
        })
    }
}

/// Every check of a node with its section and group, in report order.
pub fn node_checks(
    node: &NodeResults,
) -> impl Iterator<Item = (&SectionResult, &crate::results::GroupResult, &CheckResult)> {
    node.sections.iter().flat_map(|section| {
        section.groups.iter().flat_map(move |group| {
            group
                .checks
                .iter()
                .map(move |check| (section, group, check))
        })
    })
}

fn node_row(run_key: i64, node_no: usize, node: &NodeResults, pool: &str) -> Vec<Value> {
    let info = &node.node;
    vec![
        Value::Int(run_key),
        Value::Int(node_no as i64),
        Value::text(&info.name),
        Value::text(info.roles.join(",")),
        Value::opt_text(info.kubernetes_version.clone()),
        Value::opt_text(info.platform.clone()),
        Value::text(&info.source),
        Value::text(pool),
        Value::opt_text(info.benchmark.clone()),
        info.distribution
            .as_ref()
            .and_then(|d| serde_json::to_string(d).ok())
            .map_or(Value::Null, Value::Text),
    ]
}

fn check_row(
    section: &SectionResult,
    group: &crate::results::GroupResult,
    check: &CheckResult,
    blobs: &mut BTreeMap<i64, String>,
) -> (i64, Vec<Value>) {
    let remediation_key = content_key("text", &[&check.remediation]);
    blobs
        .entry(remediation_key)
        .or_insert_with(|| check.remediation.to_string());
    let scored = if check.scored { "1" } else { "0" };
    let key = content_key(
        "check",
        &[
            &check.id,
            &check.text,
            &section.id,
            &section.text,
            &section.version,
            &section.target,
            &group.id,
            &group.text,
            scored,
            &check.check_type,
            &check.remediation,
        ],
    );
    let row = vec![
        Value::Int(key),
        Value::text(check.id.as_str()),
        Value::text(check.text.as_str()),
        Value::text(section.id.as_str()),
        Value::text(section.text.as_str()),
        Value::text(section.version.as_str()),
        Value::text(section.target.as_str()),
        Value::text(group.id.as_str()),
        Value::text(group.text.as_str()),
        Value::Int(i64::from(check.scored)),
        Value::text(check.check_type.as_str()),
        Value::Int(remediation_key),
    ];
    (key, row)
}

fn exception_row(exception: &ExceptionRef) -> (i64, Vec<Value>) {
    let line = exception.line.to_string();
    let expired = if exception.expired { "1" } else { "0" };
    let key = content_key(
        "exception",
        &[
            &exception.check,
            &exception.reason,
            exception.expires.as_deref().unwrap_or("\u{0}"),
            exception.owner.as_deref().unwrap_or("\u{0}"),
            exception.ticket.as_deref().unwrap_or("\u{0}"),
            &line,
            expired,
        ],
    );
    let row = vec![
        Value::Int(key),
        Value::text(&exception.check),
        Value::text(&exception.reason),
        Value::opt_text(exception.expires.clone()),
        Value::opt_text(exception.owner.clone()),
        Value::opt_text(exception.ticket.clone()),
        Value::Int(i64::from(exception.line)),
        Value::Int(i64::from(exception.expired)),
    ];
    (key, row)
}

fn run_row(
    meta: &RunMeta,
    results: &RunResults,
    run_key: i64,
    summary_key: i64,
    stored_at: i64,
    counts: &Counts,
) -> Vec<Value> {
    let mut row = vec![
        Value::Int(run_key),
        Value::text(&meta.run_id),
        Value::Int(meta.started_at.as_second()),
        Value::Int(stored_at),
        Value::text(&meta.cluster),
        Value::text(&results.benchmark.name),
        Value::text(&results.tool.version),
        Value::opt_text(meta.git_commit.clone()),
        Value::opt_text(meta.pipeline_id.clone()),
        Value::opt_text(meta.pipeline_url.clone()),
        Value::Int(summary_key),
        Value::Int(counts.nodes),
    ];
    row.extend(counts.values());
    row.extend([Value::Int(counts.regressions), Value::Int(counts.accepted)]);
    row
}

fn result_row(
    run_key: i64,
    node_no: usize,
    seq: usize,
    check: &CheckResult,
    keys: &ResultKeys,
    gate: &GateOutcome,
) -> Vec<Value> {
    vec![
        Value::Int(run_key),
        Value::Int(node_no as i64),
        Value::Int(seq as i64),
        Value::Int(keys.check),
        Value::Static(state_text(check.state)),
        check.baseline.as_ref().map_or(Value::Null, |m| {
            Value::Static(classification_text(m.classification))
        }),
        Value::opt_int(keys.exception),
        Value::Int(i64::from(is_regression(check, gate))),
        check
            .change
            .map_or(Value::Null, |c| Value::Static(change_text(c))),
        Value::Int(keys.detail),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_when_any_part_differs() {
        assert_eq!(content_key("t", &["a", "b"]), content_key("t", &["a", "b"]));
        assert_ne!(content_key("t", &["ab", ""]), content_key("t", &["a", "b"]));
        assert_ne!(content_key("t", &["a"]), content_key("u", &["a"]));
    }

    #[test]
    fn pools_are_the_recorded_roles() {
        assert_eq!(
            pool_of(&["control-plane".into(), "etcd".into()]),
            "control-plane,etcd"
        );
        assert_eq!(pool_of(&[]), "none");
    }
}
