use super::*;
use crate::merkle::{tree_hash, Appender};
use crate::transport::MemoryTransport;

/// A log of `count` entries kept in memory: entries and stored hashes.
struct Log {
    entries: Vec<Vec<u8>>,
    stored: Vec<Hash>,
}

impl Log {
    fn new(count: u64) -> Log {
        let entries: Vec<Vec<u8>> = (0..count)
            .map(|i| format!("entry {i}").into_bytes())
            .collect();
        let mut app = Appender::new(&[][..], 0);
        for e in &entries {
            app.push(Hash::leaf(e)).unwrap();
        }
        Log {
            entries,
            stored: app.new_hashes().to_vec(),
        }
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        Checkpoint {
            origin: "test".into(),
            size,
            root: tree_hash(size, &self.stored).unwrap(),
            extensions: vec![],
        }
    }

    /// Every tile and bundle that exists in the tree of `size` records, the
    /// way a tile server (or a bucket of static files) holds them.
    fn serve(&self, size: u64) -> MemoryTransport {
        let mut t = MemoryTransport::default();
        for level in 0..4u8 {
            let count = size >> (8 * u32::from(level));
            for n in 0..count.div_ceil(256) {
                let width = (count - n * 256).min(256) as u32;
                let tile = Tile {
                    kind: TileKind::Hash { level },
                    n,
                    width,
                };
                let data: Vec<u8> = tile
                    .stored_hash_indexes()
                    .iter()
                    .flat_map(|&i| self.stored[i as usize].0)
                    .collect();
                t.files.insert(format!("/{}", tile.path()), data);
                if level == 0 {
                    let start = (n * 256) as usize;
                    let bundle = Tile {
                        kind: TileKind::Entries,
                        ..tile
                    };
                    let data =
                        tile::encode_bundle(&self.entries[start..start + width as usize]).unwrap();
                    t.files.insert(format!("/{}", bundle.path()), data);
                }
            }
        }
        t
    }
}

fn requests(t: &MemoryTransport) -> usize {
    t.requests.lock().unwrap().len()
}

#[test]
fn proofs_and_bundles_from_tiles_equal_the_trees() {
    let log = Log::new(70_000);
    for size in [
        1u64, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 70_000,
    ] {
        let transport = log.serve(size);
        let cp = log.checkpoint(size);
        let reader = TileReader::new(&transport, &cp);
        for index in [0, size / 3, size / 2, size - 1] {
            let proof = reader.inclusion_proof(index).unwrap();
            assert_eq!(
                proof,
                merkle::inclusion_proof(index, size, &log.stored).unwrap()
            );
            let leaf = Hash::leaf(&log.entries[index as usize]);
            merkle::verify_inclusion(index, size, &leaf, &proof, &cp.root).unwrap();
        }
        for old in [0, 1, size / 2, size - 1, size] {
            let proof = reader.consistency_proof(old).unwrap();
            let old_root = tree_hash(old, &log.stored).unwrap();
            merkle::verify_consistency(old, size, &old_root, &cp.root, &proof)
                .unwrap_or_else(|e| panic!("{old}→{size}: {e}"));
        }
        let last = reader.bundle_count() - 1;
        let bundle = reader.bundle(last).unwrap();
        assert_eq!(bundle, log.entries[(last * 256) as usize..size as usize]);
        assert!(matches!(
            reader.bundle(last + 1),
            Err(ReadError::OutOfRange { .. })
        ));
    }
}

#[test]
fn reading_every_bundle_costs_one_request_per_bundle_and_a_few_more() {
    let log = Log::new(70_000);
    let transport = log.serve(70_000);
    let reader = TileReader::new(&transport, &log.checkpoint(70_000));
    let mut all = Vec::new();
    for n in 0..reader.bundle_count() {
        all.extend(reader.bundle(n).unwrap());
    }
    assert_eq!(all, log.entries);
    // 274 bundles, plus each level-1 tile once (2) and the edge (3 tiles).
    let made = requests(&transport);
    assert!(
        (274..=274 + 8).contains(&made),
        "{made} requests for 274 bundles"
    );
}

