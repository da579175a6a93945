//! The results store, the same suite against a real SQLite file (in a temp dir) and a real
//! PostgreSQL server (started by `support::postgres` on a loopback port).

#[path = "support/nightly.rs"]
mod nightly;
#[path = "support/postgres.rs"]
mod pg;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cisgate::results::State;
use cisgate::store::read::RunFilter;
use cisgate::store::trend::{Trend, TrendOptions};
use cisgate::store::{RunMeta, SchemaTooNew, Store, Written, LATEST_VERSION};
use jiff::Timestamp;

/// A store for one test: a SQLite file in `dir`, or a fresh PostgreSQL database.
fn sqlite_url(dir: &Path) -> String {
    dir.join("history.db").display().to_string()
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(&super::sqlite_url(dir.path()), 2);
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                let Some(url) = super::pg::fresh_database() else { return };
                super::$name(&url, 8);
            })*
        }
    };
}

on_both_backends!(
    a_run_reads_back_as_it_was_stored,
    writing_a_run_id_again_changes_nothing,
    evidence_a_fleet_repeats_is_stored_once,
    the_last_run_is_of_the_same_cluster_and_benchmark,
    pruning_deletes_old_runs_and_what_only_they_used,
    a_newer_store_is_refused_with_a_clear_message,
    a_store_of_the_first_schema_is_upgraded_and_read,
    concurrent_writers_lose_nothing,
    a_killed_writer_leaves_the_store_as_before,
    thirty_nights_give_the_trend_the_inputs_say,
);

fn meta(run_id: &str, cluster: &str, started_at: i64) -> RunMeta {
    RunMeta {
        run_id: run_id.into(),
        started_at: Timestamp::from_second(started_at).unwrap(),
        cluster: cluster.into(),
        git_commit: Some("0123456789abcdef".into()),
        pipeline_id: Some("77".into()),
        pipeline_url: Some("https://ci.example/pipelines/77".into()),
    }
}

/// Row counts of every table: "the store as it was".
fn table_counts(store: &mut Store) -> BTreeMap<&'static str, i64> {
    [
        "runs",
        "blobs",
        "checks",
        "exceptions",
        "nodes",
        "results",
        "run_checks",
        "run_pools",
        "cisgate_schema",
    ]
    .into_iter()
    .map(|table| {
        let rows = store
            .db()
            .query(
                &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"),
                &[],
            )
            .unwrap();
        (table, rows[0][0].int())
    })
    .collect()
}

fn a_run_reads_back_as_it_was_stored(url: &str, _writers: usize) {
    let mut results = support::generated_fleet(12, 40);
    // Texts that need escaping on their way through COPY and SQL.
    results.nodes[0].sections[0].groups[0].checks[0]
        .evidence
        .actual = "tab\there\nnew line \\ backslash 'quote' \"double\" ünïcødé".into();
    // A fleet that mixes platforms and benchmarks.
    results.nodes[1].node.benchmark = Some("eks-1.8.0".into());
    results.nodes[1].node.distribution = Some(cisgate::results::PlatformInfo {
        name: "eks".into(),
        title: "Amazon EKS".into(),
        managed_control_plane: true,
        evidence: vec!["/etc/eks/release exists".into()],
    });
    results.benchmarks = vec![results.benchmark.clone(), results.benchmark.clone()];
    results.benchmarks[1].name = "eks-1.8.0".into();
    let mut store = Store::open(url).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_VERSION);
    let meta = meta("run-1", "prod", 1_790_000_000);
    assert_eq!(store.write_run(&meta, &results).unwrap(), Written::Stored);
    let summary = store.find_run("run-1").unwrap().expect("stored");
    assert_eq!(summary.cluster, "prod");
    assert_eq!(summary.benchmark, "cis-1.12");
    assert_eq!(summary.git_commit.as_deref(), Some("0123456789abcdef"));
    assert_eq!(summary.nodes, 12);
    assert_eq!(summary.totals.pass as usize, results.totals.pass);
    assert_eq!(summary.totals.fail as usize, results.totals.fail);
    assert_eq!(summary.regressions as usize, results.gate.regressions);
    let loaded = store.load_run(&summary).unwrap();
    assert_eq!(loaded, results, "the stored run reads back unchanged");
}

