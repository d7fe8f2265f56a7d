//! The log at a glance, for the web page and tools (`GET /api/v1/status`):
//! the rebuilders seen with their counts of matches and mismatches, the
//! newest entries, and the digests some rebuilder logged a mismatch for.
//!
//! This is the server's word, a guide to what to look up: the page verifies
//! every verdict it shows from lookups and proofs. The figures are a pure
//! function of the log's entries, so they are built by scanning: once at the
//! first request, then only the entries appended since (under one mutex).

use crate::log::Log;
use crate::storage::StorageError;
use reprolog_proto::entry::Entry;
use reprolog_proto::statement::Statement;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// Newest entries kept for the page.
pub const RECENT: usize = 50;
/// Digests with a mismatch kept for the page (newest first).
pub const MISMATCHED: usize = 50;
/// Entries read from storage at a time while scanning.
const SCAN_CHUNK: u64 = 1024;

/// One entry as the page lists it (decoded, not verified: the page does that).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryInfo {
    pub index: u64,
    /// The rebuilder's public key, hex.
    pub key: String,
    /// The statement's builder id (the rebuilder's key name).
    pub rebuilder: String,
    pub reproduced: bool,
    /// The subject digest, hex.
    pub subject: String,
    pub name: String,
    pub go_version: String,
    pub finished_on: String,
}

/// A rebuilder key and what it logged.
#[derive(Debug, Clone, Serialize)]
pub struct RebuilderStats {
    pub key: String,
    pub name: String,
    pub matches: u64,
    pub mismatches: u64,
}

/// A digest some rebuilder could not reproduce.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatched {
    pub digest: String,
    pub name: String,
    pub last_index: u64,
}

/// The answer of `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub origin: String,
    pub vkey: String,
    pub size: u64,
    /// The signed checkpoint note the figures are computed at.
    pub checkpoint: String,
    pub rebuilders: Vec<RebuilderStats>,
    /// Newest first.
    pub recent: Vec<EntryInfo>,
    /// Newest first.
    pub mismatched: Vec<Mismatched>,
    /// Entries that do not decode (none in a log this server wrote).
    pub malformed: u64,
    /// Whether `GET /api/v1/policy` has a default policy.
    pub has_policy: bool,
}

#[derive(Default)]
struct Scan {
    scanned: u64,
    rebuilders: BTreeMap<[u8; 32], RebuilderStats>,
    recent: VecDeque<EntryInfo>,
    mismatched: VecDeque<Mismatched>,
    malformed: u64,
}

/// The incrementally maintained figures.
#[derive(Default)]
pub struct Summaries {
    scan: Mutex<Scan>,
}

impl Summaries {
    /// The figures at the log's published checkpoint.
    pub fn status(&self, log: &Log, has_policy: bool) -> Result<Status, StorageError> {
        let published = log.latest();
        let size = published.checkpoint.size;
        let mut scan = self.scan.lock().unwrap_or_else(|e| e.into_inner());
        let snap = log.snapshot()?;
        while scan.scanned < size {
            let end = (scan.scanned + SCAN_CHUNK).min(size);
            for (i, bytes) in (scan.scanned..end).zip(snap.entries(scan.scanned, end)?) {
                scan.add(i, &bytes);
            }
            scan.scanned = end;
        }
        Ok(Status {
            origin: log.origin().to_string(),
            vkey: log.verifier_key(),
            size,
            checkpoint: published.note.clone(),
            rebuilders: scan.rebuilders.values().cloned().collect(),
            recent: scan.recent.iter().cloned().collect(),
            mismatched: scan.mismatched.iter().cloned().collect(),
            malformed: scan.malformed,
            has_policy,
        })
    }
}

impl Scan {
    fn add(&mut self, index: u64, bytes: &[u8]) {
        let Some((entry, st)) = Entry::from_cbor(bytes)
            .ok()
            .and_then(|e| Statement::from_json(&e.payload).ok().map(|st| (e, st)))
        else {
            self.malformed += 1;
            return;
        };
        let (Ok(subject), Ok(_)) = (st.subject_digest(), st.rebuilt_digest()) else {
            self.malformed += 1;
            return;
        };
        let reproduced = st.reproduced();
        let builder = &st.predicate.run_details.builder.id;
        let stats = self
            .rebuilders
            .entry(entry.key)
            .or_insert_with(|| RebuilderStats {
                key: hex::encode(entry.key),
                name: builder.clone(),
                matches: 0,
                mismatches: 0,
            });
        if reproduced {
            stats.matches += 1;
        } else {
            stats.mismatches += 1;
        }
        let name = st
            .subject
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        if !reproduced {
            let digest = subject.to_hex();
            self.mismatched.retain(|m| m.digest != digest);
            self.mismatched.push_front(Mismatched {
                digest,
                name: name.clone(),
                last_index: index,
            });
            self.mismatched.truncate(MISMATCHED);
        }
        self.recent.push_front(EntryInfo {
            index,
            key: hex::encode(entry.key),
            rebuilder: builder.clone(),
            reproduced,
            subject: subject.to_hex(),
            name,
            go_version: st
                .predicate
                .build_definition
                .external_parameters
                .go_version
                .clone(),
            finished_on: st.predicate.run_details.metadata.finished_on.clone(),
        });
        self.recent.truncate(RECENT);
    }
}
