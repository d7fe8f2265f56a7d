//! `reprolog-rebuilder`: inspect and rebuild Go binaries. Logic lives in the library.

use clap::{Parser, Subcommand};
use reprolog_rebuilder::build::ModuleConfig;
use reprolog_rebuilder::buildinfo::BuildInfo;
use reprolog_rebuilder::rebuild::{self, RebuildConfig};
use reprolog_rebuilder::report;
use reprolog_rebuilder::toolchain::ToolchainStore;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "reprolog-rebuilder",
    version,
    about = "Reproduce Go binaries bit for bit"
)]
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
    /// Rebuild a Go binary from source and compare it bit for bit.
    /// Exit status: 0 reproduced, 1 mismatch, 2 could not rebuild.
    Rebuild {
        binary: PathBuf,
        #[command(flatten)]
        opts: RebuildOpts,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct RebuildOpts {
    /// A git repository with the source of VCS-stamped binaries.
    #[arg(long)]
    source: Option<PathBuf>,
    /// GOPROXY for module downloads (file:// URLs work offline).
    #[arg(long)]
    goproxy: Option<String>,
    /// GOSUMDB (default off).
    #[arg(long)]
    gosumdb: Option<String>,
    /// Directories holding Go toolchains (GOROOTs, any layout); repeatable.
    /// Also read from $REPROLOG_TOOLCHAINS.
    #[arg(long = "toolchains")]
    toolchains: Vec<PathBuf>,
    /// An -ldflags value to try first when Go did not record one.
    #[arg(long, allow_hyphen_values = true)]
    ldflags: Option<String>,
    /// Cache directory (GOCACHE, toolchain digests, scratch space).
    /// Default: $XDG_CACHE_HOME/reprolog or ~/.cache/reprolog.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Keep each job's scratch directory.
    #[arg(long)]
    keep_scratch: bool,
}

impl RebuildOpts {
    fn config(self) -> RebuildConfig {
        let cache = self.cache.unwrap_or_else(default_cache);
        // Go insists on absolute GOPATH and GOCACHE.
        let cache = std::path::absolute(&cache).unwrap_or(cache);
        let mut dirs = self.toolchains;
        if let Some(env) = std::env::var_os("REPROLOG_TOOLCHAINS") {
            dirs.extend(std::env::split_paths(&env));
        }
        dirs.push(cache.join("toolchains"));
        RebuildConfig {
            toolchains: ToolchainStore::scan(&dirs),
            digest_cache: cache.join("toolchain-digests.json"),
            gocache: cache.join("gocache"),
            scratch_root: cache.join("scratch"),
            modules: ModuleConfig {
                goproxy: self.goproxy,
                gosumdb: self.gosumdb,
                gonosumdb: None,
            },
            source: self.source,
            user_ldflags: self.ldflags,
            keep_scratch: self.keep_scratch,
        }
    }
}

fn default_cache() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("reprolog");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/reprolog")
}

fn main() {
    let code = match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "reprolog-rebuilder: {}",
                format!("{e:#}").replace('\n', " ")
            );
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Inspect { binary, json } => {
            let data =
                std::fs::read(&binary).map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            let info = BuildInfo::from_binary(&data)
                .map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", info.go_version_m(&binary.display().to_string()));
            }
            Ok(0)
        }
        Command::Rebuild { binary, opts, json } => {
            let config = opts.config();
            let mut progress = |line: &str| eprintln!("{line}");
            let report = rebuild::rebuild(&binary, &config, &mut progress)
                .map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report::human(&report));
            }
            Ok(if report.reproduced { 0 } else { 1 })
        }
    }
}
