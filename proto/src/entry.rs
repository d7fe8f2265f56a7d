//! The log entry: the leaf bytes of the Merkle tree.
//!
//! CBOR (RFC 8949) map `{v: 1, key: bstr(32), sig: bstr(64), payload: bstr,
//! payloadType: tstr}` in the core deterministic encoding of RFC 8949 §4.2.1:
//! definite lengths, shortest integer forms, keys sorted by their encoded bytes
//! (`v`, `key`, `sig`, `payload`, `payloadType`). An entry is canonical when
//! decoding and re-encoding yields the same bytes; the log accepts nothing else,
//! so every entry has exactly one leaf hash. `sig` is an Ed25519 signature by `key`
//! over the DSSE PAE of (payloadType, payload); the entry exports to a standard
//! DSSE JSON envelope.

use crate::dsse::{self, Envelope};
use crate::hash::Hash;
use crate::note::{Signer, Verifier};
use crate::statement::{Statement, StatementError};
use ciborium::Value;

/// Largest entry the log accepts, in bytes.
pub const MAX_ENTRY_SIZE: usize = 60 * 1024;
/// The only entry format version.
pub const ENTRY_VERSION: u8 = 1;

/// Why an entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is {0} bytes, larger than the {MAX_ENTRY_SIZE}-byte limit")]
    TooLarge(usize),
    #[error("entry is not valid CBOR: {0}")]
    Cbor(String),
    #[error("entry is not a log entry: {0}")]
    Shape(&'static str),
    #[error("entry version {0} is not supported (expected 1)")]
    Version(String),
    #[error("entry is not canonical CBOR (RFC 8949 §4.2.1 deterministic encoding)")]
    NotCanonical,
    #[error("entry signature does not verify")]
    BadSignature,
    #[error("entry payload type {0:?} is not an in-toto statement")]
    PayloadType(String),
    #[error("entry statement: {0}")]
    Statement(#[from] StatementError),
}

/// A decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Ed25519 public key of the rebuilder.
    pub key: [u8; 32],
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub sig: [u8; 64],
}

impl Entry {
    /// Signs `statement` with `signer` into an entry.
    pub fn sign(statement: &Statement, signer: &Signer) -> Entry {
        let payload = statement.to_json();
        let sig = signer.sign(&dsse::pae(dsse::IN_TOTO_PAYLOAD_TYPE, &payload));
        Entry {
            key: signer.verifier().public_key(),
            payload_type: dsse::IN_TOTO_PAYLOAD_TYPE.to_string(),
            payload,
            sig,
        }
    }

    /// The canonical CBOR encoding.
    pub fn to_cbor(&self) -> Vec<u8> {
        let map = Value::Map(vec![
            (
                Value::Text("v".into()),
                Value::Integer(ENTRY_VERSION.into()),
            ),
            (Value::Text("key".into()), Value::Bytes(self.key.to_vec())),
            (Value::Text("sig".into()), Value::Bytes(self.sig.to_vec())),
            (
                Value::Text("payload".into()),
                Value::Bytes(self.payload.clone()),
            ),
            (
                Value::Text("payloadType".into()),
                Value::Text(self.payload_type.clone()),
            ),
        ]);
        let mut out = Vec::with_capacity(self.payload.len() + 200);
        // Writing to a Vec cannot fail.
        let _ = ciborium::into_writer(&map, &mut out);
        out
    }

    /// Decodes an entry, accepting only its canonical encoding within the size
    /// limit. Does not check the signature (see [`Entry::verify_signature`]).
    pub fn from_cbor(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        // Nearly every entry is canonical: read it in one pass, without
        // building a CBOR value and encoding it again.
        if let Some(entry) = canonical::decode(bytes) {
            return Ok(entry);
        }
        Entry::from_cbor_general(bytes)
    }

