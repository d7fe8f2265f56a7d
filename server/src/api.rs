//! The HTTP API (see the README's "Wire API"): add-entry, checkpoint, C2SP tiles
//! and entry bundles, lookup by subject digest, proofs, health and metrics.
//!
//! Every error is a one-line `text/plain` reason with a 4xx/5xx status, counted
//! in `reprolog_rejected_total`; a rejected request never reaches storage.

use crate::admission::{check_entry, read_body, CheckedEntry};
use crate::log::Log;
use crate::metrics::{Metrics, Rejection};
pub use crate::rejection::ApiError;
use crate::sequencer::SubmitError;
pub use crate::state::{AppState, KeyCache};
use crate::storage::{LookupQuery, NewEntry, Snapshot};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use reprolog_proto::merkle;
use reprolog_proto::tile::Tile;
use reprolog_proto::wire::{
    ConsistencyProof, InclusionProof, LookupEntry, LookupResponse, Receipt,
};
use reprolog_proto::Hash;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Most entries one lookup page carries; `next` says where the rest starts.
pub const MAX_LOOKUP_ENTRIES: usize = 1000;
/// Most `key=` parameters one lookup may name (a trust policy's rebuilders).
pub const MAX_LOOKUP_KEYS: usize = 64;

/// Wraps an error with the metrics it must bump.
struct Rejected(ApiError, Arc<Metrics>);

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let Rejected(e, metrics) = self;
        metrics.reject(e.kind);
        let line: String = e.message.replace('\n', " ");
        let mut resp = (
            e.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{line}\n"),
        )
            .into_response();
        if let Some(secs) = e.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

type Handler = Result<Response, Rejected>;

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/add-entry", post(add_entry))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile_handler))
        .route("/index/checkpoint", get(index_checkpoint))
        .route("/index/tile/{*path}", get(index_tile_handler))
        .route("/index/proof/consistency", get(index_consistency))
        .route("/lookup/{digest}", get(lookup))
        .route("/proof/inclusion", get(inclusion))
        .route("/proof/consistency", get(consistency))
        .route("/healthz", get(healthz))
        .route("/healthz/sequencer", get(healthz_sequencer))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .fallback(not_found)
        .with_state(state)
}

fn with_metrics<T>(state: &AppState, r: Result<T, ApiError>) -> Result<T, Rejected> {
    r.map_err(|e| Rejected(e, state.metrics.clone()))
}

/// Runs a read (redb, proof building) on tokio's blocking pool, so slow disks
/// or large answers never stall the async workers that accept connections.
async fn off_thread(
    state: &Arc<AppState>,
    read: impl FnOnce(&AppState) -> Result<Response, ApiError> + Send + 'static,
) -> Handler {
    let s = state.clone();
    let r = tokio::task::spawn_blocking(move || read(&s))
        .await
        .unwrap_or_else(|e| Err(ApiError::unavailable(format!("read failed: {e}"))));
    with_metrics(state, r)
}

/// JSON, or CBOR when the client asks for it.
fn encode<T: serde::Serialize>(headers: &HeaderMap, value: &T) -> Response {
    let wants_cbor = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/cbor"));
    if wants_cbor {
        let mut out = Vec::new();
        if ciborium::into_writer(value, &mut out).is_ok() {
            return ([(header::CONTENT_TYPE, "application/cbor")], out).into_response();
        }
    }
    match serde_json::to_vec(value) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn add_entry(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Handler {
    let r = add_entry_inner(&state, &headers, body).await;
    with_metrics(&state, r)
}

/// `add-entry`: read → check → admit (`admission.rs`), then the sequencer.
async fn add_entry_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(
        headers,
        body,
        state.log.read_only_reason(),
        state.body_timeout,
    )
    .await?;
    let entry = check_entry(&bytes, &state.keys, state.allowed_keys.as_ref())?;
    let known = state.is_known(&entry.key);
    // Held until the entry's batch is answered (or the request ends).
    let _slot = state.gate().admit(
        &entry.key,
        known,
        bytes.len(),
        state.log.free_bytes(),
        std::time::Instant::now(),
    )?;
    let receipt = submit(state, entry, bytes).await?;
    Ok(encode(headers, &receipt))
}

/// Step 4: the sequencer commits the entry; its receipt once durable.
async fn submit(state: &AppState, entry: CheckedEntry, bytes: Bytes) -> Result<Receipt, ApiError> {
    if !state.log.is_sequencer() {
        // A reader of a shared database: the entry goes to the sequencer.
        return Err(ApiError::unavailable(format!(
            "this instance serves reads; {} sequences (see /healthz); \
             the entry was not acknowledged, retry there",
            state
                .log
                .sequencer()
                .as_deref()
                .unwrap_or("no instance yet")
        )));
    }
    let new = NewEntry {
        leaf: Hash::leaf(&bytes),
        subject: entry.subject,
        key: entry.key,
        bytes: bytes.to_vec(),
    };
    let rx = state.sequencer.try_submit(new).map_err(|e| match e {
        SubmitError::PoolFull => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Rejection::PoolFull,
                "pending pool is full, retry later",
            )
        },
        SubmitError::ShuttingDown => ApiError::unavailable("log is shutting down, retry later"),
    })?;
    state.metrics.submissions.fetch_add(1, Relaxed);
    let ack = rx
        .await
        .map_err(|_| ApiError::unavailable("log is shutting down, retry later"))?
        .map_err(|refusal| match refusal.insufficient_storage {
            true => ApiError {
                retry_after: Some(60),
                ..ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    Rejection::InsufficientStorage,
                    refusal.message,
                )
            },
            false => ApiError::unavailable(refusal.message),
        })?;
    Ok(Receipt {
        index: ack.placement.index(),
        checkpoint: ack.checkpoint.note.clone(),
        inclusion_proof: ack.proof,
    })
}

