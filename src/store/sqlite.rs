//! The SQLite state store (the default): one file, WAL mode, answers committed in groups of at
//! most [`COMMIT_WINDOW`], changes recorded in the same transaction as their answer. The file
//! holds personal data: 0600 in a 0700 folder.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::jobs::{self, JobRow, JobTable};
use super::{Backend, Count, RawAnswer, Scope, COMMIT_WINDOW};

/// Every column of an answer, as `state copy` moves it.
const RAW: &str = "host, partner, api, kind, key, result, status, uplimit, error_code, error_msg,
    http_status, request_id, checked_at, prev_result, prev_checked_at, change_unreported";
use crate::model::{Answer, CheckType, Outcome, ResultKind, Source};

/// Bumped when the schema changes; `open` migrates older files.
const SCHEMA_VERSION: i64 = 3;

/// The schema, one step per version: a file at version N runs the steps after N.
const MIGRATIONS: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS answers (
        host TEXT NOT NULL, partner TEXT NOT NULL, api TEXT NOT NULL,
        kind TEXT NOT NULL, key TEXT NOT NULL,
        result TEXT NOT NULL, status TEXT, uplimit TEXT,
        error_code TEXT, error_msg TEXT, http_status INTEGER, request_id TEXT,
        checked_at INTEGER NOT NULL,
        prev_result TEXT, prev_checked_at INTEGER,
        PRIMARY KEY (host, partner, api, kind, key)
    ) WITHOUT ROWID;",
    // A change (free/taken/uplimit to another of these) not yet reported by a run whose
    // outputs were written; prev_* then hold the last reported answer.
    "ALTER TABLE answers ADD COLUMN change_unreported INTEGER NOT NULL DEFAULT 0;",
    // The web page's jobs ([`super::jobs`]).
    "CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_ms INTEGER NOT NULL,
        home TEXT NOT NULL, record TEXT NOT NULL
    );",
];

fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    for (i, step) in MIGRATIONS.iter().enumerate() {
        let to = i as i64 + 1;
        if from < to {
            conn.execute_batch(&format!(
                "BEGIN; {step} PRAGMA user_version = {to}; COMMIT;"
            ))?;
        }
    }
    Ok(())
}

/// True if the file starts with SQLite's magic header.
fn is_sqlite(path: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

/// True if this process may write `path` (the file, or its folder when the file is new).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let target = if path.exists() {
        path
    } else {
        match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        }
    };
    let Ok(c) = std::ffi::CString::new(target.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access() reads a NUL-terminated path and nothing else.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Why a store cannot be used: it, or its folder, is read-only.
pub(crate) fn read_only(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "the state store {} is read-only (or its folder is): checkuser records every answer \
         there before it is used; make it writable or pass --state PATH",
        path.display()
    )
}

/// What SQLite keeps beside a store (beside its real path: SQLite resolves symlinks): the
/// rollback journal, the write-ahead log and its shared memory. One that is there and is not a
/// regular file (a FIFO, a folder, a device, a socket, a symlink to anything) is refused before
/// SQLite opens the store: SQLite would wait on a FIFO for ever (deaf to SIGTERM), fail on the
/// others, or write through a link. It is left as it is.
fn side_files_are_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    for (suffix, role) in [
        ("-journal", "rollback journal"),
        ("-wal", "write-ahead log"),
        ("-shm", "shared memory"),
    ] {
        let mut side = real.clone().into_os_string();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        let Ok(meta) = std::fs::symlink_metadata(&side) else {
            continue;
        };
        let t = meta.file_type();
        let what = if t.is_file() {
            continue;
        } else if t.is_symlink() {
            match std::fs::read_link(&side) {
                Ok(to) => format!("a symbolic link (to {})", to.display()),
                Err(_) => "a symbolic link".into(),
            }
        } else if t.is_fifo() {
            "a named pipe (FIFO)".into()
        } else if t.is_dir() {
            "a folder".into()
        } else if t.is_char_device() || t.is_block_device() {
            "a device".into()
        } else if t.is_socket() {
            "a socket".into()
        } else {
            "something else".into()
        };
        bail!(
            "{} is {what}, not a regular file: SQLite would use it as the {role} of the state \
             store {}, and could hang or fail on it. checkuser leaves it as it is: move it out of \
             the way, then run again (or pass --state another path)",
            side.display(),
            path.display()
        );
    }
    Ok(())
}

