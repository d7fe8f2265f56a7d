//! Go build info from arbitrary "executables" and modinfo text: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprolog_rebuilder::buildinfo::BuildInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = BuildInfo::from_binary(data) {
        // What was read must be printable the way `go version -m` prints it.
        let _ = info.go_version_m("fuzz");
        let _ = BuildInfo::parse_modinfo(&info.modinfo_text());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = BuildInfo::parse_modinfo(text);
    }
});
