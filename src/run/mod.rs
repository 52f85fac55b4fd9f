//! `checkuser run`: the whole job. Sets up the target (the API or the in-process simulator),
//! the state store and its lock, then runs one of two shapes:
//!
//! ```text
//! a regular file (planned.rs), three passes over one open file:
//!   1 plan    reader thread ─► normalizer ─sync_channel(8)─► planner (store lookups)
//!   2 send    feeder thread ─mpsc(16)─► dispatcher (tokio; request tasks in a JoinSet)
//!                                        ─mpsc(64)─► collector thread (attempts, errors, progress)
//!   3 settle  reader thread ─sync_channel(8)─► settler (store lookups, output, changes, summary)
//!
//! standard input or a pipe (streaming), one pass:
//!   reader thread ─mpsc(16)─► dispatcher ─mpsc(64)─► writer thread (reorder window, output,
//!                                                     changes, summary, progress)
//! ```
//!
//! The dispatcher is the one place where requests run concurrently; the reader, normalizer,
//! feeder, collector and writer threads each own their data and talk over bounded channels.

pub mod attempt;
pub mod dispatcher;
pub mod fatal;
pub mod pace;
pub mod plan;
pub mod planned;
pub mod writer;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::api::client::{Client, ClientConfig};
use crate::config::{RunConfig, Target};
use crate::input::{spawn_reader, Row};
use crate::output::progress::Progress;
use crate::output::Summary;
use crate::sandbox::{Identity, Sandbox};
use crate::store::{RunLock, Scope, Store};

/// Rows that may be read ahead of the oldest unfinished one.
pub const REORDER_WINDOW: usize = 4096;

/// Runs the job; `stop` cancelled means "stop sending and finish" (Ctrl-C, SIGTERM, SIGHUP):
/// while planning, nothing is sent then; while sending, requests in flight finish; while
/// writing, the output is finished. The run then exits 130 with a complete output.
pub async fn run(cfg: RunConfig, stop: CancellationToken) -> Result<Summary> {
    let started = Instant::now();
    let (sandbox, client_cfg, scope) = target(&cfg).await?;
    let state = cfg.state.clone();
    let (lock_scope, wait) = (scope.clone(), cfg.wait_lock);
    let _lock = tokio::task::spawn_blocking(move || {
        RunLock::acquire(&crate::store::lock_dir(&state), &lock_scope, wait)
    })
    .await??;
    let store = Store::open(&cfg.state, scope.clone(), cfg.reuse)?;
    let client = Client::new(client_cfg)?;
    let ctx = Arc::new(attempt::Ctx {
        client,
        pace: pace::Pace::new(cfg.rate),
        slots: Arc::new(Semaphore::new(cfg.concurrency)),
        concurrency: cfg.concurrency,
        stop: CancellationToken::new(),
        max_attempts: cfg.max_attempts,
        backoff_base: cfg.backoff_base,
        max_throttle_wait: cfg.max_throttle_wait,
        budget: cfg.max_requests,
        sent: Default::default(),
        log_pii: cfg.job.display.log_pii,
    });
    let job = &cfg.job;
    // Only a regular file can be read more than once.
    let regular = job.input_is_regular_file();
    let simulated = sandbox.is_some();
    let done = if regular {
        planned::run(&cfg, scope, store, ctx, simulated, stop.clone()).await?
    } else {
        tracing::info!(
            "the input is not a regular file and cannot be read twice: checks are sent in \
             input order (new values are not put first)"
        );
        streaming(&cfg, store, ctx, simulated, stop.clone().cancelled_owned()).await?
    };
    drop(sandbox);
    let planned::Done {
        sink,
        changes,
        mut summary,
        counters,
    } = done;
    let elapsed = started.elapsed().as_secs_f64();
    summary.api_requests = counters.api_requests;
    summary.retries = counters.retries;
    summary.throttled = counters.throttled;
    summary.cache_hits += counters.cache_hits;
    summary.elapsed_seconds = elapsed;
    summary.requests_per_second = counters.api_requests as f64 / elapsed.max(1e-9);
    if let Some((reason, msg)) = counters.stop {
        summary.stopped_reason = Some(reason);
        summary.stop_message = Some(msg);
    } else if stop.is_cancelled() {
        summary.stopped_reason = Some(crate::output::summary::StopReason::Interrupted);
        summary.stop_message = Some("interrupted: the output was finished".into());
    }
    summary.decide_exit_code();
    summary.sheets = sink.sheet_names();
    changes.finish(&summary)?;
    sink.finish(&summary)?;
    Ok(summary)
}

