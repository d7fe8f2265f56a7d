//! Zip archives (PKWARE APPNOTE.TXT 6.3.10) read from the central directory,
//! the way `unzip` and Python's `zipfile` read them, with every local header
//! checked against it because bsdtar (streaming) reads local headers instead.
//! Refused wherever those readers could write something else:
//! - not exactly one end-of-central-directory record in the last 64 KiB + 22
//!   bytes (APPNOTE §4.3.16), or one whose comment does not end the file;
//! - a central directory that does not end where the end record starts, or
//!   local records (header, data, data descriptor) that do not tile the bytes
//!   before it exactly: no gaps, no overlaps, no prepended data, nothing
//!   unlisted;
//! - a local header whose name, flags, method, CRC or sizes differ from its
//!   central-directory entry (or its data descriptor's, §4.3.9);
//! - Zip64, encryption, methods other than stored and deflate, names that are
//!   not UTF-8 (or non-ASCII without the UTF-8 flag, §4.4.4 bit 11, which
//!   extractors then read as code page 437), backslashes in names, and the
//!   Info-ZIP Unicode Path extra field (0x7075), which `unzip` prefers to the
//!   name itself;
//! - a member whose bytes do not have its CRC-32 and size, or whose deflate
//!   stream does not end exactly at its compressed size.

use super::{ArchiveError, Reading};
use std::io::{BufReader, Read, Seek, SeekFrom};

const LOCAL: &[u8; 4] = b"PK\x03\x04";
const CENTRAL: &[u8; 4] = b"PK\x01\x02";
const END: &[u8; 4] = b"PK\x05\x06";
const ZIP64_LOCATOR: &[u8; 4] = b"PK\x06\x07";
const DESCRIPTOR: &[u8; 4] = b"PK\x07\x08";
const END_LEN: u64 = 22;
/// The end record's comment is at most 64 KiB, so the record is this close
/// to the end of the file (where `unzip` and Python look for it).
const TAIL: u64 = 0xffff + END_LEN;
/// Most bytes of central directory read into memory.
const MAX_CENTRAL: u64 = 64 << 20;

/// The last [`TAIL`] bytes of a file `size` bytes long.
pub(super) fn read_tail<R: Read + Seek>(r: &mut R, size: u64) -> std::io::Result<Vec<u8>> {
    let start = size.saturating_sub(TAIL);
    r.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((size - start) as usize);
    r.by_ref().take(TAIL).read_to_end(&mut tail)?;
    Ok(tail)
}

/// Where whole end records start in `tail`.
fn end_records(tail: &[u8]) -> Vec<usize> {
    tail.windows(END_LEN as usize)
        .enumerate()
        .filter(|(_, w)| w.starts_with(END))
        .map(|(i, _)| i)
        .collect()
}

/// Whether `unzip` or Python would read this tail as a zip's.
pub(super) fn has_end_record(tail: &[u8]) -> bool {
    !end_records(tail).is_empty()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | u64::from(u32_at(b, at + 4)) << 32
}

fn refused(why: impl Into<String>) -> ArchiveError {
    ArchiveError::refused(why)
}

/// One central-directory entry.
struct Entry {
    name: String,
    raw_name: Vec<u8>,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    directory: bool,
    /// A symbolic link or special file, by its Unix mode.
    not_a_file: Option<&'static str>,
}

/// Reads the zip (see the module doc), handing each file to `reading`.
pub(super) fn read<R: Read + Seek, V>(
    mut r: R,
    size: u64,
    reading: &mut Reading<V>,
) -> Result<(), ArchiveError>
where
    V: FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>,
{
    let io = |error| ArchiveError::Read { at: None, error };
    let tail = read_tail(&mut r, size).map_err(io)?;
    let (cd_offset, cd_size, count) = end_record(&tail, size)?;
    if count > reading.limits.max_members {
        return Err(ArchiveError::TooManyMembers(reading.limits.max_members));
    }
    if cd_size > MAX_CENTRAL {
        return Err(refused("the central directory is over 64 MiB"));
    }
    r.seek(SeekFrom::Start(cd_offset)).map_err(io)?;
    let mut central = vec![0u8; cd_size as usize];
    r.read_exact(&mut central).map_err(io)?;
    let entries = central_directory(&central, count)?;
    check_layout(&mut r, &entries, cd_offset)?;
    for e in &entries {
        if e.directory {
            reading.dir(&e.name)?;
            continue;
        }
        let path = super::safe_path(&e.name)?;
        if let Some(what) = e.not_a_file {
            return Err(ArchiveError::NotAFile(path, what));
        }
        let data_start = local_data_start(&mut r, e)?;
        r.seek(SeekFrom::Start(data_start)).map_err(io)?;
        let body = Body::new((&mut r).take(e.compressed), e)?;
        reading.file(&e.name, body)?;
    }
    Ok(())
}

