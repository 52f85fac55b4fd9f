//! The dispatcher: the one place where requests run concurrently. It admits rows (bounded by the reorder
//! window), answers what it can without a request (local rules, in-run duplicates, the state
//! store), sends the rest with a concurrency slot and a rate token each, records every answer
//! as it arrives, applies the stop rules, and hands finished rows to the writer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::attempt::{self, Ctx, Finished};
use super::writer::RowDone;
use crate::input::Row;
use crate::model::{fingerprint, CheckType, Local, Outcome, ResultKind};
use crate::output::summary::StopReason;
use crate::store::policy::Base;
use crate::store::Shared;

/// What a run says when `--deadline` stops it.
const DEADLINE_REACHED: &str =
    "--deadline reached: stopped sending, finished the requests in flight; the rest is pending";

/// How long rows still coming after a stop are read (and written `pending`): a pipe that
/// ends soon ends in the output; one left open is not waited for.
const READ_AFTER_STOP: Duration = Duration::from_secs(2);

/// Finished rows are handed to the writer in groups of up to this many, or once the oldest has
/// waited [`HAND_OVER_AFTER`]: a hand-over wakes the writer's thread, which costs more CPU than
/// writing one row.
const HAND_OVER_ROWS: usize = 64;

/// How long a finished row may wait for its group before it is handed to the writer.
const HAND_OVER_AFTER: Duration = Duration::from_millis(10);

/// Checks in a row ending in `error` that open the circuit.
pub const CIRCUIT_THRESHOLD: u32 = 10;

type Key = (CheckType, String);

enum KeyState {
    /// Sent (or queued); these (row, check) wait for the answer.
    Waiting {
        waiters: Vec<(u64, usize)>,
        previous: Option<(ResultKind, DateTime<Utc>)>,
        /// The row the store held, as its answer is recorded over it, when this run looked it
        /// up (`None`: not looked up; the store reads it when recording).
        before: Option<Base>,
    },
    /// Answered in this run.
    Done(Outcome),
}

/// A row some of whose checks are still open.
struct Open {
    fields: csv::StringRecord,
    outcomes: Vec<Option<Outcome>>,
    missing: usize,
    window: OwnedSemaphorePermit,
}

/// The dispatcher's own figures, merged into the summary at the end.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub api_requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub cache_hits: u64,
    pub duplicates: u64,
    pub stop: Option<(StopReason, String)>,
    /// The run stopped before its input ended (a pipe left open): rows not yet read are not
    /// in the output, and the reader is left to the end of the process.
    pub unread: bool,
}

pub struct Dispatcher {
    /// What every request task shares: client, pace, concurrency slots, the stop token.
    ctx: Arc<Ctx>,
    /// Answers are looked up here on admission and recorded here as they arrive (committed
    /// on time by the engine's flusher, not by the dispatcher).
    store: Shared,
    /// Finished rows go to the writer (or the collector) over this bounded channel.
    writer: mpsc::Sender<Vec<RowDone>>,
    /// Rows finished since the last hand-over to the writer.
    outbox: Vec<RowDone>,
    /// When the rows in the outbox are handed over at the latest.
    hand_over_at: Option<tokio::time::Instant>,
    /// The reorder window: a row holds a permit from admission until it is written.
    window: Arc<Semaphore>,
    /// Each distinct (type, key) of this run: waiting for its answer, or answered.
    keys: HashMap<Key, KeyState>,
    /// 64-bit fingerprints of every key seen, to count duplicates in little memory.
    seen: HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
    /// Admitted rows with checks still open, by row number.
    open: HashMap<u64, Open>,
    /// Keys admitted and waiting for a slot, in sending order.
    queue: VecDeque<Key>,
    /// One task per key being asked (its retries included).
    tasks: JoinSet<Finished>,
    /// Tasks spawned so far (in team mode, each claims its key first).
    spawned: u64,
    /// Which key each task asks, to settle it if the task is aborted.
    running: HashMap<tokio::task::Id, Key>,
    errors_in_a_row: u32,
    /// How long in-flight requests may finish after an interrupt.
    grace: Duration,
    /// `--deadline`: when sending stops.
    stop_at: Option<tokio::time::Instant>,
    /// Whether admitted values are looked up in the store (a planned run's values were, by
    /// the plan: they all need a request).
    lookups: bool,
    /// Stored answers looked up for rows read but not yet admitted.
    prefetched: HashMap<Key, Option<crate::store::Stored>>,
    /// A planned run: what the plan found in the store for each value sent, by row number
    /// (row n is the plan's n-th value), so that its answer is recorded without a read.
    planned_bases: Vec<Base>,
    counters: Counters,
}

