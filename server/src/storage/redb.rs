//! The embedded backend: the log in one redb file in the data dir.
//!
//! Tables: stored hashes by stored hash index (see `proto::merkle`), entries by
//! index, leaf hash → index (deduplication), subject digest → indices (lookup),
//! and metadata (tree size, latest signed checkpoint). A batch of entries is
//! written in one transaction committed with immediate durability; the
//! checkpoint covering it is stored in a later transaction, after it was signed.
//!
//! A store whose file cannot be written (a read-only data dir or file system)
//! opens read-only and refuses appends. redb refuses all further I/O on a
//! handle once a write failed (disk full, file too large, EIO), so after such a
//! failure [`RedbStore::reopen`] replaces the handle, letting redb roll back to
//! the last committed transaction, and reads go on.

use super::{
    page_of, plan_batch, LookupPage, NewEntry, Placement, Snapshot, StorageError, Store, View,
};
use redb::{
    Database, MultimapTableDefinition, MultimapTableHandle, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableMultimapTable, ReadableTable, TableDefinition,
};
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{HashReader, MerkleError};
use reprolog_proto::Hash;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

const HASHES: TableDefinition<u64, [u8; 32]> = TableDefinition::new("hashes");
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const LEAVES: TableDefinition<[u8; 32], u64> = TableDefinition::new("leaves");
/// (subject digest, index): every entry about a binary, in log order.
const BY_SUBJECT: TableDefinition<([u8; 32], u64), ()> = TableDefinition::new("by_subject");
/// (subject digest, rebuilder key, index): the same, per key, so a lookup by
/// key reads only that key's entries however many others there are.
const BY_SUBJECT_KEY: TableDefinition<([u8; 32], [u8; 32], u64), ()> =
    TableDefinition::new("by_subject_key");
/// Entries about each digest in storage, so a lookup's `total` is one read.
const SUBJECT_COUNTS: TableDefinition<[u8; 32], u64> = TableDefinition::new("subject_counts");
/// The index of earlier versions (digest → indices), migrated on open.
const OLD_SUBJECTS: MultimapTableDefinition<[u8; 32], u64> =
    MultimapTableDefinition::new("subjects");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const META_SIZE: &str = "size";
const META_CHECKPOINT: &str = "checkpoint";
/// The size of the stored checkpoint, so an older one never replaces it.
const META_CHECKPOINT_SIZE: &str = "checkpoint_size";

/// redb's page cache; everything else the server keeps is independent of log size.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

impl From<redb::StorageError> for StorageError {
    fn from(e: redb::StorageError) -> Self {
        match e {
            redb::StorageError::Io(io) => StorageError::Io(io),
            other => StorageError::Db(other.to_string()),
        }
    }
}

/// Keeps the `io::Error` inside redb's wrappers, so callers can tell a full
/// disk from other failures.
macro_rules! impl_from_redb {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StorageError {
            fn from(e: redb::$t) -> Self {
                match e {
                    redb::$t::Storage(s) => s.into(),
                    other => StorageError::Db(other.to_string()),
                }
            }
        }
    )*};
}
impl_from_redb!(DatabaseError, TransactionError, TableError, CommitError);

impl From<redb::Error> for StorageError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(io) => StorageError::Io(io),
            other => StorageError::Db(other.to_string()),
        }
    }
}

/// The open database file.
enum Handle {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
    /// A reopen after an I/O failure did not succeed.
    Closed,
}

/// The log's database.
pub struct RedbStore {
    path: PathBuf,
    handle: RwLock<Handle>,
    /// Why the store is read-only, when it is.
    read_only: RwLock<Option<String>>,
}

