//! The history report's numbers, per cluster and benchmark, computed from the store.
//!
//! Definitions (also in `docs/nightly-report.md`):
//! - **pass rate** of a run (or of a node pool in it): PASS ÷ results evaluated (all but
//!   INFO, which was skipped), in percent.
//! - **regression**: a result the gate counted (its state gates and no live baseline entry
//!   accepted it). A node × check *episode* starts at the first run where it is a
//!   regression and ends at the first later run where it is not while the node is present
//!   and the check ran (the node missing or the check not run leaves it open).
//! - **opened** in a run: episodes that started there (in the first run of the window:
//!   every regression, since nothing earlier is known). **fixed**: episodes that ended there.
//! - **time to fix** of a check: from an episode's first run to the run that ended it,
//!   median (the mean of the two middle ones for an even count) and worst over the window.
//! - **failing longest**: checks regressing in the latest run, with the nodes and the
//!   earliest start of their open episodes.
//! - **expiring soon**: baseline entries that accepted results in the latest run and expire
//!   within the given days (or have expired).

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::Date;
use serde::Serialize;

use super::db::Value;
use super::read::{format_time, RunFilter, RunSummary, StoredTotals};
use super::Store;

#[derive(Debug, Clone)]
pub struct TrendOptions {
    pub cluster: Option<String>,
    pub benchmark: Option<String>,
    /// Unix seconds: only runs at or after this.
    pub since: Option<i64>,
    /// The date "expiring soon" is judged against.
    pub today: Date,
    pub expiring_within_days: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub store: String,
    pub today: String,
    pub groups: Vec<GroupTrend>,
}

