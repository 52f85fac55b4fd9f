//! The run lock: one `run` per (endpoint, partner) and store at a time, and `state prune`
//! kept away from the answers of a run in progress.
//!
//! The lock belongs to the store file itself, not to the path used to reach it: a run locks one
//! byte of the store file (an open-file-description lock, far past SQLite's own lock bytes; the
//! byte is chosen by the scope), so a second run through a hard link, a symlink, another
//! `HOME` or another user finds it taken. A store that does not exist yet is created first
//! (0600, through a symlink if the path is one), so a link made to a store-to-be locks the same
//! file. Beside the store's real path, a lock file named after the file's identity
//! (`checkuser-DEV-INODE.HOST-PARTNER.lock`) holds the running pid for the message a second run
//! prints. The OS releases both when the process dies, so a killed run never blocks the next.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::Scope;

/// Holds the run lock for one (endpoint, partner) until dropped.
pub struct RunLock {
    /// The store file, holding the scope's byte.
    _store: File,
    /// The lock file holding the pid.
    _file: File,
}

/// Why the run lock could not be taken: callers act differently on each.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it (its pid, as it wrote it).
    #[error(
        "another checkuser run (pid {pid}) is already checking against {host} for partner \
         {partner} with this state store; wait for it to finish, or pass --wait-lock"
    )]
    Held {
        pid: String,
        host: String,
        partner: String,
    },
    /// The lock file could not be made or locked at all.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
    /// A run waiting for the lock was asked to stop (SIGTERM, Ctrl-C) before it was free.
    #[error("interrupted while waiting for the run lock (--wait-lock)")]
    Interrupted,
}

/// How often a waiting run (or prune) tries again.
const RETRY: Duration = Duration::from_millis(200);

/// The lock file of one scope of the store at `store`: `checkuser-DEV-INODE.HOST-PARTNER.lock`
/// in the folder the store really is in, so every name of one file finds one lock file. A store
/// not made yet has none: the name of the lock file older versions used is given then.
pub fn path(store: &Path, scope: &Scope) -> PathBuf {
    match std::fs::metadata(store) {
        Ok(meta) => lock_file(store, &meta, scope),
        Err(_) => {
            let mut p = real(store).into_os_string();
            p.push(format!(".{}.lock", scope_name(&scope.host, &scope.partner)));
            PathBuf::from(p)
        }
    }
}

fn scope_name(host: &str, partner: &str) -> String {
    super::location::file_name_part(&format!("{host}-{partner}"))
}

fn lock_file(store: &Path, meta: &std::fs::Metadata, scope: &Scope) -> PathBuf {
    let real = real(store);
    let dir = real.parent().unwrap_or(Path::new("."));
    dir.join(format!(
        "checkuser-{}-{}.{}.lock",
        meta.dev(),
        meta.ino(),
        scope_name(&scope.host, &scope.partner)
    ))
}

/// The store's real path: a store reached through a symlink, or through a linked folder, is
/// found where the file really is.
fn real(store: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(store) {
        return p;
    }
    match (store.parent(), store.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or_else(|_| store.to_path_buf())
        }
        _ => store.to_path_buf(),
    }
}

/// Opens the store file for locking, creating it (0600, in a 0700 folder) if it is not there
/// yet; a symlink is followed, so a link to a store not made yet makes and locks its target.
/// Anything but a regular file is refused before it is opened.
fn open_store(store: &Path) -> anyhow::Result<File> {
    if let Some(dir) = store.parent() {
        super::location::private_dir(dir)?;
    }
    let not_a_file = || {
        anyhow::anyhow!(
            "the state store {} is not a regular file: pass --state a file path",
            store.display()
        )
    };
    if std::fs::metadata(store).is_ok_and(|m| !m.is_file()) {
        return Err(not_a_file());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        // Never wait on a FIFO put there since the check above.
        .custom_flags(libc::O_NONBLOCK)
        .open(store)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => super::sqlite::read_only(store),
            _ => anyhow::Error::from(e)
                .context(format!("cannot open the state store {}", store.display())),
        })?;
    if !file.metadata()?.is_file() {
        return Err(not_a_file());
    }
    Ok(file)
}

