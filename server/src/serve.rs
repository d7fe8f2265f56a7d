//! Data directory handling and the serve loop shared by the CLI and tests.
//!
//! A data directory holds `log.key` (the signing key, mode 0600) and `log.redb`,
//! unless the entries live in PostgreSQL (`--database`).

use crate::api::{self, AppState};
use crate::cosign::Witnesses;
use crate::http::{self, ConnectionLimits};
use crate::index::{Index, IndexError};
use crate::log::{Log, LogOptions};
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::ratelimit::{RateConfig, RateLimiter};
use crate::sequencer::{self, BatchConfig};
use crate::shares::PendingShares;
use crate::storage::postgres::Part;
use crate::storage::Location;
use anyhow::{bail, Context};
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::policy::WitnessQuorum;
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

const KEY_FILE: &str = "log.key";
/// The index log's signing key inside a data dir.
const INDEX_KEY_FILE: &str = "index.key";
/// The log database inside a data dir.
pub const DB_FILE: &str = "log.redb";
/// The index log's database inside a data dir.
pub const INDEX_DB_FILE: &str = "index.redb";

/// The origin a Sigsum witness requires of the log it witnesses:
/// `sigsum.org/v1/tree/<hex SHA-256 of the log's public key>`.
pub fn sigsum_origin(public_key: &[u8; 32]) -> String {
    format!(
        "sigsum.org/v1/tree/{}",
        reprolog_proto::Hash::of(public_key).to_hex()
    )
}

/// What [`init`] names the log's key (its origin).
pub enum Origin<'a> {
    Named(&'a str),
    /// [`sigsum_origin`] of the new key.
    Sigsum,
}

/// Creates a data directory with a new signing key named by `origin`, and
/// the key of its index log; returns the log's verifier key text. Refuses to
/// overwrite an existing key.
pub fn init(data: &Path, origin: Origin) -> anyhow::Result<String> {
    let key_path = data.join(KEY_FILE);
    if key_path.exists() {
        bail!(
            "{} already exists; refusing to replace a log key",
            key_path.display()
        );
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let signer = new_key(origin)?;
    reprolog_io::secret::write_secret(&key_path, &(signer.to_key_text() + "\n"))?;
    load_index_key(data, &signer)?;
    Ok(signer.verifier().to_key_text())
}

fn new_key(origin: Origin) -> anyhow::Result<Signer> {
    Ok(match origin {
        Origin::Named(name) => Signer::generate(name).context("log origin")?,
        Origin::Sigsum => {
            let key = Signer::generate("placeholder")?;
            key.renamed(&sigsum_origin(&key.verifier().public_key()))?
        }
    })
}

/// The signing key of the data dir's index log; made (and kept) on first
/// use, so data dirs made before the index get one.
pub fn load_index_key(data: &Path, log: &Signer) -> anyhow::Result<Signer> {
    let path = data.join(INDEX_KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Signer::from_key_text(&text).with_context(|| format!("parsing {}", path.display()));
    }
    // `<origin>/index`; for a log with a Sigsum origin, a Sigsum origin of
    // its own (a Sigsum witness requires one of every log it witnesses).
    let signer = if log.name().starts_with("sigsum.org/v1/tree/") {
        new_key(Origin::Sigsum)?
    } else {
        new_key(Origin::Named(&format!("{}/index", log.name())))?
    };
    reprolog_io::secret::write_secret(&path, &(signer.to_key_text() + "\n"))?;
    tracing::info!("made the index log's key {}", path.display());
    Ok(signer)
}

/// Loads the signing key of a data directory.
pub fn load_key(data: &Path) -> anyhow::Result<Signer> {
    let key_path = data.join(KEY_FILE);
    let text = std::fs::read_to_string(&key_path).with_context(|| {
        format!(
            "reading {} (run `reprolog-server init` first)",
            key_path.display()
        )
    })?;
    Signer::from_key_text(&text).with_context(|| format!("parsing {}", key_path.display()))
}

/// Parses verifier key texts (an allow-list, or known keys) into public keys.
pub fn parse_allow_list<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<HashSet<[u8; 32]>> {
    keys.into_iter()
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.starts_with('#'))
        .map(|k| {
            Verifier::from_key_text(k)
                .map(|v| v.public_key())
                .with_context(|| format!("key {k:?}"))
        })
        .collect()
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub batch: BatchConfig,
    pub allowed_keys: Option<HashSet<[u8; 32]>>,
    /// Storage mode and free-space reserve.
    pub log: LogOptions,
    /// Open connections and header deadline.
    pub connections: ConnectionLimits,
    /// Per-key submission rate limit for every key; none when `None`.
    pub rate_per_key: Option<RateConfig>,
    /// Keys the operator knows: exempt from the unknown keys' limits.
    pub known_keys: HashSet<[u8; 32]>,
    /// Rate limit of each unknown key ([`DEFAULT_UNKNOWN_KEY_RATE`]).
    pub unknown_key_rate: Option<RateConfig>,
    /// Most entries one unknown key may have waiting in the pool.
    pub unknown_key_pending: usize,
    /// What all unknown keys together may add
    /// ([`crate::budget::DEFAULT_BUDGET`]); `None`: no total bound.
    pub unknown_budget: Option<crate::budget::BudgetConfig>,
    /// Publish only checkpoints these witnesses cosigned (`--witness-policy`).
    pub witnesses: Option<WitnessQuorum>,
    /// The index log's witnesses (`--index-witness-policy`), when not
    /// `witnesses`.
    pub index_witnesses: Option<WitnessQuorum>,
    /// How long each witness request may take.
    pub witness_timeout: std::time::Duration,
    /// Have the witnesses cosign again after this long without a new
    /// checkpoint ([`DEFAULT_WITNESS_REFRESH`]).
    pub witness_refresh: std::time::Duration,
    /// The trust policy the web page applies by default (`--policy`).
    pub default_policy: Option<String>,
    /// Copy tiles, bundles and checkpoints to this object store URL.
    pub publish: Option<String>,
    /// Keep entries in this PostgreSQL database instead of the data dir.
    pub database: Option<String>,
    /// A read replica of `database`, read while this instance does not sequence.
    pub read_database: Option<String>,
    /// How this instance names itself to the others sharing the database.
    pub instance: Option<String>,
    /// Keep the verifiable index and its log (on unless `--no-index`).
    pub index: bool,
    /// Longest list a lookup proves whole (`--index-max-list`).
    pub index_max_list: u64,
    /// Build a wrong index, leaving this entry's signer key out of the map
    /// (tests of the audit only).
    #[cfg(feature = "harness")]
    pub index_leave_out: Option<u64>,
}

