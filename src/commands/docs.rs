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

/// Prints the man page of checkuser, or of one of its commands, nested ones named in full
/// (`checkuser man run` is `checkuser-run(1)`, with every option of `run`; `checkuser man state
/// copy` is `checkuser-state-copy(1)`).
pub fn man(path: &[String]) -> Result<ExitCode> {
    let mut page = Cli::command();
    page.build();
    let mut names = vec!["checkuser".to_string()];
    for name in path {
        let Some(sub) = page.find_subcommand(name).cloned() else {
            let known: Vec<String> = page
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .filter(|n| n != "help")
                .collect();
            match known.is_empty() {
                true => bail!("'{}' has no commands below it", names.join(" ")),
                false => bail!(
                    "no command '{}': try one of {}",
                    [&names[1..], std::slice::from_ref(name)].concat().join(" "),
                    known.join(", ")
                ),
            }
        };
        names.push(sub.get_name().to_string());
        page = sub;
    }
    if names.len() > 1 {
        // clap wants a 'static name: one small leak per process, for one page.
        let full: &'static str = Box::leak(names.join("-").into_boxed_str());
        page = page.name(full).bin_name(full);
    }
    clap_mangen::Man::new(page).render(&mut std::io::stdout())?;
    Ok(ExitCode::Ok)
}
