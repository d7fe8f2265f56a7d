//! `reprolog-server`: run a reprolog log. The logic lives in the library.

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use reprolog_io::stdout::emit;
use reprolog_proto::note::Signer;
use reprolog_proto::policy::{parse_logs, Policy, WitnessQuorum};
use reprolog_server::budget;
use reprolog_server::http::ConnectionLimits;
use reprolog_server::log::LogOptions;
use reprolog_server::ratelimit::RateConfig;
use reprolog_server::sequencer::BatchConfig;
use reprolog_server::serve::{self, ServeConfig};
use reprolog_server::witness;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "reprolog-server",
    version,
    about = "The reprolog transparency log server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory, a log signing key and the index log's key;
    /// print the log's verifier key.
    Init {
        /// The data directory to create (the log's database and signing key).
        #[arg(long)]
        data: PathBuf,
        /// The log's origin line, also its key name.
        #[arg(long, default_value = "reprolog.localhost/log")]
        origin: String,
        /// Name the log `sigsum.org/v1/tree/<hex SHA-256 of its key>`, the
        /// origin a Sigsum witness (`sigsum-witness`) requires.
        #[arg(long, conflicts_with = "origin")]
        sigsum_origin: bool,
    },
    /// Create a witness key (signature type 0x04); print its verifier key.
    WitnessInit {
        /// Where to write the secret key (mode 0600; never overwritten).
        #[arg(long)]
        key: PathBuf,
        /// The witness's name, a schema-less URL (e.g. witness.example.org/w1).
        #[arg(long)]
        name: String,
    },
    /// Run a C2SP tlog-witness: cosign checkpoints of the listed logs.
    Witness(WitnessArgs),
    /// Print the verifier key of a data directory (or of its index log).
    Vkey {
        /// The log's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The index log's key (made if the data dir has none yet).
        #[arg(long)]
        index: bool,
    },
    /// Serve the log over HTTP.
    Serve(Box<ServeArgs>),
    /// Copy a redb log (and its index log) into an empty (or partly copied)
    /// PostgreSQL database and check that the tree roots are unchanged.
    Migrate {
        /// The data dir of the redb log.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database, `postgres://user@host:port/db`.
        #[arg(long)]
        to: String,
    },
    #[command(flatten)]
    Docs(reprolog_io::docs::DocsCommand),
}

/// `reprolog-server witness`.
#[derive(clap::Args)]
struct WitnessArgs {
    /// A TOML file of these flags by long name (`min-free-mib = 2048`);
    /// each flag also reads `REPROLOG_<NAME>` (`REPROLOG_MIN_FREE_MIB`).
    /// A flag given here wins, then the environment, then the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the witness keeps the checkpoints it cosigned.
    #[arg(long)]
    data: PathBuf,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The witness key (from `witness-init`).
    #[arg(long)]
    key: PathBuf,
    /// The logs to witness: `log <vkey> [<url>]` lines (C2SP tlog-policy).
    #[arg(long)]
    logs: PathBuf,
    #[command(flatten)]
    listener: ListenerArgs,
}