impl Dispatcher {
    pub fn new(
        ctx: Arc<Ctx>,
        store: Shared,
        writer: mpsc::Sender<Vec<RowDone>>,
        window: Arc<Semaphore>,
        grace: Duration,
    ) -> Dispatcher {
        Dispatcher {
            ctx,
            store,
            writer,
            outbox: Vec::new(),
            hand_over_at: None,
            window,
            keys: HashMap::new(),
            seen: HashSet::new(),
            hasher: Default::default(),
            open: HashMap::new(),
            queue: VecDeque::new(),
            tasks: JoinSet::new(),
            spawned: 0,
            running: HashMap::new(),
            errors_in_a_row: 0,
            grace,
            stop_at: None,
            lookups: true,
            prefetched: HashMap::new(),
            planned_bases: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// Stops sending at `at` (`--deadline`); requests in flight then finish within the grace.
    pub fn with_deadline(mut self, at: Option<tokio::time::Instant>) -> Dispatcher {
        self.stop_at = at;
        self
    }

    /// Sends every admitted value without asking the store first (the plan did): row n is the
    /// plan's n-th value, and `bases[n - 1]` what the store held for it.
    pub fn planned(mut self, bases: Vec<Base>) -> Dispatcher {
        self.lookups = false;
        self.planned_bases = bases;
        self
    }

    /// Runs until every row has been handed to the writer.
    pub async fn run(
        mut self,
        mut rows: mpsc::Receiver<Vec<Row>>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Counters> {
        tokio::pin!(shutdown);
        let concurrency = self.ctx.concurrency.max(1);
        let max_queue = concurrency * 4;
        // Checks waiting out a retry hold no slot; bounding open checks keeps an outage from
        // spending first attempts on ever more values before the circuit breaker can act.
        let max_open = concurrency * 2;
        let mut reading = true;
        let mut inbox: VecDeque<Row> = VecDeque::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        let team = self.ctx.team.is_some();
        // After a stop, the rows still coming are written `pending` for as long as the grace
        // lasts; an input left open past it (a pipe nobody closes) is read no further.
        let mut read_until: Option<tokio::time::Instant> = None;
        let mut closing = false;
        loop {
            if self.counters.stop.is_some() && reading && read_until.is_none() {
                read_until = Some(tokio::time::Instant::now() + self.grace.min(READ_AFTER_STOP));
            }
            while self.queue.len() < max_queue && !inbox.is_empty() {
                let Ok(permit) = self.window.clone().try_acquire_owned() else {
                    break;
                };
                let row = inbox.pop_front().expect("checked non-empty");
                self.admit(row, permit)?;
            }
            self.hand_over().await?;
            // A deadline already passed stops sending now: a timer only fires at its next
            // tick, and the send branch would win that race once.
            let passed = self
                .stop_at
                .is_some_and(|t| t <= tokio::time::Instant::now());
            if passed && self.counters.stop.is_none() {
                self.halt(StopReason::Deadline, DEADLINE_REACHED.into());
                deadline = Some(tokio::time::Instant::now() + self.grace);
            }
            let stopped = self.counters.stop.is_some();
            if !closing && !reading && inbox.is_empty() && self.queue.is_empty() {
                // Every key is claimed or being claimed: the team may be left with the last
                // answers' statement.
                closing = true;
                if let Some(t) = &self.ctx.team {
                    t.closing(self.spawned);
                }
            }
            let can_send = !stopped && !self.queue.is_empty() && self.tasks.len() < max_open;
            let can_read = reading && inbox.is_empty() && self.queue.len() < max_queue;
            let need_window = !inbox.is_empty() && self.queue.len() < max_queue;
            let stop_at = self.stop_at;
            let hand_over_at = self.hand_over_at;
            if !can_send && !can_read && !need_window && self.tasks.is_empty() {
                break;
            }
            // Every branch is cancel-safe: a shutdown or a timer future only resolves;
            // join_next_with_id, Semaphore::acquire_owned and mpsc::Receiver::recv lose
            // nothing when another branch wins; ctx.slot() gives back its permit if dropped.
            tokio::select! {
                biased;
                _ = &mut shutdown, if !stopped => {
                    self.halt(StopReason::Interrupted, "interrupted: stopped sending, finished the requests in flight".into());
                    deadline = Some(tokio::time::Instant::now() + self.grace);
                }
                _ = sleep_until(stop_at), if !stopped && stop_at.is_some() => {
                    self.halt(StopReason::Deadline, DEADLINE_REACHED.into());
                    deadline = Some(tokio::time::Instant::now() + self.grace);
                }
                _ = sleep_until(deadline), if deadline.is_some() && !self.tasks.is_empty() => {
                    tracing::warn!("requests still in flight after {:?}: abandoning them", self.grace);
                    self.tasks.abort_all();
                    deadline = None;
                }
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    match joined {
                        Ok((id, f)) => {
                            self.running.remove(&id);
                            self.finished(f)?;
                        }
                        Err(e) => {
                            let key = self.running.remove(&e.id()).ok_or_else(|| anyhow!("lost track of a request"))?;
                            if e.is_panic() {
                                return Err(anyhow!("a request task failed: {e}"));
                            }
                            self.settle_pending(key);
                        }
                    }
                }
                slot = self.ctx.slot(), if can_send && !team => {
                    // No slot means the run stopped: the queued keys are settled as pending.
                    if let Some(permit) = slot {
                        self.spawn(Some(permit));
                    }
                }
                // Team mode: the key is claimed first, the slot taken after.
                _ = std::future::ready(()), if can_send && team => self.spawn(None),
                permit = self.window.clone().acquire_owned(), if need_window => {
                    let row = inbox.pop_front().expect("checked non-empty");
                    self.admit(row, permit.map_err(|_| anyhow!("the reorder window closed"))?)?;
                }
                _ = sleep_until(hand_over_at), if hand_over_at.is_some() => {}
                _ = sleep_until(read_until), if reading && read_until.is_some() => {
                    tracing::warn!("the input did not end after the stop: rows not yet read are not in the output");
                    reading = false;
                    self.counters.unread = true;
                }
                batch = rows.recv(), if can_read => match batch {
                    Some(mut batch) => {
                        // Rows arrive as they are read (a pipe may be slow): take all that
                        // wait, and look them up together.
                        while batch.len() < 256 {
                            match rows.try_recv() {
                                Ok(more) => batch.extend(more),
                                Err(_) => break,
                            }
                        }
                        self.prefetch(&batch).await;
                        inbox.extend(batch);
                    }
                    None => reading = false,
                },
            }
        }
        self.flush().await?;
        let store = self.store.clone();
        let committed = tokio::task::spawn_blocking(move || crate::store::lock(&store).commit());
        if let Err(e) = committed.await? {
            // The answers are in the output all the same; the run says why it stopped.
            let why = format!("{e:#}: the answers received are in the output");
            match self.counters.stop {
                None => self.halt(StopReason::StoreUnreachable, why),
                Some(_) => tracing::error!("{why}"),
            }
        }
        if !self.open.is_empty() || !inbox.is_empty() || !self.queue.is_empty() {
            return Err(anyhow!(
                "internal error: {} left unfinished; the output would be incomplete",
                crate::output::summary::count((self.open.len() + inbox.len()) as u64, "row")
            ));
        }
        Ok(self.counters)
    }

    /// Starts asking the next queued key.
    fn spawn(&mut self, permit: Option<OwnedSemaphorePermit>) {
        if let Some(key) = self.queue.pop_front() {
            let ctx = self.ctx.clone();
            let handle = self
                .tasks
                .spawn(attempt::check(ctx, key.0, key.1.clone(), permit));
            self.running.insert(handle.id(), key);
            self.spawned += 1;
        }
    }

    /// Looks up a batch's new values in the store at once, on a blocking thread (a server's
    /// round trip or a disk read never runs on an async worker); [`Dispatcher::admit`] takes
    /// the answers from there. A store that cannot answer stops the run.
    async fn prefetch(&mut self, batch: &[Row]) {
        if !self.lookups || self.counters.stop.is_some() {
            return;
        }
        let mut items: Vec<Key> = Vec::new();
        for row in batch {
            for (kind, local) in &row.checks {
                if let Local::Ready(key) = local {
                    let k = (*kind, key.clone());
                    if !self.keys.contains_key(&k) && !self.prefetched.contains_key(&k) {
                        items.push(k);
                    }
                }
            }
        }
        items.sort();
        items.dedup();
        if items.is_empty() {
            return;
        }
        let store = self.store.clone();
        let asked = items.clone();
        let found = tokio::task::spawn_blocking(move || {
            let refs: Vec<(CheckType, &str)> =
                asked.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let store = crate::store::lock(&store);
            store.lookup_many(&refs, store.now())
        })
        .await
        .map_err(|e| anyhow!("{e}"))
        .and_then(|r| r);
        match found {
            Ok(found) => self.prefetched.extend(items.into_iter().zip(found)),
            Err(e) => {
                // The database is away: nothing more is sent; these values stay pending.
                let why = format!("{e:#}: stopped sending; the rest is pending");
                self.halt(StopReason::StoreUnreachable, why);
            }
        }
    }

    /// Hands the finished rows to the writer if their group is full or the oldest has waited
    /// long enough; otherwise says when it will have.
    async fn hand_over(&mut self) -> Result<()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let now = tokio::time::Instant::now();
        let at = *self.hand_over_at.get_or_insert(now + HAND_OVER_AFTER);
        if self.outbox.len() < HAND_OVER_ROWS && now < at {
            return Ok(());
        }
        self.flush().await
    }

    /// Hands the finished rows to the writer, in one message.
    async fn flush(&mut self) -> Result<()> {
        self.hand_over_at = None;
        if self.outbox.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.outbox);
        self.writer
            .send(rows)
            .await
            .map_err(|_| anyhow!("the output writer stopped"))
    }

