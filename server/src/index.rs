//! The log's verifiable index (`proto::index`): the map from each entry's
//! keys (its subject; its subject and signer) to the log indices that map
//! there, and the index log, a second C2SP log whose leaf per revision
//! commits to (log size, log root, map root).
//!
//! The index log is a [`Log`] of its own (own key, origin, storage, witness
//! cosignatures, tiles), so it is served, published and witnessed like the
//! log. The map is derived from the log, so it is not stored: it is built
//! from the log's entries on open (and checked against the index log's last
//! revision) and extended per batch, in memory. It is persistent
//! (`proto::index::trie::Map`), so the published revision stays whole while
//! the next one is built.
//!
//! Invariant: the published revision's map is the map of exactly the log's
//! first `revision.size` entries, `revision.log_root` is the log's root at
//! that size, and the revision is the index log's published last leaf.

use crate::log::{Log, LogError, SignedCheckpoint};
use crate::storage::{LookupQuery, NewEntry, StorageError};
use reprolog_proto::index::revision::Revision;
use reprolog_proto::index::trie::Map;
use reprolog_proto::index::{self, Key};
use reprolog_proto::wire::{IndexAnswer, KeyAnswer};
use reprolog_proto::Hash;
use std::sync::{Arc, Mutex, RwLock};

/// Why the index could not open, advance or answer.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("index: {0}")]
    Map(#[from] index::trie::IndexError),
    #[error("the index log's last revision does not match the log: {0}; refusing to serve")]
    Mismatch(String),
}

/// An entry as the map needs it: (log index, subject digest, signer key).
pub type Appended = (u64, Hash, [u8; 32]);

/// A published revision: what lookups are answered from. A lookup is
/// answered at the revision's size, so it carries the log's checkpoint of
/// that size (an index kept behind its log must not hide newer entries).
pub struct Published {
    pub map: Map,
    pub revision: Revision,
    /// The index log's checkpoint whose last leaf is `revision`.
    pub checkpoint: Arc<SignedCheckpoint>,
    /// The log's checkpoint the revision indexes (the log may have had it
    /// cosigned again since: then its latest note is the fresher one).
    pub log_checkpoint: Arc<SignedCheckpoint>,
}

/// The map as far as it has been built, ahead of or at the published one.
struct Working {
    map: Map,
    size: u64,
}

/// The index of one log.
pub struct Index {
    log: Arc<Log>,
    working: Mutex<Working>,
    published: RwLock<Option<Arc<Published>>>,
    /// An entry whose signer key is left out of the map: a wrong index, for
    /// the audit's tests only ([`Index::open_leaving_out`]).
    leave_out: Option<u64>,
}

/// Entries read from the log per request while building the map.
const CHUNK: u64 = 4096;

impl Index {
    /// Opens the index of `input` kept in `index_log`: rebuilds the map of
    /// the entries the last revision covers and checks it against that
    /// revision, then publishes a revision of everything `input` published.
    pub fn open(input: &Log, index_log: Log) -> Result<Index, IndexError> {
        Index::open_with(input, index_log, None)
    }

    /// An index that leaves entry `n`'s signer key out of its map, so its
    /// revisions from `n` on are wrong: for tests of the audit that must
    /// catch such a log.
    #[cfg(feature = "harness")]
    pub fn open_leaving_out(input: &Log, index_log: Log, n: u64) -> Result<Index, IndexError> {
        Index::open_with(input, index_log, Some(n))
    }

