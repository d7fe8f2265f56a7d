//! The steps an `add-entry` request passes before it reaches the sequencer
//! (README "Wire API"): [`read_body`] (the media type, a writable log, the
//! body within its deadline and size), [`check_entry`] (canonical CBOR, the
//! key's signature, a valid statement, the allow-list) and [`Gate::admit`]
//! (the per-key rates, the strangers' budget and pool share). Each refuses
//! with its own status and one line; none touches storage.

use crate::budget::StrangerBudget;
use crate::metrics::Rejection;
use crate::ratelimit::RateLimiter;
use crate::rejection::{entry_error, ApiError};
use crate::shares::{PendingShares, Slot};
use crate::state::KeyCache;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use reprolog_proto::entry::{Entry, EntryError, MAX_ENTRY_SIZE};
use reprolog_proto::Hash;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Step 1: the request carries CBOR for a log that takes entries, and its
/// body arrives within `deadline` and [`MAX_ENTRY_SIZE`]. A slow sender only
/// holds its own request: the deadline ends it, and the sequencer never
/// waits on a body.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    read_only: Option<String>,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/cbor") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::ContentType,
            "add-entry needs Content-Type: application/cbor",
        ));
    }
    if let Some(why) = read_only {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Rejection::ReadOnly,
            format!("log is read-only ({why}); it serves reads only"),
        ));
    }
    tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_ENTRY_SIZE))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                Rejection::BadRequest,
                format!("request body not received within {} s", deadline.as_secs()),
            )
        })?
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                Rejection::TooLarge,
                format!("entry larger than the {MAX_ENTRY_SIZE}-byte limit (or body unreadable)"),
            )
        })
}

/// An entry that passed [`check_entry`]: who signed it and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckedEntry {
    pub(crate) key: [u8; 32],
    pub(crate) subject: Hash,
}

/// Step 2: canonical CBOR, signed by the key it names, a valid statement,
/// and (with an allow-list) a key allowed to write.
pub(crate) fn check_entry(
    bytes: &[u8],
    keys: &KeyCache,
    allowed: Option<&HashSet<[u8; 32]>>,
) -> Result<CheckedEntry, ApiError> {
    let entry = Entry::from_cbor(bytes).map_err(entry_error)?;
    let verifier = keys
        .get(&entry.key)
        .ok_or_else(|| entry_error(EntryError::BadSignature))?;
    entry
        .verify_signature_with(&verifier)
        .map_err(entry_error)?;
    let statement = entry.statement().map_err(entry_error)?;
    if allowed.is_some_and(|a| !a.contains(&entry.key)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Rejection::ForbiddenKey,
            format!(
                "key {} is not allowed to add entries to this log",
                hex::encode(entry.key)
            ),
        ));
    }
    let subject = statement
        .subject_digest()
        .map_err(|e| entry_error(e.into()))?;
    Ok(CheckedEntry {
        key: entry.key,
        subject,
    })
}

/// The limits a key's entries pass (step 3), borrowed from the app state.
pub(crate) struct Gate<'a> {
    /// Every key's rate (`--rate-per-key`).
    pub(crate) rate: Option<&'a RateLimiter>,
    /// Unknown keys' rate (`--unknown-key-rate`).
    pub(crate) unknown_rate: Option<&'a RateLimiter>,
    /// What all unknown keys together may add.
    pub(crate) unknown_budget: Option<&'a StrangerBudget>,
    /// Unknown keys' shares of the pending pool.
    pub(crate) unknown_shares: &'a Arc<PendingShares>,
}

