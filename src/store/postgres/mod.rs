//! The PostgreSQL state store (team mode): the same answers, reuse rules and change records as
//! the SQLite file, shared by every machine of a partner, plus what runs share there
//! ([`team`]): one quota and the keys being asked. The schema is created and migrated on first
//! use (`NNNN_*.sql` beside this file, under an advisory lock so two machines never migrate at
//! once). Statements are single and idempotent (no session state: a pooler such as pgbouncer
//! in transaction mode is fine), and run on the connection's own thread ([`conn`]).

mod conn;
mod link;
pub mod schema;
mod team;
mod tick;
mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};

use conn::Pg;
pub use conn::Target;
use postgres::types::Type;
pub use team::machine;

use super::jobs::{self, JobRow, JobTable};
use super::{Backend, Count, RawAnswer, Reuse, Scope, Spool, Store};
use crate::model::{Answer, CheckType, Outcome, ResultKind, Source};

/// The database's clock against this machine's, in seconds (positive: the database is ahead).
pub fn clock_skew(target: &Target) -> Result<f64> {
    schema::clock_skew(&Pg::connect(target.clone())?)
}

/// The scope's active runs and how far ahead of now its bucket is (seconds; `None` before the
/// first request), for `doctor`.
pub fn team_status(target: &Target, scope: &Scope) -> Result<(i64, Option<f64>)> {
    let pg = Pg::connect(target.clone())?;
    let s = scope.clone();
    pg.call(move |c| {
        let runs: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM runs WHERE host=$1 AND partner=$2 AND api=$3
                 AND heartbeat > clock_timestamp() - interval '30 seconds'",
                &[&s.host, &s.partner, &s.api],
            )?
            .get(0);
        let ahead: Option<f64> = c
            .query_opt(
                "SELECT EXTRACT(EPOCH FROM (tat - clock_timestamp()))::float8 FROM quota
                 WHERE host=$1 AND partner=$2 AND api=$3",
                &[&s.host, &s.partner, &s.api],
            )?
            .map(|r| r.get(0));
        Ok((runs, ahead))
    })
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The answer columns, in the order [`outcome`] reads them.
const ANSWER: &str = "result, status, uplimit, error_code, error_msg, http_status, request_id,
    checked_at, prev_result, prev_checked_at, change_unreported, key";

fn outcome(r: &postgres::Row) -> Outcome {
    let result: String = r.get(0);
    let prev: Option<String> = r.get(8);
    let prev_at: Option<i64> = r.get(9);
    let http: Option<i32> = r.get(5);
    Outcome {
        checked_key: r.get(11),
        result: ResultKind::parse(&result).unwrap_or(ResultKind::Error),
        answer: Answer::from_columns(r.get::<_, Option<&str>>(1), r.get::<_, Option<&str>>(2)),
        error_code: r.get(3),
        error_msg: r.get(4),
        http_status: http.and_then(|h| u16::try_from(h).ok()),
        attempts: 0,
        source: Source::Cache,
        checked_at: Some(ts(r.get(7))),
        request_id: r.get(6),
        previous: prev
            .and_then(|p| ResultKind::parse(&p))
            .zip(prev_at.map(ts)),
        change: r.get(10),
    }
}

/// Answers of one scope in PostgreSQL: rows fetched and written as [`super::Store`] decides.
pub struct PgStore {
    pg: Pg,
    scope: Scope,
}

