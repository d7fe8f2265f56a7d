//! C2SP tlog-cosignature v1 with Ed25519 (https://c2sp.org/tlog-cosignature):
//! a witness's statement that, at a time, the checkpoint is the largest
//! consistent tree it has seen of that log.
//!
//! A cosignature is a note signature line by a key of type 0x04 whose bytes
//! after the key ID are `timestamp[8, big-endian] ‖ Ed25519 signature[64]`,
//! and the signed message is
//!
//! ```text
//! cosignature/v1
//! time <timestamp>
//! <the checkpoint's note text, final newline included>
//! ```

use crate::key::{KeyType, NoteSignature, Signer, Verifier};

/// Length of a cosignature's bytes after the key ID.
pub const COSIGNATURE_LEN: usize = 8 + 64;

/// Timestamps above 2^63 − 1 are invalid (the spec's bound).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature was not made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("key {0} is not a cosignature key (type 0x04)")]
    NotCosigner(String),
    #[error("cosignature is {0} bytes, not {COSIGNATURE_LEN}")]
    BadLength(usize),
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    BadTimestamp(u64),
    #[error("invalid cosignature by {0}")]
    Invalid(String),
}

/// The message a v1 cosignature signs.
pub fn message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    let header = format!("cosignature/v1\ntime {timestamp}\n");
    let mut m = Vec::with_capacity(header.len() + checkpoint_text.len());
    m.extend_from_slice(header.as_bytes());
    m.extend_from_slice(checkpoint_text.as_bytes());
    m
}

/// Cosigns a checkpoint's note text at `timestamp` (POSIX seconds).
pub fn cosign(
    signer: &Signer,
    checkpoint_text: &str,
    timestamp: u64,
) -> Result<NoteSignature, CosignatureError> {
    if signer.kind() != KeyType::Cosignature {
        return Err(CosignatureError::NotCosigner(signer.name().to_string()));
    }
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::BadTimestamp(timestamp));
    }
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(&signer.sign(&message(checkpoint_text, timestamp)));
    Ok(NoteSignature {
        name: signer.name().to_string(),
        key_id: signer.key_id(),
        signature,
    })
}

/// Verifies `blob` (a signature line's bytes after the key ID) as `witness`'s
/// cosignature on `checkpoint_text`; returns its timestamp.
pub fn verify(
    witness: &Verifier,
    checkpoint_text: &str,
    blob: &[u8],
) -> Result<u64, CosignatureError> {
    if witness.kind() != KeyType::Cosignature {
        return Err(CosignatureError::NotCosigner(witness.to_key_text()));
    }
    let (time, sig) = blob
        .split_first_chunk::<8>()
        .filter(|(_, sig)| sig.len() == 64)
        .ok_or(CosignatureError::BadLength(blob.len()))?;
    let timestamp = u64::from_be_bytes(*time);
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::BadTimestamp(timestamp));
    }
    let sig: &[u8; 64] = sig
        .try_into()
        .map_err(|_| CosignatureError::BadLength(blob.len()))?;
    if !witness.verify(&message(checkpoint_text, timestamp), sig) {
        return Err(CosignatureError::Invalid(witness.name().to_string()));
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note;

    const TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness() -> Signer {
        Signer::of_type(KeyType::Cosignature, "witness.example/w1", &[7; 32]).unwrap()
    }

    #[test]
    fn message_is_the_spec_example() {
        // The example of C2SP tlog-cosignature, "Ed25519 signed message".
        assert_eq!(
            String::from_utf8(message(TEXT, 1679315147)).unwrap(),
            format!("cosignature/v1\ntime 1679315147\n{TEXT}")
        );
    }

    #[test]
    fn key_id_and_text_use_type_0x04() {
        let w = witness();
        let v = w.verifier();
        let id = note::key_id_of(KeyType::Cosignature, v.name(), &v.public_key());
        assert_eq!(v.key_id(), id);
        assert_ne!(id, note::key_id(v.name(), &v.public_key()));
        let text = v.to_key_text();
        assert_eq!(Verifier::from_key_text(&text).unwrap(), v);
        let back = Signer::from_key_text(&w.to_key_text()).unwrap();
        assert_eq!(back.verifier(), v);
    }

    #[test]
    fn cosignatures_verify_and_bind_text_and_time() {
        let w = witness();
        let sig = cosign(&w, TEXT, 1234).unwrap();
        assert_eq!(sig.signature.len(), COSIGNATURE_LEN);
        assert_eq!(verify(&w.verifier(), TEXT, &sig.signature), Ok(1234));
        let other = TEXT.replace("20852163", "20852164");
        assert!(verify(&w.verifier(), &other, &sig.signature).is_err());
        let mut later = sig.signature.clone();
        later[7] ^= 1;
        assert!(verify(&w.verifier(), TEXT, &later).is_err());
        assert_eq!(
            verify(&w.verifier(), TEXT, &sig.signature[..71]),
            Err(CosignatureError::BadLength(71))
        );
        let mut huge = sig.signature.clone();
        huge[0] = 0x80;
        assert!(matches!(
            verify(&w.verifier(), TEXT, &huge),
            Err(CosignatureError::BadTimestamp(_))
        ));
    }

    #[test]
    fn notes_open_with_log_and_witness_keys() {
        let log = Signer::from_seed("example.com/behind-the-sofa", &[1; 32]).unwrap();
        let w = witness();
        let mut signed = note::sign(TEXT, &[&log]).unwrap();
        signed.push_str(&cosign(&w, TEXT, 99).unwrap().to_line());
        let opened = note::open(signed.as_bytes(), &[log.verifier(), w.verifier()]).unwrap();
        assert_eq!(opened.verified.len(), 2);
        // A plain signature is not a cosignature, and the reverse.
        assert!(cosign(&log, TEXT, 1).is_err());
        assert!(note::sign(TEXT, &[&w]).is_err());
        // A bad cosignature by a known witness rejects the note.
        let forged = signed.replace(&cosign(&w, TEXT, 99).unwrap().to_line(), &{
            let mut s = cosign(&w, TEXT, 99).unwrap();
            s.signature[20] ^= 1;
            s.to_line()
        });
        assert!(note::open(forged.as_bytes(), &[log.verifier(), w.verifier()]).is_err());
    }
}
