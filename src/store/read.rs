//! Reading the store back: the runs it holds, one run as the results document it was
//! stored from, the last run of a cluster and benchmark (for `--previous`).

use std::collections::HashMap;

use anyhow::{bail, Context};
use arcstr::ArcStr;
use jiff::Timestamp;
use serde::Serialize;

use super::db::Value;
use super::rows::{Detail, Summary};
use super::Store;
use crate::results::{
    BaselineMark, Change, CheckResult, Classification, ExceptionRef, GroupResult, NodeInfo,
    NodeResults, RunResults, SectionResult, State, Totals,
};

/// One stored run, without its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    #[serde(skip)]
    pub run_key: i64,
    pub run_id: String,
    /// Unix seconds.
    pub started_at: i64,
    pub cluster: String,
    pub benchmark: String,
    pub cisgate_version: String,
    pub git_commit: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_url: Option<String>,
    pub nodes: i64,
    pub totals: StoredTotals,
    pub regressions: i64,
    pub accepted: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoredTotals {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub info: i64,
    pub error: i64,
}

impl StoredTotals {
    pub fn from_values(values: &[Value]) -> StoredTotals {
        StoredTotals {
            pass: values[0].int(),
            fail: values[1].int(),
            warn: values[2].int(),
            info: values[3].int(),
            error: values[4].int(),
        }
    }

    /// Results that were evaluated (everything but INFO, which was skipped).
    pub fn evaluated(&self) -> i64 {
        self.pass + self.fail + self.warn + self.error
    }
}

/// A run loaded back: its metadata and its results.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub summary: RunSummary,
    pub results: RunResults,
}

const RUN_SELECT: &str =
    "SELECT run_key, run_id, started_at, cluster, benchmark, cisgate_version, \
    git_commit, pipeline_id, pipeline_url, nodes, pass, fail, warn, info, error, regressions, \
    accepted FROM runs";

fn run_summary(row: &[Value]) -> RunSummary {
    RunSummary {
        run_key: row[0].int(),
        run_id: row[1].string(),
        started_at: row[2].int(),
        cluster: row[3].string(),
        benchmark: row[4].string(),
        cisgate_version: row[5].string(),
        git_commit: row[6].opt_string(),
        pipeline_id: row[7].opt_string(),
        pipeline_url: row[8].opt_string(),
        nodes: row[9].int(),
        totals: StoredTotals::from_values(&row[10..15]),
        regressions: row[15].int(),
        accepted: row[16].int(),
    }
}

/// Which runs to read.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub cluster: Option<String>,
    pub benchmark: Option<String>,
    /// Unix seconds: runs that started at or after this.
    pub since: Option<i64>,
}

impl Store {
    /// The runs matching `filter`, oldest first (ties by run id).
    pub fn runs(&mut self, filter: &RunFilter) -> anyhow::Result<Vec<RunSummary>> {
        let mut sql = format!("{RUN_SELECT} WHERE 1 = 1");
        let mut params = Vec::new();
        if let Some(cluster) = &filter.cluster {
            params.push(Value::text(cluster));
            sql.push_str(&format!(" AND cluster = ${}", params.len()));
        }
        if let Some(benchmark) = &filter.benchmark {
            params.push(Value::text(benchmark));
            sql.push_str(&format!(" AND benchmark = ${}", params.len()));
        }
        if let Some(since) = filter.since {
            params.push(Value::Int(since));
            sql.push_str(&format!(" AND started_at >= ${}", params.len()));
        }
        sql.push_str(" ORDER BY started_at, run_id");
        let rows = self.db.query(&sql, &params)?;
        Ok(rows.iter().map(|row| run_summary(row)).collect())
    }

