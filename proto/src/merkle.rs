//! RFC 6962 / RFC 9162 §2.1 Merkle trees over *stored hashes*.
//!
//! Every hash the log ever computes is written once, at a fixed position, and never
//! changes: the leaf hashes and the roots of every complete power-of-two subtree.
//! Positions follow Go's `golang.org/x/mod/sumdb/tlog` ("stored hash index"): the
//! hashes produced when record `n` is appended are stored right after those of
//! record `n-1`. With that layout the root of any tree size, an inclusion proof or a
//! consistency proof needs only O(log n) reads from a [`HashReader`], never the
//! whole tree.
//!
//! Proof generation follows RFC 6962 §2.1.1–2.1.2 (PATH and PROOF); verification is
//! the iterative algorithm of RFC 9162 §2.1.3.2 and §2.1.4.2, strict: wrong sizes,
//! indices out of range and extra or missing path hashes are all rejected.

use crate::hash::Hash;

/// Why a Merkle operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldAfterNew { old: u64, new: u64 },
    #[error("invalid tree size {0}")]
    InvalidSize(u64),
    #[error("proof has the wrong number of hashes")]
    WrongProofLength,
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    #[error("hash storage: {0}")]
    Storage(String),
}

/// Reads stored hashes by their stored hash index (see [`stored_hash_index`]).
///
/// Implementations must return exactly one hash per requested index, in order.
/// The server reads from redb, the client from verified tiles, tests from memory.
pub trait HashReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

/// In-memory storage: position `i` of the slice holds stored hash `i`.
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i).copied())
                    .ok_or_else(|| MerkleError::Storage(format!("no stored hash {i}")))
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// The stored hash index of the `n`th hash at `level` (level 0 = leaf hashes; level
/// `l` hash `n` is the root of leaves `n·2^l .. (n+1)·2^l`).
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // Level L's nth hash is written right after level L+1's (2n+1)th hash, so walk
    // down to level 0 ordering and add the level back at the end.
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    // Level 0's nth hash is written at n + n/2 + n/4 + ...
    let mut index = 0;
    while n > 0 {
        index += n;
        n >>= 1;
    }
    index + u64::from(level)
}

/// Inverse of [`stored_hash_index`]: the (level, n) stored at `index`.
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) < 2n, so the record that wrote `index` is in
    // [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    debug_assert!(index_n <= index);
    loop {
        // Record n+1 starts after the 1 + trailing_ones(n) hashes record n wrote.
        let next = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// The number of stored hashes in a tree of `size` records.
pub fn stored_hash_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    let last = size - 1;
    stored_hash_index(0, last) + 1 + u64::from(last.trailing_ones())
}

/// The hashes to append when record `n` (0-based, the tree currently has `n`
/// records) with leaf hash `leaf` is added: the leaf hash followed by the root of
/// each subtree it completes. They go to stored indices
/// `stored_hash_count(n) ..`.
pub fn stored_hashes_for_leaf(
    n: u64,
    leaf: Hash,
    reader: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    // Each trailing 1 bit of n completes a subtree with a sibling already stored.
    let completed = (n + 1).trailing_zeros();
    let indexes: Vec<u64> = (0..completed)
        .rev()
        .map(|i| stored_hash_index(i, (n >> i) - 1))
        .collect();
    let siblings = read_exact(reader, &indexes)?;
    let mut hashes = Vec::with_capacity(1 + completed as usize);
    let mut h = leaf;
    hashes.push(h);
    for sibling in siblings.iter().rev() {
        h = Hash::node(sibling, &h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// Incremental appender for a batch of records: computes the stored hashes of many
/// new leaves while only reading from `reader` what lies before the batch.
pub struct Appender<'r, R: HashReader + ?Sized> {
    reader: &'r R,
    base_count: u64,
    size: u64,
    pending: Vec<Hash>,
}

impl<'r, R: HashReader + ?Sized> Appender<'r, R> {
    /// Starts appending to a tree of `size` records stored in `reader`.
    pub fn new(reader: &'r R, size: u64) -> Self {
        Appender {
            reader,
            base_count: stored_hash_count(size),
            size,
            pending: Vec::new(),
        }
    }

    /// Appends one leaf; returns its record index.
    pub fn push(&mut self, leaf: Hash) -> Result<u64, MerkleError> {
        let n = self.size;
        let hashes = stored_hashes_for_leaf(n, leaf, &*self)?;
        self.pending.extend_from_slice(&hashes);
        self.size += 1;
        Ok(n)
    }

    /// The tree size after the pushed leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The first stored hash index of [`Appender::new_hashes`].
    pub fn first_new_index(&self) -> u64 {
        self.base_count
    }

    /// The stored hashes written by the pushed leaves, in stored index order.
    pub fn new_hashes(&self) -> &[Hash] {
        &self.pending
    }
}

impl<R: HashReader + ?Sized> HashReader for Appender<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            if i >= self.base_count {
                let pos = (i - self.base_count) as usize;
                let h = self.pending.get(pos).ok_or_else(|| {
                    MerkleError::Storage(format!("stored hash {i} not yet written"))
                })?;
                out.push(*h);
            } else {
                out.extend(read_exact(self.reader, &[i])?);
            }
        }
        Ok(out)
    }
}

