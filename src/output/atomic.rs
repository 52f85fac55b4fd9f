//! Durable replacement of an output file: write a temporary file in the target folder, fsync
//! it, rename it over the target, fsync the folder. A reader sees the old file or the new
//! one, never half of one. Only regular files (and new paths) are replaced: a FIFO or a device
//! such as `/dev/null` is written through, never renamed over; a symlink is followed; the file
//! standard output goes to is written as standard output. Every temporary file is listed
//! in `TEMPS` until it is renamed or dropped, so that exit paths that skip destructors (a
//! second Ctrl-C) can still remove them.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// Where results go.
pub enum Out {
    Stdout(io::BufWriter<io::Stdout>),
    File {
        tmp: Temp,
        target: PathBuf,
    },
    /// An existing target that is not a regular file (FIFO, device): written in place.
    Through(io::BufWriter<File>),
}

/// Temporary files not yet renamed into place.
static TEMPS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A temporary output file, listed in `TEMPS` for as long as it exists.
pub struct Temp {
    file: NamedTempFile,
    path: PathBuf,
}

impl Temp {
    fn new(file: NamedTempFile) -> Temp {
        let path = file.path().to_path_buf();
        if let Ok(mut t) = TEMPS.lock() {
            t.push(path.clone());
        }
        Temp { file, path }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Ok(mut t) = TEMPS.lock() {
            t.retain(|p| *p != self.path);
        }
    }
}

/// Removes every temporary file still listed: for exits that skip destructors.
pub fn remove_temporary_files() {
    let paths = match TEMPS.lock() {
        Ok(mut t) => std::mem::take(&mut *t),
        Err(_) => return,
    };
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// True if `path` exists and is something other than a regular file (a FIFO, a device, a
/// socket): such a target is written through, never replaced.
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Where writing `path` lands: the path itself, or for a symlink the file it leads to, even
/// one that does not exist yet (a dangling link is kept, and its file made).
pub fn landing(path: &Path) -> PathBuf {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return path.to_path_buf();
    }
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    // A chain of links to a file not made yet: followed to its last link (40, as the kernel).
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&at) {
            // `join` keeps an absolute link target as it is.
            Ok(to) => at = at.parent().unwrap_or(Path::new(".")).join(to),
            Err(_) => break,
        }
    }
    at
}

/// True if new files can be made in `dir`: tried for real with an empty temporary file, since
/// permissions alone do not tell (a read-only mount, or /sys, refuses even root).
pub fn folder_takes_files(dir: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".checkuser-probe.")
        .tempfile_in(dir)
        .is_ok()
}

/// What `path` leads to, symlinks followed; `-` is what standard output is.
pub fn node(path: &Path) -> io::Result<std::fs::Metadata> {
    if path.as_os_str() == "-" {
        use std::os::fd::AsFd;
        let fd = io::stdout().as_fd().try_clone_to_owned()?;
        return File::from(fd).metadata();
    }
    std::fs::metadata(path)
}

/// True if `path` is the very file standard output goes to (`/dev/stdout`, `/proc/self/fd/1`,
/// or the file that `>` or `>>` opened): writing there means writing to standard output, at
/// its position, never replacing the file or a link in `/dev`.
fn is_stdout(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (node(path), node(Path::new("-"))) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

impl Out {
    /// `None` is standard output; a path gets a temporary sibling.
    pub fn create(target: Option<&Path>) -> Result<Out> {
        let Some(target) = target.filter(|t| !is_stdout(t)) else {
            return Ok(Out::Stdout(io::BufWriter::new(io::stdout())));
        };
        if is_special(target) {
            let f = File::options()
                .write(true)
                .open(target)
                .with_context(|| format!("cannot open {} for writing", target.display()))?;
            return Ok(Out::Through(io::BufWriter::new(f)));
        }
        // A symlink stays: the file it leads to is what gets replaced (or made).
        let landing = landing(target);
        let target = landing.as_path();
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let prefix = format!(".{name}.");
        remove_stale(dir, &prefix);
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        if let Some(p) = permissions_for(target) {
            builder.permissions(p);
        }
        let tmp = builder.tempfile_in(dir).map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::NotFound => "the folder does not exist".to_string(),
                io::ErrorKind::PermissionDenied => "the folder is not writable".to_string(),
                _ => e.to_string(),
            };
            anyhow::anyhow!("cannot write {}: {why}", target.display())
        })?;
        Ok(Out::File {
            tmp: Temp::new(tmp),
            target: target.to_path_buf(),
        })
    }

    /// Flushes, fsyncs and renames into place; the temporary file is removed on failure.
    pub fn commit(self) -> Result<()> {
        match self {
            Out::Stdout(mut w) => w.flush().context("cannot write to standard output"),
            Out::File { mut tmp, target } => {
                let ctx = || format!("cannot write the output {}", target.display());
                tmp.file.flush().with_context(ctx)?;
                tmp.file.as_file().sync_all().with_context(ctx)?;
                persist(tmp, &target).with_context(ctx)?;
                sync_dir(&target);
                Ok(())
            }
            Out::Through(mut w) => w.flush().context("cannot write the output"),
        }
    }
}

/// Renames the temporary file over `target`, then unlists it.
fn persist(tmp: Temp, target: &Path) -> io::Result<()> {
    let path = tmp.path.clone();
    std::fs::rename(&path, target)?;
    // Renamed: dropping the NamedTempFile now only fails to delete a path that is gone.
    drop(tmp);
    Ok(())
}

/// A temporary file this old next to the target was left by a run that was killed (SIGKILL
/// gives no chance to clean up); it is removed.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if name.starts_with(prefix) && name.ends_with(".tmp") && old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The replaced file's permissions, or the usual 0666 less the umask for a new one (a
/// temporary file would otherwise be private to its owner).
fn permissions_for(target: &Path) -> Option<std::fs::Permissions> {
    if let Ok(meta) = std::fs::metadata(target) {
        return Some(meta.permissions());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o666))
    }
    #[cfg(not(unix))]
    None
}

/// fsyncs the folder holding `path` so the rename itself survives a crash. Best effort: some
/// file systems refuse to open folders.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stdout(w) => w.write(buf),
            Out::File { tmp, .. } => tmp.file.write(buf),
            Out::Through(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(w) => w.flush(),
            Out::File { tmp, .. } => tmp.file.flush(),
            Out::Through(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_left_by_a_killed_run_are_removed_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".out.csv.abc123.tmp");
        let fresh = dir.path().join(".out.csv.def456.tmp");
        let other = dir.path().join(".other.csv.abc123.tmp");
        for p in [&stale, &fresh, &other] {
            std::fs::write(p, "partial").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - STALE_AFTER * 2;
        for p in [&stale, &other] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let out = Out::create(Some(&dir.path().join("out.csv"))).unwrap();
        out.commit().unwrap();
        assert!(!stale.exists(), "an old leftover of this output is removed");
        assert!(
            fresh.exists(),
            "a recent one may belong to a run still going"
        );
        assert!(other.exists(), "another output's files are left alone");
        assert!(dir.path().join("out.csv").exists());
    }
}
