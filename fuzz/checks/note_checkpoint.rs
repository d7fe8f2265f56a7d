//! Signed notes and checkpoints: parse and open never panic; a parsed
//! checkpoint formats back to the text it came from.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/note_checkpoint.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::note::{self, Signer};
use std::sync::OnceLock;

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| Signer::from_seed("fuzz.example/log", &[7; 32]).expect("signer"))
}

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    let _ = note::parse(data);
    let verifier = signer().verifier();
    if let Ok(opened) = note::open(data, std::slice::from_ref(&verifier)) {
        // Only our key can have produced a verified signature.
        let _ = opened;
    }
    let _ = Checkpoint::open(data, "fuzz.example/log", &verifier);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(text) {
            assert_eq!(cp.to_text(), text, "checkpoint parsing is strict");
        }
    }
}
