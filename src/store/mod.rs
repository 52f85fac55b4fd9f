//! The state store: every answer is recorded as it arrives, keyed by endpoint host, partner,
//! API version, type and normalized key, so that a crash, a Ctrl-C or the next night's run
//! never asks twice. The engine sees it through [`AnswerStore`] (lookup, record, commit, change
//! reporting); the `state` command through [`Admin`] (stats, export, prune). Backends:
//! [`sqlite`] (the default file) and [`memory`] (engine tests). A new backend is one module and
//! one arm in [`open`] / [`open_admin`], where a [`Location`] is matched.

#[doc(hidden)]
pub mod conformance;
pub mod jobs;
pub mod location;
pub mod lock;
pub mod memory;
pub mod policy;
pub mod postgres;
pub mod sqlite;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::model::{CheckType, Outcome, ResultKind};

pub use location::{default_path, sandbox_path, Location};
pub use lock::{LockError, RunLock};

pub use policy::{Recorded, Reuse};

/// The part of the key that is the same for every check of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub host: String,
    /// The account the answers belong to: the partner id, else the account's domain id;
    /// never the AK (a rotated key must find the same answers).
    pub partner: String,
    pub api: String,
}

impl Scope {
    /// How answers for this endpoint and account are keyed in the state store (and locked).
    pub fn for_endpoint(
        endpoint: &reqwest::Url,
        account: &str,
        api: crate::api::ApiVersion,
    ) -> Result<Scope> {
        if account.is_empty() {
            anyhow::bail!(
                "answers are kept per partner account, and this run names none: pass \
                 --partner-id (or set HUAWEICLOUD_PARTNER_ID or HUAWEICLOUD_SDK_DOMAIN_ID). Your \
                 account id is on the console's \"My Credentials\" page (\"Account ID\"), or run \
                 `checkuser doctor` with the same settings to see what is missing"
            );
        }
        Ok(Scope {
            host: crate::api::client::authority(endpoint),
            partner: account.to_string(),
            api: api.name().into(),
        })
    }

    /// The simulator's answers: its port changes every run, so they are keyed by a fixed name.
    pub fn sandbox(partner_id: &str, api: crate::api::ApiVersion) -> Scope {
        Scope {
            host: "sandbox".into(),
            partner: partner_id.into(),
            api: api.name().into(),
        }
    }
}

/// What the planner needs of a stored answer: its result, its time, whether it may be reused
/// now, and the answer a new one would be measured against ([`policy::base`]), which the run
/// carries to [`Store::record_over`] instead of reading the row again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Age {
    pub result: ResultKind,
    pub at: DateTime<Utc>,
    pub fresh: bool,
    pub base: policy::Base,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// With `source=cache`, its previous answer, and `change` set when it differs from the last
    /// reported one and no run has reported it yet.
    pub outcome: Outcome,
    /// Whether the reuse rules allow answering from it at the time asked.
    pub fresh: bool,
}

impl Stored {
    /// The answer a new one is measured against ([`policy::base`]).
    pub fn base(&self) -> policy::Base {
        policy::base(&self.outcome)
    }
}

/// Answers are committed in groups: at most this long after the first uncommitted one, so a
/// kill loses at most the answers of the last fraction of a second (they are asked again).
pub const COMMIT_WINDOW: Duration = Duration::from_millis(50);

/// What a backend does: persist rows and read them back. It decides nothing: what is recorded,
/// what a change is and what is fresh are [`policy`]'s, applied by [`Store`].
pub trait Backend: Send {
    /// The stored rows for these values (`source=cache`, `attempts=0`), in order.
    fn fetch(&self, items: &[(CheckType, &str)]) -> Result<Vec<Option<Outcome>>>;
    /// Writes a row as it is (previous answer and change flag already decided).
    fn write(&mut self, kind: CheckType, row: &Outcome) -> Result<()>;
    /// When the rows written so far must be committed, if any wait.
    fn commit_due(&self) -> Option<Instant>;
    /// Makes every written row durable against a crash of this process.
    fn commit(&mut self) -> Result<()>;
    /// Clears these values' change flags (their run's outputs are written), and commits.
    fn mark_reported(&mut self, keys: &[String]) -> Result<()>;
}

