//! `checkuser run`: the whole job. Sets up the target (the API or the in-process simulator),
//! the state store and its lock, hands them to the [engine](crate::engine), then writes the
//! outputs and marks the changes they report as reported.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use super::job::JobSource;
use crate::api::client::{Client, ClientConfig};
use crate::config::{RunConfig, Target};
use crate::engine::{retry::Policy, EngineConfig, StoppedBeforeInput};
use crate::output::Summary;
use crate::sandbox::{Identity, Sandbox};
use crate::store::{LockError, RunLock};

/// Runs the job; `stop` cancelled means "stop sending and finish" (Ctrl-C, SIGTERM, SIGHUP).
/// The run then exits 130 with a complete output.
pub async fn run(cfg: RunConfig, stop: CancellationToken) -> Result<Summary> {
    let started = Instant::now();
    super::job::check_input(&cfg.job)?;
    let base = match Base::prepare(&cfg, &stop, true).await? {
        Ok(base) => base,
        Err(why) => return Ok(interrupted(&cfg, why)),
    };
    base.run(cfg, stop, None, started).await
}

/// What runs of one process share: where requests go (the simulator, if asked, started
/// once), the run lock of a file store and the store itself, and the pace. `run` makes one
/// for its one run; `serve` one for all its jobs, so that they share the store's lock and the
/// quota (taken in turn).
pub struct Base {
    sandbox: Option<Sandbox>,
    checker: Arc<Client>,
    _lock: Option<RunLock>,
    /// A file store, opened once; a database is opened by each run (each is a team member).
    store: Option<crate::store::Shared>,
    pace: Arc<crate::engine::pace::Pace>,
}

impl Base {
    /// Starts the simulator (if asked), takes the run lock (if `lock`: `serve` takes it only
    /// while jobs run) and opens a file store; `Err(why)` if `stop` came first.
    pub async fn prepare(
        cfg: &RunConfig,
        stop: &CancellationToken,
        lock: bool,
    ) -> Result<std::result::Result<Base, &'static str>> {
        let (sandbox, client) = target(cfg).await?;
        // One run per scope on a file; runs sharing a database share its quota instead.
        let lock = match cfg.state.file().filter(|_| lock) {
            Some(file) => {
                let (file, scope, wait) = (file.to_path_buf(), cfg.scope.clone(), cfg.wait_lock);
                let waiting = stop.clone();
                let held = tokio::task::spawn_blocking(move || {
                    RunLock::acquire_until(&file, &scope, wait, || waiting.is_cancelled())
                });
                match held.await? {
                    Err(LockError::Interrupted) => return Ok(Err(WAITING_FOR_LOCK)),
                    held => Some(held?),
                }
            }
            None => None,
        };
        let store = match cfg.state.file() {
            Some(_) => match open_store(cfg, stop).await? {
                Some(store) => Some(crate::store::shared(store)),
                None => return Ok(Err(OPENING_STORE)),
            },
            None => None,
        };
        Ok(Ok(Base {
            sandbox,
            checker: Arc::new(Client::new(client)?),
            _lock: lock,
            store,
            pace: Arc::new(crate::engine::pace::Pace::new(cfg.budget.rate)),
        }))
    }

    /// Runs one job of this base: `cfg` differs from the base's only in its input and outputs.
    /// `watch` also shows its progress.
    pub async fn run(
        &self,
        cfg: RunConfig,
        stop: CancellationToken,
        watch: Option<crate::output::progress::Watch>,
        started: Instant,
    ) -> Result<Summary> {
        let store = match &self.store {
            Some(store) => store.clone(),
            None => match open_store(&cfg, &stop).await? {
                Some(store) => crate::store::shared(store),
                None => return Ok(interrupted(&cfg, OPENING_STORE)),
            },
        };
        let source = Arc::new(JobSource::new(
            cfg.job.clone(),
            cfg.changes.clone(),
            self.sandbox.is_some(),
        )?);
        let engine = EngineConfig {
            pace: Some(self.pace.clone()),
            watch,
            ..engine_config(&cfg)
        };
        let done =
            match crate::engine::run(&engine, source, store.clone(), self.checker.clone(), stop)
                .await
            {
                Err(e) if e.is::<StoppedBeforeInput>() => {
                    return Ok(interrupted(&cfg, &e.to_string()))
                }
                done => done?,
            };
        finish(done, &store, started)
    }
}