/// Opens (creating if needed) the database file and brings its schema up to date. The file
/// holds personal data: it is created 0600 in a 0700 folder, and an older one is tightened.
pub fn open_db(path: &Path) -> Result<Connection> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        super::location::private_dir(dir)?;
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            bail!(
                "the state store {} is not a regular file: pass --state a file path",
                path.display()
            );
        }
        if meta.len() > 0 && !is_sqlite(path) {
            bail!(
                "{} is not a checkuser state store (not an SQLite file): it is left as it is; \
                 pass --state another path",
                path.display()
            );
        }
    }
    if !writable(path) {
        return Err(read_only(path));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the state store {}", path.display()))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    side_files_are_files(path)?;
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open the state store {}", path.display()))?;
    let ctx = || format!("cannot set up the state store {}", path.display());
    conn.busy_timeout(Duration::from_secs(10))
        .with_context(ctx)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .with_context(ctx)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .with_context(ctx)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(ctx)?;
    if version > SCHEMA_VERSION {
        bail!(
            "the state store {} was written by a newer checkuser (schema {version}); upgrade \
             checkuser or use another --state",
            path.display()
        );
    }
    migrate(&conn, version).with_context(ctx)?;
    Ok(conn)
}

/// The schema version of the store at `path` and the one this checkuser knows, read without
/// changing anything (for `doctor`): opened read-only, never created, migrated or re-moded.
pub fn schema_version(path: &Path) -> Result<(i64, i64)> {
    use rusqlite::OpenFlags;
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        bail!("the state store {} is not a regular file", path.display());
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) && !is_sqlite(path) {
        bail!(
            "{} is not a checkuser state store (not an SQLite file): pass --state another path",
            path.display()
        );
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Even a read-only connection makes the journal's side files of a WAL store when they are
    // missing; a store without them holds everything in its file, read as immutable.
    let [wal, shm] = super::location::companions(path);
    let immutable = match (wal.exists() && shm.exists(), path.to_str()) {
        (false, Some(p)) => Some(format!("file:{}?immutable=1", uri_path(p))),
        _ => None,
    };
    let conn = match immutable {
        Some(uri) => Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI),
        None => Connection::open_with_flags(path, flags),
    }
    .with_context(|| format!("cannot open the state store {}", path.display()))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .with_context(|| format!("cannot read the state store {}", path.display()))?;
    Ok((version, SCHEMA_VERSION))
}

/// A path as the path of an SQLite `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(p: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const URI: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#');
    utf8_percent_encode(p, URI).to_string()
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// Answers of one scope in an SQLite file.
pub struct SqliteStore {
    conn: Connection,
    scope: Scope,
    /// When the open transaction took its first answer, if one is open.
    open_since: Option<Instant>,
}

/// The answer columns, in the order [`outcome_from_row`] reads them.
const ANSWER: &str = "result, status, uplimit, error_code, error_msg, http_status, request_id,
    checked_at, prev_result, prev_checked_at, change_unreported";

fn outcome_from_row(key: &str, r: &rusqlite::Row) -> rusqlite::Result<Outcome> {
    let result: String = r.get(0)?;
    let prev: Option<String> = r.get(8)?;
    let prev_at: Option<i64> = r.get(9)?;
    let change: i64 = r.get(10)?;
    Ok(Outcome {
        checked_key: key.to_string(),
        result: ResultKind::parse(&result).unwrap_or(ResultKind::Error),
        answer: Answer::from_columns(
            r.get::<_, Option<String>>(1)?.as_deref(),
            r.get::<_, Option<String>>(2)?.as_deref(),
        ),
        error_code: r.get(3)?,
        error_msg: r.get(4)?,
        http_status: r.get(5)?,
        attempts: 0,
        source: Source::Cache,
        checked_at: Some(ts(r.get(7)?)),
        request_id: r.get(6)?,
        previous: prev
            .and_then(|p| ResultKind::parse(&p))
            .zip(prev_at.map(ts)),
        change: change != 0,
    })
}

