//! The store's schema: one for SQLite and PostgreSQL (portable SQL, `BIGINT` and `TEXT`
//! columns only), versioned. [`migrate`] runs on every open: it applies the migrations the
//! store has not seen yet, in one transaction, under a lock so that concurrent first opens
//! do not race; a store whose version is newer than this binary knows is refused.
//!
//! Keys of content (texts, evidence, check definitions, exceptions, runs) are the first 8
//! bytes of the SHA-256 of the content, so that every writer computes the same key for
//! the same value without asking the database, and a fleet's repeated evidence is one row.

use super::db::{Db, Value};

/// Migrations, in order; version N is `MIGRATIONS[N - 1]`. Never edit a released one:
/// add the next.
pub const MIGRATIONS: &[&str] = &[V1, V2];

pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// The first schema.
const V1: &str = "
CREATE TABLE runs (
    run_key BIGINT PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    started_at BIGINT NOT NULL,
    stored_at BIGINT NOT NULL,
    cluster TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    cisgate_version TEXT NOT NULL,
    git_commit TEXT,
    pipeline_id TEXT,
    pipeline_url TEXT,
    summary_blob BIGINT NOT NULL,
    nodes BIGINT NOT NULL,
    pass BIGINT NOT NULL,
    fail BIGINT NOT NULL,
    warn BIGINT NOT NULL,
    info BIGINT NOT NULL,
    error BIGINT NOT NULL,
    regressions BIGINT NOT NULL,
    accepted BIGINT NOT NULL
);
CREATE INDEX runs_by_cluster ON runs (cluster, benchmark, started_at);
CREATE TABLE blobs (
    blob_key BIGINT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE checks (
    check_key BIGINT PRIMARY KEY,
    check_id TEXT NOT NULL,
    title TEXT NOT NULL,
    section_id TEXT NOT NULL,
    section_text TEXT NOT NULL,
    section_version TEXT NOT NULL,
    target TEXT NOT NULL,
    group_id TEXT NOT NULL,
    group_text TEXT NOT NULL,
    scored BIGINT NOT NULL,
    check_type TEXT NOT NULL,
    remediation_blob BIGINT NOT NULL
);
CREATE TABLE exceptions (
    exception_key BIGINT PRIMARY KEY,
    pattern TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires TEXT,
    owner TEXT,
    ticket TEXT,
    line BIGINT NOT NULL,
    expired BIGINT NOT NULL
);
CREATE TABLE nodes (
    run_key BIGINT NOT NULL,
    node_no BIGINT NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    kubernetes_version TEXT,
    platform TEXT,
    source TEXT NOT NULL,
    PRIMARY KEY (run_key, node_no)
);
CREATE TABLE results (
    run_key BIGINT NOT NULL,
    node_no BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    check_key BIGINT NOT NULL,
    state TEXT NOT NULL,
    classification TEXT,
    exception_key BIGINT,
    regression BIGINT NOT NULL,
    change TEXT,
    detail_blob BIGINT NOT NULL,
    PRIMARY KEY (run_key, node_no, seq)
);
CREATE INDEX results_regressions ON results (run_key) WHERE regression = 1;
CREATE INDEX results_exceptions ON results (run_key, exception_key) WHERE exception_key IS NOT NULL;
CREATE TABLE run_checks (
    run_key BIGINT NOT NULL,
    check_id TEXT NOT NULL,
    title TEXT NOT NULL,
    pass BIGINT NOT NULL,
    fail BIGINT NOT NULL,
    warn BIGINT NOT NULL,
    info BIGINT NOT NULL,
    error BIGINT NOT NULL,
    regressions BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    PRIMARY KEY (run_key, check_id)
);
";

/// Node pools: each node row gets its pool (its roles as recorded, joined with `,`, or
/// `none`), and each run a per-pool rollup, backfilled from the stored results. Nodes also
/// get the benchmark they ran and the platform recognised on them (a fleet may mix them).
const V2: &str = "
ALTER TABLE nodes ADD COLUMN pool TEXT NOT NULL DEFAULT 'none';
UPDATE nodes SET pool = roles WHERE roles <> '';
ALTER TABLE nodes ADD COLUMN benchmark TEXT;
ALTER TABLE nodes ADD COLUMN distribution TEXT;
CREATE TABLE run_pools (
    run_key BIGINT NOT NULL,
    pool TEXT NOT NULL,
    nodes BIGINT NOT NULL,
    pass BIGINT NOT NULL,
    fail BIGINT NOT NULL,
    warn BIGINT NOT NULL,
    info BIGINT NOT NULL,
    error BIGINT NOT NULL,
    regressions BIGINT NOT NULL,
    PRIMARY KEY (run_key, pool)
);
INSERT INTO run_pools (run_key, pool, nodes, pass, fail, warn, info, error, regressions)
SELECT n.run_key, n.pool,
       COUNT(DISTINCT n.node_no),
       SUM(CASE WHEN r.state = 'PASS' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.state = 'FAIL' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.state = 'WARN' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.state = 'INFO' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.state = 'ERROR' THEN 1 ELSE 0 END),
       SUM(r.regression)
FROM nodes n JOIN results r ON r.run_key = n.run_key AND r.node_no = n.node_no
GROUP BY n.run_key, n.pool;
";

/// The table that records which migrations ran.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS cisgate_schema (
    version BIGINT PRIMARY KEY,
    cisgate_version TEXT NOT NULL,
    migrated_at BIGINT NOT NULL
)";

