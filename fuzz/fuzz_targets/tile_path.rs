//! libFuzzer target for `checks/tile_path.rs` (scripts/fuzz.sh).
#![no_main]

#[path = "../checks/tile_path.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
