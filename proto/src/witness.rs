//! C2SP tlog-witness v1.0.0 (https://c2sp.org/tlog-witness): the
//! `add-checkpoint` request and the rules a witness applies before it
//! cosigns. No I/O: the server keeps the state and answers over HTTP, the log
//! sends requests; both use these types.
//!
//! A request body is `old <size>\n`, at most 63 base64 consistency-proof
//! lines, a blank line, then the signed checkpoint note.
//!
//! Invariant the rules keep for each log: a witness cosigns a checkpoint only
//! if it is consistent with, and not smaller than, the last one it cosigned,
//! so it never cosigns two views of one log.

use crate::checkpoint::Checkpoint;
use crate::hash::Hash;
use crate::merkle;
use crate::note::{self, Verifier};

/// At most this many consistency-proof lines (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;

/// Largest request body a witness reads.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The media type of a 409 answer's body: the witness's size and a newline.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as sent.
    pub checkpoint: Vec<u8>,
}

/// The latest checkpoint a witness cosigned for a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Witnessed {
    pub size: u64,
    pub root: Hash,
}

/// Why a witness refused a request; each maps to the status code the spec
/// gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body is malformed, or the old size is past the checkpoint.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403: no signature by a key the witness trusts for this origin verifies.
    #[error("checkpoint is not signed by a known key of {0}: {1}")]
    Forbidden(String, String),
    /// 404: the witness does not know the origin.
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// 409: the old size is not the size the witness last cosigned.
    #[error("old size does not match; the witness is at size {0}")]
    Conflict(u64),
    /// 422: the checkpoint is not consistent with what the witness cosigned.
    #[error("{0}")]
    Unprocessable(String),
}

impl Refusal {
    /// The HTTP status code of this refusal (tlog-witness "add-checkpoint").
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden(..) => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Unprocessable(_) => 422,
        }
    }
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = format!("old {}\n", self.old_size);
        for h in &self.proof {
            body.push_str(&h.to_base64());
            body.push('\n');
        }
        body.push('\n');
        let mut body = body.into_bytes();
        body.extend_from_slice(&self.checkpoint);
        body
    }

    /// Parses a request body strictly: canonical decimal, at most 63 proof
    /// lines, each a base64 SHA-256 hash.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Refusal> {
        let bad = |why: &str| Refusal::BadRequest(why.to_string());
        if body.len() > MAX_REQUEST_BYTES {
            return Err(bad("request body is too large"));
        }
        let (old_line, mut rest) = split_line(body).ok_or_else(|| bad("missing old size line"))?;
        let old_size = old_line
            .strip_prefix(b"old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("first line must be `old <size>` in canonical decimal"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) =
                split_line(rest).ok_or_else(|| bad("missing blank line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let text = std::str::from_utf8(line).map_err(|_| bad("proof line is not text"))?;
            proof
                .push(Hash::from_base64(text).map_err(|_| bad("proof line is not a base64 hash"))?);
        }
        if rest.is_empty() {
            return Err(bad("missing checkpoint"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The checkpoint's origin line (not yet verified), to find its log.
    pub fn origin(&self) -> Result<&str, Refusal> {
        let (line, _) = split_line(&self.checkpoint)
            .ok_or_else(|| Refusal::BadRequest("checkpoint has no origin line".into()))?;
        std::str::from_utf8(line)
            .ok()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| Refusal::BadRequest("checkpoint origin is not text".into()))
    }

    /// Applies the witness's rules, in the spec's order, given the keys it
    /// trusts for the checkpoint's origin (empty: unknown origin) and the last
    /// checkpoint it cosigned for that origin. On success returns the
    /// checkpoint (verified) and its note text, ready to cosign; the caller
    /// must store it before answering, in the same atomic step as the read
    /// of `latest`.
    pub fn check(
        &self,
        log_keys: &[Verifier],
        latest: Option<Witnessed>,
    ) -> Result<(Checkpoint, String), Refusal> {
        let (cp, text) = self.authenticate(log_keys)?;
        self.check_against(&cp, latest)?;
        Ok((cp, text))
    }

    /// The rules that need no state (404, 403, malformed checkpoint): a
    /// witness runs them before it takes its state, so requests from
    /// strangers never wait for, or hold, the writer.
    pub fn authenticate(&self, log_keys: &[Verifier]) -> Result<(Checkpoint, String), Refusal> {
        let origin = self.origin()?;
        if log_keys.is_empty() {
            return Err(Refusal::UnknownLog(origin.chars().take(100).collect()));
        }
        let opened = note::open(&self.checkpoint, log_keys)
            .map_err(|e| Refusal::Forbidden(origin.chars().take(100).collect(), e.to_string()))?;
        let cp = Checkpoint::parse(&opened.text)
            .map_err(|e| Refusal::BadRequest(format!("checkpoint: {e}")))?;
        Ok((cp, opened.text))
    }

    /// The rules against the last checkpoint cosigned for this origin (400
    /// for an old size past the checkpoint, 409, 422), for an authenticated
    /// checkpoint `cp`.
    pub fn check_against(&self, cp: &Checkpoint, latest: Option<Witnessed>) -> Result<(), Refusal> {
        if self.old_size > cp.size {
            return Err(Refusal::BadRequest(format!(
                "old size {} is larger than the checkpoint size {}",
                self.old_size, cp.size
            )));
        }
        if self.old_size == 0 && !self.proof.is_empty() {
            return Err(Refusal::BadRequest(
                "the consistency proof must be empty when old size is 0".into(),
            ));
        }
        let latest = latest.unwrap_or(Witnessed {
            size: 0,
            root: Hash::empty_tree(),
        });
        if self.old_size != latest.size {
            return Err(Refusal::Conflict(latest.size));
        }
        if cp.size == 0 && cp.root != Hash::empty_tree() {
            return Err(Refusal::Unprocessable(
                "a checkpoint of size 0 must have the empty tree's root".into(),
            ));
        }
        if cp.size == latest.size && cp.root != latest.root {
            return Err(Refusal::Unprocessable(format!(
                "size {} was cosigned with root {}, not {}",
                cp.size, latest.root, cp.root
            )));
        }
        merkle::verify_consistency(latest.size, cp.size, &latest.root, &cp.root, &self.proof)
            .map_err(|e| {
                Refusal::Unprocessable(format!(
                    "consistency proof from size {} to {}: {e}",
                    latest.size, cp.size
                ))
            })
    }
}

/// Parses a 409 answer's body: the witness's size and a newline.
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    body.strip_suffix(b"\n").and_then(parse_decimal)
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// ASCII decimal without leading zeros ("0" alone is fine).
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