    /// The latest run of `cluster` and `benchmark`, if any.
    pub fn last_run(
        &mut self,
        cluster: &str,
        benchmark: &str,
    ) -> anyhow::Result<Option<RunSummary>> {
        let rows = self.db.query(
            &format!(
                "{RUN_SELECT} WHERE cluster = $1 AND benchmark = $2 \
                 ORDER BY started_at DESC, run_id DESC LIMIT 1"
            ),
            &[Value::text(cluster), Value::text(benchmark)],
        )?;
        Ok(rows.first().map(|row| run_summary(row)))
    }

    /// The run stored under `run_id`.
    pub fn find_run(&mut self, run_id: &str) -> anyhow::Result<Option<RunSummary>> {
        let rows = self.db.query(
            &format!("{RUN_SELECT} WHERE run_id = $1"),
            &[Value::text(run_id)],
        )?;
        Ok(rows.first().map(|row| run_summary(row)))
    }

    /// Loads a stored run back into the results document it was stored from.
    pub fn load_run(&mut self, summary: &RunSummary) -> anyhow::Result<RunResults> {
        let run_key = Value::Int(summary.run_key);
        let blob = self.db.query(
            "SELECT b.body FROM runs r JOIN blobs b ON b.blob_key = r.summary_blob WHERE r.run_key = $1",
            std::slice::from_ref(&run_key),
        )?;
        let Some(body) = blob.first().map(|row| row[0].string()) else {
            bail!("run {} has no summary in the store", summary.run_id);
        };
        let stored: Summary = serde_json::from_str(&body).with_context(|| {
            format!("run {}: the stored summary is not readable", summary.run_id)
        })?;
        let nodes = self.db.query(
            "SELECT node_no, name, roles, kubernetes_version, platform, source, benchmark, \
             distribution FROM nodes WHERE run_key = $1 ORDER BY node_no",
            std::slice::from_ref(&run_key),
        )?;
        let rows = self.db.query(
            "SELECT r.node_no, c.check_id, c.title, c.section_id, c.section_text, c.section_version, \
                    c.target, c.group_id, c.group_text, c.scored, c.check_type, rb.body, r.state, \
                    r.classification, r.change, db.body, e.pattern, e.reason, e.expires, e.owner, \
                    e.ticket, e.line, e.expired \
             FROM results r \
             JOIN checks c ON c.check_key = r.check_key \
             JOIN blobs rb ON rb.blob_key = c.remediation_blob \
             JOIN blobs db ON db.blob_key = r.detail_blob \
             LEFT JOIN exceptions e ON e.exception_key = r.exception_key \
             WHERE r.run_key = $1 ORDER BY r.node_no, r.seq",
            &[run_key],
        )?;
        let mut builder = Builder::default();
        let mut node_results: Vec<NodeResults> = nodes.iter().map(|row| node_of(row)).collect();
        for row in &rows {
            let node_no = row[0].int() as usize;
            let node = node_results.get_mut(node_no).with_context(|| {
                format!("run {}: result of unknown node {node_no}", summary.run_id)
            })?;
            builder.push(node, row)?;
        }
        for node in &mut node_results {
            recount(node);
        }
        Ok(RunResults {
            results_version: stored.results_version,
            tool: stored.tool,
            scanned_at: jiff::Timestamp::from_second(summary.started_at).ok(),
            benchmark: stored.benchmark,
            benchmarks: stored.benchmarks,
            nodes: node_results,
            unreadable: stored.unreadable,
            totals: stored.totals,
            gate: stored.gate,
            baseline: stored.baseline,
            previous: stored.previous,
        })
    }
}

fn node_of(row: &[Value]) -> NodeResults {
    let roles = row[2].string();
    NodeResults {
        node: NodeInfo {
            name: row[1].string(),
            roles: if roles.is_empty() {
                Vec::new()
            } else {
                roles.split(',').map(str::to_string).collect()
            },
            kubernetes_version: row[3].opt_string(),
            platform: row[4].opt_string(),
            source: row[5].string(),
            benchmark: row[6].opt_string(),
            distribution: row[7]
                .as_str()
                .and_then(|json| serde_json::from_str(json).ok()),
        },
        sections: Vec::new(),
        totals: Totals::default(),
    }
}