async fn checkpoint(State(state): State<Arc<AppState>>) -> Response {
    checkpoint_of(&state.log)
}

/// The index log's checkpoint (404 without an index).
async fn index_checkpoint(State(state): State<Arc<AppState>>) -> Handler {
    match &state.index {
        Some(index) => Ok(checkpoint_of(index.log())),
        None => with_metrics(&state, Err(ApiError::not_found("this log keeps no index"))),
    }
}

fn checkpoint_of(log: &Log) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        log.latest().note.clone(),
    )
        .into_response()
}

async fn tile_handler(State(state): State<Arc<AppState>>, Path(path): Path<String>) -> Handler {
    off_thread(&state, move |s| tile_inner(&s.log, &path)).await
}

/// The index log's tiles (C2SP tlog-tiles under `/index/`).
async fn index_tile_handler(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
) -> Handler {
    off_thread(&state, move |s| match &s.index {
        Some(index) => tile_inner(index.log(), &path),
        None => Err(ApiError::not_found("this log keeps no index")),
    })
    .await
}

fn tile_inner(log: &Log, path: &str) -> Result<Response, ApiError> {
    let tile = Tile::parse_path(&format!("tile/{path}"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let size = log.latest().checkpoint.size;
    if !tile.exists_in_tree(size) {
        return Err(ApiError::not_found(format!(
            "{tile} is not in the tree of size {size}"
        )));
    }
    let data = log.snapshot()?.tile_data(&tile)?;
    // Tiles never change once they exist: full ones forever, partial ones are
    // replaced by wider paths rather than rewritten.
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        data,
    )
        .into_response())
}

async fn lookup(
    State(state): State<Arc<AppState>>,
    Path(digest): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Handler {
    off_thread(&state, move |s| lookup_inner(s, &digest, &q, &headers)).await
}

/// `?key=<64 hex>` (repeatable, at most [`MAX_LOOKUP_KEYS`]) and
/// `?cursor=<index>`; nothing else.
fn lookup_query(query: &Option<String>) -> Result<(Vec<[u8; 32]>, u64), ApiError> {
    let mut keys = Vec::new();
    let mut cursor = 0;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("key", hex)) => {
                let key = hex::decode(hex)
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "lookup key must be 64 hex digits (an Ed25519 public key)",
                        )
                    })?;
                keys.push(key);
                if keys.len() > MAX_LOOKUP_KEYS {
                    return Err(ApiError::bad_request(format!(
                        "a lookup may name at most {MAX_LOOKUP_KEYS} keys"
                    )));
                }
            }
            Some(("cursor", _)) => cursor = query_u64(query, "cursor")?,
            _ => {
                return Err(ApiError::bad_request(
                    "lookup takes only key=<hex> and cursor=<index> parameters",
                ))
            }
        }
    }
    Ok((keys, cursor))
}

fn lookup_inner(
    state: &AppState,
    digest: &str,
    query: &Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let digest =
        Hash::from_hex(digest).map_err(|e| ApiError::bad_request(format!("lookup digest: {e}")))?;
    let (keys, cursor) = lookup_query(query)?;
    // With an index, the answer is at its published revision's size, under
    // the log's checkpoint of that size (the latest note when it is of that
    // size: it may have been cosigned again since).
    let published = state.index.as_ref().and_then(|i| i.published());
    let latest = state.log.latest();
    let checkpoint = match &published {
        Some(p) if p.revision.size != latest.checkpoint.size => p.log_checkpoint.clone(),
        _ => latest,
    };
    let size = checkpoint.checkpoint.size;
    // One snapshot for the page, its proofs and its entries.
    let snap = state.log.snapshot()?;
    let page = snap.lookup(&LookupQuery {
        digest: &digest,
        keys: &keys,
        size,
        cursor,
        limit: MAX_LOOKUP_ENTRIES,
    })?;
    let proofs = snap.inclusion_proofs(&page.indices, size)?;
    let bytes = snap.entries_at(&page.indices)?;
    drop(snap);
    let index = match (&state.index, &published) {
        // A list is proven whole or not at all, and a flooded digest's list
        // (asked without keys, or by a flooding key) would be read from
        // storage and sent whole on every request: such answers go without.
        _ if page.matched > state.index_max_list => None,
        (Some(index), Some(published)) => Some(
            index
                .answer(published, &state.log, &digest, &keys)
                .map_err(|e| {
                    tracing::error!("index answer for {}: {e}", digest.to_hex());
                    ApiError::unavailable("the index cannot answer for this digest now")
                })?,
        ),
        _ => None,
    };
    let entries = page
        .indices
        .iter()
        .zip(proofs)
        .zip(bytes)
        .map(|((&index, inclusion_proof), entry)| LookupEntry {
            index,
            entry,
            inclusion_proof,
        })
        .collect();
    Ok(encode(
        headers,
        &LookupResponse {
            checkpoint: checkpoint.note.clone(),
            entries,
            index,
            total: Some(page.total),
            matched: Some(page.matched),
            next: page.next,
        },
    ))
}

