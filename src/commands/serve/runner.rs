//! Runs jobs: each is `run` on its uploaded file, through the server's one [`Base`] (the
//! target, the store's lock and the store, the pace its jobs take in turn). A few run at
//! once, the rest queue; a job is cancelled or deleted by its stop token; the server stopping
//! stops them all, and the jobs it stopped stay `running` on record so that the next start
//! goes on with them (the store answers what was asked: nothing is asked twice).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::book::Book;
use super::jobs::{Job, Status};
use crate::commands::run::Base;
use crate::config::serve::ServeConfig;
use crate::config::RunConfig;
use crate::output::progress::Watch;
use crate::output::Summary;
use crate::store::{LockError, RunLock};

/// Jobs running at once (the others queue; all share one pace anyway).
const RUNNING_AT_ONCE: usize = 4;

/// Why a job's stop token was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Cancelled,
    Deleted,
}

/// A job started and not yet ended.
#[derive(Clone)]
pub struct Live {
    stop: CancellationToken,
    pub watch: Watch,
    ending: Arc<Mutex<Option<Ending>>>,
}

/// A file store's run lock, held while any job runs: one process at a time works on a file
/// store, so a nightly `run` and the page's jobs take turns (a job waits, `queued`, for a run
/// that holds it; a run started while jobs run waits with `--wait-lock` or says who holds it).
struct Gate {
    held: tokio::sync::Mutex<(usize, Option<RunLock>)>,
}

impl Gate {
    /// Enters (taking the lock if no job holds it yet); false if `stop` came first.
    async fn enter(&self, cfg: &RunConfig, stop: &CancellationToken) -> Result<bool> {
        let mut held = self.held.lock().await;
        if held.0 == 0 {
            if let Some(file) = cfg.state.file() {
                let (file, scope, waiting) = (file.to_path_buf(), cfg.scope.clone(), stop.clone());
                let taken = tokio::task::spawn_blocking(move || {
                    RunLock::acquire_until(&file, &scope, true, || waiting.is_cancelled())
                })
                .await?;
                held.1 = match taken {
                    Err(LockError::Interrupted) => return Ok(false),
                    taken => Some(taken?),
                };
            }
        }
        held.0 += 1;
        Ok(true)
    }

    async fn leave(&self) {
        let mut held = self.held.lock().await;
        held.0 -= 1;
        if held.0 == 0 {
            held.1 = None;
        }
    }
}

