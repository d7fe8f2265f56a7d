//! Tar archives (POSIX.1-2001 pax, ustar, GNU and V7 headers) read the way
//! GNU tar, bsdtar and Python's `tarfile` read them, or refused where they
//! would not agree (see the module doc of [`super`]).
//!
//! A 512-byte header per entry, its data padded to 512 bytes; the archive
//! ends at a zero block. What is honoured, exactly as those readers do:
//! - ustar's `prefix` field (POSIX magic `ustar\0` `00` only: GNU and V7
//!   headers use those bytes for other things, so there they must be zero);
//! - base-256 sizes (GNU, for members over 8 GiB);
//! - a pax `x` header's `path` and `size` (POSIX.1-2001 §pax "Extended
//!   header keywords"), whatever the next header's magic; the keywords that
//!   only describe a file (times, owners, xattrs, comment) are accepted and
//!   do not change what is written; any other keyword is refused;
//! - a pax `g` header holding only such descriptive keywords (`git archive`
//!   writes `comment=<commit>`);
//! - a GNU `L` long name.
//!
//! Refused: a bad checksum, an unknown header magic, two extension headers
//! for one entry (pax and GNU together), GNU sparse files, long link names,
//! volume and multi-volume headers, unknown entry types (GNU tar extracts
//! them as files, with a warning), a directory with data, a regular file
//! named like a directory, and anything but zeros after the end block.

use super::{ArchiveError, Reading};
use std::collections::BTreeMap;
use std::io::Read;

const BLOCK: usize = 512;

/// Most bytes of a pax or GNU long-name header's data.
const MAX_EXTENSION: u64 = 1 << 20;

/// Pax keywords that describe a file without changing its path or bytes.
const DESCRIPTIVE: [&str; 9] = [
    "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment", "charset",
];

/// Pax keyword prefixes for extended attributes, written only with `--xattrs`.
const XATTR_PREFIXES: [&str; 2] = ["SCHILY.xattr.", "LIBARCHIVE.xattr."];

/// Whether `block` is a tar header: 512 bytes, not all zero, whose checksum
/// holds (how GNU tar and libarchive recognise tar, magic or not).
pub(super) fn is_header(block: &[u8]) -> bool {
    block.len() >= BLOCK
        && block[..BLOCK].iter().any(|&b| b != 0)
        && checksum_holds(&block[..BLOCK]).unwrap_or(false)
}

/// Whether the checksum field holds the sum of the header's bytes (with the
/// field as spaces); GNU tar and Python accept the sum as signed or unsigned.
fn checksum_holds(block: &[u8]) -> Result<bool, ArchiveError> {
    let stored = number(&block[148..156], "checksum")?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block[..BLOCK].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    Ok(stored == unsigned || i64::try_from(stored).ok() == Some(signed))
}

/// The fields of one header this reader uses.
struct Header {
    name: String,
    size: u64,
    typeflag: u8,
}

impl Header {
    fn parse(block: &[u8]) -> Result<Header, ArchiveError> {
        if !checksum_holds(block)? {
            return Err(ArchiveError::refused("a tar header's checksum is wrong"));
        }
        let prefix = &block[345..500];
        let magic = &block[257..265];
        let posix = magic == b"ustar\x0000";
        if !posix && magic != b"ustar  \0" && magic.iter().any(|&b| b != 0) {
            return Err(ArchiveError::refused(
                "a tar header has an unknown magic (not ustar, GNU or V7)",
            ));
        }
        if !posix && prefix.iter().any(|&b| b != 0) {
            return Err(ArchiveError::refused(
                "a GNU or V7 tar header has bytes in ustar's prefix field (Python reads them as a path, GNU tar does not)",
            ));
        }
        // star's variant of ustar keeps times in the prefix field's last
        // 24 bytes when its byte 130 is NUL: GNU tar then reads a shorter
        // prefix than Python and bsdtar.
        if posix && prefix[130] == 0 && prefix[131..].iter().any(|&b| b != 0) {
            return Err(ArchiveError::refused(
                "a tar header's prefix field may be read as star's (with times) or as ustar's",
            ));
        }
        // Fields this reader does not use are still read, as Python does:
        // Python's tarfile ends the archive silently at a header whose mode,
        // owner, time or device is not a number, where GNU tar warns and
        // goes on (seen: a member after mode "0030083" listed by one, not
        // the other).
        for (range, what) in [
            (100..108, "mode"),
            (108..116, "uid"),
            (116..124, "gid"),
            (136..148, "mtime"),
            (329..337, "devmajor"),
            (337..345, "devminor"),
        ] {
            let field = &block[range];
            if field.iter().any(|&b| b != 0 && b != b' ') {
                number(field, what)?;
            }
        }
        let mut name = c_string(&block[..100])?;
        if posix && prefix[0] != 0 {
            name = format!("{}/{name}", c_string(prefix)?);
        }
        Ok(Header {
            name,
            size: number(&block[124..136], "size")?,
            typeflag: block[156],
        })
    }
}

