//! The JSON (or CBOR) bodies of the log's HTTP API, shared by the server that
//! writes them and the clients that verify them. See the README's "Wire API".
//!
//! Hashes travel as standard base64, entries as base64 of their CBOR bytes.
//! Every response that proves something carries its own signed checkpoint, so a
//! client verifies it offline with only the log's public key.

use crate::checkpoint::{Checkpoint, CheckpointError, LogVerifier};
use crate::hash::Hash;
use crate::index::{self, proof::MapProof, revision::Revision};
use crate::merkle::{self, MerkleError};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Why a response from the log failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("proof: {0}")]
    Proof(#[from] MerkleError),
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The entries do not add up to the counts the answer states.
    #[error("{0}")]
    Counts(String),
    /// The index part of a lookup answer does not prove what it claims.
    #[error("index: {0}")]
    Index(String),
}

/// Serde helpers for `#[serde(with = "...")]`: `Hash` lists and byte strings
/// as base64 text.
pub mod b64 {
    use super::*;

    /// A list of hashes as a list of base64 strings.
    pub mod hashes {
        use super::*;

        pub fn serialize<S: serde::Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(Hash::to_base64))
        }

        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
            let v: Vec<String> = Vec::deserialize(d)?;
            v.iter()
                .map(|s| Hash::from_base64(s).map_err(serde::de::Error::custom))
                .collect()
        }
    }

    /// Bytes as one base64 string.
    pub mod bytes {
        use super::*;

        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&BASE64.encode(v))
        }

        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let s = String::deserialize(d)?;
            BASE64.decode(s).map_err(serde::de::Error::custom)
        }
    }
}

/// The answer to `POST /add-entry`: where the entry is, under which checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub index: u64,
    /// The signed checkpoint note.
    pub checkpoint: String,
    #[serde(with = "b64::hashes")]
    pub inclusion_proof: Vec<Hash>,
}

impl Receipt {
    /// Verifies that `entry` (its CBOR bytes) is record `index` of the tree the
    /// log key signed. Returns that checkpoint.
    pub fn verify(&self, entry: &[u8], log: &LogVerifier) -> Result<Checkpoint, WireError> {
        let cp = log.open(self.checkpoint.as_bytes())?;
        merkle::verify_inclusion(
            self.index,
            cp.size,
            &Hash::leaf(entry),
            &self.inclusion_proof,
            &cp.root,
        )?;
        Ok(cp)
    }
}

/// One entry of a lookup answer, with its proof against the answer's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupEntry {
    pub index: u64,
    #[serde(with = "b64::bytes")]
    pub entry: Vec<u8>,
    #[serde(with = "b64::hashes")]
    pub inclusion_proof: Vec<Hash>,
}

/// The answer to `GET /lookup/<sha256>[?key=<hex>…][&cursor=<index>]`: the
/// entries about the digest (only those of the keys named, when any are),
/// in log order from the cursor on.
///
/// An answer is complete for the keys it names unless `next` is set: then it
/// was cut at the page size and the rest starts at index `next`. `total`
/// counts every entry about the digest under the checkpoint, whatever its key;
/// `matched` those of the keys named (every key when none is): what the
/// answer's pages hold together once complete (both absent in older answers).
/// A client refuses an answer whose entries disagree with these counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupResponse {
    pub checkpoint: String,
    pub entries: Vec<LookupEntry>,
    /// The proof that the entries are all there are (logs with an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

