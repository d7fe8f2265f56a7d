//! The log: storage plus the signing key, and the invariant between them.
//!
//! Invariant: every checkpoint this log signs describes a prefix of what is durably
//! committed, and each is consistent with the one before (storage is append-only).
//! On open, the stored checkpoint is checked against a root recomputed from
//! storage; a disagreement means the data dir was tampered with or corrupted and
//! the log refuses to serve.
//!
//! Appends are refused, and reads go on, while the store is read-only or the
//! data dir's disk has less free space than the configured reserve.
//!
//! With a shared database, only the instance holding the sequencer lock
//! appends and signs. It runs the open-time checks again each time it takes
//! the lock ([`Log::keep_role`]); the others follow the stored checkpoint.
//!
//! With witnesses ([`Witnesses`]), a signed checkpoint is published (stored,
//! served, used for receipts) only once its cosignatures meet the quorum.
//! Until then the entries are durable but unacknowledged: a retry of the same
//! entry finds them, and the next checkpoint covers them.

use crate::cosign::{QuorumError, Witnesses};
use crate::disk::{free_bytes, human};
use crate::storage::{self, Location, NewEntry, Placement, Snapshot, StorageError, Store};
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::merkle;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};

/// Why the log could not open or append.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("stored checkpoint does not verify with this log's key: {0}")]
    BadStoredCheckpoint(String),
    #[error(
        "stored checkpoint claims {claimed} entries but storage holds {stored}: refusing to serve"
    )]
    CheckpointAhead { claimed: u64, stored: u64 },
    #[error("stored checkpoint root {claimed} for size {size} disagrees with storage root {actual}: refusing to serve")]
    RootMismatch {
        size: u64,
        claimed: Hash,
        actual: Hash,
    },
    #[error("signing checkpoint: {0}")]
    Sign(String),
    #[error("the data dir's disk has {} free, below the {} reserve", human(*free), human(*reserve))]
    LowDisk { free: u64, reserve: u64 },
    #[error(transparent)]
    Witness(#[from] QuorumError),
}

/// How the log opens its storage.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// Serve reads only, even if the data dir is writable.
    pub read_only: bool,
    /// Refuse appends while the data dir's file system has less free space.
    pub min_free_bytes: u64,
}

/// A checkpoint and its signed note text.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// The log.
pub struct Log {
    store: Box<dyn Store>,
    signer: Signer,
    min_free_bytes: u64,
    latest: RwLock<Arc<SignedCheckpoint>>,
    witnesses: Option<Witnesses>,
    /// Held while a checkpoint is signed, cosigned and published, so
    /// witnesses see this log's checkpoints in order.
    publishing: Mutex<()>,
    /// When the witnesses last cosigned a checkpoint for this instance.
    cosigned: Mutex<Option<std::time::Instant>>,
    /// Whether this instance holds the right to append and sign, as of its
    /// last check.
    /// Shared with the index log's store on PostgreSQL, whose lock follows
    /// this one ([`Log::sequencing_flag`]).
    sequencing: Arc<AtomicBool>,
    /// Which instance sequences, as of the last check (shared storage only).
    sequencer_name: RwLock<Option<String>>,
}

impl Log {
    /// Opens the log database at `path`, verifies the stored checkpoint against
    /// storage and signs a fresh checkpoint if storage is ahead of it (a crash
    /// after a commit but before its checkpoint was stored).
    pub fn open(path: &Path, signer: Signer, options: LogOptions) -> Result<Log, LogError> {
        Log::open_at(&Location::Redb(path.to_path_buf()), signer, options, None)
    }

