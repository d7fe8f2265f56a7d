//! `reprolog`: verify downloads by rebuilder consensus and audit logs.
//! The logic lives in the library; this file parses arguments.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use reprolog_client::verify::{self, Source};
use reprolog_client::{audit, memory::CheckpointMemory, policy_template, release};
use reprolog_io::stdout::emit;
use reprolog_proto::note::Verifier;
use reprolog_proto::policy::Policy;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "reprolog",
    version,
    about = "Verify Go binaries against a reprolog log of rebuild attestations"
)]
struct Cli {
    /// Where remembered checkpoints live (default: $XDG_STATE_HOME/reprolog or ~/.local/state/reprolog).
    #[arg(long, global = true)]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Have enough trusted rebuilders reproduced this file?
    /// A release archive (tar, tar.gz, zip) gets a verdict per Go binary in it;
    /// with --checksums, every listed file present in DIR is checked, then verified.
    /// Exit status (the worst member's): 0 REPRODUCED, 1 INSUFFICIENT, 2 CONTESTED,
    /// 3 LOG ERROR, 4 bad input (a checksums line whose file differs, a hostile archive).
    Verify(VerifyArgs),
    /// Check that a log only grew since the last audit; with --full, recompute it.
    /// Exit status: 0 OK, 3 LOG ERROR, 4 bad input.
    Audit(AuditArgs),
    /// Trust-policy helpers.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    #[command(flatten)]
    Docs(reprolog_io::docs::DocsCommand),
}

/// `reprolog verify`.
#[derive(clap::Args)]
struct VerifyArgs {
    /// A file, its SHA-256 as 64 hex digits, or (with --checksums) the
    /// directory holding the listed files (default: the checksums file's).
    #[arg(required_unless_present = "checksums")]
    target: Option<String>,
    /// A `<sha256>  <file>` list, as goreleaser's checksums.txt.
    #[arg(long)]
    checksums: Option<PathBuf>,
    /// The trust policy: the log, its witnesses, the rebuilders and how
    /// many must agree (see `reprolog policy --help`). Default: $REPROLOG_POLICY,
    /// then $XDG_CONFIG_HOME/reprolog/policy (~/.config/reprolog/policy).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Verify a saved lookup answer instead of asking the log.
    #[arg(long)]
    offline: Option<PathBuf>,
    /// Save the log's answer for later `--offline` use.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Print the verdict as JSON (exit status unchanged).
    #[arg(long)]
    json: bool,
}

/// `reprolog audit`.
#[derive(clap::Args)]
struct AuditArgs {
    /// The log's base URL.
    #[arg(long)]
    log: String,
    /// The log's verifier key (`name+hash+base64`), as `reprolog-server vkey` prints it.
    #[arg(long)]
    log_key: String,
    /// Download every entry and tile and recompute the root (and, with an
    /// index key, every revision of the log's index).
    #[arg(long)]
    full: bool,
    /// The log's index log key (`reprolog-server vkey --index`); default:
    /// the policy's `index` line for this log.
    #[arg(long)]
    index_key: Option<String>,
    /// Name rebuilders from this policy and report unknown keys.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print the audit result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Write a commented policy template.
    Init {
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Exit status for bad input, usage errors included (never a verdict's).
const BAD_INPUT: i32 = 4;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e, "reprolog", BAD_INPUT),
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reprolog: {}", format!("{e:#}").replace('\n', " "));
            BAD_INPUT
        }
    };
    std::process::exit(code);
}

/// `--help` and `--version` print and exit 0; any other argument error is
/// one line and `code`, so a usage error never reads as a verdict.
fn usage_error(e: clap::Error, program: &str, code: i32) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            std::process::exit(0);
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            std::process::exit(code);
        }
        _ => {}
    }
    // clap's message, less its usage block, on one line.
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    eprintln!(
        "{program}: {}; see {program} --help",
        message.trim_start_matches("error: ")
    );
    std::process::exit(code);
}

fn state_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(d) = flag {
        return d;
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(x).join("reprolog");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/reprolog")
}