impl LookupResponse {
    /// Checks the counts this page states against what it holds, and, when
    /// `complete` holds the entries of every page of the answer (the last
    /// page's `next` unset), that they are as many as `matched` says. An
    /// answer that says more entries match than it holds had some removed.
    pub fn check_counts(&self, complete: Option<usize>) -> Result<(), WireError> {
        let held = self.entries.len() as u64;
        let bad = |why: String| Err(WireError::Counts(why));
        if let (Some(total), Some(matched)) = (self.total, self.matched) {
            if matched > total {
                return bad(format!(
                    "the answer says {matched} entries match of {total} in all"
                ));
            }
        }
        if let Some(limit) = self.matched.or(self.total) {
            if held > limit {
                return bad(format!(
                    "the answer holds {held} entries but says {limit} match"
                ));
            }
        }
        match (complete, self.matched) {
            (Some(all), Some(matched)) if all as u64 != matched => bad(format!(
                "the answer lists {all} of the {matched} entries it says match the keys asked: entries are missing",
            )),
            _ => Ok(()),
        }
    }

    /// Verifies the checkpoint and every entry's inclusion proof. Returns the
    /// checkpoint; the entries' contents are the caller's to judge.
    pub fn verify(&self, log: &LogVerifier) -> Result<Checkpoint, WireError> {
        let cp = log.open(self.checkpoint.as_bytes())?;
        for e in &self.entries {
            merkle::verify_inclusion(
                e.index,
                cp.size,
                &Hash::leaf(&e.entry),
                &e.inclusion_proof,
                &cp.root,
            )?;
        }
        Ok(cp)
    }
}

/// The index's part of a lookup answer: the revision of the map the answer
/// is complete under, how it is committed to, and for each key asked its
/// whole list of indices with the map proof (`proto::index`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexAnswer {
    /// The index log's signed checkpoint note.
    pub checkpoint: String,
    /// Its last leaf: the revision text (`proto::index::revision`).
    pub revision: String,
    /// The revision leaf's inclusion proof in the index log.
    #[serde(with = "b64::hashes")]
    pub revision_proof: Vec<Hash>,
    /// One per key asked, in the order asked; the subject's own key when no
    /// rebuilder key was asked.
    pub keys: Vec<KeyAnswer>,
}

/// One key's whole list of indices and the map proof of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyAnswer {
    /// The rebuilder key (hex) for a signer key; absent for the subject key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    pub indices: Vec<u64>,
    #[serde(with = "b64::bytes")]
    pub proof: Vec<u8>,
}

/// What a verified index answer proves: as of the log's first `revision.size`
/// entries, these keys hold exactly these indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenLists {
    pub revision: Revision,
    /// The index log's checkpoint the revision is the last leaf of.
    pub index_checkpoint: Checkpoint,
    /// The rebuilder key (none: every entry about the digest) and its list.
    pub lists: Vec<(Option<[u8; 32]>, Vec<u64>)>,
}

