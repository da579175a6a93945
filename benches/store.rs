//! Issue 15: the results store's speed and size.
//! Targets: storing a 10,000-node × 130-check run under 10 s on SQLite and on PostgreSQL,
//! the store growing by much less than the run's JSON; `history report` over 90 nightly runs
//! of 1,000 nodes under 5 s.
//!
//! PostgreSQL is started as in the tests (`tests/support/postgres.rs`, Debian's
//! `postgresql` package). The runs are `tests/support/nightly.rs`'s fleet with 110 more
//! checks per node (130 on workers, 140 on control planes).
//!
//! Run: `cargo bench --bench store`. Exits 1 when a target is missed.

#[path = "../tests/support/nightly.rs"]
mod nightly;
#[path = "../tests/support/postgres.rs"]
mod pg;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use cisgate::store::trend::{Trend, TrendOptions};
use cisgate::store::{trend_report, RunMeta, Store};

const EXTRA_CHECKS: usize = 110;

fn meta(run_id: String, started_at: i64) -> RunMeta {
    RunMeta {
        run_id,
        started_at: jiff::Timestamp::from_second(started_at).unwrap(),
        cluster: "bench".into(),
        git_commit: None,
        pipeline_id: None,
        pipeline_url: None,
    }
}

struct Row {
    what: String,
    seconds: f64,
    limit: f64,
}

fn main() {
    // `cargo test --benches` / `--all-targets` runs this binary without `--bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("store is a benchmark: run it with `cargo bench --bench store`");
        return;
    }
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("history.db").display().to_string();
    let postgres = pg::fresh_database();

    let big = nightly::night_with(20, 10_000, EXTRA_CHECKS);
    let results_count = big.checks().count();
    let json_size = serde_json::to_vec(&big).unwrap().len();
    println!(
        "a run of {} nodes, {results_count} results, {:.1} MB of JSON",
        big.nodes.len(),
        json_size as f64 / 1e6
    );

    let mut stores = vec![("SQLite", sqlite.clone())];
    if let Some(url) = &postgres {
        stores.push(("PostgreSQL", url.clone()));
    }
    for (name, url) in &stores {
        let mut store = Store::open(url).unwrap();
        let before = store_size(&mut store, url);
        let started = Instant::now();
        store
            .write_run(&meta("big".into(), nightly::night_time(0)), &big)
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let grown = store_size(&mut store, url) - before;
        println!(
            "{name}: stored in {seconds:.2} s; the store grew by {:.1} MB ({:.0}% of the JSON)",
            grown as f64 / 1e6,
            grown as f64 * 100.0 / json_size as f64
        );
        rows.push(Row {
            what: format!("store 10,000 nodes × 130 checks ({name})"),
            seconds,
            limit: 10.0,
        });
        // A second night: only the rows are new, the evidence is stored already.
        let next = nightly::night_with(21, 10_000, EXTRA_CHECKS);
        let before = store_size(&mut store, url);
        let started = Instant::now();
        store
            .write_run(&meta("big-2".into(), nightly::night_time(1)), &next)
            .unwrap();
        let grown = store_size(&mut store, url) - before;
        println!(
            "{name}: the next night in {:.2} s, +{:.1} MB",
            started.elapsed().as_secs_f64(),
            grown as f64 / 1e6
        );
    }

    for (name, url) in &stores {
        let url = format!("{url}-report");
        let url = if name == &"SQLite" {
            url
        } else {
            pg::fresh_database().unwrap()
        };
        let mut store = Store::open(&url).unwrap();
        let started = Instant::now();
        for run in 0..90 {
            let results = nightly::night_with(run % 30, 1_000, EXTRA_CHECKS);
            store
                .write_run(
                    &meta(format!("night-{run}"), nightly::night_time(run)),
                    &results,
                )
                .unwrap();
        }
        println!(
            "{name}: 90 runs of 1,000 nodes stored in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let trend = Trend::compute(
            &mut store,
            &TrendOptions {
                cluster: None,
                benchmark: None,
                since: None,
                today: jiff::civil::date(2027, 1, 29),
                expiring_within_days: 14,
            },
        )
        .unwrap();
        let html = trend_report::html(&trend, 14, false).unwrap();
        let _ = trend_report::markdown(&trend);
        let _ = trend_report::json(&trend).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name}: report over 90 runs in {seconds:.2} s ({} KB of HTML)",
            html.len() / 1024
        );
        rows.push(Row {
            what: format!("history report, 90 runs × 1,000 nodes ({name})"),
            seconds,
            limit: 5.0,
        });
    }

    println!("\n| measurement | seconds | target |\n|---|---:|---:|");
    let mut missed = false;
    for row in &rows {
        let ok = row.seconds < row.limit;
        missed |= !ok;
        println!(
            "| {} | {:.2} | < {} {} |",
            row.what,
            row.seconds,
            row.limit,
            if ok { "✔" } else { "✖ MISSED" }
        );
    }
    if postgres.is_none() {
        println!("PostgreSQL: NOT MEASURED (server programs missing)");
    }
    if missed {
        std::process::exit(1);
    }
}

/// Bytes the store takes: the SQLite file and its WAL, or the PostgreSQL database.
fn store_size(store: &mut Store, url: &str) -> i64 {
    if cisgate::store::is_postgres_url(url) {
        let rows = store
            .db()
            .query(
                "SELECT CAST(pg_database_size(current_database()) AS BIGINT)",
                &[],
            )
            .unwrap();
        rows[0][0].int()
    } else {
        store.db().batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        std::fs::metadata(url).map(|m| m.len() as i64).unwrap_or(0)
    }
}
