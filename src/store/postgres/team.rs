//! What the runs of one scope share in the database, as one actor per run: a task that owns
//! an async connection (tokio-postgres, one runtime) and turns the engine's asks (claim this
//! key, record this answer, a slot for a retry, a 429 seen) into one statement per tick
//! ([`super::tick`]), at most every [`TICK`]. Other runs' answers arrive by `LISTEN/NOTIFY`
//! with the answer in the payload, so a run waiting for a key another run asks makes no
//! round trip for it. Claims are leases with fencing tokens: a run sends only while its last
//! renewal is younger than the lease less a margin ([`Team::holds`]), and an answer is
//! recorded only under a token still held.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::conn::Target;
use super::link::Link;
use super::tick::{self, Record, Reply};
use super::LEASE;
use crate::model::{CheckType, Outcome};
use crate::store::{policy, Claim, Grant, Joinable, Recorded, Reuse, Scope, Team};

/// The shortest time between two statements of a run: what accumulates meanwhile (claims,
/// answers, slots) goes in the next one.
const TICK: Duration = Duration::from_millis(250);
/// How long the first ask waits for others to join it in a statement.
const GATHER: Duration = Duration::from_millis(20);
/// How long answers wait for the next answers of this run when more of its checks are in
/// flight: the slots of one statement's claims are consecutive, so their answers arrive close
/// together and are recorded in one statement.
const RECORD_GATHER: Duration = Duration::from_millis(300);
/// The keys a statement claims at least, when the run has that many to claim and the bucket
/// is already a horizon ahead: two requests per claiming statement, whatever the team's size.
const MIN_CLAIMS: i64 = 2;
/// How often a run holding claims renews them when it has nothing else to say (well within
/// the lease less the fence margin, and longer than a run's turn in a big team, so that the
/// statement carrying its answers renews its leases too).
const HEARTBEAT: Duration = Duration::from_secs(17);
/// Keys are claimed only as far as the scope's bucket has slots within this time (at least
/// [`MIN_CLAIMS`] per statement): no run holds claims for slots far ahead.
const HORIZON: Duration = Duration::from_secs(2);
/// How often an idle run says it is alive (its `--rate` counts while it does).
const ALIVE: Duration = Duration::from_secs(40);
/// A run sends under a claim only while its last renewal is younger than the lease less this.
const FENCE_MARGIN: Duration = Duration::from_secs(5);
/// The share of the rate the bucket grants: network jitter between machines must not put one
/// request too many into a gateway's second.
const MARGIN: f64 = 0.98;
/// How long a lost connection is tried again (a restart takes a few seconds).
pub const RECONNECT_FOR: Duration = Duration::from_secs(8);

/// Opens team mode for a store's scope.
pub struct Joiner {
    pub target: Target,
    pub scope: Scope,
    /// The run's id and when it joined (database clock): it registered as the store opened.
    pub registered: (String, f64),
}

/// This machine's name, as the runs table shows it.
pub fn machine() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// A new run's id: machine, process, and a random part.
pub fn run_id() -> String {
    format!(
        "{}-{}-{:x}",
        machine(),
        std::process::id(),
        rand::random::<u64>()
    )
}

impl Joinable for Joiner {
    fn join(&self, rate: f64, _reuse: Reuse) -> BoxFuture<'static, Result<Arc<dyn Team>>> {
        let (target, scope) = (self.target.clone(), self.scope.clone());
        let registered = self.registered.clone();
        Box::pin(async move {
            let team: Arc<dyn Team> =
                Arc::new(PgTeam::join(target, scope, rate, registered).await?);
            Ok(team)
        })
    }
}

type Key = (CheckType, String);
type Reply1<T> = oneshot::Sender<Result<T>>;

enum Ask {
    Claim(Key, Reply1<Claim>),
    Record(Box<Record>, Recorded, Reply1<Recorded>),
    Release(i64),
    Slot(Reply1<Instant>),
    Renew(i64, Reply1<bool>),
    Throttled(f64),
    Closing(u64),
    Leave(oneshot::Sender<()>),
}

enum Event {
    Ask(Option<Ask>),
    Note(Option<String>),
    Due,
}

/// At most this many announced answers are kept (a run hears the whole team's).
const HEARD_MAX: usize = 500_000;

