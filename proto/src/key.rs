//! Note keys (C2SP signed-note, https://c2sp.org/signed-note): key names, key
//! IDs, verifier and signer key texts, and the signature line a key makes.
//! Notes themselves (text, signing, opening) are [`crate::note`]'s; the
//! timestamped cosignatures of witness keys are [`crate::cosignature`]'s.
//!
//! Ed25519 key ID = SHA-256(name ‖ 0x0A ‖ type ‖ pubkey)[:4]. Key texts:
//! verifier `<name>+<hex keyID>+<base64(type ‖ pubkey)>`, signer
//! `PRIVATE+KEY+<name>+<hex keyID>+<base64(type ‖ seed)>`; type 0x01 is a
//! plain Ed25519 key, 0x04 a witness's cosignature key.

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
pub(crate) const MAX_SIGNATURES: usize = 100;
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

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
