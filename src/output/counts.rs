//! The one count of a command: rows, checks by result, requests, answers from the store,
//! duplicates and changes. The engine adds each written check to it ([`Counts::add_row`]) and
//! returns it; `plan` and `validate` fill it too; the summary (text, JSON, workbook), the
//! progress display and the metrics read it. The results and their names are
//! [`ResultKind::ALL`]; the other counts and their names are [`Counts::figures`]: no other
//! list of them is written.

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::model::{Outcome, ResultKind};

/// The counts of one command. Names are the contract's JSON keys (see [`Counts::keys`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Input rows written (read, for `plan`).
    pub rows: u64,
    /// Checks: one per row in per-row-type mode, one per `--check` and row otherwise.
    pub checks: u64,
    /// Checks by result, indexed as [`ResultKind::ALL`].
    results: [u64; ResultKind::ALL.len()],
    /// `validate`: `valid` is one of the results, shown and written even at 0.
    validating: bool,
    /// HTTP requests sent, every attempt counted.
    pub api_requests: u64,
    /// Requests sent again after a failure or throttling.
    pub retries: u64,
    /// Requests answered 429 or with a throttling code.
    pub throttled: u64,
    /// Checks answered from the state store (no request).
    pub cache_hits: u64,
    /// Checks whose value appeared before in the input (asked once).
    pub duplicates: u64,
    /// Values whose answer differs from their last reported answer, reported now (errors and
    /// pending checks are never changes).
    pub changed: u64,
    /// The changes by transition, e.g. `free->taken`.
    pub changes: BTreeMap<String, u64>,
    /// The values whose change this run reports (marked reported in the store once the
    /// outputs are written).
    pub reported: BTreeSet<String>,
}

impl Counts {
    /// The counts of `validate`, whose checks end `valid`, `invalid` or `skipped`.
    pub fn validating() -> Counts {
        Counts {
            validating: true,
            ..Counts::default()
        }
    }

    /// Counts one written row and its checks.
    pub fn add_row(&mut self, outcomes: &[Outcome]) {
        self.rows += 1;
        outcomes.iter().for_each(|o| self.add(o));
    }

    /// Counts one written check (and its change, once per value).
    pub fn add(&mut self, o: &Outcome) {
        self.tally(o.result);
        // One change per value: later rows with the same value carry it too.
        if let Some(t) = o.transition() {
            if self.reported.insert(o.checked_key.clone()) {
                self.changed += 1;
                *self.changes.entry(t).or_default() += 1;
            }
        }
    }

    /// Counts one check that ended `kind`.
    pub fn tally(&mut self, kind: ResultKind) {
        self.checks += 1;
        self.results[index(kind)] += 1;
        self.validating |= kind == ResultKind::Valid;
    }

    /// The checks that ended `kind`.
    pub fn of(&self, kind: ResultKind) -> u64 {
        self.results[index(kind)]
    }

    /// Sets the checks that end `kind` (`plan`, which counts without writing).
    pub fn set(&mut self, kind: ResultKind, n: u64) {
        self.results[index(kind)] = n;
    }

    /// Whether these are `validate`'s counts.
    pub fn is_validating(&self) -> bool {
        self.validating
    }

    /// Every result's count in the order people read them: `valid` first (`validate` only),
    /// then free, taken, uplimit, invalid, error, pending, skipped.
    pub fn results(&self) -> impl Iterator<Item = (ResultKind, u64)> + '_ {
        let valid = self
            .validating
            .then(|| (ResultKind::Valid, self.of(ResultKind::Valid)));
        let rest = ResultKind::ALL
            .into_iter()
            .filter(|k| *k != ResultKind::Valid)
            .map(|k| (k, self.of(k)));
        valid.into_iter().chain(rest)
    }

    /// The checks that did not end (`error` or `pending`): the run exits 1.
    pub fn unfinished(&self) -> u64 {
        self.of(ResultKind::Error) + self.of(ResultKind::Pending)
    }

    /// The counts beside the results: (JSON key, words for people, count). The words are the
    /// README glossary's.
    pub fn figures(&self) -> [(&'static str, &'static str, u64); 6] {
        [
            ("api_requests", "requests", self.api_requests),
            ("retries", "retries", self.retries),
            ("throttled", "throttled", self.throttled),
            ("cache_hits", "checks from the store", self.cache_hits),
            ("duplicates", "duplicates", self.duplicates),
            ("changed", "changed", self.changed),
        ]
    }

    /// Every count's JSON key (`null` in the JSON when the figures are unknown).
    pub fn keys() -> impl Iterator<Item = &'static str> {
        let figures = Counts::default().figures().map(|(key, _, _)| key);
        ["rows", "checks"]
            .into_iter()
            .chain(ResultKind::ALL.map(ResultKind::as_str))
            .chain(figures)
    }
}

fn index(kind: ResultKind) -> usize {
    ResultKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("ALL holds every result")
}

/// The contract's JSON keys: `rows`, `checks`, each result (`valid` for `validate` only), the
/// figures, and `changes` by transition.
impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("rows", &self.rows)?;
        map.serialize_entry("checks", &self.checks)?;
        for (kind, n) in self.results() {
            map.serialize_entry(kind.as_str(), &n)?;
        }
        for (key, _, n) in self.figures() {
            map.serialize_entry(key, &n)?;
        }
        map.serialize_entry("changes", &self.changes)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;

    fn outcome(key: &str, result: ResultKind) -> Outcome {
        Outcome::new(key, result, Source::Api)
    }

    #[test]
    fn every_check_counts_once_under_its_result() {
        let mut c = Counts::default();
        c.add_row(&[
            outcome("a", ResultKind::Free),
            outcome("b", ResultKind::Taken),
        ]);
        c.add_row(&[outcome("c", ResultKind::Pending)]);
        assert_eq!((c.rows, c.checks), (2, 3));
        assert_eq!(c.results().map(|(_, n)| n).sum::<u64>(), c.checks);
        assert_eq!((c.of(ResultKind::Free), c.unfinished()), (1, 1));
        assert!(c.results().all(|(k, _)| k != ResultKind::Valid));
    }

    #[test]
    fn valid_is_a_result_of_validate_only() {
        let run = serde_json::to_value(Counts::default()).unwrap();
        assert!(run.get("valid").is_none(), "{run}");
        let validate = serde_json::to_value(Counts::validating()).unwrap();
        assert_eq!(validate["valid"], 0);
        let first: Vec<_> = Counts::validating().results().map(|(k, _)| k).collect();
        assert_eq!(first[0], ResultKind::Valid);
    }

    #[test]
    fn the_json_holds_every_key_and_nothing_else() {
        let json = serde_json::to_value(Counts::validating()).unwrap();
        let mut written: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        written.retain(|k| *k != "changes");
        written.sort_unstable();
        let mut keys: Vec<&str> = Counts::keys().collect();
        keys.sort_unstable();
        assert_eq!(written, keys);
    }

    #[test]
    fn changes_are_counted_once_per_value() {
        let mut c = Counts::default();
        let now = chrono::Utc::now();
        let mut o = outcome("a", ResultKind::Taken);
        o.previous = Some((ResultKind::Free, now));
        o.change = true;
        c.add(&o);
        c.add(&o);
        assert_eq!((c.changed, c.checks), (1, 2));
        assert_eq!(c.changes.get("free->taken"), Some(&1));
    }
}
