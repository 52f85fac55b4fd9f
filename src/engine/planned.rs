//! A run over a regular file, in three passes, so that a budget or a deadline that cannot
//! cover the whole list is spent where it matters:
//!
//! ```text
//! 1. plan     read + normalize, ask the store: distinct values needing a request, in priority order
//! 2. send     the dispatcher sends them in that order and records every answer in the store;
//!             a collector keeps what the store does not hold (attempts, errors)
//! 3. settle   read the input again and write every row in input order, with the plan's verdicts
//! ```
//!
//! Every pass reads the same snapshot of the input ([`Source`]), and what pass 1 decided travels
//! to pass 3: a value the store answered when planned is written with that answer, never judged
//! again by the clock. Memory is bounded by the number of distinct values needing a request and
//! an 8-byte fingerprint per value answered by the store; the rows themselves stream.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{anyhow, Result};
use chrono::Utc;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::attempt::Ctx;
use super::dispatch::Dispatcher;
use super::writer::RowDone;
use super::{Done, EngineConfig, Source, REORDER_WINDOW};
use crate::input::{spawn_reader, Row};
use crate::model::{fingerprint, CheckType, Local, Outcome, ResultKind};
use crate::output::progress::Progress;
use crate::output::{ChangeFeed, Counts, Sink, Summary};
use crate::store::Shared;

/// What passes 1 and 2 decided, for pass 3.
struct Decided {
    hasher: std::collections::hash_map::RandomState,
    /// Values the store answered when the run was planned.
    fresh: HashSet<u64>,
    /// Requests made per value sent (set to 0 once its first row is written).
    attempts: HashMap<u64, u32>,
    /// What each value sent came to, answers included: written as received, never read back
    /// from the store (which may be away by then).
    sent: HashMap<u64, Outcome>,
    /// The store could not be read in pass 3 (said once).
    store_away: bool,
}

impl Decided {
    fn key(&self, kind: CheckType, key: &str) -> u64 {
        fingerprint(&self.hasher, kind, key)
    }
}

/// Runs the three passes.
pub async fn run(
    cfg: &EngineConfig,
    source: Arc<dyn Source>,
    store: Shared,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) -> Result<Done> {
    let input = source.read()?;
    let summary = source.summary(&input);
    let (plan_stop, plan_store) = (stop.clone(), store.clone());
    let plan = tokio::task::spawn_blocking(move || {
        let now = crate::store::lock(&plan_store).now();
        super::plan::collect(input, &plan_store, now, &plan_stop)
    })
    .await??;
    let figures = plan.figures.clone();
    let count = crate::output::summary::count;
    let order = match (figures.requests_needed, figures.never_asked) {
        (0, _) => String::new(),
        (n, never) if never == n => " (all never asked)".into(),
        (_, 0) => " (the oldest answers first)".into(),
        (_, never) => format!(" ({never} never asked, then the oldest answers first)"),
    };
    tracing::info!(
        "plan: {}, {} answered from the store, {} to ask{order}",
        count(figures.counts.checks, "check"),
        count(figures.fresh, "value"),
        count(figures.requests_needed, "value"),
    );
    // Known now, before any request: outputs that could not hold these rows.
    let again = source.read()?;
    source.preflight(&again, figures.widest)?;
    drop(again);

    // Pass 2: send, in the plan's order.
    let (row_tx, row_rx) = mpsc::channel::<Vec<Row>>(16);
    // Row n of pass 2 is needed[n - 1]; the dispatcher records its answer over bases[n - 1].
    let (needed, bases): (Vec<_>, Vec<_>) =
        plan.needed.into_iter().map(|(k, v, b)| ((k, v), b)).unzip();
    let feeding = std::thread::spawn(move || {
        let mut it = needed.into_iter().enumerate().peekable();
        while it.peek().is_some() {
            let rows: Vec<Row> = it
                .by_ref()
                .take(64)
                .map(|(i, (kind, key))| Row {
                    number: i as u64 + 1,
                    fields: csv::StringRecord::from(vec![kind.as_str()]),
                    checks: vec![(kind, Local::Ready(key))],
                    line: 0,
                })
                .collect();
            if row_tx.blocking_send(rows).is_err() {
                return;
            }
        }
    });
    let (done_tx, done_rx) = mpsc::channel::<Vec<RowDone>>(64);
    let progress = Progress::new(&cfg.display, Some(figures.requests_needed))
        .of_values(figures.requests_needed)
        .with_deadline(cfg.deadline, figures.requests_needed)
        .watched(cfg.watch.clone());
    let mut decided = Decided {
        hasher: plan.hasher,
        fresh: plan.fresh,
        attempts: HashMap::new(),
        sent: HashMap::new(),
        store_away: false,
    };
    let collecting = std::thread::spawn(move || {
        let mut sent = SentValues::default();
        collect_answers(done_rx, progress, &mut sent);
        sent
    });
    let window = Arc::new(Semaphore::new(REORDER_WINDOW));
    let counters = Dispatcher::new(ctx, store.clone(), done_tx, window, cfg.grace)
        .planned(bases)
        .with_deadline(super::deadline_instant(cfg.deadline))
        .run(row_rx, stop.cancelled_owned())
        .await;
    let _ = feeding.join();
    let sent = collecting
        .join()
        .map_err(|_| anyhow!("the answer collector crashed"))?;
    let counters = counters?;
    decided.attempts.reserve(sent.0.len());
    decided.sent.reserve(sent.0.len());
    for (kind, o) in sent.0 {
        let fp = decided.key(kind, &o.checked_key);
        decided.attempts.insert(fp, o.attempts);
        decided.sent.insert(fp, o);
    }

    // Pass 3: every row, in input order, with what was decided.
    let mut counts = summary.counts.clone();
    counts.duplicates = figures.counts.duplicates;
    let input = source.read()?;
    let settle_source = source.clone();
    let (sink, changes, counts) = tokio::task::spawn_blocking(move || {
        let (sink, changes) = settle_source.outputs(&input)?;
        settle(input, sink, changes, &store, decided, counts)
    })
    .await??;
    let summary = Summary {
        encoding_fallback_rows: figures.encoding_fallback_rows,
        ..summary
    };
    Ok(Done::new(sink, changes, summary, counts, counters))
}

