//! CBOR log entries: only canonical encodings decode, and whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprolog_proto::entry::Entry;

fuzz_target!(|data: &[u8]| {
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
});
