//! The configuration stages of the tool commands, `doctor` and `state`: their flags turned
//! into what the commands need, with the same rules as `run` (one owner per rule).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{DoctorArgs, StateAction, StateArgs};

/// What `checkuser doctor` checks: the target resolved as `run` resolves it (one function,
/// [`super::target::resolve`]), every part kept with the reason it could not be, so that each
/// becomes a line of the report. Nothing is refused early but a bad simulator fault flag.
pub struct DoctorConfig {
    pub resolution: super::target::Resolution,
    /// Why `run` would refuse its other flags (pace, budget), if it would.
    pub flags: Option<String>,
    /// The outputs named (`-o`, `--summary-json`, `--metrics-file`, `--changes`) and why `run`
    /// would refuse them, if it would; nothing when none is named.
    pub outputs: Option<(String, Result<(), String>)>,
}

impl DoctorConfig {
    pub fn from_args(a: &DoctorArgs) -> Result<DoctorConfig> {
        let send = &a.send;
        let flags = super::Budget::from_args(send)
            .and_then(|_| super::check_sending(send))
            .err()
            .map(|e| format!("{e:#}"));
        Ok(DoctorConfig {
            resolution: super::resolve_here(send)?,
            flags,
            outputs: outputs(a),
        })
    }
}

/// The outputs a run of these flags would write, checked by `run`'s rules (not the input nor
/// each other, in a folder that takes files); nothing is created.
fn outputs(a: &DoctorArgs) -> Option<(String, Result<(), String>)> {
    let named = [
        ("-o", a.list.output.as_deref()),
        ("--summary-json", a.list.summary_json.as_deref()),
        ("--metrics-file", a.list.metrics_file.as_deref()),
        ("--changes", a.send.changes.as_deref()),
    ];
    let shown: Vec<String> = named
        .iter()
        .filter_map(|(flag, p)| p.map(|p| format!("{flag} {}", p.display())))
        .collect();
    if shown.is_empty() {
        return None;
    }
    let checked = super::check_targets(&[], &named).and_then(|()| super::check_writable(&named));
    Some((shown.join(", "), checked.map_err(|e| format!("{e:#}"))))
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
