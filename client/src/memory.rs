//! Checkpoint memory: the newest verified checkpoint of each log, kept on disk.
//!
//! Every new checkpoint must extend the remembered one: same size and root, or a
//! larger size with a valid consistency proof (RFC 9162 §2.1.4). A smaller size is
//! a rollback, a different root or a failing proof is a fork; both are reported
//! with the two checkpoints so the user can show them to anyone (they are signed
//! by the log and together prove it misbehaved).

use reprolog_io::http::{LogClient, LogError};
use reprolog_proto::checkpoint::{self, Checkpoint, ExtendError};
use reprolog_proto::note::Verifier;
use reprolog_proto::Hash;
use std::path::{Path, PathBuf};

/// A detected misbehaviour or an unusable memory.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error(transparent)]
    Extend(#[from] ExtendError),
    #[error("proving consistency: {0}")]
    Log(LogError),
    #[error("checkpoint memory {path}: {message}")]
    Store { path: PathBuf, message: String },
}

/// The remembered checkpoints, one file per log key.
pub struct CheckpointMemory {
    dir: PathBuf,
}

impl CheckpointMemory {
    pub fn new(dir: &Path) -> CheckpointMemory {
        CheckpointMemory {
            dir: dir.to_path_buf(),
        }
    }

    fn file(&self, key: &Verifier) -> PathBuf {
        let id = Hash::of(key.to_key_text().as_bytes()).to_hex();
        self.dir.join(format!("checkpoint-{}.txt", &id[..16]))
    }

    /// The remembered checkpoint for this log, if any. A stored note that no
    /// longer verifies is an error: the memory was tampered with.
    pub fn load(&self, key: &Verifier) -> Result<Option<(Checkpoint, Vec<u8>)>, MemoryError> {
        let path = self.file(key);
        match std::fs::read(&path) {
            Ok(note) => {
                let cp =
                    Checkpoint::open(&note, key.name(), key).map_err(|e| MemoryError::Store {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                Ok(Some((cp, note)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(MemoryError::Store {
                path,
                message: e.to_string(),
            }),
        }
    }

    /// Checks that `new` (already verified) extends the remembered checkpoint,
    /// proving consistency from `log`'s tiles when needed, and remembers `new`
    /// if it is larger. `log = None` (offline) skips the proof for larger trees.
    pub fn advance(
        &self,
        key: &Verifier,
        new: &Checkpoint,
        note: &[u8],
        log: Option<&LogClient>,
    ) -> Result<(), MemoryError> {
        if let Some((old, _)) = self.load(key)? {
            check_extends(&old, new, log)?;
            if new.size <= old.size {
                return Ok(());
            }
        }
        if log.is_none() {
            return Ok(());
        }
        self.store(key, note)
    }

    fn store(&self, key: &Verifier, note: &[u8]) -> Result<(), MemoryError> {
        let path = self.file(key);
        let err = |e: std::io::Error| MemoryError::Store {
            path: path.clone(),
            message: e.to_string(),
        };
        reprolog_io::statefile::save(&path, note).map_err(err)
    }
}

/// Whether `new` extends `old`; see the module doc.
pub fn check_extends(
    old: &Checkpoint,
    new: &Checkpoint,
    log: Option<&LogClient>,
) -> Result<(), MemoryError> {
    let Some(log) = log else {
        return Ok(checkpoint::check_extends(old, new, None)?);
    };
    log.check_extends(old, new).map_err(|e| match e {
        LogError::Extend(e) => MemoryError::Extend(e),
        other => MemoryError::Log(other),
    })
}