/// An SQLite file's answers of one scope, as the engine uses them.
pub fn store(path: &Path, scope: Scope, reuse: super::Reuse) -> Result<super::Store> {
    Ok(super::Store::new(
        Box::new(SqliteStore::open(path, scope)?),
        reuse,
    ))
}

impl SqliteStore {
    pub fn open(path: &Path, scope: Scope) -> Result<SqliteStore> {
        Ok(SqliteStore {
            conn: open_db(path)?,
            scope,
            open_since: None,
        })
    }

    fn begin(&mut self) -> Result<()> {
        if self.open_since.is_none() {
            self.conn
                .execute_batch("BEGIN")
                .context("cannot write to the state store")?;
            self.open_since = Some(Instant::now());
        }
        Ok(())
    }
}

impl Backend for SqliteStore {
    fn fetch(&self, items: &[(CheckType, &str)]) -> Result<Vec<Option<Outcome>>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ANSWER} FROM answers
             WHERE host=?1 AND partner=?2 AND api=?3 AND kind=?4 AND key=?5"
        ))?;
        let s = &self.scope;
        items
            .iter()
            .map(|(kind, key)| {
                stmt.query_row(params![s.host, s.partner, s.api, kind.as_str(), key], |r| {
                    outcome_from_row(key, r)
                })
                .optional()
                .context("cannot read the state store")
            })
            .collect()
    }

    fn write(&mut self, kind: CheckType, o: &Outcome) -> Result<()> {
        self.begin()?;
        let s = &self.scope;
        let mut stmt = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO answers (host, partner, api, kind, key, result, status,
                 uplimit, error_code, error_msg, http_status, request_id, checked_at,
                 prev_result, prev_checked_at, change_unreported)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        stmt.execute(params![
            s.host,
            s.partner,
            s.api,
            kind.as_str(),
            o.checked_key,
            o.result.as_str(),
            o.answer_columns()[0],
            o.answer_columns()[1],
            o.error_code,
            o.error_msg,
            o.http_status,
            o.request_id,
            o.checked_at.unwrap_or_else(Utc::now).timestamp(),
            o.previous.map(|p| p.0.as_str()),
            o.previous.map(|p| p.1.timestamp()),
            o.change as i64,
        ])
        .context("cannot record an answer in the state store (is the disk full?)")?;
        Ok(())
    }

    fn commit_due(&self) -> Option<Instant> {
        self.open_since.map(|t| t + COMMIT_WINDOW)
    }

    fn commit(&mut self) -> Result<()> {
        if self.open_since.take().is_some() {
            self.conn
                .execute_batch("COMMIT")
                .context("cannot commit answers to the state store (is the disk full?)")?;
        }
        Ok(())
    }

    fn mark_reported(&mut self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.begin()?;
        let s = self.scope.clone();
        let mut stmt = self.conn.prepare_cached(
            "UPDATE answers SET change_unreported = 0
             WHERE host=?1 AND partner=?2 AND api=?3 AND key=?4",
        )?;
        for key in keys {
            stmt.execute(params![s.host, s.partner, s.api, key])
                .context("cannot mark changes as reported in the state store")?;
        }
        drop(stmt);
        self.commit()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            tracing::error!("{e:#}");
        }
    }
}

/// The jobs table of an SQLite file ([`super::jobs`]): a connection of its own, beside the
/// runs' (SQLite's busy timeout orders their writes).
pub struct SqliteJobs {
    conn: std::sync::Mutex<Connection>,
}