/// `reprolog-server serve`.
#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML file of these flags by long name (`min-free-mib = 2048`);
    /// each flag also reads `REPROLOG_<NAME>` (`REPROLOG_MIN_FREE_MIB`).
    /// A flag given here wins, then the environment, then the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The log's data directory (from `init`).
    #[arg(long)]
    data: PathBuf,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Most entries committed in one batch.
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// Longest a batch waits to fill after its first entry, in milliseconds.
    #[arg(long, default_value_t = 250)]
    max_wait_ms: u64,
    /// Most submissions waiting for a batch; beyond it, 503 + Retry-After.
    #[arg(long, default_value_t = 8192)]
    max_pending: usize,
    /// Only this rebuilder verifier key may add entries (repeatable).
    #[arg(long = "allow-key")]
    allow_keys: Vec<String>,
    /// A file of allowed rebuilder verifier keys, one per line.
    #[arg(long)]
    allow_keys_file: Option<PathBuf>,
    #[command(flatten)]
    listener: ListenerArgs,
    /// Entries per second each rebuilder key may add (sustained); 0 = no limit.
    #[arg(long, default_value_t = 0.0)]
    rate_per_key: f64,
    /// Entries a rebuilder key may add in a burst above its rate.
    #[arg(long, default_value_t = 100)]
    burst_per_key: u32,
    /// A rebuilder verifier key this log's operator knows (repeatable):
    /// exempt from the unknown keys' limits below. Allowed keys are known.
    #[arg(long = "known-key")]
    known_keys: Vec<String>,
    /// A file of known rebuilder verifier keys, one per line.
    #[arg(long)]
    known_keys_file: Option<PathBuf>,
    /// Entries per second each unknown key may add (sustained); 0 = no
    /// limit, for each unknown key and for all of them together.
    #[arg(long, default_value_t = serve::DEFAULT_UNKNOWN_KEY_RATE.per_second)]
    unknown_key_rate: f64,
    /// Entries an unknown key may add in a burst above its rate.
    #[arg(long, default_value_t = serve::DEFAULT_UNKNOWN_KEY_RATE.burst)]
    unknown_key_burst: u32,
    /// Most entries an unknown key may have waiting for a batch (all
    /// unknown keys together: half of --max-pending).
    #[arg(long, default_value_t = serve::DEFAULT_UNKNOWN_KEY_PENDING)]
    unknown_key_pending: usize,
    /// Entries per second all unknown keys together may add; 0 = no total bound.
    #[arg(long, default_value_t = budget::DEFAULT_BUDGET.entries.per_second)]
    unknown_total_rate: f64,
    /// Entries all unknown keys together may add in a burst above it.
    #[arg(long, default_value_t = budget::DEFAULT_BUDGET.entries.burst)]
    unknown_total_burst: u32,
    /// Entry bytes per second all unknown keys together may add.
    #[arg(long, default_value_t = budget::DEFAULT_BUDGET.bytes.per_second as u64)]
    unknown_total_bytes_per_sec: u64,
    /// Entry bytes all unknown keys together may add in a burst above it.
    #[arg(long, default_value_t = budget::DEFAULT_BUDGET.bytes.burst)]
    unknown_total_burst_bytes: u32,
    /// Refuse entries of unknown keys (503) while the data dir's disk has
    /// less free, in MiB: above --min-free-mib, so the log's own
    /// rebuilders keep writing past it (at or below it, --min-free-mib's
    /// 507 applies to everyone).
    #[arg(long, default_value_t = budget::DEFAULT_BUDGET.min_free_bytes >> 20)]
    unknown_min_free_mib: u64,
    /// Refuse new entries (507) while the data dir's disk has less free, in MiB.
    #[arg(long, default_value_t = serve::DEFAULT_MIN_FREE_BYTES >> 20)]
    min_free_mib: u64,
    /// Serve reads only; refuse every new entry.
    #[arg(long)]
    read_only: bool,
    /// Publish only checkpoints cosigned by this C2SP tlog-policy's
    /// witness quorum (`witness <name> <vkey> <url>`, `group`, `quorum`).
    #[arg(long)]
    witness_policy: Option<PathBuf>,
    /// The index log's witnesses, when not --witness-policy's: the same
    /// witness keys, say, at other URLs (a witness that serves one log per
    /// process, such as sigsum-witness, runs a second one for the index log).
    #[arg(long, requires = "witness_policy")]
    index_witness_policy: Option<PathBuf>,
    /// Longest the log waits for each witness, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    witness_timeout_ms: u64,
    /// Have the witnesses cosign the checkpoint again after this many
    /// seconds without a new one, so clients' `max-age` holds while idle.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    witness_refresh_secs: u64,
    /// The trust policy the web page at `/` applies unless its user
    /// pastes one (the client's policy format).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Copy tiles, entry bundles and each checkpoint to object storage:
    /// `s3://bucket/prefix?endpoint=URL` (AWS_* credentials),
    /// `az://container/prefix?account_name=A` (AZURE_* credentials) or
    /// `file:///dir`; other query options are the store's own.
    #[arg(long)]
    publish: Option<String>,
    /// Keep the entries in PostgreSQL (`postgres://user@host:port/db`)
    /// instead of the data dir, which then holds only the key. Several
    /// instances may share one database: one sequences, the others
    /// serve reads and take over when it stops. TLS: append
    /// `?sslmode=verify-full&sslrootcert=CA.pem` (the certificate and the
    /// host name are always verified).
    #[arg(long, env = "REPROLOG_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// A read replica of --database (PostgreSQL streaming replication):
    /// while this instance does not sequence, it serves reads from there.
    #[arg(
        long,
        requires = "database",
        env = "REPROLOG_READ_DATABASE",
        hide_env_values = true
    )]
    read_database: Option<String>,
    /// This instance's name in `/healthz` (default: host name/pid).
    #[arg(long)]
    instance: Option<String>,
    /// Keep no verifiable index (lookups then prove each entry, not that
    /// the list is whole). The index log's key is DATA/index.key.
    #[arg(long)]
    no_index: bool,
    /// Longest list of entries a lookup proves whole with the index: an
    /// answer matching more entries (a digest flooded by strangers, asked
    /// without keys) carries no index part. Clients ask by their policy's
    /// keys, whose lists stay short.
    #[arg(long, default_value_t = reprolog_server::serve::DEFAULT_INDEX_MAX_LIST)]
    index_max_list: u64,
}