impl RedbStore {
    /// Opens (or creates) the database file for reading and writing. A file
    /// the process may not write (permissions, a read-only file system) is
    /// opened read-only instead: the log keeps serving what it has.
    pub fn open(path: &Path) -> Result<RedbStore, StorageError> {
        match open_writable(path) {
            Ok(db) => Ok(RedbStore::with(path, Handle::Writable(db), None)),
            Err(StorageError::Io(e)) if is_not_writable(&e) => {
                let reason = format!("{} is not writable ({e})", path.display());
                tracing::warn!("{reason}; serving read-only");
                RedbStore::open_read_only_because(path, reason)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens an existing database file read-only.
    pub fn open_read_only(path: &Path) -> Result<RedbStore, StorageError> {
        RedbStore::open_read_only_because(path, "started with --read-only".into())
    }

    fn open_read_only_because(path: &Path, reason: String) -> Result<RedbStore, StorageError> {
        let db = open_read_only(path)?;
        Ok(RedbStore::with(path, Handle::ReadOnly(db), Some(reason)))
    }

    fn with(path: &Path, handle: Handle, read_only: Option<String>) -> RedbStore {
        RedbStore {
            path: path.to_path_buf(),
            handle: RwLock::new(handle),
            read_only: RwLock::new(read_only),
        }
    }

    /// Why appends are refused, if they are.
    pub fn read_only_reason(&self) -> Option<String> {
        self.read_only
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The directory holding the database file.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn handle(&self) -> RwLockReadGuard<'_, Handle> {
        // A poisoned lock only means a panic elsewhere; the handle is still whole.
        self.handle.read().unwrap_or_else(|e| e.into_inner())
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StorageError> {
        match &*self.handle() {
            Handle::Writable(db) => Ok(db.begin_write()?),
            Handle::ReadOnly(_) => Err(StorageError::ReadOnly(
                self.read_only_reason().unwrap_or_default(),
            )),
            Handle::Closed => Err(StorageError::Closed),
        }
    }

    /// A consistent read-only view.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        let txn = match &*self.handle() {
            Handle::Writable(db) => db.begin_read()?,
            Handle::ReadOnly(db) => db.begin_read()?,
            Handle::Closed => return Err(StorageError::Closed),
        };
        Ok(Snapshot::new(Box::new(RedbView { txn })))
    }

    /// Replaces the database handle after a failed write: redb refuses every
    /// further I/O on a handle that saw one fail. Opening the file again rolls
    /// it back to the last committed transaction; if that needs a write the
    /// disk cannot take, the store stays closed and reads fail until restart.
    pub fn reopen(&self) -> Result<(), StorageError> {
        let mut handle = self.handle.write().unwrap_or_else(|e| e.into_inner());
        // Dropping the old handle releases the file lock once the last read
        // transaction on it ends.
        *handle = Handle::Closed;
        let mut last = StorageError::Closed;
        for _ in 0..100 {
            match open_writable(&self.path) {
                Ok(db) => {
                    *handle = Handle::Writable(db);
                    return Ok(());
                }
                Err(StorageError::AlreadyOpen) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        match open_read_only(&self.path) {
            Ok(db) => {
                *handle = Handle::ReadOnly(db);
                *self.read_only.write().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("reopened read-only after a failed write: {last}"));
                Ok(())
            }
            Err(e) => {
                tracing::error!("reopening {}: {last}; read-only: {e}", self.path.display());
                Err(last)
            }
        }
    }

    fn append_batch(
        &self,
        batch: &[NewEntry],
    ) -> Result<(Vec<Placement>, u64, Hash), StorageError> {
        let txn = self.begin_write()?;
        let result;
        {
            let mut hashes = txn.open_table(HASHES)?;
            let mut entries = txn.open_table(ENTRIES)?;
            let mut leaves = txn.open_table(LEAVES)?;
            let mut by_subject = txn.open_table(BY_SUBJECT)?;
            let mut by_subject_key = txn.open_table(BY_SUBJECT_KEY)?;
            let mut counts = txn.open_table(SUBJECT_COUNTS)?;
            let mut meta = txn.open_table(META)?;
            let size = read_size(&meta)?;
            let plan = {
                let mut existing = |leaf: &Hash| -> Result<Option<u64>, StorageError> {
                    Ok(leaves.get(leaf.0)?.map(|v| v.value()))
                };
                plan_batch(batch, size, &TableReader(&hashes), &mut existing)?
            };
            for (k, h) in plan.new_hashes.iter().enumerate() {
                hashes.insert(plan.first_new_hash + k as u64, h.0)?;
            }
            for (k, e) in plan.fresh.iter().enumerate() {
                let index = size + k as u64;
                entries.insert(index, e.bytes.as_slice())?;
                leaves.insert(e.leaf.0, index)?;
                by_subject.insert((e.subject.0, index), ())?;
                by_subject_key.insert((e.subject.0, e.key, index), ())?;
                let n = counts.get(e.subject.0)?.map_or(0, |v| v.value());
                counts.insert(e.subject.0, n + 1)?;
            }
            meta.insert(META_SIZE, plan.new_size.to_be_bytes().as_slice())?;
            result = (plan.placements, plan.new_size, plan.root);
        }
        txn.commit()?;
        Ok(result)
    }
}

impl Store for RedbStore {
    /// One redb write transaction, committed with immediate durability.
    fn append(&self, batch: &[NewEntry]) -> Result<(Vec<Placement>, u64, Hash), StorageError> {
        self.append_batch(batch)
    }

    /// (A variant that let the checkpoint ride on the next batch's fsync
    /// measured slower ingest: redb cannot reuse pages freed by non-durable
    /// commits.)
    fn set_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StorageError> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if read_u64(&meta, META_CHECKPOINT_SIZE)? <= size {
                meta.insert(META_CHECKPOINT, note)?;
                meta.insert(META_CHECKPOINT_SIZE, size.to_be_bytes().as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        RedbStore::snapshot(self)
    }

    fn read_only_reason(&self) -> Option<String> {
        RedbStore::read_only_reason(self)
    }

    fn recover_after_write_failure(&self) -> Result<(), StorageError> {
        self.reopen()
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(self.dir())
    }

    fn backend(&self) -> &'static str {
        "redb"
    }
}

fn open_writable(path: &Path) -> Result<Database, StorageError> {
    let db = match Database::builder().set_cache_size(CACHE_BYTES).create(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StorageError::AlreadyOpen),
        Err(e) => return Err(e.into()),
    };
    let txn = db.begin_write()?;
    {
        txn.open_table(HASHES)?;
        txn.open_table(ENTRIES)?;
        txn.open_table(LEAVES)?;
        txn.open_table(BY_SUBJECT)?;
        txn.open_table(BY_SUBJECT_KEY)?;
        txn.open_table(SUBJECT_COUNTS)?;
        txn.open_table(META)?;
        migrate_subject_index(&txn)?;
    }
    txn.commit()?;
    Ok(db)
}

/// Moves a log written by an earlier version (one digest → indices index)
/// to the per-key index, reading each entry's key from its bytes.
fn migrate_subject_index(txn: &redb::WriteTransaction) -> Result<(), StorageError> {
    let has_old = txn
        .list_multimap_tables()?
        .any(|t| t.name() == OLD_SUBJECTS.name());
    if !has_old {
        return Ok(());
    }
    {
        let old = txn.open_multimap_table(OLD_SUBJECTS)?;
        let entries = txn.open_table(ENTRIES)?;
        let mut by_subject = txn.open_table(BY_SUBJECT)?;
        let mut by_subject_key = txn.open_table(BY_SUBJECT_KEY)?;
        let mut counts = txn.open_table(SUBJECT_COUNTS)?;
        for item in old.iter()? {
            let (digest, indices) = item?;
            let digest = digest.value();
            for index in indices {
                let index = index?.value();
                let bytes = entries.get(index)?.ok_or_else(|| {
                    StorageError::Corrupt(format!("indexed entry {index} missing"))
                })?;
                let key = Entry::from_cbor(bytes.value())
                    .map_err(|e| StorageError::Corrupt(format!("entry {index}: {e}")))?
                    .key;
                by_subject.insert((digest, index), ())?;
                by_subject_key.insert((digest, key, index), ())?;
                let n = counts.get(digest)?.map_or(0, |v| v.value());
                counts.insert(digest, n + 1)?;
            }
        }
    }
    txn.delete_multimap_table(OLD_SUBJECTS)?;
    tracing::info!("subject index moved to the per-key layout");
    Ok(())
}

fn open_read_only(path: &Path) -> Result<ReadOnlyDatabase, StorageError> {
    match Database::builder()
        .set_cache_size(CACHE_BYTES)
        .open_read_only(path)
    {
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::RepairAborted) => Err(StorageError::ReadOnly(format!(
            "{} needs recovery after an unclean stop, which needs a writable file",
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn is_not_writable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

fn read_size(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64, StorageError> {
    read_u64(meta, META_SIZE)
}

/// A big-endian number in the meta table; 0 when absent.
fn read_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<u64, StorageError> {
    match meta.get(key)? {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 8] = v
                .value()
                .try_into()
                .map_err(|_| StorageError::Corrupt(format!("meta {key} is not 8 bytes")))?;
            Ok(u64::from_be_bytes(bytes))
        }
    }
}

/// Stored hashes read through any redb table handle.
struct TableReader<'a, T: ReadableTable<u64, [u8; 32]>>(&'a T);

impl<T: ReadableTable<u64, [u8; 32]>> HashReader for TableReader<'_, T> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| match self.0.get(i) {
                Ok(Some(v)) => Ok(Hash(v.value())),
                Ok(None) => Err(MerkleError::Storage(format!("stored hash {i} missing"))),
                Err(e) => Err(MerkleError::Storage(e.to_string())),
            })
            .collect()
    }
}

