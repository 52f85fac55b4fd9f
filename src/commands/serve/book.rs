//! The jobs on record: each job's record is a row of the store's jobs table
//! ([`crate::store::jobs`]: the SQLite file, or the team's database, where every server sees
//! everyone's list), and its files a folder of its own here. A server keeps, runs and changes
//! the jobs whose files it holds (their `home` is this server); the others it lists, and may
//! delete (their server then clears their folder as an orphan).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::jobs::Job;
use crate::store::jobs::{JobRow, JobTable};
use crate::store::Location;

/// Marks a job's folder as deleted while its run stops (nothing records it again).
const DELETED: &str = "deleted";

#[derive(Clone)]
pub struct Book {
    pub dir: PathBuf,
    table: Arc<dyn JobTable>,
    /// This server, as rows name the server keeping a job's files: `machine:folder`.
    pub home: String,
    /// Bumped at each change made here: a watcher reads nothing while it stays the same.
    changes: Arc<AtomicU64>,
}

/// Runs a store call off the async workers (it blocks: a database round trip, SQLite's busy
/// wait); as it is elsewhere.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Book {
    /// The jobs of the store at `state`, their files under `dir`.
    pub fn open(dir: &Path, state: &Location) -> Result<Book> {
        Ok(Book {
            dir: dir.to_path_buf(),
            table: Arc::from(crate::store::jobs::open_jobs(state)?),
            home: format!("{}:{}", crate::store::postgres::machine(), dir.display()),
            changes: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A job's folder; ids are made here (hex), never taken from a request as a path
    /// unless they are one.
    pub fn folder(&self, id: &str) -> Option<PathBuf> {
        let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| self.dir.join(id))
    }

    /// Whether this server keeps the job's files (and so runs and changes it).
    pub fn keeps(&self, job: &Job) -> bool {
        job.home == self.home
    }

    /// A new job's id and folder.
    pub fn make(&self) -> Result<(String, PathBuf)> {
        let id = hex::encode(rand::random::<[u8; 12]>());
        let dir = self.dir.join(&id);
        use std::os::unix::fs::DirBuilderExt;
        // Owner-only, whatever the umask: it holds a lead list.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot make the job folder {}", dir.display()))?;
        Ok((id, dir))
    }

    pub fn load(&self, id: &str) -> Result<Option<Job>> {
        if self.folder(id).is_none() {
            return Ok(None);
        }
        let row = blocking(|| self.table.get(id))?;
        Ok(row.and_then(read))
    }

    /// Writes a job's record, as kept here (a job deleted meanwhile is not written again).
    pub fn save(&self, job: &Job) -> Result<()> {
        let dir = self
            .folder(&job.id)
            .context("internal error: a job id is hex")?;
        if !dir.is_dir() || dir.join(DELETED).exists() {
            return Ok(());
        }
        let row = JobRow {
            id: job.id.clone(),
            owner: job.owner.clone(),
            created_ms: job.created_ms,
            home: self.home.clone(),
            record: serde_json::to_string(job)?,
        };
        blocking(|| self.table.put(&row))?;
        self.changed();
        Ok(())
    }

    /// Every job on record, newest first.
    pub fn all(&self) -> Result<Vec<Job>> {
        let rows = blocking(|| self.table.list())?;
        Ok(rows.into_iter().filter_map(read).collect())
    }

    /// How many changes were made here: it moves whenever a job of this server changes.
    pub fn version(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Folders here with no record (a job deleted while it ran or from another server, an
    /// upload cut short) untouched for an hour: left by a server that stopped before it could
    /// remove them.
    pub fn orphans(&self) -> Result<Vec<PathBuf>> {
        let kept: std::collections::HashSet<String> = self
            .all()?
            .into_iter()
            .filter(|j| self.keeps(j))
            .map(|j| j.id)
            .collect();
        let hour = std::time::Duration::from_secs(3600);
        Ok(std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !kept.contains(&*e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .filter(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour))
            })
            .collect())
    }

    /// Takes a job off the record at once (its folder goes when its run has stopped).
    pub fn forget(&self, id: &str) -> Result<()> {
        if let Some(dir) = self.folder(id) {
            let _ = std::fs::write(dir.join(DELETED), b"");
            blocking(|| self.table.delete(id))?;
            self.changed();
        }
        Ok(())
    }

    /// Removes a job: its record and its folder.
    pub fn remove(&self, id: &str) -> Result<()> {
        if let Some(dir) = self.folder(id) {
            if dir.is_dir() {
                let _ = std::fs::write(dir.join(DELETED), b"");
            }
            blocking(|| self.table.delete(id))?;
            let _ = std::fs::remove_dir_all(dir);
            self.changed();
        }
        Ok(())
    }
}

/// A row read back as a job (a record this checkuser cannot read is left out, and said).
fn read(row: JobRow) -> Option<Job> {
    match serde_json::from_str::<Job>(&row.record) {
        Ok(mut job) => {
            job.home = row.home;
            Some(job)
        }
        Err(e) => {
            tracing::warn!("job {}: its record cannot be read ({e}): left out", row.id);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::serve::JobSettings;

    fn book(dir: &Path) -> Book {
        let state = Location::File(dir.join("state.sqlite"));
        let jobs = dir.join("jobs");
        std::fs::create_dir_all(&jobs).unwrap();
        Book::open(&jobs, &state).unwrap()
    }

    #[test]
    fn an_id_is_never_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let book = book(dir.path());
        assert_eq!(book.folder("../x"), None);
        assert_eq!(book.load("../x").unwrap().map(|j| j.id), None);
        assert_eq!(book.folder("abc123").unwrap(), book.dir.join("abc123"));
    }

    #[test]
    fn a_job_is_kept_in_the_store_and_seen_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = book(dir.path());
        let (id, _) = first.make().unwrap();
        let job = Job::new(
            id.clone(),
            "alice".into(),
            "leads.csv",
            JobSettings::default(),
        );
        first.save(&job).unwrap();
        assert!(first.version() > 0);
        let again = book(dir.path());
        let seen = again.load(&id).unwrap().unwrap();
        assert_eq!(
            (seen.owner.as_str(), seen.name.as_str()),
            ("alice", "leads.csv")
        );
        assert!(again.keeps(&seen));
        again.forget(&id).unwrap();
        assert!(again.load(&id).unwrap().is_none());
        first.save(&job).unwrap();
        assert!(again.all().unwrap().is_empty(), "a deleted job came back");
    }

    #[test]
    fn another_servers_jobs_are_listed_but_not_kept_here() {
        let dir = tempfile::tempdir().unwrap();
        let here = book(dir.path());
        let mut there = here.clone();
        there.dir = dir.path().join("elsewhere");
        there.home = "other-machine:/jobs".into();
        std::fs::create_dir_all(&there.dir).unwrap();
        let (id, _) = there.make().unwrap();
        there
            .save(&Job::new(
                id.clone(),
                "bob".into(),
                "x.csv",
                JobSettings::default(),
            ))
            .unwrap();
        let listed = here.all().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!here.keeps(&listed[0]));
        assert!(here.orphans().unwrap().is_empty());
    }
}
