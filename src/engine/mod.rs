//! The engine of `run`: what to ask and in which order ([`plan`]), the one concurrent place
//! that sends under the rate and the stop rules ([`dispatch`], [`attempt`], [`pace`]), the pure
//! retry decision ([`retry`]), and the joins of input and answers in input order ([`planned`]
//! for a file, [`streaming`] for a pipe, [`writer`]). It knows nothing of flags, configuration
//! or the simulator: it takes an [`EngineConfig`], a [`Source`] of rows and outputs, a store
//! ([`crate::store::Shared`]) and a [`Checker`](crate::api::Checker).
//!
//! ```text
//! a regular file (planned.rs), three passes over one snapshot of the input:
//!   1 plan    reader thread ─► normalizer ─sync_channel(8)─► planner (store lookups)
//!   2 send    feeder thread ─mpsc(16)─► dispatcher (tokio; request tasks in a JoinSet)
//!                                        ─mpsc(64)─► collector thread (attempts, errors, progress)
//!   3 settle  reader thread ─sync_channel(8)─► settler (the plan's verdicts, the store, output)
//!
//! standard input or a pipe (streaming.rs), one pass:
//!   reader thread ─mpsc(16)─► dispatcher ─mpsc(64)─► writer thread (reorder window, output,
//!                                                     changes, summary, progress)
//! ```

pub mod attempt;
pub mod claimed;
pub mod dispatch;
pub mod pace;
pub mod plan;
pub mod planned;
pub mod retry;
pub mod streaming;
pub mod writer;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::api::Checker;
use crate::input::Input;
use crate::output::{ChangeFeed, Counts, Display, Sink, Summary};
use crate::store::Shared;

/// Rows that may be read ahead of the oldest unfinished one.
pub const REORDER_WINDOW: usize = 4096;

/// What the engine needs to know of a run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `--rate`: requests per second, every attempt counted.
    pub rate: f64,
    /// `--concurrency`: requests in flight.
    pub concurrency: usize,
    pub policy: retry::Policy,
    /// `--max-requests`.
    pub max_requests: Option<u64>,
    /// `--deadline`: when sending stops.
    pub deadline: Option<DateTime<Utc>>,
    /// How long requests in flight may finish after a stop (`--timeout`).
    pub grace: Duration,
    pub display: Display,
    /// A pace shared with other runs of this process (`serve`'s jobs), taken in turn; `None`:
    /// a pace of the run's own at `rate`.
    pub pace: Option<Arc<pace::Pace>>,
    /// Where the run's progress is also shown (a job's page).
    pub watch: Option<crate::output::progress::Watch>,
}

/// The input and the outputs of a run, as the command set them up. Every call to
/// [`Source::read`] gives the same rows: the bytes were taken once.
pub trait Source: Send + Sync {
    /// The input, read from its start.
    fn read(&self) -> Result<Input>;
    /// Whether the input can be read more than once (a file, not a pipe).
    fn rereadable(&self) -> bool;
    /// The summary's first figures for this input.
    fn summary(&self, input: &Input) -> Summary;
    /// Refuses, before any request, outputs that could not hold rows `widest` fields wide.
    fn preflight(&self, input: &Input, widest: usize) -> Result<()>;
    /// The most fields a row may have for every output to hold it whole (`None`: no limit).
    /// A pipe's rows are measured against it as they arrive, before their checks are sent.
    fn row_limit(&self, input: &Input) -> Option<usize>;
    /// Opens the output and the change feed for this input.
    fn outputs(&self, input: &Input) -> Result<(Sink, ChangeFeed)>;
}

/// A stop (SIGTERM, Ctrl-C) came before the input's header did (standard input left open with
/// nothing written yet): nothing was read or sent, and there is no output to write.
#[derive(Debug, thiserror::Error)]
#[error("interrupted before the input's first line arrived: nothing was read or sent")]
pub struct StoppedBeforeInput;

/// The outputs of a run and its figures, for the command to finish. `summary.counts` is the
/// one count of the run: the writer's, with the dispatcher's counters merged in here.
pub struct Done {
    pub sink: Sink,
    pub changes: ChangeFeed,
    pub summary: Summary,
}

