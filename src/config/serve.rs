//! `serve`'s flags made into a configuration: where to listen and who may come in, the limits
//! of jobs, and the `run` flags every job starts from. A job's own configuration is made by
//! the same code as `run`'s ([`ServeConfig::job_args`] then [`RunConfig::from_args`]), so that
//! a job is a run of an uploaded file and nothing else.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::RunConfig;
use crate::cli::{InputArgs, ListArgs, LogArgs, RunArgs, SendArgs, ServeArgs};
use crate::input::CheckSpec;

/// What `serve` runs with.
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// `--users`: named users log in; `None` (loopback only): one local user and a token.
    pub users: Option<PathBuf>,
    pub max_upload: u64,
    pub max_jobs: usize,
    pub keep_jobs: Duration,
    /// Where jobs' files live (owner-only).
    pub jobs_dir: PathBuf,
    list: ListArgs,
    send: SendArgs,
    log: LogArgs,
    /// The server's own run settings (the target, store, pace and callback all its jobs
    /// share), resolved once at start so that a bad flag stops the server, not each job.
    pub base: RunConfig,
}

/// What a person chooses for one job on the page (or an integration in the API).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobSettings {
    /// `--check TYPE=COLUMN`, written as on the command line; none: the list's own
    /// searchType and searchKey columns.
    #[serde(default)]
    pub checks: Vec<String>,
    #[serde(default)]
    pub default_country: Option<String>,
    #[serde(default)]
    pub header_row: Option<u64>,
    #[serde(default)]
    pub sheet: Option<String>,
}

/// A job's files, all under its own folder.
#[derive(Debug, Clone)]
pub struct JobFiles {
    pub input: PathBuf,
    /// The result in the input's kind (a workbook for a workbook, CSV otherwise)…
    pub output: PathBuf,
    /// …and in the other one, for a download in either.
    pub twin: PathBuf,
    pub changes: PathBuf,
}

impl ServeConfig {
    pub fn from_args(a: &ServeArgs, log: &LogArgs) -> Result<ServeConfig> {
        refuse_outputs(a)?;
        let listen = listen_address(&a.listen)?;
        if !listen.ip().is_loopback() && a.users.is_none() {
            bail!(
                "--listen {listen} is reachable from other machines: pass --users FILE (made \
                 with checkuser serve --add-user NAME --users FILE), or listen on 127.0.0.1"
            );
        }
        let jobs_dir = crate::store::location::jobs_path()
            .context("cannot find the state folder for jobs: set XDG_STATE_HOME or HOME")?;
        crate::store::location::private_dir(&jobs_dir)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&jobs_dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} owner-only", jobs_dir.display()))?;
        }
        let probe = JobFiles {
            input: jobs_dir.join("server.csv"),
            output: jobs_dir.join("server.checked.csv"),
            twin: jobs_dir.join("server.checked.xlsx"),
            changes: jobs_dir.join("server.changes.csv"),
        };
        let base = job_args(&a.list, &a.send, &probe, &JobSettings::default())?;
        Ok(ServeConfig {
            listen,
            users: a.users.clone(),
            max_upload: parse_size(&a.max_upload).context("--max-upload")?,
            max_jobs: a.max_jobs.max(1),
            keep_jobs: a.keep_jobs,
            jobs_dir,
            list: a.list.clone(),
            send: a.send.clone(),
            log: quiet_jobs(log),
            base: RunConfig::from_args(&base, log)?,
        })
    }

    /// The `run` flags of one job: the server's, with the job's files and settings.
    pub fn job_args(&self, files: &JobFiles, s: &JobSettings) -> Result<RunArgs> {
        job_args(&self.list, &self.send, files, s)
    }

    /// How jobs log and show progress (never a bar: the page shows it).
    pub fn log(&self) -> &LogArgs {
        &self.log
    }
}

fn job_args(
    list: &ListArgs,
    send: &SendArgs,
    files: &JobFiles,
    s: &JobSettings,
) -> Result<RunArgs> {
    if let Some(n) = s.header_row.filter(|n| !(1..=1_048_576).contains(n)) {
        bail!("header row {n} is not a row number (1 to 1048576)");
    }
    {
        let checks = s
            .checks
            .iter()
            .map(|c| c.parse::<CheckSpec>().map_err(|e| anyhow!("check {e}")))
            .collect::<Result<Vec<_>>>()?;
        let list = ListArgs {
            checks,
            sheet: s.sheet.clone().filter(|s| !s.trim().is_empty()),
            header_row: s.header_row,
            default_country: s
                .default_country
                .clone()
                .filter(|c| !c.trim().is_empty())
                .or_else(|| list.default_country.clone()),
            output: Some(files.output.clone()),
            ..list.clone()
        };
        Ok(RunArgs {
            input: InputArgs {
                input: files.input.clone(),
                list,
            },
            send: SendArgs {
                changes: Some(files.changes.clone()),
                ..send.clone()
            },
        })
    }
}

/// Jobs log like the server, but never draw a progress bar: the page shows their progress.
fn quiet_jobs(log: &LogArgs) -> LogArgs {
    LogArgs {
        progress: crate::output::progress::ProgressMode::Never,
        ..log.clone()
    }
}

/// `-o`, `--summary-json`, `--metrics-file` and `--changes` name one run's files: a server's
/// jobs each have their own, under the state folder.
fn refuse_outputs(a: &ServeArgs) -> Result<()> {
    let given = [
        ("-o", a.list.output.is_some()),
        ("--summary-json", a.list.summary_json.is_some()),
        ("--metrics-file", a.list.metrics_file.is_some()),
        ("--changes", a.send.changes.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        bail!(
            "{flag} names one run's file: serve keeps each job's files under the state folder \
             and offers them for download; leave {flag} out"
        );
    }
    Ok(())
}

/// `--listen ADDR:PORT`; a name (localhost) is looked up.
fn listen_address(text: &str) -> Result<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            anyhow!("--listen {text} is not ADDR:PORT (for example 127.0.0.1:8080 or 0.0.0.0:8443)")
        })
}

/// `50MB`, `200KB`, `1GB`, `1048576` (bytes); units are powers of 1000, KiB/MiB/GiB of 1024.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("{text} is not a size (for example 50MB)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => bail!("{text}: unknown unit {other:?} (use KB, MB or GB)"),
    };
    let bytes = n * factor;
    if !(1.0..=1e12).contains(&bytes) {
        bail!("{text} is not between 1 byte and 1 TB");
    }
    Ok(bytes as u64)
}

/// Whether a job's input is a workbook (its result is then one too).
pub fn is_workbook(path: &Path) -> bool {
    crate::input::workbook::is_workbook(path)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("50MB").unwrap(), 50_000_000);
        assert_eq!(parse_size("200 kb").unwrap(), 200_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1_048_576);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("fifty").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("5XB").is_err());
    }
}