/// What the handle and the actor both see.
#[derive(Default)]
pub struct Seen {
    /// When the last statement that renewed this run's leases was sent (tokio's clock).
    pub renewed: Mutex<Option<Instant>>,
    /// Tokens this run lost (its lease ran out and another run claimed the key).
    pub lost: Mutex<HashSet<i64>>,
    pub round_trips: AtomicU64,
}

/// This run's membership of the team.
pub struct PgTeam {
    asks: mpsc::UnboundedSender<Ask>,
    seen: Arc<Seen>,
}

impl PgTeam {
    /// Listens for the team's answers and starts the actor of a run that registered (with
    /// its `--rate`) as the store opened.
    pub async fn join(
        target: Target,
        scope: Scope,
        rate: f64,
        (run_id, joined): (String, f64),
    ) -> Result<PgTeam> {
        let seen = Arc::new(Seen::default());
        let link = Link::connect(&target, &seen).await?;
        let (asks, rx) = mpsc::unbounded_channel();
        let actor = Actor {
            target,
            tag: tick::scope_tag(&scope),
            scope,
            run_id,
            rate,
            joined,
            link: Some(link),
            seen: seen.clone(),
            pending: Pending::default(),
            waiting: HashMap::new(),
            heard: HashMap::new(),
            held: HashSet::new(),
            last_tick: Some(Instant::now()),
            first_ask: None,
            first_claim: None,
            closing: None,
            claims_asked: 0,
            left: false,
            away: false,
            deferred: Vec::new(),
            deferred_at: Instant::now(),
        };
        tokio::spawn(actor.run(rx));
        Ok(PgTeam { asks, seen })
    }

    fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(Reply1<T>) -> Ask,
    ) -> BoxFuture<'static, Result<T>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.asks.send(make(tx));
        Box::pin(async move {
            sent.map_err(|_| anyhow!("team mode has ended"))?;
            rx.await.map_err(|_| anyhow!("team mode has ended"))?
        })
    }
}

impl Team for PgTeam {
    fn claim<'a>(&'a self, kind: CheckType, key: &'a str) -> BoxFuture<'a, Result<Claim>> {
        self.ask(|tx| Ask::Claim((kind, key.to_string()), tx))
    }

    fn holds(&self, token: i64) -> bool {
        let renewed = *self.seen.renewed.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = renewed.is_some_and(|t| t.elapsed() + FENCE_MARGIN < LEASE);
        fresh
            && !self
                .seen
                .lost
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&token)
    }

    fn renew(&self, token: i64) -> BoxFuture<'_, Result<bool>> {
        self.ask(|tx| Ask::Renew(token, tx))
    }

    fn slot(&self) -> BoxFuture<'_, Result<Instant>> {
        self.ask(Ask::Slot)
    }

    fn throttled(&self, wait: Duration) {
        let _ = self.asks.send(Ask::Throttled(wait.as_secs_f64()));
    }

    fn record<'a>(
        &'a self,
        kind: CheckType,
        grant: &'a Grant,
        o: &'a Outcome,
    ) -> BoxFuture<'a, Result<Recorded>> {
        let Some((row, recorded)) = policy::decide(grant.before.as_ref(), o) else {
            self.release(kind, &o.checked_key, grant.token);
            return Box::pin(async { Ok(Recorded::default()) });
        };
        let rec = Record {
            kind,
            token: grant.token,
            row,
        };
        self.ask(move |tx| Ask::Record(Box::new(rec), recorded, tx))
    }

    fn release(&self, _kind: CheckType, _key: &str, token: i64) {
        let _ = self.asks.send(Ask::Release(token));
    }

    fn round_trips(&self) -> u64 {
        self.seen.round_trips.load(Ordering::Relaxed)
    }

    fn closing(&self, claims: u64) {
        let _ = self.asks.send(Ask::Closing(claims));
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        let (tx, rx) = oneshot::channel();
        let sent = self.asks.send(Ask::Leave(tx)).is_ok();
        Box::pin(async move {
            if sent {
                let _ = rx.await;
            }
        })
    }
}

/// The asks gathered for the next statement.
#[derive(Default)]
struct Pending {
    claims: Vec<(Key, Reply1<Claim>)>,
    records: Vec<(Box<Record>, Recorded, Reply1<Recorded>)>,
    releases: Vec<i64>,
    slots: Vec<Reply1<Instant>>,
    renews: Vec<(i64, Reply1<bool>)>,
    push: f64,
}

