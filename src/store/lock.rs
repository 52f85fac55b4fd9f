//! The run lock: one `run` per (endpoint, partner) and store at a time. The lock belongs to the
//! store: its file sits beside the store's, so two users or two `HOME`s running on one
//! `--state` still exclude each other. The OS releases it when the process dies, so a killed
//! run never blocks the next.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::Scope;

/// Holds the run lock for one (endpoint, partner) until dropped.
pub struct RunLock {
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
}

/// The lock file of one scope of the store at `store`: `STORE.HOST-PARTNER.lock`, beside it.
pub fn path(store: &Path, scope: &Scope) -> PathBuf {
    let name = super::location::file_name_part(&format!("{}-{}", scope.host, scope.partner));
    let mut p = real(store).into_os_string();
    p.push(format!(".{name}.lock"));
    PathBuf::from(p)
}

/// The store's real path: a store reached through a symlink, or through a linked folder, is
/// locked where the file really is, so every path to one store finds one lock.
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

impl RunLock {
    /// Takes the lock of `scope` on the store at `store`, or fails naming the holder's pid
    /// (waits instead with `wait`).
    pub fn acquire(store: &Path, scope: &Scope, wait: bool) -> Result<RunLock, LockError> {
        if let Some(dir) = store.parent() {
            super::location::private_dir(dir)?;
        }
        let path = path(store, scope);
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
    fn the_lock_lives_beside_the_store_whatever_home_says() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("shared.sqlite");
        let lock = path(&state, &scope());
        assert_eq!(lock.parent(), state.parent());
        let _held = RunLock::acquire(&state, &scope(), false).unwrap();
        assert!(lock.exists());
    }
}
