//! `checkuser state`: what the state store holds (stats), forgetting old answers (prune), and
//! exporting them (export).

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{TimeZone, Utc};

use crate::check::rfc3339;
use crate::cli::{StateAction, StateArgs};
use crate::output::atomic::Out;
use crate::store;

pub fn run(a: &StateArgs) -> Result<i32> {
    let path = match &a.state {
        Some(p) => p.clone(),
        None => store::default_path().context("cannot find the state store: pass --state PATH")?,
    };
    if !path.exists() {
        bail!(
            "there is no state store at {} yet (a run creates it)",
            path.display()
        );
    }
    let conn = store::open_db(&path)?;
    match &a.action {
        StateAction::Stats => stats(&conn, &path),
        StateAction::Prune { older_than } => {
            let cutoff = Utc::now() - chrono::TimeDelta::from_std(*older_than)?;
            let n = conn.execute(
                "DELETE FROM answers WHERE checked_at < ?1",
                [cutoff.timestamp()],
            )?;
            println!(
                "deleted {n} answers older than {}",
                humantime::format_duration(*older_than)
            );
            Ok(0)
        }
        StateAction::Export { output } => export(&conn, output),
    }
}

fn when(secs: Option<i64>) -> String {
    secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
        .map(rfc3339)
        .unwrap_or_else(|| "-".into())
}

fn stats(conn: &rusqlite::Connection, path: &Path) -> Result<i32> {
    let mut stmt = conn.prepare(
        "SELECT host, partner, api, kind, result, COUNT(*) FROM answers
         GROUP BY host, partner, api, kind, result ORDER BY host, partner, api, kind, result",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    println!(
        "{:<28} {:<22} {:<4} {:<7} {:<8} {:>10}",
        "endpoint", "partner", "api", "type", "result", "answers"
    );
    for row in rows {
        let (host, partner, api, kind, result, n) = row?;
        println!("{host:<28} {partner:<22} {api:<4} {kind:<7} {result:<8} {n:>10}");
    }
    let (total, oldest, newest): (i64, Option<i64>, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MIN(checked_at), MAX(checked_at) FROM answers",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
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

fn export(conn: &rusqlite::Connection, output: &Path) -> Result<i32> {
    let target = (output.as_os_str() != "-").then_some(output);
    let mut w = csv::Writer::from_writer(Out::create(target)?);
    w.write_record([
        "endpoint",
        "partner",
        "api",
        "type",
        "key",
        "result",
        "status",
        "uplimit",
        "error_code",
        "error_msg",
        "http_status",
        "request_id",
        "checked_at",
        "previous_result",
        "previous_checked_at",
    ])?;
    let mut stmt = conn.prepare(
        "SELECT host, partner, api, kind, key, result, status, uplimit, error_code, error_msg,
                http_status, request_id, checked_at, prev_result, prev_checked_at
         FROM answers ORDER BY host, partner, api, kind, key",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> rusqlite::Result<String> {
            Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
        };
        let http: Option<i64> = r.get(10)?;
        let record = [
            text(0)?,
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            text(5)?,
            text(6)?,
            text(7)?,
            text(8)?,
            text(9)?,
            http.map(|h| h.to_string()).unwrap_or_default(),
            text(11)?,
            when(r.get(12)?),
            text(13)?,
            r.get::<_, Option<i64>>(14)?
                .map(|s| when(Some(s)))
                .unwrap_or_default(),
        ];
        let escaped: Vec<String> = record
            .iter()
            .map(|c| crate::output::escape::cell(c).into_owned())
            .collect();
        w.write_record(&escaped)?;
    }
    let out = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write the export: {}", e.error()))?;
    out.commit()?;
    Ok(0)
}
