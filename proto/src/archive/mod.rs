//! Release archives (tar, tar.gz, zip) read as a stream of members: each
//! member is hashed and classified (a Go binary or not) without anything
//! being written to disk. Like [`crate::reader`], it does no I/O of its own:
//! the caller supplies the `Read + Seek` it reads (a file, bytes in memory),
//! so the client (`verify ARCHIVE`) and the rebuilder share it.
//!
//! **One reading, the one people get when they unpack.** A verdict about an
//! archive member is only worth something if `tar -x`, `bsdtar -x`, `unzip`
//! and Python's `tarfile`/`zipfile` write those same bytes at that path. So
//! this reader implements the formats itself (`tar.rs`, `gzip.rs`, `zip.rs`)
//! and refuses, with [`ArchiveError::Refused`], every shape on which those
//! extractors disagree with one another or with us: a file that reads as two
//! formats, data after the end of the archive that is not zero padding, zip
//! end records or entries the central directory does not account for exactly,
//! tar extension headers it does not fully understand, the same path twice.
//! RELIABILITY.md ("Archive differentials") lists each shape and what each
//! extractor does with it; `client/tests/archive_differential.rs` checks the
//! claim against the real extractors.
//!
//! Archives come from strangers, so reading is also bounded:
//! - a member name that is absolute or climbs out (`..`) is an error, as is a
//!   symbolic or hard link or a device: a release holds regular files;
//! - the bytes read, uncompressed, may not exceed [`Limits`]: at most
//!   `max_ratio` times the archive's own size (above a small floor) and
//!   `max_total` in all, which stops zip and gzip bombs early;
//! - a truncated or corrupt archive is an error naming the member.
//!
//! A Go binary is an executable (ELF, PE or Mach-O magic) holding Go's build
//! info header (`\xff Go buildinf:`), which every Go ≥ 1.13 binary has.

#[cfg(any(test, feature = "test-support"))]
pub mod craft;
mod gzip;
mod paths;
mod tar;
mod zip;

use crate::hash::Hash;
use sha2::Digest;
use std::io::{Read, Seek, SeekFrom};

/// The archive formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    Zip,
}

impl ArchiveKind {
    fn name(self) -> &'static str {
        match self {
            ArchiveKind::Tar => "tar",
            ArchiveKind::TarGz => "gzip",
            ArchiveKind::Zip => "zip",
        }
    }
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
    /// A shape on which the common extractors disagree (see the module doc).
    #[error("archive refused: {0}")]
    Refused(String),
}

impl ArchiveError {
    fn refused(why: impl Into<String>) -> ArchiveError {
        ArchiveError::Refused(why.into())
    }
}