/// Writes the outputs of a finished run and marks the changes they show as reported.
fn finish(
    done: crate::engine::Done,
    store: &crate::store::Shared,
    started: Instant,
) -> Result<Summary> {
    let crate::engine::Done {
        sink,
        changes,
        mut summary,
    } = done;
    let elapsed = started.elapsed().as_secs_f64();
    summary.elapsed_seconds = elapsed;
    summary.requests_per_second = summary.counts.api_requests as f64 / elapsed.max(1e-9);
    summary.decide_exit_code();
    summary.sheets = sink.sheet_names();
    changes.finish(&summary)?;
    sink.finish(&summary)?;
    // The outputs are written: the changes they show are reported, once per store.
    let reported: Vec<String> = summary.counts.reported.iter().cloned().collect();
    if let Err(e) = crate::store::lock(store).mark_reported(&reported) {
        tracing::warn!("{e:#}: the next run reports these changes again");
    }
    Ok(summary)
}

const WAITING_FOR_LOCK: &str =
    "interrupted while waiting for the run lock (--wait-lock): nothing was read or sent";

const OPENING_STORE: &str = "interrupted while reaching the state store: nothing was read or sent";

/// Opens the state store on a thread of its own, so that a stop while a database is being
/// reached (a server that does not answer) ends the run at once: `None` then. The thread is
/// left to finish alone; the process exits without it.
async fn open_store(
    cfg: &RunConfig,
    stop: &CancellationToken,
) -> Result<Option<crate::store::Store>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (location, scope, reuse) = (cfg.state.clone(), cfg.scope.clone(), cfg.reuse);
    // A team run registers as the store opens (one round trip with the schema check).
    let rate = Some(cfg.budget.rate);
    std::thread::spawn(move || {
        let _ = tx.send(crate::store::open(&location, scope, reuse, rate));
    });
    tokio::select! {
        opened = rx => Ok(Some(opened.context("opening the state store crashed")??)),
        _ = stop.cancelled() => Ok(None),
    }
}

/// A run stopped (SIGTERM, Ctrl-C) before it read a row (waiting for the run lock, or for
/// standard input's first line): nothing read, nothing sent, no output written (a previous
/// one at its path is left as it was); exit 130.
fn interrupted(cfg: &RunConfig, why: &str) -> Summary {
    let mut summary = Summary {
        command: "run",
        input: cfg.job.input_label(),
        output: "nothing written".into(),
        stopped_reason: Some(crate::output::summary::StopReason::Interrupted),
        stop_message: Some(why.into()),
        ..Summary::started()
    };
    summary.decide_exit_code();
    summary
}

/// The engine's part of the run's settings.
pub fn engine_config(cfg: &RunConfig) -> EngineConfig {
    EngineConfig {
        rate: cfg.budget.rate,
        concurrency: cfg.concurrency,
        policy: Policy {
            max_attempts: cfg.max_attempts,
            backoff_base: cfg.backoff_base,
            max_throttle_wait: cfg.max_throttle_wait,
        },
        max_requests: cfg.budget.max_requests,
        deadline: cfg.budget.deadline,
        grace: cfg.timeout,
        display: cfg.job.display,
        pace: None,
        watch: None,
    }
}

/// Starts the simulator if asked, and says where requests go.
async fn target(cfg: &RunConfig) -> Result<(Option<Sandbox>, ClientConfig)> {
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
                // On this machine: never through a proxy.
                proxy: None,
            };
            Ok((Some(sandbox), client))
        }
        Target::Remote(r) => {
            let client = ClientConfig {
                endpoint: r.endpoint.clone(),
                api: cfg.api,
                partner_id: r.partner_id.clone(),
                timeout: cfg.timeout,
                credentials: r.credentials.clone(),
                ca_certs: r.ca_certs.clone(),
                proxy: r.proxy.clone(),
            };
            Ok((None, client))
        }
    }
}
