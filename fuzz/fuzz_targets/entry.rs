//! libFuzzer target for `checks/entry.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/entry.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
