//! The log's HTTP API (README "Wire API") as every reader and writer uses it,
//! over any [`Transport`], believing nothing it has not verified:
//!
//! - checkpoints are opened with the log key (C2SP signed note);
//! - receipts and lookup answers carry proofs checked against their checkpoint;
//! - consistency between two checkpoints is proven from tiles on this side
//!   ([`TileReader::consistency_proof`]), so a static tile server suffices;
//! - entries are read bundle by bundle through a [`TileReader`].
//!
//! The rebuilder (submit, follow) and the client (verify, audit) both use it;
//! each supplies a transport (see `ARCHITECTURE.md`, "One log reader").

use crate::checkpoint::{self, Checkpoint, ExtendError, LogVerifier};
use crate::hash::Hash;
use crate::note::Verifier;
use crate::policy::WitnessQuorum;
use crate::reader::{ReadError, TileReader};
use crate::transport::{FetchError, Transport};
use crate::wire::{LookupResponse, ProvenLists, Receipt, WireError};

/// Why a request to the log failed or its answer was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The answer parsed but failed verification: the log misbehaved.
    #[error("log answer failed verification: {0}")]
    Verify(String),
    #[error("{url}: malformed answer: {message}")]
    Malformed { url: String, message: String },
    #[error(transparent)]
    Extend(#[from] ExtendError),
}

impl LogError {
    /// Worth retrying later (see [`FetchError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Fetch(e) if e.is_transient())
    }
}

impl From<WireError> for LogError {
    fn from(e: WireError) -> Self {
        LogError::Verify(e.to_string())
    }
}

impl From<ReadError> for LogError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Fetch(f) => LogError::Fetch(f),
            other => LogError::Verify(other.to_string()),
        }
    }
}

/// One log: where it is (the transport) and what its checkpoints need (the
/// log key's signature, and any witness quorum).
pub struct LogClient<T: Transport> {
    transport: T,
    log: LogVerifier,
    /// The log's index log, when lookups must prove their lists whole.
    index: Option<LogVerifier>,
}

impl<T: Transport> LogClient<T> {
    /// A client of the log behind `transport` whose checkpoints `key` signs;
    /// the log's origin is the key's name.
    pub fn new(transport: T, key: Verifier) -> Self {
        LogClient {
            transport,
            log: LogVerifier::new(key),
            index: None,
        }
    }

    /// From now on, requires every lookup answer to prove, through the index
    /// log `index` opens, that it holds every entry there is for what was
    /// asked (`proto::index`).
    pub fn with_index(mut self, index: LogVerifier) -> Self {
        self.index = Some(index);
        self
    }

    /// From now on, believes only checkpoints that `witnesses` cosigned.
    pub fn with_witnesses(mut self, witnesses: WitnessQuorum) -> Self {
        self.log.witnesses = witnesses;
        self
    }

    pub fn origin(&self) -> &str {
        self.log.origin()
    }

    pub fn key(&self) -> &Verifier {
        &self.log.key
    }

    /// What this client requires of the log's checkpoints.
    pub fn verifier(&self) -> &LogVerifier {
        &self.log
    }

    /// What this client requires of the index log's checkpoints, when it
    /// requires lookups to prove their lists whole.
    pub fn index_verifier(&self) -> Option<&LogVerifier> {
        self.index.as_ref()
    }

    /// The log key's text: what local state about this log belongs to.
    pub fn key_text(&self) -> String {
        self.log.key.to_key_text()
    }

    /// The transport's base address.
    pub fn url(&self) -> &str {
        self.transport.base()
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The latest checkpoint, verified.
    pub fn checkpoint(&self) -> Result<Checkpoint, LogError> {
        Ok(self.checkpoint_note()?.0)
    }

    /// The latest checkpoint, verified, with its signed note.
    pub fn checkpoint_note(&self) -> Result<(Checkpoint, Vec<u8>), LogError> {
        let note = self.transport.get("/checkpoint")?;
        let cp = self.open_checkpoint(&note)?;
        Ok((cp, note))
    }

    /// Opens a signed checkpoint note of this log (a fresh one, or one kept):
    /// signed by the log, cosigned by the witness quorum.
    pub fn open_checkpoint(&self, note: &[u8]) -> Result<Checkpoint, LogError> {
        Ok(self.log.open(note).map_err(WireError::from)?)
    }

    /// A reader of the tree `cp` (verified) describes.
    pub fn tiles(&self, cp: &Checkpoint) -> TileReader<'_, T> {
        TileReader::new(&self.transport, cp)
    }

    /// Checks that `new` extends `old` (RFC 9162 §2.1.4), proving it from the
    /// new tree's tiles when it is larger. [`LogError::Extend`] is proof that
    /// the log misbehaved: a rollback or a fork, naming both checkpoints.
    pub fn check_extends(&self, old: &Checkpoint, new: &Checkpoint) -> Result<(), LogError> {
        if new.size <= old.size {
            return Ok(checkpoint::check_extends(old, new, None)?);
        }
        let proof = self.tiles(new).consistency_proof(old.size)?;
        Ok(checkpoint::check_extends(
            old,
            new,
            Some((old.size, new.size, &proof)),
        )?)
    }

