//! libFuzzer target for `checks/policy.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/policy.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