/// An ability of some stores: keeping an answer that could not be recorded (the database is
/// away) where the next run records it.
pub trait Spool: Send {
    fn keep(&mut self, kind: CheckType, o: &Outcome) -> Result<()>;
}

/// An ability of some stores: joining the other runs of the scope (team mode).
pub trait Joinable: Send {
    /// Registers this run with its `--rate` and the reuse rules it plans with.
    fn join(&self, rate: f64, reuse: Reuse) -> BoxFuture<'static, Result<Arc<dyn Team>>>;
}

/// The answers of one scope, as the engine uses them: the rules of [`policy`] over a
/// [`Backend`], with the abilities the backend has.
pub struct Store {
    backend: Box<dyn Backend>,
    reuse: Reuse,
    spool: Option<Box<dyn Spool>>,
    team: Option<Box<dyn Joinable>>,
    /// How far the store's clock is ahead of this machine's: answers shared by machines are
    /// dated and judged on the store's clock, never on each machine's own.
    clock: chrono::TimeDelta,
}

impl Store {
    pub fn new(backend: Box<dyn Backend>, reuse: Reuse) -> Store {
        Store {
            backend,
            reuse,
            spool: None,
            team: None,
            clock: chrono::TimeDelta::zero(),
        }
    }

    /// Judges answers on a clock `ahead` of this machine's (the database's).
    pub fn with_clock(mut self, ahead: chrono::TimeDelta) -> Store {
        self.clock = ahead;
        self
    }

    /// Now, on the store's clock: what answers' ages are measured against.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock
    }

    /// Gives the store the ability to keep answers for later.
    pub fn with_spool(mut self, spool: Box<dyn Spool>) -> Store {
        self.spool = Some(spool);
        self
    }

    /// Gives the store the ability to join a team.
    pub fn with_team(mut self, team: Box<dyn Joinable>) -> Store {
        self.team = Some(team);
        self
    }

    pub fn reuse(&self) -> Reuse {
        self.reuse
    }

    /// The stored answer for a key, if any, with whether it may be reused at `now`.
    pub fn lookup(&self, kind: CheckType, key: &str, now: DateTime<Utc>) -> Result<Option<Stored>> {
        Ok(self.lookup_many(&[(kind, key)], now)?.pop().flatten())
    }

    /// [`Store::lookup`] for many values at once (one round trip for a server).
    pub fn lookup_many(
        &self,
        items: &[(CheckType, &str)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Stored>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.backend.fetch(items)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.map(|outcome| Stored {
                    fresh: self.reuse.fresh(&outcome, now),
                    outcome,
                })
            })
            .collect())
    }

    /// What the planner needs of many stored answers: result, time, fresh at `now`.
    pub fn age_many(
        &self,
        items: &[(CheckType, &str)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Age>>> {
        Ok(self
            .lookup_many(items, now)?
            .into_iter()
            .map(|s| {
                s.map(|s| Age {
                    result: s.outcome.result,
                    at: s.outcome.checked_at.unwrap_or_default(),
                    fresh: s.fresh,
                    base: s.base(),
                })
            })
            .collect())
    }

    /// Records an outcome as [`policy::decide`] says (errors and pending checks are not kept),
    /// keeping the answer it replaces as the previous one.
    pub fn record(&mut self, kind: CheckType, o: &Outcome) -> Result<Recorded> {
        if !policy::recordable(o.result) {
            return Ok(Recorded::default());
        }
        let before = self
            .backend
            .fetch(&[(kind, &o.checked_key)])?
            .pop()
            .flatten();
        self.record_over(kind, o, before.as_ref().and_then(policy::base))
    }

    /// [`Store::record`] over a row this run already read ([`Stored::base`], [`Age::base`];
    /// `None`: there was none): the row is not read again. Only for a store this run holds
    /// alone (a file under its [`RunLock`]): no other run can have written the value since.
    pub fn record_over(
        &mut self,
        kind: CheckType,
        o: &Outcome,
        before: policy::Base,
    ) -> Result<Recorded> {
        let Some((row, recorded)) = policy::decide_over(before, o) else {
            return Ok(Recorded::default());
        };
        self.backend.write(kind, &row)?;
        if self.commit_due().is_some_and(|due| due <= Instant::now()) {
            self.commit()?;
        }
        Ok(recorded)
    }

    /// When the answers recorded so far must be committed, if any wait.
    pub fn commit_due(&self) -> Option<Instant> {
        self.backend.commit_due()
    }

    /// Makes every recorded answer durable against a crash of this process.
    pub fn commit(&mut self) -> Result<()> {
        self.backend.commit()
    }

    /// Marks these values' changes as reported (their run's outputs are written), and commits.
    pub fn mark_reported(&mut self, keys: &[String]) -> Result<()> {
        self.backend.mark_reported(keys)
    }

    /// Where answers that could not be recorded are kept, if this store has such a place.
    pub fn spool(&mut self) -> Option<&mut (dyn Spool + 'static)> {
        self.spool.as_deref_mut()
    }

    /// Joins the runs sharing this store's scope (team mode), pacing at most `rate`. `None`
    /// for a store of one machine (the run paces alone).
    pub fn join_team(&self, rate: f64) -> Option<BoxFuture<'static, Result<Arc<dyn Team>>>> {
        self.team.as_ref().map(|t| t.join(rate, self.reuse))
    }
}

