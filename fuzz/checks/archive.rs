//! The release-archive reader (`reprolog_proto::archive`) on arbitrary bytes:
//! it returns members or an error, never panics, and stays within its byte
//! budget. (`archive_python` compares what it accepts with Python's readers.)
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/archive.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::archive::{self, Limits};

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    let limits = Limits {
        floor: 1 << 20,
        max_total: 1 << 22,
        ..Limits::default()
    };
    if let Ok(members) = archive::members(std::io::Cursor::new(data), data.len() as u64, limits) {
        let read: u64 = members.iter().map(|m| m.size).sum();
        assert!(read <= limits.max_total);
        for m in &members {
            assert!(!m.path.starts_with('/') && !m.path.split('/').any(|c| c == ".."));
        }
    }
    let _ = archive::sniff(data);
}
