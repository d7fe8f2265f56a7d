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

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The signature type of a key: which statement its note signatures make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// 0x01: a plain Ed25519 signature over the note text (logs, rebuilders).
    Ed25519,
    /// 0x04: a C2SP tlog-cosignature v1 over a checkpoint (witnesses).
    Cosignature,
}

impl KeyType {
    /// The type byte of key IDs and key texts.
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => 0x01,
            KeyType::Cosignature => 0x04,
        }
    }

    fn from_byte(b: u8) -> Option<KeyType> {
        match b {
            0x01 => Some(KeyType::Ed25519),
            0x04 => Some(KeyType::Cosignature),
            _ => None,
        }
    }
}
/// Notes carrying more signatures than this are rejected outright.
const MAX_SIGNATURES: usize = 100;
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a key text or note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("key ID {claimed:08x} does not match the key (expected {actual:08x})")]
    KeyIdMismatch { claimed: u32, actual: u32 },
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    BadName(String),
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note text must end with a newline and contain no control characters")]
    BadText,
    #[error("note has no blank line before its signatures")]
    MissingSignatureBlock,
    #[error("malformed signature line {0:?}")]
    BadSignatureLine(String),
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("invalid signature by {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("note has two signatures by {name}+{key_id:08x}")]
    DuplicateSignature { name: String, key_id: u32 },
    #[error("note has no signature from a known key")]
    NoKnownSignature,
    #[error("could not generate a key: no randomness")]
    NoRandomness,
}

/// Computes the C2SP key ID of an Ed25519 public key of type 0x01 under `name`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    key_id_of(KeyType::Ed25519, name, public_key)
}

/// Computes the C2SP key ID: SHA-256(name ‖ 0x0A ‖ type ‖ pubkey)[:4].
pub fn key_id_of(kind: KeyType, name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', kind.byte()]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Key names may not be empty, contain whitespace or `+`.
pub fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadName(name.chars().take(80).collect()));
    }
    Ok(())
}