impl IndexAnswer {
    /// Verifies the chain from the index log's checkpoint (opened with
    /// `index`, its key and witness quorum) to each key's list for `digest`,
    /// and that the revision indexes exactly the tree of the answer's log
    /// checkpoint `log_cp` (an answer is given at its revision's size, so
    /// that an index kept behind its log cannot hide newer entries).
    /// `keys` are the rebuilder keys asked (none: the subject).
    pub fn verify(
        &self,
        index: &LogVerifier,
        log_cp: &Checkpoint,
        digest: &Hash,
        keys: &[[u8; 32]],
    ) -> Result<ProvenLists, WireError> {
        let bad = |why: String| WireError::Index(why);
        let index_checkpoint = index.open(self.checkpoint.as_bytes())?;
        let revision = Revision::parse(self.revision.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let last = index_checkpoint
            .size
            .checked_sub(1)
            .ok_or_else(|| bad("the index log is empty".into()))?;
        merkle::verify_inclusion(
            last,
            index_checkpoint.size,
            &revision.leaf_hash(),
            &self.revision_proof,
            &index_checkpoint.root,
        )
        .map_err(|e| {
            bad(format!(
                "the revision is not the index log's last leaf: {e}"
            ))
        })?;
        if revision.origin != log_cp.origin {
            return Err(bad(format!(
                "the revision indexes {}, not this log",
                crate::display::escape(&revision.origin, 100)
            )));
        }
        if (revision.size, revision.log_root) != (log_cp.size, log_cp.root) {
            return Err(bad(format!(
                "the revision indexes the log at size {}, the answer's checkpoint is of size {}",
                revision.size, log_cp.size
            )));
        }
        let asked = index::lookup_keys(digest, keys);
        if self.keys.len() != asked.len() {
            return Err(bad(format!(
                "{} key answers for {} keys asked",
                self.keys.len(),
                asked.len()
            )));
        }
        let mut lists = Vec::with_capacity(asked.len());
        for (answer, (signer, key)) in self.keys.iter().zip(asked) {
            let named = match &answer.signer {
                Some(h) => Some(
                    hex_key(h).ok_or_else(|| bad("a key answer names a malformed key".into()))?,
                ),
                None => None,
            };
            if named != signer {
                return Err(bad(
                    "the key answers are not for the keys asked, in order".into()
                ));
            }
            if answer.indices.iter().any(|&i| i >= revision.size) {
                return Err(bad(format!(
                    "a list names an index past the revision's {} entries",
                    revision.size
                )));
            }
            MapProof::parse(&answer.proof)
                .and_then(|p| p.verify(&revision.map_root, &key, &answer.indices))
                .map_err(|e| bad(format!("map proof: {e}")))?;
            lists.push((signer, answer.indices.clone()));
        }
        Ok(ProvenLists {
            revision,
            index_checkpoint,
            lists,
        })
    }
}

impl ProvenLists {
    /// Checks that `entries` (every entry of the answer, from all its pages)
    /// are exactly what the proven lists name: none left out, none extra.
    pub fn check_entries<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a LookupEntry>,
    ) -> Result<(), WireError> {
        let mut held: Vec<(u64, [u8; 32])> = Vec::new();
        for e in entries {
            let key = crate::entry::Entry::from_cbor(&e.entry)
                .map_err(|err| WireError::Index(format!("entry {}: {err}", e.index)))?
                .key;
            held.push((e.index, key));
        }
        for (signer, list) in &self.lists {
            let mut got: Vec<u64> = held
                .iter()
                .filter(|(_, k)| signer.is_none_or(|s| s == *k))
                .map(|(i, _)| *i)
                .collect();
            got.sort_unstable();
            got.dedup();
            let by = signer.map_or(String::new(), |s| {
                format!(" by key {}", hex::encode(&s[..8]))
            });
            if let Some(i) = list.iter().find(|i| got.binary_search(i).is_err()) {
                return Err(WireError::Index(format!(
                    "the index lists entry {i}{by}, but the answer leaves it out"
                )));
            }
            if let Some(i) = got.iter().find(|i| list.binary_search(i).is_err()) {
                return Err(WireError::Index(format!(
                    "the answer holds entry {i}{by}, which the index does not list"
                )));
            }
        }
        Ok(())
    }
}

/// 64 lowercase hex digits as a 32-byte key.
fn hex_key(text: &str) -> Option<[u8; 32]> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

/// The answer to `GET /proof/inclusion?index=I&size=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    #[serde(with = "b64::hashes")]
    pub proof: Vec<Hash>,
}

/// The answer to `GET /proof/consistency?old=M&new=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub old: u64,
    pub new: u64,
    #[serde(with = "b64::hashes")]
    pub proof: Vec<Hash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_serialise_hashes_as_base64() {
        let r = Receipt {
            index: 3,
            checkpoint: "x".into(),
            inclusion_proof: vec![Hash::of(b"a")],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(&Hash::of(b"a").to_base64()), "{json}");
        assert!(json.contains("inclusionProof"));
        assert_eq!(serde_json::from_str::<Receipt>(&json).unwrap(), r);
        assert!(serde_json::from_str::<Receipt>(
            r#"{"index":1,"checkpoint":"","inclusionProof":["AAAA"]}"#
        )
        .is_err());
    }
}
