//! C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile coordinates, paths and
//! entry bundles, with tile height 8 (256 hashes per full tile).
//!
//! A hash tile at level `L`, index `N` holds the stored hashes at tree level `8L`
//! for records `N·256 .. N·256+W` (W = width, 1..=256). A tile whose width is 256
//! is full and immutable; a narrower one is *partial* and lives at `.p/<W>`.
//! Entry bundles are the leaf data of the same record ranges, each entry prefixed
//! by its big-endian u16 length.

use crate::hash::Hash;
use crate::merkle::{split_stored_hash_index, stored_hash_index, MerkleError};
use std::fmt;

/// Tile height: each tile covers 8 tree levels.
pub const HEIGHT: u32 = 8;
/// Hashes (or entries) in a full tile.
pub const FULL_WIDTH: u32 = 1 << HEIGHT;
/// Largest entry an entry bundle can carry.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;
/// Highest tile level: 8·8 = 64 tree levels cover every u64 tree size.
const MAX_LEVEL: u8 = 7;

/// Which kind of tile a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Hashes at tree level `8·level`.
    Hash { level: u8 },
    /// Entry bundle.
    Entries,
}

/// A tile: its kind, index `n` and width (1..=256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub kind: TileKind,
    pub n: u64,
    pub width: u32,
}

/// Why a tile path, tile or entry bundle is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("malformed tile path {0:?}")]
    BadPath(String),
    #[error("tile data has {got} bytes, expected {expected}")]
    BadDataLength { got: usize, expected: usize },
    #[error("entry bundle is truncated")]
    TruncatedBundle,
    #[error("entry bundle holds {got} entries, expected {expected}")]
    BundleCount { got: usize, expected: usize },
    #[error("entry of {0} bytes does not fit an entry bundle (max 65535)")]
    EntryTooLarge(usize),
}

impl Tile {
    /// Whether this tile is full (width 256) and therefore immutable.
    pub fn is_full(&self) -> bool {
        self.width == FULL_WIDTH
    }

