//! libFuzzer target for `checks/verdict.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/verdict.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
