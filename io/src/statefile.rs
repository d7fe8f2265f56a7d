//! The one way local state is saved: write a temporary file in the same
//! directory, fsync it, rename it over the target, fsync the directory. A
//! crash leaves the old file or the new one, never a mix; temporary names are
//! unique per process and call, so concurrent savers (`--jobs`) never share one.
//!
//! State that only grows (a follower's finished subjects) goes to a
//! [`Journal`] instead: appended and fsynced line by line, so saving costs the
//! new lines, not the whole history.

use serde::de::DeserializeOwned;
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

/// Reads a JSON state file; `None` if it does not exist.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// An append-only file of lines (see the module doc).
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: &Path) -> Journal {
        Journal {
            path: path.to_path_buf(),
        }
    }

    /// Every complete line. A last line without its newline was torn by a
    /// crash mid-append and is dropped (its record is appended again).
    pub fn read(&self) -> std::io::Result<Vec<Vec<u8>>> {
        let data = match std::fs::read(&self.path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let complete = match data.iter().rposition(|&b| b == b'\n') {
            Some(end) => &data[..end],
            None => return Ok(Vec::new()),
        };
        Ok(complete
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    /// Appends `lines` (each without a newline) and fsyncs.
    pub fn append(&self, lines: &[Vec<u8>]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)?;
        drop_torn_line(&mut f)?;
        f.write_all(&buf)?;
        f.sync_all()
    }
}

/// Cuts a last line a crash left without its newline, and leaves the file
/// positioned at its end.
fn drop_torn_line(f: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(());
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    if last[0] != b'\n' {
        f.seek(SeekFrom::Start(0))?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        f.set_len(keep as u64)?;
    }
    f.seek(SeekFrom::End(0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_replace_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        save_json(&path, &vec![1, 2]).unwrap();
        save_json(&path, &vec![3]).unwrap();
        assert_eq!(load_json::<Vec<u8>>(&path).unwrap(), Some(vec![3]));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        assert_eq!(
            load_json::<Vec<u8>>(&dir.path().join("none")).unwrap(),
            None
        );
    }

    #[test]
    fn concurrent_saves_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..50u32 {
                        save_json(path, &(t, i)).unwrap();
                    }
                });
            }
        });
        let (_, i): (u32, u32) = load_json(&path).unwrap().unwrap();
        assert_eq!(i, 49);
    }

    #[test]
    fn a_torn_journal_line_is_dropped_and_appending_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done.jsonl");
        let j = Journal::new(&path);
        j.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"thr").unwrap();
        assert_eq!(j.read().unwrap(), [b"one".to_vec(), b"two".to_vec()]);
        j.append(&[b"three".to_vec()]).unwrap();
        assert_eq!(
            j.read().unwrap(),
            [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }
}