impl Pending {
    /// Whether something waits that needs a statement soon (claims may wait for one).
    fn urgent(&self) -> bool {
        !self.records.is_empty()
            || !self.releases.is_empty()
            || !self.slots.is_empty()
            || !self.renews.is_empty()
            || self.push > 0.0
    }

    /// Whether what waits can wait for more answers (no check is held up by it).
    fn only_records(&self) -> bool {
        self.slots.is_empty() && self.renews.is_empty() && self.push <= 0.0
    }

    fn is_empty(&self) -> bool {
        self.claims.is_empty()
            && self.records.is_empty()
            && self.releases.is_empty()
            && self.slots.is_empty()
            && self.renews.is_empty()
            && self.push <= 0.0
    }

    /// Every ask fails with `e` (the database is away).
    fn fail(self, e: &anyhow::Error) {
        let why = || anyhow!("{e:#}");
        self.claims
            .into_iter()
            .for_each(|(_, t)| drop(t.send(Err(why()))));
        self.records
            .into_iter()
            .for_each(|(_, _, t)| drop(t.send(Err(why()))));
        self.slots
            .into_iter()
            .for_each(|t| drop(t.send(Err(why()))));
        self.renews
            .into_iter()
            .for_each(|(_, t)| drop(t.send(Err(why()))));
    }
}

struct Actor {
    target: Target,
    scope: Scope,
    tag: String,
    run_id: String,
    rate: f64,
    /// When this run joined, on the database's clock (epoch seconds): an answer recorded since
    /// then was not known to this run's plan, and is used, not asked again.
    joined: f64,
    link: Option<Link>,
    seen: Arc<Seen>,
    pending: Pending,
    /// Keys another live run is asking: who waits, and when to claim again if no answer came
    /// (the holder's lease ends then).
    waiting: HashMap<Key, (Vec<Reply1<Claim>>, Instant)>,
    /// Answers the team recorded since this run joined, as announced.
    heard: HashMap<Key, Outcome>,
    /// Tokens this run holds, not yet answered or given back.
    held: HashSet<i64>,
    last_tick: Option<Instant>,
    /// When the first ask that needs a statement of its own (an answer, a slot, a renewal)
    /// came since the last statement.
    first_ask: Option<Instant>,
    /// When the first claim came since the last statement (claims ride with answers).
    first_claim: Option<Instant>,
    /// How many checks the engine started in all, once it has started them all (each claims
    /// its key at least once): when that many claims came, no new one will.
    closing: Option<u64>,
    /// Claims asked so far.
    claims_asked: u64,
    /// A statement left the team (the run's row is gone): leaving needs no statement.
    left: bool,
    /// The database was found away: the run is stopping, nothing waits for it again.
    away: bool,
    /// Claims the bucket had no room for yet, and when it will.
    deferred: Vec<(Key, Reply1<Claim>)>,
    deferred_at: Instant,
}

impl Actor {
    async fn run(mut self, mut asks: mpsc::UnboundedReceiver<Ask>) {
        let mut leaving = None;
        loop {
            let due = self.due();
            let notes = self.link.as_mut().map(|l| &mut l.notes);
            let event = tokio::select! {
                ask = asks.recv() => Event::Ask(ask),
                note = recv(notes) => Event::Note(note),
                _ = tokio::time::sleep_until(due) => Event::Due,
            };
            match event {
                Event::Ask(Some(Ask::Leave(tx))) => {
                    leaving = Some(tx);
                    break;
                }
                Event::Ask(Some(ask)) => self.take(ask),
                Event::Ask(None) => break,
                Event::Note(Some(text)) => self.hear(&text),
                Event::Note(None) => self.lost_link(),
                Event::Due => self.tick().await,
            }
        }
        self.leave().await;
        if let Some(tx) = leaving {
            let _ = tx.send(());
        }
    }

