//! Trust-policy files: never a panic, and a parsed policy answers queries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprolog_proto::policy::Policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(policy) = Policy::parse(text) {
            let _ = policy.consensus_threshold();
            let _ = policy.consensus_met(&Default::default());
            let _ = policy.rebuilder_for_key(&[0; 32]);
        }
    }
});
