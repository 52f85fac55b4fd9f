//! The one writer: receives finished rows in any order, writes them in input order (holding
//! early ones in a reorder buffer bounded by the window permits they carry), counts them
//! ([`Counts`]) and drives the progress display. It runs on its own thread so file I/O never
//! blocks the dispatcher.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::model::Outcome;
use crate::output::progress::Progress;
use crate::output::{ChangeFeed, Counts, Sink};

/// A row with every check resolved.
pub struct RowDone {
    /// 1-based record number: the output order.
    pub number: u64,
    pub fields: csv::StringRecord,
    pub outcomes: Vec<Outcome>,
    /// A place in the reorder window, given back when the row is written.
    pub window: OwnedSemaphorePermit,
}

/// Starts the writer thread. `total` is the number of checks once a pre-count knows it (0 until then).
pub fn spawn(
    mut sink: Sink,
    mut changes: ChangeFeed,
    mut counts: Counts,
    mut progress: Progress,
    total: Arc<AtomicU64>,
    mut rx: mpsc::Receiver<Vec<RowDone>>,
) -> std::thread::JoinHandle<Result<(Sink, ChangeFeed, Counts)>> {
    std::thread::spawn(move || {
        let mut held: BTreeMap<u64, RowDone> = BTreeMap::new();
        let mut next = 1u64;
        let mut total_seen = 0;
        while let Some(batch) = rx.blocking_recv() {
            held.extend(batch.into_iter().map(|done| (done.number, done)));
            while let Some(row) = held.remove(&next) {
                sink.write_row(&row.fields, &row.outcomes)?;
                changes.offer(&row.fields, &row.outcomes)?;
                counts.add_row(&row.outcomes);
                // Live, for the progress display; the dispatcher's exact count replaces it at
                // the end.
                counts.api_requests += row
                    .outcomes
                    .iter()
                    .map(|o| u64::from(o.attempts))
                    .sum::<u64>();
                next += 1;
            }
            let t = total.load(Ordering::Relaxed);
            if t != total_seen {
                total_seen = t;
                progress.set_total(t);
            }
            progress.update(&counts);
        }
        progress.finish();
        if let Some(first) = held.keys().next() {
            bail!("internal error: row {first} was finished but row {next} never was");
        }
        Ok((sink, changes, counts))
    })
}