/// The archive kind `head` (the first 512 bytes or fewer) starts, if any:
/// a quick look that tells an archive from a plain file. Reading the archive
/// ([`classify`], [`members`]) checks that it is that kind and no other.
pub fn sniff(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(&gzip::MAGIC) {
        Some(ArchiveKind::TarGz)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.get(257..262) == Some(b"ustar") || tar::is_header(head) {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// The one kind of archive the file is: refused when it is none, or when it
/// reads as two (a tar or a gzip file whose tail holds a zip end record,
/// which `unzip` and Python read as a zip; a zip whose first block is a valid
/// tar header, which `tar` reads as a tar).
pub fn classify<R: Read + Seek>(reader: &mut R, size: u64) -> Result<ArchiveKind, ArchiveError> {
    let read_err = |error| ArchiveError::Read { at: None, error };
    let mut head = Vec::with_capacity(512);
    reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
    reader
        .by_ref()
        .take(512)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let tail = zip::read_tail(reader, size).map_err(read_err)?;
    let mut kinds = Vec::new();
    if head.starts_with(&gzip::MAGIC) {
        kinds.push(ArchiveKind::TarGz);
    }
    if tar::is_header(&head) {
        kinds.push(ArchiveKind::Tar);
    }
    if head.starts_with(b"PK\x03\x04") || zip::has_end_record(&tail) {
        kinds.push(ArchiveKind::Zip);
    }
    reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
    match kinds.as_slice() {
        [kind] => Ok(*kind),
        [] if head.starts_with(b"PK\x05\x06") => Ok(ArchiveKind::Zip),
        [] => Err(ArchiveError::refused("not a tar, tar.gz or zip archive")),
        [a, b, ..] => Err(ArchiveError::refused(format!(
            "the file reads both as {} and as {}; extractors would not agree on what it holds",
            a.name(),
            b.name()
        ))),
    }
}

/// Reads every regular file of an archive (`archive_size` bytes long), in
/// archive order, within `limits`: its path, SHA-256, size and whether it
/// is a Go binary.
pub fn members<R: Read + Seek>(
    reader: R,
    archive_size: u64,
    limits: Limits,
) -> Result<Vec<Member>, ArchiveError> {
    let mut out = Vec::new();
    for_each_member(reader, archive_size, limits, |path, data| {
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
/// reader's error and then as this function's). A member's reader fails at
/// its end when its bytes are not the ones the archive promised (a zip CRC).
///
/// The visitor may be called before a later part of the archive is found
/// bad: only an `Ok` from this function means every member was as reported.
pub fn for_each_member<R: Read + Seek>(
    mut reader: R,
    archive_size: u64,
    limits: Limits,
    visit: impl FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let kind = classify(&mut reader, archive_size)?;
    let budget = limits
        .floor
        .max(archive_size.saturating_mul(limits.max_ratio))
        .min(limits.max_total);
    let mut reading = Reading {
        budget,
        limits,
        used: 0,
        count: 0,
        paths: paths::PathSet::default(),
        visit,
    };
    match kind {
        ArchiveKind::Tar => tar::read(std::io::BufReader::new(reader), &mut reading),
        ArchiveKind::TarGz => tar::read(
            gzip::Members::new(std::io::BufReader::new(reader)),
            &mut reading,
        ),
        ArchiveKind::Zip => zip::read(reader, archive_size, &mut reading),
    }
}

/// The state of one archive's reading, shared by the format readers.
struct Reading<V> {
    budget: u64,
    limits: Limits,
    used: u64,
    count: usize,
    paths: paths::PathSet,
    visit: V,
}

impl<V: FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>> Reading<V> {
    /// Hands one regular file to the visitor, within the budget, then reads
    /// what the visitor left so the member's own checks run to its end.
    fn file(&mut self, raw_name: &str, data: impl Read) -> Result<(), ArchiveError> {
        let path = safe_path(raw_name)?;
        self.paths.file(raw_name, &path)?;
        if self.count >= self.limits.max_members {
            return Err(ArchiveError::TooManyMembers(self.limits.max_members));
        }
        self.count += 1;
        let mut bounded = Budgeted {
            inner: data,
            left: self.budget - self.used,
            read: 0,
        };
        let result = (self.visit)(&path, &mut bounded).and_then(|()| {
            std::io::copy(&mut bounded, &mut std::io::sink())
                .map(|_| ())
                .map_err(|error| ArchiveError::Read {
                    at: Some(path.clone()),
                    error,
                })
        });
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

    /// Notes a directory entry (nothing to hash, but its path must not clash
    /// with a file's).
    fn dir(&mut self, raw_name: &str) -> Result<(), ArchiveError> {
        if paths::normalize(raw_name).is_empty() && !raw_name.starts_with('/') {
            return Ok(()); // `./`, the archive's own top directory
        }
        let path = safe_path(raw_name)?;
        self.paths.dir(raw_name, &path)
    }
}

impl<V> Reading<V> {
    /// Counts `n` bytes read outside any member (extension headers, padding)
    /// against the budget.
    fn spend(&mut self, n: u64, at: &str) -> Result<(), ArchiveError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.budget {
            return Err(ArchiveError::TooLarge {
                member: at.to_string(),
                limit: self.budget,
            });
        }
        Ok(())
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

/// A member path as shown to people, refused when absolute or climbing out:
/// its components, without empty and `.` ones (`./bin//app` is `bin/app`,
/// where every extractor writes it), joined by `/`, escaped for display.
pub fn safe_path(name: &str) -> Result<String, ArchiveError> {
    let unsafe_name = name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\0')
        || name.get(1..2) == Some(":")
        || name.split(['/', '\\']).any(|c| c == "..");
    let normal = paths::normalize(name);
    if unsafe_name || normal.is_empty() {
        return Err(ArchiveError::UnsafeName(crate::display::escape(name, 200)));
    }
    Ok(crate::display::escape(&normal, 200))
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
mod tests;
