//! Shell completions and man pages, generated from the programs' own clap
//! definitions, so they say what `--help` says and cannot fall behind it.

use std::io::Write;

/// The shells completions are made for.
pub use clap_complete::Shell;

/// The subcommands every program has for its own documentation. A program
/// flattens it into its subcommands (`#[command(flatten)] Docs(DocsCommand)`)
/// and hands it its clap definition: `docs.print(Cli::command())`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum DocsCommand {
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },
    /// Print the man pages (roff), e.g. `PROGRAM man | man -l -`.
    Man,
}

impl DocsCommand {
    /// Prints the completions or man pages of `cmd` to standard output (a
    /// reader that stops early, `| head`, is not an error).
    pub fn print(self, cmd: clap::Command) -> std::io::Result<()> {
        let mut text = Vec::new();
        match self {
            DocsCommand::Completions { shell } => completions(cmd, shell, &mut text),
            DocsCommand::Man => man(cmd, &mut text)?,
        }
        crate::stdout::emit(&String::from_utf8_lossy(&text))
    }
}

/// Writes `cmd`'s completion script for `shell`.
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes `cmd`'s man page (roff, section 1) and then, after each other, one
/// page per subcommand (`reprolog-server-serve(1)`), as `man -l -` reads them.
pub fn man(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let cmd = cmd.disable_help_subcommand(true);
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    let parent = cmd.get_name().to_string();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{parent}-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).bin_name(name);
        clap_mangen::Man::new(page).render(out)?;
    }
    Ok(())
}

/// The flags and subcommands of `cmd` (and below) that have no help text,
/// as `PROGRAM SUB --flag`: the programs' tests require none.
pub fn undocumented(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                out.push(format!("{name} (the subcommand)"));
            }
            walk(sub, &name, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd, cmd.get_name(), &mut out);
    out
}

/// The subcommands of `cmd` its bash completions or man pages leave out.
pub fn missing_from_docs(cmd: &clap::Command) -> Vec<String> {
    let mut bash = Vec::new();
    completions(cmd.clone(), Shell::Bash, &mut bash);
    let bash = String::from_utf8_lossy(&bash).into_owned();
    let mut roff = Vec::new();
    if man(cmd.clone(), &mut roff).is_err() {
        return vec!["(the man pages could not be written)".into()];
    }
    let roff = String::from_utf8_lossy(&roff).into_owned();
    cmd.get_subcommands()
        .filter(|sub| {
            let page = format!("{}-{}", cmd.get_name(), sub.get_name()).replace('-', "\\-");
            !bash.contains(sub.get_name()) || !roff.contains(&page)
        })
        .map(|sub| sub.get_name().to_string())
        .collect()
}

/// The tests every program runs on its clap definition `$cli`: each flag and
/// subcommand has help, and the completions and man pages cover every
/// subcommand. `reprolog_io::cli_tests!(Cli);` in a `main.rs`.
#[macro_export]
macro_rules! cli_tests {
    ($cli:ty) => {
        #[cfg(test)]
        mod cli_tests {
            use clap::CommandFactory;

            #[test]
            fn every_flag_has_help() {
                let missing = $crate::docs::undocumented(&<$cli>::command());
                assert!(missing.is_empty(), "no help text: {missing:#?}");
            }

            #[test]
            fn completions_and_man_pages_cover_every_subcommand() {
                let missing = $crate::docs::missing_from_docs(&<$cli>::command());
                assert!(missing.is_empty(), "not in the docs: {missing:?}");
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn demo() -> Command {
        Command::new("demo").about("A demo").subcommand(
            Command::new("serve").about("Serve it").arg(
                Arg::new("min-free-mib")
                    .long("min-free-mib")
                    .help("Free MiB kept"),
            ),
        )
    }

    #[test]
    fn completions_name_the_subcommands_and_flags_and_bash_reads_them() {
        let mut out = Vec::new();
        completions(demo(), Shell::Bash, &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("serve") && script.contains("--min-free-mib"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.bash");
        std::fs::write(&path, &script).unwrap();
        let checked = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .status()
            .unwrap();
        assert!(checked.success());
    }

    #[test]
    fn the_man_page_has_a_page_per_subcommand_with_its_flags() {
        let mut out = Vec::new();
        man(demo(), &mut out).unwrap();
        let roff = String::from_utf8(out).unwrap();
        assert_eq!(roff.matches(".TH ").count(), 2, "{roff}");
        assert!(roff.contains("demo\\-serve"), "{roff}");
        assert!(roff.contains("min\\-free\\-mib"), "{roff}");
        assert!(roff.contains("Free MiB kept"), "{roff}");
    }
}
