//! Go build info from arbitrary "executables" and modinfo text: never a panic.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/buildinfo.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_rebuilder::buildinfo::BuildInfo;

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    if let Ok(info) = BuildInfo::from_binary(data) {
        // What was read must be printable the way `go version -m` prints it.
        let _ = info.go_version_m("fuzz");
        let _ = BuildInfo::parse_modinfo(&info.modinfo_text());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = BuildInfo::parse_modinfo(text);
    }
}
