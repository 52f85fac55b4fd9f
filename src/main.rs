//! The `checkuser` binary: parse flags, run the chosen command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

use checkuser::cli::{Cli, Command};
use checkuser::config::JobConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    checkuser::logging::init(&(&cli.log).into());
    let result = match &cli.command {
        Command::Validate(a) => JobConfig::from_args(&a.input, &cli.log).and_then(|cfg| {
            let summary = checkuser::validate::validate(&cfg)?;
            checkuser::report(&summary, &cfg)?;
            Ok(summary.exit_code)
        }),
        Command::Run(_) | Command::Sandbox(_) => Err(anyhow::anyhow!(
            "this command is not available in this version yet; try `checkuser validate`"
        )),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("checkuser: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