/// A key this run holds in team mode: its fencing token, the row the store held when it was
/// claimed (the answer a new one is measured against), and the request slot granted with it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub token: i64,
    pub before: Option<Outcome>,
    /// When this run may send (tokio's clock): the database granted the slot on its own clock.
    pub slot: tokio::time::Instant,
}

/// What claiming a key came to.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This run asks it now.
    Mine(Grant),
    /// A run of the team answered it since this run joined: nothing to ask.
    Answered(Outcome),
}

/// What runs sharing one database and scope share besides the answers: one quota (a GCRA
/// bucket in the database, on the database's clock; the smallest `--rate` of the runs now
/// active; a 429 seen by one slows all) and the keys being asked (a claim is a lease with a
/// fencing token: a run that dies frees its keys when the lease ends, and a run that could not
/// renew its lease in time does not send).
pub trait Team: Send + Sync {
    /// Claims a key, waiting while another live run asks it; resolves with this run's grant or
    /// the answer another run recorded since this run joined. `Err`: the database is away.
    fn claim<'a>(&'a self, kind: CheckType, key: &'a str) -> BoxFuture<'a, Result<Claim>>;
    /// Whether this run may still send under `token` now: the claim was not lost and its
    /// lease was renewed recently enough that it cannot have expired.
    fn holds(&self, token: i64) -> bool;
    /// Waits until the lease was renewed once more (after a freeze); `Ok(false)`: the claim
    /// was lost meanwhile (another run may have asked the key).
    fn renew(&self, token: i64) -> BoxFuture<'_, Result<bool>>;
    /// A new request slot (a retry, or a slot that passed while this run was stalled).
    fn slot(&self) -> BoxFuture<'_, Result<tokio::time::Instant>>;
    /// A 429 arrived: no run of the scope sends for `wait`.
    fn throttled(&self, wait: Duration);
    /// Records an answer under the claim's token, as [`policy::decide`] says over the row
    /// held at claim time. A claim lost meanwhile records nothing (the run that holds it now
    /// records its own answer).
    fn record<'a>(
        &'a self,
        kind: CheckType,
        grant: &'a Grant,
        o: &'a Outcome,
    ) -> BoxFuture<'a, Result<Recorded>>;
    /// Gives a claim back without an answer (an error, a stop).
    fn release(&self, kind: CheckType, key: &str, token: i64);
    /// Database round trips made so far (for the summary and `bench.sh team`).
    fn round_trips(&self) -> u64;
    /// This run's checks, `claims` of them, are all started: once their claims have arrived
    /// it claims no new key, and the statement that records its last answers may leave the
    /// team too, so that leaving costs no statement of its own.
    fn closing(&self, claims: u64);
    /// Records what is still waiting, gives back this run's open claims and leaves the team.
    fn leave(&self) -> BoxFuture<'_, ()>;
}

/// The store as the engine's tasks share it: the dispatcher records, a flusher commits on
/// time, the settle pass reads; one at a time.
pub type Shared = Arc<Mutex<Store>>;

