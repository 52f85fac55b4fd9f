//! The team database's schema: its steps (`NNNN_*.sql` beside this file) and the version the
//! database holds. The version is read first, with a plain SELECT, so that a role that may
//! read and write but not create runs on a schema that is up to date; only a schema that is
//! behind is migrated, under an advisory lock so two machines never migrate at once.
//! [`schema_version`] (for `doctor`) only reads: it never creates or migrates anything.

use anyhow::{Context, Result};

use super::conn::Pg;
use super::Target;

/// The schema's steps; the database records how many it has taken.
const MIGRATIONS: [&str; 2] = [
    include_str!("0001_init.sql"),
    include_str!("0002_fence.sql"),
];

/// An arbitrary, fixed advisory-lock key: "checkuser schema".
const MIGRATION_LOCK: i64 = 0x6368_6b75_7365_7201;

/// The version the database holds; 0 before the first run made the schema (no table yet).
fn read_version(c: &mut postgres::Client) -> Result<i32, postgres::Error> {
    read_version_and_clock(c).map(|(v, _)| v)
}

/// The version, and the database's clock against this machine's (seconds, positive: the
/// database is ahead), in one round trip; the clock is read apart on a database without the
/// schema yet.
fn read_version_and_clock(c: &mut postgres::Client) -> Result<(i32, f64), postgres::Error> {
    let before = chrono::Utc::now();
    let sql = "SELECT MAX(version), EXTRACT(EPOCH FROM clock_timestamp())::float8 \
               FROM checkuser_schema";
    let (version, db) = match c.query_typed(sql, &[]) {
        Ok(rows) => {
            let row = rows.first();
            let version = row.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0);
            (version, row.map(|r| r.get::<_, f64>(1)))
        }
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => (0, None),
        Err(e) => return Err(e),
    };
    let db = match db {
        Some(t) => t,
        None => c
            .query_typed("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8", &[])?
            .first()
            .map_or(0.0, |r| r.get(0)),
    };
    let after = chrono::Utc::now();
    let mid = (before.timestamp_micros() + after.timestamp_micros()) as f64 / 2e6;
    Ok((version, db - mid))
}

/// Brings the schema up to date if it is behind (creating it on first use); returns the
/// database's clock against this machine's (seconds), read with the version.
pub(super) fn migrate(pg: &Pg) -> Result<f64> {
    let want = MIGRATIONS.len() as i32;
    let (mut have, skew) = pg.call(read_version_and_clock)?;
    if have < want {
        have = pg
            .call(|c| {
                let mut tx = c.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
                tx.batch_execute(
                    "CREATE TABLE IF NOT EXISTS checkuser_schema (version INTEGER NOT NULL);",
                )?;
                // Again, under the lock: another machine may have just done it.
                let version: i32 = tx
                    .query_opt("SELECT version FROM checkuser_schema", &[])?
                    .map(|r| r.get(0))
                    .unwrap_or(0);
                for (i, step) in MIGRATIONS.iter().enumerate() {
                    if version < i as i32 + 1 {
                        tx.batch_execute(step)?;
                    }
                }
                tx.execute("DELETE FROM checkuser_schema", &[])?;
                tx.execute(
                    "INSERT INTO checkuser_schema VALUES ($1)",
                    &[&(MIGRATIONS.len() as i32).max(version)],
                )?;
                tx.commit()?;
                // Fresh statistics for the new tables and columns.
                c.batch_execute("ANALYZE answers, claims")?;
                Ok(version)
            })
            .with_context(|| {
                format!(
                    "cannot set up the state database's tables (schema version {have}, this \
                     checkuser needs {want}): a role that may create tables in {} must run \
                     checkuser once",
                    pg.label
                )
            })?;
    }
    if have > want {
        anyhow::bail!(
            "the state database was set up by a newer checkuser (schema {have}); \
             upgrade checkuser on this machine"
        );
    }
    Ok(skew)
}

/// The schema version the database holds and the one this checkuser knows (for `doctor`):
/// read only, 0 for a database no run has set up yet.
pub fn schema_version(target: &Target) -> Result<(i32, i32)> {
    let pg = Pg::connect(target.clone())?;
    let have = pg.call(read_version)?;
    Ok((have, MIGRATIONS.len() as i32))
}