    fn open_with(input: &Log, index_log: Log, leave_out: Option<u64>) -> Result<Index, IndexError> {
        let checkpoint = index_log.latest();
        let last = last_revision(&index_log, &checkpoint)?;
        let size = last.as_ref().map_or(0, |r| r.size);
        let map = map_of(input, size, leave_out)?;
        let published = match last {
            Some(revision) => {
                check_revision(input, &revision, &map)?;
                publishable(input, revision, map.clone(), checkpoint)?
            }
            None => None,
        };
        let index = Index {
            log: Arc::new(index_log),
            working: Mutex::new(Working { map, size }),
            published: RwLock::new(published.map(Arc::new)),
            leave_out,
        };
        if !index.log.is_sequencer() {
            // Another instance sequences: this one follows what it stores.
            return Ok(index);
        }
        match index.advance(input) {
            // A map that contradicts the log is not served.
            Err(e @ (IndexError::Mismatch(_) | IndexError::Map(_))) => return Err(e),
            // Witnesses away, say: the revision is published later.
            Err(e) => tracing::warn!("publishing the index revision: {e}; retrying"),
            Ok(()) => {}
        }
        Ok(index)
    }

    /// Checks whether this instance writes the index log, which on shared
    /// storage follows whether it sequences `input` (the log's role is
    /// checked first). One that does not, and one that just started to,
    /// takes up the revision the index log stores ([`Index::follow`]).
    pub fn keep_role(&self, input: &Log) -> Result<bool, IndexError> {
        let was = self.log.is_sequencer();
        let now = self.log.keep_role()?;
        if !now || !was {
            self.follow(input)?;
        }
        Ok(now)
    }

    /// Publishes the index log's stored last revision, when newer than the
    /// published one: the map is extended to its size (or rebuilt, if built
    /// past it) and checked against it first, so a follower serves only
    /// revisions it recomputed from the log.
    pub fn follow(&self, input: &Log) -> Result<(), IndexError> {
        let checkpoint = self.log.latest();
        let unchanged = self
            .published()
            .is_some_and(|p| p.checkpoint.checkpoint.size >= checkpoint.checkpoint.size);
        if unchanged {
            return Ok(());
        }
        let Some(revision) = last_revision(&self.log, &checkpoint)? else {
            return Ok(());
        };
        if self
            .published()
            .is_some_and(|p| p.revision.size >= revision.size)
        {
            return Ok(());
        }
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        if working.size > revision.size {
            let map = map_of(input, revision.size, self.leave_out)?;
            *working = Working {
                map,
                size: revision.size,
            };
        } else if working.size < revision.size {
            let mut map = working.map.clone();
            extend(&mut map, input, working.size, revision.size, self.leave_out)?;
            *working = Working {
                map,
                size: revision.size,
            };
        }
        check_revision(input, &revision, &working.map)?;
        if let Some(p) = publishable(input, revision, working.map.clone(), checkpoint)? {
            *self.published.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(p));
        }
        Ok(())
    }

    /// The index log.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The published revision, if there is one yet.
    pub fn published(&self) -> Option<Arc<Published>> {
        self.published
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Extends the map to `input`'s published checkpoint and publishes the
    /// revision in the index log (cosigned when it has witnesses). Does
    /// nothing when the published revision is already of that checkpoint.
    pub fn advance(&self, input: &Log) -> Result<(), IndexError> {
        self.advance_with(input, &[])
    }

    /// [`Index::advance`], given the entries the sequencer just appended
    /// (index, subject, key; ascending): when they are exactly the ones the
    /// map lacks they are used as they are, saving reading and decoding
    /// them back from storage.
    pub fn advance_with(&self, input: &Log, appended: &[Appended]) -> Result<(), IndexError> {
        self.advance_to(input, input.latest(), appended)
    }

    /// [`Index::advance_with`] to the log's checkpoint `target` (the one
    /// of the batch that appended `appended`), which the log may have
    /// passed since: the sequencer commits the next batch meanwhile.
    pub fn advance_to(
        &self,
        input: &Log,
        target: Arc<SignedCheckpoint>,
        appended: &[Appended],
    ) -> Result<(), IndexError> {
        let mut working = self.working.lock().unwrap_or_else(|e| e.into_inner());
        let (size, root) = (target.checkpoint.size, target.checkpoint.root);
        // A revision of this size or a later one is out, or being made.
        if working.size > size || self.published().is_some_and(|p| p.revision.size >= size) {
            return Ok(());
        }
        if size > working.size {
            let mut map = working.map.clone();
            let exact = appended.first().map(|a| a.0) == Some(working.size)
                && appended.len() as u64 == size - working.size
                && appended.windows(2).all(|w| w[1].0 == w[0].0 + 1);
            if exact {
                let mut items = Vec::with_capacity(appended.len() * 2);
                for (i, subject, key) in appended {
                    push_keys(&mut items, *i, subject, key, self.leave_out);
                }
                map.append_all(items)?;
            } else {
                extend(&mut map, input, working.size, size, self.leave_out)?;
            }
            *working = Working { map, size };
        }
        let revision = Revision {
            origin: input.origin().to_string(),
            size,
            log_root: root,
            map_root: working.map.root(),
        };
        self.log
            .append(&[NewEntry::opaque(revision.to_text().into_bytes())])?;
        let published = Published {
            map: working.map.clone(),
            revision,
            checkpoint: self.log.latest(),
            log_checkpoint: target,
        };
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(published));
        Ok(())
    }

    /// The index part of a lookup answer for `digest` and the rebuilder
    /// `keys` (none: the subject's own key), under the revision `published`.
    pub fn answer(
        &self,
        published: &Published,
        input: &Log,
        digest: &Hash,
        keys: &[[u8; 32]],
    ) -> Result<IndexAnswer, IndexError> {
        let revision = &published.revision;
        // The index log's latest note when it is of the same size: it may
        // have been cosigned again since (clients bound the cosignature's age).
        let latest = self.log.latest();
        let checkpoint = if latest.checkpoint == published.checkpoint.checkpoint {
            latest
        } else {
            published.checkpoint.clone()
        };
        let index_size = checkpoint.checkpoint.size;
        let revision_proof = self
            .log
            .inclusion_proofs(&[index_size - 1], index_size)?
            .pop()
            .unwrap_or_default();
        let asked = index::lookup_keys(digest, keys);
        let mut answers = Vec::with_capacity(asked.len());
        for (signer, key) in asked {
            let filter: Vec<[u8; 32]> = signer.iter().copied().collect();
            let indices = all_indices(input, digest, &filter, revision.size)?;
            let proof = published.map.prove(&key);
            if proof.verify(&revision.map_root, &key, &indices).is_err() {
                // Storage and the map disagree: never answer with a proof
                // that does not hold.
                return Err(IndexError::Mismatch(format!(
                    "the map's list for {} differs from storage's",
                    digest.to_hex()
                )));
            }
            answers.push(KeyAnswer {
                signer: signer.map(hex::encode),
                indices,
                proof: proof.to_bytes(),
            });
        }
        Ok(IndexAnswer {
            checkpoint: checkpoint.note.clone(),
            revision: revision.to_text(),
            revision_proof,
            keys: answers,
        })
    }
}

