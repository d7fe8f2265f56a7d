//! C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed statement of
//! a log's size and root.
//!
//! Body: `<origin>\n<size>\n<base64 root>\n` followed by optional extension lines.
//! The size is decimal without leading zeros. The body is carried in a signed note
//! ([`crate::note`]) whose log signature is required.

use crate::hash::Hash;
use crate::note::{self, NoteError, Signer, Verifier};
use crate::quorum::WitnessQuorum;
use std::collections::{BTreeMap, BTreeSet};

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("checkpoint origin {got:?} is not the expected {expected:?}")]
    WrongOrigin { got: String, expected: String },
    #[error("checkpoint signature: {0}")]
    Note(#[from] NoteError),
    #[error("checkpoint is not signed by the log key {0}")]
    NotSignedByLog(String),
    #[error("checkpoint lacks the policy's witness quorum {quorum:?}: cosigned by {cosigned}")]
    NoQuorum { quorum: String, cosigned: String },
}

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Extension lines, without their newlines; each non-empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text of this checkpoint.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body (the note text, not the signed note).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        use CheckpointError::Malformed;
        let body = text
            .strip_suffix('\n')
            .ok_or(Malformed("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(Malformed("empty origin"))?;
        let size_text = lines.next().ok_or(Malformed("missing size line"))?;
        let root_text = lines.next().ok_or(Malformed("missing root line"))?;
        let size =
            parse_size(size_text).ok_or(Malformed("size must be decimal without leading zeros"))?;
        let root = Hash::from_base64(root_text)
            .map_err(|_| Malformed("root must be base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(Malformed("empty extension line"));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Malformed("control character"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Signs this checkpoint as a note with the log key.
    pub fn sign(&self, log_key: &Signer) -> Result<String, CheckpointError> {
        Ok(note::sign(&self.to_text(), &[log_key])?)
    }

    /// Opens a signed checkpoint: the log key must have signed it (other
    /// signatures, e.g. witnesses, are passed through unverified) and its origin
    /// must be `origin`.
    pub fn open(
        signed: &[u8],
        origin: &str,
        log_key: &Verifier,
    ) -> Result<Checkpoint, CheckpointError> {
        let opened = note::open(signed, std::slice::from_ref(log_key))?;
        if !opened
            .verified
            .iter()
            .any(|s| s.name == log_key.name() && s.key_id == log_key.key_id())
        {
            return Err(CheckpointError::NotSignedByLog(log_key.to_key_text()));
        }
        let cp = Checkpoint::parse(&opened.text)?;
        if cp.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                got: cp.origin,
                expected: origin.to_string(),
            });
        }
        Ok(cp)
    }
}

/// What a reader requires of a log's checkpoints: the log key's signature
/// and, unless the quorum is `none`, cosignatures from witnesses that meet
/// it (C2SP tlog-policy). Every checkpoint a client believes passes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifier {
    pub key: Verifier,
    pub witnesses: WitnessQuorum,
}

impl LogVerifier {
    /// Checkpoints need the log's signature only.
    pub fn new(key: Verifier) -> LogVerifier {
        LogVerifier {
            key,
            witnesses: WitnessQuorum::none(),
        }
    }

    /// Checkpoints need the log's signature and `witnesses`' quorum.
    pub fn with_witnesses(key: Verifier, witnesses: WitnessQuorum) -> LogVerifier {
        LogVerifier { key, witnesses }
    }

    /// The log's origin: its key's name.
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// Opens a signed checkpoint: the log's signature must verify, every
    /// cosignature by a policy witness must verify (one bad one rejects the
    /// note), and the witnesses that cosigned must meet the quorum.
    pub fn open(&self, signed: &[u8]) -> Result<Checkpoint, CheckpointError> {
        self.open_witnessed(signed).map(|w| w.checkpoint)
    }

