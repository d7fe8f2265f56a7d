//! libFuzzer target for `checks/archive.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/archive.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
