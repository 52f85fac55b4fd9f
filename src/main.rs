//! The `checkuser` binary: parse flags, run the chosen command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

use checkuser::cli::{Cli, Command};
use checkuser::config::{JobConfig, RunConfig};

fn main() -> ExitCode {
    checkuser::signals::harden_process();
    let cli = Cli::parse();
    checkuser::logging::init(&(&cli.log).into());
    let result = match &cli.command {
        Command::Validate(a) => JobConfig::from_args(&a.input, &cli.log).and_then(|cfg| {
            let summary = checkuser::validate::validate(&cfg)?;
            checkuser::report(&summary, &cfg)?;
            Ok(summary.exit_code)
        }),
        Command::Run(a) => RunConfig::from_args(a, &cli.log).and_then(|cfg| {
            let job = cfg.job.clone();
            let summary = runtime()?.block_on(checkuser::run::run(
                cfg,
                checkuser::signals::first_interrupt(),
            ))?;
            checkuser::report(&summary, &job)?;
            Ok(summary.exit_code)
        }),
        Command::Sandbox(a) => runtime().and_then(|rt| rt.block_on(checkuser::sandbox_cmd::run(a))),
        Command::State(a) => checkuser::state_cmd::run(a),
        Command::Doctor(a) => runtime().and_then(|rt| rt.block_on(checkuser::doctor::doctor(a))),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "checkuser", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map(|_| 0)
                .map_err(Into::into)
        }
        Command::Man => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
            .map(|_| 0)
            .map_err(Into::into),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("checkuser: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
