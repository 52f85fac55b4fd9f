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
/// Marks a job's folder once its row is written: from then on the row is only updated, never
/// made again (a job deleted meanwhile stays deleted), and the folder is never an orphan.
const RECORDED: &str = "recorded";
/// This server's name among the team's, kept in the jobs folder (`machine:random`): it stays
/// when the machine is renamed, and two machines never share it.
const SERVER_ID: &str = "server-id";

#[derive(Clone)]
pub struct Book {
    pub dir: PathBuf,
    table: Arc<dyn JobTable>,
    /// This server, as rows name the server keeping a job's files ([`SERVER_ID`]).
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
            home: server_id(dir)?,
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
        let recorded = dir.join(RECORDED);
        let written = blocking(|| match recorded.exists() {
            true => self.table.update(&row),
            false => self.table.put(&row),
        });
        // Watchers read again either way: they show what the store holds.
        self.changed();
        written?;
        if !recorded.exists() {
            std::fs::write(&recorded, b"").context("cannot mark the job recorded")?;
        }
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

    /// Job folders here that were deleted, or never recorded (an upload cut short), and
    /// untouched for an hour: left by a server that stopped before it could remove them. A
    /// folder whose job was recorded is never one, whatever the store says now (another
    /// `--state`, a database away): its files are only removed with its job.
    pub fn orphans(&self) -> Vec<PathBuf> {
        let hour = std::time::Duration::from_secs(3600);
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .filter(|p| p.join(DELETED).exists() || !p.join(RECORDED).exists())
            .filter(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour))
            })
            .collect()
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

/// This server's id, made once ([`SERVER_ID`]).
fn server_id(dir: &Path) -> Result<String> {
    let path = dir.join(SERVER_ID);
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    let machine = crate::store::postgres::machine().replace(':', "-");
    let id = format!("{machine}:{}", hex::encode(rand::random::<[u8; 8]>()));
    std::fs::write(&path, &id).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
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
    fn a_record_that_cannot_be_read_is_left_out_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let book = book(dir.path());
        let row = |id: &str, record: &str| JobRow {
            id: id.into(),
            owner: "a".into(),
            created_ms: 1,
            home: book.home.clone(),
            record: record.into(),
        };
        book.table.put(&row("aa", "{not json")).unwrap();
        let good = Job::new("bb".into(), "a".into(), "x.csv", JobSettings::default());
        book.table
            .put(&row("bb", &serde_json::to_string(&good).unwrap()))
            .unwrap();
        assert_eq!(book.load("aa").unwrap().map(|j| j.id), None);
        let ids: Vec<String> = book.all().unwrap().into_iter().map(|j| j.id).collect();
        assert_eq!(ids, ["bb"]);
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
        assert_eq!(listed[0].server(), "other-machine");
    }

    #[test]
    fn a_server_keeps_its_id_and_a_recorded_folder_is_never_an_orphan() {
        let dir = tempfile::tempdir().unwrap();
        let first = book(dir.path());
        assert_eq!(book(dir.path()).home, first.home);
        let (kept, kept_dir) = first.make().unwrap();
        first
            .save(&Job::new(kept, "a".into(), "x.csv", JobSettings::default()))
            .unwrap();
        let (_, cut_short) = first.make().unwrap();
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for d in [&kept_dir, &cut_short] {
            let f = std::fs::File::open(d).unwrap();
            f.set_modified(two_hours_ago).unwrap();
        }
        // Another store: the job's row is not there, its folder still is not an orphan.
        let other = Book::open(&first.dir, &Location::File(dir.path().join("other.sqlite")));
        assert_eq!(other.unwrap().orphans(), vec![cut_short]);
    }
}
