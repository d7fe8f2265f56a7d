//! `reprolog-rebuilder`: inspect and rebuild Go binaries. Logic lives in the library.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use reprolog_io::http::{self as logclient, LogClient};
use reprolog_io::secret::write_secret;
use reprolog_io::statefile;
use reprolog_io::stdout::emit;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_rebuilder::build::ModuleConfig;
use reprolog_rebuilder::buildinfo::BuildInfo;
use reprolog_rebuilder::node;
use reprolog_rebuilder::rebuild::{self, RebuildConfig};
use reprolog_rebuilder::sandbox::SandboxMode;
use reprolog_rebuilder::toolchain::ToolchainStore;
use reprolog_rebuilder::{release, report};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        /// The Go binary (ELF, PE or Mach-O), or a release archive (tar,
        /// tar.gz, zip: a wheel, an npm tarball) whose Go binaries are shown.
        binary: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a Go binary from source and compare it bit for bit; a release
    /// archive (tar, tar.gz, zip) has each Go binary in it rebuilt.
    /// Exit status: 0 reproduced, 1 mismatch, 2 could not rebuild.
    Rebuild(RebuildArgs),
    /// Create a rebuilder signing key (mode 0600) and print its verifier key.
    Keygen {
        /// Key name, e.g. rebuilder.example.org.
        #[arg(long)]
        name: String,
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Tail a log and repeat every build another rebuilder attested.
    Follow(FollowArgs),
    #[command(flatten)]
    Docs(reprolog_io::docs::DocsCommand),
}

/// `reprolog-rebuilder rebuild`.
#[derive(clap::Args)]
struct RebuildArgs {
    /// The binary or release archive to rebuild (or use --queue).
    #[arg(required_unless_present = "queue")]
    binary: Option<PathBuf>,
    /// A file listing binaries to rebuild, one path per line; progress is
    /// kept beside it so reruns skip what is done.
    #[arg(long, conflicts_with = "binary")]
    queue: Option<PathBuf>,
    #[command(flatten)]
    opts: RebuildOpts,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Sign the attestation and submit it to this log.
    #[arg(long, requires_all = ["key", "log_key"])]
    submit: Option<String>,
    /// This rebuilder's signing key file (from `keygen`).
    #[arg(long)]
    key: Option<PathBuf>,
    /// The log's verifier key, to check the receipt.
    #[arg(long)]
    log_key: Option<String>,
    /// Where to write the offline proof bundle (default: BINARY.proof.json).
    #[arg(long)]
    bundle: Option<PathBuf>,
}

/// `reprolog-rebuilder follow`.
#[derive(clap::Args)]
struct FollowArgs {
    /// A TOML file of these flags by long name (`min-free-mib = 2048`);
    /// each flag also reads `REPROLOG_<NAME>` (`REPROLOG_MIN_FREE_MIB`).
    /// A flag given here wins, then the environment, then the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The log's base URL (lookups and submissions).
    log_url: String,
    /// The log's verifier key (`name+hash+base64`).
    #[arg(long)]
    log_key: String,
    /// Read the checkpoint and tiles from this static copy of the log
    /// (a bucket or CDN the log publishes to with `serve --publish`).
    #[arg(long)]
    read_url: Option<String>,
    /// This node's signing key (from `reprolog-rebuilder keygen`).
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    opts: RebuildOpts,
    /// Repeat only the rebuilders this trust policy lists (the client's
    /// policy format); its witness quorum must cosign every checkpoint.
    #[arg(long, required_unless_present = "any_rebuilder")]
    policy: Option<PathBuf>,
    /// Repeat every key's builds; keys not in --policy get a bounded share
    /// of the queue and run after the listed ones.
    #[arg(long)]
    any_rebuilder: bool,
    /// Progress file (default: CACHE/follow-<key name>-<log id>.json, one
    /// per log).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Builds to run at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Exit once caught up instead of polling.
    #[arg(long)]
    once: bool,
    /// Seconds between polls of the log.
    #[arg(long, default_value_t = 10)]
    poll_secs: u64,
}