/// Remembers every hash read through it, so many proofs over the same tree
/// (a batch of receipts, a lookup answer) read each shared node once.
pub struct CachingReader<'r, R: HashReader + ?Sized> {
    inner: &'r R,
    cache: std::cell::RefCell<std::collections::HashMap<u64, Hash>>,
}

impl<'r, R: HashReader + ?Sized> CachingReader<'r, R> {
    pub fn new(inner: &'r R) -> Self {
        CachingReader {
            inner,
            cache: Default::default(),
        }
    }
}

impl<R: HashReader + ?Sized> HashReader for CachingReader<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        let missing: Vec<u64> = {
            let cache = self.cache.borrow();
            indexes
                .iter()
                .copied()
                .filter(|i| !cache.contains_key(i))
                .collect()
        };
        if !missing.is_empty() {
            let fetched = read_exact(self.inner, &missing)?;
            self.cache
                .borrow_mut()
                .extend(missing.into_iter().zip(fetched));
        }
        let cache = self.cache.borrow();
        Ok(indexes.iter().map(|i| cache[i]).collect())
    }
}

fn read_exact(
    reader: &(impl HashReader + ?Sized),
    indexes: &[u64],
) -> Result<Vec<Hash>, MerkleError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::Storage(format!(
            "asked for {} hashes, got {}",
            indexes.len(),
            hashes.len()
        )));
    }
    Ok(hashes)
}

/// The right edge of a tree being built leaf by leaf: the roots of its complete
/// subtrees, largest first. Enough to compute the root of every prefix in
/// O(log n) memory, which is how an auditor recomputes a log from its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    roots: Vec<Hash>,
}

impl CompactRange {
    /// The range of a tree with `size` records whose complete-subtree roots,
    /// largest first, are `roots`; `None` if the count does not fit the size.
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Option<CompactRange> {
        (roots.len() == size.count_ones() as usize).then_some(CompactRange { size, roots })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete-subtree roots, largest first.
    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Appends the next leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.roots.push(leaf);
        self.size += 1;
        // Each trailing zero of the new size closes one more complete subtree.
        let mut n = self.size;
        while n & 1 == 0 {
            let right = self.roots.pop().unwrap_or_default();
            let left = self.roots.pop().unwrap_or_default();
            self.roots.push(Hash::node(&left, &right));
            n >>= 1;
        }
    }

    /// The RFC 6962 root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.roots.iter().rev();
        let Some(mut h) = iter.next().copied() else {
            return Hash::empty_tree();
        };
        for left in iter {
            h = Hash::node(left, &h);
        }
        h
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): RFC 6962's split point k.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The largest power of two ≤ `n` (n ≥ 1) and its log2.
fn largest_pow2_at_most(n: u64) -> (u64, u32) {
    let level = 63 - n.leading_zeros();
    (1 << level, level)
}

/// Stored indexes of the complete subtrees that together cover leaves `lo..hi`,
/// left to right. Requires `lo` aligned to the first subtree's size.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = largest_pow2_at_most(hi - lo);
        debug_assert!(lo & (k - 1) == 0, "unaligned subtree");
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// Combines the hashes read for [`subtree_indexes`]`(lo, hi)` into the RFC 6962
/// hash of leaves `lo..hi`, consuming them from the front of `hashes`.
fn subtree_hash(mut lo: u64, hi: u64, hashes: &mut &[Hash]) -> Hash {
    let mut count = 0;
    while lo < hi {
        lo += largest_pow2_at_most(hi - lo).0;
        count += 1;
    }
    let (mine, rest) = hashes.split_at(count);
    *hashes = rest;
    let mut h = mine[count - 1];
    for left in mine[..count - 1].iter().rev() {
        h = Hash::node(left, &h);
    }
    h
}

/// The RFC 6962 root hash (MTH) of the first `size` records.
pub fn tree_hash(size: u64, reader: &(impl HashReader + ?Sized)) -> Result<Hash, MerkleError> {
    if size == 0 {
        return Ok(Hash::empty_tree());
    }
    let mut need = Vec::new();
    subtree_indexes(0, size, &mut need);
    let hashes = read_exact(reader, &need)?;
    Ok(subtree_hash(0, size, &mut hashes.as_slice()))
}

