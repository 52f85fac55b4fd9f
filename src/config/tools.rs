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
    pub state: Option<PathBuf>,
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
            state: super::state_path(a.state.as_deref(), t.sandbox),
        })
    }
}

/// What `checkuser state` does, on which store.
pub struct StateConfig {
    pub path: PathBuf,
    pub job: StateJob,
}

pub enum StateJob {
    Stats,
    /// Delete the answers older than this.
    Prune(Duration),
    /// Write every answer as CSV; `None` is standard output.
    Export(Option<PathBuf>),
}

impl StateConfig {
    pub fn from_args(a: &StateArgs) -> Result<StateConfig> {
        let path = super::state_path(a.state.as_deref(), a.sandbox)
            .context("cannot find the state store: pass --state PATH")?;
        if !path.exists() {
            bail!(
                "there is no state store at {} yet (a run{} creates it)",
                path.display(),
                if a.sandbox { " --sandbox" } else { "" }
            );
        }
        let job = match &a.action {
            StateAction::Stats => StateJob::Stats,
            StateAction::Prune { older_than } => StateJob::Prune(*older_than),
            StateAction::Export { output } => {
                // The export must not replace the store it reads, nor its journal files.
                let [wal, shm] = crate::store::location::companions(&path);
                super::check_targets(
                    &[
                        ("the state store", path.as_path()),
                        ("the state store's journal", wal.as_path()),
                        ("the state store's shared memory", shm.as_path()),
                    ],
                    &[("-o", Some(output.as_path()))],
                )?;
                super::check_writable(&[("-o", Some(output.as_path()))])?;
                StateJob::Export((output.as_os_str() != "-").then(|| output.clone()))
            }
        };
        Ok(StateConfig { path, job })
    }
}
