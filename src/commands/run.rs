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
use crate::engine::{retry::Policy, EngineConfig};
use crate::output::Summary;
use crate::sandbox::{Identity, Sandbox};
use crate::store::{LockError, RunLock, Scope};

/// Runs the job; `stop` cancelled means "stop sending and finish" (Ctrl-C, SIGTERM, SIGHUP).
/// The run then exits 130 with a complete output.
pub async fn run(cfg: RunConfig, stop: CancellationToken) -> Result<Summary> {
    let started = Instant::now();
    super::job::check_input(&cfg.job)?;
    let (sandbox, client_cfg, scope) = target(&cfg).await?;
    // One run per scope on a file; runs sharing a database share its quota instead.
    let _lock = match cfg.state.file() {
        Some(file) => {
            let (file, lock_scope, wait) = (file.to_path_buf(), scope.clone(), cfg.wait_lock);
            let waiting = stop.clone();
            let held = tokio::task::spawn_blocking(move || {
                RunLock::acquire_until(&file, &lock_scope, wait, || waiting.is_cancelled())
            });
            match held.await? {
                Err(LockError::Interrupted) => return Ok(interrupted_waiting(&cfg)),
                held => Some(held?),
            }
        }
        None => None,
    };
    let (location, reuse) = (cfg.state.clone(), cfg.reuse);
    let store =
        tokio::task::spawn_blocking(move || crate::store::open(&location, scope, reuse)).await??;
    let store = crate::store::shared(store);
    let checker = Arc::new(Client::new(client_cfg)?);
    let source = Arc::new(JobSource::new(
        cfg.job.clone(),
        cfg.changes.clone(),
        sandbox.is_some(),
    )?);
    let done = crate::engine::run(
        &engine_config(&cfg),
        source,
        store.clone(),
        checker,
        stop.clone(),
    )
    .await?;
    drop(sandbox);
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
    if let Err(e) = crate::store::lock(&store).mark_reported(&reported) {
        tracing::warn!("{e:#}: the next run reports these changes again");
    }
    if let Some(notify) = &cfg.notify {
        match summary.json().and_then(|j| Ok(serde_json::to_vec(&j)?)) {
            Ok(body) => notify.send(body).await,
            Err(e) => tracing::error!("--notify-url: {e:#}"),
        }
    }
    Ok(summary)
}

/// A run stopped (SIGTERM, Ctrl-C) while it waited for the run lock: nothing read, nothing sent,
/// no output written; exit 130.
fn interrupted_waiting(cfg: &RunConfig) -> Summary {
    let mut summary = Summary {
        command: "run",
        input: cfg.job.input_label(),
        output: "nothing written".into(),
        stopped_reason: Some(crate::output::summary::StopReason::Interrupted),
        stop_message: Some(
            "interrupted while waiting for the run lock (--wait-lock): nothing was read or sent"
                .into(),
        ),
        ..Summary::started()
    };
    summary.decide_exit_code();
    summary
}

/// The engine's part of the run's settings.
pub fn engine_config(cfg: &RunConfig) -> EngineConfig {
    EngineConfig {
        rate: cfg.rate,
        concurrency: cfg.concurrency,
        policy: Policy {
            max_attempts: cfg.max_attempts,
            backoff_base: cfg.backoff_base,
            max_throttle_wait: cfg.max_throttle_wait,
        },
        max_requests: cfg.max_requests,
        deadline: cfg.deadline,
        grace: cfg.timeout,
        display: cfg.job.display,
    }
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
                // On this machine: never through a proxy.
                proxy: None,
            };
            let scope = sandbox_scope(cfg.api);
            Ok((Some(sandbox), client, scope))
        }
        Target::Remote {
            endpoint,
            credentials,
            partner_id,
        } => {
            let credentials = credentials
                .as_ref()
                .context("internal error: no credentials")?;
            let scope = Scope::for_endpoint(endpoint, partner_id, cfg.api)?;
            let client = ClientConfig {
                endpoint: endpoint.clone(),
                api: cfg.api,
                partner_id: partner_id.clone(),
                timeout: cfg.timeout,
                credentials: credentials.clone(),
                ca_certs: cfg.ca_certs.clone(),
                proxy: cfg.proxy.clone(),
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
pub fn scope_of(cfg: &RunConfig) -> Result<Scope> {
    match &cfg.target {
        Target::Sandbox(_) => Ok(sandbox_scope(cfg.api)),
        Target::Remote {
            endpoint,
            partner_id,
            ..
        } => Scope::for_endpoint(endpoint, partner_id, cfg.api),
    }
}
