//! Signed notes and checkpoints: parse and open never panic; a parsed
//! checkpoint formats back to the text it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::note::{self, Signer};
use std::sync::OnceLock;

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| Signer::from_seed("fuzz.example/log", &[7; 32]).expect("signer"))
}

fuzz_target!(|data: &[u8]| {
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
});