/// Opens the scope's answers in the database: the store, its spool (answers received while
/// the database was away, recorded now), and team mode. With `join` (a run's `--rate`), the
/// run registers with its team in the statement that checks the schema.
pub fn open(target: &Target, scope: Scope, reuse: Reuse, join: Option<f64>) -> Result<Store> {
    let pg = Pg::connect(target.clone())?;
    let joining = join.map(|rate| schema::Joining {
        scope: scope.clone(),
        run_id: team::run_id(),
        rate,
        machine: team::machine(),
    });
    let run_id = joining.as_ref().map(|j| j.run_id.clone());
    let (ahead, joined) = schema::migrate(&pg, joining)?;
    let registered = match (run_id, joined) {
        (Some(id), Some(at)) => Some((id, at)),
        // Without its row the run would not count in the team's rate: never run so.
        (Some(_), None) => anyhow::bail!(
            "state database {}: this run could not register with its team",
            target.label
        ),
        _ => None,
    };
    let backend = PgStore {
        pg,
        scope: scope.clone(),
    };
    let mut store = Store::new(Box::new(backend), reuse)
        .with_clock(chrono::TimeDelta::milliseconds((ahead * 1000.0) as i64));
    // Only a run that registered joins: `plan` opens the store without a team.
    if let Some(registered) = registered {
        store = store.with_team(Box::new(team::Joiner {
            target: target.clone(),
            scope: scope.clone(),
            registered,
        }));
    }
    if let Some(path) = spool_path(&scope) {
        replay_spool(&mut store, &path)?;
        store = store.with_spool(Box::new(FileSpool { path }));
    }
    Ok(store)
}

/// Where answers wait when the database is away: beside the default SQLite store, per scope.
fn spool_path(scope: &Scope) -> Option<PathBuf> {
    let dir = super::default_path()?.parent()?.to_path_buf();
    let name =
        super::location::file_name_part(&format!("{}-{}-{}", scope.host, scope.partner, scope.api));
    Some(dir.join(format!("unrecorded-{name}.jsonl")))
}

/// Answers kept on this machine, one JSON line each, until the database is back.
struct FileSpool {
    path: PathBuf,
}

impl Spool for FileSpool {
    fn keep(&mut self, kind: CheckType, o: &Outcome) -> Result<()> {
        use std::io::Write;
        if let Some(dir) = self.path.parent() {
            super::location::private_dir(dir)?;
        }
        let mut line = tick::answer_json(o);
        line["kind"] = serde_json::json!(kind.as_str());
        let mut f = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(&self.path)
        .with_context(|| format!("cannot keep an answer in {}", self.path.display()))?;
        writeln!(f, "{line}")?;
        f.sync_data()?;
        Ok(())
    }
}

/// One spooled line back as the answer it was (the row's JSON form, as team mode announces it).
fn spooled(line: &str) -> Option<(CheckType, Outcome)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let kind = v["kind"].as_str()?.parse::<CheckType>().ok()?;
    let o = tick::answer_from(&v)?;
    Some((
        kind,
        Outcome {
            source: Source::Api,
            previous: None,
            change: false,
            ..o
        },
    ))
}

/// Records the answers an earlier run kept for later, then forgets them. An answer is kept
/// only if newer than what a teammate recorded meanwhile (as `state copy`); a line cut by a
/// crash while it was written is skipped, not a reason to stop.
fn replay_spool(store: &mut Store, path: &std::path::Path) -> Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path)?;
    let mut n = 0u64;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((kind, o)) = spooled(line) else {
            tracing::warn!("skipped a broken line in {}", path.display());
            continue;
        };
        let held = store.lookup(kind, &o.checked_key, Utc::now())?;
        if held.is_some_and(|h| h.outcome.checked_at >= o.checked_at) {
            continue;
        }
        store.record(kind, &o)?;
        n += 1;
    }
    std::fs::remove_file(path)?;
    tracing::info!(
        "recorded {} a run received while the state database was away",
        crate::output::summary::count(n, "answer")
    );
    Ok(())
}

