//! A job: an uploaded list, its mapping and plan, and the run that checks it. Its record is
//! kept in the store ([`super::book`]); its files in a folder of its own under the jobs
//! folder (`jobs/ID/`, owner-only): the upload under a name of our choosing (never the
//! uploaded file's name) and the outputs.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::serve::{JobFiles, JobSettings, ServeConfig};
use crate::config::PlanConfig;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Uploaded and planned; waits for Start.
    Planned,
    /// Started; waits for its turn.
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl Status {
    /// Still to run or running: it counts against `--max-jobs`, and a restart goes on with it.
    pub fn active(self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }

    pub fn finished(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Cancelled)
    }
}

/// One check of the mapping in use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mapped {
    #[serde(rename = "type")]
    pub kind: String,
    pub column: String,
}

/// A job's record, as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub owner: String,
    /// The uploaded file's name, shown and used for the download's name only.
    pub name: String,
    pub created: String,
    /// When it was made, in milliseconds since 1970 (lists are newest first).
    pub created_ms: i64,
    pub status: Status,
    /// `input.csv` or `input.xlsx`…: the upload as kept.
    pub input: String,
    pub columns: Vec<String>,
    pub checks: Vec<Mapped>,
    pub settings: JobSettings,
    pub notes: Vec<String>,
    pub plan: Option<serde_json::Value>,
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
    /// The last progress seen, for a job no longer running.
    #[serde(default)]
    pub progress: Option<serde_json::Value>,
    /// The server keeping its files, as read back from the store (not part of the record).
    #[serde(skip)]
    pub home: String,
}

/// The extensions a kept upload may have; anything else is kept as `.csv` (the reader judges
/// a file by its content anyway).
const KEPT: [&str; 7] = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods"];

impl Job {
    pub fn new(id: String, owner: String, name: &str, settings: JobSettings) -> Job {
        let ext = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .filter(|e| KEPT.contains(&e.as_str()))
            .unwrap_or_else(|| "csv".into());
        let now = chrono::Utc::now();
        Job {
            id,
            owner,
            name: shown_name(name),
            created: crate::model::rfc3339(now),
            created_ms: now.timestamp_millis(),
            status: Status::Planned,
            input: format!("input.{ext}"),
            columns: Vec::new(),
            checks: Vec::new(),
            settings,
            notes: Vec::new(),
            plan: None,
            summary: None,
            error: None,
            progress: None,
            home: String::new(),
        }
    }

    /// The machine keeping the job's files, as people name it.
    pub fn server(&self) -> &str {
        self.home.split(':').next().unwrap_or_default()
    }

    /// The job's files in `dir` (its own folder).
    pub fn files(&self, dir: &Path) -> JobFiles {
        let (ext, other) = match crate::config::serve::is_workbook(&dir.join(&self.input)) {
            true => ("xlsx", "csv"),
            false => ("csv", "xlsx"),
        };
        JobFiles {
            input: dir.join(&self.input),
            output: dir.join(format!("result.{ext}")),
            twin: dir.join(format!("result.{other}")),
            changes: dir.join("changes.csv"),
        }
    }

    /// A download (`result` or `changes`, in `format` or the upload's kind): the file, the
    /// name it is offered under (`<uploaded stem>.checked.csv`, for example) and its kind.
    /// `Err((true, why))` for a request that names a known download badly, `(false, why)`
    /// for one that names none.
    pub fn download(
        &self,
        dir: &Path,
        what: &str,
        format: Option<&str>,
    ) -> Result<(PathBuf, String, String), (bool, String)> {
        let (file, label) = match what {
            "result" => ("result", "checked"),
            "changes" => ("changes", "changes"),
            _ => return Err((false, "downloads are result and changes".into())),
        };
        let files = self.files(dir);
        let natural = files.output.extension().and_then(|e| e.to_str());
        let ext = match format.or(natural).unwrap_or("csv") {
            f @ ("csv" | "xlsx") => f,
            other => return Err((true, format!("format={other}: csv or xlsx"))),
        };
        let stem = Path::new(&self.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "list".into());
        let path = dir.join(format!("{file}.{ext}"));
        Ok((path, format!("{stem}.{label}.{ext}"), ext.to_string()))
    }