/// What pass 2 sent, and what each came to.
#[derive(Default)]
struct SentValues(Vec<(CheckType, Outcome)>);

/// Pass 2's collector: keeps attempts and non-answers, and drives the progress display.
fn collect_answers(
    mut rx: mpsc::Receiver<Vec<RowDone>>,
    mut progress: Progress,
    sent: &mut SentValues,
) {
    let mut seen = Counts::default();
    while let Some(batch) = rx.blocking_recv() {
        for done in batch {
            let kind = done
                .fields
                .get(0)
                .and_then(|k| k.parse::<CheckType>().ok())
                .unwrap_or(CheckType::Email);
            let Some(o) = done.outcomes.into_iter().next() else {
                continue;
            };
            seen.add_row(std::slice::from_ref(&o));
            seen.api_requests += u64::from(o.attempts);
            sent.0.push((kind, o));
        }
        progress.update(&seen);
    }
    progress.finish();
}

/// Pass 3: reads the input again and writes every row with its outcomes.
fn settle(
    input: crate::input::Input,
    mut sink: Sink,
    mut changes: ChangeFeed,
    store: &Shared,
    mut this: Decided,
    mut counts: Counts,
) -> Result<(Sink, ChangeFeed, Counts)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(8);
    let (reading, recycle) = spawn_reader(input.reader, input.layout, 512, move |rows| {
        tx.send(rows).is_ok()
    });
    let now = crate::store::lock(store).now();
    let mut outcomes = Vec::new();
    for mut batch in rx {
        let store = crate::store::lock(store);
        // The batch's values not sent in this run, asked of the store together.
        let asking: Vec<(CheckType, &str)> = batch
            .iter()
            .flat_map(|row| row.checks.iter())
            .filter_map(|(kind, local)| match local {
                Local::Ready(key) => Some((*kind, key.as_str())),
                _ => None,
            })
            .filter(|(kind, key)| {
                let fp = this.key(*kind, key);
                this.sent
                    .get(&fp)
                    .is_none_or(|o| o.result == ResultKind::Pending)
            })
            .collect();
        let found = match store.lookup_many(&asking, now) {
            Ok(found) => found,
            Err(e) => {
                if !this.store_away {
                    tracing::error!("{e:#}: values the state store answers are written as pending");
                    this.store_away = true;
                }
                vec![None; asking.len()]
            }
        };
        let mut prefetched: HashMap<(CheckType, String), Option<crate::store::Stored>> = asking
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .zip(found)
            .collect();
        drop(asking);
        for row in batch.iter_mut() {
            outcomes.clear();
            for (kind, local) in row.checks.drain(..) {
                outcomes.push(outcome(
                    kind,
                    local,
                    &mut prefetched,
                    &mut this,
                    &mut counts,
                    now,
                )?);
            }
            sink.write_row(&row.fields, &outcomes)?;
            changes.offer(&row.fields, &outcomes)?;
            counts.add_row(&outcomes);
        }
        drop(store);
        recycle.give(batch);
    }
    reading
        .join()
        .map_err(|_| anyhow!("the input reader crashed"))??;
    Ok((sink, changes, counts))
}

/// The outcome of one check in pass 3.
fn outcome(
    kind: CheckType,
    local: Local,
    prefetched: &mut HashMap<(CheckType, String), Option<crate::store::Stored>>,
    this: &mut Decided,
    counts: &mut Counts,
    now: chrono::DateTime<Utc>,
) -> Result<Outcome> {
    let Local::Ready(key) = local else {
        return Ok(Outcome::from_local(local, ResultKind::Pending, now));
    };
    let fp = this.key(kind, &key);
    let sent = this
        .sent
        .get(&fp)
        .filter(|o| o.result != ResultKind::Pending);
    if let Some(o) = sent {
        // The first row of a value sent in this run carries its attempts; later ones 0.
        let attempts = this.attempts.get_mut(&fp).map(std::mem::take).unwrap_or(0);
        return Ok(Outcome {
            attempts,
            ..o.clone()
        });
    }
    // Pending (the run stopped first): as it ended, with its previous answer from the store.
    let attempts = this.attempts.get_mut(&fp).map(std::mem::take).unwrap_or(0);
    let pending = this.sent.get(&fp).cloned();
    let stored = prefetched.get(&(kind, key.clone())).cloned().flatten();
    // The plan's verdict, not the clock's: answered from the store when planned.
    let planned_fresh = this.fresh.contains(&fp);
    Ok(match stored {
        Some(s) if planned_fresh => {
            counts.cache_hits += 1;
            s.outcome
        }
        stored => {
            let mut o = pending.unwrap_or_else(|| {
                Outcome::from_local(Local::Ready(key), ResultKind::Pending, now)
            });
            if o.previous.is_none() {
                o.previous = stored.and_then(|s| Some((s.outcome.result, s.outcome.checked_at?)));
            }
            o.attempts = attempts;
            o
        }
    })
}
