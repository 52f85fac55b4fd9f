//! The store's rules, written once: which outcomes are recorded, what an answer is measured
//! against and when it is a change, and which stored answers may be reused. Every backend
//! (SQLite, PostgreSQL, memory) only persists what these functions decide; team mode's fenced
//! recording uses the same [`decide`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Outcome, ResultKind};

/// How far ahead of now an answer's time may be and still count as now (see
/// [`Reuse::is_fresh`]).
pub const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// Which answers may be reused.
#[derive(Debug, Clone, Copy)]
pub struct Reuse {
    pub max_age: Duration,
    pub taken_max_age: Duration,
    /// `--refresh`: reuse nothing (answers are still recorded).
    pub refresh: bool,
}

impl Reuse {
    /// Whether an answer given at `at` may be reused at `now`. An answer dated in the future
    /// (the clock jumped back since) is never fresh: its age is unknown. Two machines reading
    /// one database clock differ by the time a round trip takes: an answer up to
    /// [`CLOCK_SLACK`] ahead is of age zero.
    pub fn is_fresh(&self, result: ResultKind, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let slack = chrono::TimeDelta::from_std(CLOCK_SLACK).unwrap_or_default();
        if self.refresh || at > now + slack {
            return false;
        }
        let age = (now - at).to_std().unwrap_or(Duration::ZERO);
        match result {
            ResultKind::Taken | ResultKind::Uplimit => age < self.taken_max_age.max(self.max_age),
            ResultKind::Free | ResultKind::Invalid => age < self.max_age,
            _ => false,
        }
    }

    /// Whether a stored answer may be reused at `now`.
    pub fn fresh(&self, stored: &Outcome, now: DateTime<Utc>) -> bool {
        stored
            .checked_at
            .is_some_and(|at| self.is_fresh(stored.result, at, now))
    }
}

/// Whether an outcome is an answer the store keeps: the API's answers and its verdict that a
/// value is invalid. Errors, pending checks and local verdicts are not kept.
pub fn recordable(r: ResultKind) -> bool {
    matches!(
        r,
        ResultKind::Free | ResultKind::Taken | ResultKind::Uplimit | ResultKind::Invalid
    )
}

/// What recording an answer left in the store: the previous answer it keeps, and whether the
/// value's answer is now a change no run has reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    pub previous: Option<(ResultKind, DateTime<Utc>)>,
    pub change: bool,
}

/// The answer a new one is measured against, as [`base`] reads it from a stored row.
pub type Base = Option<(ResultKind, DateTime<Utc>)>;

/// The answer a new one is measured against: the last *reported* one. While a change is
/// unreported, the stored row keeps the reported answer as its previous one, so that
/// free → taken → free between two reports is no change.
pub fn base(before: &Outcome) -> Base {
    match before.change {
        true => before.previous,
        false => before.checked_at.map(|at| (before.result, at)),
    }
}

/// Whether going from `base` to `new` is a change worth reporting: both are answers of the
/// API (free, taken, uplimit) and they differ.
pub fn is_change(base: Option<ResultKind>, new: ResultKind) -> bool {
    base.is_some_and(|b| b.is_answer() && new.is_answer() && b != new)
}

/// Decides how `new` is stored over `before` (the row the store held, if any): the row to
/// write (its previous answer, change flag and time set) and what that means for the run.
/// `None`: the outcome is not recorded at all.
pub fn decide(before: Option<&Outcome>, new: &Outcome) -> Option<(Outcome, Recorded)> {
    decide_over(before.and_then(base), new)
}

/// [`decide`], given the [`base`] of the row the store held (`None`: no row, or no answer to
/// measure against), when the caller already looked that row up.
pub fn decide_over(previous: Base, new: &Outcome) -> Option<(Outcome, Recorded)> {
    if !recordable(new.result) {
        return None;
    }
    let change = is_change(previous.map(|(r, _)| r), new.result);
    let mut row = new.clone();
    row.previous = previous;
    row.change = change;
    row.checked_at = Some(new.checked_at.unwrap_or_else(Utc::now));
    Some((row, Recorded { previous, change }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;

    fn answer(result: ResultKind, secs_ago: i64) -> Outcome {
        let mut o = Outcome::new("a@example.com", result, Source::Api);
        o.checked_at = Some(Utc::now() - chrono::TimeDelta::seconds(secs_ago));
        o
    }

    #[test]
    fn an_answer_dated_in_the_future_is_never_fresh() {
        let reuse = Reuse {
            max_age: Duration::from_secs(3600),
            taken_max_age: Duration::from_secs(86400),
            refresh: false,
        };
        let now = Utc::now();
        let ahead = now + chrono::TimeDelta::seconds(5);
        let behind = now - chrono::TimeDelta::seconds(5);
        for r in [ResultKind::Free, ResultKind::Taken] {
            assert!(!reuse.is_fresh(r, ahead, now), "{r} from the future");
            assert!(reuse.is_fresh(r, behind, now));
        }
    }

    #[test]
    fn errors_and_pending_are_not_recorded() {
        for r in [ResultKind::Error, ResultKind::Pending, ResultKind::Skipped] {
            assert!(decide(None, &answer(r, 0)).is_none(), "{r}");
        }
        assert!(decide(None, &answer(ResultKind::Invalid, 0)).is_some());
    }

    #[test]
    fn a_change_is_measured_from_the_last_reported_answer() {
        let (first, r) = decide(None, &answer(ResultKind::Free, 30)).unwrap();
        assert_eq!(r, Recorded::default());
        let (second, r) = decide(Some(&first), &answer(ResultKind::Taken, 20)).unwrap();
        assert!(r.change);
        assert_eq!(r.previous.map(|p| p.0), Some(ResultKind::Free));
        // Back to free before any run reported the change: no change at all.
        let (_, r) = decide(Some(&second), &answer(ResultKind::Free, 10)).unwrap();
        assert!(!r.change, "free -> taken -> free unreported is no change");
        assert_eq!(r.previous.map(|p| p.0), Some(ResultKind::Free));
        // An invalid verdict is never a change, nor the base of one.
        let (inv, r) = decide(Some(&first), &answer(ResultKind::Invalid, 5)).unwrap();
        assert!(!r.change);
        let (_, r) = decide(Some(&inv), &answer(ResultKind::Taken, 1)).unwrap();
        assert!(!r.change);
    }
}
