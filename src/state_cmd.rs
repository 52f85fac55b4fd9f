//! `checkuser state`: what the state store holds (stats), forgetting old answers (prune), and
//! exporting them (export).

use std::path::Path;

use anyhow::Result;
use chrono::{TimeZone, Utc};

use crate::check::rfc3339;
use crate::config::tools::{StateConfig, StateJob};
use crate::output::atomic::Out;
use crate::store;

pub fn run(cfg: &StateConfig) -> Result<i32> {
    let conn = store::open_db(&cfg.path)?;
    match &cfg.job {
        StateJob::Stats => stats(&conn, &cfg.path),
        StateJob::Prune(older_than) => {
            let cutoff = Utc::now() - chrono::TimeDelta::from_std(*older_than)?;
            let n = store::prune(&conn, cutoff)?;
            println!(
                "deleted {n} answers older than {}",
                humantime::format_duration(*older_than)
            );
            Ok(0)
        }
        StateJob::Export(output) => export(&conn, output.as_deref()),
    }
}

fn when(secs: Option<i64>) -> String {
    secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
        .map(rfc3339)
        .unwrap_or_else(|| "-".into())
}

fn stats(conn: &rusqlite::Connection, path: &Path) -> Result<i32> {
    let rows = store::counts(conn)?;
    println!(
        "{:<28} {:<22} {:<4} {:<7} {:<8} {:>10}",
        "endpoint", "partner", "api", "type", "result", "answers"
    );
    for (host, partner, api, kind, result, n) in rows {
        println!("{host:<28} {partner:<22} {api:<4} {kind:<7} {result:<8} {n:>10}");
    }
    let (total, oldest, newest) = store::span(conn)?;
    let [wal, _] = store::companions(path);
    let size: u64 = [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{total} answers, oldest {}, newest {}",
        when(oldest),
        when(newest)
    );
    println!("{} ({:.1} MB)", path.display(), size as f64 / 1e6);
    Ok(0)
}

fn export(conn: &rusqlite::Connection, target: Option<&Path>) -> Result<i32> {
    let mut w = csv::Writer::from_writer(Out::create(target)?);
    w.write_record(store::EXPORT_COLUMNS)?;
    store::export(conn, |record| {
        let escaped: Vec<String> = record
            .iter()
            .map(|c| crate::output::escape::cell(c).into_owned())
            .collect();
        w.write_record(&escaped)?;
        Ok(())
    })?;
    let out = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write the export: {}", e.error()))?;
    out.commit()?;
    Ok(0)
}
