//! `checkuser completions` and `checkuser man`: shell completions and man pages, made from the
//! same clap definition as `--help`.

use crate::model::ExitCode;
use anyhow::{bail, Result};
use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for a shell.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "checkuser", &mut script);
    std::io::Write::write_all(&mut std::io::stdout(), &script)?;
    Ok(ExitCode::Ok)
}

/// Prints the man page of checkuser, or of one of its commands (`checkuser man run` is
/// `checkuser-run(1)`, with every option of `run`).
pub fn man(command: Option<&str>) -> Result<ExitCode> {
    let mut top = Cli::command();
    top.build();
    let page = match command {
        None => top,
        Some(name) => {
            let Some(sub) = top.find_subcommand(name).cloned() else {
                let names: Vec<String> = top
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                bail!("no command '{name}': try one of {}", names.join(", "));
            };
            // clap wants a 'static name: one small leak per process, for one page.
            let full: &'static str =
                Box::leak(format!("checkuser-{}", sub.get_name()).into_boxed_str());
            sub.name(full).bin_name(full)
        }
    };
    clap_mangen::Man::new(page).render(&mut std::io::stdout())?;
    Ok(ExitCode::Ok)
}
