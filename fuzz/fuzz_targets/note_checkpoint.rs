//! libFuzzer target for `checks/note_checkpoint.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/note_checkpoint.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