    fn halt(&mut self, reason: StopReason, msg: String) {
        if self.counters.stop.is_some() {
            return;
        }
        // Logged at once (cron runs with -q see errors only); the summary repeats it.
        match reason {
            StopReason::Interrupted => tracing::debug!("stopping: {msg}"),
            StopReason::Fatal | StopReason::CircuitOpen | StopReason::StoreUnreachable => {
                tracing::error!("stopping: {msg}")
            }
            StopReason::Deadline | StopReason::MaxRequests => tracing::warn!("stopping: {msg}"),
        }
        self.counters.stop = Some((reason, msg));
        self.ctx.stop.cancel();
        self.drain_queue();
    }

    /// Takes in a new row: answers what can be answered now, queues the rest.
    fn admit(&mut self, row: Row, window: OwnedSemaphorePermit) -> Result<()> {
        let now = Utc::now();
        let mut outcomes = Vec::with_capacity(row.checks.len());
        let mut missing = 0;
        for (i, (kind, local)) in row.checks.into_iter().enumerate() {
            let Local::Ready(key) = &local else {
                outcomes.push(Some(Outcome::from_local(local, ResultKind::Pending, now)));
                continue;
            };
            if !self.distinct() && !self.seen.insert(fingerprint(&self.hasher, kind, key)) {
                self.counters.duplicates += 1;
            }
            let k = (kind, key.clone());
            match self.keys.get_mut(&k) {
                Some(KeyState::Done(o)) => {
                    outcomes.push(Some(Outcome {
                        attempts: 0,
                        ..o.clone()
                    }));
                    continue;
                }
                Some(KeyState::Waiting { waiters, .. }) => {
                    waiters.push((row.number, i));
                    outcomes.push(None);
                    missing += 1;
                    continue;
                }
                None => {}
            }
            let looked_up = self.prefetched.remove(&k);
            let before = match &looked_up {
                Some(stored) => Some(stored.as_ref().and_then(crate::store::Stored::base)),
                None => self.planned_base(row.number),
            };
            let stored = looked_up.flatten();
            if let Some(s) = stored.as_ref().filter(|s| s.fresh) {
                self.counters.cache_hits += 1;
                outcomes.push(Some(s.outcome.clone()));
                continue;
            }
            let previous = stored.map(|s| (s.outcome.result, s.outcome.checked_at.unwrap_or(now)));
            if self.counters.stop.is_some() {
                let mut o = Outcome::from_local(local.clone(), ResultKind::Pending, now);
                o.previous = previous;
                outcomes.push(Some(o));
                continue;
            }
            self.keys.insert(
                k.clone(),
                KeyState::Waiting {
                    waiters: vec![(row.number, i)],
                    previous,
                    before,
                },
            );
            self.queue.push_back(k);
            outcomes.push(None);
            missing += 1;
        }
        let open = Open {
            fields: row.fields,
            outcomes,
            missing,
            window,
        };
        if missing == 0 {
            self.emit(row.number, open);
            Ok(())
        } else {
            self.open.insert(row.number, open);
            Ok(())
        }
    }

