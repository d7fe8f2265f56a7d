//! Auditing a log's verifiable index: every revision the index log holds is
//! recomputed from the log itself. The audit reads the index log's leaves
//! (the revisions, through its verified tiles), then streams the log's
//! entries once, extending the map (`proto::index`) and the log's root as it
//! goes; at each revision's size it compares both roots with the revision's.
//! Memory is the map (its keys, not the entries).
//!
//! At the first revision whose map root is wrong, it names the key: for each
//! digest and rebuilder key that revision changed, it asks the log's latest
//! lookup (its index proof verified) for the list and compares its first
//! entries with the map the log's entries give.

use reprolog_io::http::{self, Http};
use reprolog_proto::checkpoint::{Checkpoint, LogVerifier};
use reprolog_proto::index::replay::{Replay, ReplayError};
use reprolog_proto::index::revision::Revision;
use reprolog_proto::index::trie::Map;
use reprolog_proto::index::{self, Key};
use reprolog_proto::logclient::{proven_lists, LogClient};
use reprolog_proto::Hash;
use serde::Serialize;

/// What the index audit found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexFindings {
    /// Revisions recomputed and found right.
    pub revisions_checked: u64,
    /// The index log's size.
    pub revisions: u64,
    /// Where the index contradicts the log, one line each.
    pub errors: Vec<String>,
}

/// Audits the index of the log `log` (its checkpoint `cp`) kept in the
/// index log at `index_url`, whose checkpoints `index` opens.
pub fn audit_index(
    log: &LogClient<Http>,
    cp: &Checkpoint,
    index_url: &str,
    index: LogVerifier,
) -> IndexFindings {
    let mut f = IndexFindings::default();
    let revisions = match read_revisions(index_url, &index, cp) {
        Ok(r) => r,
        Err(e) => {
            f.errors.push(e);
            return f;
        }
    };
    f.revisions = revisions.len() as u64;
    let end = revisions.last().map_or(0, |r| r.size);
    let mut replay = Replay::new();
    let mut at = Cursor {
        revisions: &revisions,
        next: 0,
    };
    if !at.check(log, &mut replay, &mut f) {
        return f;
    }
    let tiles = log.tiles(cp);
    while replay.size() < end {
        let i = replay.size();
        let bundle = match tiles.bundle(i >> reprolog_proto::tile::HEIGHT) {
            Ok(b) => b,
            Err(e) => {
                f.errors.push(e.to_string());
                return f;
            }
        };
        for bytes in bundle.iter().skip((i % 256) as usize) {
            if replay.size() >= end {
                break;
            }
            if let Err(e) = replay.push(bytes) {
                f.errors.push(e.to_string());
                return f;
            }
            if !at.check(log, &mut replay, &mut f) {
                return f;
            }
        }
    }
    f
}

/// The revisions still to check, in log order.
struct Cursor<'a> {
    revisions: &'a [Revision],
    next: usize,
}

impl Cursor<'_> {
    /// Checks every revision of the replay's size against it; false at the
    /// first wrong one.
    fn check(&mut self, log: &LogClient<Http>, replay: &mut Replay, f: &mut IndexFindings) -> bool {
        while let Some(r) = self
            .revisions
            .get(self.next)
            .filter(|r| r.size == replay.size())
        {
            if let Err(e) = replay.check(r) {
                f.errors
                    .push(wrong_revision(log, self.next as u64, r, replay, &e));
                return false;
            }
            f.revisions_checked += 1;
            self.next += 1;
            replay.forget_changes();
        }
        true
    }
}

/// Every leaf of the index log, read as revisions, checked to be of `cp`'s
/// log, in growing sizes, none past `cp`.
fn read_revisions(
    index_url: &str,
    index: &LogVerifier,
    cp: &Checkpoint,
) -> Result<Vec<Revision>, String> {
    let ilog = http::connect(index_url, index.key.clone()).with_witnesses(index.witnesses.clone());
    let icp = ilog.checkpoint().map_err(|e| format!("index log: {e}"))?;
    let tiles = ilog.tiles(&icp);
    let mut out: Vec<Revision> = Vec::new();
    for n in 0..tiles.bundle_count() {
        for leaf in tiles.bundle(n).map_err(|e| format!("index log: {e}"))? {
            let r = Revision::parse(&leaf)
                .map_err(|e| format!("index log entry {}: {e}", out.len()))?;
            if r.origin != cp.origin {
                return Err(format!("index revision {} indexes another log", out.len()));
            }
            if out.last().is_some_and(|p| r.size < p.size) || r.size > cp.size {
                return Err(format!(
                    "index revision {} indexes size {}, out of order (the log has {})",
                    out.len(),
                    r.size,
                    cp.size
                ));
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// The finding for revision `n`, which the log's entries contradict
/// (`why`): which root, and the first key it changed whose list differs.
fn wrong_revision(
    log: &LogClient<Http>,
    n: u64,
    r: &Revision,
    replay: &Replay,
    why: &ReplayError,
) -> String {
    let head = format!("index revision {n} (log size {})", r.size);
    if !matches!(why, ReplayError::MapRoot(_)) {
        return format!("{head}: {why}");
    }
    let culprit = replay.changes().iter().find_map(|c| {
        list_differs(log, replay.map(), &c.key, &c.digest, &c.signer, r.size)
            .map(|diff| (c.digest, c.signer, diff))
    });
    match culprit {
        Some((digest, signer, diff)) => format!(
            "{head}: {why}; first wrong key: digest {}{} ({diff})",
            digest.to_hex(),
            signer.map_or(String::new(), |k| format!(
                " by rebuilder key {}",
                hex::encode(k)
            ))
        ),
        None => format!("{head}: {why} (every key it changed proves right at the latest revision)"),
    }
}

/// Why the key's list at `size` is wrong, if it is: the log's latest
/// proven list for it, cut at `size`, is not the list the entries give (the
/// map's value), or the log cannot prove that list at all.
fn list_differs(
    log: &LogClient<Http>,
    map: &Map,
    key: &Key,
    digest: &Hash,
    signer: &Option<[u8; 32]>,
    size: u64,
) -> Option<String> {
    let keys: Vec<[u8; 32]> = signer.iter().copied().collect();
    let index = log.index_verifier()?.clone();
    let proven = log
        .lookup_page(digest, &keys, 0)
        .and_then(|(page, cp)| proven_lists(&page, &index, &cp, digest, &keys));
    let list = match proven {
        Ok(p) => p.lists.into_iter().next()?.1,
        Err(e) => return Some(format!("the log cannot prove its list: {e}")),
    };
    let before: Vec<u64> = list.into_iter().filter(|&i| i < size).collect();
    let theirs = index::value_hash(&before);
    let ours = map
        .get(key)
        .map(|(chain, _)| chain)
        .or(Some(index::EMPTY_CHAIN));
    (theirs != ours).then(|| format!("the index lists {before:?} for it"))
}
