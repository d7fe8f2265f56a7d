//! CBOR log entries: only canonical encodings decode, and whatever decodes
//! re-encodes to the same bytes.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/entry.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::entry::Entry;

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    if let Ok(entry) = Entry::from_cbor(data) {
        assert_eq!(
            entry.to_cbor(),
            data,
            "a decoded entry is its canonical encoding"
        );
        let _ = entry.verify_signature();
        let _ = entry.statement();
        let _ = entry.to_envelope();
    }
}
