//! A small log server that serves a tree held in memory and can be switched to
//! lie in specific ways, to test that the client catches each lie.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{self, Appender};
use reprolog_proto::note::Signer;
use reprolog_proto::wire::{ConsistencyProof, LookupEntry, LookupResponse};
use reprolog_proto::Hash;
use std::sync::{Arc, Mutex};

/// How to lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    None,
    /// Sign a checkpoint whose root is not the tree's.
    WrongRoot,
    /// Alter the checkpoint after signing it.
    ForgedSignature,
    /// Answer a lookup with the proof of a different leaf.
    ProofForAnotherLeaf,
}

pub struct LiarState {
    pub signer: Signer,
    /// The entries the server currently claims are its log.
    pub entries: Vec<Vec<u8>>,
    pub lie: Lie,
}

fn tree(entries: &[Vec<u8>]) -> Vec<Hash> {
    let empty: Vec<Hash> = Vec::new();
    let mut app = Appender::new(&empty, 0);
    for e in entries {
        let _ = app.push(Hash::leaf(e));
    }
    app.new_hashes().to_vec()
}

impl LiarState {
    fn signed_checkpoint(&self) -> String {
        let stored = tree(&self.entries);
        let size = self.entries.len() as u64;
        let mut root = merkle::tree_hash(size, &stored).unwrap_or_default();
        if self.lie == Lie::WrongRoot {
            root = Hash::of(b"not the root");
        }
        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root,
            extensions: vec![],
        };
        let note = cp.sign(&self.signer).unwrap();
        if self.lie == Lie::ForgedSignature {
            return note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
        }
        note
    }
}

pub type Shared = Arc<Mutex<LiarState>>;

async fn checkpoint(State(s): State<Shared>) -> String {
    s.lock().unwrap().signed_checkpoint()
}

async fn lookup(State(s): State<Shared>, Path(digest): Path<String>) -> Response {
    let s = s.lock().unwrap();
    let Ok(digest) = Hash::from_hex(&digest) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let stored = tree(&s.entries);
    let size = s.entries.len() as u64;
    let mut entries = Vec::new();
    for (i, e) in s.entries.iter().enumerate() {
        let about = Entry::from_cbor(e)
            .ok()
            .and_then(|x| x.statement().ok())
            .and_then(|st| st.subject_digest().ok());
        if about == Some(digest) {
            let proof_index = if s.lie == Lie::ProofForAnotherLeaf {
                (i as u64 + 1) % size
            } else {
                i as u64
            };
            let inclusion_proof = merkle::inclusion_proof(proof_index, size, &stored).unwrap();
            entries.push(LookupEntry {
                index: i as u64,
                entry: e.clone(),
                inclusion_proof,
            });
        }
    }
    axum::Json(LookupResponse {
        checkpoint: s.signed_checkpoint(),
        entries,
    })
    .into_response()
}

async fn consistency(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let s = s.lock().unwrap();
    let q = q.unwrap_or_default();
    let param = |name: &str| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (Some(old), Some(new)) = (param("old"), param("new")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let stored = tree(&s.entries);
    match merkle::consistency_proof(old, new, &stored) {
        Ok(proof) => axum::Json(ConsistencyProof { old, new, proof }).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// Serves `state` on 127.0.0.1; returns the URL. The server lives as long as the
/// test process.
pub fn serve(state: Shared) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new()
                .route("/checkpoint", get(checkpoint))
                .route("/lookup/{digest}", get(lookup))
                .route("/proof/consistency", get(consistency))
                .with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}
