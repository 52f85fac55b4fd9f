//! `checkuser state`: what the state store holds (stats), forgetting old answers (prune), and
//! exporting them (export).

use std::path::Path;

use anyhow::Result;
use chrono::{TimeZone, Utc};

use crate::config::tools::{StateConfig, StateJob};
use crate::model::rfc3339;
use crate::model::ExitCode;
use crate::output::summary::count;
use crate::store::{self, Admin};

pub fn run(cfg: &StateConfig) -> Result<ExitCode> {
    if let StateJob::Copy { from, to } = &cfg.job {
        return copy(from, to);
    }
    if let (
        StateJob::Prune {
            older_than,
            wait_lock,
        },
        store::Location::File(path),
    ) = (&cfg.job, &cfg.location)
    {
        return prune_file(path, *older_than, *wait_lock);
    }
    let conn = store::open_admin(&cfg.location)?;
    let conn = conn.as_ref();
    match &cfg.job {
        StateJob::Stats => stats(conn),
        StateJob::Prune { older_than, .. } => {
            let cutoff = Utc::now() - chrono::TimeDelta::from_std(*older_than)?;
            let n = conn.prune(cutoff)?;
            println!(
                "deleted {} older than {}",
                count(n as u64, "answer"),
                humantime::format_duration(*older_than)
            );
            Ok(ExitCode::Ok)
        }
        StateJob::Export { output, bom } => export(conn, output.as_deref(), *bom),
        StateJob::Copy { .. } => unreachable!("copied above"),
    }
}

/// `state prune` on a file: each (endpoint, partner) is pruned while its run lock is held, so a
/// run in progress never loses an answer it planned to use. Its answers are left (and said so)
/// or, with `wait_lock`, pruned once it has finished.
fn prune_file(path: &Path, older_than: std::time::Duration, wait_lock: bool) -> Result<ExitCode> {
    let cutoff = Utc::now() - chrono::TimeDelta::from_std(older_than)?;
    let age = humantime::format_duration(older_than);
    let admin = store::sqlite::SqliteAdmin::open(path)?;
    let pruner = store::lock::Pruner::open(path)?;
    let mut deleted = 0;
    let mut busy = Vec::new();
    for (host, partner, n) in admin.old_scopes(cutoff)? {
        match pruner.try_hold(&host, &partner)? {
            Some(_held) => deleted += admin.prune_scope(cutoff, &host, &partner)?,
            None => busy.push((host, partner, n)),
        }
    }
    for (host, partner, n) in busy {
        let pid = pruner.holder(&host, &partner);
        if wait_lock {
            tracing::info!(
                "waiting for the run with pid {pid} to finish before pruning the answers of \
                 {host} / {partner} (--wait-lock)"
            );
            let _held = pruner.hold(&host, &partner)?;
            deleted += admin.prune_scope(cutoff, &host, &partner)?;
        } else {
            let n = count(n, "answer");
            tracing::warn!(
                "kept {n} of {host} / {partner} older than {age}: the run with pid {pid} \
                 is using this store for them; prune again when it has finished, or pass \
                 --wait-lock to wait for it"
            );
        }
    }
    println!(
        "deleted {} older than {age}",
        count(deleted as u64, "answer")
    );
    Ok(ExitCode::Ok)
}

fn when(secs: Option<i64>) -> String {
    secs.and_then(|s| Utc.timestamp_opt(s, 0).single())
        .map(rfc3339)
        .unwrap_or_else(|| "-".into())
}

fn stats(conn: &dyn Admin) -> Result<ExitCode> {
    let rows = conn.counts()?;
    println!(
        "{:<28} {:<22} {:<4} {:<7} {:<8} {:>10}",
        "endpoint", "partner", "api", "type", "result", "answers"
    );
    for (host, partner, api, kind, result, n) in rows {
        println!("{host:<28} {partner:<22} {api:<4} {kind:<7} {result:<8} {n:>10}");
    }
    let (total, oldest, newest) = conn.span()?;
    println!(
        "{}, oldest {}, newest {}",
        count(total.max(0) as u64, "answer"),
        when(oldest),
        when(newest)
    );
    println!("{}", conn.describe());
    Ok(ExitCode::Ok)
}

/// The answers as CSV, by the output's rules: formula escaping, and a byte-order mark on a
/// file but not on a pipe unless asked otherwise.
fn export(conn: &dyn Admin, target: Option<&Path>, bom: Option<bool>) -> Result<ExitCode> {
    use crate::output::csv::{create, wants_bom};
    let mut w = csv::Writer::from_writer(create(target, wants_bom(bom, target))?);
    w.write_record(store::EXPORT_COLUMNS)?;
    conn.export(&mut |record| {
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
    Ok(ExitCode::Ok)
}

/// `state copy`: every answer of `from` into `to`, changes and previous answers included.
fn copy(from: &store::Location, to: &store::Location) -> Result<ExitCode> {
    let source = store::open_admin(from)?;
    let mut target = store::open_admin(to)?;
    // Read in full first: SQLite to SQLite would otherwise hold two transactions at once.
    let mut rows = Vec::new();
    source.raw(&mut |a| {
        rows.push(a);
        Ok(())
    })?;
    let read = rows.len();
    let written = target.import(&mut rows.into_iter().map(Ok))?;
    println!(
        "copied {} from {} to {} ({written} written; {} already there and newer)",
        count(read as u64, "answer"),
        from.label(),
        to.label(),
        read as u64 - written
    );
    Ok(ExitCode::Ok)
}
