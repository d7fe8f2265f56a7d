//! A binary's SHA-256, computed on another thread while the rebuild goes on.

use reprolog_proto::Hash;
use std::sync::{Arc, Mutex};

/// A binary's SHA-256, known or still being computed on another thread: a
/// rebuild needs it only to compare and report, so hashing the original runs
/// while the toolchain builds.
#[derive(Clone)]
pub struct Digest(Arc<Mutex<DigestState>>);

pub(crate) enum DigestState {
    Known(Hash),
    Hashing(std::thread::JoinHandle<Hash>, Arc<Vec<u8>>),
    /// Only while `get` swaps a finished thread for its result.
    Taken,
}

impl Digest {
    /// A digest already known.
    pub fn known(hash: Hash) -> Digest {
        Digest(Arc::new(Mutex::new(DigestState::Known(hash))))
    }

    /// Starts hashing `bytes` on another thread.
    pub fn compute(bytes: Arc<Vec<u8>>) -> Digest {
        let for_thread = bytes.clone();
        let handle = std::thread::spawn(move || Hash::of(&for_thread));
        Digest(Arc::new(Mutex::new(DigestState::Hashing(handle, bytes))))
    }

    /// The digest, waiting for the hashing thread if it is still running.
    pub fn get(&self) -> Hash {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let hash = match std::mem::replace(&mut *state, DigestState::Taken) {
            DigestState::Known(h) => h,
            // Hashing cannot panic; if the thread died anyway, hash here.
            DigestState::Hashing(handle, bytes) => {
                handle.join().unwrap_or_else(|_| Hash::of(&bytes))
            }
            DigestState::Taken => unreachable!("the lock is held while taken"),
        };
        *state = DigestState::Known(hash);
        hash
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            DigestState::Known(h) => write!(f, "Digest({h})"),
            _ => f.write_str("Digest(computing)"),
        }
    }
}
