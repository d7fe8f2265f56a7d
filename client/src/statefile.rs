//! The one way local state is saved: write a temporary file in the same
//! directory, fsync it, rename it over the target, fsync the directory. A
//! crash leaves the old file or the new one, never a mix; temporary names are
//! unique per process and call, so concurrent savers (`--jobs`) never share one.
//! (The rebuilder saves its state the same way; the brief keeps the two
//! crates apart, and proto does no I/O.)

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `bytes` atomically and durably (see the module doc).
pub fn save(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(&dir)?.sync_all()
}

/// [`save`] of a value as pretty JSON.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    save(
        path,
        &serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )
}
