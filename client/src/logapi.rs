//! The log's HTTP API as the client uses it. Transport only: every answer is
//! verified by the caller with proto's verifiers before it is believed.

use reprolog_proto::wire::{ConsistencyProof, LookupResponse};
use reprolog_proto::Hash;
use std::time::Duration;

/// Why a request to the log failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} sent a malformed answer: {message}")]
    Malformed { url: String, message: String },
}

/// Largest answer accepted from a log.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A log's base URL and an HTTP agent.
pub struct LogApi {
    base: String,
    agent: ureq::Agent,
}

impl LogApi {
    pub fn new(url: &str) -> LogApi {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        LogApi {
            base: url.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// GET `path`, returning the body of a 200 answer.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut resp = self.agent.get(&url).call().map_err(|e| ApiError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| ApiError::Http {
                url: url.clone(),
                message: e.to_string(),
            })?;
        if status != 200 {
            let body = String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(300)
                .collect();
            return Err(ApiError::Status { url, status, body });
        }
        Ok(body)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let body = self.get(path)?;
        serde_json::from_slice(&body).map_err(|e| ApiError::Malformed {
            url: format!("{}{path}", self.base),
            message: e.to_string(),
        })
    }

    /// The signed checkpoint note, unverified.
    pub fn checkpoint(&self) -> Result<Vec<u8>, ApiError> {
        self.get("/checkpoint")
    }

    /// The lookup answer for a digest, unverified.
    pub fn lookup(&self, digest: &Hash) -> Result<LookupResponse, ApiError> {
        self.json(&format!("/lookup/{}", digest.to_hex()))
    }

    /// A consistency proof, unverified.
    pub fn consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, ApiError> {
        self.json(&format!("/proof/consistency?old={old}&new={new}"))
    }
}
