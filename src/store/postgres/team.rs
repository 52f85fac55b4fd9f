//! What the runs of one scope share in the database: the quota, as a GCRA bucket advanced by
//! one atomic statement per slot on the database's clock (the smallest `--rate` of the runs
//! whose heartbeat is recent), and claims on the keys being asked, as leases renewed by a
//! heartbeat. No coordinator and no lock between runs: each run reserves its own slots as it
//! needs them, so a run holds at most `--concurrency` future slots and a small run's requests
//! interleave with a big one's instead of waiting behind it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::conn::Pg;
use super::{outcome, ANSWER, LEASE};
use crate::model::{CheckType, Outcome};
use crate::store::{Claim, Scope};

/// The share of the rate the bucket grants: network jitter between machines must not put one
/// request too many into a gateway's second.
const MARGIN: f64 = 0.98;

/// How often a run says it is alive and renews its claims.
const HEARTBEAT: Duration = Duration::from_secs(5);

pub struct PgTeam {
    pg: Pg,
    scope: Scope,
    run_id: String,
    alive: Arc<AtomicBool>,
    /// When this run joined (unix seconds, with a little slack): an answer recorded since then
    /// by another run was not known to this run's plan, and is not asked again.
    joined: i64,
}

impl PgTeam {
    /// Registers this run (with its `--rate`) and starts its heartbeat.
    pub fn join(pg: Pg, scope: Scope, rate: f64) -> Result<PgTeam> {
        let machine = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let run_id = format!(
            "{machine}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let (id, s, m) = (run_id.clone(), scope.clone(), machine);
        pg.call(move |c| {
            c.execute(
                "INSERT INTO runs (id, host, partner, api, rate, machine, pid)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &id,
                    &s.host,
                    &s.partner,
                    &s.api,
                    &rate,
                    &m,
                    &(std::process::id() as i32),
                ],
            )?;
            // Runs gone without a word (kill -9) leave rows whose heartbeat stopped.
            c.execute(
                "DELETE FROM runs WHERE heartbeat < clock_timestamp() - interval '10 minutes'",
                &[],
            )
        })?;
        let alive = Arc::new(AtomicBool::new(true));
        let (beat_pg, beat_id, beat_alive) = (pg.clone(), run_id.clone(), alive.clone());
        std::thread::Builder::new()
            .name("checkuser-heartbeat".into())
            .spawn(move || heartbeat(beat_pg, beat_id, beat_alive))?;
        Ok(PgTeam {
            pg,
            scope,
            run_id,
            alive,
            joined: Utc::now().timestamp() - 2,
        })
    }
}

