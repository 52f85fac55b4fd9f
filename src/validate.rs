//! `checkuser validate`: the offline half of a run. Reads, maps, normalizes and writes every
//! row with `valid` / `invalid` / `skipped`, in one streaming pass with no network.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Instant;

use anyhow::Result;
use chrono::Utc;

use crate::check::{CheckType, Local, Outcome, ResultKind};
use crate::config::JobConfig;
use crate::input::{Layout, RecordReader};
use crate::output::progress::Progress;
use crate::output::{CsvSink, SinkOptions, Summary};

/// Runs `validate` and returns its summary (already printed and written as asked).
pub fn validate(cfg: &JobConfig) -> Result<Summary> {
    let started = Instant::now();
    let mut reader = RecordReader::open(&cfg.input)?;
    let layout = Layout::resolve(&reader.header, &cfg.specs, cfg.default_country)?;
    let mut sink = open_sink(cfg, &reader, &layout)?;
    let mut summary = Summary {
        command: "validate",
        valid: Some(0),
        input: cfg.input_label(),
        output: cfg.output_label(),
        ..Summary::default()
    };
    let mut progress = Progress::new(&cfg.display, None);
    // 64-bit fingerprints, not the keys: 8 bytes per distinct value keeps memory small.
    let mut seen: HashSet<u64> = HashSet::new();
    let hasher = std::collections::hash_map::RandomState::new();
    let now = Utc::now();
    let mut outcomes = Vec::with_capacity(layout.checks_per_row());
    while let Some(rec) = reader.next_record()? {
        outcomes.clear();
        for (kind, local) in layout.checks(&rec.fields, rec.problem.as_deref()) {
            if let Local::Ready(key) = &local {
                if !seen.insert(fingerprint(&hasher, kind, key)) {
                    summary.duplicates += 1;
                }
            }
            outcomes.push(Outcome::from_local(&local, ResultKind::Valid, now));
        }
        sink.write_row(&rec.fields, &outcomes)?;
        summary.rows += 1;
        outcomes.iter().for_each(|o| summary.count(o));
        progress.update(&summary);
    }
    progress.finish();
    sink.finish()?;
    summary.encoding_fallback_rows = reader.fallback_records;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.exit_code = 0;
    Ok(summary)
}

/// Opens the output sink with the input's delimiter and the layout's header.
pub fn open_sink(cfg: &JobConfig, reader: &RecordReader, layout: &Layout) -> Result<CsvSink> {
    let opts = SinkOptions {
        path: cfg.output.clone(),
        delimiter: reader.delimiter,
        bom: cfg.bom,
        escape_formulas: cfg.escape_formulas,
    };
    CsvSink::create(&opts, &layout.output_header(&reader.header), layout.width)
}

fn fingerprint(h: &impl BuildHasher, kind: CheckType, key: &str) -> u64 {
    let mut s = h.build_hasher();
    kind.hash(&mut s);
    key.hash(&mut s);
    s.finish()
}