    /// The general decoder: any CBOR, then the shape, then canonical form
    /// by re-encoding. Slower, but it says what is wrong.
    fn from_cbor_general(bytes: &[u8]) -> Result<Entry, EntryError> {
        let value: Value =
            ciborium::from_reader(bytes).map_err(|e| EntryError::Cbor(describe_cbor_error(&e)))?;
        let Value::Map(fields) = value else {
            return Err(EntryError::Shape("top level is not a map"));
        };
        let mut version = None;
        let mut key = None;
        let mut sig = None;
        let mut payload = None;
        let mut payload_type = None;
        for (k, v) in fields {
            let Value::Text(k) = k else {
                return Err(EntryError::Shape("map key is not text"));
            };
            match (k.as_str(), v) {
                ("v", v) => version = Some(v),
                ("key", Value::Bytes(b)) => {
                    key = Some(
                        <[u8; 32]>::try_from(b.as_slice())
                            .map_err(|_| EntryError::Shape("key must be 32 bytes"))?,
                    )
                }
                ("sig", Value::Bytes(b)) => {
                    sig = Some(
                        <[u8; 64]>::try_from(b.as_slice())
                            .map_err(|_| EntryError::Shape("sig must be 64 bytes"))?,
                    )
                }
                ("payload", Value::Bytes(b)) => payload = Some(b),
                ("payloadType", Value::Text(t)) => payload_type = Some(t),
                _ => return Err(EntryError::Shape("unknown field or wrong field type")),
            }
        }
        match version {
            Some(Value::Integer(i)) if i128::from(i) == i128::from(ENTRY_VERSION) => {}
            Some(other) => return Err(EntryError::Version(format!("{other:?}"))),
            None => return Err(EntryError::Shape("missing v")),
        }
        let entry = Entry {
            key: key.ok_or(EntryError::Shape("missing key"))?,
            sig: sig.ok_or(EntryError::Shape("missing sig"))?,
            payload: payload.ok_or(EntryError::Shape("missing payload"))?,
            payload_type: payload_type.ok_or(EntryError::Shape("missing payloadType"))?,
        };
        if entry.to_cbor() != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }

    /// The RFC 6962 leaf hash of this entry's canonical bytes.
    pub fn leaf_hash(&self) -> Hash {
        Hash::leaf(&self.to_cbor())
    }

    /// Checks `sig` with `verify_strict` over the DSSE PAE.
    pub fn verify_signature(&self) -> Result<(), EntryError> {
        // The name plays no part in a raw Ed25519 check.
        let v = Verifier::new("entry", &self.key).map_err(|_| EntryError::BadSignature)?;
        self.verify_signature_with(&v)
    }

    /// Like [`Entry::verify_signature`] with the key already decoded (callers that
    /// see the same keys often keep them); `verifier` must hold `self.key`.
    pub fn verify_signature_with(&self, verifier: &Verifier) -> Result<(), EntryError> {
        if verifier.public_key() != self.key {
            return Err(EntryError::BadSignature);
        }
        if verifier.verify(&dsse::pae(&self.payload_type, &self.payload), &self.sig) {
            Ok(())
        } else {
            Err(EntryError::BadSignature)
        }
    }

    /// Parses the payload as a Go rebuild statement.
    pub fn statement(&self) -> Result<Statement, EntryError> {
        if self.payload_type != dsse::IN_TOTO_PAYLOAD_TYPE {
            return Err(EntryError::PayloadType(
                self.payload_type.chars().take(80).collect(),
            ));
        }
        Ok(Statement::from_json(&self.payload)?)
    }

    /// Full validation as the log does it: canonical, signed, a valid statement.
    pub fn parse_and_verify(bytes: &[u8]) -> Result<(Entry, Statement), EntryError> {
        let entry = Entry::from_cbor(bytes)?;
        entry.verify_signature()?;
        let statement = entry.statement()?;
        Ok((entry, statement))
    }

    /// The standard DSSE JSON envelope of this entry; `keyid` is the hex key.
    pub fn to_envelope(&self) -> Envelope {
        Envelope::new(
            &self.payload_type,
            &self.payload,
            &hex::encode(self.key),
            &self.sig,
        )
    }
}

fn describe_cbor_error<T: std::fmt::Debug>(e: &ciborium::de::Error<T>) -> String {
    use ciborium::de::Error;
    match e {
        Error::Io(_) => "truncated".to_string(),
        Error::Syntax(offset) => format!("syntax error at byte {offset}"),
        Error::Semantic(offset, msg) => match offset {
            Some(o) => format!("{msg} at byte {o}"),
            None => msg.clone(),
        },
        Error::RecursionLimitExceeded => "nested too deeply".to_string(),
    }
}