impl SqliteJobs {
    pub fn open(path: &Path) -> Result<SqliteJobs> {
        Ok(SqliteJobs {
            conn: std::sync::Mutex::new(open_db(path)?),
        })
    }

    /// `$1`…`$5` are named parameters to SQLite, numbered in the order they first appear:
    /// bound by name, so that any statement's order is right.
    fn write(&self, statement: &str, j: &JobRow) -> Result<()> {
        self.with("write", |c| {
            let p = rusqlite::named_params! {
                "$1": j.id, "$2": j.owner, "$3": j.created_ms, "$4": j.home, "$5": j.record,
            };
            c.execute(statement, p).map(drop)
        })
    }

    fn with<R>(&self, what: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        jobs::failed(f(&conn).map_err(Into::into), what)
    }
}

fn job_row(r: &rusqlite::Row) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        owner: r.get(1)?,
        created_ms: r.get(2)?,
        home: r.get(3)?,
        record: r.get(4)?,
    })
}

impl JobTable for SqliteJobs {
    fn put(&self, j: &JobRow) -> Result<()> {
        self.write(jobs::PUT, j)
    }

    fn update(&self, j: &JobRow) -> Result<()> {
        self.write(jobs::UPDATE, j)
    }

    fn get(&self, id: &str) -> Result<Option<JobRow>> {
        self.with("read", |c| c.query_row(jobs::GET, [id], job_row).optional())
    }

    fn list(&self) -> Result<Vec<JobRow>> {
        self.with("read", |c| {
            c.prepare(jobs::LIST)?.query_map([], job_row)?.collect()
        })
    }

    fn delete(&self, id: &str) -> Result<()> {
        self.with("delete", |c| c.execute(jobs::DELETE, [id]).map(drop))
    }
}

/// The whole SQLite file, for `checkuser state`.
pub struct SqliteAdmin {
    conn: Connection,
    path: std::path::PathBuf,
}

impl SqliteAdmin {
    pub fn open(path: &Path) -> Result<SqliteAdmin> {
        Ok(SqliteAdmin {
            conn: open_db(path)?,
            path: path.to_path_buf(),
        })
    }
}

impl SqliteAdmin {
    /// The (host, partner) pairs with answers older than `cutoff`, and how many each has:
    /// `state prune` holds each pair's run lock while it deletes them.
    pub fn old_scopes(&self, cutoff: DateTime<Utc>) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT host, partner, COUNT(*) FROM answers WHERE checked_at < ?1
             GROUP BY host, partner ORDER BY host, partner",
        )?;
        let rows = stmt.query_map([cutoff.timestamp()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?;
        rows.collect::<rusqlite::Result<_>>()
            .context("cannot read the state store")
    }

    /// Deletes the answers of `host` / `partner` older than `cutoff`.
    pub fn prune_scope(&self, cutoff: DateTime<Utc>, host: &str, partner: &str) -> Result<usize> {
        self.conn
            .execute(
                "DELETE FROM answers WHERE checked_at < ?1 AND host = ?2 AND partner = ?3",
                params![cutoff.timestamp(), host, partner],
            )
            .context("cannot prune the state store")
    }
}