/// The end record: central directory offset, size and entry count.
fn end_record(tail: &[u8], size: u64) -> Result<(u64, u64, usize), ArchiveError> {
    let found = end_records(tail);
    let at = match found.as_slice() {
        [at] => *at,
        [] => return Err(refused("no zip end-of-central-directory record")),
        _ => {
            return Err(refused(format!(
                "{} zip end-of-central-directory records (extractors pick different ones)",
                found.len()
            )))
        }
    };
    let rec = &tail[at..];
    let pos = size - tail.len() as u64 + at as u64;
    let comment = u64::from(u16_at(rec, 20));
    if pos + END_LEN + comment != size {
        return Err(refused(
            "the zip end record's comment does not end where the file ends",
        ));
    }
    let (disk, cd_disk) = (u16_at(rec, 4), u16_at(rec, 6));
    let (on_disk, total) = (u16_at(rec, 8), u16_at(rec, 10));
    let (cd_size, cd_offset) = (u64::from(u32_at(rec, 12)), u64::from(u32_at(rec, 16)));
    let zip64 = at >= 20 && tail[at - 20..].starts_with(ZIP64_LOCATOR)
        || total == 0xffff
        || cd_size == 0xffff_ffff
        || cd_offset == 0xffff_ffff;
    if zip64 {
        return Err(refused(
            "Zip64 archives (over 4 GiB or 65,535 entries) are not read",
        ));
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(refused("multi-disk zip archives are not read"));
    }
    if cd_offset + cd_size != pos {
        return Err(refused(
            "the zip central directory does not end where the end record starts",
        ));
    }
    Ok((cd_offset, cd_size, usize::from(total)))
}

/// Parses exactly `count` entries filling all of `cd`.
fn central_directory(mut cd: &[u8], count: usize) -> Result<Vec<Entry>, ArchiveError> {
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if cd.len() < 46 || !cd.starts_with(CENTRAL) {
            return Err(refused(
                "the zip central directory is shorter than its count",
            ));
        }
        let (name_len, extra_len, comment_len) = (
            usize::from(u16_at(cd, 28)),
            usize::from(u16_at(cd, 30)),
            usize::from(u16_at(cd, 32)),
        );
        let len = 46 + name_len + extra_len + comment_len;
        if cd.len() < len {
            return Err(refused("a zip central-directory entry runs past its end"));
        }
        let raw_name = cd[46..46 + name_len].to_vec();
        let extra = &cd[46 + name_len..46 + name_len + extra_len];
        entries.push(central_entry(&cd[..46], raw_name, extra)?);
        cd = &cd[len..];
    }
    if !cd.is_empty() {
        return Err(refused(
            "the zip central directory holds more than its count of entries",
        ));
    }
    Ok(entries)
}

/// Flag bits this reader understands: deflate options (1, 2), data
/// descriptor (3), UTF-8 names (11).
const KNOWN_FLAGS: u16 = 0b0000_1000_0000_1110;

fn central_entry(h: &[u8], raw_name: Vec<u8>, extra: &[u8]) -> Result<Entry, ArchiveError> {
    let made_by_host = h[5];
    let flags = u16_at(h, 8);
    let method = u16_at(h, 10);
    let (compressed, size) = (u64::from(u32_at(h, 20)), u64::from(u32_at(h, 24)));
    let start_disk = u16_at(h, 34);
    let external = u32_at(h, 38);
    let offset = u64::from(u32_at(h, 42));
    let name = entry_name(&raw_name, flags)?;
    if flags & 1 != 0 {
        return Err(refused(format!("zip member {name:?} is encrypted")));
    }
    if flags & !KNOWN_FLAGS != 0 {
        return Err(refused(format!(
            "zip member {name:?} has flags 0x{flags:04x}, which this reader does not know"
        )));
    }
    if method != 0 && method != 8 {
        return Err(refused(format!(
            "zip member {name:?} uses compression method {method} (stored and deflate are read)"
        )));
    }
    if method == 0 && compressed != size {
        return Err(refused(format!(
            "zip member {name:?} is stored but its two sizes differ"
        )));
    }
    if [compressed, size, offset].contains(&0xffff_ffff) || start_disk != 0 {
        return Err(refused(
            "Zip64 archives (over 4 GiB or 65,535 entries) are not read",
        ));
    }
    check_extra(extra, &name)?;
    // Unix hosts (3) keep the mode in the high half of the external
    // attributes; MS-DOS attributes keep a directory bit (0x10).
    let mode = if made_by_host == 3 { external >> 16 } else { 0 };
    let dos_dir = made_by_host != 3 && external & 0x10 != 0;
    let directory = name.ends_with('/');
    let not_a_file = match mode & 0o170_000 {
        0o120_000 => Some("symbolic link"),
        0 | 0o100_000 | 0o040_000 => None,
        _ => Some("special file"),
    };
    if directory != (mode & 0o170_000 == 0o040_000 || dos_dir) && (mode != 0 || dos_dir) {
        return Err(refused(format!(
            "zip member {name:?}: its name and its attributes disagree on whether it is a directory"
        )));
    }
    if directory && size != 0 {
        return Err(refused(format!("zip directory {name:?} has data")));
    }
    Ok(Entry {
        name,
        raw_name,
        flags,
        method,
        crc: u32_at(h, 16),
        compressed,
        size,
        offset,
        directory,
        not_a_file,
    })
}