/// Opens (creating it, 0600, never through a symlink: a planted link would make the pid
/// overwrite its target) the lock file at `path`.
fn open_lock_file(path: &Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}

/// The pid a running holder of `file` wrote, if one holds it now (what a dead run left there
/// is not a holder).
fn holder(file: &mut File) -> Option<String> {
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.rewind();
            let _ = file.read_to_string(&mut pid);
            let _ = file.rewind();
            Some(pid.trim().to_string()).filter(|p| !p.is_empty())
        }
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// The store file's bytes that stand for the scopes: the run lock of a scope, and the mark of a
/// prune deleting its answers. Far past SQLite's own lock bytes (at 1 GiB), never written.
mod bytes {
    use std::fs::File;

    /// Where the run lock of `host` / `partner` is: a stable hash of the two (FNV-1a, the same
    /// for every build), below 2^60.
    pub fn run(host: &str, partner: &str) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in host.bytes().chain([0]).chain(partner.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (1 << 62) + (h >> 4) as i64
    }

    /// Where a prune marks that it is deleting the answers of the scope locked at `run`.
    pub fn prune(run: i64) -> i64 {
        run + (1 << 61)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn fcntl(file: &File, cmd: libc::c_int, kind: libc::c_int, at: i64) -> std::io::Result<i16> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock is plain data; zeroed is a valid value for every field.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = at;
        fl.l_len = 1;
        // SAFETY: fcntl reads and writes the flock given, on a descriptor this file owns.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fl.l_type)
    }

    /// Takes the byte at `at` (`exclusive`, else shared) if nobody holds it in a conflicting
    /// way: `Ok(false)` if somebody does. A file system without such locks has only the lock
    /// file beside the store.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn take(file: &File, at: i64, exclusive: bool) -> std::io::Result<bool> {
        let kind = if exclusive {
            libc::F_WRLCK
        } else {
            libc::F_RDLCK
        };
        match fcntl(file, libc::F_OFD_SETLK, kind, at) {
            Ok(_) => Ok(true),
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EACCES) => Ok(false),
                Some(libc::EINVAL | libc::ENOLCK | libc::ENOSYS | libc::EOPNOTSUPP) => {
                    tracing::debug!("no byte locks on the state store ({e}): the lock file alone");
                    Ok(true)
                }
                _ => Err(e),
            },
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn release(file: &File, at: i64) {
        let _ = fcntl(file, libc::F_OFD_SETLK, libc::F_UNLCK, at);
    }

    /// Whether anybody holds the byte at `at`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn held(file: &File, at: i64) -> bool {
        fcntl(file, libc::F_OFD_GETLK, libc::F_WRLCK, at)
            .is_ok_and(|kind| kind != libc::F_UNLCK as i16)
    }

    // Elsewhere, the lock file beside the store is the lock.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn take(_: &File, _: i64, _: bool) -> std::io::Result<bool> {
        Ok(true)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn release(_: &File, _: i64) {}

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn held(_: &File, _: i64) -> bool {
        false
    }
}

impl RunLock {
    /// Takes the lock of `scope` on the store at `store` (creating the store file if needed),
    /// or fails naming the holder's pid (waits instead with `wait`). A prune deleting old
    /// answers of the scope is waited for in any case: it is over in a moment.
    pub fn acquire(store: &Path, scope: &Scope, wait: bool) -> Result<RunLock, LockError> {
        RunLock::acquire_until(store, scope, wait, || false)
    }