/// A NUL-terminated field as UTF-8 (extractors write the raw bytes; a name
/// we could not show as they write it is refused).
fn c_string(field: &[u8]) -> Result<String, ArchiveError> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8(field[..end].to_vec())
        .map_err(|_| ArchiveError::refused("a tar member name is not UTF-8"))
}

/// A numeric header field: octal digits after optional spaces, ended by
/// spaces or NULs; or GNU's base-256 (high bit of the first byte set).
fn number(field: &[u8], what: &str) -> Result<u64, ArchiveError> {
    let bad = || ArchiveError::refused(format!("a tar header's {what} field is not a number"));
    if field[0] & 0x80 != 0 {
        if field[0] == 0xff {
            return Err(bad()); // negative
        }
        let mut n = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(b)))
                .ok_or_else(bad)?;
        }
        return Ok(n);
    }
    let start = field.iter().position(|&b| b != b' ').ok_or_else(bad)?;
    let digits = field[start..]
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    let rest = &field[start + digits..];
    if digits == 0 || rest.iter().any(|&b| b != b' ' && b != 0) {
        return Err(bad());
    }
    field[start..start + digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(8)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)
    })
}

/// What extension headers say about the entry that follows them.
#[derive(Default)]
struct Pending {
    /// A pax `x` header was read (its `path` and `size`, if given).
    pax: Option<(Option<String>, Option<u64>)>,
    long_name: Option<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pax.is_none() && self.long_name.is_none()
    }
}

/// Reads a tar stream (see the module doc), handing each file to `reading`.
pub(super) fn read<R: Read, V>(mut r: R, reading: &mut Reading<V>) -> Result<(), ArchiveError>
where
    V: FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>,
{
    let mut pending = Pending::default();
    let mut last = String::new();
    // EOF at a header boundary ends the loop, as if end blocks followed.
    while let Some(block) = next_block(&mut r, &last)? {
        if block.iter().all(|&b| b == 0) {
            expect_zeros(&mut r, reading, &last)?;
            break;
        }
        if !pending.is_empty() && matches!(block[156], b'x' | b'g' | b'L' | b'K') {
            return Err(ArchiveError::refused(
                "two tar extension headers for one entry (extractors combine them differently)",
            ));
        }
        let header = Header::parse(&block)?;
        match header.typeflag {
            b'x' => {
                let data = extension(&mut r, reading, header.size, &last)?;
                pending.pax = Some(pax(&data, false)?);
            }
            b'g' => {
                let data = extension(&mut r, reading, header.size, &last)?;
                pax(&data, true)?;
            }
            b'L' => {
                let data = extension(&mut r, reading, header.size, &last)?;
                pending.long_name = Some(c_string(&data)?);
            }
            _ => {
                last = entry(&mut r, reading, header, std::mem::take(&mut pending))?;
            }
        }
    }
    if !pending.is_empty() {
        return Err(ArchiveError::refused(
            "a tar extension header has no entry after it",
        ));
    }
    Ok(())
}

/// One entry (not an extension header): its name and size as the pending
/// extension headers give them, checked, and its data handed on or skipped.
/// Returns its name, to name the place of a later error.
fn entry<R: Read, V>(
    r: &mut R,
    reading: &mut Reading<V>,
    header: Header,
    pending: Pending,
) -> Result<String, ArchiveError>
where
    V: FnMut(&str, &mut dyn Read) -> Result<(), ArchiveError>,
{
    let (pax_path, pax_size) = pending.pax.unwrap_or_default();
    let name = pax_path.or(pending.long_name).unwrap_or(header.name);
    let size = pax_size.unwrap_or(header.size);
    let what = match header.typeflag {
        b'0' | b'\0' | b'7' if name.ends_with('/') => {
            return Err(ArchiveError::refused(format!(
                "tar member {name:?} is a regular file named like a directory (old tars mean a directory)"
            )));
        }
        b'0' | b'\0' | b'7' => {
            let mut data = r.by_ref().take(size);
            reading.file(&name, &mut data)?;
            if data.limit() > 0 {
                return Err(truncated(&name));
            }
            skip_padding(r, size, &name)?;
            return Ok(name);
        }
        b'5' if size == 0 => {
            reading.dir(&name)?;
            return Ok(name);
        }
        b'5' => {
            return Err(ArchiveError::refused(format!(
                "tar directory {name:?} has data (extractors skip it or read it as entries)"
            )));
        }
        b'1' => "hard link",
        b'2' => "symbolic link",
        b'3' | b'4' | b'6' => "special file",
        b'S' => "sparse file",
        b'K' => "GNU long link name",
        b'V' | b'M' | b'N' | b'D' => "GNU volume, multi-volume or dump header",
        other => {
            return Err(ArchiveError::refused(format!(
                "tar entry type {:?} is not one this reader knows (extractors write unknown types as files, with at most a warning)",
                char::from(other)
            )));
        }
    };
    Err(ArchiveError::NotAFile(super::safe_path(&name)?, what))
}