/// By default a key the operator has not listed adds at most 10 entries a
/// second, 100 in a burst: far above what a rebuilder produces (a rebuild
/// takes seconds), far below what a flood needs.
pub const DEFAULT_UNKNOWN_KEY_RATE: RateConfig = RateConfig {
    per_second: 10.0,
    burst: 100,
};

/// By default an idle witnessed log has its checkpoint cosigned again every
/// hour: well inside a client's default `max-age` (a day), at a cost of one
/// request per witness an hour.
pub const DEFAULT_WITNESS_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

/// By default an unknown key may have 64 entries waiting for a batch; all
/// unknown keys together at most half the pending pool.
pub const DEFAULT_UNKNOWN_KEY_PENDING: usize = 64;

impl ServeConfig {
    /// The defaults of `reprolog-server serve` for a data dir and address.
    pub fn new(data: PathBuf, listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            data,
            listen,
            batch: BatchConfig::default(),
            allowed_keys: None,
            log: LogOptions {
                read_only: false,
                min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            },
            connections: ConnectionLimits::default(),
            rate_per_key: None,
            known_keys: HashSet::new(),
            unknown_key_rate: Some(DEFAULT_UNKNOWN_KEY_RATE),
            unknown_key_pending: DEFAULT_UNKNOWN_KEY_PENDING,
            unknown_budget: Some(crate::budget::DEFAULT_BUDGET),
            witnesses: None,
            index_witnesses: None,
            witness_timeout: crate::cosign::DEFAULT_TIMEOUT,
            witness_refresh: DEFAULT_WITNESS_REFRESH,
            default_policy: None,
            publish: None,
            database: None,
            read_database: None,
            instance: None,
            index: true,
            index_max_list: DEFAULT_INDEX_MAX_LIST,
            #[cfg(feature = "harness")]
            index_leave_out: None,
        }
    }
}

/// Longest list of entries a lookup proves whole, by default.
pub const DEFAULT_INDEX_MAX_LIST: u64 = 10_000;

/// Appends stop while the data dir's disk has less than this free.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 << 20;