/// glibc's malloc/free took ~10% of the server's CPU under load; mimalloc is
/// measurably faster here (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The limits every listener takes (`serve` and `witness`), with the
/// defaults of [`ConnectionLimits`]; see `reprolog_server::http`.
#[derive(clap::Args)]
struct ListenerArgs {
    /// Longest a client may take to send a request's headers, and longest a
    /// kept-alive connection may sit idle, in seconds.
    #[arg(long, default_value_t = ConnectionLimits::default().header_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Longest a client may take to send a request's body, in seconds.
    #[arg(long, default_value_t = ConnectionLimits::default().body_timeout.as_secs())]
    body_timeout_secs: u64,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = ConnectionLimits::default().max_body)]
    max_body_bytes: usize,
    /// Most connections open at once; more wait in the listen backlog.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
    /// Most connections open at once from one IP address; more are closed.
    #[arg(long, default_value_t = ConnectionLimits::default().max_per_peer)]
    max_connections_per_peer: usize,
}

impl ListenerArgs {
    fn limits(&self) -> anyhow::Result<ConnectionLimits> {
        for (value, flag) in [
            (self.header_timeout_secs, "--header-timeout-secs"),
            (self.body_timeout_secs, "--body-timeout-secs"),
            (self.max_body_bytes as u64, "--max-body-bytes"),
            (self.max_connections as u64, "--max-connections"),
            (
                self.max_connections_per_peer as u64,
                "--max-connections-per-peer",
            ),
        ] {
            anyhow::ensure!(value >= 1, "{flag} must be at least 1");
        }
        Ok(ConnectionLimits {
            max_connections: self.max_connections,
            max_per_peer: self.max_connections_per_peer,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            max_body: self.max_body_bytes,
            ..ConnectionLimits::default()
        })
    }
}

