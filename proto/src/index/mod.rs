//! The verifiable index of the log: a map from a 32-byte key to the ascending
//! list of log indices whose entries map to that key, kept as a Merkle prefix
//! trie (after transparency-dev's Verifiable Index, Meta's AKD and torchwood's
//! `mpt`), so that a lookup proves the *whole* list, or that there is none.
//!
//! The map function (this is its specification; ARCHITECTURE.md quotes it):
//! the entry at log index `i`, whose statement's subject digest is `d` (32
//! bytes, the SHA-256 the log indexes the entry under) and whose signature
//! key is `k` (the 32-byte Ed25519 public key in the entry), maps to two keys:
//!
//! - [`subject_key`]`(d)` = SHA-256(0x53 ‖ d): every entry about `d`;
//! - [`signer_key`]`(d, k)` = SHA-256(0x4B ‖ d ‖ k): those `k` signed.
//!
//! Each key's value is the ascending list of the indices that map to it. Its
//! hash is a chain, so that a log appends in constant time:
//! c₀ = 32 zero bytes, cⱼ₊₁ = SHA-256(0x43 ‖ cⱼ ‖ be64(indexⱼ)), and the value
//! hash of a list of n indices is cₙ. A key with no indices is not in the map.
//!
//! The trie and its proofs: [`trie`] and [`proof`]. One map revision per
//! sequenced batch is committed to by a leaf of the index's own log
//! ([`revision`]).

pub mod proof;
pub mod replay;
pub mod revision;
pub mod trie;

#[cfg(test)]
mod tests;

use crate::hash::Hash;
use sha2::{Digest, Sha256};

/// A key of the map: 256 bits, read most significant bit first.
pub type Key = [u8; 32];

/// The key of every entry about `subject` (its SHA-256 digest).
pub fn subject_key(subject: &Hash) -> Key {
    let mut h = Sha256::new();
    h.update([0x53]);
    h.update(subject.0);
    h.finalize().into()
}

/// The key of the entries about `subject` signed by `signer` (an Ed25519
/// public key).
pub fn signer_key(subject: &Hash, signer: &[u8; 32]) -> Key {
    let mut h = Sha256::new();
    h.update([0x4B]);
    h.update(subject.0);
    h.update(signer);
    h.finalize().into()
}

/// The map keys a lookup of `subject` by the rebuilder `keys` answers for,
/// in order, each with the rebuilder it is for: one signer key per key
/// asked, or the subject key alone when none is asked. The server answers
/// and the client verifies in this order.
pub fn lookup_keys(subject: &Hash, keys: &[[u8; 32]]) -> Vec<(Option<[u8; 32]>, Key)> {
    if keys.is_empty() {
        return vec![(None, subject_key(subject))];
    }
    keys.iter()
        .map(|k| (Some(*k), signer_key(subject, k)))
        .collect()
}

/// The value hash of a list before any index: 32 zero bytes.
pub const EMPTY_CHAIN: Hash = Hash([0; 32]);

/// The value hash of a list whose hash was `chain` with `index` appended.
pub fn chain(chain: &Hash, index: u64) -> Hash {
    let mut h = Sha256::new();
    h.update([0x43]);
    h.update(chain.0);
    h.update(index.to_be_bytes());
    Hash(h.finalize().into())
}

/// The value hash of `indices`, or `None` when they do not strictly ascend
/// (a list the map cannot hold).
pub fn value_hash(indices: &[u64]) -> Option<Hash> {
    if indices.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    Some(indices.iter().fold(EMPTY_CHAIN, |c, &i| chain(&c, i)))
}

/// Bit `n` of `key`, counting from the most significant bit of byte 0.
pub fn bit(key: &Key, n: u8) -> bool {
    key[usize::from(n / 8)] & (0x80 >> (n % 8)) != 0
}

/// The first bit at which `a` and `b` differ, or `None` when they are equal.
pub fn first_difference(a: &Key, b: &Key) -> Option<u8> {
    a.iter().zip(b).position(|(x, y)| x != y).map(|byte| {
        let diff = a[byte] ^ b[byte];
        // Byte < 32 and leading_zeros < 8, so the bit number is < 256.
        (byte as u8) * 8 + diff.leading_zeros() as u8
    })
}

/// The first `bits` bits of `key`, the rest zero.
pub fn prefix(key: &Key, bits: u8) -> Key {
    let mut out = [0u8; 32];
    let whole = usize::from(bits / 8);
    out[..whole].copy_from_slice(&key[..whole]);
    if bits % 8 != 0 {
        out[whole] = key[whole] & (0xFF << (8 - bits % 8));
    }
    out
}

/// Leaf node hash: SHA-256(0x00 ‖ key ‖ value hash).
pub fn leaf_hash(key: &Key, value: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(key);
    h.update(value.0);
    Hash(h.finalize().into())
}

/// Inner node hash for the node whose keys share their first `depth` bits
/// (`prefix`, zero past `depth`) and differ at bit `depth`:
/// SHA-256(0x01 ‖ depth ‖ prefix ‖ left ‖ right), `left` holding the keys
/// whose bit `depth` is 0.
pub fn inner_hash(depth: u8, prefix: &Key, left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01, depth]);
    h.update(prefix);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root of the empty map: SHA-256 of the empty string (as an empty
/// RFC 6962 tree's).
pub fn empty_root() -> Hash {
    Hash::empty_tree()
}