#[test]
fn a_changed_byte_anywhere_is_caught() {
    let log = Log::new(1000);
    let cp = log.checkpoint(1000);
    let honest = log.serve(1000);
    let mut paths: Vec<String> = honest.files.keys().cloned().collect();
    paths.sort();
    for path in paths {
        let mut lying = honest.clone();
        let data = lying.files.get_mut(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 1;
        // Two readers: one that reads tiles, one that reads bundles (whose
        // leaf hashes, once verified, stand in for the level-0 tiles).
        let mut errors = Vec::new();
        let reader = TileReader::new(&lying, &cp);
        for index in [0, 300, 600, 999] {
            errors.extend(reader.inclusion_proof(index).err());
        }
        let reader = TileReader::new(&lying, &cp);
        for n in 0..reader.bundle_count() {
            errors.extend(reader.bundle(n).err());
        }
        assert!(
            errors.iter().any(|e| matches!(e, ReadError::Invalid(_))),
            "a flipped byte in {path} went unnoticed"
        );
    }
}

#[test]
fn a_checkpoint_for_another_tree_fails_every_read() {
    let log = Log::new(600);
    let transport = log.serve(600);
    let mut cp = log.checkpoint(600);
    cp.root = Hash::of(b"another tree");
    let reader = TileReader::new(&transport, &cp);
    assert!(matches!(reader.bundle(0), Err(ReadError::Invalid(_))));
    assert!(matches!(reader.bundle(2), Err(ReadError::Invalid(_))));
    assert!(matches!(
        reader.inclusion_proof(5),
        Err(ReadError::Invalid(_))
    ));
}

#[test]
fn truncated_or_padded_tiles_are_refused() {
    let log = Log::new(300);
    let cp = log.checkpoint(300);
    let mut t = log.serve(300);
    t.files.get_mut("/tile/0/001.p/44").unwrap().pop();
    assert!(matches!(
        TileReader::new(&t, &cp).inclusion_proof(299),
        Err(ReadError::Invalid(_))
    ));
    let mut t = log.serve(300);
    t.files
        .get_mut("/tile/entries/000")
        .unwrap()
        .extend_from_slice(&[0, 1, 7]);
    assert!(matches!(
        TileReader::new(&t, &cp).bundle(0),
        Err(ReadError::Invalid(_))
    ));
}

#[test]
fn a_log_that_grew_is_read_at_the_older_checkpoint() {
    // A static server may delete a partial tile once the full one exists
    // (C2SP tlog-tiles): 0/001.p/44 of size 300 is gone, 1/000.p/1 is not.
    let log = Log::new(600);
    let old = log.checkpoint(300);
    let mut transport = log.serve(600);
    transport.files.extend(log.serve(300).files);
    transport.files.remove("/tile/0/001.p/44");
    transport.files.remove("/tile/entries/001.p/44");
    let reader = TileReader::new(&transport, &old);
    assert_eq!(reader.bundle(1).unwrap(), log.entries[256..300]);
    assert_eq!(
        reader.inclusion_proof(299).unwrap(),
        merkle::inclusion_proof(299, 300, &log.stored).unwrap()
    );
}

#[test]
fn a_missing_tile_is_a_fetch_error_not_a_lie() {
    let log = Log::new(300);
    let mut t = log.serve(300);
    t.files.remove("/tile/entries/000");
    let err = TileReader::new(&t, &log.checkpoint(300))
        .bundle(0)
        .unwrap_err();
    assert!(
        matches!(&err, ReadError::Fetch(f) if f.is_not_found()),
        "{err}"
    );
}

#[test]
fn edge_tiles_cover_the_root_decomposition() {
    assert_eq!(edge_tiles(0), vec![]);
    assert_eq!(edge_tiles(256).len(), 1);
    let e = edge_tiles(65_536 + 256 * 3 + 7);
    let paths: Vec<String> = e.iter().map(|t| t.path()).collect();
    assert_eq!(
        paths,
        ["tile/0/259.p/7", "tile/1/001.p/3", "tile/2/000.p/1"]
    );
}