fn main() {
    reprolog_server::disk::survive_file_size_limit();
    reprolog_io::logging::init();
    // `serve --policy` is the web page's, not the client's $REPROLOG_POLICY.
    let cli: Cli = reprolog_io::config::parse(&["serve", "witness"], &["policy"]);
    if let Err(e) = run(cli) {
        eprintln!("reprolog-server: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Docs(docs) => {
            docs.print(Cli::command())?;
            Ok(())
        }
        Command::Init {
            data,
            origin,
            sigsum_origin,
        } => init(&data, &origin, sigsum_origin),
        Command::WitnessInit { key, name } => {
            emit(&format!("{}\n", witness::init_key(&key, &name)?)).map_err(Into::into)
        }
        Command::Witness(args) => run_witness(args),
        Command::Migrate { from, to } => migrate(&from, &to),
        Command::Vkey { data, index } => {
            let mut key = serve::load_key(&data)?;
            if index {
                key = serve::load_index_key(&data, &key)?;
            }
            emit(&format!("{}\n", key.verifier().to_key_text()))?;
            Ok(())
        }
        Command::Serve(args) => run_serve(args.config()?),
    }
}

/// `init`: a data directory and a log key; prints the verifier key.
fn init(data: &Path, origin: &str, sigsum_origin: bool) -> anyhow::Result<()> {
    let origin = if sigsum_origin {
        serve::Origin::Sigsum
    } else {
        serve::Origin::Named(origin)
    };
    emit(&format!("{}\n", serve::init(data, origin)?))?;
    Ok(())
}

/// `migrate`: a redb log copied into PostgreSQL, its root checked; then its
/// index log, when the data dir has one.
fn migrate(from: &Path, to: &str) -> anyhow::Result<()> {
    use reprolog_server::migrate::redb_to_postgres;
    use reprolog_server::storage::postgres::Part;
    let signer = serve::load_key(from)?;
    let done = redb_to_postgres(
        &from.join(serve::DB_FILE),
        to,
        &signer.verifier(),
        Part::Log,
    )?;
    emit(&format!("{done}\n"))?;
    let index_db = from.join(serve::INDEX_DB_FILE);
    if index_db.is_file() {
        let key = serve::load_index_key(from, &signer)?.verifier();
        // The migration is the only writer: it may take the index's lock.
        let part = Part::Index {
            leader: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let done = redb_to_postgres(&index_db, to, &key, part)?;
        emit(&format!("index log: {done}\n"))?;
    }
    Ok(())
}

/// A multi-threaded runtime for the two long-running subcommands.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Prints where the server listens, once it does.
fn announce(addr: SocketAddr) {
    let _ = emit(&format!("listening on http://{addr}\n"));
}

/// `witness`: cosign the listed logs' checkpoints until stopped.
fn run_witness(args: WitnessArgs) -> anyhow::Result<()> {
    let WitnessArgs {
        config: _,
        data,
        listen,
        key,
        logs,
        listener,
    } = args;
    let limits = listener.limits()?;
    let signer = Signer::from_key_text(&read(&key)?)
        .with_context(|| format!("witness key {}", key.display()))?;
    let logs = parse_logs(&read(&logs)?).with_context(|| format!("{}", logs.display()))?;
    runtime()?.block_on(witness::run(
        &data,
        listen,
        limits,
        signer,
        logs,
        serve::shutdown_signal(),
        announce,
    ))?;
    Ok(())
}

/// `serve`: the log until stopped.
fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    runtime()?.block_on(serve::run(config, serve::shutdown_signal(), announce))?;
    Ok(())
}