/// Reads `name=<u64>` from a query string.
fn query_u64(query: &Option<String>, name: &str) -> Result<u64, ApiError> {
    let query = query.as_deref().unwrap_or("");
    let value = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::bad_request(format!("missing query parameter {name}")))?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "query parameter {name} must be a decimal number"
        )));
    }
    value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("query parameter {name} is out of range")))
}

fn check_size(state: &AppState, size: u64) -> Result<(), ApiError> {
    check_size_of(&state.log, size)
}

/// That `size` is at most `log`'s latest checkpoint's.
fn check_size_of(log: &Log, size: u64) -> Result<(), ApiError> {
    let latest = log.latest().checkpoint.size;
    if size > latest {
        return Err(ApiError::bad_request(format!(
            "size {size} is beyond the latest checkpoint size {latest}"
        )));
    }
    Ok(())
}

async fn inclusion(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Handler {
    off_thread(&state, move |state| {
        let index = query_u64(&q, "index")?;
        let size = query_u64(&q, "size")?;
        check_size(state, size)?;
        let snap: Snapshot = state.log.snapshot()?;
        let proof = snap.with_hashes(|r| merkle::inclusion_proof(index, size, r))?;
        Ok(encode(&headers, &InclusionProof { index, size, proof }))
    })
    .await
}

async fn consistency(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Handler {
    off_thread(&state, move |state| {
        consistency_of(&state.log, &q, &headers)
    })
    .await
}

/// The index log's consistency proofs, as the log's.
async fn index_consistency(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Handler {
    off_thread(&state, move |s| match &s.index {
        Some(index) => consistency_of(index.log(), &q, &headers),
        None => Err(ApiError::not_found("this log keeps no index")),
    })
    .await
}

/// `log`'s proof that its tree of size `old` is a prefix of that of `new`.
fn consistency_of(
    log: &Log,
    q: &Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let old = query_u64(q, "old")?;
    let new = query_u64(q, "new")?;
    check_size_of(log, new)?;
    let snap = log.snapshot()?;
    let proof = snap.with_hashes(|r| merkle::consistency_proof(old, new, r))?;
    Ok(encode(headers, &ConsistencyProof { old, new, proof }))
}

/// `ok <size>`, then what this instance does: `sequencer` or `reader`,
/// and with a shared database which instance sequences. For load balancers,
/// `/healthz/sequencer` answers 200 only on the instance that sequences.
async fn healthz(State(state): State<Arc<AppState>>) -> Handler {
    off_thread(&state, |state| {
        let mut text = health(state)?;
        text.push('\n');
        Ok(text.into_response())
    })
    .await
}

async fn healthz_sequencer(State(state): State<Arc<AppState>>) -> Handler {
    off_thread(&state, |state| {
        let text = health(state)? + "\n";
        Ok(
            match state.log.is_sequencer() && state.log.read_only_reason().is_none() {
                true => text.into_response(),
                false => (StatusCode::SERVICE_UNAVAILABLE, text).into_response(),
            },
        )
    })
    .await
}

fn health(state: &AppState) -> Result<String, ApiError> {
    state.log.snapshot()?.size()?;
    let size = state.log.latest().checkpoint.size;
    let role = if state.log.is_sequencer() && state.log.read_only_reason().is_none() {
        "sequencer"
    } else {
        "reader"
    };
    let mut text = format!("ok {size} {role} {}", state.log.backend());
    if state.log.backend() != "redb" {
        let who = state.log.sequencer();
        text += &format!("; sequencer: {}", who.as_deref().unwrap_or("none"));
    }
    if let Some(why) = state.log.read_only_reason() {
        text += &format!("; read-only: {why}");
    }
    Ok(text)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render()
            + &state.log.witness_metrics()
            + &state
                .unknown_budget
                .as_ref()
                .map(|b| b.render_metrics())
                .unwrap_or_default()
            + &state
                .publisher
                .as_ref()
                .map(|p| p.render_metrics())
                .unwrap_or_default(),
    )
        .into_response()
}

async fn not_found(State(state): State<Arc<AppState>>) -> Rejected {
    Rejected(
        ApiError::not_found("no such endpoint"),
        state.metrics.clone(),
    )
}
