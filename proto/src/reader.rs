//! A verified reader of a log's tiles (C2SP tlog-tiles) under one signed
//! checkpoint, modelled on Go's `tlog.TileHashReader` and `TileReader`.
//!
//! Nothing a log serves is believed until it is tied to the checkpoint's root:
//!
//! - A *partial* hash tile lies on the tree's right edge. The edge tiles
//!   together hold exactly the hashes RFC 6962's MTH needs, so they are
//!   authenticated at once by recomputing the root from them.
//! - A *full* hash tile at level `L`, index `N` hashes (its 256 hashes as a
//!   complete subtree) to stored hash `(8(L+1), N)`, which its parent tile at
//!   level `L+1` holds. A full tile is authenticated by its parent, the parent
//!   by its own parent, up to an edge tile or a tile already verified.
//! - An entry bundle is authenticated leaf by leaf: its leaf hashes make up the
//!   level-0 hash tile of the same range, which is authenticated as above. No
//!   proof is requested, and a full bundle needs no level-0 tile from the log.
//!
//! With authenticated hash tiles, inclusion and consistency proofs are built on
//! the reader's side (RFC 6962 §2.1.1–2.1.2, via [`crate::merkle`]), so a static
//! tile server — an object store, a CDN — is enough for every reader.
//!
//! Verified tiles are cached, a bounded number per level class, so reading a
//! whole log bundle by bundle keeps memory flat and fetches each upper tile
//! about once.

use crate::checkpoint::Checkpoint;
use crate::hash::Hash;
use crate::merkle::{self, stored_hash_index, HashReader, MerkleError};
use crate::tile::{self, subtree_of_slice, Tile, TileKind};
use crate::transport::{FetchError, Transport};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Verified level-0 hash tiles kept (each 8 KiB when full).
const CACHED_LEVEL0_TILES: usize = 64;
/// Verified hash tiles of levels 1 and up kept.
const CACHED_UPPER_TILES: usize = 1024;

/// Why reading the log through its tiles failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// What the log served contradicts its own signed checkpoint.
    #[error("{0}")]
    Invalid(String),
    #[error("index {index} is not below tree size {size}")]
    OutOfRange { index: u64, size: u64 },
}

impl ReadError {
    /// Worth retrying later (see [`FetchError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, ReadError::Fetch(e) if e.is_transient())
    }
}

/// Reads hashes, proofs and entries of the tree one checkpoint describes,
/// verifying every tile against that checkpoint's root (see the module doc).
pub struct TileReader<'t, T: Transport + ?Sized> {
    transport: &'t T,
    size: u64,
    root: Hash,
    cache: RefCell<TileCache>,
    /// The error behind the last `MerkleError::Storage` the [`HashReader`]
    /// adapter returned, so callers see the real cause.
    last_error: RefCell<Option<ReadError>>,
}

impl<'t, T: Transport + ?Sized> TileReader<'t, T> {
    /// A reader of the tree `checkpoint` (already verified by the caller) describes.
    pub fn new(transport: &'t T, checkpoint: &Checkpoint) -> Self {
        TileReader {
            transport,
            size: checkpoint.size,
            root: checkpoint.root,
            cache: RefCell::new(TileCache::default()),
            last_error: RefCell::new(None),
        }
    }

    /// The tree size this reader reads.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of entry bundles the tree has (the last may be partial).
    pub fn bundle_count(&self) -> u64 {
        self.size.div_ceil(u64::from(tile::FULL_WIDTH))
    }

