//! C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one or more
//! signature lines `— <name> <base64(keyID[4] ‖ signature[64])>\n` (em dash).
//! Ed25519 key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey)[:4]. Key texts:
//! verifier `<name>+<hex keyID>+<base64(0x01 ‖ pubkey)>`, signer
//! `PRIVATE+KEY+<name>+<hex keyID>+<base64(0x01 ‖ seed)>`. Every key in reprolog
//! (log, rebuilders, witnesses) uses these formats.
//!
//! Witness keys are the same Ed25519 keys under signature type 0x04 (C2SP
//! tlog-cosignature v1): the type byte enters the key ID and the key text, and
//! their signature lines carry a timestamped cosignature ([`crate::cosignature`]).

use crate::key::{check_name, MAX_SIGNATURES, SIG_PREFIX};
pub use crate::key::{key_id, key_id_of, KeyType, NoteError, NoteSignature, Signer, Verifier};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

/// A note after [`open`]: its text and which signatures were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    pub text: String,
    /// Signatures by known verifiers; all valid.
    pub verified: Vec<NoteSignature>,
    /// Signatures by keys the caller did not pass; not checked.
    pub unverified: Vec<NoteSignature>,
}

/// Checks the text rules: UTF-8 (guaranteed by &str), ends in newline, no control
/// characters but newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

/// Signs `text` with every signer, producing the note bytes.
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_text(text)?;
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 110);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        if s.kind() != KeyType::Ed25519 {
            return Err(NoteError::BadKey("a note is signed with a type 0x01 key"));
        }
        let sig = NoteSignature {
            name: s.name().to_string(),
            key_id: s.key_id(),
            signature: s.sign(text.as_bytes()).to_vec(),
        };
        out.push_str(&sig.to_line());
    }
    Ok(out)
}

/// Splits a note into its text and signatures without verifying anything.
pub fn parse(msg: &[u8]) -> Result<(String, Vec<NoteSignature>), NoteError> {
    let msg = std::str::from_utf8(msg).map_err(|_| NoteError::NotUtf8)?;
    // The signature block starts after the last blank line.
    let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
    let text = &msg[..split + 1];
    let block = &msg[split + 2..];
    check_text(text)?;
    if block.is_empty() || !block.ends_with('\n') {
        return Err(NoteError::MissingSignatureBlock);
    }
    let mut sigs = Vec::new();
    for line in block[..block.len() - 1].split('\n') {
        if sigs.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        sigs.push(parse_signature_line(line)?);
    }
    Ok((text.to_string(), sigs))
}

/// Parses one signature line (without its newline).
pub fn parse_signature_line(line: &str) -> Result<NoteSignature, NoteError> {
    let bad = || NoteError::BadSignatureLine(line.chars().take(120).collect());
    let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(bad)?;
    let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
    check_name(name).map_err(|_| bad())?;
    let blob = BASE64.decode(b64).map_err(|_| bad())?;
    if blob.len() < 5 {
        return Err(bad());
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]),
        signature: blob[4..].to_vec(),
    })
}

/// Whether `blob` (a signature line's bytes after the key ID) is `key`'s
/// valid signature on the note `text`: a plain Ed25519 signature for type
/// 0x01, a timestamped cosignature for type 0x04.
fn signs(key: &Verifier, text: &str, blob: &[u8]) -> bool {
    match key.kind() {
        KeyType::Ed25519 => <[u8; 64]>::try_from(blob)
            .map(|sig| key.verify(text.as_bytes(), &sig))
            .unwrap_or(false),
        KeyType::Cosignature => crate::cosignature::verify(key, text, blob).is_ok(),
    }
}

/// Opens a note: every signature by a key in `verifiers` must be valid (one bad
/// signature rejects the note), unknown keys are ignored, and at least one known
/// key must have signed.
pub fn open(msg: &[u8], verifiers: &[Verifier]) -> Result<OpenedNote, NoteError> {
    let (text, sigs) = parse(msg)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified = Vec::new();
    for sig in sigs {
        let known = verifiers
            .iter()
            .find(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        let Some(v) = known else {
            unverified.push(sig);
            continue;
        };
        if verified
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            return Err(NoteError::DuplicateSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !signs(v, &text, &sig.signature) {
            return Err(NoteError::InvalidSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        verified.push(sig);
    }
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text,
        verified,
        unverified,
    })
}

#[cfg(test)]
mod tests;
