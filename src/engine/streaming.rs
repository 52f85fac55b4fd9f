//! A run over standard input or a pipe: one pass, checks sent in input order, rows written as
//! their checks finish (in input order, through the reorder window).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::attempt::Ctx;
use super::dispatch::Dispatcher;
use super::{writer, Done, EngineConfig, Source, REORDER_WINDOW};
use crate::input::{spawn_reader, Row};
use crate::output::progress::Progress;
use crate::store::Shared;

pub async fn run(
    cfg: &EngineConfig,
    source: Arc<dyn Source>,
    store: Shared,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
) -> Result<Done> {
    let input = source.read()?;
    let summary = source.summary(&input);
    let counts = summary.counts.clone();
    source.preflight(&input, 0)?;
    let (sink, changes) = source.outputs(&input)?;
    let crate::input::Input { reader, layout } = input;
    let progress = Progress::new(&cfg.display, None);
    let total = Arc::new(AtomicU64::new(0));
    // Each row is handed over as soon as it is read: a pipe that sends a few rows and waits
    // gets them checked now, not when 64 have come (the dispatcher batches what waits).
    let (row_tx, row_rx) = mpsc::channel::<Vec<Row>>(256);
    let (reading, _) = spawn_reader(reader, layout, 1, move |rows| {
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