    /// Opens the log at `location`, publishing under `witnesses` when given.
    /// Then the stored checkpoint (cosigned when it was stored) stays the
    /// published one even when storage is ahead of it; [`Log::publish_storage`]
    /// catches up once the witnesses cosign.
    pub fn open_at(
        location: &Location,
        signer: Signer,
        options: LogOptions,
        witnesses: Option<Witnesses>,
    ) -> Result<Log, LogError> {
        let store = storage::open(location, options.read_only)?;
        let empty_root = merkle::tree_hash(0, &[] as &[Hash]).map_err(StorageError::from)?;
        let empty = sign(&signer, 0, empty_root)?;
        let log = Log {
            store,
            signer,
            min_free_bytes: options.min_free_bytes,
            latest: RwLock::new(Arc::new(empty)),
            witnesses,
            publishing: Mutex::new(()),
            cosigned: Mutex::new(None),
            sequencing: Arc::new(AtomicBool::new(false)),
            sequencer_name: RwLock::new(None),
        };
        log.keep_role()?;
        Ok(log)
    }

    /// Checks whether this instance (still) sequences and acts on it: one
    /// that just became the sequencer checks storage and signs a checkpoint
    /// of all of it (storage may be ahead: an instance died between commit
    /// and checkpoint); one that does not follows the stored checkpoint.
    /// Returns whether it sequences. A store only this process opens always
    /// sequences, so this does the work once.
    pub fn keep_role(&self) -> Result<bool, LogError> {
        let now = self.store.try_sequence()?;
        let was = self.sequencing.load(SeqCst);
        let name = self.store.sequencer()?;
        *self
            .sequencer_name
            .write()
            .unwrap_or_else(|e| e.into_inner()) = name;
        if now && !was {
            self.take_over()?;
            self.sequencing.store(true, SeqCst);
        } else if !now {
            self.sequencing.store(false, SeqCst);
            self.follow_stored()?;
        }
        Ok(now)
    }

    /// Whether this instance appends and signs, as of its last check.
    pub fn is_sequencer(&self) -> bool {
        self.sequencing.load(SeqCst)
    }

    /// The flag behind [`Log::is_sequencer`], for a store whose role must
    /// follow this log's (the index log's on PostgreSQL).
    pub fn sequencing_flag(&self) -> Arc<AtomicBool> {
        self.sequencing.clone()
    }

