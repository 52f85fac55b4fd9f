//! The web page's jobs, kept in the store beside the answers (a `jobs` table in the SQLite
//! file and in the team's PostgreSQL database): so that a restarted server finds its jobs,
//! and every server of a team sees everyone's list. A row is a job's record as `serve` writes
//! it (JSON), with what the store itself needs: its owner, when it was made, and which server
//! keeps its files (`home`). What a record means is `serve`'s business; what is kept, where,
//! and in which order it is read back is this seam's, once for both backends.

use anyhow::{Context, Result};

use super::location::Location;

/// One job as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub owner: String,
    /// When it was made, in milliseconds since 1970: lists are newest first.
    pub created_ms: i64,
    /// The server that keeps the job's files (`machine:id`).
    pub home: String,
    /// The record, JSON.
    pub record: String,
}

/// The jobs table. Every call is one statement (one round trip for PostgreSQL); calls block,
/// so async code makes them off its workers.
pub trait JobTable: Send + Sync {
    /// Writes a job's row (made, or replaced whole).
    fn put(&self, row: &JobRow) -> Result<()>;
    /// Rewrites a job's row if it is still there (a job deleted meanwhile stays deleted).
    fn update(&self, row: &JobRow) -> Result<()>;
    fn get(&self, id: &str) -> Result<Option<JobRow>>;
    /// Every job, newest first (then by id, so that the order is the same everywhere).
    fn list(&self) -> Result<Vec<JobRow>>;
    fn delete(&self, id: &str) -> Result<()>;
}

/// Opens the jobs table of the store at `location` (bringing its schema up to date).
pub fn open_jobs(location: &Location) -> Result<Box<dyn JobTable>> {
    match location {
        Location::File(path) => Ok(Box::new(super::sqlite::SqliteJobs::open(path)?)),
        Location::Postgres(target) => Ok(Box::new(super::postgres::PgJobs::open(target)?)),
    }
}

/// The statements, the same text for both backends (`$n` reads as a parameter in both); the
/// columns in this order everywhere.
pub const PUT: &str = "INSERT INTO jobs (id, owner, created_ms, home, record)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, created_ms = excluded.created_ms,
    home = excluded.home, record = excluded.record";
pub const UPDATE: &str = "UPDATE jobs SET owner = $2, created_ms = $3, home = $4, record = $5
    WHERE id = $1";
pub const GET: &str = "SELECT id, owner, created_ms, home, record FROM jobs WHERE id = $1";
pub const LIST: &str =
    "SELECT id, owner, created_ms, home, record FROM jobs ORDER BY created_ms DESC, id DESC";
pub const DELETE: &str = "DELETE FROM jobs WHERE id = $1";

/// What a backend failing says.
pub fn failed<T>(r: Result<T>, what: &str) -> Result<T> {
    r.with_context(|| format!("cannot {what} the jobs in the state store"))
}

/// The behaviour every backend must show; each backend's tests call it.
pub fn conformance(table: &dyn JobTable) {
    let row = |id: &str, ms: i64| JobRow {
        id: id.into(),
        owner: "alice".into(),
        created_ms: ms,
        home: "here:/jobs".into(),
        record: format!("{{\"id\":\"{id}\",\"name\":\"列表 \\\"1\\\".csv\"}}"),
    };
    assert_eq!(table.get("a1").unwrap(), None);
    table.put(&row("a1", 10)).unwrap();
    table.put(&row("b2", 30)).unwrap();
    table.put(&row("c3", 20)).unwrap();
    assert_eq!(table.get("a1").unwrap(), Some(row("a1", 10)));
    let mut changed = row("a1", 10);
    changed.record = "{\"status\":\"done\"}".into();
    table.update(&changed).unwrap();
    assert_eq!(table.get("a1").unwrap(), Some(changed));
    let ids: Vec<String> = table.list().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["b2", "c3", "a1"], "newest first");
    table.delete("b2").unwrap();
    table.delete("b2").unwrap();
    assert_eq!(table.get("b2").unwrap(), None);
    table.update(&row("b2", 30)).unwrap();
    assert_eq!(table.get("b2").unwrap(), None, "a deleted job came back");
    assert_eq!(table.list().unwrap().len(), 2);
}