#[derive(clap::Args)]
struct RebuildOpts {
    /// A git repository with the source of VCS-stamped binaries.
    #[arg(long)]
    source: Option<PathBuf>,
    /// Build the recorded revision from --source's history even when its HEAD
    /// is elsewhere or its tracked files have local changes (refused otherwise).
    #[arg(long)]
    from_history: bool,
    /// Where to find the repositories of VCS-stamped binaries instead of their
    /// origin: a directory holding them at their root paths
    /// (DIR/github.com/owner/repo) or a URL template with {repo}; repeatable.
    #[arg(long = "vcs-mirror")]
    vcs_mirror: Vec<String>,
    /// An address range (CIDR, e.g. 10.0.0.0/8) sources may be fetched from
    /// although it is loopback, private, link-local or otherwise special;
    /// repeatable. Without it a node connects only to public addresses.
    #[arg(long = "allow-egress")]
    allow_egress: Vec<reprolog_rebuilder::egress::IpRange>,
    /// PEM file of the CAs to trust, instead of the built-in roots, when
    /// fetching sources over https (an internal git server's CA).
    #[arg(long)]
    source_ca: Option<PathBuf>,
    /// Most MiB one repository clone or fetch may write.
    #[arg(long, default_value_t = 4096)]
    clone_max_mib: u64,
    /// Longest one repository clone or fetch may take, in seconds.
    #[arg(long, default_value_t = 1800)]
    clone_timeout_secs: u64,
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
    /// Go build cache (GOCACHE), if not CACHE/gocache. Go keys its entries
    /// by their inputs' content, so sharing one saves time without changing
    /// honest builds; but what writes the cache decides what later builds
    /// link, so nodes that share one are not independent rebuilders.
    #[arg(long)]
    gocache: Option<PathBuf>,
    /// Keep each job's scratch directory.
    #[arg(long)]
    keep_scratch: bool,
    /// Download missing toolchains (official archives, checked against the
    /// SHA-256 the release index publishes) into CACHE/toolchains.
    #[arg(long)]
    download: bool,
    /// Longest one build may run, in seconds.
    #[arg(long, default_value_t = 3600)]
    build_timeout_secs: u64,
    /// Build without the bubblewrap sandbox (only where none can run: builds
    /// then run with this user's rights on source and flags strangers wrote).
    #[arg(long)]
    no_sandbox: bool,
    /// Where official archives and their index live.
    #[arg(long, default_value = reprolog_rebuilder::download::DEFAULT_BASE)]
    download_base: String,
}

impl RebuildOpts {
    fn cache_dir(&self) -> PathBuf {
        let cache = self.cache.clone().unwrap_or_else(default_cache);
        // Go insists on absolute GOPATH and GOCACHE.
        std::path::absolute(&cache).unwrap_or(cache)
    }