/// PostgreSQL advisory lock held while migrating (an arbitrary constant: "cisg").
const MIGRATION_LOCK: i64 = 0x6369_7367;

/// A store written by a newer cisgate than this one.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store has schema version {found}, but this cisgate ({binary}) knows versions up to \
     {supported}: a newer cisgate wrote to it; use that version (or newer) to read or write it"
)]
pub struct SchemaTooNew {
    pub found: u32,
    pub supported: u32,
    pub binary: &'static str,
}

/// Brings the store to `target` (at most [`LATEST_VERSION`]), refusing a newer store.
pub fn migrate(db: &mut Db, target: u32) -> anyhow::Result<()> {
    let target = target.min(LATEST_VERSION);
    db.begin()?;
    let outcome = migrate_in_transaction(db, target);
    match outcome {
        Ok(()) => db.commit(),
        Err(error) => {
            db.rollback();
            Err(error)
        }
    }
}

fn migrate_in_transaction(db: &mut Db, target: u32) -> anyhow::Result<()> {
    if db.is_postgres() {
        db.exec(
            "SELECT pg_advisory_xact_lock($1)",
            &[Value::Int(MIGRATION_LOCK)],
        )?;
    }
    db.batch(VERSION_TABLE)?;
    let found = read_version(db)?;
    if found > LATEST_VERSION {
        return Err(SchemaTooNew {
            found,
            supported: LATEST_VERSION,
            binary: env!("CARGO_PKG_VERSION"),
        }
        .into());
    }
    for version in found + 1..=target {
        db.batch(MIGRATIONS[version as usize - 1])
            .map_err(|error| anyhow::anyhow!("migration to schema version {version}: {error}"))?;
        db.exec(
            "INSERT INTO cisgate_schema (version, cisgate_version, migrated_at) VALUES ($1, $2, $3)",
            &[
                Value::Int(i64::from(version)),
                Value::Static(env!("CARGO_PKG_VERSION")),
                Value::Int(jiff::Timestamp::now().as_second()),
            ],
        )?;
    }
    Ok(())
}

fn read_version(db: &mut Db) -> anyhow::Result<u32> {
    let rows = db.query(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM cisgate_schema",
        &[],
    )?;
    Ok(rows
        .first()
        .and_then(|row| row.first())
        .map_or(0, Value::int) as u32)
}

/// The version the store is at now.
pub fn current_version(db: &mut Db) -> anyhow::Result<u32> {
    read_version(db)
}
