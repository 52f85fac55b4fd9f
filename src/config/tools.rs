//! The configuration stages of the tool commands, `doctor` and `state`: their flags turned
//! into what the commands need, with the same rules as `run` (one owner per rule).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::api::ApiVersion;
use crate::cli::{DoctorArgs, StateAction, StateArgs};
use crate::sandbox::Faults;

/// What `checkuser doctor` checks. Nothing here is refused early: a bad endpoint or
/// certificate file becomes a FAIL line of the report, like everything else doctor finds.
pub struct DoctorConfig {
    /// The built-in simulator, with these faults, instead of an endpoint.
    pub sandbox: Option<Faults>,
    /// The endpoint as `run` would accept it, or why `run` would refuse it.
    pub endpoint: Result<reqwest::Url, String>,
    pub token_file: Option<PathBuf>,
    pub partner_id: Option<String>,
    /// `--insecure-http`: a proxy may carry a plain-http endpoint's requests.
    pub insecure_http: bool,
    pub api: ApiVersion,
    /// `--ca-cert` as `run` would load it, or why it cannot be.
    pub ca_certs: Result<Vec<reqwest::Certificate>, String>,
    /// The state store (the default path when not given); `None` when there is no home.
    pub state: Option<crate::store::Location>,
}

impl DoctorConfig {
    pub fn from_args(a: &DoctorArgs) -> Result<DoctorConfig> {
        let t = &a.target;
        Ok(DoctorConfig {
            sandbox: t.sandbox.then(|| super::faults(&a.faults)).transpose()?,
            endpoint: super::remote_endpoint(t).map_err(|e| format!("{e:#}")),
            token_file: t.token_file.clone(),
            partner_id: t.partner_id.clone(),
            insecure_http: t.insecure_http,
            api: t.api,
            ca_certs: super::ca_certs(t.ca_cert.as_deref()).map_err(|e| format!("{e:#}")),
            state: match &a.state {
                Some(s) => Some(crate::store::Location::parse(s.as_os_str())?),
                None => super::state_path(None, t.sandbox).map(crate::store::Location::File),
            },
        })
    }
}

/// What `checkuser state` does, on which store.
pub struct StateConfig {
    pub location: crate::store::Location,
    pub job: StateJob,
}

pub enum StateJob {
    Stats,
    /// Delete the answers older than this; `wait_lock`: wait for runs in progress instead of
    /// leaving their answers.
    Prune {
        older_than: Duration,
        wait_lock: bool,
    },
    /// Write every answer as CSV; `output` `None` is standard output; `bom` as asked
    /// (`--bom`, `--no-bom`).
    Export {
        output: Option<PathBuf>,
        bom: Option<bool>,
    },
    /// Copy every answer into another store (SQLite or PostgreSQL, either way).
    Copy {
        from: crate::store::Location,
        to: crate::store::Location,
    },
}

impl StateConfig {
    pub fn from_args(a: &StateArgs) -> Result<StateConfig> {
        use crate::store::Location;
        if let StateAction::Copy { from, to } = &a.action {
            let from = Location::parse(from.as_os_str())?;
            let to = Location::parse(to.as_os_str())?;
            if from == to {
                bail!("--from and --to name the same store");
            }
            if let Location::File(f) = &from {
                if !f.exists() {
                    bail!("there is no state store at {} to copy", f.display());
                }
            }
            return Ok(StateConfig {
                location: from.clone(),
                job: StateJob::Copy { from, to },
            });
        }
        let location = match &a.state {
            Some(p) => Location::parse(p.as_os_str())?,
            None => Location::File(
                super::state_path(None, a.sandbox)
                    .context("cannot find the state store: pass --state PATH")?,
            ),
        };
        // A file store must exist; a database is made by the first run that reaches it.
        let file = match &location {
            Location::File(path) if !path.exists() => bail!(
                "there is no state store at {} yet (a run{} creates it)",
                path.display(),
                if a.sandbox { " --sandbox" } else { "" }
            ),
            Location::File(path) => Some(path.clone()),
            Location::Postgres(_) => None,
        };
        let job = match &a.action {
            StateAction::Stats => StateJob::Stats,
            StateAction::Prune {
                older_than,
                wait_lock,
            } => StateJob::Prune {
                older_than: *older_than,
                wait_lock: *wait_lock,
            },
            StateAction::Export {
                output,
                bom,
                no_bom,
            } => {
                // The export must not replace the store it reads, nor its journal files.
                if let Some(path) = &file {
                    let [wal, shm] = crate::store::location::companions(path);
                    super::check_targets(
                        &[
                            ("the state store", path.as_path()),
                            ("the state store's journal", wal.as_path()),
                            ("the state store's shared memory", shm.as_path()),
                        ],
                        &[("-o", Some(output.as_path()))],
                    )?;
                }
                super::check_writable(&[("-o", Some(output.as_path()))])?;
                export(output, *bom, *no_bom)
            }
            StateAction::Copy { .. } => unreachable!("handled above"),
        };
        Ok(StateConfig { location, job })
    }
}

fn export(output: &std::path::Path, bom: bool, no_bom: bool) -> StateJob {
    StateJob::Export {
        output: (output.as_os_str() != "-").then(|| output.to_path_buf()),
        bom: super::bom_asked(bom, no_bom),
    }
}
