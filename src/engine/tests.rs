//! Engine tests in milliseconds: a scripted fake [`Checker`], the in-memory store and an
//! in-memory input, on tokio's paused clock (backoff and `Retry-After` waits pass at once but
//! are measured exactly). No network, no files but the output.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{retry::Policy, EngineConfig, Source};
use crate::api::classify::{Class, Problem, Reply};
use crate::api::Checker;
use crate::input::{CheckSpec, Input, InputOptions, Layout, RecordReader};
use crate::model::{CheckType, Outcome, ResultKind, Source as From};
use crate::output::progress::ProgressMode;
use crate::output::summary::StopReason;
use crate::output::{ChangeFeed, Display, Format, Sink, SinkOptions, Summary};
use crate::store::memory::MemoryStore;
use crate::store::{Reuse, Store};

/// What the fake API answers: by key, the n-th call's class and `Retry-After`.
type Script = dyn Fn(&str, u32) -> (Class, Option<Duration>) + Send + Sync;

struct Fake {
    script: Box<Script>,
    /// Every call: key and the paused clock's time.
    calls: Mutex<Vec<(String, tokio::time::Instant)>>,
    /// How long each answer takes.
    latency: Duration,
}

impl Fake {
    fn new(
        script: impl Fn(&str, u32) -> (Class, Option<Duration>) + Send + Sync + 'static,
    ) -> Fake {
        Fake {
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
            latency: Duration::ZERO,
        }
    }

    fn calls(&self) -> Vec<(String, tokio::time::Instant)> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self, key: &str) -> usize {
        self.calls().iter().filter(|(k, _)| k == key).count()
    }
}

impl Checker for Fake {
    fn check<'a>(
        &'a self,
        _kind: CheckType,
        key: &'a str,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, (Class, Option<Reply>)> {
        Box::pin(async move {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                calls.push((key.to_string(), tokio::time::Instant::now()));
                calls.iter().filter(|(k, _)| k == key).count() as u32
            };
            tokio::time::sleep(self.latency).await;
            let (class, retry_after) = (self.script)(key, n);
            let reply = Reply {
                http_status: 200,
                retry_after,
                ..Reply::default()
            };
            (class, Some(reply))
        })
    }
}

fn answer(taken: bool) -> Class {
    Class::Answer {
        answer: crate::model::Answer {
            taken,
            uplimit: false,
        },
        code: "CBC.0000".into(),
    }
}

fn problem(code: &str) -> Problem {
    Problem {
        code: code.into(),
        msg: "scripted".into(),
    }
}

/// An in-memory CSV with one `email` column, written to a CSV file in a temporary folder.
struct MemSource {
    csv: String,
    rereadable: bool,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl MemSource {
    fn new(emails: &[&str], rereadable: bool) -> MemSource {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("email\n");
        for e in emails {
            csv.push_str(e);
            csv.push('\n');
        }
        MemSource {
            csv,
            rereadable,
            out: dir.path().join("out.csv"),
            _dir: dir,
        }
    }

    /// The output's result column per row, in order.
    fn results(&self) -> Vec<(String, String)> {
        let mut r = csv::Reader::from_path(&self.out).unwrap();
        let h = r.headers().unwrap().clone();
        let col = |name: &str| h.iter().position(|c| c == name).unwrap();
        let (key, result) = (col("email_checked_key"), col("email_result"));
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[key].to_string(), rec[result].to_string())
            })
            .collect()
    }
}

impl Source for MemSource {
    fn read(&self) -> Result<Input> {
        let opts = InputOptions {
            path: None,
            delimiter: None,
            encoding: None,
            record_cap: 1 << 20,
            sheet: None,
            region: None,
        };
        let reader = RecordReader::from_reader(
            Box::new(Cursor::new(self.csv.clone().into_bytes())),
            "test input".into(),
            &opts,
        )?;
        let specs = [CheckSpec {
            kind: CheckType::Email,
            column: "email".into(),
        }];
        let layout = Layout::resolve(&reader.header, &specs, Default::default())?;
        Ok(Input { reader, layout })
    }

    fn rereadable(&self) -> bool {
        self.rereadable
    }

    fn summary(&self, _input: &Input) -> Summary {
        Summary::started()
    }

    fn preflight(&self, _input: &Input, _widest: usize) -> Result<()> {
        Ok(())
    }

