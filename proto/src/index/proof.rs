//! Proofs of what one key holds in a map revision: the whole list of its
//! indices, or that it holds none.
//!
//! A proof walks from the root towards the key: one step per inner node
//! passed (its depth and the hash of the child not taken), then the node
//! where the walk ends. The verifier rebuilds every hash on the way up with
//! the prefix *of the key asked about*, so a step can only belong to that
//! key's path. The walk ends
//!
//! - at the key's own leaf (member: the verifier hashes the list it was given),
//! - at another key's leaf, which shares every bit the steps fixed
//!   (absent: had the key been in the map, that leaf's place would be an
//!   inner node),
//! - at an inner node whose prefix leaves the key's (absent: no key below it
//!   starts like the key), or
//! - at nothing, in the empty map.
//!
//! Given a root, only one of these can verify for a key (as long as SHA-256
//! has no collisions), so a log cannot prove two different answers under one
//! revision; that the revision is the right map of the log is what an audit
//! recomputes.
//!
//! Bytes: be16(number of steps) ‖ steps (depth ‖ 32-byte hash, depths
//! strictly ascending) ‖ end tag ‖ end: 0x00 member (nothing); 0x01 other
//! leaf (key ‖ value hash); 0x02 other inner node (depth ‖ prefix ‖ left ‖
//! right); 0x03 empty map (nothing, and no steps). Nothing may follow.

use super::{bit, empty_root, first_difference, inner_hash, leaf_hash, prefix, value_hash, Key};
use crate::hash::Hash;

/// Where a proof's walk ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofEnd {
    /// The key's own leaf; its list comes beside the proof.
    Member,
    /// Another key's leaf, where the asked key's leaf would be.
    OtherLeaf { key: Key, value: Hash },
    /// An inner node whose prefix is not the asked key's.
    OtherInner {
        depth: u8,
        prefix: Key,
        left: Hash,
        right: Hash,
    },
    /// The map is empty.
    Empty,
}

/// A proof that a key holds a given list (or none) under a map root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProof {
    /// (depth, hash of the other child), root first.
    pub steps: Vec<(u8, Hash)>,
    pub end: ProofEnd,
}

/// Why a map proof was refused. Each reads as one line after "index proof:".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("the indices listed for the key do not ascend")]
    Unordered,
    #[error("it says the key is in the map, but no indices were given for it")]
    MemberWithoutIndices,
    #[error("it says the key is not in the map, but indices were given for it")]
    AbsentWithIndices,
    #[error("the leaf it ends at is the key's own, so the key is not absent")]
    NotOther,
    #[error("the node it ends at is not where the key's path leads")]
    OffPath,
    #[error("its steps do not descend (depths must strictly ascend)")]
    Descent,
    #[error("it does not lead to the map root of the revision")]
    Root,
}

const MEMBER: u8 = 0;
const OTHER_LEAF: u8 = 1;
const OTHER_INNER: u8 = 2;
const EMPTY: u8 = 3;