    fn config(self) -> RebuildConfig {
        let cache = self.cache_dir();
        let mut dirs = self.toolchains;
        if let Some(env) = std::env::var_os("REPROLOG_TOOLCHAINS") {
            dirs.extend(std::env::split_paths(&env));
        }
        dirs.push(cache.join("toolchains"));
        RebuildConfig {
            toolchains: ToolchainStore::scan(&dirs),
            digest_cache: cache.join("toolchain-digests.json"),
            gocache: match self.gocache {
                // Go insists on an absolute GOCACHE.
                Some(dir) => std::path::absolute(&dir).unwrap_or(dir),
                None => cache.join("gocache"),
            },
            scratch_root: cache.join("scratch"),
            modules: ModuleConfig {
                goproxy: self.goproxy,
                gosumdb: self.gosumdb,
                gonosumdb: None,
            },
            source: self.source,
            source_from_history: self.from_history,
            vcs_mirrors: self
                .vcs_mirror
                .iter()
                .map(|m| reprolog_rebuilder::vcs::Mirror::parse(m))
                .collect(),
            source_cache: cache.join("sources"),
            egress: reprolog_rebuilder::egress::EgressPolicy {
                allowed: self.allow_egress,
                ca_file: self.source_ca.map(|p| std::path::absolute(&p).unwrap_or(p)),
                max_clone_bytes: self.clone_max_mib.saturating_mul(1 << 20),
                timeout: Duration::from_secs(self.clone_timeout_secs),
            },
            user_ldflags: self.ldflags,
            keep_scratch: self.keep_scratch,
            download: self
                .download
                .then(|| (self.download_base.clone(), cache.join("toolchains"))),
            limits: reprolog_rebuilder::build::Limits {
                timeout: Duration::from_secs(self.build_timeout_secs),
                ..Default::default()
            },
            sandbox: if self.no_sandbox {
                SandboxMode::Off
            } else {
                SandboxMode::Required
            },
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

fn load_signer(path: &std::path::Path) -> anyhow::Result<Signer> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    Signer::from_key_text(&text).with_context(|| format!("key {}", path.display()))
}

fn log_client(url: &str, log_key: &str) -> anyhow::Result<LogClient> {
    let key = Verifier::from_key_text(log_key).context("--log-key")?;
    Ok(logclient::connect(url, key))
}

fn main() {
    // $REPROLOG_TOOLCHAINS adds to --toolchains (see RebuildOpts::config);
    // a follower's --policy is not the client's $REPROLOG_POLICY.
    let cli: Cli = reprolog_io::config::parse(&["follow"], &["toolchains", "policy"]);
    // `inspect` logs nothing; skip building the log filter for it.
    if !matches!(cli.command, Command::Inspect { .. }) {
        reprolog_io::logging::init();
    }
    let code = match run(cli) {
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
        Command::Docs(docs) => {
            docs.print(Cli::command())?;
            Ok(0)
        }
        Command::Inspect { binary, json } => inspect(&binary, json),
        Command::Rebuild(args) => run_rebuild(args),
        Command::Keygen { name, out } => keygen(&name, &out),
        Command::Follow(args) => run_follow(args),
    }
}

/// `inspect`: the build info, as `go version -m` prints it or as JSON.
fn inspect(binary: &Path, json: bool) -> anyhow::Result<i32> {
    if reprolog_rebuilder::release::is_archive(binary) {
        return inspect_archive(binary, json);
    }
    let info =
        BuildInfo::from_file(binary).map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&info)?))?;
    } else {
        print_go_version_m(&info, &binary.display().to_string())?;
    }
    Ok(0)
}

/// `inspect ARCHIVE`: each Go member's build info, named `ARCHIVE:MEMBER`
/// (JSON: a list of `{member, buildInfo}`); exit 1 when there is none.
fn inspect_archive(archive: &Path, json: bool) -> anyhow::Result<i32> {
    let found = reprolog_rebuilder::release::inspect_archive(archive)?;
    if json {
        let list: Vec<serde_json::Value> = found
            .iter()
            .map(|(member, info)| serde_json::json!({ "member": member, "buildInfo": info }))
            .collect();
        emit(&format!("{}\n", serde_json::to_string_pretty(&list)?))?;
    } else {
        for (member, info) in &found {
            print_go_version_m(info, &format!("{}:{member}", archive.display()))?;
        }
    }
    if found.is_empty() {
        eprintln!(
            "reprolog-rebuilder: {}: no Go binary in it",
            archive.display()
        );
        return Ok(1);
    }
    Ok(0)
}

/// Go's own `go version -m` format, with any control or bidi character a
/// crafted binary carries escaped (tabs separate the fields).
fn print_go_version_m(info: &BuildInfo, name: &str) -> anyhow::Result<()> {
    for line in info.go_version_m(name).lines() {
        let fields: Vec<String> = line
            .split('\t')
            .map(|f| reprolog_proto::display::escape(f, usize::MAX))
            .collect();
        emit(&format!("{}\n", fields.join("\t")))?;
    }
    Ok(())
}

