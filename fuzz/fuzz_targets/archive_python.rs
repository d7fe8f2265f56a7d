//! libFuzzer target for `checks/archive_python.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/archive_python.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
