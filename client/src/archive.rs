//! Release archives (tar, tar.gz, zip) read as a stream of members: each
//! member is hashed and classified (a Go binary or not) without anything
//! being written to disk.
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

use reprolog_proto::Hash;
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
    #[error("archive is truncated or corrupt{}: {source}", at.as_ref().map(|m| format!(" at {m:?}")).unwrap_or_default())]
    Read {
        at: Option<String>,
        source: std::io::Error,
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
/// long), in archive order, within `limits`.
pub fn members<R: Read + Seek>(
    reader: R,
    kind: ArchiveKind,
    archive_size: u64,
    limits: Limits,
) -> Result<Vec<Member>, ArchiveError> {
    let budget = limits
        .floor
        .max(archive_size.saturating_mul(limits.max_ratio))
        .min(limits.max_total);
    let mut reading = Reading {
        budget,
        limits,
        used: 0,
        out: Vec::new(),
    };
    match kind {
        ArchiveKind::Tar => reading.tar(reader)?,
        ArchiveKind::TarGz => reading.tar(flate2::read::GzDecoder::new(reader))?,
        ArchiveKind::Zip => reading.zip(reader)?,
    }
    Ok(reading.out)
}

struct Reading {
    budget: u64,
    limits: Limits,
    used: u64,
    out: Vec<Member>,
}

impl Reading {
    fn tar(&mut self, reader: impl Read) -> Result<(), ArchiveError> {
        let read_err = |at: Option<String>| move |source| ArchiveError::Read { at, source };
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

    /// Hashes one member, classifying it, within the budget.
    fn member(&mut self, path: String, mut data: impl Read) -> Result<(), ArchiveError> {
        if self.out.len() >= self.limits.max_members {
            return Err(ArchiveError::TooManyMembers(self.limits.max_members));
        }
        let mut hasher = sha2::Sha256::new();
        let mut detect = GoDetector::default();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ArchiveError::Read {
                        at: Some(path),
                        source,
                    })
                }
            };
            self.used += n as u64;
            if self.used > self.budget {
                return Err(ArchiveError::TooLarge {
                    member: path,
                    limit: self.budget,
                });
            }
            size += n as u64;
            hasher.update(&buf[..n]);
            detect.feed(&buf[..n]);
        }
        self.out.push(Member {
            path,
            sha256: Hash(hasher.finalize().into()),
            size,
            go_binary: detect.is_go_binary(),
        });
        Ok(())
    }
}

/// Hashes a plain file and tells whether it is a Go binary.
pub fn hash_and_classify(mut file: impl Read) -> std::io::Result<(Hash, bool)> {
    let mut hasher = sha2::Sha256::new();
    let mut detect = GoDetector::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        detect.feed(&buf[..n]);
    }
    Ok((Hash(hasher.finalize().into()), detect.is_go_binary()))
}

/// A member path as shown to people, refused when absolute or climbing out.
pub fn safe_path(name: &str) -> Result<String, ArchiveError> {
    let unsafe_name = name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\0')
        || name.get(1..2) == Some(":")
        || name.split(['/', '\\']).any(|c| c == "..");
    if unsafe_name || name.is_empty() {
        return Err(ArchiveError::UnsafeName(reprolog_proto::display::escape(
            name, 200,
        )));
    }
    Ok(reprolog_proto::display::escape(
        name.trim_start_matches("./"),
        200,
    ))
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

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "C:\\x", "a\\..\\x", ""] {
            assert!(safe_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_path("./dist/app").unwrap(), "dist/app");
    }
}