impl Backend for PgStore {
    fn fetch(&self, items: &[(CheckType, &str)]) -> Result<Vec<Option<Outcome>>> {
        let s = self.scope.clone();
        let kinds: Vec<String> = items.iter().map(|(k, _)| k.as_str().to_string()).collect();
        let keys: Vec<String> = items.iter().map(|(_, v)| v.to_string()).collect();
        let columns: Vec<String> = ANSWER
            .split(',')
            .map(|c| format!("a.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT {}, q.i FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS q(kind, key, i)
             JOIN answers a ON a.host=$1 AND a.partner=$2 AND a.api=$3
                            AND a.kind=q.kind AND a.key=q.key",
            columns.join(", ")
        );
        // Typed parameters: one round trip (no separate prepare).
        let rows = self.pg.call(move |c| {
            c.query_typed(
                &sql,
                &[
                    (&s.host, Type::TEXT),
                    (&s.partner, Type::TEXT),
                    (&s.api, Type::TEXT),
                    (&kinds, Type::TEXT_ARRAY),
                    (&keys, Type::TEXT_ARRAY),
                ],
            )
        })?;
        let mut out = vec![None; items.len()];
        for r in rows {
            let i: i64 = r.get(12);
            if let Some(slot) = out.get_mut(i as usize - 1) {
                *slot = Some(outcome(&r));
            }
        }
        Ok(out)
    }

    fn write(&mut self, kind: CheckType, o: &Outcome) -> Result<()> {
        let s = self.scope.clone();
        let k = kind.as_str().to_string();
        let o = o.clone();
        self.pg.call(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO answers (host, partner, api, kind, key, {WRITTEN})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                     ON CONFLICT (host, partner, api, kind, key) DO UPDATE SET {UPDATED}"
                ),
                &[
                    &s.host,
                    &s.partner,
                    &s.api,
                    &k,
                    &o.checked_key,
                    &o.result.as_str(),
                    &o.answer_columns()[0],
                    &o.answer_columns()[1],
                    &o.error_code,
                    &o.error_msg,
                    &o.http_status.map(i32::from),
                    &o.request_id,
                    &o.checked_at.unwrap_or_else(Utc::now).timestamp(),
                    &o.previous.map(|p| p.0.as_str()),
                    &o.previous.map(|p| p.1.timestamp()),
                    &o.change,
                ],
            )
        })?;
        Ok(())
    }

    fn commit_due(&self) -> Option<Instant> {
        None
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn mark_reported(&mut self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let s = self.scope.clone();
        let keys = keys.to_vec();
        self.pg.call(move |c| {
            c.execute(
                "UPDATE answers SET change_unreported = FALSE
                 WHERE host=$1 AND partner=$2 AND api=$3 AND key = ANY($4)",
                &[&s.host, &s.partner, &s.api, &keys],
            )
        })?;
        Ok(())
    }
}

/// The columns a written row sets, after the key (in [`PgStore::write`]'s parameter order).
const WRITTEN: &str = "result, status, uplimit, error_code, error_msg, http_status, request_id,
    checked_at, prev_result, prev_checked_at, change_unreported";

/// Every written column taken from the row being inserted.
const UPDATED: &str = "result = excluded.result, status = excluded.status,
    uplimit = excluded.uplimit, error_code = excluded.error_code,
    error_msg = excluded.error_msg, http_status = excluded.http_status,
    request_id = excluded.request_id, checked_at = excluded.checked_at,
    prev_result = excluded.prev_result, prev_checked_at = excluded.prev_checked_at,
    change_unreported = excluded.change_unreported";

/// The team's jobs table ([`crate::store::jobs`]), on a connection of its own.
pub struct PgJobs {
    pg: Pg,
}

fn job_row(r: &postgres::Row) -> JobRow {
    JobRow {
        id: r.get(0),
        owner: r.get(1),
        created_ms: r.get(2),
        home: r.get(3),
        record: r.get(4),
    }
}

impl PgJobs {
    pub fn open(target: &Target) -> Result<PgJobs> {
        Ok(PgJobs {
            pg: migrated(target)?,
        })
    }

    /// Sends `statement` with a row's columns as its parameters.
    fn write(&self, statement: &'static str, j: &JobRow) -> Result<()> {
        let j = j.clone();
        let done = self.pg.call(move |c| {
            let p: [&(dyn postgres::types::ToSql + Sync); 5] =
                [&j.id, &j.owner, &j.created_ms, &j.home, &j.record];
            c.execute(statement, &p).map(drop)
        });
        jobs::failed(done, "write")
    }
}

