//! What a witness reads from strangers: `add-checkpoint` bodies, checked
//! against a fixed log key and state, and cosignature lines. Never a panic;
//! a request the rules accept really is signed by the log and consistent.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/witness.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::note::{KeyType, Signer};
use reprolog_proto::policy::WitnessQuorum;
use reprolog_proto::witness::{AddCheckpoint, Witnessed};
use reprolog_proto::Hash;

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    let log = Signer::from_seed("fuzz.example/log", &[1; 32]).unwrap();
    let keys = [log.verifier()];
    if let Ok(req) = AddCheckpoint::parse(data) {
        assert_eq!(AddCheckpoint::parse(&req.to_body()).as_ref(), Ok(&req));
        for latest in [None, Some(Witnessed { size: 3, root: Hash::of(b"r") })] {
            if let Ok((cp, _)) = req.check(&keys, latest) {
                assert!(cp.size >= latest.map_or(0, |l| l.size));
            }
        }
    }
    // The same bytes as a checkpoint note under a witness quorum.
    let witness = Signer::of_type(KeyType::Cosignature, "fuzz.example/w", &[2; 32]).unwrap();
    let quorum = WitnessQuorum::parse(&format!(
        "witness w {} http://127.0.0.1:1\nquorum w\n",
        witness.verifier().to_key_text()
    ))
    .unwrap();
    let _ = LogVerifier::with_witnesses(log.verifier(), quorum).open(data);
}