/// The canonical encoding read directly.
mod canonical {
    use super::{Entry, ENTRY_VERSION, MAX_ENTRY_SIZE};

    // One byte holds the version, as `to_cbor` writes it (RFC 8949 §3.1).
    const _: () = assert!(ENTRY_VERSION < 24);
    // Every length fits the two-byte form.
    const _: () = assert!(MAX_ENTRY_SIZE <= u16::MAX as usize);

    /// The entry in `bytes` if they are exactly the layout [`Entry::to_cbor`]
    /// writes (the map head, the five keys in their order, each value in its
    /// shortest head), else `None`. Whatever it accepts, the general decoder
    /// accepts as the same entry; what it refuses, the general decoder
    /// judges and explains.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let mut r = Reader(bytes);
        r.expect(&[0xa5, 0x61, b'v', ENTRY_VERSION])?;
        r.expect(b"\x63key\x58\x20")?;
        let key = r.take(32)?.try_into().ok()?;
        r.expect(b"\x63sig\x58\x40")?;
        let sig = r.take(64)?.try_into().ok()?;
        r.expect(b"\x67payload")?;
        let payload = r.string(2)?.to_vec();
        r.expect(b"\x6bpayloadType")?;
        let payload_type = std::str::from_utf8(r.string(3)?).ok()?.to_string();
        if !r.0.is_empty() {
            return None;
        }
        Some(Entry {
            key,
            payload_type,
            payload,
            sig,
        })
    }

    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Some(head)
        }

        fn expect(&mut self, want: &[u8]) -> Option<()> {
            (self.take(want.len())? == want).then_some(())
        }

        /// A byte (major type 2) or text (3) string with its length in the
        /// shortest head: inline below 24, one byte below 256, else two.
        fn string(&mut self, major: u8) -> Option<&'a [u8]> {
            let first = self.take(1)?[0];
            if first >> 5 != major {
                return None;
            }
            let len = match first & 0x1f {
                n @ 0..=23 => usize::from(n),
                24 => Some(usize::from(self.take(1)?[0])).filter(|&n| n >= 24)?,
                25 => {
                    let n = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
                    Some(usize::from(n)).filter(|&n| n >= 256)?
                }
                _ => return None,
            };
            self.take(len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::tests::sample;
    use proptest::prelude::*;

    fn signed_entry() -> (Entry, Signer) {
        let signer = Signer::generate("rebuilder.example").unwrap();
        let h = Hash::of(b"binary");
        (Entry::sign(&sample(h, h), &signer), signer)
    }

    #[test]
    fn signed_entries_round_trip_and_verify() {
        let (e, _) = signed_entry();
        let bytes = e.to_cbor();
        let (back, st) = Entry::parse_and_verify(&bytes).unwrap();
        assert_eq!(back, e);
        assert!(st.reproduced());
    }

    /// The one-pass reader agrees with the general decoder on every input
    /// derived from real entries: each byte flipped, every truncation, bytes
    /// appended, and payloads of each string-head size (below 24, below 256,
    /// two bytes).
    #[test]
    fn the_canonical_fast_path_agrees_with_the_general_decoder() {
        let (e, signer) = signed_entry();
        let mut inputs = Vec::new();
        for len in [0usize, 5, 23, 24, 200, 255, 256, 3000] {
            let mut small = e.clone();
            small.payload = vec![b'x'; len];
            small.sig = signer.sign(&small.payload);
            inputs.push(small.to_cbor());
        }
        let canonical = e.to_cbor();
        for i in 0..canonical.len() {
            for flip in [0x01u8, 0x20, 0x80, 0xff] {
                let mut m = canonical.clone();
                m[i] ^= flip;
                inputs.push(m);
            }
            inputs.push(canonical[..i].to_vec());
        }
        for extra in [0x00u8, 0x60, 0xff] {
            let mut m = canonical.clone();
            m.push(extra);
            inputs.push(m);
        }
        let mut fast_accepted = 0;
        for input in &inputs {
            let fast = canonical::decode(input);
            let general = Entry::from_cbor_general(input);
            match &fast {
                Some(entry) => {
                    fast_accepted += 1;
                    assert_eq!(Ok(entry), general.as_ref(), "{input:02x?}");
                }
                // Refused by the fast path: whatever the general decoder
                // says is what from_cbor says.
                None => assert_eq!(Entry::from_cbor(input), general),
            }
            if let Ok(entry) = &general {
                assert!(fast.is_some(), "canonical but refused: {entry:?}");
            }
        }
        assert!(fast_accepted >= 9, "{fast_accepted}");
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        let (e, _) = signed_entry();
        let canonical = e.to_cbor();
        // Keys in another order: same data, different bytes.
        let reordered = Value::Map(vec![
            (Value::Text("key".into()), Value::Bytes(e.key.to_vec())),
            (Value::Text("v".into()), Value::Integer(1.into())),
            (Value::Text("sig".into()), Value::Bytes(e.sig.to_vec())),
            (
                Value::Text("payload".into()),
                Value::Bytes(e.payload.clone()),
            ),
            (
                Value::Text("payloadType".into()),
                Value::Text(e.payload_type.clone()),
            ),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&reordered, &mut bytes).unwrap();
        assert_eq!(bytes.len(), canonical.len());
        assert_eq!(Entry::from_cbor(&bytes), Err(EntryError::NotCanonical));
        // The version as a two-byte integer (0x18 0x01) instead of 0x01.
        let mut long_int = canonical.clone();
        let pos = long_int.windows(2).position(|w| w == [0x61, b'v']).unwrap() + 2;
        assert_eq!(long_int[pos], 0x01);
        long_int.splice(pos..pos + 1, [0x18, 0x01]);
        assert_eq!(Entry::from_cbor(&long_int), Err(EntryError::NotCanonical));
        // Trailing bytes.
        let mut trailing = canonical.clone();
        trailing.push(0);
        assert_eq!(Entry::from_cbor(&trailing), Err(EntryError::NotCanonical));
        // Indefinite-length map header (0xbf ... 0xff).
        let mut indefinite = vec![0xbf];
        indefinite.extend_from_slice(&canonical[1..]);
        indefinite.push(0xff);
        assert!(Entry::from_cbor(&indefinite).is_err());
    }

    #[test]
    fn malformed_entries_get_typed_errors() {
        let (e, _) = signed_entry();
        let bytes = e.to_cbor();
        assert!(matches!(
            Entry::from_cbor(&bytes[..bytes.len() / 2]),
            Err(EntryError::Cbor(_))
        ));
        assert!(matches!(Entry::from_cbor(&[]), Err(EntryError::Cbor(_))));
        assert_eq!(
            Entry::from_cbor(&vec![0u8; MAX_ENTRY_SIZE + 1]),
            Err(EntryError::TooLarge(MAX_ENTRY_SIZE + 1))
        );
        let mut forged = e.clone();
        forged.payload.push(b' ');
        assert_eq!(
            Entry::parse_and_verify(&forged.to_cbor()),
            Err(EntryError::BadSignature)
        );
        let mut wrong_type = e.clone();
        wrong_type.payload_type = "text/plain".into();
        assert!(wrong_type.statement().is_err());
    }

    #[test]
    fn dsse_export_verifies_with_the_pae_definition() {
        let (e, signer) = signed_entry();
        let env = e.to_envelope();
        let json = env.to_json();
        let back = Envelope::from_json(json.as_bytes()).unwrap();
        // Rebuild the PAE by hand from the spec, independent of dsse::pae.
        let payload = back.payload_bytes().unwrap();
        let mut pae = format!(
            "DSSEv1 {} {} {} ",
            back.payload_type.len(),
            back.payload_type,
            payload.len()
        )
        .into_bytes();
        pae.extend_from_slice(&payload);
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&back.signatures[0].sig)
            .unwrap();
        assert!(signer.verifier().verify(&pae, &sig.try_into().unwrap()));
        assert_eq!(back.signatures[0].keyid, hex::encode(e.key));
    }

    proptest! {
        #[test]
        fn entries_round_trip(key in any::<[u8; 32]>(), sig in proptest::collection::vec(any::<u8>(), 64),
                              payload in proptest::collection::vec(any::<u8>(), 0..2000), pt in "[ -~]{0,40}") {
            let e = Entry { key, sig: sig.try_into().unwrap(), payload, payload_type: pt };
            prop_assert_eq!(Entry::from_cbor(&e.to_cbor()), Ok(e));
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Entry::from_cbor(&bytes);
        }
    }
}