impl Gate<'_> {
    /// Step 3: admits an entry of `size` bytes by `key` (`known` to the
    /// operator or not) at `now`, with `free` bytes left on the data dir.
    /// An unknown key's entry holds the returned pool slot until its batch
    /// is answered.
    pub(crate) fn admit(
        &self,
        key: &[u8; 32],
        known: bool,
        size: usize,
        free: Option<u64>,
        now: Instant,
    ) -> Result<Option<Slot>, ApiError> {
        let limiters = [self.rate, self.unknown_rate.filter(|_| !known)];
        for limiter in limiters.into_iter().flatten() {
            limiter.check(key, now).map_err(|wait| ApiError {
                retry_after: Some(wait.as_secs_f64().ceil().max(1.0) as u32),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    Rejection::RateLimited,
                    format!(
                        "key {} is over its submission rate, retry later",
                        hex::encode(key)
                    ),
                )
            })?;
        }
        if known {
            return Ok(None);
        }
        if let Some(budget) = self.unknown_budget {
            budget.admit(size, free, now).map_err(|refusal| ApiError {
                retry_after: Some(refusal.retry_after()),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Rejection::UnknownBudget,
                    refusal.to_string(),
                )
            })?;
        }
        self.unknown_shares
            .claim(key)
            .map(Some)
            .map_err(|e| ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Rejection::PoolFull,
                    e.to_string(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BudgetConfig;
    use crate::ratelimit::RateConfig;
    use reprolog_proto::note::Signer;
    use reprolog_proto::statement::Statement;

    fn cbor_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/cbor".parse().unwrap());
        h
    }

    fn entry_by(signer: &Signer, subject: Hash) -> Vec<u8> {
        Entry::sign(
            &Statement::minimal("app", subject, subject, signer.name()),
            signer,
        )
        .to_cbor()
    }

    fn refusal<T>(r: Result<T, ApiError>) -> (StatusCode, Rejection, Option<u32>) {
        match r {
            Ok(_) => panic!("admitted, expected a refusal"),
            Err(e) => (e.status, e.kind, e.retry_after),
        }
    }

    #[tokio::test]
    async fn a_body_is_read_only_as_cbor_for_a_writable_log_and_within_its_size() {
        let second = Duration::from_secs(1);
        let ok = read_body(&cbor_headers(), Body::from(vec![1, 2, 3]), None, second).await;
        assert_eq!(ok.unwrap().as_ref(), &[1, 2, 3]);
        let json = read_body(&HeaderMap::new(), Body::from(vec![1]), None, second).await;
        assert_eq!(
            refusal(json),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Rejection::ContentType,
                None
            )
        );
        let headers = cbor_headers();
        let frozen = read_body(&headers, Body::from(vec![1]), Some("disk".into()), second);
        assert_eq!(
            refusal(frozen.await),
            (StatusCode::SERVICE_UNAVAILABLE, Rejection::ReadOnly, None)
        );
        let huge = Body::from(vec![0u8; MAX_ENTRY_SIZE + 1]);
        assert_eq!(
            refusal(read_body(&cbor_headers(), huge, None, second).await),
            (StatusCode::BAD_REQUEST, Rejection::TooLarge, None)
        );
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_refused_at_the_deadline() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let stream = futures_stream(rx);
        let started = Instant::now();
        let r = read_body(
            &cbor_headers(),
            Body::from_stream(stream),
            None,
            Duration::from_millis(200),
        )
        .await;
        assert_eq!(
            refusal(r),
            (StatusCode::REQUEST_TIMEOUT, Rejection::BadRequest, None)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(tx);
    }

    /// A body stream fed by a channel that never sends.
    fn futures_stream(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[test]
    fn an_entry_is_checked_for_shape_signature_and_allow_list() {
        let keys = KeyCache::default();
        let alice = Signer::generate("alice.test").unwrap();
        let subject = Hash::of(b"app");
        let bytes = entry_by(&alice, subject);
        assert_eq!(
            check_entry(&bytes, &keys, None).unwrap(),
            CheckedEntry {
                key: alice.verifier().public_key(),
                subject
            }
        );
        assert_eq!(
            refusal(check_entry(b"not cbor", &keys, None)).1,
            Rejection::Malformed
        );
        // One byte of the signature changed.
        let mut forged = bytes.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            refusal(check_entry(&forged, &keys, None)).1,
            Rejection::BadSignature
        );
        let only_bob: HashSet<[u8; 32]> = [Signer::generate("bob.test")
            .unwrap()
            .verifier()
            .public_key()]
        .into();
        assert_eq!(
            refusal(check_entry(&bytes, &keys, Some(&only_bob))),
            (StatusCode::FORBIDDEN, Rejection::ForbiddenKey, None)
        );
    }

    #[test]
    fn strangers_meet_their_rate_their_budget_and_their_share_known_keys_only_the_rate() {
        let one_a_minute = |burst| {
            RateLimiter::new(RateConfig {
                per_second: 1.0 / 60.0,
                burst,
            })
        };
        let unknown_rate = one_a_minute(2);
        let budget = StrangerBudget::new(BudgetConfig {
            entries: RateConfig {
                per_second: 1.0 / 60.0,
                burst: 3,
            },
            bytes: RateConfig {
                per_second: 1e9,
                burst: 1 << 30,
            },
            min_free_bytes: 0,
        });
        let shares = PendingShares::new(1, 10);
        let gate = Gate {
            rate: None,
            unknown_rate: Some(&unknown_rate),
            unknown_budget: Some(&budget),
            unknown_shares: &shares,
        };
        let now = Instant::now();
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        // a's share of the pool is one pending entry.
        let slot = gate.admit(&a, false, 100, None, now).unwrap();
        assert!(slot.is_some());
        assert_eq!(
            refusal(gate.admit(&a, false, 100, None, now)),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Rejection::PoolFull,
                Some(1)
            )
        );
        drop(slot);
        // a's rate (burst 2) is spent by those two.
        let (status, kind, retry) = refusal(gate.admit(&a, false, 100, None, now));
        assert_eq!(
            (status, kind),
            (StatusCode::TOO_MANY_REQUESTS, Rejection::RateLimited)
        );
        assert!(retry.is_some_and(|s| s >= 1));
        // All strangers together: a budget of 3 entries, of which a's
        // admitted entry and its refused ones (refused after the budget was
        // drawn on) took two; b takes the last, c finds none.
        drop(gate.admit(&b, false, 100, None, now).unwrap());
        let (status, kind, _) = refusal(gate.admit(&c, false, 100, None, now));
        assert_eq!(
            (status, kind),
            (StatusCode::SERVICE_UNAVAILABLE, Rejection::UnknownBudget)
        );
        // A known key passes none of the strangers' limits, and holds no slot.
        for _ in 0..5 {
            assert!(gate.admit(&c, true, 100, None, now).unwrap().is_none());
        }
    }
}