impl JobTable for PgJobs {
    fn put(&self, j: &JobRow) -> Result<()> {
        self.write(jobs::PUT, j)
    }

    fn update(&self, j: &JobRow) -> Result<()> {
        self.write(jobs::UPDATE, j)
    }

    fn get(&self, id: &str) -> Result<Option<JobRow>> {
        let id = id.to_string();
        let row = self.pg.call(move |c| c.query_opt(jobs::GET, &[&id]));
        jobs::failed(row, "read").map(|r| r.as_ref().map(job_row))
    }

    fn list(&self) -> Result<Vec<JobRow>> {
        let rows = self.pg.call(|c| c.query(jobs::LIST, &[]));
        jobs::failed(rows, "read").map(|r| r.iter().map(job_row).collect())
    }

    fn delete(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        let gone = self
            .pg
            .call(move |c| c.execute(jobs::DELETE, &[&id]).map(drop));
        jobs::failed(gone, "delete")
    }
}

/// The whole database, for `checkuser state`.
pub struct PgAdmin {
    pg: Pg,
}

impl PgAdmin {
    pub fn open(target: &Target) -> Result<PgAdmin> {
        Ok(PgAdmin {
            pg: migrated(target)?,
        })
    }
}

/// A connection of its own to the database at `target`, its schema brought up to date
/// (without joining the team).
fn migrated(target: &Target) -> Result<Pg> {
    let pg = Pg::connect(target.clone())?;
    schema::migrate(&pg, None)?;
    Ok(pg)
}

const RAW: &str = "host, partner, api, kind, key, result, status, uplimit, error_code, error_msg,
    http_status, request_id, checked_at, prev_result, prev_checked_at, change_unreported";

fn raw(r: &postgres::Row) -> RawAnswer {
    let http: Option<i32> = r.get(10);
    RawAnswer {
        host: r.get(0),
        partner: r.get(1),
        api: r.get(2),
        kind: r.get(3),
        key: r.get(4),
        result: r.get(5),
        status: r.get(6),
        uplimit: r.get(7),
        error_code: r.get(8),
        error_msg: r.get(9),
        http_status: http.map(i64::from),
        request_id: r.get(11),
        checked_at: r.get(12),
        prev_result: r.get(13),
        prev_checked_at: r.get(14),
        change_unreported: r.get(15),
    }
}

