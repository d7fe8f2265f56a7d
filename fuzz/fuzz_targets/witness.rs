//! libFuzzer target for `checks/witness.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/witness.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
