//! `reprolog-server witness`: a C2SP tlog-witness v1.0.0 for any number of
//! logs, with redb for its memory.
//!
//! For each log origin it keeps the latest checkpoint it cosigned (size,
//! root and the cosigned note, as evidence). The rules are
//! [`reprolog_proto::witness`]'s. The checkpoint's signature is checked
//! first, without the state; the rest run inside one redb write
//! transaction, which redb makes exclusive and durable on commit, so reading
//! the stored size, checking, and storing the new checkpoint are one atomic
//! step (the race the spec describes cannot happen), and the cosignature is
//! sent only after the new state is on disk.

use crate::http::{self, ConnectionLimits};
use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use reprolog_proto::cosignature;
use reprolog_proto::note::{KeyType, Signer, Verifier};
use reprolog_proto::witness::{AddCheckpoint, Refusal, Witnessed, SIZE_CONTENT_TYPE};
use reprolog_proto::Hash;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// origin → size (u64 BE) ‖ root (32) ‖ the cosigned checkpoint note.
const WITNESSED: TableDefinition<&str, &[u8]> = TableDefinition::new("witnessed");

/// The witness database inside its data dir.
pub const WITNESS_DB: &str = "witness.redb";

/// Why a request could not be answered by the rules (storage failed).
#[derive(Debug, thiserror::Error)]
#[error("witness storage: {0}")]
pub struct StorageError(String);

/// A witness: its key, the logs it knows and what it cosigned.
pub struct Witness {
    db: Database,
    signer: Signer,
    /// Trusted keys by origin (the key name is the origin).
    logs: HashMap<String, Vec<Verifier>>,
}

/// The outcome of one `add-checkpoint` request.
pub type Answer = Result<String, Refusal>;

impl Witness {
    /// Opens (or creates) the witness database in `data`.
    pub fn open(data: &Path, signer: Signer, logs: Vec<Verifier>) -> anyhow::Result<Witness> {
        anyhow::ensure!(
            signer.kind() == KeyType::Cosignature,
            "the witness key must be a cosignature key (type 0x04; create one with `reprolog-server witness-init`)"
        );
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let path = data.join(WITNESS_DB);
        let db = Database::create(&path).with_context(|| format!("opening {}", path.display()))?;
        let tx = db.begin_write()?;
        tx.open_table(WITNESSED)?;
        tx.commit()?;
        let mut by_origin: HashMap<String, Vec<Verifier>> = HashMap::new();
        for key in logs {
            by_origin
                .entry(key.name().to_string())
                .or_default()
                .push(key);
        }
        Ok(Witness {
            db,
            signer,
            logs: by_origin,
        })
    }

    /// The witness's verifier key (type 0x04), for policies.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// Handles one request body: checks it against the stored state, and on
    /// success stores the checkpoint and returns the cosignature line.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<Answer, StorageError> {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let origin = match req.origin() {
            Ok(o) => o.to_string(),
            Err(refusal) => return Ok(Err(refusal)),
        };
        let keys = self.logs.get(&origin).map(Vec::as_slice).unwrap_or(&[]);
        let (cp, text) = match req.authenticate(keys) {
            Ok(x) => x,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let store = |e: &dyn std::fmt::Display| StorageError(e.to_string());
        let tx = self.db.begin_write().map_err(|e| store(&e))?;
        let answer = {
            let mut table = tx.open_table(WITNESSED).map_err(|e| store(&e))?;
            let latest = table
                .get(origin.as_str())
                .map_err(|e| store(&e))?
                .and_then(|v| decode(v.value()));
            match req.check_against(&cp, latest) {
                Err(refusal) => Err(refusal),
                Ok(()) => {
                    let line = cosignature::cosign(&self.signer, &text, now())
                        .map_err(|e| store(&e))?
                        .to_line();
                    let mut value = cp.size.to_be_bytes().to_vec();
                    value.extend_from_slice(&cp.root.0);
                    value.extend_from_slice(&req.checkpoint);
                    value.extend_from_slice(line.as_bytes());
                    table
                        .insert(origin.as_str(), value.as_slice())
                        .map_err(|e| store(&e))?;
                    Ok(line)
                }
            }
        };
        match &answer {
            Ok(_) => tx.commit().map_err(|e| store(&e))?,
            Err(_) => tx.abort().map_err(|e| store(&e))?,
        }
        Ok(answer)
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Result<Option<Witnessed>, StorageError> {
        let store = |e: &dyn std::fmt::Display| StorageError(e.to_string());
        let tx = self.db.begin_read().map_err(|e| store(&e))?;
        let table = tx.open_table(WITNESSED).map_err(|e| store(&e))?;
        Ok(table
            .get(origin)
            .map_err(|e| store(&e))?
            .and_then(|v| decode(v.value())))
    }
}

fn decode(value: &[u8]) -> Option<Witnessed> {
    let size = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let root = Hash(value.get(8..40)?.try_into().ok()?);
    Some(Witnessed { size, root })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The witness's HTTP API: `POST /add-checkpoint`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(axum::extract::DefaultBodyLimit::max(
            reprolog_proto::witness::MAX_REQUEST_BYTES,
        ))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let w = witness.clone();
    let answer = tokio::task::spawn_blocking(move || w.add_checkpoint(&body)).await;
    match answer {
        Ok(Ok(Ok(lines))) => text(StatusCode::OK, "text/plain; charset=utf-8", lines),
        Ok(Ok(Err(Refusal::Conflict(size)))) => {
            text(StatusCode::CONFLICT, SIZE_CONTENT_TYPE, format!("{size}\n"))
        }
        Ok(Ok(Err(refusal))) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            if status == StatusCode::UNPROCESSABLE_ENTITY {
                tracing::warn!("refused a checkpoint signed by its log: {refusal}");
            }
            text(status, "text/plain; charset=utf-8", format!("{refusal}\n"))
        }
        Ok(Err(e)) => {
            tracing::error!("{e}");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "witness storage failed\n".into(),
            )
        }
        Err(e) => {
            tracing::error!("add-checkpoint task: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        Body::from(body),
    )
        .into_response()
}

/// Creates a witness key named `name` in `key_file`; returns its verifier key.
pub fn init_key(key_file: &Path, name: &str) -> anyhow::Result<String> {
    if key_file.exists() {
        anyhow::bail!(
            "{} already exists; refusing to replace a witness key",
            key_file.display()
        );
    }
    let signer = Signer::generate_of_type(KeyType::Cosignature, name).context("witness name")?;
    reprolog_io::secret::write_secret(key_file, &(signer.to_key_text() + "\n"))?;
    Ok(signer.verifier().to_key_text())
}

/// Serves a witness until `shutdown` resolves.
pub async fn run(
    data: &Path,
    listen: SocketAddr,
    limits: ConnectionLimits,
    signer: Signer,
    logs: Vec<Verifier>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let data = data.to_path_buf();
    let witness = tokio::task::spawn_blocking(move || Witness::open(&data, signer, logs))
        .await
        .context("opening witness")??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!("witness key: {}", witness.verifier().to_key_text());
    on_listening(addr);
    http::serve(listener, router(Arc::new(witness)), limits, shutdown).await;
    Ok(())
}