    /// A check task ended: record, count, apply the stop rules, resolve its waiters.
    fn finished(&mut self, mut f: Finished) -> Result<()> {
        // Given back when this returns, after the stop rules below have seen the answer.
        let _slot = f.slot.take();
        self.counters.api_requests += u64::from(f.requests);
        self.counters.retries += u64::from(f.retries);
        self.counters.throttled += u64::from(f.throttled);
        let mut outcome = f.outcome;
        let key = (f.kind, f.key);
        let Some(KeyState::Waiting {
            waiters,
            previous,
            before,
        }) = self.keys.remove(&key)
        else {
            return Err(anyhow!("an answer arrived for a check nobody waits for"));
        };
        let recorded = self.take_in(f.kind, &outcome, f.recorded.take(), before)?;
        self.stop_rules(f.stop, &outcome);
        // The store says what the answer is measured against, and whether it is a change.
        match recorded
            .filter(|_| outcome.result.is_answer() || outcome.result == ResultKind::Invalid)
        {
            Some(r) => {
                outcome.previous = r.previous;
                outcome.change = r.change;
            }
            None => outcome.previous = previous,
        }
        // Pending is not an answer: a later duplicate must not reuse it as one. A planned run
        // has no later duplicate to answer.
        if outcome.result == ResultKind::Pending || self.distinct() {
            self.resolve(waiters, outcome);
            return Ok(());
        }
        self.resolve(waiters, outcome.clone());
        self.keys.insert(key, KeyState::Done(outcome));
        Ok(())
    }