/// Opens the log, serves until `shutdown` resolves, then lets in-flight requests
/// finish and the sequencer drain what it already accepted. Calls `on_listening`
/// once the socket is bound.
pub async fn run(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let signer = load_key(&config.data)?;
    let location = match &config.database {
        Some(url) => Location::Postgres {
            url: url.clone(),
            replica: config.read_database.clone(),
            instance: config
                .instance
                .clone()
                .unwrap_or_else(default_instance_name),
            part: Part::Log,
        },
        None => Location::Redb(config.data.join(DB_FILE)),
    };
    let options = config.log;
    let witnesses = config
        .witnesses
        .clone()
        .map(|q| Witnesses::new(q, config.witness_timeout));
    let log_location = location.clone();
    let log = tokio::task::spawn_blocking(move || {
        Log::open_at(&log_location, signer, options, witnesses)
    })
    .await
    .context("opening log")?
    .context("opening log")?;
    let log = Arc::new(log);
    let index = open_index(&config, &log, location.clone()).await?;
    if config.database.is_some() {
        tokio::spawn(keep_role(log.clone(), index.clone()));
    }
    if let Some(index) = &index {
        tokio::spawn(keep_index_current(index.clone(), log.clone()));
    }
    let publisher = match &config.publish {
        Some(url) => Some(Arc::new(
            Publisher::new(url).with_context(|| format!("--publish {url}"))?,
        )),
        None => None,
    };
    if let Some(p) = &publisher {
        tokio::spawn(crate::publish::run(p.clone(), log.clone()));
        if let Some(index) = &index {
            // The index log's read path beside the log's: <prefix>/index/.
            let under = Arc::new(p.under("index"));
            tokio::spawn(crate::publish::run(under, index.log().clone()));
        }
    }
    if config.witnesses.is_some() {
        tokio::spawn(publish_when_witnessed(log.clone()));
        tokio::spawn(refresh_cosignatures(log.clone(), config.witness_refresh));
        if let Some(index) = &index {
            // Clients bound the age of the index log's cosignatures too.
            tokio::spawn(refresh_cosignatures(
                index.log().clone(),
                config.witness_refresh,
            ));
        }
    }
    let metrics = Arc::new(Metrics::default());
    metrics
        .tree_size
        .store(log.latest().checkpoint.size, Relaxed);
    let (handle, sequencer_task) =
        sequencer::spawn_indexed(log.clone(), index.clone(), config.batch, metrics.clone());
    let state = Arc::new(AppState {
        log: log.clone(),
        index: index.clone(),
        index_max_list: config.index_max_list,
        sequencer: handle,
        metrics,
        allowed_keys: config.allowed_keys,
        keys: Default::default(),
        body_timeout: config.connections.body_timeout,
        rate_limiter: config.rate_per_key.map(RateLimiter::new),
        known_keys: config.known_keys,
        unknown_rate_limiter: config.unknown_key_rate.map(RateLimiter::new),
        unknown_budget: config
            .unknown_budget
            .map(crate::budget::StrangerBudget::new),
        unknown_shares: PendingShares::new(
            config.unknown_key_pending,
            config.batch.max_pending / 2,
        ),
        summaries: Default::default(),
        default_policy: config.default_policy,
        publisher,
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        origin = log.origin(),
        size = log.latest().checkpoint.size,
        "log open"
    );
    tracing::info!("verifier key: {}", log.verifier_key());
    if let Some(index) = &index {
        tracing::info!("index verifier key: {}", index.log().verifier_key());
    }
    on_listening(addr);
    http::serve(listener, api::router(state), config.connections, shutdown).await;
    tracing::info!("stopped accepting requests; draining the sequencer");
    sequencer_task.await.context("sequencer")?;
    Ok(())
}

/// Opens the index of `log` (its key in the data dir; its log in
/// `index.redb` there, or beside the log's tables in the log's database),
/// unless `--no-index`. An index that contradicts the log stops the server
/// (as a log that contradicts its checkpoint does); one that cannot be
/// opened (a read-only data dir without its files, say) is left out, loudly.
async fn open_index(
    config: &ServeConfig,
    log: &Arc<Log>,
    log_location: Location,
) -> anyhow::Result<Option<Arc<Index>>> {
    if !config.index {
        return Ok(None);
    }
    let location = match log_location {
        Location::Redb(_) => Location::Redb(config.data.join(INDEX_DB_FILE)),
        Location::Postgres {
            url,
            replica,
            instance,
            part: _,
        } => Location::Postgres {
            url,
            replica,
            instance,
            // Written only by the instance that sequences the log.
            part: Part::Index {
                leader: log.sequencing_flag(),
            },
        },
    };
    let data = config.data.clone();
    let options = config.log;
    let witnesses = config
        .index_witnesses
        .clone()
        .or_else(|| config.witnesses.clone())
        .map(|q| Witnesses::new(q, config.witness_timeout));
    let log = log.clone();
    #[cfg(feature = "harness")]
    let leave_out = config.index_leave_out;
    let opened =
        tokio::task::spawn_blocking(move || -> anyhow::Result<Result<Index, IndexError>> {
            let signer = load_index_key(&data, &load_key(&data)?)?;
            let index_log = Log::open_at(&location, signer, options, witnesses)?;
            #[cfg(feature = "harness")]
            if let Some(n) = leave_out {
                return Ok(Index::open_leaving_out(&log, index_log, n));
            }
            Ok(Index::open(&log, index_log))
        })
        .await
        .context("opening the index")?;
    match opened {
        Ok(Ok(index)) => Ok(Some(Arc::new(index))),
        Ok(Err(e @ IndexError::Mismatch(_))) => Err(e).context("opening the index"),
        Ok(Err(e)) => {
            tracing::error!("the index cannot be opened: {e}; serving without it");
            Ok(None)
        }
        Err(e) => {
            tracing::error!("the index cannot be opened: {e:#}; serving without it");
            Ok(None)
        }
    }
}

/// Keeps the published index revision current, checking every second: the
/// instance that writes the index log publishes a revision whenever the
/// log's checkpoint is ahead of it (after witnesses came back, say). (One
/// that does not, on shared storage, follows the stored revision with its
/// role: [`keep_role`].)
async fn keep_index_current(index: Arc<Index>, log: Arc<Log>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let (i, l) = (index.clone(), log.clone());
        let step = move || -> Result<(), IndexError> {
            if !i.log().is_sequencer() {
                return Ok(());
            }
            let behind = i
                .published()
                .is_none_or(|p| p.revision.size < l.latest().checkpoint.size);
            // A read-only index log cannot catch up: said once at start.
            if !behind || i.log().read_only_reason().is_some() {
                return Ok(());
            }
            i.advance(&l)
        };
        match tokio::task::spawn_blocking(step).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("keeping the index revision current: {e}; retrying"),
            Err(e) => tracing::error!("index task: {e}"),
        }
    }
}