fn read_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading policy {}", path.display()))?;
    Policy::parse(&text).with_context(|| format!("policy {}", path.display()))
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let state = state_dir(cli.state);
    match cli.command {
        Command::Docs(docs) => {
            docs.print(Cli::command())?;
            Ok(0)
        }
        Command::Verify(args) => run_verify(args, &state),
        Command::Audit(args) => run_audit(args, &state),
        Command::Policy {
            command: PolicyCommand::Init { out },
        } => policy_init(out.as_deref()),
    }
}

/// The policy `verify` applies: `--policy`, else `$REPROLOG_POLICY`, else
/// the user's own (`$XDG_CONFIG_HOME/reprolog/policy`, `~/.config/…`).
fn default_policy(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = flag {
        return Ok(path);
    }
    if let Some(path) = std::env::var_os("REPROLOG_POLICY").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
            .join(".config"),
    };
    let path = config.join("reprolog/policy");
    anyhow::ensure!(
        path.is_file(),
        "no trust policy: pass --policy FILE, set REPROLOG_POLICY, or write {} (`reprolog policy init --out {}`); see reprolog --help",
        path.display(),
        path.display()
    );
    Ok(path)
}

/// Prints a report as JSON or as its text rendering.
fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(report)?))?;
    } else {
        emit(&text(report))?;
    }
    Ok(())
}

/// `verify`: a file, digest, release archive or checksums list; exit status
/// is the (worst) verdict's.
fn run_verify(args: VerifyArgs, state: &Path) -> anyhow::Result<i32> {
    let VerifyArgs {
        target,
        checksums,
        policy,
        offline,
        save,
        json,
    } = args;
    let policy = read_policy(&default_policy(policy)?)?;
    let memory = CheckpointMemory::new(state);
    let release = match (&checksums, &target) {
        (Some(list), dir) => {
            let dir = dir.as_ref().map(PathBuf::from).unwrap_or_else(|| {
                list.parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            });
            Some((list.clone(), dir))
        }
        (None, Some(t)) if Path::new(t).is_file() && release::is_archive(Path::new(t)) => {
            Some((PathBuf::new(), PathBuf::from(t)))
        }
        _ => None,
    };
    if let Some((list, path)) = release {
        anyhow::ensure!(
            offline.is_none(),
            "--offline verifies one binary, not a release"
        );
        let source = Source::Online { memory: &memory };
        let report = if checksums.is_some() {
            release::verify_checksums(&list, &path, &policy, &source)?
        } else {
            release::verify_archive(&path, &policy, &source)?
        };
        print_report(json, &report, release::render)?;
        return Ok(report.verdict.exit_code());
    }
    let target = target.unwrap_or_default();
    let digest = verify::digest_of(&target)?;
    let bundle = offline.as_deref().map(verify::read_bundle).transpose()?;
    let source = match &bundle {
        Some(b) => Source::Offline { bundle: b },
        None => Source::Online { memory: &memory },
    };
    let (report, answers) = verify::verify(digest, &policy, source)?;
    if let (Some(path), Some(answer)) = (save, answers.first()) {
        std::fs::write(&path, serde_json::to_vec_pretty(answer)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print_report(json, &report, verify::render)?;
    Ok(report.verdict.exit_code())
}

/// `audit`: the log only grew (with `--full`: recomputed from its tiles).
fn run_audit(args: AuditArgs, state: &Path) -> anyhow::Result<i32> {
    let key = Verifier::from_key_text(&args.log_key).context("--log-key")?;
    let policy = args.policy.as_deref().map(read_policy).transpose()?;
    let index_key = args
        .index_key
        .as_deref()
        .map(Verifier::from_key_text)
        .transpose()
        .context("--index-key")?;
    let report = audit::audit_with_index(
        &args.log,
        &key,
        index_key.as_ref(),
        state,
        args.full,
        policy.as_ref(),
    )?;
    print_report(args.json, &report, audit::render)?;
    Ok(report.exit_code())
}

/// `policy init`: the commented template, to a new file or stdout.
fn policy_init(out: Option<&Path>) -> anyhow::Result<i32> {
    match out {
        Some(path) => {
            anyhow::ensure!(!path.exists(), "{} already exists", path.display());
            std::fs::write(path, policy_template::TEMPLATE)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => emit(policy_template::TEMPLATE)?,
    }
    Ok(0)
}

reprolog_io::cli_tests!(super::Cli);
