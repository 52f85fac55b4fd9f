//! The `checkuser` binary: parse flags, run the chosen command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

use checkuser::cli::{Cli, Command};
use checkuser::config::tools::{DoctorConfig, StateConfig};
use checkuser::config::{JobConfig, RunConfig};
use checkuser::report::{eprint_quietly, Reports};
use checkuser::state_cmd;

fn main() -> ExitCode {
    checkuser::signals::harden_process();
    if let Err(e) = checkuser::cli::tidy_environment() {
        eprint_quietly(&format!("checkuser: error: {e}\n"));
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    checkuser::logging::init(&(&cli.log).into());
    let quiet = cli.log.quiet;
    let code = match &cli.command {
        Command::Validate(a) => {
            let reports = Reports::new("validate", &a.input, None, quiet);
            let last = reports.clone();
            reports.finish(
                JobConfig::from_args(&a.input, &cli.log, true).and_then(|cfg| {
                    runtime()?.block_on(async {
                        let stop = checkuser::signals::interrupts(move || last.abandoned());
                        checkuser::validate::validate_until(cfg, stop).await
                    })
                }),
            )
        }
        Command::Run(a) => {
            let reports = Reports::new("run", &a.input, a.changes.as_deref(), quiet);
            let last = reports.clone();
            reports.finish(RunConfig::from_args(a, &cli.log).and_then(|cfg| {
                runtime()?.block_on(async {
                    let stop = checkuser::signals::interrupts(move || last.abandoned());
                    checkuser::run::run(cfg, stop).await
                })
            }))
        }
        Command::Plan(a) => Reports::new("plan", &a.input, None, quiet).finish(
            RunConfig::for_plan(a, &cli.log).and_then(|cfg| checkuser::plan_cmd::plan(&cfg)),
        ),
        Command::Sandbox(a) => {
            plain(runtime().and_then(|rt| rt.block_on(checkuser::sandbox_cmd::run(a))))
        }
        Command::State(a) => plain(StateConfig::from_args(a).and_then(|c| state_cmd::run(&c))),
        Command::Doctor(a) => plain(
            DoctorConfig::from_args(a)
                .and_then(|c| runtime().and_then(|rt| rt.block_on(checkuser::doctor::doctor(&c)))),
        ),
        Command::Completions { shell } => plain(checkuser::docs::completions(*shell)),
        Command::Man { command } => plain(checkuser::docs::man(command.as_deref())),
    };
    ExitCode::from(code)
}

/// A command with no summary: its exit code, or 2 after printing the error.
fn plain(result: anyhow::Result<i32>) -> u8 {
    match result {
        Ok(code) => code as u8,
        Err(e) if checkuser::report::is_broken_pipe(&e) => 141,
        Err(e) => {
            eprint_quietly(&format!("checkuser: error: {e:#}\n"));
            2
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