    /// Submits an entry (its CBOR bytes); returns the verified receipt and
    /// the checkpoint it proves inclusion under.
    pub fn submit(&self, entry: &[u8]) -> Result<(Receipt, Checkpoint), LogError> {
        let body = self
            .transport
            .post("/add-entry", "application/cbor", entry)?;
        let receipt: Receipt = self.json("/add-entry", &body)?;
        let cp = receipt.verify(entry, &self.log)?;
        Ok((receipt, cp))
    }

    /// Every entry about `digest` signed by one of `keys` (by any key when
    /// `keys` is empty), page by page: each page verified (checkpoint, every
    /// inclusion proof, entries in log order from the cursor, only the keys
    /// asked for) and returned with its checkpoint. A page that says more
    /// follows is followed, so the result is complete for `keys`; a log that
    /// pages without end is cut off at [`MAX_LOOKUP_PAGES`] with an error.
    pub fn lookup(
        &self,
        digest: &Hash,
        keys: &[[u8; 32]],
    ) -> Result<Vec<(LookupResponse, Checkpoint)>, LogError> {
        let mut pages = Vec::new();
        let mut cursor = 0;
        loop {
            let (page, cp) = self.lookup_page(digest, keys, cursor)?;
            let next = page.next;
            pages.push((page, cp));
            match next {
                None => {
                    let held = pages.iter().map(|(p, _)| p.entries.len()).sum();
                    if let Some((last, cp)) = pages.last() {
                        last.check_counts(Some(held))
                            .map_err(|e| LogError::Verify(format!("lookup of {digest}: {e}")))?;
                        if let Some(index) = &self.index {
                            let all = pages.iter().flat_map(|(p, _)| &p.entries);
                            proven_lists(last, index, cp, digest, keys)?
                                .check_entries(all)
                                .map_err(|e| {
                                    LogError::Verify(format!("lookup of {digest}: {e}"))
                                })?;
                        }
                    }
                    return Ok(pages);
                }
                Some(_) if pages.len() >= MAX_LOOKUP_PAGES => {
                    return Err(LogError::Verify(format!(
                        "lookup of {digest} still not complete after {MAX_LOOKUP_PAGES} pages"
                    )))
                }
                Some(n) => cursor = n,
            }
        }
    }

    /// One page of a lookup, from index `cursor` on, verified (see [`Self::lookup`]).
    pub fn lookup_page(
        &self,
        digest: &Hash,
        keys: &[[u8; 32]],
        cursor: u64,
    ) -> Result<(LookupResponse, Checkpoint), LogError> {
        let mut path = format!("/lookup/{}", digest.to_hex());
        let mut params: Vec<String> = keys
            .iter()
            .map(|k| format!("key={}", hex::encode(k)))
            .collect();
        if cursor > 0 {
            params.push(format!("cursor={cursor}"));
        }
        if !params.is_empty() {
            path = format!("{path}?{}", params.join("&"));
        }
        let body = self.transport.get(&path)?;
        let resp: LookupResponse = self.json(&path, &body)?;
        let cp = resp.verify(&self.log)?;
        if let Some(index) = &self.index {
            proven_lists(&resp, index, &cp, digest, keys)?;
        }
        check_page(&resp, keys, cursor)?;
        resp.check_counts(None)
            .map_err(|e| LogError::Verify(format!("lookup of {digest}: {e}")))?;
        Ok((resp, cp))
    }

    fn json<R: serde::de::DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<R, LogError> {
        serde_json::from_slice(body).map_err(|e| LogError::Malformed {
            url: format!("{}{path}", self.url()),
            message: e.to_string(),
        })
    }
}

/// Most pages one lookup follows (a page holds up to 1,000 entries).
pub const MAX_LOOKUP_PAGES: usize = 10_000;

/// The lists a lookup page's index answer proves; an answer without one
/// is refused (a log whose index the policy names must prove every answer).
pub fn proven_lists(
    resp: &LookupResponse,
    index: &LogVerifier,
    cp: &Checkpoint,
    digest: &Hash,
    keys: &[[u8; 32]],
) -> Result<ProvenLists, LogError> {
    let answer = resp.index.as_ref().ok_or_else(|| {
        LogError::Verify(format!(
            "lookup of {digest}: the answer carries no index proof, so it may leave entries out (the policy names the log's index)"
        ))
    })?;
    answer
        .verify(index, cp, digest, keys)
        .map_err(|e| LogError::Verify(format!("lookup of {digest}: {e}")))
}

/// A page must hold what was asked for, in order, and point forward.
fn check_page(resp: &LookupResponse, keys: &[[u8; 32]], cursor: u64) -> Result<(), LogError> {
    let mut last = None;
    for e in &resp.entries {
        if e.index < cursor || last.is_some_and(|l| e.index <= l) {
            return Err(LogError::Verify(format!(
                "lookup answer lists entry {} out of order (cursor {cursor})",
                e.index
            )));
        }
        last = Some(e.index);
        if !keys.is_empty() {
            let key = crate::entry::Entry::from_cbor(&e.entry)
                .map(|x| x.key)
                .map_err(|err| LogError::Verify(format!("lookup entry {}: {err}", e.index)))?;
            if !keys.contains(&key) {
                return Err(LogError::Verify(format!(
                    "lookup answer lists entry {} of a key not asked for",
                    e.index
                )));
            }
        }
    }
    if let Some(next) = resp.next {
        if next < cursor || last.is_some_and(|l| next <= l) || resp.entries.is_empty() {
            return Err(LogError::Verify(format!(
                "lookup answer's next page ({next}) does not move forward"
            )));
        }
    }
    Ok(())
}
