//! The release-archive reader (`reprolog_proto::archive`) on arbitrary bytes,
//! read as each kind: it returns members or an error, never panics, and stays
//! within its byte budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprolog_proto::archive::{self, ArchiveKind, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        floor: 1 << 20,
        max_total: 1 << 22,
        ..Limits::default()
    };
    for kind in [ArchiveKind::Tar, ArchiveKind::TarGz, ArchiveKind::Zip] {
        if let Ok(members) =
            archive::members(std::io::Cursor::new(data), kind, data.len() as u64, limits)
        {
            let read: u64 = members.iter().map(|m| m.size).sum();
            assert!(read <= limits.max_total);
            for m in &members {
                assert!(!m.path.starts_with('/') && !m.path.split('/').any(|c| c == ".."));
            }
        }
    }
    let _ = archive::sniff(data);
});
