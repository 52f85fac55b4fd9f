//! An in-memory store with the SQLite store's rules (reuse, previous answers, durable changes),
//! for engine tests: nothing touches the disk, and a test can look at what was recorded.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{AnswerStore, Recorded, Reuse, Stored};
use crate::model::{CheckType, Outcome, ResultKind, Source};

/// Answers of one scope, in memory.
pub struct MemoryStore {
    reuse: Reuse,
    answers: HashMap<(CheckType, String), Outcome>,
    /// How many answers were recorded (a test counts what reached the store).
    pub recorded: usize,
}

impl MemoryStore {
    pub fn new(reuse: Reuse) -> MemoryStore {
        MemoryStore {
            reuse,
            answers: HashMap::new(),
            recorded: 0,
        }
    }

    /// Puts an answer in as if an earlier run had recorded it.
    pub fn seed(&mut self, kind: CheckType, o: Outcome) {
        self.answers.insert((kind, o.checked_key.clone()), o);
    }
}

impl AnswerStore for MemoryStore {
    fn lookup(&self, kind: CheckType, key: &str, now: DateTime<Utc>) -> Result<Option<Stored>> {
        Ok(self.answers.get(&(kind, key.to_string())).map(|o| {
            let fresh = o
                .checked_at
                .is_some_and(|at| self.reuse.is_fresh(o.result, at, now));
            Stored {
                outcome: Outcome {
                    source: Source::Cache,
                    attempts: 0,
                    ..o.clone()
                },
                fresh,
            }
        }))
    }

    fn record(&mut self, kind: CheckType, o: &Outcome) -> Result<Recorded> {
        if !matches!(
            o.result,
            ResultKind::Free | ResultKind::Taken | ResultKind::Uplimit | ResultKind::Invalid
        ) {
            return Ok(Recorded::default());
        }
        self.recorded += 1;
        let key = (kind, o.checked_key.clone());
        let before = self.answers.get(&key);
        // The answer a change is measured from: the last reported one.
        let base = before.and_then(|b| match b.change {
            true => b.previous,
            false => b.checked_at.map(|at| (b.result, at)),
        });
        let change =
            base.is_some_and(|(r, _)| r.is_answer() && o.result.is_answer() && r != o.result);
        let recorded = Recorded {
            previous: base,
            change,
        };
        let mut stored = o.clone();
        stored.previous = base;
        stored.change = change;
        stored.checked_at = Some(o.checked_at.unwrap_or_else(Utc::now));
        self.answers.insert(key, stored);
        Ok(recorded)
    }

    fn commit_due(&self) -> Option<Instant> {
        None
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn mark_reported(&mut self, keys: &[String]) -> Result<()> {
        for o in self.answers.values_mut() {
            if keys.contains(&o.checked_key) {
                o.change = false;
            }
        }
        Ok(())
    }
}
