//! Benchmark of the state store: records N answers, looks each up again, reports the time per
//! operation and the file size. Also leaves a store a `run --sandbox` can reuse, to time a fully
//! cached re-run of N rows.
//!
//! usage: cargo run --release --example store_bench -- N STATE.sqlite

use std::time::{Duration, Instant};

use checkuser::model::{CheckType, Outcome, ResultKind, Source};
use checkuser::store::sqlite;
use checkuser::store::{Reuse, Scope};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let path = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/checkuser-bench.sqlite".into());
    let _ = std::fs::remove_file(&path);
    // The scope `run --sandbox` uses, so the file serves a cached re-run.
    let scope = Scope {
        host: "sandbox".into(),
        partner: "sandbox-partner-0001".into(),
        api: "v1".into(),
    };
    let reuse = Reuse {
        max_age: Duration::from_secs(72 * 3600),
        taken_max_age: Duration::from_secs(30 * 86400),
        refresh: false,
    };
    let mut store = sqlite::store(path.as_ref(), scope, reuse)?;
    let now = chrono::Utc::now();
    let key = |i: usize| format!("lead.{i}@example{}.com", i % 100);
    let t = Instant::now();
    for i in 0..n {
        let mut o = Outcome::new(
            key(i),
            if i % 3 == 0 {
                ResultKind::Taken
            } else {
                ResultKind::Free
            },
            Source::Api,
        );
        o.answer = Some(checkuser::model::Answer {
            taken: i % 3 == 0,
            uplimit: false,
        });
        o.error_code = Some("CBC.0000".into());
        o.http_status = Some(200);
        o.request_id = Some(format!("{i:032x}"));
        o.checked_at = Some(now);
        store.record(CheckType::Email, &o)?;
    }
    let record = t.elapsed();
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..n {
        if store
            .lookup(CheckType::Email, &key(i), now)?
            .is_some_and(|s| s.fresh)
        {
            hits += 1;
        }
    }
    let lookup = t.elapsed();
    drop(store);
    let size: u64 = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{path}{s}")).ok())
        .map(|m| m.len())
        .sum();
    println!("answers            {n}");
    println!(
        "record (each)      {:.1} us  ({:.2} s in all)",
        record.as_secs_f64() * 1e6 / n as f64,
        record.as_secs_f64()
    );
    println!(
        "lookup (each)      {:.1} us  ({:.2} s in all, {hits} fresh)",
        lookup.as_secs_f64() * 1e6 / n as f64,
        lookup.as_secs_f64()
    );
    println!(
        "file size          {:.1} MB  ({:.0} bytes per answer)",
        size as f64 / 1e6,
        size as f64 / n as f64
    );
    Ok(())
}
