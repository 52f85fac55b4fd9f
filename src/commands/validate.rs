//! `checkuser validate`: the offline half of a run. Reads, maps, normalizes and writes every
//! row with `valid` / `invalid` / `skipped`, in one streaming pass with no network.

use std::time::Instant;

use anyhow::Result;
use chrono::Utc;

use crate::config::JobConfig;
use crate::input::{spawn_reader, Row};
use crate::model::{fingerprint, Local, Outcome, ResultKind};
use crate::output::progress::Progress;
use crate::output::{Counts, Summary};

/// Values whose fingerprints are kept to count duplicates (32 MB); past that the count covers
/// the first ones only, so memory stays flat on inputs of any size.
const MAX_FINGERPRINTS: usize = 4_000_000;

/// Rows per hand-over between the reading and the writing thread.
const BATCH: usize = 512;

/// `validate` with signals handled: a first Ctrl-C, SIGTERM or SIGHUP lets it finish the
/// output (it sends nothing and is quick) and exit 130; a second exits at once, removing the
/// temporary file.
pub async fn validate_until(
    cfg: JobConfig,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Summary> {
    let mut summary = tokio::task::spawn_blocking(move || validate(&cfg)).await??;
    if stop.is_cancelled() {
        summary.stopped_reason = Some(crate::output::summary::StopReason::Interrupted);
        summary.stop_message = Some("interrupted: the output was finished".into());
        summary.exit_code = crate::model::ExitCode::Interrupted.code();
    }
    Ok(summary)
}

/// Runs `validate` and returns its summary (already printed and written as asked).
pub fn validate(cfg: &JobConfig) -> Result<Summary> {
    let started = Instant::now();
    let input = crate::commands::job::open_input(cfg)?;
    let mut sink = crate::commands::job::open_sink(cfg, &input, false)?;
    let mut summary = Summary {
        counts: Counts::validating(),
        ..crate::commands::job::summary(cfg, "validate", &input)
    };
    let crate::input::Input { reader, layout } = input;
    let mut progress = Progress::new(&cfg.display, None);
    // A 64-bit fingerprint per value, counted after the last row: 8 bytes per check.
    let mut prints: Vec<u64> = Vec::with_capacity(MAX_FINGERPRINTS);
    let hasher = std::collections::hash_map::RandomState::new();
    let now = Utc::now();
    let per_row = layout.checks_per_row();
    // Reading and normalizing on one core, writing on the other. Spent batches go back to
    // the reading thread to be reused.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(8);
    let (reading, recycle) = spawn_reader(reader, layout, BATCH, move |rows| tx.send(rows).is_ok());
    let mut outcomes = Vec::with_capacity(per_row);
    for batch in rx {
        for row in &batch {
            outcomes.clear();
            for (kind, local) in &row.checks {
                if let Local::Ready(key) = local {
                    if prints.len() < MAX_FINGERPRINTS {
                        prints.push(fingerprint(&hasher, *kind, key));
                    }
                }
                // A copy: the row's own strings go back to be freed by the reading thread.
                outcomes.push(Outcome::from_local(local.clone(), ResultKind::Valid, now));
            }
            sink.write_row(&row.fields, &outcomes)?;
            summary.counts.add_row(&outcomes);
        }
        progress.update(&summary.counts);
        recycle.give(batch);
    }
    summary.encoding_fallback_rows = reading
        .join()
        .map_err(|_| anyhow::anyhow!("the input reader crashed"))??;
    if prints.len() == MAX_FINGERPRINTS {
        summary.duplicates_counted_among = Some(MAX_FINGERPRINTS as u64);
    }
    prints.sort_unstable();
    summary.counts.duplicates = prints.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    progress.finish();
    summary.sheets = sink.sheet_names();
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.exit_code = crate::model::ExitCode::Ok.code();
    sink.finish(&summary)?;
    Ok(summary)
}