    fn row_limit(&self, _input: &Input) -> Option<usize> {
        None
    }

    fn outputs(&self, input: &Input) -> Result<(Sink, ChangeFeed)> {
        let opts = SinkOptions {
            path: Some(self.out.clone()),
            delimiter: b',',
            bom: false,
            escape_formulas: true,
            format: Format::Csv,
            changes_sheet: false,
        };
        let sink = Sink::create(&opts, &input.layout.output_header(), input.layout.width)?;
        Ok((sink, ChangeFeed::new(None)))
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        rate: 10_000.0,
        concurrency: 4,
        policy: Policy {
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            max_throttle_wait: Duration::from_secs(600),
        },
        max_requests: None,
        deadline: None,
        grace: Duration::from_secs(30),
        display: Display {
            quiet: true,
            verbose: 0,
            progress: ProgressMode::Never,
            log_pii: false,
        },
        pace: None,
        watch: None,
    }
}

fn reuse() -> Reuse {
    Reuse {
        max_age: Duration::from_secs(3600),
        taken_max_age: Duration::from_secs(3600),
        refresh: false,
    }
}

/// Runs the engine to the end and writes the output; the summary with the dispatcher's
/// figures merged as `run` does.
async fn run_with(
    cfg: EngineConfig,
    source: &Arc<MemSource>,
    store: Store,
    fake: &Arc<Fake>,
) -> (Summary, crate::store::Shared) {
    let store = crate::store::shared(store);
    let done = super::run(
        &cfg,
        source.clone(),
        store.clone(),
        fake.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let summary = done.summary;
    done.sink.finish(&summary).unwrap();
    (summary, store)
}

fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("lead{i}@example.com")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(start_paused = true)]
async fn retries_cbc_0999_with_growing_backoff_then_answers() {
    let fake = Arc::new(Fake::new(|_, n| match n {
        1 | 2 => (Class::Transient(problem("CBC.0999")), None),
        _ => (answer(false), None),
    }));
    let src = Arc::new(MemSource::new(&["a@example.com"], true));
    let (summary, _) = run_with(config(), &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(src.results(), [("a@example.com".into(), "free".into())]);
    assert_eq!(summary.counts.api_requests, 3);
    assert_eq!(fake.count("a@example.com"), 3);
    let t: Vec<_> = fake.calls().into_iter().map(|c| c.1).collect();
    // Full jitter: each wait is at most base·2^n (500 ms, then 1 s).
    assert!(t[1] - t[0] <= Duration::from_millis(500));
    assert!(t[2] - t[1] <= Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_as_retry_after_says_without_using_up_attempts() {
    let fake = Arc::new(Fake::new(|_, n| match n {
        1..=5 => (
            Class::Throttled(problem("APIG.0308")),
            Some(Duration::from_secs(7)),
        ),
        _ => (answer(true), None),
    }));
    let src = Arc::new(MemSource::new(&["a@example.com"], true));
    let (summary, _) = run_with(config(), &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(
        src.results()[0].1,
        "taken",
        "5 throttled answers > 4 attempts"
    );
    assert_eq!(summary.counts.api_requests, 6);
    let t: Vec<_> = fake.calls().into_iter().map(|c| c.1).collect();
    for w in t.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_secs(7), "{:?}", w[1] - w[0]);
    }
}

#[tokio::test(start_paused = true)]
async fn transient_failures_end_in_error_after_max_attempts() {
    let fake = Arc::new(Fake::new(|_, _| {
        (Class::Transient(problem("CBC.0999")), None)
    }));
    let src = Arc::new(MemSource::new(&["a@example.com"], true));
    let (summary, _) = run_with(config(), &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(src.results()[0].1, "error");
    assert_eq!(fake.count("a@example.com"), 4);
    assert_eq!(summary.counts.of(ResultKind::Error), 1);
}

#[tokio::test(start_paused = true)]
async fn stops_on_the_first_fatal_answer_and_leaves_the_rest_pending() {
    let fake = Arc::new(Fake::new(|_, _| (Class::Fatal(problem("APIG.0301")), None)));
    let list = emails(50);
    let src = Arc::new(MemSource::new(&refs(&list), true));
    let (summary, _) = run_with(config(), &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(summary.stopped_reason, Some(StopReason::Fatal));
    assert!(fake.calls().len() <= 4, "at most the requests in flight");
    let results = src.results();
    assert_eq!(results.len(), 50, "every row is written");
    assert!(results.iter().filter(|r| r.1 == "pending").count() >= 46);
}

#[tokio::test(start_paused = true)]
async fn ten_errors_in_a_row_open_the_circuit() {
    let fake = Arc::new(Fake::new(|_, _| {
        (Class::RowError(problem("CBC.7777")), None)
    }));
    let list = emails(40);
    let src = Arc::new(MemSource::new(&refs(&list), true));
    let cfg = EngineConfig {
        concurrency: 1,
        ..config()
    };
    let (summary, _) = run_with(cfg, &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(summary.stopped_reason, Some(StopReason::CircuitOpen));
    assert_eq!(
        fake.calls().len(),
        super::dispatch::CIRCUIT_THRESHOLD as usize
    );
    assert_eq!(summary.counts.of(ResultKind::Pending), 30);
}

#[tokio::test(start_paused = true)]
async fn max_requests_sends_exactly_that_many() {
    let fake = Arc::new(Fake::new(|_, _| (answer(false), None)));
    let list = emails(20);
    let src = Arc::new(MemSource::new(&refs(&list), true));
    let cfg = EngineConfig {
        max_requests: Some(3),
        ..config()
    };
    let (summary, _) = run_with(cfg, &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(fake.calls().len(), 3);
    assert_eq!(summary.stopped_reason, Some(StopReason::MaxRequests));
    assert_eq!(
        (
            summary.counts.of(ResultKind::Free),
            summary.counts.of(ResultKind::Pending)
        ),
        (3, 17)
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_stops_sending() {
    let mut fake = Fake::new(|_, _| (answer(false), None));
    fake.latency = Duration::from_secs(1);
    let fake = Arc::new(fake);
    let list = emails(20);
    let src = Arc::new(MemSource::new(&refs(&list), true));
    let cfg = EngineConfig {
        concurrency: 1,
        deadline: Some(Utc::now() + chrono::TimeDelta::milliseconds(2500)),
        ..config()
    };
    let (summary, _) = run_with(cfg, &src, MemoryStore::new().store(reuse()), &fake).await;
    assert_eq!(summary.stopped_reason, Some(StopReason::Deadline));
    assert!(fake.calls().len() < 20);
    assert_eq!(
        summary.counts.of(ResultKind::Free) + summary.counts.of(ResultKind::Pending),
        20
    );
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_asked_once_and_rows_keep_input_order() {
    for rereadable in [true, false] {
        let fake = Arc::new(Fake::new(|k, _| (answer(k.starts_with('t')), None)));
        let rows = [
            "t1@example.com",
            "f1@example.com",
            "t1@example.com",
            "f2@example.com",
        ];
        let src = Arc::new(MemSource::new(&rows, rereadable));
        let (summary, _) = run_with(config(), &src, MemoryStore::new().store(reuse()), &fake).await;
        let got: Vec<String> = src
            .results()
            .into_iter()
            .map(|r| r.0 + " " + &r.1)
            .collect();
        assert_eq!(
            got,
            [
                "t1@example.com taken",
                "f1@example.com free",
                "t1@example.com taken",
                "f2@example.com free"
            ]
        );
        assert_eq!(fake.count("t1@example.com"), 1);
        assert_eq!(summary.counts.duplicates, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn fresh_answers_in_the_store_are_not_asked_again() {
    let fake = Arc::new(Fake::new(|_, _| (answer(false), None)));
    let mem = MemoryStore::new();
    let store = mem.clone().store(reuse());
    mem.seed(
        CheckType::Email,
        Outcome {
            checked_at: Some(Utc::now() - chrono::TimeDelta::minutes(5)),
            ..Outcome::new("old@example.com", ResultKind::Taken, From::Api)
        },
    );
    let src = Arc::new(MemSource::new(
        &["old@example.com", "new@example.com"],
        true,
    ));
    let (summary, _) = run_with(config(), &src, store, &fake).await;
    assert_eq!(fake.count("old@example.com"), 0);
    assert_eq!(summary.counts.cache_hits, 1);
    assert_eq!(src.results()[0].1, "taken");
}

/// What the plan decided is what settle writes: an answer fresh when the run was planned
/// stays the answer even if it ages past --max-age while the run sends (it was `pending`,
/// exit 1, every night).
#[tokio::test(start_paused = true)]
async fn an_answer_fresh_at_plan_time_is_written_even_if_it_ages_during_the_run() {
    let reuse = Reuse {
        max_age: Duration::from_secs(2),
        ..reuse()
    };
    // The other value's answer takes real time: the cached one ages past --max-age meanwhile.
    let fake = Arc::new(Fake::new(|_, _| {
        std::thread::sleep(Duration::from_millis(1500));
        (answer(false), None)
    }));
    let mem = MemoryStore::new();
    let store = mem.clone().store(reuse);
    mem.seed(
        CheckType::Email,
        Outcome {
            checked_at: Some(Utc::now() - chrono::TimeDelta::milliseconds(1000)),
            ..Outcome::new("cached@example.com", ResultKind::Taken, From::Api)
        },
    );
    let src = Arc::new(MemSource::new(
        &["cached@example.com", "asked@example.com"],
        true,
    ));
    let (summary, _) = run_with(config(), &src, store, &fake).await;
    assert_eq!(
        src.results(),
        [
            ("cached@example.com".into(), "taken".into()),
            ("asked@example.com".into(), "free".into())
        ]
    );
    assert_eq!(summary.counts.of(ResultKind::Pending), 0);
}

/// A change a run received but never reported (it died before writing) is reported by the
/// next run, even though that run answers the value from the store.
#[tokio::test(start_paused = true)]
async fn an_unreported_change_is_reported_by_the_next_run_once() {
    let fake = Arc::new(Fake::new(|_, _| (answer(true), None)));
    let mut store = MemoryStore::new().store(reuse());
    let t0 = Utc::now() - chrono::TimeDelta::minutes(30);
    // The earlier run: free, then taken (a change), then it died.
    let mut first = Outcome::new("a@example.com", ResultKind::Free, From::Api);
    first.checked_at = Some(t0 - chrono::TimeDelta::days(1));
    store.record(CheckType::Email, &first).unwrap();
    let mut second = Outcome::new("a@example.com", ResultKind::Taken, From::Api);
    second.checked_at = Some(t0);
    assert!(store.record(CheckType::Email, &second).unwrap().change);
    let src = Arc::new(MemSource::new(&["a@example.com", "a@example.com"], true));
    let (summary, shared) = run_with(config(), &src, store, &fake).await;
    assert_eq!(fake.calls().len(), 0, "answered from the store");
    assert_eq!(
        summary.counts.changed, 1,
        "one change, however many rows show it"
    );
    assert_eq!(summary.counts.changes.get("free->taken"), Some(&1));
    let reported: Vec<String> = summary.counts.reported.iter().cloned().collect();
    crate::store::lock(&shared)
        .mark_reported(&reported)
        .unwrap();
    // The run after that reports nothing.
    let src = Arc::new(MemSource::new(&["a@example.com"], true));
    let store = crate::store::lock(&shared)
        .lookup(CheckType::Email, "a@example.com", Utc::now())
        .unwrap()
        .unwrap();
    assert!(!store.outcome.change);
    let again = MemoryStore::new();
    again.seed(CheckType::Email, store.outcome);
    let again = again.store(reuse());
    let (summary, _) = run_with(config(), &src, again, &fake).await;
    assert_eq!(summary.counts.changed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_change_received_now_is_recorded_with_its_answer() {
    let fake = Arc::new(Fake::new(|_, _| (answer(true), None)));
    let mem = MemoryStore::new();
    let store = mem.clone().store(reuse());
    mem.seed(
        CheckType::Email,
        Outcome {
            checked_at: Some(Utc::now() - chrono::TimeDelta::days(2)),
            ..Outcome::new("a@example.com", ResultKind::Free, From::Api)
        },
    );
    let src = Arc::new(MemSource::new(&["a@example.com"], true));
    let (summary, shared) = run_with(config(), &src, store, &fake).await;
    assert_eq!(summary.counts.changed, 1);
    // Stored as a change before any output was written: a crash now would not lose it.
    let stored = crate::store::lock(&shared)
        .lookup(CheckType::Email, "a@example.com", Utc::now())
        .unwrap()
        .unwrap();
    assert!(stored.outcome.change);
    assert_eq!(stored.outcome.previous.map(|p| p.0), Some(ResultKind::Free));
}
