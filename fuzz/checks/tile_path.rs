//! C2SP tile paths and entry bundles: parsing is strict (a parsed path formats
//! back to itself) and bundles round-trip.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/tile_path.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::tile::{self, Tile};

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Ok(t) = Tile::parse_path(path) {
            assert_eq!(t.path(), path, "only canonical tile paths parse");
            let _ = t.hash_at(data, t.n);
        }
    }
    if let Ok(entries) = tile::decode_bundle(data) {
        assert_eq!(tile::encode_bundle(&entries).ok().as_deref(), Some(data));
    }
}