/// `keygen`: a new signing key (mode 0600); prints its verifier key.
fn keygen(name: &str, out: &Path) -> anyhow::Result<i32> {
    let signer = Signer::generate(name)?;
    write_secret(out, &(signer.to_key_text() + "\n"))?;
    emit(&format!("{}\n", signer.verifier().to_key_text()))?;
    Ok(0)
}

/// `rebuild`: one binary, a release archive or a queue; exit 0 reproduced,
/// 1 mismatch, 2 could not rebuild.
fn run_rebuild(args: RebuildArgs) -> anyhow::Result<i32> {
    let RebuildArgs {
        binary,
        queue,
        opts,
        json,
        submit,
        key,
        log_key,
        bundle,
    } = args;
    // Check keys before spending minutes on a build.
    let submitter = match (&submit, &key, &log_key) {
        (Some(url), Some(key), Some(log_key)) => {
            Some((load_signer(key)?, log_client(url, log_key)?))
        }
        _ => None,
    };
    let config = opts.config();
    let reporter = reprolog_rebuilder::progress::Progress::stderr();
    let mut progress = |line: &str| reporter.line(line);
    if let Some(queue) = queue {
        let submit = submitter.as_ref().map(|(s, l)| (s, l));
        // A line per item on stdout as it finishes (text), then a summary.
        let mut item = |line: &str, o: &node::QueueOutcome| {
            if !json {
                for l in node::queue_item_lines(line, o) {
                    let _ = emit(&format!("{l}\n"));
                }
            }
        };
        let run = node::run_queue(&queue, &config, submit, &mut progress, &mut item)?;
        if json {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&run.outcomes)?
            ))?;
        } else {
            emit(&format!("{}\n", run.summary()))?;
        }
        return Ok(run.exit_code());
    }
    // clap guarantees a binary when there is no queue.
    let binary = binary.unwrap_or_default();
    if release::is_archive(&binary) {
        return rebuild_release(&binary, &config, submitter, json, &mut progress);
    }
    let report = rebuild::rebuild(&binary, &config, &mut progress)
        .map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&report::human(&report))?;
    }
    if let Some((signer, log)) = submitter {
        let (entry, receipt) = node::submit_report(&report, &signer, &log)?;
        let path = bundle.unwrap_or_else(|| {
            let mut p = binary.clone().into_os_string();
            p.push(".proof.json");
            PathBuf::from(p)
        });
        statefile::save_json(&path, &node::proof_bundle(&entry, &receipt))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "attested at log index {}; offline proof bundle in {}",
            receipt.index,
            path.display()
        );
    }
    Ok(if report.reproduced { 0 } else { 1 })
}

