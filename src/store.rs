//! The SQLite state store: every answer is recorded as it arrives, keyed by endpoint host,
//! partner, API version, type and normalized key, so that a crash, a Ctrl-C or the next
//! night's run never asks twice. Also the run lock (one run per endpoint and partner).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::check::{CheckType, Outcome, ResultKind, Source};

/// Bumped when the schema changes; `open` migrates older files.
const SCHEMA_VERSION: i64 = 1;

/// Which answers may be reused.
#[derive(Debug, Clone, Copy)]
pub struct Reuse {
    pub max_age: Duration,
    pub taken_max_age: Duration,
    /// `--refresh`: reuse nothing (answers are still recorded).
    pub refresh: bool,
}

/// The part of the key that is the same for every check of a run.
#[derive(Debug, Clone)]
pub struct Scope {
    pub host: String,
    pub partner: String,
    pub api: String,
}

impl Scope {
    /// How answers for this endpoint and partner are keyed in the state store (and locked).
    /// v2 has no partner id in its path; the AK (hashed) or "token" stands in for it.
    pub fn for_endpoint(
        endpoint: &reqwest::Url,
        partner_id: &str,
        auth: &crate::api::credentials::Auth,
        api: crate::api::ApiVersion,
    ) -> Scope {
        use crate::api::credentials::Auth;
        let partner = if partner_id.is_empty() {
            match auth {
                Auth::AkSk { ak, .. } => {
                    format!("ak-{}", &crate::api::sign::hex_sha256(ak.as_bytes())[..16])
                }
                Auth::Token(_) => "token".into(),
            }
        } else {
            partner_id.to_string()
        };
        Scope {
            host: crate::api::client::authority(endpoint),
            partner,
            api: api.name().into(),
        }
    }

    /// The simulator's answers: its port changes every run, so they are keyed by a fixed name.
    pub fn sandbox(partner_id: &str, api: crate::api::ApiVersion) -> Scope {
        Scope {
            host: "sandbox".into(),
            partner: partner_id.into(),
            api: api.name().into(),
        }
    }
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub outcome: Outcome,
    /// Whether the reuse rules allow answering from it.
    pub fresh: bool,
}

/// Answers are committed in groups: at most this long after the first uncommitted one, so a
/// kill loses at most the answers of the last fraction of a second (they are asked again).
pub const COMMIT_WINDOW: Duration = Duration::from_millis(50);

pub struct Store {
    conn: Connection,
    scope: Scope,
    reuse: Reuse,
    /// When the open transaction took its first answer, if one is open.
    open_since: Option<Instant>,
}

/// `$VAR/checkuser`, else `~/FALLBACK/checkuser`.
fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    let base = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))?;
    Some(base.join("checkuser"))
}

/// Default location: `$XDG_STATE_HOME/checkuser/state.sqlite`, else
/// `~/.local/state/checkuser/…` (its loss costs quota: it is state, not a cache). A store left
/// at the older `$XDG_CACHE_HOME/checkuser/state.sqlite` is moved there first.
pub fn default_path() -> Option<PathBuf> {
    let path = xdg_dir("XDG_STATE_HOME", ".local/state")?.join("state.sqlite");
    if let Some(old) = xdg_dir("XDG_CACHE_HOME", ".cache").map(|d| d.join("state.sqlite")) {
        if old.is_file() && !path.exists() {
            if let Err(e) = move_store(&old, &path) {
                tracing::warn!(
                    "could not move the state store from {} to {}: {e:#}",
                    old.display(),
                    path.display()
                );
                return Some(old);
            }
            tracing::info!(
                "moved the state store from {} to {}",
                old.display(),
                path.display()
            );
        }
    }
    Some(path)
}

/// The simulator's own store beside the default one: simulated answers never mix with real
/// ones.
pub fn sandbox_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_STATE_HOME", ".local/state")?.join("sandbox.sqlite"))
}

/// The files SQLite keeps beside a store: its write-ahead log and its shared memory.
pub fn companions(store: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut p = store.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    })
}

fn move_store(old: &Path, new: &Path) -> Result<()> {
    if let Some(dir) = new.parent() {
        private_dir(dir)?;
    }
    let [old_wal, old_shm] = companions(old);
    let [new_wal, new_shm] = companions(new);
    for (from, to) in [(old, new), (&old_wal, &new_wal), (&old_shm, &new_shm)] {
        if from.exists() {
            std::fs::rename(from, to)?;
        }
    }
    Ok(())
}

/// Creates a folder (and its parents) readable by its owner only; an existing folder is left
/// as it is (it may be shared, like /tmp).
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the state folder {}", dir.display()))
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

