//! A log replayed entry by entry against its index: the map its entries give
//! and its tree root, so each index revision can be checked at its size
//! without trusting the log. The audit (`reprolog audit --full`) and the
//! rebuilder's follower both feed it the entries they read anyway.
//!
//! Invariant: after `n` calls of [`Replay::push`] with the log's entries
//! `0..n`, [`Replay::check`] accepts exactly the revision of size `n` whose
//! log root is the root of those entries and whose map root is their map.

use super::revision::Revision;
use super::trie::Map;
use super::{signer_key, subject_key, Key};
use crate::entry::Entry;
use crate::merkle::CompactRange;
use crate::Hash;

/// A key an entry put into the map: the digest, and the rebuilder key for a
/// (digest, rebuilder) key (none for the digest's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub key: Key,
    pub digest: Hash,
    pub signer: Option<[u8; 32]>,
}

/// Why a revision is not the replay's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("index revision of log size {revision} checked at size {replayed}")]
    WrongSize { revision: u64, replayed: u64 },
    #[error("its log root is not the log's root at size {0}")]
    LogRoot(u64),
    #[error("its map root is not the map of the log's first {0} entries")]
    MapRoot(u64),
    #[error("entry {index}: {why}")]
    Entry { index: u64, why: String },
}

/// The map and tree of the log's first [`Replay::size`] entries.
#[derive(Clone, Default)]
pub struct Replay {
    map: Map,
    range: CompactRange,
    size: u64,
    /// Keys the entries pushed since the last [`Replay::forget_changes`] touched.
    changed: Vec<Changed>,
}

impl Replay {
    /// The empty log's.
    pub fn new() -> Replay {
        Replay::default()
    }

    /// How many entries were pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The map of the entries pushed.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// Adds the log's next entry (entry number [`Replay::size`]). An entry
    /// that is not a log entry is refused and changes nothing.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ReplayError> {
        let index = self.size;
        let (digest, signer) = keys_of(bytes).map_err(|why| ReplayError::Entry { index, why })?;
        let keys = [
            (subject_key(&digest), None),
            (signer_key(&digest, &signer), Some(signer)),
        ];
        for (key, signer) in keys {
            // Indices ascend by construction, so the map takes them.
            self.map
                .append(&key, index)
                .map_err(|e| ReplayError::Entry {
                    index,
                    why: e.to_string(),
                })?;
            self.changed.push(Changed {
                key,
                digest,
                signer,
            });
        }
        self.range.push(Hash::leaf(bytes));
        self.size += 1;
        Ok(())
    }

    /// That `revision` is the state of the entries pushed: same size, same
    /// log root, same map root.
    pub fn check(&self, revision: &Revision) -> Result<(), ReplayError> {
        if revision.size != self.size {
            return Err(ReplayError::WrongSize {
                revision: revision.size,
                replayed: self.size,
            });
        }
        if revision.log_root != self.range.root() {
            return Err(ReplayError::LogRoot(self.size));
        }
        if revision.map_root != self.map.root() {
            return Err(ReplayError::MapRoot(self.size));
        }
        Ok(())
    }

    /// The keys touched since the last [`Replay::forget_changes`] (where to
    /// look first when a revision's map root is wrong).
    pub fn changes(&self) -> &[Changed] {
        &self.changed
    }

    /// Starts a new list of touched keys (after a revision checked right).
    pub fn forget_changes(&mut self) {
        self.changed.clear();
    }
}

/// The subject digest and signer key of a log entry.
fn keys_of(bytes: &[u8]) -> Result<(Hash, [u8; 32]), String> {
    let entry = Entry::from_cbor(bytes).map_err(|e| e.to_string())?;
    let digest = entry
        .statement()
        .map_err(|e| e.to_string())?
        .subject_digest()
        .map_err(|e| e.to_string())?;
    Ok((digest, entry.key))
}