/// A read transaction: a consistent view of the whole log.
struct RedbView {
    txn: ReadTransaction,
}

impl HashReader for RedbView {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        let table = self
            .txn
            .open_table(HASHES)
            .map_err(|e| MerkleError::Storage(e.to_string()))?;
        TableReader(&table).read_hashes(indexes)
    }
}

impl View for RedbView {
    fn size(&self) -> Result<u64, StorageError> {
        read_size(&self.txn.open_table(META)?)
    }

    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .txn
            .open_table(META)?
            .get(META_CHECKPOINT)?
            .map(|v| v.value().to_vec()))
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let table = self.txn.open_table(ENTRIES)?;
        let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
        for item in table.range(start..end)? {
            out.push(item?.1.value().to_vec());
        }
        Ok(out)
    }

    fn entries_at(&self, indices: &[u64]) -> Result<Vec<Vec<u8>>, StorageError> {
        let table = self.txn.open_table(ENTRIES)?;
        indices
            .iter()
            .map(|&i| {
                table
                    .get(i)?
                    .map(|v| v.value().to_vec())
                    .ok_or_else(|| StorageError::Corrupt(format!("entry {i} missing")))
            })
            .collect()
    }

    fn lookup(
        &self,
        digest: &Hash,
        keys: &[[u8; 32]],
        size: u64,
        cursor: u64,
        limit: usize,
    ) -> Result<LookupPage, StorageError> {
        let by_subject = self.txn.open_table(BY_SUBJECT)?;
        // Stored count, less the entries committed past the checkpoint's size
        // (a batch whose checkpoint is not out yet: a few at most).
        let stored = self
            .txn
            .open_table(SUBJECT_COUNTS)?
            .get(digest.0)?
            .map_or(0, |v| v.value());
        let beyond = by_subject
            .range((digest.0, size)..=(digest.0, u64::MAX))?
            .count() as u64;
        let total = stored.saturating_sub(beyond);
        let start = cursor.min(size);
        // One more than a page, to know whether there is a next one.
        let mut found: Vec<u64> = Vec::new();
        if keys.is_empty() {
            for item in by_subject
                .range((digest.0, start)..(digest.0, size))?
                .take(limit + 1)
            {
                found.push(item?.0.value().1);
            }
        } else {
            let by_key = self.txn.open_table(BY_SUBJECT_KEY)?;
            for key in keys {
                let range = (digest.0, *key, start)..(digest.0, *key, size);
                for item in by_key.range(range)?.take(limit + 1) {
                    found.push(item?.0.value().2);
                }
            }
            found.sort_unstable();
            found.dedup();
        }
        Ok(page_of(found, total, limit))
    }

    fn index_of_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        Ok(self.txn.open_table(LEAVES)?.get(leaf.0)?.map(|v| v.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_of_an_earlier_version_is_migrated_on_open() {
        use reprolog_proto::note::Signer;
        use reprolog_proto::statement::Statement;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let signers = [
            Signer::generate("a.test").unwrap(),
            Signer::generate("b.test").unwrap(),
        ];
        let digest = Hash::of(b"binary");
        {
            // The layout before the per-key index: digest → indices.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut entries = txn.open_table(ENTRIES).unwrap();
                let mut old = txn.open_multimap_table(OLD_SUBJECTS).unwrap();
                for i in 0..4u64 {
                    let st = Statement::minimal(&format!("p{i}"), digest, digest, "x");
                    let bytes = Entry::sign(&st, &signers[i as usize % 2]).to_cbor();
                    entries.insert(i, bytes.as_slice()).unwrap();
                    old.insert(digest.0, i).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let snap = store.snapshot().unwrap();
        let b = signers[1].verifier().public_key();
        let page = snap.lookup(&digest, &[b], 4, 0, 10).unwrap();
        assert_eq!((page.indices, page.total), (vec![1, 3], 4));
        drop(snap);
        drop(store);
        // Opening again finds nothing left to migrate.
        let store = RedbStore::open(&path).unwrap();
        let all = store
            .snapshot()
            .unwrap()
            .lookup(&digest, &[], 4, 0, 10)
            .unwrap();
        assert_eq!(all.indices, vec![0, 1, 2, 3]);
    }

    #[test]
    fn batches_append_dedup_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let store = Box::new(RedbStore::open(&path).unwrap());
        crate::storage::conformance::batches_append_dedup_and_survive_reopen(store, |old| {
            drop(old);
            Box::new(RedbStore::open(&path).unwrap())
        });
    }
}