/// Opens (creating if needed) the database file and brings its schema up to date. The file
/// holds personal data: it is created 0600 in a 0700 folder, and an older one is tightened.
pub fn open_db(path: &Path) -> Result<Connection> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
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
        bail!(
            "the state store {} is read-only (or its folder is): checkuser records every \
             answer there before it is used; make it writable or pass --state PATH",
            path.display()
        );
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the state store {}", path.display()))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
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
    if version < 1 {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS answers (
                host TEXT NOT NULL, partner TEXT NOT NULL, api TEXT NOT NULL,
                kind TEXT NOT NULL, key TEXT NOT NULL,
                result TEXT NOT NULL, status TEXT, uplimit TEXT,
                error_code TEXT, error_msg TEXT, http_status INTEGER, request_id TEXT,
                checked_at INTEGER NOT NULL,
                prev_result TEXT, prev_checked_at INTEGER,
                PRIMARY KEY (host, partner, api, kind, key)
            ) WITHOUT ROWID;
            PRAGMA user_version = 1;",
        )
        .with_context(ctx)?;
    }
    Ok(conn)
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

impl Store {
    pub fn open(path: &Path, scope: Scope, reuse: Reuse) -> Result<Store> {
        Ok(Store {
            conn: open_db(path)?,
            scope,
            reuse,
            open_since: None,
        })
    }

    /// The stored answer for a key, if any, with whether it may be reused at `now`.
    pub fn lookup(&self, kind: CheckType, key: &str, now: DateTime<Utc>) -> Result<Option<Stored>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT result, status, uplimit, error_code, error_msg, http_status, request_id,
                    checked_at, prev_result, prev_checked_at
             FROM answers WHERE host=?1 AND partner=?2 AND api=?3 AND kind=?4 AND key=?5",
        )?;
        let s = &self.scope;
        let row = stmt
            .query_row(params![s.host, s.partner, s.api, kind.as_str(), key], |r| {
                let result: String = r.get(0)?;
                let prev: Option<String> = r.get(8)?;
                let prev_at: Option<i64> = r.get(9)?;
                Ok(Outcome {
                    checked_key: key.to_string(),
                    result: ResultKind::parse(&result).unwrap_or(ResultKind::Error),
                    status: r.get(1)?,
                    uplimit: r.get(2)?,
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
                })
            })
            .optional()
            .context("cannot read the state store")?;
        Ok(row.map(|outcome| {
            let fresh = !self.reuse.refresh && self.is_fresh(&outcome, now);
            Stored { outcome, fresh }
        }))
    }

    /// What the planner needs of a stored answer: its result, its time, and whether it may
    /// be reused at `now` (cheaper than [`Store::lookup`]: two columns, no strings kept).
    pub fn age(
        &self,
        kind: CheckType,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ResultKind, DateTime<Utc>, bool)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT result, checked_at FROM answers
             WHERE host=?1 AND partner=?2 AND api=?3 AND kind=?4 AND key=?5",
        )?;
        let s = &self.scope;
        let row = stmt
            .query_row(params![s.host, s.partner, s.api, kind.as_str(), key], |r| {
                let result: String = r.get(0)?;
                Ok((
                    ResultKind::parse(&result).unwrap_or(ResultKind::Error),
                    ts(r.get(1)?),
                ))
            })
            .optional()
            .context("cannot read the state store")?;
        Ok(row.map(|(result, at)| {
            let fresh = !self.reuse.refresh && self.is_fresh_at(result, at, now);
            (result, at, fresh)
        }))
    }

    fn is_fresh(&self, o: &Outcome, now: DateTime<Utc>) -> bool {
        o.checked_at
            .is_some_and(|at| self.is_fresh_at(o.result, at, now))
    }

    fn is_fresh_at(&self, result: ResultKind, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let age = (now - at).to_std().unwrap_or(Duration::ZERO);
        match result {
            ResultKind::Taken | ResultKind::Uplimit => {
                age < self.reuse.taken_max_age.max(self.reuse.max_age)
            }
            ResultKind::Free | ResultKind::Invalid => age < self.reuse.max_age,
            _ => false,
        }
    }

    /// Records an API answer, keeping the answer it replaces as the previous one. Errors and
    /// pending checks are not answers and are not recorded.
    pub fn record(&mut self, kind: CheckType, o: &Outcome) -> Result<()> {
        if !matches!(
            o.result,
            ResultKind::Free | ResultKind::Taken | ResultKind::Uplimit | ResultKind::Invalid
        ) {
            return Ok(());
        }
        if self.open_since.is_none() {
            self.conn
                .execute_batch("BEGIN")
                .context("cannot write to the state store")?;
            self.open_since = Some(Instant::now());
        }
        let s = &self.scope;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO answers (host, partner, api, kind, key, result, status, uplimit,
                 error_code, error_msg, http_status, request_id, checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (host, partner, api, kind, key) DO UPDATE SET
                 prev_result = answers.result, prev_checked_at = answers.checked_at,
                 result = excluded.result, status = excluded.status, uplimit = excluded.uplimit,
                 error_code = excluded.error_code, error_msg = excluded.error_msg,
                 http_status = excluded.http_status, request_id = excluded.request_id,
                 checked_at = excluded.checked_at",
        )?;
        stmt.execute(params![
            s.host,
            s.partner,
            s.api,
            kind.as_str(),
            o.checked_key,
            o.result.as_str(),
            o.status,
            o.uplimit,
            o.error_code,
            o.error_msg,
            o.http_status,
            o.request_id,
            o.checked_at.unwrap_or_else(Utc::now).timestamp(),
        ])
        .context("cannot record an answer in the state store (is the disk full?)")?;
        drop(stmt);
        if self.commit_due().is_some_and(|due| due <= Instant::now()) {
            self.commit()?;
        }
        Ok(())
    }

    /// When the answers recorded so far must be committed, if any wait.
    pub fn commit_due(&self) -> Option<Instant> {
        self.open_since.map(|t| t + COMMIT_WINDOW)
    }

    /// Makes every recorded answer durable against a crash of this process.
    pub fn commit(&mut self) -> Result<()> {
        if self.open_since.take().is_some() {
            self.conn
                .execute_batch("COMMIT")
                .context("cannot commit answers to the state store (is the disk full?)")?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            tracing::error!("{e:#}");
        }
    }
}