    /// As [`RunLock::acquire`], but a wait ends with [`LockError::Interrupted`] as soon as
    /// `stop` says so (checked at every retry): a signal must not wait for another run.
    pub fn acquire_until(
        store: &Path,
        scope: &Scope,
        wait: bool,
        stop: impl Fn() -> bool,
    ) -> Result<RunLock, LockError> {
        let store_file = open_store(store)?;
        let meta = store_file
            .metadata()
            .with_context(|| format!("cannot read {}", store.display()))?;
        let path = lock_file(store, &meta, scope);
        let mut file = open_lock_file(&path)?;
        let byte = bytes::run(&scope.host, &scope.partner);
        let lock_err = |e: std::io::Error| -> LockError {
            anyhow::Error::from(e)
                .context(format!("cannot lock {}", store.display()))
                .into()
        };
        let mut announced = false;
        loop {
            if bytes::take(&store_file, byte, true).map_err(lock_err)? {
                match file.try_lock() {
                    Ok(()) => break,
                    // Held by a checkuser where only the lock file locks.
                    Err(std::fs::TryLockError::WouldBlock) => bytes::release(&store_file, byte),
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(anyhow::Error::from(e)
                            .context(format!("cannot lock {}", path.display()))
                            .into())
                    }
                }
            } else if bytes::held(&store_file, bytes::prune(byte)) {
                std::thread::sleep(RETRY);
                continue;
            }
            // A run that reached the store from another folder wrote its pid there.
            let holder = holder(&mut file).unwrap_or_else(|| "unknown".into());
            if !wait {
                return Err(LockError::Held {
                    pid: holder,
                    host: scope.host.clone(),
                    partner: scope.partner.clone(),
                });
            }
            if stop() {
                return Err(LockError::Interrupted);
            }
            if !announced {
                tracing::info!("waiting for the run with pid {holder} to finish (--wait-lock)");
                announced = true;
            }
            std::thread::sleep(RETRY);
        }
        let record = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            write!(f, "{}", std::process::id())?;
            f.flush()
        };
        record(&mut file)
            .with_context(|| format!("cannot write the lock file {}", path.display()))?;
        Ok(RunLock {
            _store: store_file,
            _file: file,
        })
    }
}

/// Who holds the run lock of `scope` on the store at `store` (`None`: nobody), found without
/// taking it or writing anything (for `doctor`, which changes nothing). A store not made yet
/// has no holder.
pub fn holder_of(store: &Path, scope: &Scope) -> anyhow::Result<Option<String>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(store)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("cannot open the state store {}", store.display())))
        }
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", store.display()))?;
    if !bytes::held(&file, bytes::run(&scope.host, &scope.partner)) {
        return Ok(None);
    }
    let pid = std::fs::read_to_string(lock_file(store, &meta, scope)).unwrap_or_default();
    Ok(Some(match pid.trim() {
        "" => "unknown".to_string(),
        pid => pid.to_string(),
    }))
}

/// The store as `state prune` sees it: one scope at a time is held while its old answers are
/// deleted, and a scope whose run is in progress is left alone (or waited for).
pub struct Pruner {
    store: File,
    path: PathBuf,
    meta: std::fs::Metadata,
}

/// One scope of the store held by a prune; released when dropped.
pub struct PruneHold<'a> {
    store: &'a File,
    byte: i64,
    _file: File,
}

impl Drop for PruneHold<'_> {
    fn drop(&mut self) {
        bytes::release(self.store, self.byte);
        bytes::release(self.store, bytes::prune(self.byte));
    }
}

impl Pruner {
    pub fn open(store: &Path) -> anyhow::Result<Pruner> {
        let file = open_store(store)?;
        let meta = file
            .metadata()
            .with_context(|| format!("cannot read {}", store.display()))?;
        Ok(Pruner {
            store: file,
            path: store.to_path_buf(),
            meta,
        })
    }

    fn scope(host: &str, partner: &str) -> Scope {
        Scope {
            host: host.into(),
            partner: partner.into(),
            api: String::new(),
        }
    }