fn writing_a_run_id_again_changes_nothing(url: &str, _writers: usize) {
    let results = nightly::night(3, 20);
    let mut store = Store::open(url).unwrap();
    let meta = meta("nightly-3", "prod", nightly::night_time(3));
    assert_eq!(store.write_run(&meta, &results).unwrap(), Written::Stored);
    let before = table_counts(&mut store);
    // Even with other content under the same id: the first write stands.
    let other = nightly::night(4, 20);
    assert_eq!(
        store.write_run(&meta, &other).unwrap(),
        Written::AlreadyStored
    );
    assert_eq!(table_counts(&mut store), before);
    let summary = store.find_run("nightly-3").unwrap().unwrap();
    assert_eq!(store.load_run(&summary).unwrap(), results);
}

fn evidence_a_fleet_repeats_is_stored_once(url: &str, _writers: usize) {
    let results = nightly::night(5, 200);
    let mut store = Store::open(url).unwrap();
    store
        .write_run(&meta("n5", "prod", nightly::night_time(5)), &results)
        .unwrap();
    let counts = table_counts(&mut store);
    let result_count = results.checks().count() as i64;
    assert_eq!(counts["results"], result_count);
    // Distinct details: (reason, evidence, location) per check id and failing or not.
    let distinct: std::collections::BTreeSet<String> = results
        .checks()
        .map(|(_, _, c)| serde_json::to_string(&(&c.reason, &c.evidence, &c.location)).unwrap())
        .collect();
    let distinct_remediations: std::collections::BTreeSet<&str> = results
        .checks()
        .map(|(_, _, c)| c.remediation.as_str())
        .collect();
    assert_eq!(
        counts["blobs"],
        distinct.len() as i64 + distinct_remediations.len() as i64 + 1,
        "one blob per distinct detail and remediation, plus the run summary"
    );
    assert!(counts["blobs"] * 20 < result_count, "{counts:?}");
    assert_eq!(counts["exceptions"], 1);
    assert_eq!(
        counts["checks"], 30,
        "10 control-plane and 20 node check definitions"
    );
}

fn the_last_run_is_of_the_same_cluster_and_benchmark(url: &str, _writers: usize) {
    let mut store = Store::open(url).unwrap();
    assert!(store.last_run("prod", "cis-1.12").unwrap().is_none());
    let results = nightly::night(1, 5);
    let mut other_benchmark = nightly::night(1, 5);
    other_benchmark.benchmark.name = "eks-1.8.0".into();
    store.write_run(&meta("a", "prod", 100), &results).unwrap();
    store.write_run(&meta("b", "prod", 300), &results).unwrap();
    store
        .write_run(&meta("c", "staging", 500), &results)
        .unwrap();
    store
        .write_run(&meta("d", "prod", 700), &other_benchmark)
        .unwrap();
    store.write_run(&meta("e", "prod", 200), &results).unwrap();
    assert_eq!(
        store.last_run("prod", "cis-1.12").unwrap().unwrap().run_id,
        "b"
    );
    assert_eq!(
        store
            .last_run("staging", "cis-1.12")
            .unwrap()
            .unwrap()
            .run_id,
        "c"
    );
    assert_eq!(
        store.last_run("prod", "eks-1.8.0").unwrap().unwrap().run_id,
        "d"
    );
    let ids: Vec<String> = store
        .runs(&RunFilter {
            cluster: Some("prod".into()),
            benchmark: Some("cis-1.12".into()),
            since: Some(150),
        })
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(ids, ["e", "b"]);
}

fn pruning_deletes_old_runs_and_what_only_they_used(url: &str, _writers: usize) {
    let mut store = Store::open(url).unwrap();
    let mut old = nightly::night(0, 10);
    // Evidence only the old run has.
    old.nodes[0].sections[0].groups[0].checks[0].evidence.actual = "only in the old run".into();
    let new = nightly::night(1, 10);
    store.write_run(&meta("old", "prod", 1_000), &old).unwrap();
    let only_new_counts = {
        let dir = tempfile::tempdir().unwrap();
        let mut reference = Store::open(&sqlite_url(dir.path())).unwrap();
        reference
            .write_run(&meta("new", "prod", 2_000), &new)
            .unwrap();
        table_counts(&mut reference)
    };
    store.write_run(&meta("new", "prod", 2_000), &new).unwrap();
    assert_eq!(store.prune_before(1_500).unwrap(), 1);
    assert_eq!(store.prune_before(1_500).unwrap(), 0);
    let mut counts = table_counts(&mut store);
    counts.remove("cisgate_schema");
    let mut expected = only_new_counts;
    expected.remove("cisgate_schema");
    assert_eq!(
        counts, expected,
        "the store holds what the new run alone would"
    );
    let summary = store.find_run("new").unwrap().unwrap();
    assert_eq!(store.load_run(&summary).unwrap(), new);
    assert!(store.find_run("old").unwrap().is_none());
}

