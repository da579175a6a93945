//! The results store: every run's results kept over time, in one SQLite file (the default)
//! or a PostgreSQL database (for many pipelines and clusters writing at once).
//!
//! The store sits below the report layer: it receives a run's finished [`RunResults`](crate::results::RunResults) with
//! the run's metadata ([`RunMeta`]) and keeps them, one transaction per run, idempotent
//! per run id. Trend reports ([`trend`]) and `--previous` read it back.
//!
//! - [`schema`]: the one schema both databases share, versioned, migrated on open.
//! - [`db`]: the small SQL surface the store needs, over `rusqlite` and `postgres`.
//! - [`rows`]: a run flattened into rows: evidence, texts, checks and exceptions stored
//!   once per distinct value (content-addressed keys), one row per node × check.
//! - [`mod@write`] and [`read`]: storing a run, loading one back, listing runs, pruning.
//! - [`meta`]: run metadata (cluster, CI variables, run id).
//! - [`trend`] and [`trend_report`]: the history report and its HTML/Markdown/JSON forms.

pub mod db;
pub mod meta;
pub mod read;
pub mod rows;
pub mod schema;
pub mod sink;
pub mod trend;
pub mod trend_report;
pub mod write;

use anyhow::Context;

pub use meta::RunMeta;
pub use read::{RunSummary, StoredRun};
pub use schema::{SchemaTooNew, LATEST_VERSION};
pub use write::Written;

use db::Db;

/// Where the store is when `--store` and `CISGATE_STORE` are not given (history commands).
pub const DEFAULT_STORE: &str = ".cisgate/history.db";

/// An open, migrated store.
pub struct Store {
    db: Db,
    /// The URL as given, with any password replaced by `***`, for messages.
    described: String,
}

impl Store {
    /// Opens (creating if needed) the store at `url` and migrates it to the latest schema:
    /// `postgres://…` / `postgresql://…` is a PostgreSQL database, `sqlite://PATH` or any
    /// other text a SQLite file (its directory is created). A store written by a newer
    /// cisgate is refused with [`SchemaTooNew`].
    pub fn open(url: &str) -> anyhow::Result<Store> {
        Self::open_at(url, LATEST_VERSION)
    }

    /// As [`Store::open`], migrating only up to `version` (tests of the migrations).
    #[doc(hidden)]
    pub fn open_at(url: &str, version: u32) -> anyhow::Result<Store> {
        let described = describe_url(url);
        let mut db =
            Db::connect(url).with_context(|| format!("cannot open the store {described}"))?;
        schema::migrate(&mut db, version)
            .with_context(|| format!("cannot prepare the store {described}"))?;
        Ok(Store { db, described })
    }

    /// The store's URL without its password.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// The schema version the store is at.
    pub fn schema_version(&mut self) -> anyhow::Result<u32> {
        schema::current_version(&mut self.db)
    }

    /// Direct access for the tests of the schema and of interrupted writes.
    #[doc(hidden)]
    pub fn db(&mut self) -> &mut Db {
        &mut self.db
    }
}

/// `url` without a password (`postgres://user:secret@host/db` → `postgres://user:***@host/db`).
pub fn describe_url(url: &str) -> String {
    if !is_postgres_url(url) {
        return url.to_string();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => {
            // key=value passwords in the query string.
            let mut described = format!("{scheme}://{authority}");
            if let Some(query) = tail.strip_prefix('?').or_else(|| {
                tail.split_once('?').map(|(path, q)| {
                    described.push_str(path);
                    q
                })
            }) {
                let parts: Vec<String> = query
                    .split('&')
                    .map(|part| match part.split_once('=') {
                        Some(("password", _)) => "password=***".to_string(),
                        _ => part.to_string(),
                    })
                    .collect();
                described.push('?');
                described.push_str(&parts.join("&"));
            } else {
                described.push_str(tail);
            }
            described
        }
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_messages() {
        assert_eq!(
            describe_url("postgres://cisgate:s3cret@db.example:5432/history?sslmode=disable"),
            "postgres://cisgate:***@db.example:5432/history?sslmode=disable"
        );
        assert_eq!(
            describe_url("postgresql://localhost/history?user=a&password=s3cret"),
            "postgresql://localhost/history?user=a&password=***"
        );
        assert_eq!(describe_url(".cisgate/history.db"), ".cisgate/history.db");
        assert_eq!(
            describe_url("postgres://cisgate@db/history"),
            "postgres://cisgate@db/history"
        );
    }
}