    /// The C2SP path: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let prefix = match self.kind {
            TileKind::Hash { level } => format!("tile/{level}/"),
            TileKind::Entries => "tile/entries/".to_string(),
        };
        let mut p = prefix + &encode_index(self.n);
        if !self.is_full() {
            p += &format!(".p/{}", self.width);
        }
        p
    }

    /// Parses a C2SP tile path (without leading slash). Strict: no leading zeros
    /// in levels or widths, exactly three digits per index group, `x` on every
    /// group but the last, width 1..=255 only after `.p/`.
    pub fn parse_path(path: &str) -> Result<Tile, TileError> {
        let bad = || TileError::BadPath(path.chars().take(100).collect());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind_part, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = if kind_part == "entries" {
            TileKind::Entries
        } else {
            let level = parse_small_decimal(kind_part).ok_or_else(bad)?;
            if level > u32::from(MAX_LEVEL) {
                return Err(bad());
            }
            TileKind::Hash { level: level as u8 }
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index, w)) => {
                let w = parse_small_decimal(w).ok_or_else(bad)?;
                if w == 0 || w >= FULL_WIDTH {
                    return Err(bad());
                }
                (index, w)
            }
            None => (rest, FULL_WIDTH),
        };
        let n = decode_index(index_part).ok_or_else(bad)?;
        Ok(Tile { kind, n, width })
    }

    /// Number of bytes a hash tile of this width holds.
    pub fn hash_data_len(&self) -> usize {
        self.width as usize * Hash::SIZE
    }

    /// The hash tile containing stored hash `index`, as wide as it needs to be to
    /// include it (Go `tlog.TileForIndex`).
    pub fn for_stored_hash(index: u64) -> Tile {
        let (level, n) = split_stored_hash_index(index);
        let tile_level = level / HEIGHT;
        let level_in_tile = level - tile_level * HEIGHT;
        let leaf_span = n << level_in_tile; // position in units of the tile's base level
        Tile {
            kind: TileKind::Hash {
                level: tile_level as u8,
            },
            n: leaf_span >> HEIGHT,
            width: ((n - ((leaf_span >> HEIGHT) << HEIGHT >> level_in_tile) + 1) << level_in_tile)
                as u32,
        }
    }

    /// The hash tile holding stored hash `index` as it exists in the tree of
    /// `size` records: full if complete there, otherwise the partial tile at the
    /// tree's right edge. `None` if the hash is not part of that tree.
    pub fn for_stored_hash_in_tree(index: u64, size: u64) -> Option<Tile> {
        let mut tile = Tile::for_stored_hash(index);
        let TileKind::Hash { level } = tile.kind else {
            return None;
        };
        let count = size.checked_shr(HEIGHT * u32::from(level))?;
        let start = tile.n << HEIGHT;
        let available = count.checked_sub(start)?.min(u64::from(FULL_WIDTH)) as u32;
        if available < tile.width {
            return None;
        }
        tile.width = available;
        Some(tile)
    }

    /// Reads stored hash `index` out of this tile's `data` (Go `tlog.HashFromTile`):
    /// hashes above the tile's base level are recomputed from the base hashes.
    pub fn hash_at(&self, data: &[u8], index: u64) -> Result<Hash, MerkleError> {
        let TileKind::Hash { level } = self.kind else {
            return Err(MerkleError::Storage("not a hash tile".into()));
        };
        if data.len() != self.hash_data_len() {
            return Err(MerkleError::Storage(format!(
                "tile {} has {} bytes, expected {}",
                self.path(),
                data.len(),
                self.hash_data_len()
            )));
        }
        let needed = Tile::for_stored_hash(index);
        if needed.kind != self.kind || needed.n != self.n || needed.width > self.width {
            return Err(MerkleError::Storage(format!(
                "stored hash {index} is not in tile {}",
                self.path()
            )));
        }
        let (hash_level, n) = split_stored_hash_index(index);
        let level_in_tile = hash_level - u32::from(level) * HEIGHT;
        let first = ((n << level_in_tile) - (self.n << HEIGHT)) as usize;
        let count = 1usize << level_in_tile;
        let slice = &data[first * Hash::SIZE..(first + count) * Hash::SIZE];
        Ok(subtree_of_slice(slice))
    }

    /// The stored hash indices of this hash tile's entries, in tile order.
    pub fn stored_hash_indexes(&self) -> Vec<u64> {
        let level = match self.kind {
            TileKind::Hash { level } => u32::from(level) * HEIGHT,
            TileKind::Entries => 0,
        };
        (0..u64::from(self.width))
            .map(|i| stored_hash_index(level, (self.n << HEIGHT) + i))
            .collect()
    }

    /// Whether this tile exists in a tree of `size` records, i.e. its records are
    /// all present. A partial tile is a prefix of its full tile, and stays
    /// readable after the tree grows past it, so a reader holding an older
    /// checkpoint can still read it (C2SP tlog-tiles lets a server drop it only
    /// once the full tile exists).
    pub fn exists_in_tree(&self, size: u64) -> bool {
        let level = match self.kind {
            TileKind::Hash { level } => u32::from(level),
            TileKind::Entries => 0,
        };
        let shift = HEIGHT * level;
        // Number of complete hashes at this tile's base level.
        let Some(count) = size.checked_shr(shift) else {
            return false;
        };
        let start = self.n << HEIGHT;
        if start >> HEIGHT != self.n {
            return false;
        }
        start
            .checked_add(u64::from(self.width))
            .is_some_and(|end| end <= count)
    }
}

/// The tiles and entry bundles a tree of `new` records has that a tree of
/// `old` records did not (after Go's `tlog.NewTiles`): per level, the full
/// tiles completed since `old` and the partial tile at the right edge; for
/// each level-0 tile, the entry bundle of the same records. A static copy of
/// the log at `old` becomes one at `new` by writing exactly these.
pub fn new_tiles(old: u64, new: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for level in 0..=MAX_LEVEL {
        let shift = HEIGHT * u32::from(level);
        let (old_n, new_n) = (
            old.checked_shr(shift).unwrap_or(0),
            new.checked_shr(shift).unwrap_or(0),
        );
        if new_n == 0 {
            break;
        }
        if old_n == new_n {
            continue;
        }
        let mut add = |n: u64, width: u32| {
            tiles.push(Tile {
                kind: TileKind::Hash { level },
                n,
                width,
            });
            if level == 0 {
                tiles.push(Tile {
                    kind: TileKind::Entries,
                    n,
                    width,
                });
            }
        };
        for n in (old_n >> HEIGHT)..(new_n >> HEIGHT) {
            add(n, FULL_WIDTH);
        }
        let n = new_n >> HEIGHT;
        let width = (new_n - (n << HEIGHT)) as u32;
        if width > 0 {
            add(n, width);
        }
    }
    tiles
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// RFC 6962 hash of a complete subtree whose level-0 (within the tile) hashes are
/// concatenated in `data` (a power-of-two count). For a full tile it is the
/// stored hash eight levels up, which its parent tile holds.
pub(crate) fn subtree_of_slice(data: &[u8]) -> Hash {
    if data.len() == Hash::SIZE {
        let mut h = [0u8; 32];
        h.copy_from_slice(data);
        return Hash(h);
    }
    let half = data.len() / 2;
    Hash::node(
        &subtree_of_slice(&data[..half]),
        &subtree_of_slice(&data[half..]),
    )
}

/// Encodes an index as C2SP 3-digit groups: 1234067 → `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut n = n;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Inverse of [`encode_index`]; `None` for anything it would not produce.
pub fn decode_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let last = groups.len() - 1;
    let mut n: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let digits = if i == last { *g } else { g.strip_prefix('x')? };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // A leading group of 000 would be a second spelling of the same number.
        if i == 0 && last > 0 && digits == "000" {
            return None;
        }
        let value: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(value)?;
    }
    Some(n)
}

