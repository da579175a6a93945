//! The SQL surface the store needs, the same for SQLite and PostgreSQL: statements with
//! `$1, $2, …` parameters (numbered in order of first use, which SQLite binds by position
//! too), integer and text values only, explicit transactions, and bulk inserts (a prepared
//! statement on SQLite, `COPY` on PostgreSQL).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

/// A value in or out of the store: the schema uses only `BIGINT` and `TEXT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Int(i64),
    Text(String),
    /// A text known at compile time (states, classifications): no allocation per row.
    Static(&'static str),
    Null,
}

impl Value {
    pub fn text(value: impl Into<String>) -> Value {
        Value::Text(value.into())
    }

    pub fn opt_text(value: Option<impl Into<String>>) -> Value {
        value.map_or(Value::Null, |v| Value::Text(v.into()))
    }

    pub fn opt_int(value: Option<i64>) -> Value {
        value.map_or(Value::Null, Value::Int)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            Value::Static(text) => Some(text),
            _ => None,
        }
    }

    /// The integer, 0 for NULL (counts and flags).
    pub fn int(&self) -> i64 {
        self.as_int().unwrap_or(0)
    }

    /// The text, empty for NULL.
    pub fn string(&self) -> String {
        self.as_str().unwrap_or("").to_string()
    }

    pub fn opt_string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }
}

/// What a bulk insert does with a row whose primary key is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// The row is new by construction (a new run's rows): a conflict is an error.
    Fail,
    /// Content-addressed rows: an existing row with the same key holds the same value.
    Ignore,
}

/// One connection to the store.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// How long a SQLite writer waits for another writer's transaction to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `step` again while SQLite answers "database is locked", for up to
/// [`SQLITE_BUSY_TIMEOUT`]. Switching a file to WAL needs the file to itself for a moment,
/// and SQLite answers that busy at once, without its busy handler, when other connections
/// open the same new file at the same time (several nightly jobs writing one store).
fn retry_while_busy<T>(mut step: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match step() {
            Err(error)
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < SQLITE_BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            outcome => return outcome,
        }
    }
}

impl Db {
    pub fn connect(url: &str) -> anyhow::Result<Db> {
        if super::is_postgres_url(url) {
            let client = postgres::Client::connect(url, postgres::NoTls)?;
            return Ok(Db::Postgres(Box::new(client)));
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            bail!("empty store path");
        }
        let path = Path::new(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        // WAL: readers never block the writer and a killed writer leaves the file as it was.
        retry_while_busy(|| connection.pragma_update(None, "journal_mode", "WAL"))?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Db::Sqlite(connection))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs statements without parameters (DDL, `BEGIN`, …).
    pub fn batch(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(connection) => connection.execute_batch(sql)?,
            Db::Postgres(client) => client.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so two writers queue instead of failing on upgrade.
    pub fn begin(&mut self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(_) => self.batch("BEGIN IMMEDIATE"),
            Db::Postgres(_) => self.batch("BEGIN"),
        }
    }

    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.batch("COMMIT")
    }

    /// Rolls back the open transaction, if any (errors are ignored: the connection may be
    /// gone, and then the server rolled back already).
    pub fn rollback(&mut self) {
        let _ = self.batch("ROLLBACK");
    }

    /// Runs a statement; returns the rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<u64> {
        match self {
            Db::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                let changed = statement.execute(rusqlite::params_from_iter(params.iter()))?;
                Ok(changed as u64)
            }
            Db::Postgres(client) => {
                let bound = pg_params(params);
                Ok(client.execute(sql, &pg_refs(&bound))?)
            }
        }
    }

    /// Runs a query; every row as values.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> anyhow::Result<Vec<Vec<Value>>> {
        match self {
            Db::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                let columns = statement.column_count();
                let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for index in 0..columns {
                        values.push(sqlite_value(row.get_ref(index)?)?);
                    }
                    out.push(values);
                }
                Ok(out)
            }
            Db::Postgres(client) => {
                let bound = pg_params(params);
                let rows = client.query(sql, &pg_refs(&bound))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// Inserts rows into `table`. On PostgreSQL the rows go through `COPY` (into a
    /// temporary table first when conflicts are ignored), in `key` order so that
    /// concurrent writers of the same content take row locks in the same order.
    pub fn insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
        on_conflict: OnConflict,
    ) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Db::Sqlite(connection) => {
                let placeholders: Vec<String> =
                    (1..=columns.len()).map(|i| format!("${i}")).collect();
                let verb = match on_conflict {
                    OnConflict::Fail => "INSERT",
                    OnConflict::Ignore => "INSERT OR IGNORE",
                };
                let sql = format!(
                    "{verb} INTO {table} ({}) VALUES ({})",
                    columns.join(", "),
                    placeholders.join(", ")
                );
                let mut statement = connection.prepare_cached(&sql)?;
                for row in rows {
                    statement
                        .execute(rusqlite::params_from_iter(row.iter()))
                        .with_context(|| format!("inserting into {table}"))?;
                }
                Ok(())
            }
            Db::Postgres(client) => {
                let target = match on_conflict {
                    OnConflict::Fail => table.to_string(),
                    OnConflict::Ignore => {
                        let staging = format!("staging_{table}");
                        client.batch_execute(&format!(
                            "CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table}) ON COMMIT DELETE ROWS"
                        ))?;
                        staging
                    }
                };
                copy_rows(client, &target, columns, rows)?;
                if on_conflict == OnConflict::Ignore {
                    let list = columns.join(", ");
                    client.batch_execute(&format!(
                        "INSERT INTO {table} ({list}) SELECT {list} FROM {target} ORDER BY {key} \
                         ON CONFLICT DO NOTHING; DELETE FROM {target}",
                        key = columns[0]
                    ))?;
                }
                Ok(())
            }
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Static(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn sqlite_value(value: rusqlite::types::ValueRef<'_>) -> anyhow::Result<Value> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(value) => Value::Int(value),
        ValueRef::Real(value) => Value::Int(value as i64),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(_) => bail!("unexpected BLOB value in the store"),
    })
}