/// The revision `revision` of the map `map`, published with the index log's
/// checkpoint whose last leaf it is, once the log's checkpoint of its size
/// is at hand (stored ones are kept by size). `None` when it is not.
fn publishable(
    input: &Log,
    revision: Revision,
    map: Map,
    checkpoint: Arc<SignedCheckpoint>,
) -> Result<Option<Published>, IndexError> {
    let latest = input.latest();
    let log_checkpoint = if latest.checkpoint.size == revision.size {
        latest
    } else {
        match input.checkpoint_at(revision.size)? {
            Some(signed) => Arc::new(signed),
            None => return Ok(None),
        }
    };
    if log_checkpoint.checkpoint.root != revision.log_root {
        return Err(IndexError::Mismatch(format!(
            "the log's checkpoint of size {} has another root than the revision",
            revision.size
        )));
    }
    Ok(Some(Published {
        map,
        revision,
        checkpoint,
        log_checkpoint,
    }))
}

/// The last leaf of the index log at `checkpoint`, read as a revision.
fn last_revision(
    index_log: &Log,
    checkpoint: &SignedCheckpoint,
) -> Result<Option<Revision>, IndexError> {
    let size = checkpoint.checkpoint.size;
    let Some(last) = size.checked_sub(1) else {
        return Ok(None);
    };
    let bytes = index_log
        .snapshot()?
        .entries(last, size)?
        .pop()
        .ok_or_else(|| IndexError::Mismatch(format!("index log entry {last} is missing")))?;
    Revision::parse(&bytes)
        .map(Some)
        .map_err(|e| IndexError::Mismatch(e.to_string()))
}