    /// Stored hashes by stored hash index, each from an authenticated tile.
    pub fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ReadError> {
        let mut tiles = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let t = Tile::for_stored_hash_in_tree(i, self.size).ok_or_else(|| {
                ReadError::Invalid(format!("stored hash {i} is not in a tree of {}", self.size))
            })?;
            tiles.push(t);
        }
        let data = self.verified_tiles(&tiles)?;
        indexes
            .iter()
            .zip(&tiles)
            .map(|(&i, t)| {
                t.hash_at(&data[t], i)
                    .map_err(|e| ReadError::Invalid(e.to_string()))
            })
            .collect()
    }

    /// The RFC 6962 §2.1.1 inclusion proof of record `index`, from tiles.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, ReadError> {
        if index >= self.size {
            return Err(ReadError::OutOfRange {
                index,
                size: self.size,
            });
        }
        self.with_merkle(|r| merkle::inclusion_proof(index, self.size, r))
    }

    /// The RFC 6962 §2.1.2 consistency proof from the tree of `old` records
    /// to this reader's tree, from tiles.
    pub fn consistency_proof(&self, old: u64) -> Result<Vec<Hash>, ReadError> {
        if old > self.size {
            return Err(ReadError::OutOfRange {
                index: old,
                size: self.size,
            });
        }
        self.with_merkle(|r| merkle::consistency_proof(old, self.size, r))
    }

    /// The entries of bundle `n` (records `256n ..`), each verified to be the
    /// record at its index by its leaf hash (see the module doc).
    pub fn bundle(&self, n: u64) -> Result<Vec<Vec<u8>>, ReadError> {
        let start = n.saturating_mul(u64::from(tile::FULL_WIDTH));
        if start >= self.size {
            return Err(ReadError::OutOfRange {
                index: start,
                size: self.size,
            });
        }
        let width = (self.size - start).min(u64::from(tile::FULL_WIDTH)) as u32;
        let bundle_tile = Tile {
            kind: TileKind::Entries,
            n,
            width,
        };
        let entries = self.fetch_bundle(bundle_tile)?;
        let leaves: Vec<u8> = entries.iter().flat_map(|e| Hash::leaf(e).0).collect();
        let level0 = Tile {
            kind: TileKind::Hash { level: 0 },
            n,
            width,
        };
        self.authenticate(BTreeMap::from([(level0, leaves)]))
            .map_err(|e| match e {
                ReadError::Invalid(why) => ReadError::Invalid(format!(
                    "{bundle_tile} does not hold the logged entries: {why}"
                )),
                other => other,
            })?;
        Ok(entries)
    }

    /// Runs a proof builder from [`crate::merkle`] over this reader, giving
    /// back the reader's own error rather than its `Storage` summary.
    fn with_merkle<R>(
        &self,
        f: impl FnOnce(&Self) -> Result<R, MerkleError>,
    ) -> Result<R, ReadError> {
        self.last_error.replace(None);
        f(self).map_err(|e| {
            self.last_error
                .take()
                .unwrap_or_else(|| ReadError::Invalid(e.to_string()))
        })
    }

    /// The data of every tile in `wanted`, each authenticated.
    fn verified_tiles(&self, wanted: &[Tile]) -> Result<HashMap<Tile, Vec<u8>>, ReadError> {
        let mut out = HashMap::new();
        let mut fetched = BTreeMap::new();
        for t in wanted {
            if out.contains_key(t) || fetched.contains_key(t) {
                continue;
            }
            match self.cache.borrow().get(t) {
                Some(d) => {
                    out.insert(*t, d.clone());
                }
                None => {
                    fetched.insert(*t, self.fetch_hash_tile(*t)?);
                }
            }
        }
        out.extend(self.authenticate(fetched)?);
        Ok(out)
    }

    /// Authenticates `have` (hash tiles with unverified data) against the
    /// checkpoint, fetching the parents and edge tiles it needs, and caches
    /// everything verified. Returns the verified tiles of `have` and the
    /// tiles fetched for them.
    fn authenticate(
        &self,
        mut have: BTreeMap<Tile, Vec<u8>>,
    ) -> Result<HashMap<Tile, Vec<u8>>, ReadError> {
        let mut verified: HashMap<Tile, Vec<u8>> = HashMap::new();
        // A tile verified before must come back byte for byte.
        for (t, d) in std::mem::take(&mut have) {
            match self.cache.borrow().get(&t) {
                Some(c) if *c == d => {
                    verified.insert(t, d);
                }
                Some(_) => {
                    return Err(ReadError::Invalid(format!(
                        "{t} differs from the copy verified before"
                    )))
                }
                None => {
                    have.insert(t, d);
                }
            }
        }
        // Each full tile needs its parent; a partial one needs the whole edge.
        let mut todo: Vec<Tile> = have.keys().copied().collect();
        let mut need_edge = false;
        while let Some(t) = todo.pop() {
            if !t.is_full() {
                need_edge = true;
                continue;
            }
            let parent = self.parent(t)?;
            if have.contains_key(&parent) || verified.contains_key(&parent) {
                continue;
            }
            if let Some(d) = self.cache.borrow().get(&parent) {
                verified.insert(parent, d.clone());
                continue;
            }
            have.insert(parent, self.fetch_hash_tile(parent)?);
            todo.push(parent);
        }
        if need_edge {
            self.authenticate_edge(&mut have, &mut verified)?;
        }
        // Full tiles top down, so each parent is verified before its children.
        let mut full: Vec<Tile> = have.keys().copied().collect();
        full.sort_by_key(|t| std::cmp::Reverse(level_of(t)));
        for t in full {
            let data = &have[&t];
            let parent = self.parent(t)?;
            let parent_data = verified.get(&parent).ok_or_else(|| {
                ReadError::Invalid(format!("{parent} (parent of {t}) could not be verified"))
            })?;
            let at = stored_hash_index(tile::HEIGHT * (level_of(&t) + 1), t.n);
            let expected = parent
                .hash_at(parent_data, at)
                .map_err(|e| ReadError::Invalid(e.to_string()))?;
            if subtree_of_slice(data) != expected {
                return Err(ReadError::Invalid(format!(
                    "{t} does not hash to the value its parent {parent} holds"
                )));
            }
            verified.insert(t, data.clone());
        }
        let mut cache = self.cache.borrow_mut();
        for (t, d) in &verified {
            cache.insert(*t, d.clone());
        }
        Ok(verified)
    }

    /// Moves the right-edge (partial) tiles out of `have`, fetching the ones
    /// missing, and verifies them together by recomputing the root.
    fn authenticate_edge(
        &self,
        have: &mut BTreeMap<Tile, Vec<u8>>,
        verified: &mut HashMap<Tile, Vec<u8>>,
    ) -> Result<(), ReadError> {
        let edge = edge_tiles(self.size);
        if let Some(t) = have.keys().find(|t| !t.is_full() && !edge.contains(t)) {
            return Err(ReadError::Invalid(format!(
                "{t} is not a tile of the tree of size {}",
                self.size
            )));
        }
        let mut edge_data: HashMap<Tile, Vec<u8>> = HashMap::new();
        for t in &edge {
            let d = match (have.remove(t), verified.get(t)) {
                (Some(d), _) => d,
                (None, Some(d)) => d.clone(),
                (None, None) => match self.cache.borrow().get(t) {
                    Some(d) => d.clone(),
                    None => self.fetch_hash_tile(*t)?,
                },
            };
            edge_data.insert(*t, d);
        }
        let reader = EdgeTiles {
            size: self.size,
            tiles: &edge_data,
        };
        let root = merkle::tree_hash(self.size, &reader)
            .map_err(|e| ReadError::Invalid(format!("edge tiles: {e}")))?;
        if root != self.root {
            return Err(ReadError::Invalid(format!(
                "the tiles at the right edge of the tree hash to {root}, but the checkpoint of size {} says {}",
                self.size, self.root
            )));
        }
        verified.extend(edge_data);
        Ok(())
    }

    /// The tile holding the stored hash a full tile `t` hashes to.
    fn parent(&self, t: Tile) -> Result<Tile, ReadError> {
        let index = stored_hash_index(tile::HEIGHT * (level_of(&t) + 1), t.n);
        Tile::for_stored_hash_in_tree(index, self.size)
            .ok_or_else(|| ReadError::Invalid(format!("{t} has no parent in the tree")))
    }

    /// GETs a hash tile and checks its length. A partial tile the log no
    /// longer serves (it grew) is read as a prefix of the full tile.
    fn fetch_hash_tile(&self, t: Tile) -> Result<Vec<u8>, ReadError> {
        let mut data = self.fetch_with_fallback(t)?;
        if data.len() > t.hash_data_len() && !t.is_full() {
            data.truncate(t.hash_data_len());
        }
        if data.len() != t.hash_data_len() {
            return Err(ReadError::Invalid(format!(
                "{t} has {} bytes, expected {}",
                data.len(),
                t.hash_data_len()
            )));
        }
        Ok(data)
    }

    /// GETs and decodes an entry bundle of exactly `t.width` entries.
    fn fetch_bundle(&self, t: Tile) -> Result<Vec<Vec<u8>>, ReadError> {
        let data = self.fetch_with_fallback(t)?;
        let mut entries =
            tile::decode_bundle(&data).map_err(|e| ReadError::Invalid(format!("{t}: {e}")))?;
        if entries.len() > t.width as usize && !t.is_full() {
            entries.truncate(t.width as usize);
        }
        if entries.len() != t.width as usize {
            return Err(ReadError::Invalid(format!(
                "{t} holds {} entries, expected {}",
                entries.len(),
                t.width
            )));
        }
        Ok(entries)
    }

    fn fetch_with_fallback(&self, t: Tile) -> Result<Vec<u8>, ReadError> {
        match self.transport.get(&format!("/{}", t.path())) {
            Err(e) if e.is_not_found() && !t.is_full() => {
                let full = Tile {
                    width: tile::FULL_WIDTH,
                    ..t
                };
                Ok(self.transport.get(&format!("/{}", full.path()))?)
            }
            other => Ok(other?),
        }
    }
}

