//! A blocking client of the log's HTTP API that verifies everything it is given:
//! checkpoints against the log key, receipts and entries by inclusion proofs.

use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::hash::Hash;
use reprolog_proto::merkle;
use reprolog_proto::note::Verifier;
use reprolog_proto::tile::{self, Tile, TileKind};
use reprolog_proto::wire::{ConsistencyProof, InclusionProof, LookupResponse, Receipt, WireError};
use std::time::Duration;

/// Why talking to the log failed.
#[derive(Debug, thiserror::Error)]
pub enum LogClientError {
    #[error("log {url}: {message}")]
    Http { url: String, message: String },
    #[error("log answered {status} to {url}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("log response failed verification: {0}")]
    Verify(#[from] WireError),
    #[error("log response is malformed: {0}")]
    Malformed(String),
}

impl LogClientError {
    /// Worth retrying later: network trouble, overload, server errors.
    pub fn is_transient(&self) -> bool {
        match self {
            LogClientError::Http { .. } => true,
            LogClientError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A verified connection to one log.
pub struct LogClient {
    base: String,
    key: Verifier,
    agent: ureq::Agent,
}

/// Largest response body accepted (entry bundles are at most 256 × 64 KiB).
const MAX_BODY: u64 = 32 * 1024 * 1024;

impl LogClient {
    /// A client for the log at `url` whose checkpoints `key` signs; the origin
    /// is the key's name.
    pub fn new(url: &str, key: Verifier) -> LogClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        LogClient {
            base: url.trim_end_matches('/').to_string(),
            key,
            agent,
        }
    }

    pub fn origin(&self) -> &str {
        self.key.name()
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, LogClientError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| LogClientError::Http {
                url: url.clone(),
                message: e.to_string(),
            })?;
        read(&url, &mut resp)
    }

    /// The latest checkpoint, verified.
    pub fn checkpoint(&self) -> Result<Checkpoint, LogClientError> {
        Ok(self.checkpoint_note()?.0)
    }

    /// The latest checkpoint, verified, with its signed note.
    pub fn checkpoint_note(&self) -> Result<(Checkpoint, Vec<u8>), LogClientError> {
        let body = self.get("/checkpoint")?;
        let cp = Checkpoint::open(&body, self.origin(), &self.key).map_err(WireError::from)?;
        Ok((cp, body))
    }

    /// Opens a signed checkpoint note of this log (one kept from earlier).
    pub fn open_checkpoint(&self, note: &[u8]) -> Result<Checkpoint, LogClientError> {
        Ok(Checkpoint::open(note, self.origin(), &self.key).map_err(WireError::from)?)
    }

    /// The log's key text: what a follower's state belongs to.
    pub fn key_text(&self) -> String {
        self.key.to_key_text()
    }

    /// The consistency proof between two tree sizes, as the log answers it.
    pub fn consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, LogClientError> {
        let body = self.get(&format!("/proof/consistency?old={old}&new={new}"))?;
        serde_json::from_slice(&body).map_err(|e| LogClientError::Malformed(e.to_string()))
    }

    /// Submits an entry; returns the verified receipt and its checkpoint.
    pub fn submit(&self, entry: &[u8]) -> Result<(Receipt, Checkpoint), LogClientError> {
        let url = format!("{}/add-entry", self.base);
        let mut resp = self
            .agent
            .post(&url)
            .header("Content-Type", "application/cbor")
            .send(entry)
            .map_err(|e| LogClientError::Http {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let body = read(&url, &mut resp)?;
        let receipt: Receipt =
            serde_json::from_slice(&body).map_err(|e| LogClientError::Malformed(e.to_string()))?;
        let cp = receipt.verify(entry, self.origin(), &self.key)?;
        Ok((receipt, cp))
    }

    /// Every entry about `digest`, verified against the answer's checkpoint.
    pub fn lookup(&self, digest: &Hash) -> Result<(LookupResponse, Checkpoint), LogClientError> {
        let body = self.get(&format!("/lookup/{}", digest.to_hex()))?;
        let resp: LookupResponse =
            serde_json::from_slice(&body).map_err(|e| LogClientError::Malformed(e.to_string()))?;
        let cp = resp.verify(self.origin(), &self.key)?;
        Ok((resp, cp))
    }

    /// Entries `start..end` of the tree `cp` describes, each proven included.
    pub fn entries(
        &self,
        start: u64,
        end: u64,
        cp: &Checkpoint,
    ) -> Result<Vec<(u64, Vec<u8>)>, LogClientError> {
        let mut out = Vec::new();
        let mut index = start;
        while index < end.min(cp.size) {
            let n = index >> tile::HEIGHT;
            let width = (cp.size - (n << tile::HEIGHT)).min(u64::from(tile::FULL_WIDTH)) as u32;
            let t = Tile {
                kind: TileKind::Entries,
                n,
                width,
            };
            let bundle = self.get(&format!("/{}", t.path()))?;
            let entries = tile::decode_bundle_for(&t, &bundle)
                .map_err(|e| LogClientError::Malformed(e.to_string()))?;
            for (k, e) in entries.into_iter().enumerate() {
                let i = (n << tile::HEIGHT) + k as u64;
                if i < index || i >= end {
                    continue;
                }
                let body = self.get(&format!("/proof/inclusion?index={i}&size={}", cp.size))?;
                let proof: InclusionProof = serde_json::from_slice(&body)
                    .map_err(|e| LogClientError::Malformed(e.to_string()))?;
                merkle::verify_inclusion(i, cp.size, &Hash::leaf(&e), &proof.proof, &cp.root)
                    .map_err(WireError::from)?;
                out.push((i, e));
            }
            index = (n + 1) << tile::HEIGHT;
        }
        Ok(out)
    }
}

fn read(url: &str, resp: &mut ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, LogClientError> {
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| LogClientError::Http {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    if status != 200 {
        return Err(LogClientError::Status {
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(300)
                .collect(),
        });
    }
    Ok(body)
}