fn heartbeat(pg: Pg, run_id: String, alive: Arc<AtomicBool>) {
    let lease = format!("{} seconds", LEASE.as_secs());
    while alive.load(Ordering::Relaxed) {
        let (id, lease) = (run_id.clone(), lease.clone());
        let beat = pg.call(move |c| {
            c.execute(
                "UPDATE runs SET heartbeat = clock_timestamp() WHERE id = $1",
                &[&id],
            )?;
            c.execute(
                "UPDATE claims SET expires = clock_timestamp() + $2::text::interval
                 WHERE run_id = $1",
                &[&id, &lease],
            )
        });
        if let Err(e) = beat {
            tracing::debug!("heartbeat: {e:#}");
        }
        // Sleep in short steps, so that the end of the run is seen at once.
        for _ in 0..(HEARTBEAT.as_millis() / 100) {
            if !alive.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PgTeam {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
        let id = self.run_id.clone();
        let _ = self.pg.call(move |c| {
            c.execute("DELETE FROM claims WHERE run_id = $1", &[&id])?;
            c.execute("DELETE FROM runs WHERE id = $1", &[&id])
        });
    }
}

impl crate::store::Team for PgTeam {
    fn slot(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let s = self.scope.clone();
            let wait: f64 = self
                .pg
                .call_async(move |c| {
                    let r = c.query_one(
                        "WITH r AS (
                           SELECT 1.0 / (COALESCE(MIN(rate), 1.0) * $4) AS gap FROM runs
                           WHERE host=$1 AND partner=$2 AND api=$3
                             AND heartbeat > clock_timestamp() - interval '30 seconds')
                         INSERT INTO quota AS q (host, partner, api, tat)
                         VALUES ($1, $2, $3, clock_timestamp()
                                 + (SELECT gap FROM r) * interval '1 second')
                         ON CONFLICT (host, partner, api) DO UPDATE
                           SET tat = GREATEST(q.tat, clock_timestamp())
                                     + (SELECT gap FROM r) * interval '1 second'
                         RETURNING EXTRACT(EPOCH FROM (q.tat - clock_timestamp()))::float8
                                   - (SELECT gap FROM r)::float8",
                        &[&s.host, &s.partner, &s.api, &MARGIN],
                    )?;
                    Ok(r.get(0))
                })
                .await?;
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(wait.min(3600.0))).await;
            }
            Ok(())
        })
    }

    fn throttled(&self, wait: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let s = self.scope.clone();
            let secs = wait.as_secs_f64();
            let r = self
                .pg
                .call_async(move |c| {
                    c.execute(
                        "UPDATE quota SET tat = GREATEST(tat,
                             clock_timestamp() + $4 * interval '1 second')
                         WHERE host=$1 AND partner=$2 AND api=$3",
                        &[&s.host, &s.partner, &s.api, &secs],
                    )
                })
                .await;
            if let Err(e) = r {
                tracing::debug!("{e:#}");
            }
        })
    }

    fn claim<'a>(&'a self, kind: CheckType, key: &'a str) -> BoxFuture<'a, Result<Claim>> {
        Box::pin(async move {
            let s = self.scope.clone();
            let (k, v, id) = (
                kind.as_str().to_string(),
                key.to_string(),
                self.run_id.clone(),
            );
            let lease = format!("{} seconds", LEASE.as_secs());
            let joined = self.joined;
            self.pg
                .call_async(move |c| {
                    let done = c.query_opt(
                        &format!(
                            "SELECT {ANSWER} FROM answers WHERE host=$1 AND partner=$2
                             AND api=$3 AND kind=$4 AND key=$5 AND checked_at >= $6"
                        ),
                        &[&s.host, &s.partner, &s.api, &k, &v, &joined],
                    )?;
                    if let Some(r) = done {
                        return Ok(Claim::Answered(outcome(&r)));
                    }
                    let mine = c.query_opt(
                        "INSERT INTO claims AS c (host, partner, api, kind, key, run_id, expires)
                         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp() + $7::text::interval)
                         ON CONFLICT (host, partner, api, kind, key) DO UPDATE
                           SET run_id = excluded.run_id, expires = excluded.expires
                           WHERE c.expires < clock_timestamp() OR c.run_id = excluded.run_id
                         RETURNING run_id",
                        &[&s.host, &s.partner, &s.api, &k, &v, &id, &lease],
                    )?;
                    Ok(if mine.is_some() {
                        Claim::Mine
                    } else {
                        Claim::Busy
                    })
                })
                .await
        })
    }

    fn answered<'a>(
        &'a self,
        kind: CheckType,
        key: &'a str,
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Outcome>>> {
        Box::pin(async move {
            let s = self.scope.clone();
            let (k, v) = (kind.as_str().to_string(), key.to_string());
            let since = since.timestamp();
            self.pg
                .call_async(move |c| {
                    Ok(c.query_opt(
                        &format!(
                            "SELECT {ANSWER} FROM answers WHERE host=$1 AND partner=$2
                             AND api=$3 AND kind=$4 AND key=$5 AND checked_at >= $6"
                        ),
                        &[&s.host, &s.partner, &s.api, &k, &v, &since],
                    )?
                    .map(|r| outcome(&r)))
                })
                .await
        })
    }

    fn release<'a>(&'a self, kind: CheckType, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let s = self.scope.clone();
            let (k, v, id) = (
                kind.as_str().to_string(),
                key.to_string(),
                self.run_id.clone(),
            );
            let r = self
                .pg
                .call_async(move |c| {
                    c.execute(
                        "DELETE FROM claims WHERE host=$1 AND partner=$2 AND api=$3
                         AND kind=$4 AND key=$5 AND run_id=$6",
                        &[&s.host, &s.partner, &s.api, &k, &v, &id],
                    )
                })
                .await;
            if let Err(e) = r {
                tracing::debug!("{e:#}");
            }
        })
    }
}