/// Where run locks live: the user's state folder whatever `--state` says (beside the store
/// only when there is no home), so that two runs against the same endpoint and partner exclude
/// each other even with different stores. Runs as different users are not covered: each user
/// has a folder of their own.
pub fn lock_dir(state: &Path) -> PathBuf {
    xdg_dir("XDG_STATE_HOME", ".local/state")
        .unwrap_or_else(|| {
            state
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        })
        .join("locks")
}

/// Answers per (endpoint, partner, api, type, result), for `checkuser state stats`.
pub type Count = (String, String, String, String, String, i64);

pub fn counts(conn: &Connection) -> Result<Vec<Count>> {
    let mut stmt = conn.prepare(
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

/// (answers, oldest, newest answer time in unix seconds).
pub fn span(conn: &Connection) -> Result<(i64, Option<i64>, Option<i64>)> {
    conn.query_row(
        "SELECT COUNT(*), MIN(checked_at), MAX(checked_at) FROM answers",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .context("cannot read the state store")
}

/// Forgets answers older than `cutoff`; returns how many.
pub fn prune(conn: &Connection, cutoff: DateTime<Utc>) -> Result<usize> {
    conn.execute(
        "DELETE FROM answers WHERE checked_at < ?1",
        [cutoff.timestamp()],
    )
    .context("cannot prune the state store")
}

/// The columns of `checkuser state export`.
pub const EXPORT_COLUMNS: [&str; 15] = [
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
];

/// Every stored answer as text in [`EXPORT_COLUMNS`] order, handed to `row`.
pub fn export(conn: &Connection, mut row: impl FnMut(&[String]) -> Result<()>) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT host, partner, api, kind, key, result, status, uplimit, error_code, error_msg,
                http_status, request_id, checked_at, prev_result, prev_checked_at
         FROM answers ORDER BY host, partner, api, kind, key",
    )?;
    let mut rows = stmt.query([])?;
    let time = |s: Option<i64>| s.map(|s| crate::check::rfc3339(ts(s))).unwrap_or_default();
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
            time(r.get(12)?),
            text(13)?,
            time(r.get(14)?),
        ];
        row(&record)?;
    }
    Ok(())
}

/// Holds the run lock for one (endpoint, partner) until dropped. The OS releases it when the
/// process dies, so a killed run never blocks the next.
pub struct RunLock {
    _file: File,
}

/// Why the run lock could not be taken: callers act differently on each.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it (its pid, as it wrote it).
    #[error(
        "another checkuser run (pid {pid}) is already checking against {host} for partner \
         {partner}; wait for it to finish, or pass --wait-lock"
    )]
    Held {
        pid: String,
        host: String,
        partner: String,
    },
    /// The lock file could not be made or locked at all.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

