//! Shares of the pending pool for keys the operator does not know.
//!
//! Anyone may submit to a log without an allow-list, so a flood of entries
//! from unknown keys must not fill the pool the operator's own rebuilders
//! (`--known-key`) need. Each unknown key may hold at most `per_key` entries
//! waiting for a batch, and all unknown keys together at most `total`;
//! beyond either, a submission is refused (503 + Retry-After) before it
//! reaches the pool. Known keys are bounded only by the pool itself.
//! A [`Slot`] is held from acceptance until the entry's batch is answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Pending entries of unknown keys, per key and in all.
pub struct PendingShares {
    per_key: usize,
    total: usize,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_key: HashMap<[u8; 32], usize>,
    all: usize,
}

/// Why an unknown key may not queue another entry now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareFull {
    #[error("this key already has {0} entries waiting; retry when they are logged")]
    Key(usize),
    #[error("keys this log does not know already have {0} entries waiting; retry later")]
    Unknown(usize),
}

impl PendingShares {
    pub fn new(per_key: usize, total: usize) -> Arc<PendingShares> {
        Arc::new(PendingShares {
            per_key: per_key.max(1),
            total: total.max(1),
            state: Mutex::new(Counts::default()),
        })
    }

    /// Takes a place for one entry of `key`, or says which share is full.
    pub fn claim(self: &Arc<Self>, key: &[u8; 32]) -> Result<Slot, ShareFull> {
        let mut c = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mine = c.by_key.get(key).copied().unwrap_or(0);
        if mine >= self.per_key {
            return Err(ShareFull::Key(mine));
        }
        if c.all >= self.total {
            return Err(ShareFull::Unknown(c.all));
        }
        *c.by_key.entry(*key).or_default() += 1;
        c.all += 1;
        Ok(Slot {
            shares: self.clone(),
            key: *key,
        })
    }

    fn release(&self, key: &[u8; 32]) {
        let mut c = self.state.lock().unwrap_or_else(|e| e.into_inner());
        c.all = c.all.saturating_sub(1);
        if let Some(n) = c.by_key.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                c.by_key.remove(key);
            }
        }
    }
}

/// One pending entry of an unknown key; its place is freed when dropped.
pub struct Slot {
    shares: Arc<PendingShares>,
    key: [u8; 32],
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shares.release(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_bound_each_key_and_all_unknown_keys_and_free_on_drop() {
        let shares = PendingShares::new(2, 3);
        let a = shares.claim(&[1; 32]).unwrap();
        let _b = shares.claim(&[1; 32]).unwrap();
        assert_eq!(shares.claim(&[1; 32]).err(), Some(ShareFull::Key(2)));
        let _c = shares.claim(&[2; 32]).unwrap();
        assert_eq!(shares.claim(&[3; 32]).err(), Some(ShareFull::Unknown(3)));
        drop(a);
        let _d = shares.claim(&[3; 32]).unwrap();
        assert_eq!(shares.claim(&[1; 32]).err(), Some(ShareFull::Unknown(3)));
    }
}
