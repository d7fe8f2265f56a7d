//! A refused request as the API answers it: an HTTP status, the metric label
//! it is counted under (`reprolog_rejected_total`) and one line of reason,
//! with `Retry-After` when waiting helps.

use crate::metrics::Rejection;
use crate::storage::StorageError;
use axum::http::StatusCode;
use reprolog_proto::entry::EntryError;
use reprolog_proto::merkle::MerkleError;

/// A rejected request: status, metric label and one-line reason.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: Rejection,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: Rejection, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Rejection::BadRequest, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, Rejection::NotFound, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Rejection::Unavailable,
                message,
            )
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            // Proof requests that are impossible for the tree are the caller's fault.
            StorageError::Merkle(m) => ApiError::from(m),
            other => {
                tracing::error!("storage: {other}");
                ApiError::unavailable("log storage is unavailable")
            }
        }
    }
}

impl From<MerkleError> for ApiError {
    fn from(e: MerkleError) -> ApiError {
        match e {
            MerkleError::Storage(s) => {
                tracing::error!("storage: {s}");
                ApiError::unavailable("log storage is unavailable")
            }
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

/// An entry refused for what it is (400, labelled by the kind of fault).
pub(crate) fn entry_error(e: EntryError) -> ApiError {
    let kind = match e {
        EntryError::TooLarge(_) => Rejection::TooLarge,
        EntryError::Cbor(_) | EntryError::Shape(_) | EntryError::Version(_) => Rejection::Malformed,
        EntryError::NotCanonical => Rejection::NonCanonical,
        EntryError::BadSignature => Rejection::BadSignature,
        EntryError::PayloadType(_) | EntryError::Statement(_) => Rejection::BadStatement,
    };
    ApiError::new(StatusCode::BAD_REQUEST, kind, e.to_string())
}
