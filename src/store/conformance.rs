//! One behavioural suite for every backend (memory, SQLite, PostgreSQL): reuse by age, the
//! previous answer, changes kept until reported, errors never recorded. A new backend is one
//! file plus this suite passing: `run_all` with a function that opens the backend (a fresh,
//! empty store when asked for one, else the same store again, as a next run would).
//! Public so that the PostgreSQL integration tests run it against a real server.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{Reuse, Store};
use crate::model::{CheckType, Outcome, ResultKind, Source};

/// Opens a store: `true` for a new, empty one; `false` for the last one again.
pub type Open<'a> = &'a mut dyn FnMut(bool, Reuse) -> Store;

/// Runs every test of the suite; panics on the first failure, naming it.
pub fn run_all(open: Open<'_>) {
    reuse_follows_max_age_and_taken_max_age(open);
    a_new_answer_keeps_the_previous_one_and_refresh_reuses_nothing(open);
    a_change_is_kept_with_its_answer_until_a_run_reports_it(open);
    many_values_are_looked_up_in_order(open);
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

fn answer(key: &str, result: ResultKind, at: DateTime<Utc>) -> Outcome {
    Outcome {
        checked_at: Some(at),
        ..Outcome::new(key, result, Source::Api)
    }
}

const HOUR: i64 = 3600;

/// Answers reused for an hour, whatever their result.
fn hour() -> Reuse {
    Reuse {
        max_age: Duration::from_secs(3600),
        taken_max_age: Duration::from_secs(3600),
        refresh: false,
    }
}

fn reuse_follows_max_age_and_taken_max_age(open: Open<'_>) {
    let reuse = Reuse {
        max_age: Duration::from_secs(20 * 3600),
        taken_max_age: Duration::from_secs(30 * 86400),
        refresh: false,
    };
    let mut store = open(true, reuse);
    let t0 = ts(1_700_000_000);
    for (key, result) in [
        ("free@x.yz", ResultKind::Free),
        ("taken@x.yz", ResultKind::Taken),
        ("err@x.yz", ResultKind::Error),
    ] {
        store
            .record(CheckType::Email, &answer(key, result, t0))
            .unwrap();
    }
    store.commit().unwrap();
    let fresh = |key: &str, secs: i64| {
        store
            .lookup(CheckType::Email, key, ts(1_700_000_000 + secs))
            .unwrap()
            .map(|s| s.fresh)
    };
    assert_eq!(fresh("free@x.yz", 20 * HOUR - 1), Some(true), "max-age");
    assert_eq!(fresh("free@x.yz", 20 * HOUR), Some(false), "max-age");
    assert_eq!(fresh("taken@x.yz", 20 * HOUR), Some(true), "taken-max-age");
    assert_eq!(fresh("taken@x.yz", 30 * 24 * HOUR - 1), Some(true));
    assert_eq!(fresh("taken@x.yz", 30 * 24 * HOUR), Some(false));
    assert_eq!(fresh("err@x.yz", 0), None, "errors are never recorded");
    assert_eq!(
        store.lookup(CheckType::Name, "free@x.yz", t0).unwrap(),
        None,
        "type is part of the key"
    );
}

fn a_new_answer_keeps_the_previous_one_and_refresh_reuses_nothing(open: Open<'_>) {
    let reuse = hour();
    let mut store = open(true, reuse);
    let t0 = ts(1_700_000_000);
    store
        .record(CheckType::Email, &answer("a@x.yz", ResultKind::Free, t0))
        .unwrap();
    store
        .record(
            CheckType::Email,
            &answer("a@x.yz", ResultKind::Taken, ts(1_700_000_100)),
        )
        .unwrap();
    store.commit().unwrap();
    let got = store
        .lookup(CheckType::Email, "a@x.yz", ts(1_700_000_200))
        .unwrap()
        .unwrap();
    assert_eq!(got.outcome.result, ResultKind::Taken);
    assert_eq!(got.outcome.source, Source::Cache);
    assert_eq!(got.outcome.previous, Some((ResultKind::Free, t0)));
    drop(store);
    let refresh = open(
        false,
        Reuse {
            refresh: true,
            ..reuse
        },
    );
    let got = refresh
        .lookup(CheckType::Email, "a@x.yz", ts(1_700_000_200))
        .unwrap()
        .unwrap();
    assert!(!got.fresh, "--refresh reuses nothing");
}

fn a_change_is_kept_with_its_answer_until_a_run_reports_it(open: Open<'_>) {
    let reuse = hour();
    let t = |s: i64| ts(1_700_000_000 + s);
    let mut store = open(true, reuse);
    let first = store
        .record(CheckType::Email, &answer("a@x.yz", ResultKind::Free, t(0)))
        .unwrap();
    assert!(!first.change, "a first answer is no change");
    let r = store
        .record(
            CheckType::Email,
            &answer("a@x.yz", ResultKind::Taken, t(10)),
        )
        .unwrap();
    assert!(r.change);
    assert_eq!(r.previous, Some((ResultKind::Free, t(0))));
    // The run dies here: the change is in the store, committed with its answer.
    store.commit().unwrap();
    drop(store);
    let mut store = open(false, reuse);
    let got = store
        .lookup(CheckType::Email, "a@x.yz", t(20))
        .unwrap()
        .unwrap();
    assert!(got.outcome.change && got.fresh);
    assert_eq!(got.outcome.previous, Some((ResultKind::Free, t(0))));
    // A second answer before any report is measured from the last reported one.
    let r = store
        .record(
            CheckType::Email,
            &answer("a@x.yz", ResultKind::Uplimit, t(30)),
        )
        .unwrap();
    assert_eq!(
        (r.change, r.previous.map(|p| p.0)),
        (true, Some(ResultKind::Free))
    );
    store.mark_reported(&["a@x.yz".to_string()]).unwrap();
    let got = store
        .lookup(CheckType::Email, "a@x.yz", t(40))
        .unwrap()
        .unwrap();
    assert!(!got.outcome.change, "reported once per store");
    // free -> taken -> free with no report between is no change at all.
    for (s, result) in [(0, ResultKind::Free), (1, ResultKind::Taken)] {
        store
            .record(CheckType::Email, &answer("b@x.yz", result, t(s)))
            .unwrap();
    }
    let back = store
        .record(CheckType::Email, &answer("b@x.yz", ResultKind::Free, t(2)))
        .unwrap();
    assert!(!back.change);
    store.commit().unwrap();
}

fn many_values_are_looked_up_in_order(open: Open<'_>) {
    let mut store = open(true, hour());
    let t0 = ts(1_700_000_000);
    store
        .record(CheckType::Email, &answer("b@x.yz", ResultKind::Taken, t0))
        .unwrap();
    store
        .record(CheckType::Mobile, &answer("0086-1", ResultKind::Free, t0))
        .unwrap();
    store.commit().unwrap();
    let got = store
        .lookup_many(
            &[
                (CheckType::Email, "a@x.yz"),
                (CheckType::Mobile, "0086-1"),
                (CheckType::Email, "b@x.yz"),
                (CheckType::Email, "0086-1"),
            ],
            t0,
        )
        .unwrap();
    let results: Vec<_> = got
        .iter()
        .map(|s| s.as_ref().map(|s| s.outcome.result))
        .collect();
    assert_eq!(
        results,
        [None, Some(ResultKind::Free), Some(ResultKind::Taken), None]
    );
}
