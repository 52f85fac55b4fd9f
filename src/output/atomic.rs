//! Durable replacement of an output file: write a temporary file in the target folder, fsync
//! it, rename it over the target, fsync the folder. A reader sees the old file or the new
//! one, never half of one.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// Where results go.
pub enum Out {
    Stdout(io::BufWriter<io::Stdout>),
    File { tmp: NamedTempFile, target: PathBuf },
}

impl Out {
    /// `None` is standard output; a path gets a temporary sibling.
    pub fn create(target: Option<&Path>) -> Result<Out> {
        let Some(target) = target else {
            return Ok(Out::Stdout(io::BufWriter::new(io::stdout())));
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        if let Some(p) = permissions_for(target) {
            builder.permissions(p);
        }
        let tmp = builder.tempfile_in(dir).with_context(|| {
            format!(
                "cannot create a temporary file in {} for the output (is the folder writable?)",
                dir.display()
            )
        })?;
        Ok(Out::File {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// Flushes, fsyncs and renames into place; the temporary file is removed on failure.
    pub fn commit(self) -> Result<()> {
        match self {
            Out::Stdout(mut w) => w.flush().context("cannot write to standard output"),
            Out::File { mut tmp, target } => {
                let ctx = || format!("cannot write the output {}", target.display());
                tmp.flush().with_context(ctx)?;
                tmp.as_file().sync_all().with_context(ctx)?;
                tmp.persist(&target)
                    .map_err(|e| e.error)
                    .with_context(ctx)?;
                sync_dir(&target);
                Ok(())
            }
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
            Out::File { tmp, .. } => tmp.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(w) => w.flush(),
            Out::File { tmp, .. } => tmp.flush(),
        }
    }
}
