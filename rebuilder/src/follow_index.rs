//! A follower checking the log's verifiable index as it reads the log.
//!
//! The follower reads every entry anyway, so it replays them against the
//! index ([`Replay`]): it reads the index log's revisions (its checkpoints
//! verified under the policy's witnesses and each consistent with the one
//! before), and at each revision's size compares the revision's log root and
//! map root with what the entries give. A wrong revision stops the follower,
//! naming it: a log whose index lies to clients is found by every node that
//! follows it, not only by auditors.
//!
//! The replay lives in memory (the map: about 125 MiB per million keys); a
//! follower that restarts replays the log from its first entry again before
//! it goes on.

use crate::follow::FollowError;
use crate::node::with_retries;
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::index::replay::Replay;
use reprolog_proto::index::revision::Revision;
use reprolog_proto::logclient::{LogClient, LogError};
use reprolog_proto::tile;
use reprolog_proto::transport::Transport;
use std::collections::VecDeque;

/// The index check of one followed log.
pub struct IndexCheck<T: Transport> {
    /// The index log (the log's `/index/` read path).
    index_log: LogClient<T>,
    /// The followed log's origin, which every revision must name.
    origin: String,
    replay: Replay,
    /// Revisions read and not yet reached, in the index log's order.
    pending: VecDeque<Revision>,
    /// How many index log leaves were read.
    read: u64,
    /// The newest index checkpoint verified.
    seen: Option<Checkpoint>,
    /// Revisions found right so far.
    checked: u64,
}

impl<T: Transport> IndexCheck<T> {
    /// Checks the index of the log whose origin is `origin`, kept in
    /// `index_log` (its key and witnesses set).
    pub fn new(index_log: LogClient<T>, origin: &str) -> IndexCheck<T> {
        IndexCheck {
            index_log,
            origin: origin.to_string(),
            replay: Replay::new(),
            pending: VecDeque::new(),
            read: 0,
            seen: None,
            checked: 0,
        }
    }

    /// How many log entries were replayed.
    pub fn replayed(&self) -> u64 {
        self.replay.size()
    }

    /// How many revisions were found right.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Reads the revisions the index log gained since the last call: its
    /// checkpoint is verified and must extend the one seen before.
    pub fn refresh(&mut self) -> Result<(), FollowError> {
        let cp = with_retries(5, || self.index_log.checkpoint())?;
        if let Some(old) = &self.seen {
            match with_retries(5, || self.index_log.check_extends(old, &cp)) {
                Err(LogError::Extend(e)) => return Err(wrong(format!("index log: {e}"))),
                other => other?,
            }
        }
        while self.read < cp.size {
            let n = self.read >> tile::HEIGHT;
            let tiles = self.index_log.tiles(&cp);
            let leaves = with_retries(5, || Ok(tiles.bundle(n)?))?;
            let first = n << tile::HEIGHT;
            for (k, leaf) in leaves.iter().enumerate() {
                let at = first + k as u64;
                if at >= self.read {
                    self.take(at, leaf)?;
                    self.read = at + 1;
                }
            }
        }
        self.seen = Some(cp);
        self.check_reached()
    }

    /// Index log leaf `at`, read as a revision of this log after the last.
    fn take(&mut self, at: u64, leaf: &[u8]) -> Result<(), FollowError> {
        let r = Revision::parse(leaf).map_err(|e| wrong(format!("index log entry {at}: {e}")))?;
        if r.origin != self.origin {
            return Err(wrong(format!(
                "index revision {at} indexes {}, not this log",
                r.origin
            )));
        }
        let last = self.pending.back().map_or(self.replay.size(), |p| p.size);
        if r.size < last {
            return Err(wrong(format!(
                "index revision {at} indexes log size {} after size {last}",
                r.size
            )));
        }
        self.pending.push_back(r);
        Ok(())
    }

    /// Replays the log's entry `index`, which must be the next one, and
    /// checks the revisions of the new size. Entries already replayed are
    /// skipped, so a bundle read again is harmless.
    pub fn push(&mut self, index: u64, bytes: &[u8]) -> Result<(), FollowError> {
        if index != self.replay.size() {
            return Ok(());
        }
        self.replay.push(bytes).map_err(|e| wrong(e.to_string()))?;
        self.check_reached()
    }

    /// Checks every pending revision of the replay's size.
    fn check_reached(&mut self) -> Result<(), FollowError> {
        while let Some(r) = self
            .pending
            .front()
            .filter(|r| r.size == self.replay.size())
        {
            let n = self.read - self.pending.len() as u64;
            if let Err(e) = self.replay.check(r) {
                return Err(wrong(format!(
                    "index revision {n} (log size {}): {e}",
                    r.size
                )));
            }
            self.pending.pop_front();
            self.replay.forget_changes();
            self.checked += 1;
        }
        Ok(())
    }
}

fn wrong(why: String) -> FollowError {
    FollowError::WrongIndex(why)
}