impl Done {
    fn new(
        sink: Sink,
        changes: ChangeFeed,
        mut summary: Summary,
        mut counts: Counts,
        c: dispatch::Counters,
    ) -> Done {
        counts.api_requests = c.api_requests;
        counts.retries = c.retries;
        counts.throttled = c.throttled;
        counts.cache_hits += c.cache_hits;
        summary.counts = counts;
        if let Some((reason, msg)) = c.stop {
            summary.stopped_reason = Some(reason);
            summary.stop_message = Some(msg);
        }
        Done {
            sink,
            changes,
            summary,
        }
    }
}

/// Runs the job; `stop` cancelled means "stop sending and finish" (Ctrl-C, SIGTERM, SIGHUP):
/// while planning, nothing is sent then; while sending, requests in flight finish; while
/// writing, the output is finished.
pub async fn run(
    cfg: &EngineConfig,
    source: Arc<dyn Source>,
    store: Shared,
    checker: Arc<dyn Checker>,
    stop: CancellationToken,
) -> Result<Done> {
    let joining = crate::store::lock(&store).join_team(cfg.rate);
    let team = match joining {
        Some(join) => Some(join.await?),
        None => None,
    };
    let ctx = Arc::new(attempt::Ctx {
        checker,
        pace: pace::Lane::new(
            cfg.pace
                .clone()
                .unwrap_or_else(|| Arc::new(pace::Pace::new(cfg.rate))),
        ),
        slots: Arc::new(Semaphore::new(cfg.concurrency)),
        concurrency: cfg.concurrency,
        stop: CancellationToken::new(),
        policy: cfg.policy,
        budget: cfg.max_requests,
        sent: Default::default(),
        log_pii: cfg.display.log_pii,
        team,
    });
    let flushing = CancellationToken::new();
    let flusher = tokio::spawn(flush(store.clone(), flushing.clone()));
    let done = if source.rereadable() {
        planned::run(cfg, source, store.clone(), ctx.clone(), stop.clone()).await
    } else {
        tracing::info!(
            "the input is not a regular file and cannot be read twice: checks are sent in \
             input order (new values are not put first)"
        );
        streaming::run(cfg, source, store.clone(), ctx.clone(), stop.clone()).await
    };
    flushing.cancel();
    let _ = flusher.await;
    if let Some(team) = &ctx.team {
        team.leave().await;
    }
    let committing = store.clone();
    let committed =
        tokio::task::spawn_blocking(move || crate::store::lock(&committing).commit()).await?;
    let mut done = done?;
    let s = &mut done.summary;
    if let Err(e) = committed {
        // Never a reason to lose the output: the answers are in it.
        tracing::error!("{e:#}: the answers received are in the output");
        if s.stopped_reason.is_none() {
            s.stopped_reason = Some(crate::output::summary::StopReason::StoreUnreachable);
            s.stop_message = Some(format!("{e:#}: the answers received are in the output"));
        }
    }
    if s.stopped_reason.is_none() && stop.is_cancelled() {
        s.stopped_reason = Some(crate::output::summary::StopReason::Interrupted);
        s.stop_message = Some("interrupted: the output was finished".into());
    }
    Ok(done)
}

/// Commits recorded answers on time (at most [`crate::store::COMMIT_WINDOW`] after the first
/// one), whatever the dispatcher is doing, until `done`. A commit syncs to disk: it runs on a
/// blocking thread, never on an async worker.
async fn flush(store: Shared, done: CancellationToken) {
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(crate::store::COMMIT_WINDOW / 2) => {}
        }
        let due = crate::store::lock(&store)
            .commit_due()
            .is_some_and(|due| due <= std::time::Instant::now());
        if !due {
            continue;
        }
        let store = store.clone();
        let committed = tokio::task::spawn_blocking(move || crate::store::lock(&store).commit());
        if let Ok(Err(e)) = committed.await {
            tracing::error!("{e:#}");
        }
    }
}

/// The deadline as an instant of tokio's clock.
fn deadline_instant(d: Option<DateTime<Utc>>) -> Option<tokio::time::Instant> {
    d.map(|d| tokio::time::Instant::now() + (d - Utc::now()).to_std().unwrap_or_default())
}
