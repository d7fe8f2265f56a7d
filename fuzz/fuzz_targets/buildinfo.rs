//! libFuzzer target for `checks/buildinfo.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/buildinfo.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
