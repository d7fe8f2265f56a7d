//! Release archives (tar, tar.gz, zip) read as a stream of members: each
//! member is hashed and classified (a Go binary or not) without anything
//! being written to disk. Like [`crate::reader`], it does no I/O of its own:
//! the caller supplies the `Read + Seek` it reads (a file, bytes in memory),
//! so the client (`verify ARCHIVE`) and the rebuilder share it.
//!
//! Archives come from strangers, so reading is bounded and strict:
//! - a member name that is absolute or climbs out (`..`) is an error, as is a
//!   symbolic or hard link or a device: a release holds regular files;
//! - the bytes read, uncompressed, may not exceed [`Limits`]: at most
//!   `max_ratio` times the archive's own size (above a small floor) and
//!   `max_total` in all, which stops zip and gzip bombs early;
//! - a truncated or corrupt archive is an error naming the member.
//!
//! A Go binary is an executable (ELF, PE or Mach-O magic) holding Go's build
//! info header (`\xff Go buildinf:`), which every Go ≥ 1.13 binary has.

use crate::hash::Hash;
use sha2::Digest;
use std::io::{Read, Seek};

/// The archive formats recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    Zip,
}

/// Bounds on what reading one archive may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most uncompressed bytes per byte of archive.
    pub max_ratio: u64,
    /// Bytes always allowed, whatever the ratio (small archives of text).
    pub floor: u64,
    /// Most uncompressed bytes in all.
    pub max_total: u64,
    /// Most members.
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ratio: 100,
            floor: 64 << 20,
            max_total: 16 << 30,
            max_members: 100_000,
        }
    }
}

/// One regular file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its path inside the archive (checked: relative, no `..`).
    pub path: String,
    pub sha256: Hash,
    pub size: u64,
    pub go_binary: bool,
}

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive member {0:?} has an unsafe name (absolute or with ..)")]
    UnsafeName(String),
    #[error("archive member {0:?} is a {1}; a release archive holds regular files only")]
    NotAFile(String, &'static str),
    #[error("archive expands past {limit} bytes (at {member:?}): refused as a likely bomb")]
    TooLarge { member: String, limit: u64 },
    #[error("archive has more than {0} members")]
    TooManyMembers(usize),
    /// (`error` is not a `#[source]`: the message already carries it, once.)
    #[error("archive is truncated or corrupt{}: {error}", at.as_ref().map(|m| format!(" at {m:?}")).unwrap_or_default())]
    Read {
        at: Option<String>,
        error: std::io::Error,
    },
    #[error("zip archive: {0}")]
    Zip(String),
}

/// The archive kind `head` (the first 512 bytes or fewer) starts, if any.
pub fn sniff(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::TarGz)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.get(257..262) == Some(b"ustar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// Reads every regular file of an archive of `kind` (`archive_size` bytes
/// long), in archive order, within `limits`: its path, SHA-256, size and
/// whether it is a Go binary.
pub fn members<R: Read + Seek>(
    reader: R,
    kind: ArchiveKind,
    archive_size: u64,
    limits: Limits,
) -> Result<Vec<Member>, ArchiveError> {
    let mut out = Vec::new();
    for_each_member(reader, kind, archive_size, limits, |path, data| {
        let (sha256, size, go_binary) = hash_stream(data).map_err(|error| ArchiveError::Read {
            at: Some(path.to_string()),
            error,
        })?;
        out.push(Member {
            path: path.to_string(),
            sha256,
            size,
            go_binary,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Calls `visit` with each regular file's checked path and a reader of its
/// bytes, in archive order. The readers share the archive's byte budget: a
/// read past it fails with [`ArchiveError::TooLarge`] (surfaced as the
/// reader's error and then as this function's).
pub fn for_each_member<R: Read + Seek>(
    reader: R,
    kind: ArchiveKind,
    archive_size: u64,
    limits: Limits,
    visit: impl FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let budget = limits
        .floor
        .max(archive_size.saturating_mul(limits.max_ratio))
        .min(limits.max_total);
    let mut reading = Reading {
        budget,
        limits,
        used: 0,
        count: 0,
        visit,
    };
    match kind {
        ArchiveKind::Tar => reading.tar(reader),
        ArchiveKind::TarGz => reading.tar(flate2::read::GzDecoder::new(reader)),
        ArchiveKind::Zip => reading.zip(reader),
    }
}

struct Reading<V> {
    budget: u64,
    limits: Limits,
    used: u64,
    count: usize,
    visit: V,
}

impl<V: FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>> Reading<V> {
    fn tar(&mut self, reader: impl Read) -> Result<(), ArchiveError> {
        let read_err = |at: Option<String>| move |error| ArchiveError::Read { at, error };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(read_err(None))? {
            let entry = entry.map_err(read_err(None))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            let what = if kind.is_symlink() {
                Some("symbolic link")
            } else if kind.is_hard_link() {
                Some("hard link")
            } else if kind.is_file() || kind.is_contiguous() {
                None
            } else if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            } else {
                Some("special file")
            };
            let path = safe_path(&name)?;
            if let Some(what) = what {
                return Err(ArchiveError::NotAFile(path, what));
            }
            self.member(path, entry)?;
        }
        Ok(())
    }

    fn zip<R: Read + Seek>(&mut self, reader: R) -> Result<(), ArchiveError> {
        let mut archive =
            zip::ZipArchive::new(reader).map_err(|e| ArchiveError::Zip(e.to_string()))?;
        for i in 0..archive.len() {
            let file = archive
                .by_index(i)
                .map_err(|e| ArchiveError::Zip(e.to_string()))?;
            let name = file.name().to_string();
            if file.is_dir() {
                continue;
            }
            let path = safe_path(&name)?;
            if file.is_symlink() {
                return Err(ArchiveError::NotAFile(path, "symbolic link"));
            }
            self.member(path, file)?;
        }
        Ok(())
    }

    /// Hands one member to the visitor, within the budget.
    fn member(&mut self, path: String, data: impl Read) -> Result<(), ArchiveError> {
        if self.count >= self.limits.max_members {
            return Err(ArchiveError::TooManyMembers(self.limits.max_members));
        }
        self.count += 1;
        let mut bounded = Budgeted {
            inner: data,
            left: self.budget - self.used,
            read: 0,
        };
        let result = (self.visit)(&path, &mut bounded);
        self.used += bounded.read;
        match result {
            Err(ArchiveError::Read { error, .. }) if is_over_budget(&error) => {
                Err(ArchiveError::TooLarge {
                    member: path,
                    limit: self.budget,
                })
            }
            other => other,
        }
    }
}

/// A member's bytes, failing once the archive's budget is spent.
struct Budgeted<R> {
    inner: R,
    left: u64,
    read: u64,
}

/// The error a [`Budgeted`] reader fails with.
#[derive(Debug)]
struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("archive byte budget spent")
    }
}

impl std::error::Error for OverBudget {}

fn is_over_budget(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<OverBudget>())
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.left {
            return Err(std::io::Error::other(OverBudget));
        }
        Ok(n)
    }
}

/// SHA-256, size and Go-binary-ness of a stream, in one pass.
fn hash_stream(mut data: impl Read) -> std::io::Result<(Hash, u64, bool)> {
    let mut hasher = sha2::Sha256::new();
    let mut detect = GoDetector::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        size += n as u64;
        hasher.update(&buf[..n]);
        detect.feed(&buf[..n]);
    }
    Ok((Hash(hasher.finalize().into()), size, detect.is_go_binary()))
}