fn a_newer_store_is_refused_with_a_clear_message(url: &str, _writers: usize) {
    let mut store = Store::open(url).unwrap();
    store
        .db()
        .exec(
            "INSERT INTO cisgate_schema (version, cisgate_version, migrated_at) VALUES ($1, '99.0.0', 0)",
            &[cisgate::store::db::Value::Int(i64::from(LATEST_VERSION) + 1)],
        )
        .unwrap();
    drop(store);
    let error = Store::open(url).err().expect("a newer store is refused");
    let too_new = error.downcast_ref::<SchemaTooNew>().expect("SchemaTooNew");
    assert_eq!(too_new.found, LATEST_VERSION + 1);
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("schema version {}", LATEST_VERSION + 1))
            && message.contains("newer cisgate"),
        "{message}"
    );
    // The binary says so too, and exits 2.
    let output = Command::new(env!("CARGO_BIN_EXE_cisgate"))
        .args(["history", "runs", "--store", url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a newer cisgate wrote to it"), "{stderr}");
}

fn a_store_of_the_first_schema_is_upgraded_and_read(url: &str, _writers: usize) {
    let mut store = Store::open_at(url, 1).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
    let fixture = std::fs::read_to_string(
        support::repo_root().join("tests/fixtures/store/schema-v1-run.sql"),
    )
    .unwrap();
    store.db().batch(&fixture).unwrap();
    drop(store);
    let mut store = Store::open(url).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_VERSION);
    let summary = store
        .find_run("v1-run")
        .unwrap()
        .expect("the v1 run is there");
    let results = store.load_run(&summary).unwrap();
    assert_eq!(results.nodes.len(), 2);
    assert_eq!(results.nodes[0].node.name, "cp-1");
    let states: Vec<(String, State)> = results
        .checks()
        .map(|(n, _, c)| (format!("{}/{}", n.node.name, c.id), c.state))
        .collect();
    assert_eq!(
        states,
        [
            ("cp-1/1.1.1".to_string(), State::Pass),
            ("cp-1/1.1.2".to_string(), State::Fail),
            ("worker-1/4.1.1".to_string(), State::Fail),
        ]
    );
    let accepted = results.checks().nth(2).unwrap().2.baseline.clone().unwrap();
    assert_eq!(accepted.exception.unwrap().reason, "vendor default");
    // The pools were backfilled from the roles.
    let pools = store
        .db()
        .query(
            "SELECT pool, nodes, pass, fail, regressions FROM run_pools ORDER BY pool",
            &[],
        )
        .unwrap();
    let pools: Vec<(String, i64, i64, i64, i64)> = pools
        .iter()
        .map(|r| {
            (
                r[0].string(),
                r[1].int(),
                r[2].int(),
                r[3].int(),
                r[4].int(),
            )
        })
        .collect();
    assert_eq!(
        pools,
        [
            ("control-plane".into(), 1, 1, 1, 1),
            ("none".into(), 1, 0, 1, 0)
        ]
    );
    // And the upgraded store takes new runs and reports over both.
    store
        .write_run(
            &meta("after-upgrade", "prod", 1_793_600_000),
            &nightly::night(0, 3),
        )
        .unwrap();
    let trend = Trend::compute(&mut store, &trend_options(None)).unwrap();
    assert_eq!(trend.groups.len(), 1);
    assert_eq!(trend.groups[0].runs.len(), 2);
    assert_eq!(trend.groups[0].runs[0].regressions, 1);
}

fn trend_options(cluster: Option<&str>) -> TrendOptions {
    TrendOptions {
        cluster: cluster.map(str::to_string),
        benchmark: None,
        since: None,
        today: jiff::civil::date(2026, 11, 30),
        expiring_within_days: 14,
    }
}