    /// When the next statement is due.
    fn due(&self) -> Instant {
        let now = Instant::now();
        let after_last = |gap: Duration| self.last_tick.map_or(now, |t| t + gap);
        let mut due = after_last(ALIVE);
        if !self.held.is_empty() {
            due = due.min(after_last(HEARTBEAT));
        }
        // New claims wait for the statement the next answer of this run makes anyway; they
        // make one of their own only when nothing of this run is in flight.
        let claims = !self.pending.claims.is_empty() && self.held.is_empty();
        if self.pending.urgent() {
            let gather = if self.pending.only_records() && self.more_in_flight() {
                RECORD_GATHER
            } else {
                GATHER
            };
            let gathered = self.first_ask.map_or(now, |t| t + gather);
            due = due.min(after_last(TICK).max(gathered));
        } else if claims {
            let gathered = self.first_claim.map_or(now, |t| t + GATHER);
            due = due.min(after_last(TICK).max(gathered));
        }
        // Deferred claims ride with the next statement; their own timer is needed only when
        // no answer of this run is coming to carry them.
        if !self.deferred.is_empty() && self.held.is_empty() {
            due = due.min(self.deferred_at.max(after_last(TICK)));
        }
        if let Some(retry) = self.waiting.values().map(|(_, at)| *at).min() {
            due = due.min(retry.max(after_last(TICK)));
        }
        due
    }

    /// Whether this run holds claims beyond the answers waiting to be recorded.
    fn more_in_flight(&self) -> bool {
        self.held.len() > self.pending.records.len()
    }

    fn take(&mut self, ask: Ask) {
        match ask {
            // Claims wait for a statement this run makes anyway.
            Ask::Claim(..) => {
                self.claims_asked += 1;
                self.first_claim.get_or_insert_with(Instant::now);
            }
            Ask::Closing(_) => {}
            _ => {
                self.first_ask.get_or_insert_with(Instant::now);
            }
        }
        let p = &mut self.pending;
        match ask {
            Ask::Claim(key, tx) => {
                if let Some(o) = self.heard.get(&key) {
                    let _ = tx.send(Ok(Claim::Answered(o.clone())));
                } else if let Some((waiters, _)) = self.waiting.get_mut(&key) {
                    waiters.push(tx);
                } else {
                    p.claims.push((key, tx));
                }
            }
            Ask::Record(rec, recorded, tx) => p.records.push((rec, recorded, tx)),
            Ask::Release(token) => p.releases.push(token),
            Ask::Slot(tx) => p.slots.push(tx),
            Ask::Renew(token, tx) => p.renews.push((token, tx)),
            Ask::Throttled(secs) => p.push = p.push.max(secs),
            Ask::Closing(n) => self.closing = Some(n),
            Ask::Leave(_) => {}
        }
    }

    /// Another run recorded an answer.
    fn hear(&mut self, payload: &str) {
        let Some((kind, key, answer)) = tick::heard(&self.tag, payload) else {
            return;
        };
        let key = (kind, key);
        match answer {
            Some(o) => {
                if let Some((waiters, _)) = self.waiting.remove(&key) {
                    for w in waiters {
                        let _ = w.send(Ok(Claim::Answered(o.clone())));
                    }
                }
                if self.heard.len() < HEARD_MAX {
                    self.heard.insert(key, o);
                }
            }
            // Too big to announce: claim again now, which reads it.
            None => {
                if let Some((_, at)) = self.waiting.get_mut(&key) {
                    *at = Instant::now();
                }
            }
        }
    }