/// One cluster and benchmark over time.
#[derive(Debug, Clone, Serialize)]
pub struct GroupTrend {
    pub cluster: String,
    pub benchmark: String,
    pub runs: Vec<RunPoint>,
    pub pools: Vec<PoolSeries>,
    pub time_to_fix: Vec<FixTime>,
    pub failing_longest: Vec<Failing>,
    pub expiring: Vec<Expiring>,
    pub timelines: Vec<Timeline>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunPoint {
    pub run_id: String,
    pub started_at: String,
    pub started_at_unix: i64,
    pub git_commit: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_url: Option<String>,
    pub nodes: i64,
    pub totals: StoredTotals,
    pub evaluated: i64,
    /// Percent; `None` when nothing was evaluated.
    pub pass_rate: Option<f64>,
    pub regressions: i64,
    pub opened: i64,
    pub fixed: i64,
    pub accepted: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolSeries {
    pub pool: String,
    /// One entry per run of the group (same order); `None` where the pool had no nodes.
    pub points: Vec<Option<PoolPoint>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolPoint {
    pub nodes: i64,
    pub pass: i64,
    pub evaluated: i64,
    pub pass_rate: Option<f64>,
    pub regressions: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixTime {
    pub check_id: String,
    pub title: String,
    pub fixes: usize,
    pub median_seconds: i64,
    pub worst_seconds: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failing {
    pub check_id: String,
    pub title: String,
    pub nodes: usize,
    pub since: String,
    pub since_unix: i64,
    /// From `since` to the latest run.
    pub seconds: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Expiring {
    pub check: String,
    pub reason: String,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub expires: String,
    /// Negative once expired.
    pub days_left: i64,
    pub accepted_results: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub check_id: String,
    pub title: String,
    /// Nodes where the check was a regression, per run of the group.
    pub regressions: Vec<i64>,
    /// Nodes where it failed (FAIL, WARN or ERROR, accepted or not), per run.
    pub failing: Vec<i64>,
}

impl Trend {
    pub fn compute(store: &mut Store, options: &TrendOptions) -> anyhow::Result<Trend> {
        let runs = store.runs(&RunFilter {
            cluster: options.cluster.clone(),
            benchmark: options.benchmark.clone(),
            since: options.since,
        })?;
        let mut grouped: BTreeMap<(String, String), Vec<RunSummary>> = BTreeMap::new();
        for run in runs {
            grouped
                .entry((run.cluster.clone(), run.benchmark.clone()))
                .or_default()
                .push(run);
        }
        let mut groups = Vec::new();
        for ((cluster, benchmark), runs) in grouped {
            groups.push(group_trend(store, cluster, benchmark, runs, options)?);
        }
        Ok(Trend {
            store: store.describe().to_string(),
            today: options.today.to_string(),
            groups,
        })
    }
}

fn rate(pass: i64, evaluated: i64) -> Option<f64> {
    (evaluated > 0).then(|| pass as f64 * 100.0 / evaluated as f64)
}

/// Strings interned to small numbers (node names, check ids).
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, name: String) -> u32 {
        if let Some(id) = self.ids.get(&name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.clone(), id);
        self.names.push(name);
        id
    }
}

fn group_trend(
    store: &mut Store,
    cluster: String,
    benchmark: String,
    runs: Vec<RunSummary>,
    options: &TrendOptions,
) -> anyhow::Result<GroupTrend> {
    let mut nodes = Interner::default();
    let mut checks = Interner::default();
    let mut titles: BTreeMap<u32, String> = BTreeMap::new();
    let mut pools: BTreeMap<String, Vec<Option<PoolPoint>>> = BTreeMap::new();
    let mut timelines: BTreeMap<u32, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut open: HashMap<(u32, u32), i64> = HashMap::new();
    let mut fix_times: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    let mut points = Vec::with_capacity(runs.len());
    for (index, run) in runs.iter().enumerate() {
        let key = [Value::Int(run.run_key)];
        for row in store.db.query(
            "SELECT pool, nodes, pass, fail, warn, info, error, regressions FROM run_pools WHERE run_key = $1",
            &key,
        )? {
            let totals = StoredTotals::from_values(&row[2..7]);
            let series = pools
                .entry(row[0].string())
                .or_insert_with(|| vec![None; runs.len()]);
            series[index] = Some(PoolPoint {
                nodes: row[1].int(),
                pass: totals.pass,
                evaluated: totals.evaluated(),
                pass_rate: rate(totals.pass, totals.evaluated()),
                regressions: row[7].int(),
            });
        }
        let mut ran: HashSet<u32> = HashSet::new();
        for row in store.db.query(
            "SELECT check_id, title, fail, warn, error, regressions FROM run_checks WHERE run_key = $1",
            &key,
        )? {
            let check = checks.id(row[0].string());
            titles.entry(check).or_insert_with(|| row[1].string());
            ran.insert(check);
            let (regressions, failing) = (row[5].int(), row[2].int() + row[3].int() + row[4].int());
            if regressions > 0 || failing > 0 || timelines.contains_key(&check) {
                let entry = timelines
                    .entry(check)
                    .or_insert_with(|| (vec![0; runs.len()], vec![0; runs.len()]));
                entry.0[index] = regressions;
                entry.1[index] = failing;
            }
        }
        let present: HashSet<u32> = store
            .db
            .query("SELECT name FROM nodes WHERE run_key = $1", &key)?
            .into_iter()
            .map(|row| nodes.id(row[0].string()))
            .collect();
        let regressing: HashSet<(u32, u32)> = store
            .db
            .query(
                "SELECT n.name, c.check_id FROM results r \
                 JOIN nodes n ON n.run_key = r.run_key AND n.node_no = r.node_no \
                 JOIN checks c ON c.check_key = r.check_key \
                 WHERE r.run_key = $1 AND r.regression = 1",
                &key,
            )?
            .into_iter()
            .map(|row| (nodes.id(row[0].string()), checks.id(row[1].string())))
            .collect();
        let mut opened = 0;
        for pair in &regressing {
            if !open.contains_key(pair) {
                open.insert(*pair, run.started_at);
                opened += 1;
            }
        }
        let mut fixed = 0;
        open.retain(|pair, started| {
            let ended =
                !regressing.contains(pair) && present.contains(&pair.0) && ran.contains(&pair.1);
            if ended {
                fixed += 1;
                fix_times
                    .entry(pair.1)
                    .or_default()
                    .push(run.started_at - *started);
            }
            !ended
        });
        points.push(RunPoint {
            run_id: run.run_id.clone(),
            started_at: format_time(run.started_at),
            started_at_unix: run.started_at,
            git_commit: run.git_commit.clone(),
            pipeline_id: run.pipeline_id.clone(),
            pipeline_url: run.pipeline_url.clone(),
            nodes: run.nodes,
            totals: run.totals,
            evaluated: run.totals.evaluated(),
            pass_rate: rate(run.totals.pass, run.totals.evaluated()),
            regressions: run.regressions,
            opened,
            fixed,
            accepted: run.accepted,
        });
        if index + 1 == runs.len() {
            // Open episodes of nodes not in the latest run say nothing about it.
            open.retain(|pair, _| regressing.contains(pair));
        }
    }
    let title = |check: u32| titles.get(&check).cloned().unwrap_or_default();
    let time_to_fix = time_to_fix(&fix_times, &checks, &title);
    let failing_longest = failing_longest(&open, &checks, &title, runs.last());
    let expiring = match runs.last() {
        Some(last) => expiring(store, last, options)?,
        None => Vec::new(),
    };
    let mut timelines: Vec<Timeline> = timelines
        .into_iter()
        .map(|(check, (regressions, failing))| Timeline {
            check_id: checks.names[check as usize].clone(),
            title: title(check),
            regressions,
            failing,
        })
        .collect();
    timelines.sort_by(|a, b| crate::results::compare_check_ids(&a.check_id, &b.check_id));
    Ok(GroupTrend {
        cluster,
        benchmark,
        runs: points,
        pools: pools
            .into_iter()
            .map(|(pool, points)| PoolSeries { pool, points })
            .collect(),
        time_to_fix,
        failing_longest,
        expiring,
        timelines,
    })
}

/// The median of sorted durations (the mean of the two middle ones for an even count).
pub fn median(sorted: &[i64]) -> i64 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

fn time_to_fix(
    fix_times: &BTreeMap<u32, Vec<i64>>,
    checks: &Interner,
    title: &impl Fn(u32) -> String,
) -> Vec<FixTime> {
    let mut list: Vec<FixTime> = fix_times
        .iter()
        .map(|(check, durations)| {
            let mut sorted = durations.clone();
            sorted.sort_unstable();
            FixTime {
                check_id: checks.names[*check as usize].clone(),
                title: title(*check),
                fixes: sorted.len(),
                median_seconds: median(&sorted),
                worst_seconds: *sorted.last().unwrap_or(&0),
            }
        })
        .collect();
    list.sort_by(|a, b| {
        b.worst_seconds
            .cmp(&a.worst_seconds)
            .then_with(|| crate::results::compare_check_ids(&a.check_id, &b.check_id))
    });
    list
}

fn failing_longest(
    open: &HashMap<(u32, u32), i64>,
    checks: &Interner,
    title: &impl Fn(u32) -> String,
    last: Option<&RunSummary>,
) -> Vec<Failing> {
    let Some(last) = last else {
        return Vec::new();
    };
    let mut per_check: BTreeMap<u32, (usize, i64)> = BTreeMap::new();
    for ((_, check), started) in open {
        let entry = per_check.entry(*check).or_insert((0, i64::MAX));
        entry.0 += 1;
        entry.1 = entry.1.min(*started);
    }
    let mut list: Vec<Failing> = per_check
        .into_iter()
        .map(|(check, (nodes, since))| Failing {
            check_id: checks.names[check as usize].clone(),
            title: title(check),
            nodes,
            since: format_time(since)[..10].to_string(),
            since_unix: since,
            seconds: last.started_at - since,
        })
        .collect();
    list.sort_by(|a, b| {
        a.since_unix
            .cmp(&b.since_unix)
            .then(b.nodes.cmp(&a.nodes))
            .then_with(|| crate::results::compare_check_ids(&a.check_id, &b.check_id))
    });
    list
}

fn expiring(
    store: &mut Store,
    last: &RunSummary,
    options: &TrendOptions,
) -> anyhow::Result<Vec<Expiring>> {
    let rows = store.db.query(
        "SELECT e.pattern, e.reason, e.owner, e.ticket, e.expires, CAST(COUNT(*) AS BIGINT) \
         FROM results r JOIN exceptions e ON e.exception_key = r.exception_key \
         WHERE r.run_key = $1 AND r.exception_key IS NOT NULL AND r.classification = 'accepted' \
           AND e.expires IS NOT NULL \
         GROUP BY e.pattern, e.reason, e.owner, e.ticket, e.expires",
        &[Value::Int(last.run_key)],
    )?;
    let mut list = Vec::new();
    for row in rows {
        let expires = row[4].string();
        let Ok(date) = expires.parse::<Date>() else {
            continue;
        };
        let days_left = (date - options.today).get_days() as i64;
        if days_left <= options.expiring_within_days {
            list.push(Expiring {
                check: row[0].string(),
                reason: row[1].string(),
                owner: row[2].opt_string(),
                ticket: row[3].opt_string(),
                expires,
                days_left,
                accepted_results: row[5].int(),
            });
        }
    }
    list.sort_by(|a, b| {
        a.expires
            .cmp(&b.expires)
            .then_with(|| a.check.cmp(&b.check))
    });
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[5]), 5);
        assert_eq!(median(&[1, 3, 10]), 3);
        assert_eq!(median(&[1, 3, 5, 10]), 4);
    }
}
