//! An in-memory backend for engine tests: it persists what [`super::Store`] decides, like the
//! SQLite file, and nothing touches the disk; a test can count what reached it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;

use super::{Backend, Reuse, Store};
use crate::model::{CheckType, Outcome, Source};

type Rows = HashMap<(CheckType, String), Outcome>;

/// Rows of one scope, in memory; a clone is the same store (as a file opened again).
#[derive(Default, Clone)]
pub struct MemoryStore {
    answers: Arc<Mutex<Rows>>,
    /// How many rows were written (shared, so a test can read it after the store moved).
    pub written: Arc<AtomicUsize>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Puts an answer in as if an earlier run had recorded it.
    pub fn seed(&self, kind: CheckType, o: Outcome) {
        self.rows().insert((kind, o.checked_key.clone()), o);
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store over this backend.
    pub fn store(self, reuse: Reuse) -> Store {
        Store::new(Box::new(self), reuse)
    }

    /// How many rows were written.
    pub fn writes(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }
}

impl Backend for MemoryStore {
    fn fetch(&self, items: &[(CheckType, &str)]) -> Result<Vec<Option<Outcome>>> {
        let rows = self.rows();
        Ok(items
            .iter()
            .map(|(kind, key)| {
                rows.get(&(*kind, key.to_string())).map(|o| Outcome {
                    source: Source::Cache,
                    attempts: 0,
                    ..o.clone()
                })
            })
            .collect())
    }

    fn write(&mut self, kind: CheckType, row: &Outcome) -> Result<()> {
        self.written.fetch_add(1, Ordering::SeqCst);
        self.rows()
            .insert((kind, row.checked_key.clone()), row.clone());
        Ok(())
    }

    fn commit_due(&self) -> Option<Instant> {
        None
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn mark_reported(&mut self, keys: &[String]) -> Result<()> {
        for o in self.rows().values_mut() {
            if keys.contains(&o.checked_key) {
                o.change = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_passes_the_conformance_suite() {
        let mut last = MemoryStore::new();
        crate::store::conformance::run_all(&mut |fresh: bool, reuse| {
            if fresh {
                last = MemoryStore::new();
            }
            last.clone().store(reuse)
        });
    }
}