/// Plain decimal without leading zeros, small enough for a u32.
fn parse_small_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Encodes entries as a C2SP entry bundle: each entry as a big-endian u16 length
/// followed by its bytes.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let total: usize = entries.iter().map(|e| 2 + e.as_ref().len()).sum();
    let mut out = Vec::with_capacity(total);
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle; rejects truncation and trailing bytes.
pub fn decode_bundle(mut data: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut entries = Vec::new();
    while !data.is_empty() {
        if data.len() < 2 {
            return Err(TileError::TruncatedBundle);
        }
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        if rest.len() < len {
            return Err(TileError::TruncatedBundle);
        }
        entries.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    Ok(entries)
}

/// Decodes an entry bundle that must hold exactly `tile.width` entries.
pub fn decode_bundle_for(tile: &Tile, data: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let entries = decode_bundle(data)?;
    if entries.len() != tile.width as usize {
        return Err(TileError::BundleCount {
            got: entries.len(),
            expected: tile.width as usize,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_tiles_are_exactly_what_the_tree_gained() {
        use std::collections::BTreeSet;
        // Every tile of a tree of `size`, by brute force.
        let all = |size: u64| -> BTreeSet<Tile> {
            let mut out = BTreeSet::new();
            for level in 0..3u8 {
                for n in 0..300u64 {
                    for width in 1..=FULL_WIDTH {
                        for kind in [TileKind::Hash { level }, TileKind::Entries] {
                            let t = Tile { kind, n, width };
                            if (level == 0 || kind != TileKind::Entries) && t.exists_in_tree(size) {
                                out.insert(t);
                            }
                        }
                    }
                }
            }
            out
        };
        for (old, new) in [
            (0, 1),
            (0, 256),
            (5, 300),
            (256, 512),
            (300, 70_000),
            (65_535, 65_537),
        ] {
            let gained = new_tiles(old, new);
            let now = all(new);
            let before = all(old);
            for t in &gained {
                assert!(
                    now.contains(t) && !before.contains(t),
                    "{t} for {old}→{new}"
                );
            }
            // Together with what existed, the new tiles give every full tile
            // and the widest partial tile of each level.
            let have: BTreeSet<Tile> = before.iter().chain(&gained).copied().collect();
            for t in now.iter().filter(|t| t.is_full()) {
                assert!(have.contains(t), "missing {t} for {old}→{new}");
            }
        }
    }

    use super::*;
    use crate::merkle::{tree_hash, Appender};
    use proptest::prelude::*;

    #[test]
    fn index_encoding_matches_spec_example() {
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(5), "005");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(decode_index("x001/x234/067"), Some(1234067));
        for bad in [
            "1",
            "0005",
            "001/234",
            "x001",
            "x000/005",
            "x001/x23/067",
            "",
            "x01a/000",
        ] {
            assert_eq!(decode_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_parse_strictly() {
        let t = Tile::parse_path("tile/0/x001/x234/067.p/8").unwrap();
        assert_eq!(
            t,
            Tile {
                kind: TileKind::Hash { level: 0 },
                n: 1234067,
                width: 8
            }
        );
        let e = Tile::parse_path("tile/entries/000").unwrap();
        assert_eq!(
            e,
            Tile {
                kind: TileKind::Entries,
                n: 0,
                width: 256
            }
        );
        for bad in [
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/000.p/08",
            "tile/00/000",
            "tile/8/000",
            "tile/-1/000",
            "tile/0/",
            "tile/entries/1",
            "tiles/0/000",
            "tile/0/000.p/",
            "tile/0/000/",
            "tile/data/000",
        ] {
            assert!(Tile::parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_read_from_tiles_equal_stored_hashes() {
        let size = 70_000u64;
        let mut stored: Vec<Hash> = Vec::new();
        let mut app = Appender::new(&stored, 0);
        for i in 0..size {
            app.push(Hash::leaf(&i.to_be_bytes())).unwrap();
        }
        stored = app.new_hashes().to_vec();
        // Every stored hash can be read from the tile for_stored_hash names.
        for index in (0..stored.len() as u64).step_by(7) {
            let tile = Tile::for_stored_hash(index);
            let data: Vec<u8> = tile
                .stored_hash_indexes()
                .iter()
                .flat_map(|&i| stored[i as usize].0)
                .collect();
            assert_eq!(tile.hash_at(&data, index).unwrap(), stored[index as usize]);
        }
        assert!(tree_hash(size, &stored).is_ok());
    }

    /// Serves stored hashes only through the tiles that exist at `size`.
    struct TilesAt<'a> {
        stored: &'a [Hash],
        size: u64,
    }

    impl crate::merkle::HashReader for TilesAt<'_> {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
            indexes
                .iter()
                .map(|&i| {
                    let tile = Tile::for_stored_hash_in_tree(i, self.size)
                        .ok_or_else(|| MerkleError::Storage(format!("{i} not in tree")))?;
                    assert!(tile.exists_in_tree(self.size), "{tile} at {}", self.size);
                    let data: Vec<u8> = tile
                        .stored_hash_indexes()
                        .iter()
                        .flat_map(|&j| self.stored[j as usize].0)
                        .collect();
                    tile.hash_at(&data, i)
                })
                .collect()
        }
    }

    #[test]
    fn tree_roots_and_proofs_from_existing_tiles() {
        let mut app = Appender::new(&[][..], 0);
        for i in 0..70_000u64 {
            app.push(Hash::leaf(&i.to_be_bytes())).unwrap();
        }
        let stored = app.new_hashes().to_vec();
        for size in [1u64, 255, 256, 257, 511, 65_535, 65_536, 65_537, 69_999] {
            let tiles = TilesAt {
                stored: &stored,
                size,
            };
            assert_eq!(
                tree_hash(size, &tiles).unwrap(),
                tree_hash(size, &stored).unwrap(),
                "size {size}"
            );
            let p = crate::merkle::inclusion_proof(size / 2, size, &tiles).unwrap();
            assert_eq!(
                p,
                crate::merkle::inclusion_proof(size / 2, size, &stored).unwrap()
            );
        }
        assert_eq!(
            Tile::for_stored_hash_in_tree(stored.len() as u64 - 1, 10),
            None
        );
    }

    #[test]
    fn tiles_exist_once_their_records_do() {
        let full = Tile {
            kind: TileKind::Hash { level: 0 },
            n: 0,
            width: 256,
        };
        assert!(!full.exists_in_tree(255));
        assert!(full.exists_in_tree(256));
        let partial = Tile { width: 10, ..full };
        assert!(partial.exists_in_tree(10));
        assert!(partial.exists_in_tree(11), "a prefix of a wider tile");
        assert!(!partial.exists_in_tree(9));
        let level1 = Tile {
            kind: TileKind::Hash { level: 1 },
            n: 0,
            width: 3,
        };
        assert!(level1.exists_in_tree(3 * 256 + 5));
        assert!(!level1.exists_in_tree(2 * 256));
    }

    #[test]
    fn bundles_reject_truncation_and_count() {
        let b = encode_bundle(&[b"ab".to_vec(), vec![], b"xyz".to_vec()]).unwrap();
        assert_eq!(
            decode_bundle(&b).unwrap(),
            vec![b"ab".to_vec(), vec![], b"xyz".to_vec()]
        );
        assert_eq!(
            decode_bundle(&b[..b.len() - 1]),
            Err(TileError::TruncatedBundle)
        );
        assert_eq!(decode_bundle(&[0]), Err(TileError::TruncatedBundle));
        let t = Tile {
            kind: TileKind::Entries,
            n: 0,
            width: 2,
        };
        assert!(decode_bundle_for(&t, &b).is_err());
        assert!(encode_bundle(&[vec![0u8; 70_000]]).is_err());
    }

    proptest! {
        #[test]
        fn tile_paths_round_trip(level in 0u8..=7, n in any::<u64>(), width in 1u32..=256, entries in any::<bool>()) {
            let kind = if entries { TileKind::Entries } else { TileKind::Hash { level } };
            let t = Tile { kind, n, width };
            prop_assert_eq!(Tile::parse_path(&t.path()), Ok(t));
        }

        #[test]
        fn bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let b = encode_bundle(&entries).unwrap();
            prop_assert_eq!(decode_bundle(&b).unwrap(), entries);
        }

        #[test]
        fn tile_path_parser_never_panics(s in "\\PC{0,40}") {
            let _ = Tile::parse_path(&s);
        }
    }
}