impl RunLock {
    /// Takes the lock in `dir` ([`lock_dir`]), or fails naming the holder's pid (waits
    /// instead with `wait`).
    pub fn acquire(dir: &Path, scope: &Scope, wait: bool) -> Result<RunLock, LockError> {
        private_dir(dir)?;
        let name: String = format!("{}-{}", scope.host, scope.partner)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{name}.lock"));
        // Never through a symlink: a planted link would make the pid overwrite its target.
        let mut file = std::os::unix::fs::OpenOptionsExt::custom_flags(
            std::os::unix::fs::OpenOptionsExt::mode(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false),
                0o600,
            ),
            libc::O_NOFOLLOW,
        )
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let _ = file.rewind();
                    let holder = holder.trim();
                    if !wait {
                        return Err(LockError::Held {
                            pid: if holder.is_empty() { "unknown" } else { holder }.into(),
                            host: scope.host.clone(),
                            partner: scope.partner.clone(),
                        });
                    }
                    if !announced {
                        tracing::info!(
                            "waiting for the run with pid {holder} to finish (--wait-lock)"
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(anyhow::Error::from(e)
                        .context(format!("cannot lock {}", path.display()))
                        .into())
                }
            }
        }
        let record = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            write!(f, "{}", std::process::id())?;
            f.flush()
        };
        record(&mut file)
            .with_context(|| format!("cannot write the lock file {}", path.display()))?;
        Ok(RunLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            host: "h".into(),
            partner: "p".into(),
            api: "v1".into(),
        }
    }

    fn answer(key: &str, result: ResultKind, at: DateTime<Utc>) -> Outcome {
        Outcome {
            checked_at: Some(at),
            ..Outcome::new(key, result, Source::Api)
        }
    }

    const HOUR: i64 = 3600;

    #[test]
    fn reuse_follows_max_age_and_taken_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let reuse = Reuse {
            max_age: Duration::from_secs(20 * 3600),
            taken_max_age: Duration::from_secs(30 * 86400),
            refresh: false,
        };
        let mut store = Store::open(&dir.path().join("s.sqlite"), scope(), reuse).unwrap();
        let t0 = ts(1_700_000_000);
        store
            .record(CheckType::Email, &answer("free@x.yz", ResultKind::Free, t0))
            .unwrap();
        store
            .record(
                CheckType::Email,
                &answer("taken@x.yz", ResultKind::Taken, t0),
            )
            .unwrap();
        store
            .record(CheckType::Email, &answer("err@x.yz", ResultKind::Error, t0))
            .unwrap();
        let fresh = |key: &str, secs: i64| {
            store
                .lookup(CheckType::Email, key, ts(1_700_000_000 + secs))
                .unwrap()
                .map(|s| s.fresh)
        };
        assert_eq!(fresh("free@x.yz", 20 * HOUR - 1), Some(true));
        assert_eq!(fresh("free@x.yz", 20 * HOUR), Some(false));
        assert_eq!(fresh("taken@x.yz", 20 * HOUR), Some(true));
        assert_eq!(fresh("taken@x.yz", 30 * 24 * HOUR - 1), Some(true));
        assert_eq!(fresh("taken@x.yz", 30 * 24 * HOUR), Some(false));
        assert_eq!(fresh("err@x.yz", 0), None, "errors are never recorded");
        assert_eq!(
            store.lookup(CheckType::Name, "free@x.yz", t0).unwrap(),
            None,
            "type is part of the key"
        );
    }

    #[test]
    fn a_new_answer_keeps_the_previous_one_and_refresh_reuses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let reuse = Reuse {
            max_age: Duration::from_secs(3600),
            taken_max_age: Duration::from_secs(3600),
            refresh: false,
        };
        let mut store = Store::open(&path, scope(), reuse).unwrap();
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
        let got = store
            .lookup(CheckType::Email, "a@x.yz", ts(1_700_000_200))
            .unwrap()
            .unwrap();
        assert_eq!(got.outcome.result, ResultKind::Taken);
        assert_eq!(got.outcome.source, Source::Cache);
        assert_eq!(got.outcome.previous, Some((ResultKind::Free, t0)));
        drop(store);
        let refresh = Store::open(
            &path,
            scope(),
            Reuse {
                refresh: true,
                ..reuse
            },
        )
        .unwrap();
        assert!(
            !refresh
                .lookup(CheckType::Email, "a@x.yz", ts(1_700_000_200))
                .unwrap()
                .unwrap()
                .fresh
        );
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.sqlite");
        let held = RunLock::acquire(&lock_dir(&state), &scope(), false).unwrap();
        let err = RunLock::acquire(&lock_dir(&state), &scope(), false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        assert!(RunLock::acquire(&lock_dir(&state), &scope(), false).is_ok());
    }
}