/// The RFC 6962 §2.1.1 audit path for record `index` in the tree of `size` records.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    reader: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut need = Vec::new();
    inclusion_indexes(0, size, index, &mut need);
    let hashes = read_exact(reader, &need)?;
    let mut rest = hashes.as_slice();
    let mut proof = Vec::new();
    inclusion_path(0, size, index, &mut rest, &mut proof);
    Ok(proof)
}

fn inclusion_indexes(lo: u64, hi: u64, index: u64, need: &mut Vec<u64>) {
    if lo + 1 == hi {
        return;
    }
    let k = split_point(hi - lo);
    if index < lo + k {
        inclusion_indexes(lo, lo + k, index, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        inclusion_indexes(lo + k, hi, index, need);
    }
}

/// Walks down to the leaf, then records each sibling on the way back up, so the
/// proof lists hashes from the leaf towards the root.
fn inclusion_path(lo: u64, hi: u64, index: u64, hashes: &mut &[Hash], proof: &mut Vec<Hash>) {
    if lo + 1 == hi {
        return;
    }
    let k = split_point(hi - lo);
    if index < lo + k {
        inclusion_path(lo, lo + k, index, hashes, proof);
        proof.push(subtree_hash(lo + k, hi, hashes));
    } else {
        let left = subtree_hash(lo, lo + k, hashes);
        inclusion_path(lo + k, hi, index, hashes, proof);
        proof.push(left);
    }
}

/// The RFC 6962 §2.1.2 consistency proof from the tree of `old` records to the tree
/// of `new` records. Empty when `old == 0` or `old == new`.
pub fn consistency_proof(
    old: u64,
    new: u64,
    reader: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    if old > new {
        return Err(MerkleError::OldAfterNew { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut need = Vec::new();
    consistency_indexes(0, new, old, &mut need);
    let hashes = read_exact(reader, &need)?;
    let mut rest = hashes.as_slice();
    let mut proof = Vec::new();
    consistency_path(0, new, old, &mut rest, &mut proof);
    Ok(proof)
}

fn consistency_indexes(lo: u64, hi: u64, old: u64, need: &mut Vec<u64>) {
    if old == hi {
        if lo != 0 {
            subtree_indexes(lo, hi, need);
        }
        return;
    }
    let k = split_point(hi - lo);
    if old <= lo + k {
        consistency_indexes(lo, lo + k, old, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        consistency_indexes(lo + k, hi, old, need);
    }
}

/// RFC 6962 SUBPROOF: when the old tree is a whole subtree that the verifier
/// already knows (lo == 0) its hash is omitted.
fn consistency_path(lo: u64, hi: u64, old: u64, hashes: &mut &[Hash], proof: &mut Vec<Hash>) {
    if old == hi {
        if lo != 0 {
            proof.push(subtree_hash(lo, hi, hashes));
        }
        return;
    }
    let k = split_point(hi - lo);
    if old <= lo + k {
        consistency_path(lo, lo + k, old, hashes, proof);
        proof.push(subtree_hash(lo + k, hi, hashes));
    } else {
        let left = subtree_hash(lo, lo + k, hashes);
        consistency_path(lo + k, hi, old, hashes, proof);
        proof.push(left);
    }
}

/// Verifies an inclusion proof per RFC 9162 §2.1.3.2: `leaf` is record `index` of
/// the tree of `size` records whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // A path longer than the tree is tall: extra hashes are never accepted.
        if sn == 0 {
            return Err(MerkleError::WrongProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = Hash::node(p, &r);
            // Skip levels where this node has no right sibling.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = Hash::node(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongProofLength);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof per RFC 9162 §2.1.4.2: the tree of `old` records
/// with root `old_root` is a prefix of the tree of `new` records with `new_root`.
///
/// Edge cases, each strict: `old > new` fails; `old == new` needs an empty proof
/// and equal roots; `old == 0` needs an empty proof (every tree extends the empty
/// tree); any other pair needs a non-empty proof of exactly the right length.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old > new {
        return Err(MerkleError::OldAfterNew { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    if old == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(MerkleError::WrongProofLength)
        };
    }
    if proof.is_empty() {
        return Err(MerkleError::WrongProofLength);
    }

    // If the old tree is a complete subtree, its root is the implicit first node.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);

    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(MerkleError::WrongProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = Hash::node(c, &fr);
            sr = Hash::node(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = Hash::node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::WrongProofLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