/// A member name as every extractor reads it, or refused.
fn entry_name(raw: &[u8], flags: u16) -> Result<String, ArchiveError> {
    let name = std::str::from_utf8(raw)
        .map_err(|_| refused("a zip member name is not UTF-8"))?
        .to_string();
    let shown = crate::display::escape(&name, 200);
    if !name.is_ascii() && flags & (1 << 11) == 0 {
        return Err(refused(format!(
            "zip member {shown:?} has a non-ASCII name without the UTF-8 flag (extractors read it as code page 437)"
        )));
    }
    if name.contains('\\') {
        return Err(refused(format!(
            "zip member {shown:?} has a backslash in its name (unzip reads it as a separator)"
        )));
    }
    Ok(name)
}

/// Extra fields must be well formed; Zip64 and Unicode Path fields are refused.
fn check_extra(mut extra: &[u8], name: &str) -> Result<(), ArchiveError> {
    while !extra.is_empty() {
        if extra.len() < 4 {
            return Err(refused(format!(
                "zip member {name:?} has a malformed extra field"
            )));
        }
        let (id, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
        if extra.len() < 4 + len {
            return Err(refused(format!(
                "zip member {name:?} has a malformed extra field"
            )));
        }
        match id {
            0x0001 => {
                return Err(refused("Zip64 archives (over 4 GiB or 65,535 entries) are not read"))
            }
            0x7075 => {
                return Err(refused(format!(
                    "zip member {name:?} has a Unicode Path extra field (unzip uses it instead of the name)"
                )))
            }
            _ => {}
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

/// Every local record (header, data, descriptor) must start where the one
/// before ended, the first at 0 and the last ending at the central directory.
fn check_layout<R: Read + Seek>(
    r: &mut R,
    entries: &[Entry],
    cd_offset: u64,
) -> Result<(), ArchiveError> {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| e.offset);
    let mut expected = 0;
    for e in order {
        if e.offset != expected {
            return Err(refused(format!(
                "zip member {:?} does not start where the member before it ends (overlapping or unlisted data)",
                crate::display::escape(&e.name, 200)
            )));
        }
        expected = local_record_end(r, e)?;
    }
    if expected != cd_offset {
        return Err(refused(
            "data the central directory does not list lies before it",
        ));
    }
    Ok(())
}

/// Reads `e`'s local header, checks it against `e`, and returns where its
/// data starts.
fn local_data_start<R: Read + Seek>(r: &mut R, e: &Entry) -> Result<u64, ArchiveError> {
    let shown = crate::display::escape(&e.name, 200);
    let io = |error| ArchiveError::Read {
        at: Some(shown.clone()),
        error,
    };
    let differs = |what: &str| {
        refused(format!(
            "zip member {shown:?}: its local header's {what} differs from the central directory's"
        ))
    };
    r.seek(SeekFrom::Start(e.offset)).map_err(io)?;
    let mut h = [0u8; 30];
    r.read_exact(&mut h).map_err(io)?;
    if !h.starts_with(LOCAL) {
        return Err(refused(format!(
            "zip member {shown:?} has no local header where the central directory says"
        )));
    }
    let (name_len, extra_len) = (usize::from(u16_at(&h, 26)), usize::from(u16_at(&h, 28)));
    let mut rest = vec![0u8; name_len + extra_len];
    r.read_exact(&mut rest).map_err(io)?;
    if u16_at(&h, 6) != e.flags {
        return Err(differs("flags"));
    }
    if u16_at(&h, 8) != e.method {
        return Err(differs("method"));
    }
    if rest[..name_len] != e.raw_name[..] {
        return Err(differs("name"));
    }
    check_extra(&rest[name_len..], &shown)?;
    let (crc, compressed, size) = (
        u32_at(&h, 14),
        u64::from(u32_at(&h, 18)),
        u64::from(u32_at(&h, 22)),
    );
    // With a data descriptor, a streaming writer leaves what it did not know
    // yet as zero here (Go's archive/zip all three, bsdtar CRC and
    // compressed size).
    let deferred = e.flags & (1 << 3) != 0;
    let agrees = |local: u64, central: u64| local == central || (deferred && local == 0);
    if !agrees(u64::from(crc), u64::from(e.crc))
        || !agrees(compressed, e.compressed)
        || !agrees(size, e.size)
    {
        return Err(differs("CRC or sizes"));
    }
    Ok(e.offset + 30 + (name_len + extra_len) as u64)
}

/// Where `e`'s local record ends: after its data and, with flag bit 3, its
/// data descriptor (signature optional, §4.3.9.3), whose values must be the
/// central directory's.
fn local_record_end<R: Read + Seek>(r: &mut R, e: &Entry) -> Result<u64, ArchiveError> {
    let data_end = local_data_start(r, e)? + e.compressed;
    if e.flags & (1 << 3) == 0 {
        return Ok(data_end);
    }
    let shown = crate::display::escape(&e.name, 200);
    r.seek(SeekFrom::Start(data_end))
        .map_err(|error| ArchiveError::Read {
            at: Some(shown.clone()),
            error,
        })?;
    let mut d = Vec::with_capacity(24);
    r.by_ref()
        .take(24)
        .read_to_end(&mut d)
        .map_err(|error| ArchiveError::Read {
            at: Some(shown.clone()),
            error,
        })?;
    // Signature or not; 4-byte sizes, or 8-byte ones as libarchive writes.
    let want = (e.crc, e.compressed, e.size);
    let short = |o: usize| {
        (d.len() >= o + 12).then(|| {
            (
                u32_at(&d, o),
                u64::from(u32_at(&d, o + 4)),
                u64::from(u32_at(&d, o + 8)),
            )
        })
    };
    let long = |o: usize| {
        (d.len() >= o + 20).then(|| (u32_at(&d, o), u64_at(&d, o + 4), u64_at(&d, o + 12)))
    };
    let signed = d.starts_with(DESCRIPTOR);
    let forms = [
        (signed, short(4), 16),
        (signed, long(4), 24),
        (true, short(0), 12),
        (true, long(0), 20),
    ];
    let found = forms
        .iter()
        .find(|(allowed, values, _)| *allowed && *values == Some(want));
    if let Some((_, _, len)) = found {
        Ok(data_end + len)
    } else {
        Err(refused(format!(
            "zip member {shown:?}: its data descriptor differs from the central directory"
        )))
    }
}

/// A member's bytes, checked at their end against the central directory:
/// size, CRC-32 and, for deflate, a stream that ends at the compressed size.
struct Body<R: Read> {
    data: Data<R>,
    crc: flate2::Crc,
    expect_crc: u32,
    expect_size: u64,
    compressed: u64,
    got: u64,
}

enum Data<R: Read> {
    Stored(R),
    Deflated(flate2::bufread::DeflateDecoder<BufReader<R>>),
}

impl<R: Read> Body<R> {
    fn new(data: R, e: &Entry) -> Result<Body<R>, ArchiveError> {
        let data = match e.method {
            0 => Data::Stored(data),
            _ => Data::Deflated(flate2::bufread::DeflateDecoder::new(BufReader::new(data))),
        };
        Ok(Body {
            data,
            crc: flate2::Crc::new(),
            expect_crc: e.crc,
            expect_size: e.size,
            compressed: e.compressed,
            got: 0,
        })
    }

    fn check_end(&self) -> std::io::Result<()> {
        let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
        if self.got != self.expect_size {
            return Err(bad("its size is not the central directory's"));
        }
        if self.crc.sum() != self.expect_crc {
            return Err(bad("its CRC-32 is not the central directory's"));
        }
        if let Data::Deflated(d) = &self.data {
            if d.total_in() != self.compressed {
                return Err(bad("its deflate stream ends before its compressed size"));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match &mut self.data {
            Data::Stored(r) => r.read(buf)?,
            Data::Deflated(d) => d.read(buf)?,
        };
        if n == 0 && !buf.is_empty() {
            self.check_end()?;
            return Ok(0);
        }
        self.got += n as u64;
        if self.got > self.expect_size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "it holds more bytes than the central directory says",
            ));
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}