    /// [`Self::open`], and when the witness quorum last vouched for the
    /// checkpoint: the latest time `T` (POSIX seconds) such that the
    /// witnesses whose cosignatures (C2SP tlog-cosignature `time`) are from
    /// `T` or later meet the quorum on their own. A client bounds the age of
    /// that time (`max-age`): a log that stops showing newer checkpoints, or
    /// someone replaying old answers, cannot pass for fresh. `None` under
    /// `quorum none`.
    pub fn open_witnessed(&self, signed: &[u8]) -> Result<Witnessed, CheckpointError> {
        if self.witnesses.is_none() {
            return Ok(Witnessed {
                checkpoint: Checkpoint::open(signed, self.origin(), &self.key)?,
                cosigned_at: None,
            });
        }
        let mut keys = vec![self.key.clone()];
        keys.extend(self.witnesses.keys());
        let opened = note::open(signed, &keys)?;
        let signed_by = |v: &Verifier| {
            opened
                .verified
                .iter()
                .any(|s| s.name == v.name() && s.key_id == v.key_id())
        };
        if !signed_by(&self.key) {
            return Err(CheckpointError::NotSignedByLog(self.key.to_key_text()));
        }
        let cp = Checkpoint::parse(&opened.text)?;
        if cp.origin != self.origin() {
            return Err(CheckpointError::WrongOrigin {
                got: cp.origin,
                expected: self.origin().to_string(),
            });
        }
        // Each policy witness's cosignature time (verified by note::open:
        // the 8 bytes before the signature).
        let times: BTreeMap<String, u64> = self
            .witnesses
            .witnesses
            .iter()
            .filter_map(|w| {
                let s = opened
                    .verified
                    .iter()
                    .find(|s| s.name == w.key.name() && s.key_id == w.key.key_id())?;
                let time = s
                    .signature
                    .first_chunk::<8>()
                    .map(|t| u64::from_be_bytes(*t))?;
                Some((w.name.clone(), time))
            })
            .collect();
        let cosigned: BTreeSet<String> = times.keys().cloned().collect();
        if !self.witnesses.is_met(&cosigned) {
            let names: Vec<&str> = cosigned.iter().map(String::as_str).collect();
            return Err(CheckpointError::NoQuorum {
                quorum: self.witnesses.quorum.clone().unwrap_or_default(),
                cosigned: if names.is_empty() {
                    "no policy witness".into()
                } else {
                    names.join(", ")
                },
            });
        }
        Ok(Witnessed {
            checkpoint: cp,
            cosigned_at: self.quorum_time(&times),
        })
    }

    /// The latest time at which the witnesses cosigning then or later meet
    /// the quorum (see [`Self::open_witnessed`]).
    fn quorum_time(&self, times: &BTreeMap<String, u64>) -> Option<u64> {
        let mut candidates: Vec<u64> = times.values().copied().collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        candidates.into_iter().find(|&t| {
            let since: BTreeSet<String> = times
                .iter()
                .filter(|(_, &at)| at >= t)
                .map(|(name, _)| name.clone())
                .collect();
            self.witnesses.is_met(&since)
        })
    }
}

/// A checkpoint opened under a witness quorum ([`LogVerifier::open_witnessed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub checkpoint: Checkpoint,
    /// When the quorum last cosigned it (POSIX seconds); `None` without one.
    pub cosigned_at: Option<u64>,
}

fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Why a checkpoint does not extend an earlier one of the same log. Both
/// checkpoints are named: signed by the log, together they prove it
/// misbehaved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtendError {
    #[error("rollback: the log now claims size {new_size} but earlier signed size {old_size} (remembered checkpoint root {old_root}, new root {new_root})")]
    Rollback {
        old_size: u64,
        new_size: u64,
        old_root: Hash,
        new_root: Hash,
    },
    #[error("fork: checkpoint size {new_size} root {new_root} is not consistent with remembered size {old_size} root {old_root}: {why}")]
    Fork {
        old_size: u64,
        old_root: Hash,
        new_size: u64,
        new_root: Hash,
        why: String,
    },
}