impl super::Admin for SqliteAdmin {
    fn counts(&self) -> Result<Vec<Count>> {
        let mut stmt = self.conn.prepare(
            "SELECT host, partner, api, kind, result, COUNT(*) FROM answers
             GROUP BY host, partner, api, kind, result ORDER BY host, partner, api, kind, result",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect::<rusqlite::Result<_>>()
            .context("cannot read the state store")
    }

    fn span(&self) -> Result<(i64, Option<i64>, Option<i64>)> {
        self.conn
            .query_row(
                "SELECT COUNT(*), MIN(checked_at), MAX(checked_at) FROM answers",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .context("cannot read the state store")
    }

    /// The answers of a scope whose run is in progress are left (`state prune` says so).
    fn prune(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let pruner = super::lock::Pruner::open(&self.path)?;
        let mut n = 0;
        for (host, partner, _) in self.old_scopes(cutoff)? {
            if let Some(_held) = pruner.try_hold(&host, &partner)? {
                n += self.prune_scope(cutoff, &host, &partner)?;
            }
        }
        Ok(n)
    }

    fn export(&self, row: &mut dyn FnMut(&[String]) -> Result<()>) -> Result<()> {
        self.raw(&mut |a| row(&super::export_record(&a)))
    }

    fn raw(&self, row: &mut dyn FnMut(RawAnswer) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RAW} FROM answers ORDER BY host, partner, api, kind, key"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let change: i64 = r.get(15)?;
            row(RawAnswer {
                host: r.get(0)?,
                partner: r.get(1)?,
                api: r.get(2)?,
                kind: r.get(3)?,
                key: r.get(4)?,
                result: r.get(5)?,
                status: r.get(6)?,
                uplimit: r.get(7)?,
                error_code: r.get(8)?,
                error_msg: r.get(9)?,
                http_status: r.get(10)?,
                request_id: r.get(11)?,
                checked_at: r.get(12)?,
                prev_result: r.get(13)?,
                prev_checked_at: r.get(14)?,
                change_unreported: change != 0,
            })?;
        }
        Ok(())
    }

    fn import(&mut self, rows: &mut dyn Iterator<Item = Result<RawAnswer>>) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare(&format!(
                "INSERT INTO answers ({RAW})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (host, partner, api, kind, key) DO UPDATE SET
                   result = excluded.result, status = excluded.status,
                   uplimit = excluded.uplimit, error_code = excluded.error_code,
                   error_msg = excluded.error_msg, http_status = excluded.http_status,
                   request_id = excluded.request_id, checked_at = excluded.checked_at,
                   prev_result = excluded.prev_result, prev_checked_at = excluded.prev_checked_at,
                   change_unreported = excluded.change_unreported
                 WHERE excluded.checked_at > answers.checked_at"
            ))?;
            for a in rows {
                let a = a?;
                n += stmt.execute(params![
                    a.host,
                    a.partner,
                    a.api,
                    a.kind,
                    a.key,
                    a.result,
                    a.status,
                    a.uplimit,
                    a.error_code,
                    a.error_msg,
                    a.http_status,
                    a.request_id,
                    a.checked_at,
                    a.prev_result,
                    a.prev_checked_at,
                    a.change_unreported as i64,
                ])? as u64;
            }
        }
        tx.commit().context("cannot write the copied answers")?;
        Ok(n)
    }

    fn describe(&self) -> String {
        let [wal, _] = super::location::companions(&self.path);
        let size: u64 = [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        format!("{} ({:.1} MB)", self.path.display(), size as f64 / 1e6)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn scope() -> Scope {
        Scope {
            host: "h".into(),
            partner: "p".into(),
            api: "v1".into(),
        }
    }

    #[test]
    fn the_file_stores_jobs_pass_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        jobs::conformance(&SqliteJobs::open(&dir.path().join("s.sqlite")).unwrap());
    }

    #[test]
    fn the_file_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::cell::Cell::new(0);
        // Each test of the suite gets a file of its own; `reopen` reopens the same file.
        crate::store::conformance::run_all(&mut |fresh: bool, reuse| {
            if fresh {
                n.set(n.get() + 1);
            }
            let path = dir.path().join(format!("s{}.sqlite", n.get()));
            crate::store::Store::new(Box::new(SqliteStore::open(&path, scope()).unwrap()), reuse)
        });
    }

    #[test]
    fn a_version_1_file_is_migrated_keeping_its_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO answers (host, partner, api, kind, key, result, checked_at)
                 VALUES ('h', 'p', 'v1', 'email', 'a@x.yz', 'taken', 1700000000);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, scope()).unwrap();
        let got = store.fetch(&[(CheckType::Email, "a@x.yz")]).unwrap()[0]
            .clone()
            .unwrap();
        assert_eq!(got.result, ResultKind::Taken);
        assert!(!got.change);
    }
}