    /// Counts an outcome and records it if it is an answer of the API (one another run of the
    /// team recorded, source cache, is not recorded again): `recorded` is what a team's claim
    /// recorded, `before` the row this run read.
    fn take_in(
        &mut self,
        kind: CheckType,
        outcome: &Outcome,
        recorded: Option<Result<crate::store::Recorded, String>>,
        before: Option<Base>,
    ) -> Result<Option<crate::store::Recorded>> {
        if outcome.source == crate::model::Source::Cache {
            self.counters.cache_hits += 1;
        }
        if outcome.result == ResultKind::Pending || outcome.source != crate::model::Source::Api {
            return Ok(None);
        }
        let recorded = match recorded {
            Some(Ok(r)) => Some(r),
            Some(Err(why)) => self.keep(kind, outcome, anyhow!(why))?,
            None => self.record(kind, outcome, before)?,
        };
        if outcome.result == ResultKind::Error {
            self.errors_in_a_row += 1;
        } else {
            self.errors_in_a_row = 0;
        }
        Ok(recorded)
    }

    /// Stops the run if the check says so, or if too many checks in a row ended in error.
    fn stop_rules(&mut self, stop: Option<(StopReason, String)>, outcome: &Outcome) {
        if let Some((reason, why)) = stop {
            self.halt(reason, why);
        } else if self.errors_in_a_row >= CIRCUIT_THRESHOLD {
            let msg = format!(
                "{CIRCUIT_THRESHOLD} checks in a row ended in error (last: {} {}); the API or the \
                 network seems to be down, so the run stopped instead of spending quota",
                outcome.error_code.as_deref().unwrap_or(""),
                outcome.error_msg.as_deref().unwrap_or("")
            );
            self.halt(StopReason::CircuitOpen, msg);
        }
    }

