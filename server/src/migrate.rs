//! `reprolog-server migrate`: a redb log copied into PostgreSQL, and its
//! index log beside it (the index log's history, with its witnesses'
//! cosignatures, moves as it is: a fresh one would look like a fork to every
//! client that saw the old one).
//!
//! Entries are appended in log order through the PostgreSQL store's own
//! append, so hashes and indexes are rebuilt, not copied; the copy is then
//! proven equal by comparing the tree roots. A migration that stopped halfway
//! resumes: the database must hold a prefix of the same log (same root at its
//! size), and copying goes on from there.

use crate::storage::postgres::{Part, PgStore};
use crate::storage::{NewEntry, Placement, RedbStore, Store};
use anyhow::{bail, ensure, Context};
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::note::Verifier;
use reprolog_proto::Hash;
use std::path::Path;

/// Entries copied per PostgreSQL transaction.
const BATCH: u64 = 1024;

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Entries copied by this run (fewer than `size` when resuming).
    pub copied: u64,
    pub size: u64,
    pub root: Hash,
}

impl std::fmt::Display for Migrated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "migrated {} entries (log size {}); root {} is the same in redb and PostgreSQL",
            self.copied, self.size, self.root
        )
    }
}

/// Copies the redb log at `from` (a `log.redb` file, or `index.redb` with
/// `part` [`Part::Index`]) into the database at `to`, and the stored
/// checkpoint with it once `key` (the log's verifier) verifies it against
/// the copy. Refuses when another instance sequences the database or it
/// holds a different log.
pub fn redb_to_postgres(
    from: &Path,
    to: &str,
    key: &Verifier,
    part: Part,
) -> anyhow::Result<Migrated> {
    ensure!(from.is_file(), "no redb log at {}", from.display());
    let source =
        RedbStore::open_read_only(from).with_context(|| format!("opening {}", from.display()))?;
    let snap = source.snapshot()?;
    let size = snap.size()?;
    let root = snap.root(size)?;
    let target = PgStore::open(
        to,
        None,
        "reprolog-server migrate".into(),
        false,
        part.clone(),
    )
    .context("opening the database")?;
    ensure!(
        target.try_sequence()?,
        "another instance sequences this database; stop it before migrating"
    );
    let start = {
        let t = target.snapshot()?;
        let have = t.size()?;
        ensure!(
            have <= size,
            "the database holds {have} entries, more than the {size} of {}",
            from.display()
        );
        if t.root(have)? != snap.root(have)? {
            bail!(
                "the database holds a different log (its first {have} entries differ from {})",
                from.display()
            );
        }
        have
    };
    let mut next = start;
    while next < size {
        let end = (next + BATCH).min(size);
        let batch = snap
            .entries(next, end)?
            .into_iter()
            .enumerate()
            .map(|(k, bytes)| match part {
                Part::Log => NewEntry::from_stored(next + k as u64, bytes),
                Part::Index { .. } => Ok(NewEntry::opaque(bytes)),
            })
            .collect::<Result<Vec<NewEntry>, _>>()?;
        let (placements, _, _) = target.append(&batch)?;
        for (k, p) in placements.iter().enumerate() {
            ensure!(
                *p == Placement::New(next + k as u64),
                "entry {} landed at {p:?} in the database",
                next + k as u64
            );
        }
        next = end;
        if (next - start) % (BATCH * 100) == 0 {
            tracing::info!("copied {} of {} entries", next - start, size - start);
        }
    }
    let copied_root = target.snapshot()?.root(size)?;
    ensure!(
        copied_root == root,
        "root after copying is {copied_root}, not {root}: the database was written meanwhile"
    );
    if let Some(note) = snap.checkpoint()? {
        let cp = Checkpoint::open(&note, key.name(), key)
            .context("the redb log's stored checkpoint does not verify with its key")?;
        ensure!(
            cp.size <= size && target.snapshot()?.root(cp.size)? == cp.root,
            "the redb log's stored checkpoint (size {}) does not match its entries",
            cp.size
        );
        target.set_checkpoint(cp.size, &note)?;
    }
    Ok(Migrated {
        copied: size - start,
        size,
        root,
    })
}