    /// A message as its reader knows the files: the list by the name it was uploaded under,
    /// the job's other files by their own names, never the server's folders.
    pub fn scrub(&self, dir: &Path, text: &str) -> String {
        let input = dir.join(&self.input).display().to_string();
        let folder = format!("{}/", dir.display());
        text.replace(&input, &self.name).replace(&folder, "")
    }

    /// Reads the upload's columns, guesses the checks when none were asked for, and plans:
    /// what the store answers and what needs a request. A list that cannot be read, or a
    /// mapping that does not fit it, leaves the job `failed` with the reader's words.
    pub fn prepare(&mut self, dir: &Path, serve: &ServeConfig) {
        self.error = None;
        self.plan = None;
        self.notes.clear();
        if let Err(e) = self.try_prepare(dir, serve) {
            self.status = Status::Failed;
            self.error = Some(self.scrub(dir, &format!("{e:#}")));
        } else {
            self.status = Status::Planned;
        }
    }

    fn try_prepare(&mut self, dir: &Path, serve: &ServeConfig) -> Result<()> {
        let files = self.files(dir);
        let args = serve.job_args(&files, &self.settings)?;
        let mut cfg = PlanConfig::from_args(&args, serve.log())?;
        let snapshot = crate::commands::job::Snapshot::take(&cfg.job)?;
        let mut reader = snapshot.records(&cfg.job)?;
        self.columns = reader.header.clone();
        if cfg.job.specs.is_empty() {
            let rules = cfg.job.rules;
            if crate::input::Layout::resolve(&reader.header, &[], rules).is_ok() {
                self.notes.push(
                    "each row says what it checks (the searchType and searchKey columns)".into(),
                );
            } else {
                let rows = crate::commands::suggest::sample(&mut reader);
                cfg.job.specs = crate::commands::suggest::guess(&reader.header, &rows, &rules);
                self.notes.push(match cfg.job.specs.is_empty() {
                    true => "no column looks like emails, mobile numbers or account names: \
                             choose the columns to check"
                        .into(),
                    false => "guessed from the first rows' values and the column names: \
                              change it if it is wrong"
                        .into(),
                });
                self.settings.checks = cfg
                    .job
                    .specs
                    .iter()
                    .map(|s| format!("{}={}", s.kind, s.column))
                    .collect();
            }
        }
        self.checks = cfg
            .job
            .specs
            .iter()
            .map(|s| Mapped {
                kind: s.kind.to_string(),
                column: s.column.clone(),
            })
            .collect();
        let summary = crate::commands::plan::plan(&cfg)?;
        self.plan = Some(plan_json(&summary));
        Ok(())
    }
}

/// The plan as the page shows it.
fn plan_json(s: &crate::output::Summary) -> serde_json::Value {
    use crate::model::ResultKind;
    let p = s.plan.clone().unwrap_or_default();
    serde_json::json!({
        "rows": s.counts.rows,
        "checks": s.counts.checks,
        "invalid": s.counts.of(ResultKind::Invalid),
        "from_store": p.fresh,
        "to_ask": p.requests_needed,
        "seconds": p.seconds_needed,
        "would_leave_pending": p.would_leave_pending,
        "rate": p.rate,
    })
}

/// An uploaded file's name as shown: its last path part, control characters dropped, at most
/// 120 characters.
pub fn shown_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    match clean.trim() {
        "" | "." | ".." => "list.csv".into(),
        t => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uploaded_name_is_never_a_path() {
        assert_eq!(shown_name("../../etc/passwd"), "passwd");
        assert_eq!(shown_name("C:\\Users\\x\\leads.csv"), "leads.csv");
        assert_eq!(shown_name(".."), "list.csv");
        assert_eq!(shown_name("a\u{0}b\nc.csv"), "abc.csv");
        let job = Job::new("ab".into(), "u".into(), "../x.XLSX", JobSettings::default());
        assert_eq!(job.input, "input.xlsx");
        let job = Job::new("ab".into(), "u".into(), "evil.sh", JobSettings::default());
        assert_eq!(job.input, "input.csv");
    }
}
