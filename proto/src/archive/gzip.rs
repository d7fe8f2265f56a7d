//! A gzip file (RFC 1952) as the one stream `gzip -d` makes of it: every
//! member, decompressed in turn (§2.2: "a gzip file consists of a series of
//! members"; GNU tar, bsdtar and Python's `gzip` all read them all). After the
//! last member only zero bytes may follow (padding that `gzip -d` and Python
//! skip); anything else is refused, since `gzip -d` warns and goes on while
//! Python stops with an error.
//!
//! Reading them all, rather than refusing a second member, keeps archives
//! from `pigz --independent`, `bgzip` or `cat a.gz b.gz` readable, and loses
//! nothing: what the members hold together is one tar stream, read with the
//! tar reader's own checks (a member path twice, data after the end blocks).

use std::io::{BufRead, Read};

/// The first two bytes of every gzip member (RFC 1952 §2.3.1).
pub(super) const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The decompressed bytes of every member of a gzip file.
pub(super) struct Members<R: BufRead> {
    state: State<R>,
}

enum State<R: BufRead> {
    InMember(flate2::bufread::GzDecoder<R>),
    /// Between members, or at the end; `None` only while switching.
    Between(Option<R>),
    Done,
}

/// The error [`Members`] fails with when non-zero bytes follow the last member.
#[derive(Debug)]
pub(super) struct TrailingData;

impl std::fmt::Display for TrailingData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("data that is neither a gzip member nor zero padding follows the last member")
    }
}

impl std::error::Error for TrailingData {}

impl<R: BufRead> Members<R> {
    pub(super) fn new(inner: R) -> Members<R> {
        Members {
            state: State::InMember(flate2::bufread::GzDecoder::new(inner)),
        }
    }

    /// After a member: starts the next one, or checks the rest is padding.
    fn next_member(&mut self, mut inner: R) -> std::io::Result<()> {
        let rest = inner.fill_buf()?;
        if rest.is_empty() {
            self.state = State::Done;
        } else if rest[0] == MAGIC[0] && rest.get(1).is_none_or(|&b| b == MAGIC[1]) {
            // A new member; the rest of its header is checked by the decoder.
            self.state = State::InMember(flate2::bufread::GzDecoder::new(inner));
        } else if rest[0] != 0 {
            return Err(std::io::Error::other(TrailingData));
        } else {
            loop {
                let rest = inner.fill_buf()?;
                if rest.is_empty() {
                    break;
                }
                if rest.iter().any(|&b| b != 0) {
                    return Err(std::io::Error::other(TrailingData));
                }
                let n = rest.len();
                inner.consume(n);
            }
            self.state = State::Done;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match &mut self.state {
                State::Done => return Ok(0),
                State::InMember(decoder) => {
                    let n = decoder.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        return Ok(n);
                    }
                    let State::InMember(decoder) =
                        std::mem::replace(&mut self.state, State::Between(None))
                    else {
                        unreachable!("matched InMember above");
                    };
                    self.state = State::Between(Some(decoder.into_inner()));
                }
                State::Between(inner) => {
                    let inner = inner
                        .take()
                        .ok_or_else(|| std::io::Error::other("gzip reader used after an error"))?;
                    self.next_member(inner)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Members::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn members_are_one_stream_and_only_zeros_may_follow() {
        let mut two = gz(b"first ");
        two.extend(gz(b"second"));
        assert_eq!(read_all(&two).unwrap(), b"first second");
        let mut padded = two.clone();
        padded.extend([0u8; 700]);
        assert_eq!(read_all(&padded).unwrap(), b"first second");
        let mut garbage = padded.clone();
        garbage.push(b'x');
        let err = read_all(&garbage).unwrap_err();
        assert!(
            err.get_ref().is_some_and(|e| e.is::<TrailingData>()),
            "{err}"
        );
        let mut not_gzip = two.clone();
        not_gzip.extend(b"PK\x03\x04");
        assert!(read_all(&not_gzip).is_err());
        let truncated = &two[..two.len() - 3];
        assert!(read_all(truncated).is_err(), "a member without its trailer");
    }
}