    /// The stored checkpoint of exactly `size` (its latest cosigning), if
    /// one was stored, checked against this log's key.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, LogError> {
        let Some(note) = self.snapshot()?.checkpoint_at(size)? else {
            return Ok(None);
        };
        let checkpoint = Checkpoint::open(&note, self.origin(), &self.signer.verifier())
            .map_err(|e| LogError::BadStoredCheckpoint(e.to_string()))?;
        if checkpoint.size != size {
            return Err(LogError::BadStoredCheckpoint(format!(
                "the checkpoint stored for size {size} is of size {}",
                checkpoint.size
            )));
        }
        Ok(Some(SignedCheckpoint {
            checkpoint,
            note: String::from_utf8_lossy(&note).into_owned(),
        }))
    }

    /// Which instance sequences, as it named itself, when several share
    /// storage: as of the last [`Log::keep_role`], so it never waits on the
    /// database.
    pub fn sequencer(&self) -> Option<String> {
        self.sequencer_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `redb` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The stored checkpoint, verified against this log's key and storage,
    /// and the size and root of all storage.
    fn stored_state(&self) -> Result<(Option<SignedCheckpoint>, u64, Hash), LogError> {
        let snap = self.store.snapshot()?;
        let stored_size = snap.size()?;
        let stored = match snap.checkpoint()? {
            Some(note) => {
                let checkpoint = Checkpoint::open(&note, self.origin(), &self.signer.verifier())
                    .map_err(|e| LogError::BadStoredCheckpoint(e.to_string()))?;
                if checkpoint.size > stored_size {
                    return Err(LogError::CheckpointAhead {
                        claimed: checkpoint.size,
                        stored: stored_size,
                    });
                }
                let actual = snap.root(checkpoint.size)?;
                if actual != checkpoint.root {
                    return Err(LogError::RootMismatch {
                        size: checkpoint.size,
                        claimed: checkpoint.root,
                        actual,
                    });
                }
                Some(SignedCheckpoint {
                    checkpoint,
                    note: String::from_utf8_lossy(&note).into_owned(),
                })
            }
            None => None,
        };
        let root = snap.root(stored_size)?;
        Ok((stored, stored_size, root))
    }

    fn take_over(&self) -> Result<(), LogError> {
        let (stored, stored_size, root) = self.stored_state()?;
        let published = match (&self.witnesses, stored) {
            // Witnessed: the stored note is the one they cosigned.
            (Some(_), Some(stored)) => stored,
            (_, stored) => {
                let signed = sign(&self.signer, stored_size, root)?;
                // A read-only store cannot keep the new checkpoint; it is
                // re-signed from the same storage on every start, so nothing
                // is lost. A witnessed log stores only cosigned notes.
                if stored.as_ref().map(|c| c.checkpoint.size) != Some(stored_size)
                    && self.store.read_only_reason().is_none()
                    && self.witnesses.is_none()
                {
                    self.store
                        .set_checkpoint(stored_size, signed.note.as_bytes())?;
                }
                signed
            }
        };
        self.set_latest(published);
        Ok(())
    }

    /// Serves the stored checkpoint once it is newer than the latest one.
    fn follow_stored(&self) -> Result<(), LogError> {
        let (stored, _, _) = self.stored_state()?;
        if let Some(stored) = stored {
            self.set_latest(stored);
        }
        Ok(())
    }

    /// Makes `signed` the latest checkpoint unless a larger one is.
    fn set_latest(&self, signed: SignedCheckpoint) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        if signed.checkpoint.size >= latest.checkpoint.size {
            *latest = Arc::new(signed);
        }
    }

    /// The log's origin line (its key name).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key text clients need.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_key_text()
    }

    /// The newest checkpoint; it covers every acknowledged entry.
    pub fn latest(&self) -> Arc<SignedCheckpoint> {
        // A poisoned lock only means a panic elsewhere; the value is still whole.
        self.latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Appends a batch durably, then signs and stores the checkpoint covering it.
    /// Only after both does the new checkpoint become visible.
    ///
    /// Refused while the disk is below its reserve. After a storage failure the
    /// store is reopened, so reads continue from the last committed state.
    pub fn append(&self, batch: &[NewEntry]) -> Result<Vec<Placement>, LogError> {
        self.check_free_space()?;
        let result = self.append_and_sign(batch);
        if let Err(LogError::Storage(StorageError::Io(e))) = &result {
            tracing::error!("storage write failed: {e}; reopening the database");
            if let Err(e) = self.store.recover_after_write_failure() {
                tracing::error!("reopening failed: {e}; reads fail until restart");
            }
        }
        result
    }

    fn append_and_sign(&self, batch: &[NewEntry]) -> Result<Vec<Placement>, LogError> {
        if self.witnesses.is_some() {
            // The entries are durable before any witness sees their
            // checkpoint: two commits.
            let (placements, size, root) = self.store.append(batch)?;
            if size != self.latest().checkpoint.size {
                self.publish(size, root)?;
            }
            return Ok(placements);
        }
        // No witness to wait for: the checkpoint is signed inside the
        // batch's transaction and committed with it.
        let order = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let mut signed = None;
        let mut sign_tree = |size: u64, root: Hash| -> Result<Vec<u8>, StorageError> {
            let s = sign(&self.signer, size, root)
                .map_err(|e| StorageError::Db(format!("signing the checkpoint: {e}")))?;
            let note = s.note.clone().into_bytes();
            signed = Some(s);
            Ok(note)
        };
        let (placements, size, root) = self.store.append_signed(batch, &mut sign_tree)?;
        match signed {
            Some(signed) => self.set_latest(signed),
            // Nothing new, yet storage ahead of the checkpoint: sign it all.
            None if size != self.latest().checkpoint.size => {
                drop(order);
                self.publish(size, root)?;
            }
            None => {}
        }
        Ok(placements)
    }

    /// Signs the checkpoint of `size` and `root`, has it cosigned when the
    /// log has witnesses, then stores and publishes it.
    fn publish(&self, size: u64, root: Hash) -> Result<(), LogError> {
        let _order = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let published = self.latest().checkpoint.size;
        if size < published {
            return Ok(());
        }
        let mut signed = sign(&self.signer, size, root)?;
        if let Some(witnesses) = &self.witnesses {
            let proof = |old: u64| self.consistency_proof(old, size).map_err(|e| e.to_string());
            signed.note = witnesses.cosign(&signed.checkpoint, &signed.note, published, &proof)?;
            *self.cosigned.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(std::time::Instant::now());
        }
        self.store.set_checkpoint(size, signed.note.as_bytes())?;
        *self.latest.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(signed);
        Ok(())
    }

    /// Publishes a checkpoint of everything stored, cosigned by the
    /// witnesses: at start, when storage is ahead of the stored checkpoint
    /// or that checkpoint lacks cosignatures. A log without witnesses has
    /// nothing to do.
    pub fn publish_storage(&self) -> Result<(), LogError> {
        if self.witnesses.is_none() {
            return Ok(());
        }
        let snap = self.snapshot()?;
        let size = snap.size()?;
        let root = snap.root(size)?;
        drop(snap);
        self.publish(size, root)
    }

    /// Has the witnesses cosign the published checkpoint again, with fresh
    /// times, when this instance sequences and has not had a checkpoint
    /// cosigned for `every` (C2SP tlog-witness lets a witness cosign the same
    /// checkpoint again). Clients bound the age of the quorum's cosignature
    /// (`max-age`), so an idle honest log must not look frozen.
    pub fn refresh_cosignatures(&self, every: std::time::Duration) -> Result<(), LogError> {
        if self.witnesses.is_none() || !self.is_sequencer() {
            return Ok(());
        }
        let last = *self.cosigned.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < every) {
            return Ok(());
        }
        self.publish_storage()
    }

    /// Whether the published checkpoint meets the witness quorum (always,
    /// without witnesses).
    pub fn published_is_witnessed(&self) -> bool {
        let Some(w) = &self.witnesses else {
            return true;
        };
        let verifier = reprolog_proto::checkpoint::LogVerifier::with_witnesses(
            self.signer.verifier(),
            w.quorum().clone(),
        );
        let latest = self.latest();
        latest.checkpoint.size == self.snapshot().and_then(|s| s.size()).unwrap_or(0)
            && verifier.open(latest.note.as_bytes()).is_ok()
    }

    /// The witnesses' Prometheus lines (none without witnesses).
    pub fn witness_metrics(&self) -> String {
        self.witnesses
            .as_ref()
            .map(Witnesses::render_metrics)
            .unwrap_or_default()
    }

    /// The consistency proof from size `old` to `new` (RFC 9162 §2.1.4).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StorageError> {
        let snap = self.snapshot()?;
        snap.with_hashes(|r| merkle::consistency_proof(old, new, r))
    }

    /// Free bytes on the data dir's disk (`None` when storage is not local,
    /// or the disk cannot be asked).
    pub fn free_bytes(&self) -> Option<u64> {
        free_bytes(self.store.local_dir()?).ok()
    }

    fn check_free_space(&self) -> Result<(), LogError> {
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        let Some(dir) = self.store.local_dir() else {
            return Ok(());
        };
        let free = free_bytes(dir).map_err(StorageError::Io)?;
        if free < self.min_free_bytes {
            return Err(LogError::LowDisk {
                free,
                reserve: self.min_free_bytes,
            });
        }
        Ok(())
    }

    /// Why this log refuses every append (it is read-only), if it does.
    pub fn read_only_reason(&self) -> Option<String> {
        self.store.read_only_reason()
    }

    /// Inclusion proofs of `indices` in the tree of `size`, reading each shared
    /// node once.
    pub fn inclusion_proofs(
        &self,
        indices: &[u64],
        size: u64,
    ) -> Result<Vec<Vec<Hash>>, StorageError> {
        self.snapshot()?.inclusion_proofs(indices, size)
    }

    /// A read-only view of storage.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        self.store.snapshot()
    }
}

