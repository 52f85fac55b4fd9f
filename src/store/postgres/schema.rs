//! The team database's schema: its steps (`NNNN_*.sql` beside this file) and the version the
//! database holds. The version is read first, with a plain SELECT, so that a role that may
//! read and write but not create runs on a schema that is up to date; only a schema that is
//! behind is migrated, under an advisory lock so two machines never migrate at once.
//! [`schema_version`] (for `doctor`) only reads: it never creates or migrates anything.

use anyhow::{Context, Result};

use postgres::types::Type;

use super::conn::Pg;
use super::Target;
use crate::store::Scope;

/// The schema's steps; the database records how many it has taken.
const MIGRATIONS: [&str; 3] = [
    include_str!("0001_init.sql"),
    include_str!("0002_fence.sql"),
    include_str!("0003_jobs.sql"),
];

/// An arbitrary, fixed advisory-lock key: "checkuser schema".
const MIGRATION_LOCK: i64 = 0x6368_6b75_7365_7201;

/// The version the database holds; 0 before the first run made the schema (no table yet).
fn read_version(c: &mut postgres::Client) -> Result<i32, postgres::Error> {
    read_state(c, None).map(|(v, _, _)| v)
}

/// A run joining its team as the store opens: registered in the statement that reads the
/// schema version and the clock (one round trip for all three).
#[derive(Clone)]
pub struct Joining {
    pub scope: Scope,
    pub run_id: String,
    pub rate: f64,
    pub machine: String,
}

/// Reads the version and the clock.
const READ: &str =
    "SELECT COALESCE(MAX(version), 0), EXTRACT(EPOCH FROM clock_timestamp())::float8,
    NULL::float8 FROM checkuser_schema";

/// Reads the version and the clock; registers the run if `join` and the schema is current
/// (old rows of runs that died without a word, and answered claims no live run needs, are
/// cleared then).
const READ_AND_JOIN: &str = "
WITH v AS MATERIALIZED (SELECT COALESCE(MAX(version), 0) AS v FROM checkuser_schema),
ok AS MATERIALIZED (SELECT $8::int4 > 0 AND (SELECT v FROM v) = $8::int4 AS ok),
ins AS (INSERT INTO runs (id, host, partner, api, rate, machine, pid)
    SELECT $1::text, $2::text, $3::text, $4::text, $5::float8, $6::text, $7::int4
    WHERE (SELECT ok FROM ok)
    ON CONFLICT (id) DO UPDATE SET heartbeat = clock_timestamp()
    RETURNING started),
old AS (DELETE FROM runs WHERE (SELECT ok FROM ok)
    AND heartbeat < clock_timestamp() - interval '10 minutes'),
done AS (DELETE FROM claims WHERE (SELECT ok FROM ok)
    AND host = $2::text AND partner = $3::text AND api = $4::text
    AND ((answered_at IS NOT NULL AND answered_at < LEAST(
           (SELECT min(started) FROM runs WHERE host = $2::text AND partner = $3::text
              AND api = $4::text), clock_timestamp()) - interval '1 minute')
      OR (answered_at IS NULL AND expires < clock_timestamp() - interval '10 minutes')))
SELECT (SELECT v FROM v), EXTRACT(EPOCH FROM clock_timestamp())::float8,
    (SELECT EXTRACT(EPOCH FROM started)::float8 FROM ins)";

/// The version, the database's clock against this machine's (seconds, positive: the
/// database is ahead), and when the run joined (database clock, if it did), in one round
/// trip; the clock is read apart on a database without the schema yet.
fn read_state(
    c: &mut postgres::Client,
    join: Option<&Joining>,
) -> Result<(i32, f64, Option<f64>), postgres::Error> {
    let before = chrono::Utc::now();
    let empty = Joining {
        scope: Scope {
            host: String::new(),
            partner: String::new(),
            api: String::new(),
        },
        run_id: String::new(),
        rate: 0.0,
        machine: String::new(),
    };
    let j = join.unwrap_or(&empty);
    let want = if join.is_some() {
        MIGRATIONS.len() as i32
    } else {
        0
    };
    let pid = std::process::id() as i32;
    let params: [(&(dyn postgres::types::ToSql + Sync), Type); 8] = [
        (&j.run_id, Type::TEXT),
        (&j.scope.host, Type::TEXT),
        (&j.scope.partner, Type::TEXT),
        (&j.scope.api, Type::TEXT),
        (&j.rate, Type::FLOAT8),
        (&j.machine, Type::TEXT),
        (&pid, Type::INT4),
        (&want, Type::INT4),
    ];
    // Only a joining run sends the statement that may write: doctor, plan and a read-only role
    // read the version and the clock alone.
    let read = match join {
        Some(_) => c.query_typed(READ_AND_JOIN, &params),
        None => c.query_typed(READ, &[]),
    };
    let (version, db, joined) = match read {
        Ok(rows) => {
            let row = rows.first();
            let version = row.map_or(0, |r| r.get::<_, i32>(0));
            let joined = row.and_then(|r| r.get::<_, Option<f64>>(2));
            (version, row.map(|r| r.get::<_, f64>(1)), joined)
        }
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => (0, None, None),
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
    Ok((version, db - mid, joined))
}

/// Brings the schema up to date if it is behind (creating it on first use); returns the
/// database's clock against this machine's (seconds), read with the version, and when the
/// run joined its team (database clock) if `join`.
pub(super) fn migrate(pg: &Pg, join: Option<Joining>) -> Result<(f64, Option<f64>)> {
    let want = MIGRATIONS.len() as i32;
    let first = join.clone();
    let (mut have, skew, mut joined) = pg.call(move |c| read_state(c, first.as_ref()))?;
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
    if joined.is_none() && join.is_some() {
        // Migrated just now: joined after.
        joined = pg.call(move |c| read_state(c, join.as_ref()))?.2;
    }
    Ok((skew, joined))
}

/// The database's clock against this machine's, in seconds (for `doctor`): read only.
pub(super) fn clock_skew(pg: &Pg) -> Result<f64> {
    Ok(pg.call(|c| read_state(c, None))?.1)
}

/// The schema version the database holds and the one this checkuser knows (for `doctor`):
/// read only, 0 for a database no run has set up yet.
pub fn schema_version(target: &Target) -> Result<(i32, i32)> {
    let pg = Pg::connect(target.clone())?;
    let have = pg.call(read_version)?;
    Ok((have, MIGRATIONS.len() as i32))
}
