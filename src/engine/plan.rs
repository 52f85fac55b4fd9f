//! The planning pass: read the whole input once, normalize it, and ask the state store about
//! every distinct value, to know what needs a request and in which order: values never
//! answered first (in input order), then stale answers, oldest first (a `free` answer goes
//! stale sooner than a `taken` one: `--max-age` and `--taken-max-age` say so). `checkuser plan`
//! prints these figures; `run` sends in this order.

use std::collections::{BTreeMap, HashSet};

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::input::{spawn_reader, Row};
use crate::model::{fingerprint, CheckType, Local, ResultKind};
use crate::output::Counts;
use crate::store::policy::Base;
use crate::store::{Age, Shared};

/// What the input holds and what the store already knows, in checks and distinct values.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Rows, checks, local verdicts (`invalid`, `skipped`) and duplicates, counted as a run
    /// counts them.
    #[serde(skip)]
    pub counts: Counts,
    /// Distinct values the store answers (fresh enough to reuse).
    pub fresh: u64,
    /// Distinct values never answered: they go first.
    pub never_asked: u64,
    /// Distinct values whose answer is too old, by that answer: they go next, oldest first.
    pub stale: BTreeMap<String, u64>,
    /// Requests needed if every one is answered at the first try.
    pub requests_needed: u64,
    /// Records of a UTF-8 input that were not UTF-8.
    #[serde(skip)]
    pub encoding_fallback_rows: u64,
    /// The most fields a row has (a stray cell far to the right widens the output).
    #[serde(skip)]
    pub widest: usize,
}

/// The values to send, in the order to send them, and the plan's verdicts that later passes
/// carry instead of deciding again.
pub struct Plan {
    pub figures: Figures,
    /// With each, the answer the store held to measure a new one against
    /// ([`crate::store::Age::base`]): recording the answer does not read the row again.
    pub needed: Vec<(CheckType, String, Base)>,
    /// Fingerprints (with `hasher`) of the values the store answered when planned: they are
    /// written with that answer, however old it grows while the run sends.
    pub fresh: HashSet<u64>,
    pub hasher: std::collections::hash_map::RandomState,
}

/// Reads the input (a regular file: it is read again later) and plans the requests. If `stop`
/// is cancelled meanwhile the plan ends early, with nothing to send.
pub fn collect(
    input: crate::input::Input,
    store: &Shared,
    now: DateTime<Utc>,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Plan> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(8);
    let (reading, recycle) = spawn_reader(input.reader, input.layout, 512, move |rows| {
        tx.send(rows).is_ok()
    });
    let mut f = Figures::default();
    let hasher = std::collections::hash_map::RandomState::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut fresh: HashSet<u64> = HashSet::new();
    // (stale answer's time, or None for never asked; first row; value; its base)
    let mut needed: Vec<(Option<i64>, u64, CheckType, String, Base)> = Vec::new();
    for mut batch in rx {
        if stop.is_cancelled() {
            needed.clear();
            break;
        }
        // The batch's new values, asked of the store together (one round trip to a server).
        let mut asking: Vec<(u64, CheckType, String, u64)> = Vec::new();
        for row in batch.iter_mut() {
            f.counts.rows += 1;
            f.widest = f.widest.max(row.fields.len());
            for (kind, local) in row.checks.drain(..) {
                let key = match local {
                    Local::Ready(key) => key,
                    // A file's rows are never unsent: the preflight refuses a too narrow
                    // output before any request.
                    Local::Invalid { .. } | Local::Unsent { .. } => {
                        f.counts.tally(ResultKind::Invalid);
                        continue;
                    }
                    Local::Skipped => {
                        f.counts.tally(ResultKind::Skipped);
                        continue;
                    }
                };
                // Its result is known when it is answered: counted, not yet under one.
                f.counts.checks += 1;
                let fp = fingerprint(&hasher, kind, &key);
                if !seen.insert(fp) {
                    f.counts.duplicates += 1;
                    continue;
                }
                asking.push((row.number, kind, key, fp));
            }
        }
        recycle.give(batch);
        let items: Vec<(CheckType, &str)> = asking.iter().map(|a| (a.1, a.2.as_str())).collect();
        let ages = crate::store::lock(store).age_many(&items, now)?;
        drop(items);
        for ((number, kind, key, fp), age) in asking.into_iter().zip(ages) {
            match age {
                Some(Age { fresh: true, .. }) => {
                    f.fresh += 1;
                    fresh.insert(fp);
                }
                Some(Age {
                    result, at, base, ..
                }) => {
                    *f.stale.entry(result.to_string()).or_default() += 1;
                    needed.push((Some(at.timestamp()), number, kind, key, base));
                }
                None => {
                    f.never_asked += 1;
                    needed.push((None, number, kind, key, None));
                }
            }
        }
    }
    f.encoding_fallback_rows = reading
        .join()
        .map_err(|_| anyhow!("the input reader crashed"))??;
    drop(seen);
    // None (never asked) sorts before Some(time): new values first, then the oldest answers.
    needed.sort_unstable_by_key(|(at, row, ..)| (*at, *row));
    f.requests_needed = needed.len() as u64;
    let needed = needed
        .into_iter()
        .map(|(_, _, k, v, b)| (k, v, b))
        .collect();
    Ok(Plan {
        figures: f,
        needed,
        fresh,
        hasher,
    })
}

/// How many of `needed` requests fit before a deadline at `rate`, and within a budget.
pub fn fits(needed: u64, rate: f64, seconds_left: Option<f64>, budget: Option<u64>) -> u64 {
    // The first request goes at once, then one every 1/rate.
    let by_time = seconds_left.map_or(u64::MAX, |s| (s.max(0.0) * rate).ceil() as u64);
    needed.min(by_time).min(budget.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fits_is_bounded_by_time_and_budget() {
        assert_eq!(fits(1000, 5.0, None, None), 1000);
        assert_eq!(fits(1000, 5.0, Some(60.0), None), 300);
        assert_eq!(fits(1000, 5.0, Some(9.999), None), 50);
        assert_eq!(fits(1000, 5.0, Some(60.0), Some(100)), 100);
        assert_eq!(fits(1000, 5.0, Some(-5.0), None), 0);
        assert_eq!(fits(10, 5.0, Some(1e9), Some(1 << 40)), 10);
    }
}