/// A run over standard input or a pipe: one pass, checks sent in input order, rows written
/// as their checks finish (in input order, through the reorder window).
async fn streaming(
    cfg: &RunConfig,
    store: Store,
    ctx: Arc<attempt::Ctx>,
    simulated: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<planned::Done> {
    let job = &cfg.job;
    let input = crate::job::open_input(job)?;
    let summary = Summary {
        simulated,
        ..crate::job::summary(job, "run", &input)
    };
    let sink = crate::job::open_sink(job, &input, true)?;
    let changes = crate::job::open_changes(job, &input, cfg.changes.as_deref())?;
    let crate::job::Input { reader, layout } = input;
    let progress = Progress::new(&job.display, None);
    let total = Arc::new(AtomicU64::new(0));
    let (row_tx, row_rx) = mpsc::channel::<Vec<Row>>(16);
    let (reading, _) = spawn_reader(reader, layout, 64, move |rows| {
        row_tx.blocking_send(rows).is_ok()
    });
    let (done_tx, done_rx) = mpsc::channel(64);
    let writing = writer::spawn(sink, changes, summary, progress, total, done_rx);
    let window = Arc::new(Semaphore::new(REORDER_WINDOW));
    let deadline = cfg.deadline.map(|d| {
        tokio::time::Instant::now() + (d - chrono::Utc::now()).to_std().unwrap_or_default()
    });
    let dispatched = dispatcher::Dispatcher::new(ctx, store, done_tx, window, cfg.timeout)
        .with_deadline(deadline)
        .run(row_rx, shutdown)
        .await;
    let read = reading
        .join()
        .map_err(|_| anyhow!("the input reader crashed"))?;
    let written = writing
        .join()
        .map_err(|_| anyhow!("the output writer crashed"))?;
    let counters = dispatched?;
    let fallback = read?;
    let (sink, changes, mut summary) = written?;
    summary.duplicates = counters.duplicates;
    summary.encoding_fallback_rows = fallback;
    Ok(planned::Done {
        sink,
        changes,
        summary,
        counters,
    })
}

/// Starts the simulator if asked, and says where requests go and how answers are keyed.
async fn target(cfg: &RunConfig) -> Result<(Option<Sandbox>, ClientConfig, Scope)> {
    match &cfg.target {
        Target::Sandbox(faults) => {
            let sandbox = Sandbox::start(Identity::builtin(), faults.clone(), 0).await?;
            let id = &sandbox.identity;
            let client = ClientConfig {
                endpoint: reqwest::Url::parse(&sandbox.endpoint()).context("sandbox address")?,
                api: cfg.api,
                partner_id: id.partner_id.clone(),
                timeout: cfg.timeout,
                credentials: id.credentials(),
                ca_certs: Vec::new(),
            };
            let scope = sandbox_scope(cfg.api);
            Ok((Some(sandbox), client, scope))
        }
        Target::Remote {
            endpoint,
            credentials,
            partner_id,
        } => {
            let scope = Scope::for_endpoint(endpoint, partner_id, &credentials.auth, cfg.api);
            let client = ClientConfig {
                endpoint: endpoint.clone(),
                api: cfg.api,
                partner_id: partner_id.clone(),
                timeout: cfg.timeout,
                credentials: credentials.clone(),
                ca_certs: cfg.ca_certs.clone(),
            };
            Ok((None, client, scope))
        }
    }
}

/// The simulator's port changes every run, so its answers are keyed by a fixed name.
pub fn sandbox_scope(api: crate::api::ApiVersion) -> Scope {
    Scope::sandbox(&Identity::builtin().partner_id, api)
}

/// Where a run's answers are keyed, without starting anything (for `plan`).
pub fn scope_of(cfg: &RunConfig) -> Scope {
    match &cfg.target {
        Target::Sandbox(_) => sandbox_scope(cfg.api),
        Target::Remote {
            endpoint,
            credentials,
            partner_id,
        } => Scope::for_endpoint(endpoint, partner_id, &credentials.auth, cfg.api),
    }
}