/// `follow`: tail a log and repeat other rebuilders' builds.
fn run_follow(args: FollowArgs) -> anyhow::Result<i32> {
    let FollowArgs {
        config: _,
        log_url,
        log_key,
        read_url,
        key,
        opts,
        policy,
        any_rebuilder,
        state,
        jobs,
        once,
        poll_secs,
    } = args;
    let signer = load_signer(&key)?;
    let policy = match &policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading policy {}", path.display()))?;
            let policy = reprolog_proto::policy::Policy::parse(&text)
                .with_context(|| format!("policy {}", path.display()))?;
            Some(policy)
        }
        None => None,
    };
    let repeat = match &policy {
        Some(policy) => node::Repeat::from_policy(policy, any_rebuilder),
        None => node::Repeat {
            anyone: true,
            ..Default::default()
        },
    };
    let key = Verifier::from_key_text(&log_key).context("--log-key")?;
    // When the policy names this log's index log, lookups prove their lists
    // and the follower recomputes every index revision it reads past.
    let index_verifier = policy.as_ref().and_then(|p| {
        let spec = p.logs.iter().find(|l| l.key == key)?;
        p.index_verifier(spec)
    });
    // The policy's witness quorum applies to every checkpoint followed.
    let witnesses = policy.map(|p| p.witnesses).unwrap_or_default();
    let http = |url: &str, read: Option<String>| match read {
        Some(read) => logclient::Http::new(url).with_static_reads(&read),
        None => logclient::Http::new(url),
    };
    let mut log =
        LogClient::new(http(&log_url, read_url.clone()), key.clone()).with_witnesses(witnesses);
    let index = match index_verifier {
        Some(v) => {
            log = log.with_index(v.clone());
            let under = |url: &str| format!("{}/index", url.trim_end_matches('/'));
            let index_log = LogClient::new(
                http(&under(&log_url), read_url.as_deref().map(under)),
                v.key.clone(),
            )
            .with_witnesses(v.witnesses.clone());
            Some(reprolog_rebuilder::follow_index::IndexCheck::new(
                index_log,
                key.name(),
            ))
        }
        None => None,
    };
    // One state per node and log (origin and key), so following another
    // log, or a log re-created at the same URL, starts afresh.
    let state_file = state.unwrap_or_else(|| {
        let log_id = reprolog_proto::Hash::of(log.key_text().as_bytes()).to_hex();
        opts.cache_dir().join(format!(
            "follow-{}-{}.json",
            signer.name().replace('/', "_"),
            &log_id[..16]
        ))
    });
    let config = opts.config();
    let follow_opts = node::FollowOptions {
        state_file,
        repeat,
        jobs,
        once,
        poll: Duration::from_secs(poll_secs),
    };
    let st = node::follow(&log, &signer, &config, &follow_opts, index)?;
    eprintln!(
        "caught up at log size {}; {} subjects handled; entries not repeated: {} by policy, {} over their key's share, {} malformed",
        st.next_index,
        st.done.len(),
        st.skipped_by_policy,
        st.skipped_over_share,
        st.skipped_malformed
    );
    if let Some(n) = st.index_revisions_checked {
        eprintln!("index: {n} revisions recomputed and found right");
    }
    Ok(0)
}

/// `rebuild ARCHIVE`: every Go member rebuilt, reported and (with --submit)
/// attested, each with an offline proof bundle beside the archive. Exit 0
/// when every Go member reproduced, 1 on a mismatch, 2 when one could not be
/// rebuilt.
fn rebuild_release(
    archive: &Path,
    config: &rebuild::RebuildConfig,
    submitter: Option<(Signer, LogClient)>,
    json: bool,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<i32> {
    let outcomes = release::rebuild_archive(archive, config, &|_| false, progress)?;
    let mut code = 0;
    let mut records = Vec::new();
    for o in &outcomes {
        let (line, record) = match &o.result {
            release::MemberResult::Rebuilt(report) => {
                let verdict = if report.reproduced {
                    "REPRODUCED"
                } else {
                    "MISMATCH"
                };
                code = code.max(i32::from(!report.reproduced));
                let mut line = format!("{verdict:<13} {}  sha256:{}", o.path, report.subject);
                if let Some((signer, log)) = &submitter {
                    let (entry, receipt) = node::submit_report(report, signer, log)?;
                    let mut bundle = archive.as_os_str().to_owned();
                    bundle.push(format!(".{}.proof.json", o.path.replace('/', "_")));
                    statefile::save_json(Path::new(&bundle), &node::proof_bundle(&entry, &receipt))
                        .with_context(|| format!("writing {}", Path::new(&bundle).display()))?;
                    line += &format!("  log index {}", receipt.index);
                }
                (line, serde_json::json!({"path": o.path, "report": report}))
            }
            release::MemberResult::NotCovered(why) => (
                format!("{:<13} {}  {why}", "not covered", o.path),
                serde_json::json!({"path": o.path, "not_covered": why}),
            ),
            release::MemberResult::Failed(why) => {
                code = 2;
                (
                    format!("{:<13} {}  {why}", "FAILED", o.path),
                    serde_json::json!({"path": o.path, "failed": why}),
                )
            }
        };
        records.push(record);
        if !json {
            emit(&format!("{line}\n"))?;
        }
    }
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&records)?))?;
    }
    Ok(code)
}

reprolog_io::cli_tests!(super::Cli);