/// That `revision` is the map `map` of `input`'s first `revision.size` entries.
fn check_revision(input: &Log, revision: &Revision, map: &Map) -> Result<(), IndexError> {
    if revision.origin != input.origin() {
        return Err(IndexError::Mismatch(format!(
            "it indexes {}, this log is {}",
            revision.origin,
            input.origin()
        )));
    }
    let root = input.snapshot()?.root(revision.size)?;
    if root != revision.log_root || map.root() != revision.map_root {
        return Err(IndexError::Mismatch(format!(
            "its roots for size {} are not the log's and the map's",
            revision.size
        )));
    }
    Ok(())
}

/// The map of `input`'s entries `0..size`, built in one pass: every
/// (key, index) pair, sorted, folded into leaves.
fn map_of(input: &Log, size: u64, leave_out: Option<u64>) -> Result<Map, IndexError> {
    let mut pairs: Vec<(Key, u64)> = Vec::with_capacity(usize::try_from(size * 2).unwrap_or(0));
    for_each_entry(input, 0, size, |i, e| {
        pairs.push((index::subject_key(&e.subject), i));
        if leave_out != Some(i) {
            pairs.push((index::signer_key(&e.subject, &e.key), i));
        }
    })?;
    pairs.sort_unstable();
    let mut leaves: Vec<(Key, Hash, u64)> = Vec::new();
    for (key, i) in pairs {
        match leaves.last_mut() {
            Some((k, chain, last)) if *k == key => {
                *chain = index::chain(chain, i);
                *last = i;
            }
            _ => leaves.push((key, index::chain(&index::EMPTY_CHAIN, i), i)),
        }
    }
    Ok(Map::from_sorted(leaves)?)
}

/// Appends the keys of `input`'s entries `start..end` to `map`.
fn extend(
    map: &mut Map,
    input: &Log,
    start: u64,
    end: u64,
    leave_out: Option<u64>,
) -> Result<(), IndexError> {
    let mut items = Vec::new();
    for_each_entry(input, start, end, |i, e| {
        push_keys(&mut items, i, &e.subject, &e.key, leave_out);
    })?;
    Ok(map.append_all(items)?)
}

/// Entry `i`'s two keys, as map items (its signer key not, when it is the
/// one left out).
fn push_keys(
    items: &mut Vec<(Key, u64)>,
    i: u64,
    subject: &Hash,
    key: &[u8; 32],
    leave_out: Option<u64>,
) {
    items.push((index::subject_key(subject), i));
    if leave_out != Some(i) {
        items.push((index::signer_key(subject, key), i));
    }
}

/// Calls `f` with each of `input`'s entries `start..end`, read in chunks.
fn for_each_entry(
    input: &Log,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, &NewEntry),
) -> Result<(), IndexError> {
    let snap = input.snapshot()?;
    let mut at = start;
    while at < end {
        let to = (at + CHUNK).min(end);
        for (i, bytes) in (at..to).zip(snap.entries(at, to)?) {
            f(i, &NewEntry::from_stored(i, bytes)?);
        }
        at = to;
    }
    Ok(())
}

/// Every index below `size` of the entries about `digest` (by `keys`, when
/// given), however many pages storage returns them in.
fn all_indices(
    input: &Log,
    digest: &Hash,
    keys: &[[u8; 32]],
    size: u64,
) -> Result<Vec<u64>, IndexError> {
    let snap = input.snapshot()?;
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let page = snap.lookup(&LookupQuery {
            digest,
            keys,
            size,
            cursor,
            limit: 100_000,
        })?;
        out.extend(page.indices);
        match page.next {
            Some(next) => cursor = next,
            None => return Ok(out),
        }
    }
}