    /// Holds the answers of `host` / `partner` for deleting, or `None` while a run uses them.
    pub fn try_hold(&self, host: &str, partner: &str) -> anyhow::Result<Option<PruneHold<'_>>> {
        let byte = bytes::run(host, partner);
        let lock = || format!("cannot lock {}", self.path.display());
        // Marked first, so that a run finding its byte taken knows to wait for the prune.
        if !bytes::take(&self.store, bytes::prune(byte), false).with_context(lock)? {
            return Ok(None);
        }
        let unmark = || bytes::release(&self.store, bytes::prune(byte));
        if !bytes::take(&self.store, byte, true).with_context(lock)? {
            unmark();
            return Ok(None);
        }
        let path = lock_file(&self.path, &self.meta, &Self::scope(host, partner));
        let file = match open_lock_file(&path) {
            Ok(f) => f,
            Err(e) => {
                bytes::release(&self.store, byte);
                unmark();
                return Err(e);
            }
        };
        if file.try_lock().is_err() {
            bytes::release(&self.store, byte);
            unmark();
            return Ok(None);
        }
        Ok(Some(PruneHold {
            store: &self.store,
            byte,
            _file: file,
        }))
    }

    /// Waits until the run using `host` / `partner` has finished, then holds the scope.
    pub fn hold(&self, host: &str, partner: &str) -> anyhow::Result<PruneHold<'_>> {
        loop {
            if let Some(held) = self.try_hold(host, partner)? {
                return Ok(held);
            }
            std::thread::sleep(RETRY);
        }
    }

    /// The pid of the run holding `host` / `partner`, as it wrote it ("unknown" if it reached
    /// the store from another folder).
    pub fn holder(&self, host: &str, partner: &str) -> String {
        let path = lock_file(&self.path, &self.meta, &Self::scope(host, partner));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path);
        file.ok()
            .and_then(|mut f| holder(&mut f))
            .unwrap_or_else(|| "unknown".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        crate::store::sqlite::tests::scope()
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.sqlite");
        let held = RunLock::acquire(&state, &scope(), false).unwrap();
        let err = RunLock::acquire(&state, &scope(), false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        assert!(RunLock::acquire(&state, &scope(), false).is_ok());
    }

    #[test]
    fn a_store_reached_through_a_symlink_has_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("shared.sqlite");
        std::fs::write(&state, b"").unwrap();
        let link = dir.path().join("link.sqlite");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        let _held = RunLock::acquire(&state, &scope(), false).unwrap();
        assert!(RunLock::acquire(&link, &scope(), false).is_err());
    }

    #[test]
    fn hard_links_in_two_folders_share_one_lock_and_other_scopes_are_free() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let state = dir.path().join("s.sqlite");
        let _held = RunLock::acquire(&state, &scope(), false).unwrap();
        let link = dir.path().join("b/other.sqlite");
        std::fs::hard_link(&state, &link).unwrap();
        assert!(matches!(
            RunLock::acquire(&link, &scope(), false),
            Err(LockError::Held { .. })
        ));
        let other = Scope {
            partner: "q".into(),
            ..scope()
        };
        assert!(RunLock::acquire(&link, &other, false).is_ok());
    }

    #[test]
    fn the_lock_lives_beside_the_store_whatever_home_says() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("shared.sqlite");
        let _held = RunLock::acquire(&state, &scope(), false).unwrap();
        let lock = path(&state, &scope());
        assert_eq!(lock.parent(), state.parent());
        assert!(lock.exists());
        let mode = std::fs::metadata(&state).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "the store is made private");
    }

    #[test]
    fn a_prune_skips_a_held_scope_and_a_run_waits_out_a_prune() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.sqlite");
        let held = RunLock::acquire(&state, &scope(), false).unwrap();
        let pruner = Pruner::open(&state).unwrap();
        assert!(pruner.try_hold("h", "p").unwrap().is_none());
        assert_eq!(pruner.holder("h", "p"), std::process::id().to_string());
        assert!(pruner.try_hold("h", "q").unwrap().is_some());
        drop(held);
        let hold = pruner.try_hold("h", "p").unwrap().unwrap();
        let store = open_store(&state).unwrap();
        let byte = bytes::run("h", "p");
        assert!(
            !bytes::take(&store, byte, true).unwrap(),
            "held by the prune"
        );
        assert!(bytes::held(&store, bytes::prune(byte)), "marked as a prune");
        drop(hold);
        assert!(!bytes::held(&store, bytes::prune(byte)));
        assert!(RunLock::acquire(&state, &scope(), false).is_ok());
    }
}
