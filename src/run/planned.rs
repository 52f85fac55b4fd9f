//! A run over a regular file, in three passes, so that a budget or a deadline that cannot
//! cover the whole list is spent where it matters:
//!
//! ```text
//! 1. plan     read + normalize, ask the store: distinct values needing a request, in priority order
//! 2. send     the dispatcher sends them in that order and records every answer in the store;
//!             a collector keeps what the store does not hold (attempts, errors)
//! 3. settle   read the input again and write every row in input order, joined with the store
//! ```
//!
//! Memory is bounded by the number of distinct values needing a request (their keys, in
//! pass 1 and 2) and a 12-byte entry per value sent (pass 2 and 3); the rows themselves stream.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use chrono::Utc;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::attempt::Ctx;
use super::dispatcher::{Counters, Dispatcher};
use super::writer::RowDone;
use super::REORDER_WINDOW;
use crate::check::{fingerprint, CheckType, Local, Outcome, ResultKind, Source};
use crate::config::RunConfig;
use crate::input::{spawn_reader, Row};
use crate::output::progress::Progress;
use crate::output::{Sink, Summary};
use crate::store::Store;

/// What pass 2 learned that the store does not keep.
#[derive(Default)]
struct ThisRun {
    hasher: std::collections::hash_map::RandomState,
    /// Requests made per value sent (set to 0 once its first row is written).
    attempts: HashMap<u64, u32>,
    /// Outcomes that are not answers (errors, pending after attempts): never stored.
    others: HashMap<u64, Outcome>,
}

impl ThisRun {
    fn key(&self, kind: CheckType, key: &str) -> u64 {
        fingerprint(&self.hasher, kind, key)
    }
}

/// The figures and output of a planned run, for `run` to finish.
pub struct Done {
    pub sink: Sink,
    pub changes: crate::output::ChangeFeed,
    pub summary: Summary,
    pub counters: Counters,
}

/// Runs the three passes.
pub async fn run(
    cfg: &RunConfig,
    scope: crate::store::Scope,
    store: Store,
    ctx: Arc<Ctx>,
    simulated: bool,
    stop: CancellationToken,
) -> Result<Done> {
    let job = cfg.job.clone();
    // One open file for both readings: a file replaced or deleted meanwhile is still read as
    // it was; one changed in place is detected.
    let source = InputFile::open(&job)?;
    let input = source.input(&job, None)?;
    let encoding = input.reader.encoding;
    let summary = Summary {
        simulated,
        ..crate::job::summary(&job, "run", &input)
    };
    let plan_stop = stop.clone();
    let (plan, store) = tokio::task::spawn_blocking(move || {
        super::plan::collect(input, &store, Utc::now(), &plan_stop).map(|p| (p, store))
    })
    .await??;
    let figures = plan.figures.clone();
    tracing::info!(
        "plan: {} checks, {} answered by the state store, {} values to ask ({} never asked, \
         then the oldest answers first)",
        figures.checks,
        figures.fresh,
        figures.requests_needed,
        figures.never_asked
    );

    // Pass 2: send, in the plan's order.
    let (row_tx, row_rx) = mpsc::channel::<Vec<Row>>(16);
    let needed = plan.needed;
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
    let progress = Progress::new(&job.display, Some(figures.requests_needed))
        .with_deadline(cfg.deadline, figures.requests_needed);
    let collecting = std::thread::spawn(move || collect_answers(done_rx, progress));
    let deadline = cfg.deadline.map(|d| {
        let left = (d - Utc::now()).to_std().unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let window = Arc::new(Semaphore::new(REORDER_WINDOW));
    let counters = Dispatcher::new(ctx, store, done_tx, window, cfg.timeout)
        .with_deadline(deadline)
        .run(row_rx, stop.cancelled_owned())
        .await;
    let _ = feeding.join();
    let this_run = collecting
        .join()
        .map_err(|_| anyhow!("the answer collector crashed"))?;
    let counters = counters?;

    // Pass 3: every row, in input order, joined with the store.
    let store = Store::open(&cfg.state, scope, cfg.reuse)?;
    let mut summary = summary;
    summary.duplicates = figures.duplicates;
    source.check_unchanged()?;
    let input = source.input(&job, Some(encoding))?;
    let job2 = job.clone();
    let changes_path = cfg.changes.clone();
    let (sink, changes, mut summary) = tokio::task::spawn_blocking(move || {
        settle(
            &job2,
            input,
            changes_path.as_deref(),
            &store,
            this_run,
            summary,
        )
    })
    .await??;
    summary.encoding_fallback_rows = figures.encoding_fallback_rows;
    if summary.rows != figures.rows {
        tracing::warn!(
            "the input changed during the run: it had {} rows when planned and {} when written; \
             every row of the file as it is now is in the output, and values that were not \
             planned are pending",
            figures.rows,
            summary.rows
        );
    }
    Ok(Done {
        sink,
        changes,
        summary,
        counters,
    })
}

/// The input file, open once for the plan and the settle pass.
struct InputFile {
    file: Option<std::fs::File>,
    len: u64,
    modified: Option<std::time::SystemTime>,
    label: String,
}

impl InputFile {
    fn open(job: &crate::config::JobConfig) -> Result<InputFile> {
        let path = job
            .input
            .path
            .as_ref()
            .ok_or_else(|| anyhow!("internal error: a planned run needs a file"))?;
        // A workbook is converted by calamine from its path; a CSV is read from this handle.
        let file = if crate::input::workbook::is_workbook(path) {
            None
        } else {
            Some(
                std::fs::File::open(path)
                    .map_err(|e| anyhow!("cannot open input {}: {e}", path.display()))?,
            )
        };
        let meta = match &file {
            Some(f) => f.metadata()?,
            None => std::fs::metadata(path)?,
        };
        Ok(InputFile {
            file,
            len: meta.len(),
            modified: meta.modified().ok(),
            label: path.display().to_string(),
        })
    }

    /// The input read from its start; `known`: the encoding the first reading found.
    fn input(
        &self,
        job: &crate::config::JobConfig,
        known: Option<crate::input::sniff::TextEncoding>,
    ) -> Result<crate::job::Input> {
        let file = match &self.file {
            None => None,
            Some(f) => {
                use std::io::Seek;
                let mut f = f.try_clone()?;
                f.seek(std::io::SeekFrom::Start(0))?;
                Some(f)
            }
        };
        crate::job::open_input_from(job, file, known)
    }

    /// Refuses to write an output from a file that was changed in place during the run: its
    /// rows would no longer match what was planned and sent.
    fn check_unchanged(&self) -> Result<()> {
        let Some(f) = &self.file else { return Ok(()) };
        let meta = f.metadata()?;
        if meta.len() != self.len || meta.modified().ok() != self.modified {
            anyhow::bail!(
                "the input {} was changed while the run was going (it had {} bytes, now {}): \
                 the answers are in the state store; run again on the finished file",
                self.label,
                self.len,
                meta.len()
            );
        }
        Ok(())
    }
}

/// Pass 2's collector: keeps attempts and non-answers, and drives the progress display.
fn collect_answers(mut rx: mpsc::Receiver<Vec<RowDone>>, mut progress: Progress) -> ThisRun {
    let mut this = ThisRun::default();
    let mut seen = Summary::default();
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
            let fp = this.key(kind, &o.checked_key);
            seen.rows += 1;
            seen.count(&o);
            seen.api_requests += u64::from(o.attempts);
            this.attempts.insert(fp, o.attempts);
            if !matches!(
                o.result,
                ResultKind::Free | ResultKind::Taken | ResultKind::Uplimit | ResultKind::Invalid
            ) {
                this.others.insert(fp, o);
            }
        }
        progress.update(&seen);
    }
    progress.finish();
    this
}