/// Wraps a store for sharing.
pub fn shared(store: Store) -> Shared {
    Arc::new(Mutex::new(store))
}

/// Locks a shared store; a task that panicked while holding it left nothing half-written
/// that SQLite would not roll back, so the lock is taken over.
pub fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Store> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens the store at `location` for one scope; `join` (a run's `--rate`) registers the run
/// with its team as the store opens, where the store has teams.
pub fn open(location: &Location, scope: Scope, reuse: Reuse, join: Option<f64>) -> Result<Store> {
    match location {
        Location::File(path) => sqlite::store(path, scope, reuse),
        Location::Postgres(target) => postgres::open(target, scope, reuse, join),
    }
}

/// Answers per (endpoint, partner, api, type, result), for `checkuser state stats`.
pub type Count = (String, String, String, String, String, i64);

/// The columns of `checkuser state export`.
pub const EXPORT_COLUMNS: [&str; 15] = [
    "endpoint",
    "partner",
    "api",
    "type",
    "key",
    "result",
    "status",
    "uplimit",
    "error_code",
    "error_msg",
    "http_status",
    "request_id",
    "checked_at",
    "previous_result",
    "previous_checked_at",
];

/// The whole store, every scope, as `checkuser state` uses it.
pub trait Admin {
    /// Answers per (endpoint, partner, api, type, result).
    fn counts(&self) -> Result<Vec<Count>>;
    /// (answers, oldest, newest answer time in unix seconds).
    fn span(&self) -> Result<(i64, Option<i64>, Option<i64>)>;
    /// Forgets answers older than `cutoff`; returns how many.
    fn prune(&self, cutoff: DateTime<Utc>) -> Result<usize>;
    /// Every stored answer as text in [`EXPORT_COLUMNS`] order, handed to `row`.
    fn export(&self, row: &mut dyn FnMut(&[String]) -> Result<()>) -> Result<()>;
    /// Where it is and how big, for people.
    fn describe(&self) -> String;
    /// Adds answers as they are (`state copy`): each row in [`EXPORT_COLUMNS`] order, times
    /// in unix seconds; an answer already held is kept if it is newer. Returns how many were
    /// written.
    fn import(&mut self, rows: &mut dyn Iterator<Item = Result<RawAnswer>>) -> Result<u64>;
    /// Every stored answer as it is, for `state copy`.
    fn raw(&self, row: &mut dyn FnMut(RawAnswer) -> Result<()>) -> Result<()>;
}

/// A raw answer as the text columns of `state export` ([`EXPORT_COLUMNS`]).
pub fn export_record(a: &RawAnswer) -> [String; 15] {
    let time = |s: Option<i64>| {
        s.and_then(|s| chrono::TimeZone::timestamp_opt(&Utc, s, 0).single())
            .map(crate::model::rfc3339)
            .unwrap_or_default()
    };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    [
        a.host.clone(),
        a.partner.clone(),
        a.api.clone(),
        a.kind.clone(),
        a.key.clone(),
        a.result.clone(),
        text(&a.status),
        text(&a.uplimit),
        text(&a.error_code),
        text(&a.error_msg),
        a.http_status.map(|h| h.to_string()).unwrap_or_default(),
        text(&a.request_id),
        time(Some(a.checked_at)),
        text(&a.prev_result),
        time(a.prev_checked_at),
    ]
}

/// One stored answer with its whole key, as `state copy` moves it between backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    pub host: String,
    pub partner: String,
    pub api: String,
    pub kind: String,
    pub key: String,
    pub result: String,
    pub status: Option<String>,
    pub uplimit: Option<String>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    pub http_status: Option<i64>,
    pub request_id: Option<String>,
    pub checked_at: i64,
    pub prev_result: Option<String>,
    pub prev_checked_at: Option<i64>,
    pub change_unreported: bool,
}

/// Opens the whole store at `location` for the `state` command.
pub fn open_admin(location: &Location) -> Result<Box<dyn Admin>> {
    match location {
        Location::File(path) => Ok(Box::new(sqlite::SqliteAdmin::open(path)?)),
        Location::Postgres(target) => Ok(Box::new(postgres::PgAdmin::open(target)?)),
    }
}