impl MapProof {
    /// The proof's bytes (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.steps.len() * 33 + 130);
        // At most 256 steps: depths are distinct bytes.
        out.extend_from_slice(&(self.steps.len() as u16).to_be_bytes());
        for (depth, hash) in &self.steps {
            out.push(*depth);
            out.extend_from_slice(&hash.0);
        }
        match &self.end {
            ProofEnd::Member => out.push(MEMBER),
            ProofEnd::OtherLeaf { key, value } => {
                out.push(OTHER_LEAF);
                out.extend_from_slice(key);
                out.extend_from_slice(&value.0);
            }
            ProofEnd::OtherInner {
                depth,
                prefix,
                left,
                right,
            } => {
                out.push(OTHER_INNER);
                out.push(*depth);
                out.extend_from_slice(prefix);
                out.extend_from_slice(&left.0);
                out.extend_from_slice(&right.0);
            }
            ProofEnd::Empty => out.push(EMPTY),
        }
        out
    }

    /// Parses exactly the bytes [`MapProof::to_bytes`] writes.
    pub fn parse(bytes: &[u8]) -> Result<MapProof, ProofError> {
        let mut r = Bytes(bytes);
        let count = u16::from_be_bytes(r.array()?);
        if count > 256 {
            return Err(ProofError::Malformed("more than 256 steps"));
        }
        let mut steps = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let [depth] = r.array()?;
            steps.push((depth, Hash(r.array()?)));
        }
        let [tag] = r.array()?;
        let end = match tag {
            MEMBER => ProofEnd::Member,
            OTHER_LEAF => ProofEnd::OtherLeaf {
                key: r.array()?,
                value: Hash(r.array()?),
            },
            OTHER_INNER => ProofEnd::OtherInner {
                depth: r.array::<1>()?[0],
                prefix: r.array()?,
                left: Hash(r.array()?),
                right: Hash(r.array()?),
            },
            EMPTY => ProofEnd::Empty,
            _ => return Err(ProofError::Malformed("unknown end tag")),
        };
        if !r.0.is_empty() {
            return Err(ProofError::Malformed("bytes after the end"));
        }
        Ok(MapProof { steps, end })
    }

    /// Checks that under the map `root`, `key` holds exactly `indices`
    /// (none: the key is absent).
    pub fn verify(&self, root: &Hash, key: &Key, indices: &[u64]) -> Result<(), ProofError> {
        if self.steps.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(ProofError::Descent);
        }
        // The bits the steps fixed: 0..=deepest, which the end must share.
        let fixed = self.steps.last().map(|s| s.0);
        let mut hash = self.end_hash(key, indices, fixed)?;
        for (depth, other) in self.steps.iter().rev() {
            let (left, right) = if bit(key, *depth) {
                (other, &hash)
            } else {
                (&hash, other)
            };
            hash = inner_hash(*depth, &prefix(key, *depth), left, right);
        }
        if hash != *root {
            return Err(ProofError::Root);
        }
        Ok(())
    }

    /// The hash of the node the walk ends at, after checking it answers
    /// `indices` for `key` below the bits `fixed` (inclusive) the steps set.
    fn end_hash(&self, key: &Key, indices: &[u64], fixed: Option<u8>) -> Result<Hash, ProofError> {
        // Whether `other` agrees with `key` on every bit the steps fixed.
        let on_path = |other: &Key| match (fixed, first_difference(key, other)) {
            (Some(f), Some(d)) => d > f,
            _ => true,
        };
        match &self.end {
            ProofEnd::Member => {
                if indices.is_empty() {
                    return Err(ProofError::MemberWithoutIndices);
                }
                let value = value_hash(indices).ok_or(ProofError::Unordered)?;
                Ok(leaf_hash(key, &value))
            }
            _ if !indices.is_empty() => Err(ProofError::AbsentWithIndices),
            ProofEnd::OtherLeaf { key: other, value } => {
                if other == key {
                    return Err(ProofError::NotOther);
                }
                if !on_path(other) {
                    return Err(ProofError::OffPath);
                }
                Ok(leaf_hash(other, value))
            }
            ProofEnd::OtherInner {
                depth,
                prefix: other,
                left,
                right,
            } => {
                if *other != prefix(other, *depth) {
                    return Err(ProofError::Malformed(
                        "bits past an inner node's depth are set",
                    ));
                }
                let below_steps = fixed.is_none_or(|f| *depth > f);
                if !below_steps || !on_path(other) || prefix(key, *depth) == *other {
                    return Err(ProofError::OffPath);
                }
                Ok(inner_hash(*depth, other, left, right))
            }
            ProofEnd::Empty => {
                if !self.steps.is_empty() {
                    return Err(ProofError::Malformed("steps before an empty map"));
                }
                Ok(empty_root())
            }
        }
    }
}

/// A cursor over proof bytes.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProofError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(ProofError::Malformed("truncated"))?;
        self.0 = rest;
        Ok(*head)
    }
}