/// Lets [`crate::merkle`]'s proof builders read through the verified tiles.
impl<T: Transport + ?Sized> HashReader for TileReader<'_, T> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.hashes(indexes).map_err(|e| {
            let message = e.to_string();
            self.last_error.replace(Some(e));
            MerkleError::Storage(message)
        })
    }
}

/// The partial tiles at the right edge of a tree of `size` records, one per
/// level where the count of hashes is not a multiple of 256. Together they hold
/// the hashes of the tree's RFC 6962 root decomposition, and nothing else.
pub fn edge_tiles(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for level in 0..8u32 {
        let Some(count) = size.checked_shr(tile::HEIGHT * level) else {
            break;
        };
        if count == 0 {
            break;
        }
        let width = (count % u64::from(tile::FULL_WIDTH)) as u32;
        if width > 0 {
            out.push(Tile {
                kind: TileKind::Hash { level: level as u8 },
                n: count >> tile::HEIGHT,
                width,
            });
        }
    }
    out
}

fn level_of(t: &Tile) -> u32 {
    match t.kind {
        TileKind::Hash { level } => u32::from(level),
        TileKind::Entries => 0,
    }
}

/// Reads stored hashes from the edge tiles being verified.
struct EdgeTiles<'a> {
    size: u64,
    tiles: &'a HashMap<Tile, Vec<u8>>,
}

impl HashReader for EdgeTiles<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                let t = Tile::for_stored_hash_in_tree(i, self.size)
                    .filter(|t| self.tiles.contains_key(t))
                    .ok_or_else(|| MerkleError::Storage(format!("stored hash {i} off the edge")))?;
                t.hash_at(&self.tiles[&t], i)
            })
            .collect()
    }
}

/// Verified tiles, bounded: first in, first out, per level class.
#[derive(Default)]
struct TileCache {
    tiles: HashMap<Tile, Vec<u8>>,
    level0: VecDeque<Tile>,
    upper: VecDeque<Tile>,
}

impl TileCache {
    fn get(&self, t: &Tile) -> Option<&Vec<u8>> {
        self.tiles.get(t)
    }

    fn insert(&mut self, t: Tile, data: Vec<u8>) {
        if self.tiles.insert(t, data).is_some() {
            return;
        }
        let (order, cap) = if level_of(&t) == 0 {
            (&mut self.level0, CACHED_LEVEL0_TILES)
        } else {
            (&mut self.upper, CACHED_UPPER_TILES)
        };
        order.push_back(t);
        if order.len() > cap {
            if let Some(old) = order.pop_front() {
                self.tiles.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests;