    /// Records an answer. If the store cannot (its database is away), the answer is kept for the
    /// next run and stays in this run's output, and the run stops sending.
    /// `before`: the row the store held, if this run read it (a store of one run only: a team's
    /// store is read again, as a teammate may have written since).
    fn record(
        &mut self,
        kind: CheckType,
        o: &Outcome,
        before: Option<Base>,
    ) -> Result<Option<crate::store::Recorded>> {
        let store = self.store.clone();
        let before = before.filter(|_| self.ctx.team.is_none());
        let recording = move || {
            let mut store = crate::store::lock(&store);
            match before {
                Some(before) => store.record_over(kind, o, before),
                None => store.record(kind, o),
            }
        };
        let failed = match off_worker(recording) {
            Ok(r) => return Ok(Some(r)),
            Err(e) => e,
        };
        self.keep(kind, o, failed)
    }

    /// An answer the store could not record (its database is away, its disk is full): kept for
    /// the next run if the store has a place for that, always kept in this run's output, and
    /// the run stops sending. A paid answer is never dropped by failing the run here.
    fn keep(
        &mut self,
        kind: CheckType,
        o: &Outcome,
        failed: anyhow::Error,
    ) -> Result<Option<crate::store::Recorded>> {
        let kept = match crate::store::lock(&self.store).spool() {
            Some(spool) => spool.keep(kind, o).is_ok(),
            None => false,
        };
        let later = match kept {
            true => "those not recorded are kept on this machine and recorded by the next run",
            false => "those not recorded will be asked again by the next run",
        };
        self.halt(
            StopReason::StoreUnreachable,
            format!(
                "{failed:#}: stopped sending; the answers received are in the output ({later}), \
                 the rest is pending"
            ),
        );
        Ok(None)
    }

    /// What the plan found in the store for row `number`'s value (`None`: not a planned run).
    fn planned_base(&self, number: u64) -> Option<Base> {
        let at = usize::try_from(number.checked_sub(1)?).ok()?;
        self.planned_bases.get(at).copied()
    }

    /// A queued or abandoned check becomes `pending`.
    fn settle_pending(&mut self, key: Key) {
        if let Some(KeyState::Waiting {
            waiters, previous, ..
        }) = self.keys.remove(&key)
        {
            let mut o = Outcome::from_local(Local::Ready(key.1), ResultKind::Pending, Utc::now());
            o.previous = previous;
            self.resolve(waiters, o);
        }
    }

    /// After a stop, nothing queued is sent.
    fn drain_queue(&mut self) {
        while let Some(key) = self.queue.pop_front() {
            self.settle_pending(key);
        }
    }

    /// Whether every admitted value is new to this run (a planned run: the plan took out the
    /// duplicates), so no answer is kept for a later row.
    fn distinct(&self) -> bool {
        !self.lookups
    }

    /// Gives each waiting (row, check) the outcome; only the first carries its attempts.
    fn resolve(&mut self, waiters: Vec<(u64, usize)>, outcome: Outcome) {
        let last = waiters.len().saturating_sub(1);
        let mut outcome = Some(outcome);
        for (n, (row, i)) in waiters.into_iter().enumerate() {
            let Some(open) = self.open.get_mut(&row) else {
                continue;
            };
            let mut o = match n == last {
                true => outcome.take().expect("the last waiter takes it"),
                false => outcome.clone().expect("taken by the last waiter only"),
            };
            if n > 0 {
                o.attempts = 0;
            }
            open.outcomes[i] = Some(o);
            open.missing -= 1;
            if open.missing == 0 {
                let open = self.open.remove(&row).expect("just looked up");
                self.emit(row, open);
            }
        }
    }

    fn emit(&mut self, number: u64, open: Open) {
        let done = RowDone {
            number,
            fields: open.fields,
            outcomes: open
                .outcomes
                .into_iter()
                .map(|o| o.expect("all checks resolved"))
                .collect(),
            window: open.window,
        };
        self.outbox.push(done);
    }
}

/// Runs a short store call (a local file's write, no sync) so that it blocks no async worker:
/// on a multi-threaded runtime the worker hands its other tasks over first.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
