//! The state store: every answer is recorded as it arrives, keyed by endpoint host, partner,
//! API version, type and normalized key, so that a crash, a Ctrl-C or the next night's run
//! never asks twice. The engine sees it through [`AnswerStore`] (lookup, record, commit, change
//! reporting); the `state` command through [`Admin`] (stats, export, prune). Backends:
//! [`sqlite`] (the default file) and [`memory`] (engine tests). A new backend is one module and
//! one arm in [`open`] / [`open_admin`], where a [`Location`] is matched.

pub mod location;
pub mod lock;
pub mod memory;
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

/// Which answers may be reused.
#[derive(Debug, Clone, Copy)]
pub struct Reuse {
    pub max_age: Duration,
    pub taken_max_age: Duration,
    /// `--refresh`: reuse nothing (answers are still recorded).
    pub refresh: bool,
}

impl Reuse {
    /// Whether an answer given at `at` may be reused at `now`. An answer dated in the future
    /// (the clock jumped back since) is never fresh: its age is unknown.
    pub fn is_fresh(&self, result: ResultKind, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        if self.refresh || at > now {
            return false;
        }
        let age = (now - at).to_std().unwrap_or(Duration::ZERO);
        match result {
            ResultKind::Taken | ResultKind::Uplimit => age < self.taken_max_age.max(self.max_age),
            ResultKind::Free | ResultKind::Invalid => age < self.max_age,
            _ => false,
        }
    }
}

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

/// What the planner needs of a stored answer: its result, its time, and whether it may be
/// reused now.
pub type Age = (ResultKind, DateTime<Utc>, bool);

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// With `source=cache`, its previous answer, and `change` set when it differs from the last
    /// reported one and no run has reported it yet.
    pub outcome: Outcome,
    /// Whether the reuse rules allow answering from it at the time asked.
    pub fresh: bool,
}

/// What recording an answer left in the store: the previous answer it keeps, and whether the
/// value's answer is now a change no run has reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    pub previous: Option<(ResultKind, DateTime<Utc>)>,
    pub change: bool,
}

/// Answers are committed in groups: at most this long after the first uncommitted one, so a
/// kill loses at most the answers of the last fraction of a second (they are asked again).
pub const COMMIT_WINDOW: Duration = Duration::from_millis(50);

/// The answers of one scope, as the engine uses them.
pub trait AnswerStore: Send {
    /// The stored answer for a key, if any, with whether it may be reused at `now`.
    fn lookup(&self, kind: CheckType, key: &str, now: DateTime<Utc>) -> Result<Option<Stored>>;

    /// What the planner needs of a stored answer: its result, its time, and whether it may be
    /// reused at `now`.
    fn age(&self, kind: CheckType, key: &str, now: DateTime<Utc>) -> Result<Option<Age>> {
        Ok(self.lookup(kind, key, now)?.map(|s| {
            let at = s.outcome.checked_at.unwrap_or_default();
            (s.outcome.result, at, s.fresh)
        }))
    }

    /// [`AnswerStore::lookup`] for many values at once (one round trip for a server).
    fn lookup_many(
        &self,
        items: &[(CheckType, &str)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Stored>>> {
        items.iter().map(|(k, v)| self.lookup(*k, v, now)).collect()
    }

    /// [`AnswerStore::age`] for many values at once (one round trip for a server).
    fn age_many(
        &self,
        items: &[(CheckType, &str)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Age>>> {
        items.iter().map(|(k, v)| self.age(*k, v, now)).collect()
    }

    /// Records an API answer (errors and pending checks are not answers and are not kept),
    /// keeping the answer it replaces as the previous one; a change is recorded with it, in the
    /// same transaction.
    fn record(&mut self, kind: CheckType, o: &Outcome) -> Result<Recorded>;

    /// When the answers recorded so far must be committed, if any wait.
    fn commit_due(&self) -> Option<Instant>;

    /// Makes every recorded answer durable against a crash of this process.
    fn commit(&mut self) -> Result<()>;

    /// Marks these values' changes as reported (their run's outputs are written), and commits.
    fn mark_reported(&mut self, keys: &[String]) -> Result<()>;

    /// Keeps an answer the store could not record (its database is away) where the next run
    /// finds and records it. A store that cannot do that says so (the run then stops).
    fn keep_for_later(&mut self, _kind: CheckType, _o: &Outcome) -> Result<()> {
        anyhow::bail!("this state store cannot keep answers for later")
    }

    /// Joins the runs sharing this store's scope (team mode), pacing at most `rate`: their
    /// shared quota and claims. `None` for a store of one machine (the run paces alone).
    fn team(&mut self, _rate: f64) -> Result<Option<Arc<dyn Team>>> {
        Ok(None)
    }
}

/// What claiming a key came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This run asks it now.
    Mine,
    /// Another live run is asking it: wait for its answer ([`Team::answered`]).
    Busy,
    /// A run of the team answered it since this run started: nothing to ask.
    Answered(Outcome),
}

/// What runs sharing one database and scope share besides the answers: one quota (a GCRA
/// bucket in the database, on the database's clock; the smallest `--rate` of the runs now
/// active; a 429 seen by one slows all) and the keys being asked (a claim is a lease: a run
/// that dies frees its keys when the lease ends).
pub trait Team: Send + Sync {
    /// Waits for this run's next request slot. `Err`: the database is away.
    fn slot(&self) -> BoxFuture<'_, Result<()>>;
    /// A 429 arrived: no run of the scope sends for `wait`.
    fn throttled(&self, wait: Duration) -> BoxFuture<'_, ()>;
    /// Claims a key, unless a run of the team answered it since this run joined.
    fn claim<'a>(&'a self, kind: CheckType, key: &'a str) -> BoxFuture<'a, Result<Claim>>;
    /// The answer recorded for a key at or after `since` (by any run), if any.
    fn answered<'a>(
        &'a self,
        kind: CheckType,
        key: &'a str,
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Outcome>>>;
    /// Gives a claim back without an answer (an error, a stop).
    fn release<'a>(&'a self, kind: CheckType, key: &'a str) -> BoxFuture<'a, ()>;
}

/// The store as the engine's tasks share it: the dispatcher records, a flusher commits on
/// time, the settle pass reads; one at a time.
pub type Shared = Arc<Mutex<Box<dyn AnswerStore>>>;

/// Wraps a store for sharing.
pub fn shared(store: Box<dyn AnswerStore>) -> Shared {
    Arc::new(Mutex::new(store))
}

/// Locks a shared store; a task that panicked while holding it left nothing half-written
/// that SQLite would not roll back, so the lock is taken over.
pub fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Box<dyn AnswerStore>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens the store at `location` for one scope.
pub fn open(location: &Location, scope: Scope, reuse: Reuse) -> Result<Box<dyn AnswerStore>> {
    match location {
        Location::File(path) => Ok(Box::new(sqlite::SqliteStore::open(path, scope, reuse)?)),
        Location::Postgres(target) => Ok(Box::new(postgres::PgStore::open(target, scope, reuse)?)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_dated_in_the_future_is_never_fresh() {
        let reuse = Reuse {
            max_age: Duration::from_secs(3600),
            taken_max_age: Duration::from_secs(86400),
            refresh: false,
        };
        let now = Utc::now();
        let ahead = now + chrono::TimeDelta::seconds(5);
        let behind = now - chrono::TimeDelta::seconds(5);
        for r in [ResultKind::Free, ResultKind::Taken] {
            assert!(!reuse.is_fresh(r, ahead, now), "{r} from the future");
            assert!(reuse.is_fresh(r, behind, now));
        }
    }
}
