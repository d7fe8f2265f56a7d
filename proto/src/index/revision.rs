//! A leaf of the index log: one revision of the map, committed to the log
//! checkpoint it indexes. The index log is a C2SP log of its own (origin,
//! key, tiles, checkpoints, witnesses), so its history is auditable without
//! extension lines in the log's checkpoints (which witnesses such as
//! sigsum-witness refuse).
//!
//! Text, one field a line, each ending in a newline:
//!
//! ```text
//! reprolog index revision
//! <origin of the log indexed>
//! <its size>
//! <its root hash, base64>
//! <the map root, base64>
//! ```
//!
//! The map holds exactly the entries `0..size` of that log.

use crate::hash::Hash;

/// The first line of every revision leaf.
pub const HEADER: &str = "reprolog index revision";

/// One map revision: the map of log `origin`'s first `size` entries, whose
/// tree has root `log_root`, has root `map_root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub origin: String,
    pub size: u64,
    pub log_root: Hash,
    pub map_root: Hash,
}

/// Why a revision leaf could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index revision: {0}")]
pub struct RevisionError(&'static str);

impl Revision {
    /// The leaf's bytes.
    pub fn to_text(&self) -> String {
        format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.log_root.to_base64(),
            self.map_root.to_base64()
        )
    }

    /// Parses exactly what [`Revision::to_text`] writes.
    pub fn parse(text: &[u8]) -> Result<Revision, RevisionError> {
        let text = std::str::from_utf8(text).map_err(|_| RevisionError("not UTF-8"))?;
        let body = text
            .strip_suffix('\n')
            .ok_or(RevisionError("the last line does not end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [header, origin, size, log_root, map_root] = lines[..] else {
            return Err(RevisionError("not five lines"));
        };
        if header != HEADER {
            return Err(RevisionError("not a revision leaf"));
        }
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RevisionError("bad origin line"));
        }
        let canonical = size == "0" || !size.starts_with('0');
        let size = match size.parse::<u64>() {
            Ok(n) if canonical && size.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(RevisionError("bad size line")),
        };
        let hash = |line: &str| Hash::from_base64(line).map_err(|_| RevisionError("bad hash line"));
        let revision = Revision {
            origin: origin.to_string(),
            size,
            log_root: hash(log_root)?,
            map_root: hash(map_root)?,
        };
        // Base64 has several spellings of some byte strings: one only.
        if revision.to_text() != text {
            return Err(RevisionError("not in canonical form"));
        }
        Ok(revision)
    }

    /// The leaf's RFC 6962 leaf hash in the index log.
    pub fn leaf_hash(&self) -> Hash {
        Hash::leaf(self.to_text().as_bytes())
    }
}
