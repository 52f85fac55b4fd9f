//! A run over standard input or a pipe: one pass, checks sent in input order, rows written as
//! their checks finish (in input order, through the reorder window). A pipe is read once, so
//! what the outputs cannot hold is found as rows arrive: a row too wide for a workbook output
//! is written cut, its checks not sent (`error`, saying why), and every row read is written.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::attempt::Ctx;
use super::dispatch::Dispatcher;
use super::{writer, Done, EngineConfig, Source, StoppedBeforeInput, REORDER_WINDOW};
use crate::input::{spawn_reader, Input, Row};
use crate::model::Local;
use crate::output::progress::Progress;
use crate::store::Shared;

pub async fn run(
    cfg: &EngineConfig,
    source: Arc<dyn Source>,
    store: Shared,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) -> Result<Done> {
    let input = first_read(&source, &stop).await?;
    let summary = source.summary(&input);
    let counts = summary.counts.clone();
    source.preflight(&input, 0)?;
    let limit = source.row_limit(&input);
    let (sink, changes) = source.outputs(&input)?;
    let crate::input::Input { reader, layout } = input;
    let progress = Progress::new(&cfg.display, None).watched(cfg.watch.clone());
    let total = Arc::new(AtomicU64::new(0));
    // Each row is handed over as soon as it is read: a pipe that sends a few rows and waits
    // gets them checked now, not when 64 have come (the dispatcher batches what waits).
    let (row_tx, row_rx) = mpsc::channel::<Vec<Row>>(256);
    let (reading, _) = spawn_reader(reader, layout, 1, move |mut rows| {
        if let Some(limit) = limit {
            rows.iter_mut()
                .for_each(|row| unsent_if_too_wide(row, limit));
        }
        row_tx.blocking_send(rows).is_ok()
    });
    let (done_tx, done_rx) = mpsc::channel(64);
    let writing = writer::spawn(sink, changes, counts, progress, total, done_rx);
    let window = Arc::new(Semaphore::new(REORDER_WINDOW));
    let dispatched = Dispatcher::new(ctx, store, done_tx, window, cfg.grace)
        .with_deadline(super::deadline_instant(cfg.deadline))
        .run(row_rx, stop.cancelled_owned())
        .await;
    // A reader still blocked on an input left open is not waited for.
    let unread = dispatched.as_ref().is_ok_and(|c| c.unread);
    let read = match unread {
        true => Ok(0),
        false => reading
            .join()
            .map_err(|_| anyhow!("the input reader crashed"))?,
    };
    let written = writing
        .join()
        .map_err(|_| anyhow!("the output writer crashed"))?;
    let counters = dispatched?;
    let fallback = read?;
    let (sink, changes, mut counts) = written?;
    counts.duplicates = counters.duplicates;
    let summary = crate::output::Summary {
        encoding_fallback_rows: fallback,
        ..summary
    };
    Ok(Done::new(sink, changes, summary, counts, counters))
}

/// Opens the input (its header) on a thread of its own: standard input may stay open with
/// nothing written, and a stop must end the run at once, not when a first line comes. The
/// thread, blocked in a read, is left behind; the process exits without it.
async fn first_read(source: &Arc<dyn Source>, stop: &CancellationToken) -> Result<Input> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reading = source.clone();
    std::thread::spawn(move || {
        let _ = tx.send(reading.read());
    });
    tokio::select! {
        read = rx => read.map_err(|_| anyhow!("the input reader crashed"))?,
        _ = stop.cancelled() => Err(StoppedBeforeInput.into()),
    }
}

/// A row wider than an output holds is not sent (its checks end `error`, saying why): the
/// output could not show it whole, and a request is not spent on it.
fn unsent_if_too_wide(row: &mut Row, limit: usize) {
    if row.fields.len() <= limit {
        return;
    }
    let reason = format!(
        "not sent: this row has {} fields, more than the {limit} a workbook row holds beside \
         the result columns, and is cut at the workbook's last column: write a CSV (-o \
         NAME.csv) to keep the row whole and check it",
        row.fields.len()
    );
    tracing::warn!("row {} (line {}): {reason}", row.number, row.line);
    for (_, local) in row.checks.iter_mut() {
        if let Local::Ready(key) = local {
            let key = std::mem::take(key);
            *local = Local::Unsent {
                key,
                reason: reason.clone(),
            };
        }
    }
}