impl super::Admin for PgAdmin {
    fn counts(&self) -> Result<Vec<Count>> {
        self.pg.call(|c| {
            Ok(c.query(
                "SELECT host, partner, api, kind, result, COUNT(*) FROM answers
                 GROUP BY host, partner, api, kind, result
                 ORDER BY host, partner, api, kind, result",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect())
        })
    }

    fn span(&self) -> Result<(i64, Option<i64>, Option<i64>)> {
        self.pg.call(|c| {
            let r = c.query_one(
                "SELECT COUNT(*), MIN(checked_at), MAX(checked_at) FROM answers",
                &[],
            )?;
            Ok((r.get(0), r.get(1), r.get(2)))
        })
    }

    /// Answers of a scope with a run in progress are left (the run planned with them), and
    /// said so: a run shares the database with no lock to wait for.
    fn prune(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let at = cutoff.timestamp();
        let (n, kept) = self.pg.call(move |c| {
            let live = "EXISTS (SELECT 1 FROM runs r WHERE r.host = a.host
                AND r.partner = a.partner AND r.api = a.api
                AND r.heartbeat > clock_timestamp() - interval '60 seconds')";
            let n = c.execute(
                &format!("DELETE FROM answers a WHERE checked_at < $1 AND NOT {live}"),
                &[&at],
            )?;
            let kept: i64 = c
                .query_one(
                    &format!("SELECT count(*) FROM answers a WHERE checked_at < $1 AND {live}"),
                    &[&at],
                )?
                .get(0);
            Ok((n, kept))
        })?;
        if kept > 0 {
            tracing::warn!(
                "kept {} older than the cutoff: a run in progress is using them; prune again \
                 when it has finished",
                crate::output::summary::count(kept as u64, "answer")
            );
        }
        Ok(n as usize)
    }

    fn export(&self, row: &mut dyn FnMut(&[String]) -> Result<()>) -> Result<()> {
        self.raw(&mut |a| row(&super::export_record(&a)))
    }

    fn describe(&self) -> String {
        let size = self
            .pg
            .call(|c| {
                Ok(
                    c.query_one("SELECT pg_total_relation_size('answers')::float8", &[])?
                        .get::<_, f64>(0),
                )
            })
            .unwrap_or(0.0);
        format!("{} (answers: {:.1} MB)", self.pg.label, size / 1e6)
    }

    fn import(&mut self, rows: &mut dyn Iterator<Item = Result<RawAnswer>>) -> Result<u64> {
        let mut n = 0;
        let mut batch = Vec::with_capacity(1000);
        loop {
            let next = rows.next().transpose()?;
            let done = next.is_none();
            batch.extend(next);
            if batch.len() >= 1000 || (done && !batch.is_empty()) {
                let chunk = std::mem::take(&mut batch);
                n += self.pg.call(move |c| {
                    let mut tx = c.transaction()?;
                    let stmt = tx.prepare(&format!(
                        "INSERT INTO answers ({RAW})
                         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
                         ON CONFLICT (host, partner, api, kind, key) DO UPDATE SET {UPDATED}
                         WHERE excluded.checked_at > answers.checked_at"
                    ))?;
                    let mut n = 0;
                    for a in &chunk {
                        let http = a.http_status.map(|h| h as i32);
                        n += tx.execute(
                            &stmt,
                            &[
                                &a.host,
                                &a.partner,
                                &a.api,
                                &a.kind,
                                &a.key,
                                &a.result,
                                &a.status,
                                &a.uplimit,
                                &a.error_code,
                                &a.error_msg,
                                &http,
                                &a.request_id,
                                &a.checked_at,
                                &a.prev_result,
                                &a.prev_checked_at,
                                &a.change_unreported,
                            ],
                        )?;
                    }
                    tx.commit()?;
                    Ok(n)
                })?;
            }
            if done {
                // The planner's statistics follow the copy: a first run on it must not plan
                // its lookups for an empty table.
                self.pg.call(|c| c.batch_execute("ANALYZE answers"))?;
                return Ok(n);
            }
        }
    }

    fn raw(&self, row: &mut dyn FnMut(RawAnswer) -> Result<()>) -> Result<()> {
        // In pages by key, so that a big store never sits whole in memory.
        let mut after: Option<(String, String, String, String, String)> = None;
        loop {
            let from = after.clone();
            let page: Vec<RawAnswer> = self.pg.call(move |c| {
                let rows = match &from {
                    None => c.query(
                        &format!("SELECT {RAW} FROM answers ORDER BY host, partner, api, kind, key LIMIT 5000"),
                        &[],
                    )?,
                    Some((h, p, a, k, v)) => c.query(
                        &format!(
                            "SELECT {RAW} FROM answers WHERE (host, partner, api, kind, key) > ($1, $2, $3, $4, $5)
                             ORDER BY host, partner, api, kind, key LIMIT 5000"
                        ),
                        &[h, p, a, k, v],
                    )?,
                };
                Ok(rows.iter().map(raw).collect())
            })?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some((
                last.host.clone(),
                last.partner.clone(),
                last.api.clone(),
                last.kind.clone(),
                last.key.clone(),
            ));
            for a in page {
                row(a)?;
            }
        }
    }
}

/// How long a claim lasts without its run's heartbeat: a run that dies frees its keys then
/// (the contract: within 30 s).
pub const LEASE: Duration = Duration::from_secs(26);