/// Hashes a plain file and tells whether it is a Go binary.
pub fn hash_and_classify(file: impl Read) -> std::io::Result<(Hash, bool)> {
    hash_stream(file).map(|(h, _, go)| (h, go))
}

/// A member path as shown to people, refused when absolute or climbing out.
pub fn safe_path(name: &str) -> Result<String, ArchiveError> {
    let unsafe_name = name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\0')
        || name.get(1..2) == Some(":")
        || name.split(['/', '\\']).any(|c| c == "..");
    if unsafe_name || name.is_empty() {
        return Err(ArchiveError::UnsafeName(crate::display::escape(name, 200)));
    }
    Ok(crate::display::escape(name.trim_start_matches("./"), 200))
}

/// Go's build info header, which starts the `.go.buildinfo` section.
const BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// Watches a stream for an executable header and Go's build info magic.
#[derive(Default)]
struct GoDetector {
    head: Vec<u8>,
    /// The end of the previous chunk, for a magic split across chunks.
    tail: Vec<u8>,
    found: bool,
}

impl GoDetector {
    fn feed(&mut self, chunk: &[u8]) {
        if self.head.len() < 4 {
            let take = (4 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if self.found {
            return;
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(&chunk[..chunk.len().min(BUILDINFO_MAGIC.len())]);
        self.found = contains(&window, BUILDINFO_MAGIC) || contains(chunk, BUILDINFO_MAGIC);
        let keep = chunk.len().min(BUILDINFO_MAGIC.len() - 1);
        self.tail = chunk[chunk.len() - keep..].to_vec();
    }

    fn is_go_binary(&self) -> bool {
        let executable = self.head.starts_with(b"\x7fELF")
            || self.head.starts_with(b"MZ")
            || [
                [0xcf, 0xfa, 0xed, 0xfe],
                [0xce, 0xfa, 0xed, 0xfe],
                [0xfe, 0xed, 0xfa, 0xcf],
                [0xfe, 0xed, 0xfa, 0xce],
            ]
            .iter()
            .any(|m| self.head.starts_with(m));
        executable && self.found
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_is_found_across_chunk_boundaries() {
        let mut bin = b"\x7fELF".to_vec();
        bin.extend(vec![0u8; 100]);
        bin.extend_from_slice(BUILDINFO_MAGIC);
        bin.extend(vec![0u8; 100]);
        for split in 0..bin.len() {
            let mut d = GoDetector::default();
            d.feed(&bin[..split]);
            d.feed(&bin[split..]);
            assert!(d.is_go_binary(), "split at {split}");
        }
        let mut d = GoDetector::default();
        d.feed(b"#!/bin/sh\n\xff Go buildinf:");
        assert!(!d.is_go_binary(), "a script is not a binary");
    }

    /// A tar (ustar) of `files`, built by hand: a 512-byte header per file.
    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[156] = b'0';
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn members_are_hashed_and_the_budget_holds_across_members() {
        let mut go = b"\x7fELF".to_vec();
        go.extend_from_slice(BUILDINFO_MAGIC);
        let tar = tar_of(&[("LICENSE", b"MIT"), ("./bin/app", &go)]);
        assert_eq!(sniff(&tar), Some(ArchiveKind::Tar));
        let found = members(
            std::io::Cursor::new(&tar),
            ArchiveKind::Tar,
            0,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].sha256, Hash::of(b"MIT"));
        assert!(!found[0].go_binary);
        assert_eq!(
            (found[1].path.as_str(), found[1].go_binary),
            ("bin/app", true)
        );
        // 10 bytes of budget: the second member runs past it.
        let tight = Limits {
            floor: 10,
            max_ratio: 0,
            ..Limits::default()
        };
        let err = members(std::io::Cursor::new(&tar), ArchiveKind::Tar, 0, tight).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::TooLarge { member, limit: 10 } if member == "bin/app"),
            "{err}"
        );
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "C:\\x", "a\\..\\x", ""] {
            assert!(safe_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_path("./dist/app").unwrap(), "dist/app");
    }
}