fn concurrent_writers_lose_nothing(url: &str, writers: usize) {
    // Create the schema in parallel too: every writer opens a fresh store at once.
    let runs_per_writer = 3;
    let handles: Vec<_> = (0..writers)
        .map(|writer| {
            let url = url.to_string();
            std::thread::spawn(move || {
                let mut store = Store::open(&url).unwrap();
                let mut written = Vec::new();
                for run in 0..runs_per_writer {
                    let night = writer * runs_per_writer + run;
                    let results = nightly::night(night % 30, 40);
                    let id = format!("w{writer}-r{run}");
                    let outcome = store
                        .write_run(&meta(&id, "prod", nightly::night_time(night)), &results)
                        .unwrap();
                    written.push((id, outcome, results.checks().count()));
                    // Every writer also writes one shared run id: stored exactly once.
                    if run == 1 {
                        store
                            .write_run(&meta("shared", "prod", 1), &nightly::night(0, 40))
                            .unwrap();
                    }
                }
                written
            })
        })
        .collect();
    let mut expected = Vec::new();
    for handle in handles {
        expected.extend(handle.join().expect("writer thread"));
    }
    let mut store = Store::open(url).unwrap();
    for (id, outcome, checks) in &expected {
        assert_eq!(*outcome, Written::Stored, "{id}");
        let summary = store.find_run(id).unwrap().expect("every run is stored");
        let loaded = store.load_run(&summary).unwrap();
        assert_eq!(loaded.checks().count(), *checks, "{id}");
    }
    let all = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(all.len(), writers * runs_per_writer + 1);
    let shared = store.find_run("shared").unwrap().unwrap();
    assert_eq!(store.load_run(&shared).unwrap(), nightly::night(0, 40));
}