impl ServeArgs {
    /// The server's configuration from the flags, each checked.
    fn config(self: Box<Self>) -> anyhow::Result<ServeConfig> {
        let ServeArgs {
            config: _,
            data,
            listen,
            max_batch,
            max_wait_ms,
            max_pending,
            allow_keys,
            allow_keys_file,
            listener,
            rate_per_key,
            burst_per_key,
            known_keys,
            known_keys_file,
            unknown_key_rate,
            unknown_key_burst,
            unknown_key_pending,
            unknown_total_rate,
            unknown_total_burst,
            unknown_total_bytes_per_sec,
            unknown_total_burst_bytes,
            unknown_min_free_mib,
            min_free_mib,
            read_only,
            witness_policy,
            index_witness_policy,
            witness_timeout_ms,
            witness_refresh_secs,
            policy,
            publish,
            database,
            read_database,
            instance,
            no_index,
            index_max_list,
        } = *self;
        let default_policy = match policy {
            Some(path) => {
                let text = read(&path)?;
                Policy::parse(&text).with_context(|| format!("policy {}", path.display()))?;
                Some(text)
            }
            None => None,
        };
        let quorum = |path: Option<PathBuf>| -> anyhow::Result<Option<WitnessQuorum>> {
            match path {
                Some(path) => Ok(Some(
                    WitnessQuorum::parse(&read(&path)?)
                        .with_context(|| format!("witness policy {}", path.display()))?,
                )),
                None => Ok(None),
            }
        };
        let witnesses = quorum(witness_policy)?;
        let index_witnesses = quorum(index_witness_policy)?;
        let keys = key_list(allow_keys, allow_keys_file.as_deref())?;
        let allowed_keys = if keys.is_empty() {
            None
        } else {
            Some(serve::parse_allow_list(keys.iter().map(String::as_str))?)
        };
        let known = key_list(known_keys, known_keys_file.as_deref())?;
        let known_keys =
            serve::parse_allow_list(known.iter().map(String::as_str)).context("--known-key")?;
        anyhow::ensure!(
            unknown_key_rate.is_finite() && unknown_key_rate >= 0.0,
            "--unknown-key-rate must be a number ≥ 0"
        );
        anyhow::ensure!(
            unknown_total_rate.is_finite() && unknown_total_rate >= 0.0,
            "--unknown-total-rate must be a number ≥ 0"
        );

        anyhow::ensure!(max_batch >= 1, "--max-batch must be at least 1");
        let connections = listener.limits()?;
        anyhow::ensure!(
            rate_per_key.is_finite() && rate_per_key >= 0.0,
            "--rate-per-key must be a number ≥ 0"
        );
        let config = ServeConfig {
            batch: BatchConfig {
                max_batch,
                max_wait: Duration::from_millis(max_wait_ms),
                max_pending,
            },
            allowed_keys,
            log: LogOptions {
                read_only,
                min_free_bytes: min_free_mib.saturating_mul(1 << 20),
            },
            connections,
            rate_per_key: (rate_per_key > 0.0).then_some(RateConfig {
                per_second: rate_per_key,
                burst: burst_per_key,
            }),
            known_keys,
            unknown_key_rate: (unknown_key_rate > 0.0).then_some(RateConfig {
                per_second: unknown_key_rate,
                burst: unknown_key_burst,
            }),
            unknown_key_pending,
            unknown_budget: (unknown_key_rate > 0.0 && unknown_total_rate > 0.0).then_some(
                budget::BudgetConfig {
                    entries: RateConfig {
                        per_second: unknown_total_rate,
                        burst: unknown_total_burst,
                    },
                    bytes: RateConfig {
                        per_second: unknown_total_bytes_per_sec as f64,
                        burst: unknown_total_burst_bytes,
                    },
                    // At or below the floor that stops every writer
                    // (507), that floor speaks for strangers too.
                    min_free_bytes: if unknown_min_free_mib > min_free_mib {
                        unknown_min_free_mib.saturating_mul(1 << 20)
                    } else {
                        0
                    },
                },
            ),
            index_witnesses,
            witnesses,
            witness_timeout: Duration::from_millis(witness_timeout_ms),
            witness_refresh: Duration::from_secs(witness_refresh_secs),
            default_policy,
            publish,
            database,
            read_database,
            instance,
            index: !no_index,
            index_max_list,
            ..ServeConfig::new(data, listen)
        };
        Ok(config)
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Keys given one by one and in a file (one per line).
fn key_list(mut keys: Vec<String>, file: Option<&Path>) -> anyhow::Result<Vec<String>> {
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        keys.extend(text.lines().map(str::to_string));
    }
    Ok(keys)
}

reprolog_io::cli_tests!(super::Cli);
