//! `serve --publish URL`: the log's static read path in object storage
//! (S3, Azure Blob Storage, or a directory; [`crate::object_url`]). After each published checkpoint the
//! sequencer's state is copied out: the tiles and entry bundles the tree
//! gained ([`reprolog_proto::tile::new_tiles`]), then the checkpoint, last,
//! so a reader of the bucket never sees a checkpoint whose tiles are missing.
//!
//! Every tile path holds one content forever (a partial tile is replaced by
//! a wider path, never rewritten), so tiles are written with
//! `Cache-Control: public, max-age=31536000, immutable` and a CDN may cache
//! them. Every write is idempotent: an interrupted round is simply redone
//! from the last size the bucket's checkpoint shows.

use crate::log::Log;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::tile::{self, Tile};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How tiles may be cached: forever.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// How the checkpoint may be cached: revalidate every time.
pub const NO_CACHE: &str = "no-cache";
/// Tiles read from storage and written per round, at most.
const ROUND_TILES: usize = 512;

/// Why a round of publishing failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publish URL: {0}")]
    Url(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("log storage: {0}")]
    Log(String),
}

/// Copies the log's static read path into an object store.
pub struct Publisher {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Whether objects carry `Cache-Control` (a directory's do not).
    keeps_attributes: bool,
    /// The size whose tiles and checkpoint are all in the store.
    published: AtomicU64,
    /// The checkpoint note last put there: a re-cosigned note of the same
    /// size (fresh witness times) is published too.
    published_note: std::sync::Mutex<String>,
    failures: AtomicU64,
}

impl Publisher {
    /// A publisher for `url`: `s3://bucket/prefix[?endpoint=URL&region=R&…]`,
    /// `az://container/prefix[?account_name=A&…]`, `file:///dir` or
    /// `memory:///` (see [`crate::object_url`]).
    pub fn new(url: &str) -> Result<Publisher, PublishError> {
        let opened = crate::object_url::open(url).map_err(PublishError::Url)?;
        Ok(Publisher {
            store: Arc::from(opened.store),
            prefix: opened.prefix,
            keeps_attributes: opened.keeps_attributes,
            published_note: std::sync::Mutex::new(String::new()),
            published: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// A publisher into the same store, under `sub` below this one's
    /// prefix (the index log's read path, `<prefix>/index`).
    pub fn under(&self, sub: &str) -> Publisher {
        Publisher {
            store: self.store.clone(),
            prefix: self.path(sub),
            keeps_attributes: self.keeps_attributes,
            published_note: std::sync::Mutex::new(String::new()),
            published: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn path(&self, rel: &str) -> ObjectPath {
        let prefix = self.prefix.as_ref();
        if prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{prefix}/{rel}"))
        }
    }

    async fn put(&self, rel: &str, data: Vec<u8>, cache: &'static str) -> Result<(), PublishError> {
        let mut attributes = Attributes::new();
        if self.keeps_attributes {
            attributes.insert(Attribute::CacheControl, cache.into());
        }
        let opts = PutOptions {
            attributes,
            ..Default::default()
        };
        self.store
            .put_opts(&self.path(rel), PutPayload::from(data), opts)
            .await?;
        Ok(())
    }

    /// Where to resume: the size of the checkpoint already in the store, if
    /// it is this log's and not ahead of it.
    pub async fn resume(&self, log: &Log) {
        let Ok(got) = self.store.get(&self.path("checkpoint")).await else {
            return;
        };
        let Ok(bytes) = got.bytes().await else { return };
        let key = reprolog_proto::note::Verifier::from_key_text(&log.verifier_key());
        let cp = key
            .ok()
            .and_then(|k| Checkpoint::open(&bytes, log.origin(), &k).ok());
        if let Some(cp) = cp.filter(|cp| cp.size <= log.latest().checkpoint.size) {
            self.published.store(cp.size, Relaxed);
        }
    }

    /// Brings the store up to the log's published checkpoint.
    pub async fn publish(&self, log: &Arc<Log>) -> Result<u64, PublishError> {
        let latest = log.latest();
        let old = self.published.load(Relaxed);
        let new = latest.checkpoint.size;
        if old == new && old != 0 && !self.note_changed(&latest.note) {
            return Ok(new);
        }
        let tiles = tile::new_tiles(old.min(new), new);
        for chunk in tiles.chunks(ROUND_TILES) {
            let chunk: Vec<Tile> = chunk.to_vec();
            let l = log.clone();
            let data = tokio::task::spawn_blocking(move || {
                let snap = l.snapshot().map_err(|e| PublishError::Log(e.to_string()))?;
                chunk
                    .into_iter()
                    .map(|t| {
                        Ok((
                            t.path(),
                            snap.tile_data(&t)
                                .map_err(|e| PublishError::Log(e.to_string()))?,
                        ))
                    })
                    .collect::<Result<Vec<_>, PublishError>>()
            })
            .await
            .map_err(|e| PublishError::Log(e.to_string()))??;
            use futures::stream::{self, StreamExt, TryStreamExt};
            stream::iter(data)
                .map(|(path, bytes)| async move { self.put(&path, bytes, IMMUTABLE).await })
                .buffer_unordered(8)
                .try_collect::<Vec<()>>()
                .await?;
        }
        self.put("checkpoint", latest.note.clone().into_bytes(), NO_CACHE)
            .await?;
        self.published.store(new, Relaxed);
        *self
            .published_note
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = latest.note.clone();
        Ok(new)
    }

    /// Whether `note` is not the checkpoint last put in the store.
    pub fn note_changed(&self, note: &str) -> bool {
        *self
            .published_note
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            != note
    }

    /// The size the store holds completely.
    pub fn published(&self) -> u64 {
        self.published.load(Relaxed)
    }

    /// Prometheus lines.
    pub fn render_metrics(&self) -> String {
        format!(
            "# HELP reprolog_published_size Tree size whose tiles and checkpoint are in object storage.\n# TYPE reprolog_published_size gauge\nreprolog_published_size {}\n# HELP reprolog_publish_failures_total Publishing rounds that failed (each is retried).\n# TYPE reprolog_publish_failures_total counter\nreprolog_publish_failures_total {}\n",
            self.published(),
            self.failures.load(Relaxed)
        )
    }
}

/// Publishes whenever the log's checkpoint moves, until the process ends;
/// a failed round is logged in one line and retried after a second. Of
/// several instances sharing a database only the sequencer publishes; one
/// that becomes it resumes from what the bucket holds.
pub async fn run(publisher: Arc<Publisher>, log: Arc<Log>) {
    let mut first = true;
    let mut was_sequencer = false;
    loop {
        if !log.is_sequencer() {
            was_sequencer = false;
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        if !was_sequencer {
            publisher.resume(&log).await;
            was_sequencer = true;
            first = true;
        }
        let latest = log.latest();
        if first
            || latest.checkpoint.size != publisher.published()
            || publisher.note_changed(&latest.note)
        {
            match publisher.publish(&log).await {
                Ok(size) => {
                    first = false;
                    tracing::debug!(size, "published to object storage");
                }
                Err(e) => {
                    publisher.failures.fetch_add(1, Relaxed);
                    tracing::warn!("publishing to object storage: {e}; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