fn sign(signer: &Signer, size: u64, root: Hash) -> Result<SignedCheckpoint, LogError> {
    let checkpoint = Checkpoint {
        origin: signer.name().to_string(),
        size,
        root,
        extensions: vec![],
    };
    let note = checkpoint
        .sign(signer)
        .map_err(|e| LogError::Sign(e.to_string()))?;
    Ok(SignedCheckpoint { checkpoint, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprolog_proto::merkle::CompactRange;

    fn entry(n: u32) -> NewEntry {
        NewEntry::numbered(n)
    }

    fn root_of(n: u32) -> Hash {
        let mut range = CompactRange::from_parts(0, vec![]).unwrap();
        for i in 0..n {
            range.push(entry(i).leaf);
        }
        range.root()
    }

    /// A log key's text; each [`signer`] of it is the same key (a Signer is
    /// not Clone: it holds a secret).
    fn key() -> String {
        Signer::generate("test.localhost/log")
            .unwrap()
            .to_key_text()
    }

    fn signer(text: &str) -> Signer {
        Signer::from_key_text(text).unwrap()
    }

    /// The published note is the stored one, signed by the log's key, for
    /// exactly what storage holds.
    fn assert_published(log: &Log, key: &str, n: u32) {
        let key = signer(key);
        let latest = log.latest();
        let opened = Checkpoint::open(latest.note.as_bytes(), key.name(), &key.verifier()).unwrap();
        assert_eq!((opened.size, opened.root), (u64::from(n), root_of(n)));
        assert_eq!(latest.checkpoint, opened);
        let stored = log.snapshot().unwrap().checkpoint().unwrap();
        assert_eq!(stored.as_deref(), Some(latest.note.as_bytes()));
    }

    #[test]
    fn each_batch_publishes_a_signed_stored_checkpoint_and_a_duplicate_none() {
        let dir = tempfile::tempdir().unwrap();
        let key = key();
        let log = Log::open(
            &dir.path().join("log.redb"),
            signer(&key),
            LogOptions::default(),
        )
        .unwrap();
        assert_published(&log, &key, 0);
        log.append(&[entry(0), entry(1), entry(2)]).unwrap();
        assert_published(&log, &key, 3);
        let before = log.latest();
        let placements = log.append(&[entry(1)]).unwrap();
        assert_eq!(placements, [Placement::Existing(1)]);
        assert!(
            Arc::ptr_eq(&before, &log.latest()),
            "nothing new: not re-signed"
        );
        drop(log);
        // Reopened with its key: the same checkpoint. With another: refused.
        let log = Log::open(
            &dir.path().join("log.redb"),
            signer(&key),
            LogOptions::default(),
        )
        .unwrap();
        assert_eq!(log.latest().note, before.note);
        drop(log);
        let other = Log::open(
            &dir.path().join("log.redb"),
            signer(&super::tests::key()),
            LogOptions::default(),
        );
        assert!(
            matches!(other, Err(LogError::BadStoredCheckpoint(_))),
            "{:?}",
            other.err()
        );
    }

    #[test]
    fn storage_ahead_of_its_checkpoint_is_published_at_start() {
        // As after a crash between the entries' commit and the checkpoint's.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let key = key();
        drop(Log::open(&path, signer(&key), LogOptions::default()).unwrap());
        let store = storage::open(&Location::Redb(path.clone()), false).unwrap();
        store.append(&[entry(0), entry(1)]).unwrap();
        drop(store);
        let log = Log::open(&path, signer(&key), LogOptions::default()).unwrap();
        assert_published(&log, &key, 2);
    }

    #[test]
    fn below_the_disk_reserve_or_read_only_nothing_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let key = key();
        let full = LogOptions {
            min_free_bytes: u64::MAX,
            ..LogOptions::default()
        };
        let log = Log::open(&path, signer(&key), full).unwrap();
        assert!(matches!(
            log.append(&[entry(0)]),
            Err(LogError::LowDisk { .. })
        ));
        assert_published(&log, &key, 0);
        drop(log);
        let frozen = LogOptions {
            read_only: true,
            ..LogOptions::default()
        };
        let log = Log::open(&path, signer(&key), frozen).unwrap();
        assert!(log.read_only_reason().is_some());
        assert!(log.append(&[entry(0)]).is_err());
        assert_eq!(log.latest().checkpoint.size, 0);
    }
}
