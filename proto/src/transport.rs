//! The one seam between reprolog's log readers and the network.
//!
//! Everything that reads or writes a log — the tile reader ([`crate::reader`]),
//! the verified log client ([`crate::logclient`]) — is written against
//! [`Transport`] and does no I/O itself (sans-I/O, like Go's `tlog.TileReader`).
//! A binary supplies the few lines that move bytes (HTTP with ureq in the
//! rebuilder and the client), tests supply an in-memory map. What a transport
//! returns is untrusted: the callers verify every byte against a signed
//! checkpoint before they believe it.

use std::fmt;

/// Largest answer a transport accepts from a log. An entry bundle is at most
/// 256 × 65,537 bytes (16 MiB); the largest JSON answers (lookups) are bounded
/// by the server well below this.
pub const MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

/// Longest a single request may take, end to end, in seconds.
pub const REQUEST_TIMEOUT_SECS: u64 = 60;

/// How many characters of an error answer's body are kept for the message.
const ERROR_BODY_CHARS: usize = 300;

/// Moves bytes to and from a log at some base address. Paths start with `/`.
///
/// Implementations return the body of a 200 answer, or a [`FetchError`] that
/// says whether trying again later might help.
pub trait Transport {
    /// `GET <base><path>`.
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError>;
    /// `POST <base><path>` with a body of `content_type`.
    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, FetchError>;
    /// The base address, for messages and for keying local state.
    fn base(&self) -> &str;
}

/// Why a request did not yield a 200 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {kind}")]
pub struct FetchError {
    pub url: String,
    pub kind: FetchErrorKind,
}

/// The kind of a [`FetchError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// No answer: connection refused or reset, timeout, a body over the limit.
    Network(String),
    /// An answer other than 200, with the start of its body.
    Status { status: u16, body: String },
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchErrorKind::Network(m) => f.write_str(m),
            FetchErrorKind::Status { status, body } => write!(f, "answered {status}: {body}"),
        }
    }
}

impl FetchError {
    pub fn network(url: &str, message: impl fmt::Display) -> FetchError {
        FetchError {
            url: url.to_string(),
            kind: FetchErrorKind::Network(message.to_string()),
        }
    }

    /// Worth retrying later: network trouble, overload (429), server errors.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            FetchErrorKind::Network(_) => true,
            FetchErrorKind::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }

    /// The answer was 404: the resource does not exist (yet).
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, FetchErrorKind::Status { status: 404, .. })
    }
}

/// Whether a GET of `path` belongs to the static read path (C2SP
/// tlog-tiles: the checkpoint and tiles), which a log may publish apart
/// from its API, to a bucket or CDN.
pub fn is_static_read(path: &str) -> bool {
    path == "/checkpoint" || path.starts_with("/tile/")
}

/// Whether a static read that failed with `e` is asked of the log's API
/// instead: a tile the bucket does not hold yet, since publishing lags the
/// API's checkpoint by a moment. Safe, as every tile is verified against a
/// checkpoint whichever server gave it.
pub fn ask_api_instead(path: &str, e: &FetchError) -> bool {
    path.starts_with("/tile/") && e.is_not_found()
}

/// Turns an answer into its body (status 200) or the error every transport
/// reports the same way: the status and the start of the body, escaped.
pub fn check_answer(url: &str, status: u16, body: Vec<u8>) -> Result<Vec<u8>, FetchError> {
    if status == 200 {
        return Ok(body);
    }
    let text = String::from_utf8_lossy(&body);
    Err(FetchError {
        url: url.to_string(),
        kind: FetchErrorKind::Status {
            status,
            body: crate::display::escape(text.trim(), ERROR_BODY_CHARS),
        },
    })
}

/// An in-memory transport: path → body. For tests and for reading a log
/// copied to local files; a missing path answers 404.
#[derive(Debug, Default, Clone)]
pub struct MemoryTransport {
    pub files: std::collections::HashMap<String, Vec<u8>>,
    /// Every path asked for, in order (tests count requests with it).
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Transport for MemoryTransport {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(path.to_string());
        }
        match self.files.get(path) {
            Some(b) => Ok(b.clone()),
            None => check_answer(path, 404, b"not found".to_vec()),
        }
    }

    fn post(&self, path: &str, _: &str, _: &[u8]) -> Result<Vec<u8>, FetchError> {
        check_answer(path, 405, b"read-only".to_vec())
    }

    fn base(&self) -> &str {
        "memory:"
    }
}
