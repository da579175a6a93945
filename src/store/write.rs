//! Storing a run: one transaction, idempotent per run id, pruning old runs.

use anyhow::Context;

use super::db::{Db, OnConflict, Value};
use super::rows::{self, Flat};
use super::{RunMeta, Store};
use crate::results::RunResults;

/// Result rows sent to the database at once.
const CHUNK: usize = 20_000;

/// PostgreSQL advisory lock: writers hold it shared, `prune` exclusively, so pruning never
/// deletes a stored text that a concurrent writer is about to refer to.
const WRITE_LOCK: i64 = 0x6369_7377;

/// What [`Store::write_run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The run was stored.
    Stored,
    /// A run with this id was already stored; nothing changed.
    AlreadyStored,
}

/// Test hook: when this variable names a file, the writer creates it once every row is
/// written and waits before committing (the tests kill it there).
#[doc(hidden)]
pub const STALL_BEFORE_COMMIT: &str = "CISGATE_TEST_STALL_BEFORE_COMMIT";

impl Store {
    /// Stores a run in one transaction. A run id that is already stored changes nothing
    /// (also when two writers store it at once).
    pub fn write_run(&mut self, meta: &RunMeta, results: &RunResults) -> anyhow::Result<Written> {
        let flat = Flat::build(meta, results, jiff::Timestamp::now().as_second())?;
        let db = &mut self.db;
        db.begin()?;
        match write_in_transaction(db, &flat) {
            Ok(Written::Stored) => {
                stall_if_asked();
                db.commit()
                    .with_context(|| format!("committing run {}", meta.run_id))?;
                Ok(Written::Stored)
            }
            Ok(Written::AlreadyStored) => {
                db.rollback();
                Ok(Written::AlreadyStored)
            }
            Err(error) => {
                db.rollback();
                Err(error.context(format!("storing run {}", meta.run_id)))
            }
        }
    }

    /// Deletes the runs that started before `cutoff` (Unix seconds) and every stored text
    /// no remaining run refers to. Returns how many runs were deleted.
    pub fn prune_before(&mut self, cutoff: i64) -> anyhow::Result<u64> {
        let db = &mut self.db;
        db.begin()?;
        match prune_in_transaction(db, cutoff) {
            Ok(count) => {
                db.commit()?;
                Ok(count)
            }
            Err(error) => {
                db.rollback();
                Err(error)
            }
        }
    }
}

fn write_in_transaction(db: &mut Db, flat: &Flat) -> anyhow::Result<Written> {
    if db.is_postgres() {
        db.exec(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[Value::Int(WRITE_LOCK)],
        )?;
    }
    // The run row first: a concurrent writer of the same run id waits here for us, then
    // finds it stored.
    let placeholders: Vec<String> = (1..=rows::RUN_COLUMNS.len())
        .map(|i| format!("${i}"))
        .collect();
    let inserted = db.exec(
        &format!(
            "INSERT INTO runs ({}) VALUES ({}) ON CONFLICT DO NOTHING",
            rows::RUN_COLUMNS.join(", "),
            placeholders.join(", ")
        ),
        &flat.run,
    )?;
    if inserted == 0 {
        return Ok(Written::AlreadyStored);
    }
    db.insert("blobs", rows::BLOB_COLUMNS, &flat.blobs, OnConflict::Ignore)?;
    db.insert(
        "checks",
        rows::CHECK_COLUMNS,
        &flat.checks,
        OnConflict::Ignore,
    )?;
    db.insert(
        "exceptions",
        rows::EXCEPTION_COLUMNS,
        &flat.exceptions,
        OnConflict::Ignore,
    )?;
    db.insert("nodes", rows::NODE_COLUMNS, &flat.nodes, OnConflict::Fail)?;
    for chunk in flat.result_chunks(CHUNK) {
        db.insert("results", rows::RESULT_COLUMNS, &chunk, OnConflict::Fail)?;
    }
    db.insert(
        "run_checks",
        rows::RUN_CHECK_COLUMNS,
        &flat.run_checks,
        OnConflict::Fail,
    )?;
    db.insert(
        "run_pools",
        rows::RUN_POOL_COLUMNS,
        &flat.run_pools,
        OnConflict::Fail,
    )?;
    Ok(Written::Stored)
}

fn stall_if_asked() {
    if let Some(marker) = std::env::var_os(STALL_BEFORE_COMMIT) {
        let _ = std::fs::write(&marker, b"stalled before commit\n");
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
}

fn prune_in_transaction(db: &mut Db, cutoff: i64) -> anyhow::Result<u64> {
    if db.is_postgres() {
        db.exec(
            "SELECT pg_advisory_xact_lock($1)",
            &[Value::Int(WRITE_LOCK)],
        )?;
    }
    let old = "SELECT run_key FROM runs WHERE started_at < $1";
    let cutoff = [Value::Int(cutoff)];
    for table in ["results", "nodes", "run_checks", "run_pools"] {
        db.exec(
            &format!("DELETE FROM {table} WHERE run_key IN ({old})"),
            &cutoff,
        )?;
    }
    let deleted = db.exec("DELETE FROM runs WHERE started_at < $1", &cutoff)?;
    if deleted > 0 {
        db.batch(
            "DELETE FROM checks WHERE check_key NOT IN (SELECT DISTINCT check_key FROM results);
             DELETE FROM exceptions WHERE exception_key NOT IN
                 (SELECT DISTINCT exception_key FROM results WHERE exception_key IS NOT NULL);
             DELETE FROM blobs WHERE blob_key NOT IN (SELECT DISTINCT detail_blob FROM results)
                 AND blob_key NOT IN (SELECT summary_blob FROM runs)
                 AND blob_key NOT IN (SELECT remediation_blob FROM checks);",
        )?;
    }
    Ok(deleted)
}