/// A public key that verifies note signatures (and any other Ed25519 signature
/// made with the matching [`Signer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    kind: KeyType,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// A verifier for `public_key` under `name` (type 0x01).
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Verifier, NoteError> {
        Verifier::of_type(KeyType::Ed25519, name, public_key)
    }

    /// A verifier for `public_key` under `name` with signature type `kind`.
    pub fn of_type(
        kind: KeyType,
        name: &str,
        public_key: &[u8; 32],
    ) -> Result<Verifier, NoteError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::BadKey("not an Ed25519 point"))?;
        Ok(Verifier {
            name: name.to_string(),
            kind,
            key_id: key_id_of(kind, name, public_key),
            key,
        })
    }

    /// Parses `<name>+<hex keyID>+<base64(0x01 ‖ pubkey)>`.
    pub fn from_key_text(text: &str) -> Result<Verifier, NoteError> {
        let text = text.trim();
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected <name>+<hex id>+<base64 key>"));
        };
        let claimed = parse_key_id(id_hex)?;
        let (kind, key) = decode_key_material(key_b64)?;
        let v = Verifier::of_type(kind, name, &key)?;
        if v.key_id != claimed {
            return Err(NoteError::KeyIdMismatch {
                claimed,
                actual: v.key_id,
            });
        }
        Ok(v)
    }

    /// The key text `<name>+<hex keyID>+<base64(type ‖ pubkey)>`.
    pub fn to_key_text(&self) -> String {
        let mut material = vec![self.kind.byte()];
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn kind(&self) -> KeyType {
        self.kind
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `blob` (a signature line's bytes after the key ID) is this
    /// key's valid signature on the note `text`: a plain Ed25519 signature for
    /// type 0x01, a timestamped cosignature for type 0x04.
    pub fn verify_note(&self, text: &str, blob: &[u8]) -> bool {
        match self.kind {
            KeyType::Ed25519 => <[u8; 64]>::try_from(blob)
                .map(|sig| self.verify(text.as_bytes(), &sig))
                .unwrap_or(false),
            KeyType::Cosignature => crate::cosignature::verify(self, text, blob).is_ok(),
        }
    }

    /// Strict Ed25519 verification (`verify_strict`: rejects small-order keys and
    /// non-canonical signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

/// A private key that signs notes and attestations.
pub struct Signer {
    name: String,
    kind: KeyType,
    key_id: u32,
    key: SigningKey,
}

impl Signer {
    /// A signer of type 0x01 from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Signer, NoteError> {
        Signer::of_type(KeyType::Ed25519, name, seed)
    }

    /// A signer of type `kind` from a 32-byte Ed25519 seed.
    pub fn of_type(kind: KeyType, name: &str, seed: &[u8; 32]) -> Result<Signer, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id_of(kind, name, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_string(),
            kind,
            key_id,
            key,
        })
    }

    /// A new random key of type 0x01 from the operating system's CSPRNG.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        Signer::generate_of_type(KeyType::Ed25519, name)
    }

    /// A new random key of type `kind` (a witness: [`KeyType::Cosignature`]).
    pub fn generate_of_type(kind: KeyType, name: &str) -> Result<Signer, NoteError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut *seed).map_err(|_| NoteError::NoRandomness)?;
        Signer::of_type(kind, name, &seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex keyID>+<base64(0x01 ‖ seed)>`.
    pub fn from_key_text(text: &str) -> Result<Signer, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("signer key must start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey(
                "expected PRIVATE+KEY+<name>+<hex id>+<base64 seed>",
            ));
        };
        let claimed = parse_key_id(id_hex)?;
        let (kind, seed) = decode_key_material(key_b64)?;
        let seed = Zeroizing::new(seed);
        let s = Signer::of_type(kind, name, &seed)?;
        if s.key_id != claimed {
            return Err(NoteError::KeyIdMismatch {
                claimed,
                actual: s.key_id,
            });
        }
        Ok(s)
    }

    /// The same key under another name (the key ID follows the name).
    pub fn renamed(&self, name: &str) -> Result<Signer, NoteError> {
        Signer::of_type(self.kind, name, self.key.as_bytes())
    }

    /// The secret key text. Treat it like a password.
    pub fn to_key_text(&self) -> String {
        let mut material = Zeroizing::new(vec![self.kind.byte()]);
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(&*material)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            kind: self.kind,
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.key_id)
    }
}

fn parse_key_id(hex_id: &str) -> Result<u32, NoteError> {
    if hex_id.len() != 8 || !hex_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key ID must be 8 hex digits"));
    }
    u32::from_str_radix(hex_id, 16).map_err(|_| NoteError::BadKey("key ID must be 8 hex digits"))
}

fn decode_key_material(b64: &str) -> Result<(KeyType, [u8; 32]), NoteError> {
    let bytes = Zeroizing::new(
        BASE64
            .decode(b64)
            .map_err(|_| NoteError::BadKey("key material is not base64"))?,
    );
    let Some((&kind, key)) = bytes.split_first() else {
        return Err(NoteError::BadKey("empty key material"));
    };
    let kind = KeyType::from_byte(kind).ok_or(NoteError::BadKey(
        "unsupported key type (Ed25519 0x01, or Ed25519 cosignature 0x04)",
    ))?;
    let key =
        <[u8; 32]>::try_from(key).map_err(|_| NoteError::BadKey("Ed25519 key must be 32 bytes"))?;
    Ok((kind, key))
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, newline included.
    pub fn to_line(&self) -> String {
        let mut blob = self.key_id.to_be_bytes().to_vec();
        blob.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(blob))
    }
}

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
        if s.kind != KeyType::Ed25519 {
            return Err(NoteError::BadKey("a note is signed with a type 0x01 key"));
        }
        let sig = NoteSignature {
            name: s.name.clone(),
            key_id: s.key_id,
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
            .find(|v| v.name == sig.name && v.key_id == sig.key_id);
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
        if !v.verify_note(&text, &sig.signature) {
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
