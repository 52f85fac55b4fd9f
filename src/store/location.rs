//! Where a state store lives: the `--state` location, the default file in the user's state
//! folder (and the move from the older cache folder), the simulator's own file, and the files
//! SQLite keeps beside a store.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A parsed `--state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database (team mode).
    Postgres(super::postgres::Target),
}

impl Location {
    /// Reads a `--state` value. A URL or libpq's keyword form (`host=db dbname=checkuser
    /// user=team`) names a server, and is never taken for a file name (nor echoed: it may hold
    /// a password); anything else is a file path.
    pub fn parse(raw: &std::ffi::OsStr) -> Result<Location> {
        use super::postgres::Target;
        let text = raw.to_string_lossy();
        if !Target::looks_like_connection(&text) {
            return Ok(Location::File(PathBuf::from(raw)));
        }
        if let Some(scheme) = Target::scheme(&text) {
            if !["postgres", "postgresql"].contains(&scheme.to_ascii_lowercase().as_str()) {
                anyhow::bail!(
                    "--state: {scheme}:// is not a PostgreSQL URL; a state store is a file \
                     name, postgres://USER@HOST[:PORT]/DB or host=… dbname=… user=…"
                );
            }
        }
        Ok(Location::Postgres(Target::parse(&text)?))
    }

    /// The file, for a file store.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// For people (a server's password is never shown, and never in the URL anyway).
    pub fn label(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(t) => t.label.clone(),
        }
    }
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

/// Where `serve` keeps its jobs' files: `$XDG_STATE_HOME/checkuser/jobs/`.
pub fn jobs_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_STATE_HOME", ".local/state")?.join("jobs"))
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
pub fn private_dir(dir: &Path) -> Result<()> {
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

/// Text made safe for a file name: letters, digits, `-`, `_` and `.` kept, anything else `_`
/// (a scope's host and partner become part of lock and spool file names).
pub fn file_name_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Location> {
        Location::parse(std::ffi::OsStr::new(s))
    }

    #[test]
    fn keyword_connection_strings_are_databases_never_file_names() {
        for s in [
            "host=db port=5432 dbname=checkuser user=team",
            "dbname=checkuser",
            "user=team host = db",
            "host=db dbname=checkuser user=team sslmode=verify-full sslrootcert=/etc/ca.pem \
             connect_timeout=5",
            "  host='db one' dbname=checkuser",
        ] {
            match parse(s) {
                Ok(Location::Postgres(t)) => assert!(t.label.starts_with("postgres://"), "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
        let Ok(Location::Postgres(t)) = parse("host=db port=6543 dbname=leads user=team") else {
            panic!()
        };
        assert_eq!(t.label, "postgres://team@db:6543/leads");
        // Anything with a scheme is a server's address, never a file, even if not PostgreSQL's.
        assert!(parse("mysql://team@db/leads").is_err());
        assert!(parse("postgres://team@db/leads").is_ok());
        // Plain paths stay files, `=` in them included.
        for s in [
            "state.sqlite",
            "/tmp/a b/state.sqlite",
            "run=1.sqlite",
            "./x/host",
        ] {
            assert_eq!(parse(s).unwrap(), Location::File(PathBuf::from(s)), "{s}");
        }
    }

    #[test]
    fn a_password_in_a_keyword_string_is_refused_and_not_echoed() {
        for s in [
            "host=db dbname=checkuser user=team password=hunter2",
            "password = 'hunter2' host=db",
            "host=db password='hun ter2' dbname=x",
        ] {
            let e = format!("{:#}", parse(s).unwrap_err());
            assert!(e.contains("PGPASSWORD"), "{e}");
            assert!(!e.contains("hunter2") && !e.contains("hun ter2"), "{e}");
        }
        // A broken one is not echoed either.
        let e = format!("{:#}", parse("host=db password='hunter2").unwrap_err());
        assert!(!e.contains("hunter2"), "{e}");
    }
}
