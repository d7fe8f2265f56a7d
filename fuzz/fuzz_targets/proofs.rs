//! libFuzzer target for `checks/proofs.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/proofs.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
