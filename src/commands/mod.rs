//! The commands a user types, one module each, all of one shape: a validated configuration
//! (and, for the long ones, a stop token) in, an outcome out; [`report`] turns the outcome into
//! what people and monitoring see and into the one [`ExitCode`]. Below the commands sit the
//! [engine](crate::engine) and the layers it uses; nothing below imports this module.

pub mod docs;
pub mod doctor;
pub mod job;
pub mod plan;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod signals;
pub mod state;
pub mod suggest;
pub mod validate;

use crate::cli::{Cli, Command};
use crate::config::tools::{DoctorConfig, StateConfig};
use crate::config::{JobConfig, PlanConfig, RunConfig};
pub use crate::model::ExitCode;
use report::{plain, Reports};

/// Runs the command the flags name and says how it ended.
pub fn execute(cli: &Cli) -> ExitCode {
    let quiet = cli.log.quiet;
    if matches!(
        cli.command,
        Command::State(_) | Command::Doctor(_) | Command::Completions { .. } | Command::Man { .. }
    ) {
        quiet_on_a_closed_pipe();
    }
    match &cli.command {
        Command::Validate(a) => {
            let reports = Reports::new("validate", &a.input, None, quiet);
            let last = reports.clone();
            reports.finish(JobConfig::for_validate(&a.input, &cli.log).and_then(|cfg| {
                runtime()?.block_on(async {
                    let stop = signals::interrupts(move || last.abandoned());
                    validate::validate_until(cfg, stop).await
                })
            }))
        }
        Command::Run(a) => {
            let reports = Reports::new("run", &a.input, a.send.changes.as_deref(), quiet);
            let last = reports.clone();
            let cfg = RunConfig::from_args(a, &cli.log);
            // The callback is told how the run ended, a failure included.
            let notify = cfg.as_ref().ok().and_then(|c| c.notify.clone());
            let result = cfg.and_then(|cfg| {
                runtime()?.block_on(async {
                    let stop = signals::interrupts(move || last.abandoned());
                    run::run(cfg, stop).await
                })
            });
            reports.finish_then(result, |summary| tell(notify.as_ref(), summary))
        }
        Command::Plan(a) => Reports::new("plan", &a.input, None, quiet)
            .finish(PlanConfig::from_args(a, &cli.log).and_then(|cfg| plan::plan(&cfg))),
        Command::Sandbox(a) => plain(runtime().and_then(|rt| rt.block_on(sandbox::run(a)))),
        Command::State(a) => plain(StateConfig::from_args(a).and_then(|c| state::run(&c))),
        Command::Doctor(a) => plain(
            DoctorConfig::from_args(a)
                .and_then(|c| runtime().and_then(|rt| rt.block_on(doctor::doctor(&c)))),
        ),
        Command::Serve(a) => plain(serve::command(a, &cli.log)),
        Command::Completions { shell } => plain(docs::completions(*shell)),
        Command::Man { command } => plain(docs::man(command)),
    }
}

/// POSTs the summary to `--notify-url`, if given (never a reason to change the exit code).
fn tell(notify: Option<&crate::api::notify::Notify>, summary: &crate::output::Summary) {
    let Some(notify) = notify else { return };
    let sent = summary
        .json()
        .and_then(|j| Ok(serde_json::to_vec(&j)?))
        .and_then(|body| {
            runtime()?.block_on(notify.send(body));
            Ok(())
        });
    if let Err(e) = sent {
        tracing::error!("--notify-url: {e:#}");
    }
}

/// Commands that only print (no output file, no reports) end as other tools do when their
/// reader goes away (`| head -1`): by SIGPIPE, quietly, instead of a panic in `println!`.
fn quiet_on_a_closed_pipe() {
    // SAFETY: signal() changes only this process's disposition of SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
