//! Trust-policy files: never a panic, and a parsed policy answers queries.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/policy.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::policy::Policy;

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(policy) = Policy::parse(text) {
            let _ = policy.consensus_threshold();
            let _ = policy.consensus_met(&Default::default());
            let _ = policy.rebuilder_for_key(&[0; 32]);
        }
    }
}