pub struct Runner {
    /// One upload at a time is counted against `--max-jobs` and recorded.
    pub admitting: tokio::sync::Mutex<()>,
    gate: Gate,
    /// One change at a time per job (start, mapping, cancel, delete): a Start and a mapping
    /// change sent together never both act on the same planned job.
    changing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub book: Book,
    pub cfg: Arc<ServeConfig>,
    base: Base,
    live: Mutex<HashMap<String, Live>>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Runner {
    pub fn new(
        cfg: Arc<ServeConfig>,
        base: Base,
        book: Book,
        shutdown: CancellationToken,
    ) -> Runner {
        Runner {
            admitting: tokio::sync::Mutex::new(()),
            changing: Mutex::new(HashMap::new()),
            gate: Gate {
                held: tokio::sync::Mutex::new((0, None)),
            },
            book,
            cfg,
            base,
            live: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(RUNNING_AT_ONCE)),
            shutdown,
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Holds job `id` for a change (the job must be read again once held).
    pub async fn hold(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .changing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// The live view of a job that is running or queued.
    pub fn live(&self, id: &str) -> Option<Live> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Goes on with the jobs this server left queued or running when it stopped.
    pub fn resume(self: &Arc<Self>) -> Result<()> {
        for job in self.book.all()? {
            if job.status.active() && self.book.keeps(&job) {
                tracing::info!("job {}: going on where it stopped", job.id);
                self.start(job);
            }
        }
        Ok(())
    }

    /// Queues a planned job (or one resumed) and starts it when its turn comes.
    pub fn start(self: &Arc<Self>, mut job: Job) -> Job {
        if self.live(&job.id).is_some() {
            return job; // started already: one run per job
        }
        if job.status != Status::Running {
            job.status = Status::Queued;
        }
        job.error = None;
        job.summary = None;
        if let Err(e) = self.book.save(&job) {
            tracing::error!("job {}: {e:#}", job.id);
        }
        let live = Live {
            stop: self.shutdown.child_token(),
            watch: Watch::default(),
            ending: Arc::new(Mutex::new(None)),
        };
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id.clone(), live.clone());
        let task = tokio::spawn(self.clone().drive(job.clone(), live));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
        job
    }

    /// Stops a queued or running job: it ends `cancelled` (its outputs so far are kept), or,
    /// if `delete`, its folder is removed once it has stopped. False if it was not live.
    pub fn stop(&self, id: &str, delete: bool) -> bool {
        let Some(live) = self.live(id) else {
            return false;
        };
        let mut ending = live.ending.lock().unwrap_or_else(|p| p.into_inner());
        if *ending != Some(Ending::Deleted) {
            *ending = Some(if delete {
                Ending::Deleted
            } else {
                Ending::Cancelled
            });
        }
        live.stop.cancel();
        true
    }

    /// Waits for every job task to end (after the server's stop).
    pub async fn wait(&self) {
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }

    async fn drive(self: Arc<Self>, mut job: Job, live: Live) {
        let permit = tokio::select! {
            p = self.slots.clone().acquire_owned() => p.ok(),
            _ = live.stop.cancelled() => None,
        };
        let entered = match permit {
            Some(_) => self.gate.enter(&self.cfg.base, &live.stop).await,
            None => Ok(false),
        };
        let outcome = match entered {
            Ok(true) => {
                job.status = Status::Running;
                let _ = self.book.save(&job);
                let outcome = self.run_one(&job, &live).await;
                self.gate.leave().await;
                Some(outcome)
            }
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        };
        drop(permit);
        let ending = *live.ending.lock().unwrap_or_else(|p| p.into_inner());
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job.id);
        if ending == Some(Ending::Deleted) {
            if let Err(e) = self.book.remove(&job.id) {
                tracing::error!("job {}: {e:#}", job.id);
            }
            return;
        }
        if ending.is_none() && self.shutdown.is_cancelled() {
            // Stopped with the server: on record as it was, to go on at the next start.
            tracing::info!(
                "job {}: stopped with the server, goes on at its next start",
                job.id
            );
            return;
        }
        self.ended(&mut job, outcome, ending, &live);
        self.save_end(&job).await;
    }

    /// Records how a job ended, trying for a minute while the store is away (else the job
    /// would read as running, and run again at the next start).
    async fn save_end(&self, job: &Job) {
        const TRIES: u32 = 12;
        for attempt in 1..=TRIES {
            match self.book.save(job) {
                Ok(()) => return,
                Err(e) => tracing::error!("job {} (try {attempt} of {TRIES}): {e:#}", job.id),
            }
            if attempt < TRIES {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }

    async fn run_one(&self, job: &Job, live: &Live) -> Result<Summary> {
        let dir = self
            .book
            .folder(&job.id)
            .ok_or_else(|| anyhow::anyhow!("internal error: job id"))?;
        let files = job.files(&dir);
        let args = self.cfg.job_args(&files, &job.settings)?;
        let mut cfg = RunConfig::from_args(&args, self.cfg.log())?;
        cfg.job.twin = Some(files.twin);
        tracing::info!("job {}: checking {}", job.id, job.name);
        self.base
            .run(
                cfg,
                live.stop.clone(),
                Some(live.watch.clone()),
                Instant::now(),
            )
            .await
    }

    /// Records how a job ended, and tells `--notify-url`.
    fn ended(
        &self,
        job: &mut Job,
        outcome: Option<Result<Summary>>,
        ending: Option<Ending>,
        live: &Live,
    ) {
        let summary = match outcome {
            Some(Ok(mut s)) => {
                s.finished();
                Some(s)
            }
            Some(Err(e)) => {
                job.error = Some(format!("{e:#}"));
                None
            }
            None => None,
        };
        job.status = match (&summary, ending) {
            (_, Some(_)) => Status::Cancelled,
            (Some(s), None) if s.exit_code == crate::model::ExitCode::Failed.code() => {
                job.error = s.stop_message.clone();
                Status::Failed
            }
            (Some(_), None) => Status::Done,
            (None, None) => Status::Failed,
        };
        let dir = self.book.folder(&job.id).unwrap_or_default();
        job.error = job.error.as_ref().map(|e| job.scrub(&dir, e));
        let seen = live.watch.seen();
        job.progress = Some(super::api::final_progress(
            &seen,
            job.status,
            summary.as_ref(),
        ));
        let json = told(job, summary.as_ref(), &dir);
        job.summary = summary.is_some().then(|| json.clone());
        self.tell(json);
    }

    /// POSTs a job's summary to `--notify-url`, if the server has one (never a job's own).
    fn tell(&self, json: serde_json::Value) {
        let Some(notify) = self.cfg.base.notify.clone() else {
            return;
        };
        tokio::spawn(async move {
            match serde_json::to_vec(&json) {
                Ok(body) => notify.send(body).await,
                Err(e) => tracing::error!("--notify-url: {e}"),
            }
        });
    }
}

/// A job's summary as told and shown: the `--summary-json` document with `job_id` (for a job
/// that failed before its run could start, the failure alone).
fn told(job: &Job, summary: Option<&Summary>, dir: &std::path::Path) -> serde_json::Value {
    let mut json = match summary.map(Summary::json) {
        Some(Ok(j)) => j,
        _ => serde_json::json!({
            "command": "run",
            "exit_code": crate::model::ExitCode::Failed.code(),
            "stop_message": job.error,
        }),
    };
    json["job_id"] = serde_json::Value::String(job.id.clone());
    if let Some(m) = json["stop_message"].as_str().map(|m| job.scrub(dir, m)) {
        json["stop_message"] = serde_json::Value::String(m);
    }
    // The server's own paths are no one's business: the list and its download, by name.
    json["input"] = serde_json::Value::String(job.name.clone());
    if json.get("output").is_some() {
        let (_, name, _) = job.download(dir, "result", None).unwrap_or_default();
        json["output"] = serde_json::Value::String(name);
    }
    json
}
