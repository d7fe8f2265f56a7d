//! A small log server that serves a tree held in memory and can be switched to
//! lie in specific ways, to test that the client catches each lie.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{self, Appender};
use reprolog_proto::note::Signer;
use reprolog_proto::tile::{self, Tile, TileKind};
use reprolog_proto::wire::{LookupEntry, LookupResponse};
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
        index: None,
        total: None,
        matched: None,
        next: None,
    })
    .into_response()
}

/// Serves hash tiles and entry bundles of the tree it currently claims.
async fn tile(State(s): State<Shared>, Path(path): Path<String>) -> Response {
    let s = s.lock().unwrap();
    let Ok(t) = Tile::parse_path(&format!("tile/{path}")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let size = s.entries.len() as u64;
    if !t.exists_in_tree(size) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let start = (t.n << tile::HEIGHT) as usize;
    let data = match t.kind {
        TileKind::Entries => {
            tile::encode_bundle(&s.entries[start..start + t.width as usize]).unwrap()
        }
        TileKind::Hash { .. } => {
            let stored = tree(&s.entries);
            t.stored_hash_indexes()
                .iter()
                .flat_map(|&i| stored[i as usize].0)
                .collect()
        }
    };
    data.into_response()
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
                .route("/tile/{*path}", get(tile))
                .with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}
