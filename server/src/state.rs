//! What every HTTP handler shares: the log, the sequencer, the admission
//! settings (allow-list, known keys, rate limits, the strangers' budget) and
//! the figures the pages show. The API and the web routes both take it.

use crate::log::Log;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::sequencer::SequencerHandle;
use crate::shares::PendingShares;
use reprolog_proto::note::Verifier;
use std::collections::HashSet;
use std::sync::Arc;

/// Shared state of all handlers.
pub struct AppState {
    pub log: Arc<Log>,
    /// The verifiable index and its log, unless turned off (`--no-index`).
    pub index: Option<Arc<crate::index::Index>>,
    /// Longest list a lookup proves whole; longer answers go without the
    /// index part (`--index-max-list`).
    pub index_max_list: u64,
    pub sequencer: SequencerHandle,
    pub metrics: Arc<Metrics>,
    /// When set, only these rebuilder public keys may add entries.
    pub allowed_keys: Option<HashSet<[u8; 32]>>,
    /// Decoded rebuilder keys, so each submission skips point decompression.
    pub keys: KeyCache,
    /// Longest a client may take to send an entry.
    pub body_timeout: std::time::Duration,
    /// Per-key submission rate limits, when configured.
    pub rate_limiter: Option<RateLimiter>,
    /// Keys the operator knows (its rebuilders; every allowed key). Others
    /// are "unknown": rate-limited and given a bounded share of the pool.
    pub known_keys: HashSet<[u8; 32]>,
    /// The rate limit of unknown keys (on by default).
    pub unknown_rate_limiter: Option<RateLimiter>,
    /// Pool shares of unknown keys.
    pub unknown_shares: Arc<PendingShares>,
    /// What all unknown keys together may add (on by default).
    pub unknown_budget: Option<crate::budget::StrangerBudget>,
    /// The figures of `/api/v1/status`.
    pub summaries: crate::summary::Summaries,
    /// The policy the web page applies unless its user pastes one (`--policy`).
    pub default_policy: Option<String>,
    /// The copy of the read path in object storage (`--publish`).
    pub publisher: Option<Arc<crate::publish::Publisher>>,
}

impl AppState {
    /// The limits an entry passes before the sequencer (`admission.rs`).
    pub(crate) fn gate(&self) -> crate::admission::Gate<'_> {
        crate::admission::Gate {
            rate: self.rate_limiter.as_ref(),
            unknown_rate: self.unknown_rate_limiter.as_ref(),
            unknown_budget: self.unknown_budget.as_ref(),
            unknown_shares: &self.unknown_shares,
        }
    }

    pub(crate) fn is_known(&self, key: &[u8; 32]) -> bool {
        self.known_keys.contains(key) || self.allowed_keys.as_ref().is_some_and(|a| a.contains(key))
    }
}

/// A bounded cache of decoded Ed25519 public keys. Rebuilders are few; when an
/// attacker floods it with fresh keys it is simply emptied.
#[derive(Default)]
pub struct KeyCache {
    keys: std::sync::RwLock<std::collections::HashMap<[u8; 32], Verifier>>,
}

impl KeyCache {
    const MAX_KEYS: usize = 4096;

    /// The decoded key, or `None` if the bytes are not a valid Ed25519 point.
    pub fn get(&self, key: &[u8; 32]) -> Option<Verifier> {
        if let Some(v) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return Some(v.clone());
        }
        let v = Verifier::new("entry", key).ok()?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= Self::MAX_KEYS {
            keys.clear();
        }
        keys.insert(*key, v.clone());
        Some(v)
    }
}