/// The next 512-byte block, `None` at a clean end of the stream.
fn next_block(r: &mut impl Read, last: &str) -> Result<Option<[u8; BLOCK]>, ArchiveError> {
    let mut block = [0u8; BLOCK];
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(last, e)),
        }
    }
    match got {
        0 => Ok(None),
        BLOCK => Ok(Some(block)),
        _ => Err(truncated(last)),
    }
}

/// An extension header's data (bounded), with its padding skipped.
fn extension<R: Read, V>(
    r: &mut R,
    reading: &mut Reading<V>,
    size: u64,
    last: &str,
) -> Result<Vec<u8>, ArchiveError> {
    if size > MAX_EXTENSION {
        return Err(ArchiveError::refused(format!(
            "a tar extension header holds {size} bytes (at most {MAX_EXTENSION})"
        )));
    }
    reading.spend(size, last)?;
    let mut data = Vec::new();
    r.by_ref()
        .take(size)
        .read_to_end(&mut data)
        .map_err(|e| read_error(last, e))?;
    if data.len() as u64 != size {
        return Err(truncated(last));
    }
    skip_padding(r, size, last)?;
    Ok(data)
}

/// Parses pax records (`<length> <keyword>=<value>\n`): the `path` and
/// `size` they set. A global header (`g`) may hold descriptive keywords only.
fn pax(data: &[u8], global: bool) -> Result<(Option<String>, Option<u64>), ArchiveError> {
    let bad = |why: &str| ArchiveError::refused(format!("a pax header {why}"));
    let mut records = BTreeMap::new();
    let mut rest = data;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let len: usize = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| digits > 0 && n > digits + 1 && n <= rest.len())
            .ok_or_else(|| bad("has a record whose length is wrong"))?;
        let record = &rest[..len];
        if record[digits] != b' ' || record[len - 1] != b'\n' {
            return Err(bad("has a malformed record"));
        }
        let body = std::str::from_utf8(&record[digits + 1..len - 1])
            .map_err(|_| bad("has a record that is not UTF-8"))?;
        let (key, value) = body
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| bad("has a record without keyword=value"))?;
        if records.insert(key, value).is_some() {
            return Err(bad(&format!("sets {key:?} twice")));
        }
        rest = &rest[len..];
    }
    let mut path = None;
    let mut size = None;
    for (key, value) in records {
        let descriptive =
            DESCRIPTIVE.contains(&key) || XATTR_PREFIXES.iter().any(|p| key.starts_with(p));
        match key {
            _ if descriptive => {}
            "path" if !global && !value.is_empty() && !value.contains('\0') => {
                path = Some(value.to_string());
            }
            "size" if !global => {
                size = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| bad("has a size that is not a decimal number"))?,
                );
            }
            "linkpath" if !global => {} // only links use it, and they are refused
            _ if key.starts_with("GNU.sparse.") => {
                return Err(bad("describes a sparse file, which this reader refuses"));
            }
            _ => {
                return Err(bad(&format!(
                    "{} keyword {key:?}, which this reader does not honour",
                    if global {
                        "applies the global"
                    } else {
                        "has the"
                    }
                )));
            }
        }
    }
    Ok((path, size))
}

/// Skips the zeros that pad `size` bytes of data to a whole block.
fn skip_padding(r: &mut impl Read, size: u64, at: &str) -> Result<(), ArchiveError> {
    let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
    let skipped = std::io::copy(&mut r.by_ref().take(pad), &mut std::io::sink())
        .map_err(|e| read_error(at, e))?;
    if skipped != pad {
        return Err(truncated(at));
    }
    Ok(())
}

/// After the end block: the rest of the stream must be zeros (GNU tar pads
/// to a 10 KiB record). Anything else is data the extractors disagree on
/// (they stop at the end block; `tar --ignore-zeros` reads on).
fn expect_zeros<R: Read, V>(
    r: &mut R,
    reading: &mut Reading<V>,
    last: &str,
) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(last, e)),
        };
        reading.spend(n as u64, last)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(ArchiveError::refused(
                "data follows the tar archive's end block (extractors stop there, or read on with --ignore-zeros)",
            ));
        }
    }
}

fn truncated(at: &str) -> ArchiveError {
    read_error(
        at,
        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "unexpected end of data"),
    )
}

/// A read error, at the last entry read; trailing gzip data is a refusal.
fn read_error(at: &str, error: std::io::Error) -> ArchiveError {
    if error
        .get_ref()
        .is_some_and(|e| e.is::<super::gzip::TrailingData>())
    {
        return ArchiveError::refused(error.to_string());
    }
    ArchiveError::Read {
        at: (!at.is_empty()).then(|| crate::display::escape(at, 200)),
        error,
    }
}