fn a_killed_writer_leaves_the_store_as_before(url: &str, _writers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(url).unwrap();
    store
        .write_run(&meta("before", "prod", 1_000), &nightly::night(2, 50))
        .unwrap();
    let before = table_counts(&mut store);
    let runs_before = store.runs(&RunFilter::default()).unwrap();
    drop(store);
    let results = dir.path().join("results.json");
    std::fs::write(
        &results,
        serde_json::to_vec(&nightly::night(9, 200)).unwrap(),
    )
    .unwrap();
    let marker = dir.path().join("stalled");
    let mut writer = Command::new(env!("CARGO_BIN_EXE_cisgate"))
        .args(["history", "import", "--cluster", "prod", "--store", url])
        .arg(&results)
        .env(cisgate::store::write::STALL_BEFORE_COMMIT, &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        if let Ok(Some(status)) = writer.try_wait() {
            panic!("the writer ended before committing: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the writer never reached its commit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every row of the run is written, the commit not yet: kill it there.
    writer.kill().unwrap();
    writer.wait().unwrap();
    let mut store = Store::open(url).unwrap();
    assert_eq!(table_counts(&mut store), before);
    assert_eq!(store.runs(&RunFilter::default()).unwrap(), runs_before);
    // The same import, not killed, stores the run (nothing half-written is in its way).
    let status = Command::new(env!("CARGO_BIN_EXE_cisgate"))
        .args([
            "history",
            "import",
            "--quiet",
            "--cluster",
            "prod",
            "--store",
            url,
        ])
        .arg(&results)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(store.runs(&RunFilter::default()).unwrap().len(), 2);
}

/// The numbers the trend report must show, computed from [`nightly::INCIDENTS`] alone.
fn thirty_nights_give_the_trend_the_inputs_say(url: &str, _writers: usize) {
    const NIGHTS: usize = 30;
    const NODES: usize = 200;
    let mut store = Store::open(url).unwrap();
    let mut inputs = Vec::new();
    for night in 0..NIGHTS {
        let results = nightly::night(night, NODES);
        store
            .write_run(
                &meta(
                    &format!("night-{night:02}"),
                    "prod",
                    nightly::night_time(night),
                ),
                &results,
            )
            .unwrap();
        inputs.push(results);
    }
    // Another cluster's runs must not mix in.
    store
        .write_run(
            &meta("other", "staging", nightly::night_time(3)),
            &nightly::night(0, 3),
        )
        .unwrap();
    let trend = Trend::compute(&mut store, &trend_options(Some("prod"))).unwrap();
    assert_eq!(trend.groups.len(), 1);
    let group = &trend.groups[0];
    assert_eq!(
        (group.cluster.as_str(), group.benchmark.as_str()),
        ("prod", "cis-1.12")
    );
    assert_eq!(group.runs.len(), NIGHTS);
    for (night, (point, results)) in group.runs.iter().zip(&inputs).enumerate() {
        let count = |state: State| {
            results
                .checks()
                .filter(|(_, _, c)| c.state == state)
                .count() as i64
        };
        let evaluated = results.checks().count() as i64 - count(State::Info);
        let expected_rate = count(State::Pass) as f64 * 100.0 / evaluated as f64;
        assert_eq!(point.evaluated, evaluated, "night {night}");
        assert!(
            (point.pass_rate.unwrap() - expected_rate).abs() < 1e-9,
            "night {night}"
        );
        let active = |incident: &nightly::Incident| {
            incident
                .nodes
                .clone()
                .filter(|n| nightly::present(*n, night))
                .filter(|_| night >= incident.open && incident.fixed.is_none_or(|f| night < f))
                .count() as i64
        };
        let expected_regressions: i64 = nightly::INCIDENTS.iter().map(active).sum();
        let opened: i64 = nightly::INCIDENTS
            .iter()
            .filter(|i| i.open == night)
            .map(|i| i.nodes.len() as i64)
            .sum();
        let fixed: i64 = nightly::INCIDENTS
            .iter()
            .filter(|i| i.fixed == Some(night))
            .map(|i| i.nodes.len() as i64)
            .sum();
        let workers = (3..NODES).filter(|n| nightly::present(*n, night)).count() as i64;
        assert_eq!(
            (point.regressions, point.opened, point.fixed, point.accepted),
            (expected_regressions, opened, fixed, workers),
            "night {night}: regressions, opened, fixed, accepted"
        );
        assert_eq!(point.started_at_unix, nightly::night_time(night));
    }
    // Time to fix per check: from the incidents' nights.
    let mut durations: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for incident in nightly::INCIDENTS {
        if let Some(fixed) = incident.fixed {
            for _ in incident.nodes.clone() {
                durations
                    .entry(incident.check)
                    .or_default()
                    .push((fixed - incident.open) as i64 * 86_400);
            }
        }
    }
    let reported: BTreeMap<&str, (usize, i64, i64)> = group
        .time_to_fix
        .iter()
        .map(|f| {
            (
                f.check_id.as_str(),
                (f.fixes, f.median_seconds, f.worst_seconds),
            )
        })
        .collect();
    let expected: BTreeMap<&str, (usize, i64, i64)> = durations
        .iter_mut()
        .map(|(check, list)| {
            list.sort_unstable();
            let n = list.len();
            let median = if n % 2 == 1 {
                list[n / 2]
            } else {
                (list[n / 2 - 1] + list[n / 2]) / 2
            };
            (*check, (n, median, *list.last().unwrap()))
        })
        .collect();
    assert_eq!(reported, expected);
    // Two of the numbers spelled out, so the expectation itself is checked.
    assert_eq!(expected["4.2.9"], (10, 4 * 86_400, 6 * 86_400));
    assert_eq!(expected["4.2.8"], (1, 6 * 86_400, 6 * 86_400));
    // Failing longest: the incidents still open at the end.
    let failing: Vec<(&str, usize, &str)> = group
        .failing_longest
        .iter()
        .map(|f| (f.check_id.as_str(), f.nodes, f.since.as_str()))
        .collect();
    assert_eq!(failing, [("4.2.7", 20, "2026-11-21")]);
    assert_eq!(group.failing_longest[0].seconds, 9 * 86_400);
    // The per-check timeline of the open incident.
    let timeline = group
        .timelines
        .iter()
        .find(|t| t.check_id == "4.2.7")
        .unwrap();
    let expected_timeline: Vec<i64> = (0..NIGHTS).map(|n| if n >= 20 { 20 } else { 0 }).collect();
    assert_eq!(timeline.regressions, expected_timeline);
    // The accepted exception expires 5 days after the report date.
    assert_eq!(group.expiring.len(), 1);
    let expiring = &group.expiring[0];
    assert_eq!(
        (
            expiring.check.as_str(),
            expiring.expires.as_str(),
            expiring.days_left
        ),
        ("4.2.2", nightly::ACCEPTED_EXPIRES, 5)
    );
    assert_eq!(expiring.accepted_results, (NODES - 3) as i64);
    // Pools: control planes and workers, each with its own pass rate.
    let pools: Vec<&str> = group.pools.iter().map(|p| p.pool.as_str()).collect();
    assert_eq!(pools, ["control-plane", "worker"]);
    let last = inputs.last().unwrap();
    let worker_checks = last
        .nodes
        .iter()
        .filter(|n| n.node.roles == ["worker"])
        .flat_map(|n| {
            n.sections
                .iter()
                .flat_map(|s| s.groups.iter().flat_map(|g| g.checks.iter()))
        });
    let (mut pass, mut evaluated) = (0i64, 0i64);
    for check in worker_checks {
        pass += i64::from(check.state == State::Pass);
        evaluated += i64::from(check.state != State::Info);
    }
    let worker_point = group.pools[1].points[NIGHTS - 1].as_ref().unwrap();
    assert_eq!(
        (worker_point.pass, worker_point.evaluated),
        (pass, evaluated)
    );
}