    /// The connection dropped: announcements may have been missed, so every waiting key is
    /// claimed again at the next statement, which reconnects.
    fn lost_link(&mut self) {
        self.link = None;
        self.claim_waiting_again();
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        let mut p = std::mem::take(&mut self.pending);
        self.first_ask = None;
        self.first_claim = None;
        let due: Vec<Key> = self
            .waiting
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some((waiters, _)) = self.waiting.remove(&key) {
                for w in waiters {
                    p.claims.push((key.clone(), w));
                }
            }
        }
        // Deferred claims ride along every statement.
        p.claims.append(&mut self.deferred);
        let mut order: Vec<Key> = p.claims.iter().map(|(k, _)| k.clone()).collect();
        order.sort();
        order.dedup();
        let held_before = self.held.clone();
        let leaving = self.leaves_with(&p);
        match self.send(&p, &order, leaving).await {
            Ok((reply, sent)) => {
                self.away = false;
                self.left = leaving;
                let deferred: HashSet<Key> = reply
                    .deferred
                    .iter()
                    .filter_map(|i| order.get(i.checked_sub(1)?).cloned())
                    .collect();
                self.apply(p, reply, sent, held_before, deferred)
            }
            Err(e) => {
                tracing::warn!("team mode: {e:#}");
                // The run stops now; what it still says is tried once, not for seconds more.
                self.away = true;
                p.fail(&e);
            }
        }
        self.last_tick = Some(Instant::now());
    }

    /// Whether this statement may leave the team: the engine claims nothing more and, once
    /// its answers are recorded, this run holds, waits for and defers nothing.
    fn leaves_with(&self, p: &Pending) -> bool {
        let mut after = self.held.clone();
        for t in p
            .records
            .iter()
            .map(|(r, _, _)| r.token)
            .chain(p.releases.iter().copied())
        {
            after.remove(&t);
        }
        self.closing.is_some_and(|n| self.claims_asked >= n)
            && after.is_empty()
            && p.claims.is_empty()
            && p.slots.is_empty()
            && self.deferred.is_empty()
            && self.waiting.is_empty()
    }

    /// Sends one statement, reconnecting for a while if the connection was lost.
    async fn send(
        &mut self,
        p: &Pending,
        claims: &[Key],
        leaving: bool,
    ) -> Result<(Reply, Instant)> {
        let records: Vec<&Record> = p.records.iter().map(|(r, _, _)| r.as_ref()).collect();
        let records = tick::records_json(&self.scope, &records);
        let claims = tick::claims_json(claims);
        let released = serde_json::to_string(&p.releases).unwrap_or_else(|_| "[]".into());
        let started = Instant::now();
        loop {
            if self.link.is_none() {
                match Link::connect(&self.target, &self.seen).await {
                    Ok(link) => self.link = Some(link),
                    // A restart is under way, or it is gone: try for a while.
                    Err(e) if started.elapsed() < RECONNECT_FOR && !self.away => {
                        tracing::debug!("team mode: {e:#}: trying again");
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                self.claim_waiting_again();
            }
            let link = self.link.as_ref().expect("just connected");
            let s = &self.scope;
            let sent = Instant::now();
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 16] = [
                &s.host,
                &s.partner,
                &s.api,
                &self.run_id,
                &LEASE.as_secs_f64(),
                &self.joined,
                &MARGIN,
                &records,
                &claims,
                &self.rate,
                &(p.slots.len() as i64),
                &p.push,
                &released,
                &HORIZON.as_secs_f64(),
                &MIN_CLAIMS,
                &leaving,
            ];
            match link.tick(&args, &self.seen).await {
                Ok(row) => return Ok((tick::reply(&row)?, sent)),
                Err(e) if started.elapsed() < RECONNECT_FOR && link.is_closed() && !self.away => {
                    tracing::warn!(
                        "team mode: the database connection was lost ({e:#}): reconnecting"
                    );
                    self.link = None;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => {
                    if link.is_closed() {
                        self.link = None;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Announcements may have been missed (the connection was lost): every key waited for is
    /// claimed again with the next statement, which reads its answer if there is one.
    fn claim_waiting_again(&mut self) {
        let now = Instant::now();
        for (_, at) in self.waiting.values_mut() {
            *at = now;
        }
    }

    /// Hands the statement's results to the asks it carried.
    fn apply(
        &mut self,
        mut p: Pending,
        reply: Reply,
        sent: Instant,
        held_before: HashSet<i64>,
        deferred: HashSet<Key>,
    ) {
        let arrived = Instant::now();
        let renewed: HashSet<i64> = reply.renewed.iter().copied().collect();
        let recorded: HashSet<i64> = reply.recorded.iter().copied().collect();
        let mut gone: HashSet<i64> = p.releases.iter().copied().collect();
        gone.extend(p.records.iter().map(|(r, _, _)| r.token));
        let lost: Vec<i64> = held_before
            .iter()
            .filter(|t| !renewed.contains(t) && !gone.contains(t))
            .copied()
            .collect();
        if !lost.is_empty() {
            tracing::warn!("team mode: {} claims lost (this run was stalled past its lease): their keys are left to the run that holds them now", lost.len());
            self.seen
                .lost
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(&lost);
        }
        for t in gone.iter().chain(&lost) {
            self.held.remove(t);
        }
        // Only now, with the lost claims marked, may `holds` see the renewal as fresh.
        *self.seen.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Some(sent);
        for (rec, decided, tx) in p.records {
            let fenced = !recorded.contains(&rec.token);
            let r = if fenced {
                tracing::debug!("team mode: an answer was not recorded: its claim was lost");
                Recorded {
                    previous: decided.previous,
                    change: false,
                }
            } else {
                decided
            };
            let _ = tx.send(Ok(r));
        }
        for (token, tx) in p.renews {
            let _ = tx.send(Ok(!lost.contains(&token) && !self.seen_lost(token)));
        }
        tracing::debug!(
            "team mode: tick: {} granted, {} refused, {} deferred, {} recorded, {} waiting, {} slots, ahead {:?}",
            reply.granted.len(),
            reply.refused.len(),
            deferred.len(),
            reply.recorded.len(),
            self.waiting.len(),
            reply.slots,
            reply.ahead
        );
        let (later, now): (Vec<_>, Vec<_>) = std::mem::take(&mut p.claims)
            .into_iter()
            .partition(|(k, _)| deferred.contains(k));
        if !later.is_empty() {
            // Claimed when the bucket has room again, or with the next statement if sooner.
            let room = reply.ahead.unwrap_or(reply.bucket) - HORIZON.as_secs_f64();
            self.deferred_at = arrived + secs(room).max(TICK);
            self.deferred = later;
        }
        self.grant(now, p.slots, &reply, arrived);
    }

    fn seen_lost(&self, token: i64) -> bool {
        self.seen
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&token)
    }

    /// Claims granted get their slots in order; refused ones wait for the answer.
    fn grant(
        &mut self,
        claims: Vec<(Key, Reply1<Claim>)>,
        slots: Vec<Reply1<Instant>>,
        reply: &Reply,
        arrived: Instant,
    ) {
        let first = reply.ahead.unwrap_or(0.0) - reply.slots as f64 * reply.gap;
        let mut next = (0..).map(|i| arrived + secs(first + i as f64 * reply.gap));
        let mut waiters: HashMap<Key, Vec<Reply1<Claim>>> = HashMap::new();
        for (key, tx) in claims {
            waiters.entry(key).or_default().push(tx);
        }
        for (kind, key, token, before) in &reply.granted {
            let Some(txs) = waiters.remove(&(*kind, key.clone())) else {
                continue;
            };
            self.held.insert(*token);
            let grant = Grant {
                token: *token,
                before: before.clone(),
                slot: next.next().expect("endless"),
            };
            // Two asks for one key in one run do not happen (the dispatcher asks each once);
            // should they, the first one asks and the others wait for its answer.
            let mut txs = txs.into_iter();
            if let Some(tx) = txs.next() {
                let _ = tx.send(Ok(Claim::Mine(grant)));
            }
            let rest: Vec<_> = txs.collect();
            if !rest.is_empty() {
                self.waiting
                    .insert((*kind, key.clone()), (rest, arrived + LEASE));
            }
        }
        for tx in slots {
            let _ = tx.send(Ok(next.next().expect("endless")));
        }
        for (kind, key, answer, expires_in) in &reply.refused {
            let key = (*kind, key.clone());
            let Some(txs) = waiters.remove(&key) else {
                continue;
            };
            match answer {
                Some(o) => {
                    txs.into_iter()
                        .for_each(|tx| drop(tx.send(Ok(Claim::Answered(o.clone())))));
                    self.heard.insert(key, o.clone());
                }
                None => {
                    let retry = arrived + secs(expires_in.max(0.0) + 0.5);
                    self.waiting
                        .entry(key)
                        .or_insert((Vec::new(), retry))
                        .0
                        .extend(txs);
                }
            }
        }
    }

    /// Gives back this run's open claims and leaves the team.
    async fn leave(&mut self) {
        self.closing = Some(0);
        if !self.pending.is_empty() {
            self.tick().await;
        }
        if self.left {
            tracing::debug!("team mode: left with the last answers");
        } else if let Some(link) = &self.link {
            let r = link
                .client
                .query_typed(
                    "WITH c AS (DELETE FROM claims WHERE run_id = $1 AND answered_at IS NULL)
                     DELETE FROM runs WHERE id = $1",
                    &[(&self.run_id, tokio_postgres::types::Type::TEXT)],
                )
                .await;
            self.seen.round_trips.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = r {
                tracing::debug!("team mode: leaving: {e}");
            }
        }
        tracing::info!(
            "team mode: {} database round trips",
            self.seen.round_trips.load(Ordering::Relaxed)
        );
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 3600.0))
}

async fn recv(notes: Option<&mut mpsc::UnboundedReceiver<String>>) -> Option<String> {
    match notes {
        Some(n) => n.recv().await,
        None => std::future::pending().await,
    }
}
