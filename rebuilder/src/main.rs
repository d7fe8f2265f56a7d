//! `reprolog-rebuilder`: inspect and rebuild Go binaries. Logic lives in the library.

use clap::{Parser, Subcommand};
use reprolog_rebuilder::buildinfo::BuildInfo;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "reprolog-rebuilder", version, about = "Reproduce Go binaries bit for bit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a binary's Go build information, like `go version -m`.
    Inspect {
        binary: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let code = match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reprolog-rebuilder: {}", format!("{e:#}").replace('\n', " "));
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Inspect { binary, json } => {
            let data = std::fs::read(&binary).map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            let info = BuildInfo::from_binary(&data).map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.go_version_m(&binary.display().to_string()));
            }
            Ok(0)
        }
    }
}