/// Whether `new` extends `old` (RFC 9162 §2.1.4): the same size and root, or
/// a larger size whose consistency proof (`proof`: old size, new size and
/// hashes, as the log answered) verifies. Without a proof a larger size is
/// accepted: the caller could not ask for one.
pub fn check_extends(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: Option<(u64, u64, &[Hash])>,
) -> Result<(), ExtendError> {
    let fork = |why: String| ExtendError::Fork {
        old_size: old.size,
        old_root: old.root,
        new_size: new.size,
        new_root: new.root,
        why,
    };
    if new.size < old.size {
        return Err(ExtendError::Rollback {
            old_size: old.size,
            new_size: new.size,
            old_root: old.root,
            new_root: new.root,
        });
    }
    if new.size == old.size {
        return if new.root == old.root {
            Ok(())
        } else {
            Err(fork("same size, different root".into()))
        };
    }
    let Some((proof_old, proof_new, hashes)) = proof else {
        return Ok(());
    };
    if proof_old != old.size || proof_new != new.size {
        return Err(fork(format!(
            "the log answered a proof for {proof_old}→{proof_new}"
        )));
    }
    crate::merkle::verify_consistency(old.size, new.size, &old.root, &new.root, hashes)
        .map_err(|e| fork(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "log.example/reprolog".into(),
            size: 1234,
            root: Hash::of(b"root"),
            extensions: vec![],
        }
    }

    #[test]
    fn signed_checkpoint_opens_with_log_key_and_origin() {
        let key = Signer::generate("log.example/reprolog").unwrap();
        let cp = sample();
        let signed = cp.sign(&key).unwrap();
        assert_eq!(
            Checkpoint::open(signed.as_bytes(), &cp.origin, &key.verifier()).unwrap(),
            cp
        );
        assert!(matches!(
            Checkpoint::open(signed.as_bytes(), "other", &key.verifier()),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let other = Signer::generate("log.example/reprolog").unwrap();
        assert!(Checkpoint::open(signed.as_bytes(), &cp.origin, &other.verifier()).is_err());
        let tampered = signed.replace("1234", "1235");
        assert!(Checkpoint::open(tampered.as_bytes(), &cp.origin, &key.verifier()).is_err());
    }

    #[test]
    fn the_quorums_time_is_when_enough_witnesses_last_cosigned() {
        use crate::note::KeyType;
        let log = Signer::generate("log.example/reprolog").unwrap();
        let w: Vec<Signer> = (1..=3)
            .map(|i| {
                Signer::generate_of_type(KeyType::Cosignature, &format!("w{i}.example")).unwrap()
            })
            .collect();
        let mut policy = String::new();
        for (i, s) in w.iter().enumerate() {
            policy += &format!(
                "witness w{} {} https://w{}.example\n",
                i + 1,
                s.verifier().to_key_text(),
                i + 1
            );
        }
        let quorum = |q: &str| {
            let text = format!("{policy}group two 2 w1 w2 w3\nquorum {q}\n");
            LogVerifier::with_witnesses(log.verifier(), WitnessQuorum::parse(&text).unwrap())
        };
        let cp = sample();
        let mut note = cp.sign(&log).unwrap();
        for (s, t) in w.iter().zip([300u64, 100, 200]) {
            note += &crate::cosignature::cosign(s, &cp.to_text(), t)
                .unwrap()
                .to_line();
        }
        let at = |v: &LogVerifier| v.open_witnessed(note.as_bytes()).unwrap().cosigned_at;
        // Two of three: w1 (300) and w3 (200) cosigned at 200 or later.
        assert_eq!(at(&quorum("two")), Some(200));
        assert_eq!(at(&quorum("w2")), Some(100));
        assert_eq!(at(&LogVerifier::new(log.verifier())), None);
    }

    #[test]
    fn signing_is_deterministic() {
        // The log relies on this to re-sign a checkpoint lost in a crash and get
        // the very note it already handed out.
        let key = Signer::from_seed("log.example/reprolog", &[9; 32]).unwrap();
        assert_eq!(sample().sign(&key).unwrap(), sample().sign(&key).unwrap());
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let root = Hash::of(b"r").to_base64();
        for bad in [
            format!("o\n012\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("\n1\n{root}\n"),
            format!("o\n1\n{root}"),
            "o\n1\nAAAA\n".to_string(),
            format!("o\n1\n{root}\n\n"),
            "o\n1\n".to_string(),
            format!("o\n18446744073709551616\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        let ok = Checkpoint::parse(&format!("o\n0\n{root}\next one\n")).unwrap();
        assert_eq!(ok.extensions, vec!["ext one".to_string()]);
    }

    proptest! {
        #[test]
        fn checkpoints_round_trip(
            origin in "[a-z0-9./-]{1,30}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[ -~]{1,20}", 0..3),
        ) {
            let cp = Checkpoint { origin, size, root: Hash(root), extensions };
            prop_assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
        }
    }
}