/// The default name of an instance sharing a database: host name and pid.
pub fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}/{}", std::process::id())
}

/// How often an instance sharing a database checks its role: a sequencer
/// that its connection lost stops within this, a reader takes a freed lock
/// and sees new checkpoints within it.
const ROLE_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// Keeps checking whether this instance sequences ([`Log::keep_role`]).
async fn keep_role(log: Arc<Log>, index: Option<Arc<Index>>) {
    let mut was = log.is_sequencer();
    loop {
        tokio::time::sleep(ROLE_CHECK).await;
        let (l, i) = (log.clone(), index.clone());
        let check = move || -> Result<bool, IndexError> {
            let now = l.keep_role()?;
            // The index log's lock follows the log's.
            if let Some(i) = i {
                i.keep_role(&l)?;
            }
            Ok(now)
        };
        match tokio::task::spawn_blocking(check).await {
            Ok(Ok(now)) if now != was => {
                tracing::warn!(
                    "this instance {} the sequencer",
                    if now { "is now" } else { "is no longer" }
                );
                was = now;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("checking the sequencer lock: {e}"),
            Err(e) => tracing::error!("role task: {e}"),
        }
    }
}

/// At start, a witnessed log publishes a cosigned checkpoint of all it
/// stores; while its witnesses cannot meet the quorum it retries every 5 s
/// (appends retry on their own).
async fn publish_when_witnessed(log: Arc<Log>) {
    loop {
        let l = log.clone();
        let done = tokio::task::spawn_blocking(move || {
            if l.published_is_witnessed() {
                return Ok(());
            }
            l.publish_storage()
        })
        .await;
        match done {
            Ok(Ok(())) => return,
            Ok(Err(e)) => tracing::warn!("publishing a witnessed checkpoint: {e}; retrying in 5 s"),
            Err(e) => tracing::error!("publishing task: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Keeps an idle witnessed log's checkpoint freshly cosigned
/// ([`Log::refresh_cosignatures`]), checking a few times per period.
async fn refresh_cosignatures(log: Arc<Log>, every: std::time::Duration) {
    let tick = (every / 4).clamp(
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(60),
    );
    loop {
        tokio::time::sleep(tick).await;
        let l = log.clone();
        match tokio::task::spawn_blocking(move || l.refresh_cosignatures(every)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cosigning the checkpoint again: {e}"),
            Err(e) => tracing::error!("cosigning task: {e}"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