/// Parameters as PostgreSQL binds them (`BIGINT` as `i64`, `TEXT` as `&str`, typed NULLs).
enum PgParam<'a> {
    Int(i64),
    Text(&'a str),
    Null(Option<String>),
}

fn pg_params(params: &[Value]) -> Vec<PgParam<'_>> {
    params
        .iter()
        .map(|value| match value {
            Value::Int(v) => PgParam::Int(*v),
            Value::Text(t) => PgParam::Text(t),
            Value::Static(t) => PgParam::Text(t),
            Value::Null => PgParam::Null(None),
        })
        .collect()
}

fn pg_refs<'a>(params: &'a [PgParam<'a>]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|param| match param {
            PgParam::Int(v) => v as &(dyn postgres::types::ToSql + Sync),
            PgParam::Text(t) => t as &(dyn postgres::types::ToSql + Sync),
            PgParam::Null(n) => n as &(dyn postgres::types::ToSql + Sync),
        })
        .collect()
}

fn pg_row(row: &postgres::Row) -> anyhow::Result<Vec<Value>> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => Value::opt_int(row.try_get::<_, Option<i64>>(index)?),
            Type::INT4 => Value::opt_int(row.try_get::<_, Option<i32>>(index)?.map(i64::from)),
            Type::INT2 => Value::opt_int(row.try_get::<_, Option<i16>>(index)?.map(i64::from)),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                Value::opt_text(row.try_get::<_, Option<String>>(index)?)
            }
            ref other => bail!(
                "column {} has type {other}; the store reads BIGINT and TEXT only",
                column.name()
            ),
        };
        values.push(value);
    }
    Ok(values)
}

/// `COPY table (columns) FROM STDIN` in the text format.
fn copy_rows(
    client: &mut postgres::Client,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    let mut writer =
        client.copy_in(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))?;
    let mut line = String::new();
    for row in rows {
        line.clear();
        for (index, value) in row.iter().enumerate() {
            if index > 0 {
                line.push('\t');
            }
            match value {
                Value::Int(v) => line.push_str(&v.to_string()),
                Value::Text(t) => push_copy_text(&mut line, t),
                Value::Static(t) => push_copy_text(&mut line, t),
                Value::Null => line.push_str("\\N"),
            }
        }
        line.push('\n');
        writer.write_all(line.as_bytes())?;
    }
    writer.finish()?;
    Ok(())
}

/// Escapes text for `COPY … FROM STDIN` (text format): backslash, tab, newline, carriage
/// return. NUL cannot be stored in PostgreSQL text and becomes U+FFFD.
fn push_copy_text(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\t' => line.push_str("\\t"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\0' => line.push('\u{FFFD}'),
            other => line.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_the_text_format_would_misread() {
        let mut line = String::new();
        push_copy_text(&mut line, "a\tb\nc\\d\re\0");
        assert_eq!(line, "a\\tb\\nc\\\\d\\re\u{FFFD}");
    }

    #[test]
    fn sqlite_binds_numbered_parameters_by_position() {
        let mut db = Db::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.batch("CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT)")
            .unwrap();
        db.insert(
            "t",
            &["a", "b"],
            &[
                vec![Value::Int(1), Value::text("x")],
                vec![Value::Int(2), Value::Null],
            ],
            OnConflict::Fail,
        )
        .unwrap();
        db.insert(
            "t",
            &["a", "b"],
            &[vec![Value::Int(1), Value::text("other")]],
            OnConflict::Ignore,
        )
        .unwrap();
        let rows = db
            .query(
                "SELECT a, b FROM t WHERE a >= $1 ORDER BY a",
                &[Value::Int(1)],
            )
            .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Value::Int(1), Value::text("x")],
                vec![Value::Int(2), Value::Null]
            ]
        );
    }
}
