//! The `checkuser` binary: parse flags, run the chosen command, map the outcome to an exit code.

use checkuser::commands::{report::eprint_quietly, ExitCode};

fn main() -> std::process::ExitCode {
    checkuser::commands::signals::harden_process();
    if let Err(e) = checkuser::cli::tidy_environment() {
        eprint_quietly(&format!("checkuser: error: {e}\n"));
        return ExitCode::Failed.into();
    }
    let cli = checkuser::cli::parse();
    checkuser::logging::init(&(&cli.log).into());
    checkuser::commands::execute(&cli).into()
}