/// Rebuilds sections and groups from rows in report order, sharing repeated texts.
#[derive(Default)]
struct Builder {
    texts: HashMap<String, ArcStr>,
}

impl Builder {
    fn text(&mut self, value: &Value) -> ArcStr {
        let text = value.as_str().unwrap_or("");
        if let Some(shared) = self.texts.get(text) {
            return shared.clone();
        }
        let shared = ArcStr::from(text);
        self.texts.insert(text.to_string(), shared.clone());
        shared
    }

    fn push(&mut self, node: &mut NodeResults, row: &[Value]) -> anyhow::Result<()> {
        let (section_id, target) = (self.text(&row[3]), self.text(&row[6]));
        let section_is_new = node
            .sections
            .last()
            .is_none_or(|s| s.id != section_id || s.target != target);
        if section_is_new {
            node.sections.push(SectionResult {
                id: section_id,
                text: self.text(&row[4]),
                version: self.text(&row[5]),
                target,
                groups: Vec::new(),
                totals: Totals::default(),
            });
        }
        let section = node.sections.last_mut().expect("pushed above");
        let group_id = self.text(&row[7]);
        if section.groups.last().is_none_or(|g| g.id != group_id) || section_is_new {
            section.groups.push(GroupResult {
                id: group_id,
                text: self.text(&row[8]),
                checks: Vec::new(),
                totals: Totals::default(),
            });
        }
        let detail: Detail = serde_json::from_str(row[15].as_str().unwrap_or("{}"))
            .context("a stored result detail is not readable")?;
        let check = CheckResult {
            id: self.text(&row[1]),
            text: self.text(&row[2]),
            state: parse_state(row[12].as_str().unwrap_or(""))?,
            scored: row[9].int() != 0,
            check_type: self.text(&row[10]),
            reason: detail.reason.into(),
            remediation: self.text(&row[11]),
            evidence: detail.evidence,
            location: detail.location.map(Box::new),
            baseline: mark_of(row),
            change: match row[14].as_str() {
                Some("new") => Some(Change::New),
                Some("unchanged") => Some(Change::Unchanged),
                Some("fixed") => Some(Change::Fixed),
                _ => None,
            },
        };
        let group = section.groups.last_mut().expect("pushed above");
        group.checks.push(check);
        Ok(())
    }
}

fn mark_of(row: &[Value]) -> Option<Box<BaselineMark>> {
    let classification = match row[13].as_str()? {
        "accepted" => Classification::Accepted,
        _ => Classification::Regression,
    };
    let exception = row[16].as_str().map(|pattern| ExceptionRef {
        check: pattern.to_string(),
        reason: row[17].string(),
        expires: row[18].opt_string(),
        owner: row[19].opt_string(),
        ticket: row[20].opt_string(),
        line: row[21].int() as u32,
        expired: row[22].int() != 0,
    });
    Some(Box::new(BaselineMark {
        classification,
        exception,
    }))
}

pub fn parse_state(text: &str) -> anyhow::Result<State> {
    Ok(match text {
        "PASS" => State::Pass,
        "FAIL" => State::Fail,
        "WARN" => State::Warn,
        "INFO" => State::Info,
        "ERROR" => State::Error,
        other => bail!("unknown state {other:?} in the store"),
    })
}

/// Totals are derived from the states, as the engine derives them.
fn recount(node: &mut NodeResults) {
    let mut node_totals = Totals::default();
    for section in &mut node.sections {
        let mut section_totals = Totals::default();
        for group in &mut section.groups {
            let mut totals = Totals::default();
            for check in &group.checks {
                totals.add(check.state);
            }
            group.totals = totals;
            section_totals.merge(&totals);
        }
        section.totals = section_totals;
        node_totals.merge(&section_totals);
    }
    node.totals = node_totals;
}

/// A run's start as RFC 3339 text (UTC).
pub fn format_time(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| seconds.to_string())
}