/// Pass 3: reads the input again and writes every row with its outcomes.
fn settle(
    job: &crate::config::JobConfig,
    input: crate::job::Input,
    changes_path: Option<&std::path::Path>,
    store: &Store,
    mut this: ThisRun,
    mut summary: Summary,
) -> Result<(Sink, crate::output::ChangeFeed, Summary)> {
    let mut sink = crate::job::open_sink(job, &input, true)?;
    let mut changes = crate::job::open_changes(job, &input, changes_path)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(8);
    let (reading, recycle) = spawn_reader(input.reader, input.layout, 512, move |rows| {
        tx.send(rows).is_ok()
    });
    let now = Utc::now();
    let mut outcomes = Vec::new();
    for mut batch in rx {
        for row in batch.iter_mut() {
            outcomes.clear();
            for (kind, local) in row.checks.drain(..) {
                outcomes.push(outcome(kind, local, store, &mut this, &mut summary, now)?);
            }
            sink.write_row(&row.fields, &outcomes)?;
            changes.offer(&row.fields, &outcomes)?;
            summary.rows += 1;
            outcomes.iter().for_each(|o| summary.count(o));
        }
        recycle.give(batch);
    }
    reading
        .join()
        .map_err(|_| anyhow!("the input reader crashed"))??;
    Ok((sink, changes, summary))
}

/// The outcome of one check in pass 3.
fn outcome(
    kind: CheckType,
    local: Local,
    store: &Store,
    this: &mut ThisRun,
    summary: &mut Summary,
    now: chrono::DateTime<Utc>,
) -> Result<Outcome> {
    let Local::Ready(key) = local else {
        return Ok(Outcome::from_local(local, ResultKind::Pending, now));
    };
    let fp = this.key(kind, &key);
    // The first row of a value sent in this run carries its attempts; later ones 0.
    let sent = this.attempts.get_mut(&fp).map(std::mem::take);
    if let Some(o) = this.others.get(&fp) {
        return Ok(Outcome {
            attempts: sent.unwrap_or(0),
            ..o.clone()
        });
    }
    let stored = store.lookup(kind, &key, now)?;
    Ok(match (stored, sent) {
        (Some(s), Some(attempts)) => Outcome {
            attempts,
            source: Source::Api,
            ..s.outcome
        },
        (Some(s), None) if s.fresh => {
            summary.cache_hits += 1;
            s.outcome
        }
        (stored, _) => {
            let mut o = Outcome::from_local(Local::Ready(key), ResultKind::Pending, now);
            o.previous = stored.and_then(|s| Some((s.outcome.result, s.outcome.checked_at?)));
            o
        }
    })
}
