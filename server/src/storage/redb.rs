//! The embedded backend: the log in one redb file in the data dir.
//!
//! Tables: stored hashes by stored hash index (see `proto::merkle`), entries by
//! index, one index keyed by subject digest first (lookups and deduplication,
//! see `subject_row`), and metadata (tree size, latest signed checkpoint).
//! A batch of entries is
//! written in one transaction committed with immediate durability; the
//! checkpoint covering it is stored in a later transaction, after it was signed.
//!
//! A store whose file cannot be written (a read-only data dir or file system)
//! opens read-only and refuses appends. redb refuses all further I/O on a
//! handle once a write failed (disk full, file too large, EIO), so after such a
//! failure [`RedbStore::reopen`] replaces the handle, letting redb roll back to
//! the last committed transaction, and reads go on.

use super::{
    page_of, plan_batch, Appended, LookupPage, LookupQuery, NewEntry, Placement, Sign, Snapshot,
    StorageError, Store, View,
};
use redb::{
    Database, MultimapTableHandle, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, TableDefinition, TableHandle,
};
use reprolog_proto::merkle::{HashReader, MerkleError};
use reprolog_proto::Hash;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

const HASHES: TableDefinition<u64, [u8; 32]> = TableDefinition::new("hashes");
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// The lookup and deduplication index, in one table with locality (see
/// [`subject_row`]): every row about a subject digest starts with the digest,
/// so the rows one entry adds sit side by side, on one page where separate
/// tables keyed by random hashes would dirty one page each.
const SUBJECTS: TableDefinition<&[u8], u64> = TableDefinition::new("subject_index");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Every checkpoint stored, by size (the latest note of each size): an index
/// revision is answered with the log's checkpoint of its size.
const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");

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
impl_from_redb!(
    DatabaseError,
    TransactionError,
    TableError,
    CommitError,
    CompactionError
);

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

    /// Appends `batch`, and the checkpoint `sign` makes of the grown tree
    /// when given, in one transaction.
    fn append_batch(
        &self,
        batch: &[NewEntry],
        sign: Option<&mut Sign<'_>>,
    ) -> Result<Appended, StorageError> {
        let txn = self.begin_write()?;
        let result;
        {
            let mut hashes = txn.open_table(HASHES)?;
            let mut entries = txn.open_table(ENTRIES)?;
            let mut subjects = txn.open_table(SUBJECTS)?;
            let mut meta = txn.open_table(META)?;
            let size = read_size(&meta)?;
            let plan = {
                let mut existing = |e: &NewEntry| -> Result<Option<u64>, StorageError> {
                    let row = subject_row::leaf(&e.subject, &e.leaf);
                    Ok(subjects.get(row.as_slice())?.map(|v| v.value()))
                };
                plan_batch(batch, size, &TableReader(&hashes), &mut existing)?
            };
            for (k, h) in plan.new_hashes.iter().enumerate() {
                hashes.insert(plan.first_new_hash + k as u64, h.0)?;
            }
            for (k, e) in plan.fresh.iter().enumerate() {
                let index = size + k as u64;
                entries.insert(index, e.bytes.as_slice())?;
                index_subject(&mut subjects, e, index)?;
            }
            meta.insert(META_SIZE, plan.new_size.to_be_bytes().as_slice())?;
            if let Some(sign) = sign.filter(|_| plan.new_size > size) {
                let note = sign(plan.new_size, plan.root)?;
                meta.insert(META_CHECKPOINT, note.as_slice())?;
                meta.insert(META_CHECKPOINT_SIZE, plan.new_size.to_be_bytes().as_slice())?;
                txn.open_table(CHECKPOINTS)?
                    .insert(plan.new_size, note.as_slice())?;
            }
            result = (plan.placements, plan.new_size, plan.root);
        }
        txn.commit()?;
        Ok(result)
    }
}

impl Store for RedbStore {
    /// One redb write transaction, committed with immediate durability.
    fn append(&self, batch: &[NewEntry]) -> Result<(Vec<Placement>, u64, Hash), StorageError> {
        self.append_batch(batch, None)
    }

    fn append_signed(
        &self,
        batch: &[NewEntry],
        sign: &mut Sign<'_>,
    ) -> Result<Appended, StorageError> {
        self.append_batch(batch, Some(sign))
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
            txn.open_table(CHECKPOINTS)?.insert(size, note)?;
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
        txn.open_table(SUBJECTS)?;
        txn.open_table(META)?;
        txn.open_table(CHECKPOINTS)?;
    }
    txn.commit()?;
    if move_to_one_subject_index(&db)? {
        // The old tables' pages are free but the file keeps its size; give
        // the space back once, now that nothing else reads the file.
        let mut db = db;
        db.compact()?;
        return Ok(db);
    }
    Ok(db)
}

/// The index tables of earlier versions: leaf → index, (digest, index),
/// (digest, key, index) and digest → count, and before them a multimap.
const LEGACY_TABLES: [&str; 4] = ["leaves", "by_subject", "by_subject_key", "subject_counts"];
const LEGACY_MULTIMAP: &str = "subjects";
/// How far a rebuild of the lookup index got, while one runs.
const META_REINDEXED_TO: &str = "subject_index_built_to";
/// Entries indexed per transaction, so a rebuild's memory stays bounded and
/// an interrupted one resumes.
const REINDEX_CHUNK: u64 = 20_000;

/// Rebuilds the lookup index of a log written by an earlier version into
/// [`SUBJECTS`], reading each entry's digest and key from its bytes, then
/// drops the old tables. Runs in chunks; the old tables stay until the end,
/// so an interrupted rebuild is found and resumed on the next open. Returns
/// whether there was anything to move.
fn move_to_one_subject_index(db: &Database) -> Result<bool, StorageError> {
    loop {
        let txn = db.begin_write()?;
        let legacy: Vec<_> = txn
            .list_tables()?
            .filter(|t| LEGACY_TABLES.contains(&t.name()))
            .collect();
        let legacy_multimap: Vec<_> = txn
            .list_multimap_tables()?
            .filter(|t| t.name() == LEGACY_MULTIMAP)
            .collect();
        if legacy.is_empty() && legacy_multimap.is_empty() {
            return Ok(false);
        }
        let (done, size) = {
            let entries = txn.open_table(ENTRIES)?;
            let mut subjects = txn.open_table(SUBJECTS)?;
            let mut meta = txn.open_table(META)?;
            let size = read_size(&meta)?;
            let from = read_u64(&meta, META_REINDEXED_TO)?;
            let to = from.saturating_add(REINDEX_CHUNK).min(size);
            for item in entries.range(from..to)? {
                let (index, bytes) = item?;
                let index = index.value();
                let entry = NewEntry::from_stored(index, bytes.value().to_vec())?;
                index_subject(&mut subjects, &entry, index)?;
            }
            tracing::info!("rebuilding the lookup index: {to} of {size} entries");
            let done = to >= size;
            if done {
                meta.remove(META_REINDEXED_TO)?;
            } else {
                meta.insert(META_REINDEXED_TO, to.to_be_bytes().as_slice())?;
            }
            (done, size)
        };
        if done {
            for table in legacy {
                txn.delete_table(table)?;
            }
            for table in legacy_multimap {
                txn.delete_multimap_table(table)?;
            }
        }
        txn.commit()?;
        if done {
            tracing::info!("lookup index moved to one table ({size} entries)");
            return Ok(true);
        }
    }
}

fn open_read_only(path: &Path) -> Result<ReadOnlyDatabase, StorageError> {
    match Database::builder()
        .set_cache_size(CACHE_BYTES)
        .open_read_only(path)
    {
        Ok(db) if has_legacy_index(&db)? => Err(StorageError::ReadOnly(format!(
            "{} was written by an earlier version: open it writable once to rebuild its lookup index",
            path.display()
        ))),
        Ok(db) => Ok(db),
        Err(redb::DatabaseError::RepairAborted) => Err(StorageError::ReadOnly(format!(
            "{} needs recovery after an unclean stop, which needs a writable file",
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Whether the file still has a lookup index of an earlier version.
fn has_legacy_index(db: &ReadOnlyDatabase) -> Result<bool, StorageError> {
    let txn = db.begin_read()?;
    let legacy = txn
        .list_tables()?
        .any(|t| LEGACY_TABLES.contains(&t.name()))
        || txn
            .list_multimap_tables()?
            .any(|t| t.name() == LEGACY_MULTIMAP);
    Ok(legacy)
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

/// Keys of the [`SUBJECTS`] table, all starting with the subject digest:
///
/// - `digest ‖ 0` → how many entries are about the digest;
/// - `digest ‖ 1 ‖ index` → index: every entry about it, in log order;
/// - `digest ‖ 2 ‖ key ‖ index` → index: the same per rebuilder key, so a
///   lookup by key reads only that key's entries however many others there are;
/// - `digest ‖ 3 ‖ leaf hash` → index: deduplication. Equal entries have
///   equal subjects, so an entry's duplicate is found under its own digest.
///
/// Indices are big-endian, so byte order is log order.
mod subject_row {
    use reprolog_proto::Hash;

    pub fn count(digest: &Hash) -> [u8; 33] {
        let mut k = [0u8; 33];
        k[..32].copy_from_slice(&digest.0);
        k
    }

    pub fn entry(digest: &Hash, index: u64) -> [u8; 41] {
        let mut k = [0u8; 41];
        k[..32].copy_from_slice(&digest.0);
        k[32] = 1;
        k[33..].copy_from_slice(&index.to_be_bytes());
        k
    }

    pub fn keyed(digest: &Hash, key: &[u8; 32], index: u64) -> [u8; 73] {
        let mut k = [0u8; 73];
        k[..32].copy_from_slice(&digest.0);
        k[32] = 2;
        k[33..65].copy_from_slice(key);
        k[65..].copy_from_slice(&index.to_be_bytes());
        k
    }

    pub fn leaf(digest: &Hash, leaf: &Hash) -> [u8; 65] {
        let mut k = [0u8; 65];
        k[..32].copy_from_slice(&digest.0);
        k[32] = 3;
        k[33..].copy_from_slice(&leaf.0);
        k
    }
}

/// Adds one entry's rows to the lookup and deduplication index.
fn index_subject(
    subjects: &mut redb::Table<&'static [u8], u64>,
    entry: &NewEntry,
    index: u64,
) -> Result<(), StorageError> {
    subjects.insert(subject_row::entry(&entry.subject, index).as_slice(), index)?;
    subjects.insert(
        subject_row::keyed(&entry.subject, &entry.key, index).as_slice(),
        index,
    )?;
    subjects.insert(
        subject_row::leaf(&entry.subject, &entry.leaf).as_slice(),
        index,
    )?;
    let count = subject_row::count(&entry.subject);
    let n = subjects.get(count.as_slice())?.map_or(0, |v| v.value());
    subjects.insert(count.as_slice(), n + 1)?;
    Ok(())
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

    fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        // A file written before the table existed (opened read-only) has none.
        let table = match self.txn.open_table(CHECKPOINTS) {
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            other => other?,
        };
        Ok(table.get(size)?.map(|v| v.value().to_vec()))
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

    fn lookup(&self, query: &LookupQuery) -> Result<LookupPage, StorageError> {
        use subject_row::{count, entry, keyed};
        let (digest, size) = (query.digest, query.size);
        let subjects = self.txn.open_table(SUBJECTS)?;
        // Stored count, less the entries committed past the checkpoint's size
        // (a batch whose checkpoint is not out yet: a few at most).
        let stored = subjects
            .get(count(digest).as_slice())?
            .map_or(0, |v| v.value());
        let beyond_from = entry(digest, size);
        let beyond_to = entry(digest, u64::MAX);
        let beyond = subjects
            .range(beyond_from.as_slice()..=beyond_to.as_slice())?
            .count() as u64;
        let total = stored.saturating_sub(beyond);
        let start = query.cursor.min(size);
        // One more than a page, to know whether there is a next one.
        let mut found: Vec<u64> = Vec::new();
        let mut read = |from: &[u8], to: &[u8]| -> Result<(), StorageError> {
            for item in subjects.range(from..to)?.take(query.limit + 1) {
                found.push(item?.1.value());
            }
            Ok(())
        };
        let mut matched = total;
        if query.keys.is_empty() {
            read(&entry(digest, start), &entry(digest, size))?;
        } else {
            let keys: std::collections::BTreeSet<&[u8; 32]> = query.keys.iter().collect();
            matched = 0;
            for key in keys {
                read(&keyed(digest, key, start), &keyed(digest, key, size))?;
                let from = keyed(digest, key, 0);
                let to = keyed(digest, key, size);
                matched += subjects.range(from.as_slice()..to.as_slice())?.count() as u64;
            }
            found.sort_unstable();
            found.dedup();
        }
        Ok(page_of(found, total, matched, query.limit))
    }

    fn index_of_leaf(&self, subject: &Hash, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        let row = subject_row::leaf(subject, leaf);
        Ok(self
            .txn
            .open_table(SUBJECTS)?
            .get(row.as_slice())?
            .map(|v| v.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use redb::{MultimapTableDefinition, ReadableTableMetadata};
    use reprolog_proto::entry::Entry;
    use reprolog_proto::note::Signer;
    use reprolog_proto::statement::Statement;

    /// Four signed entries about one digest, alternately by two keys.
    fn four_entries(digest: Hash) -> (Vec<Vec<u8>>, [u8; 32]) {
        let signers = [
            Signer::generate("a.test").unwrap(),
            Signer::generate("b.test").unwrap(),
        ];
        let entries = (0..4)
            .map(|i| {
                let st = Statement::minimal(&format!("p{i}"), digest, digest, "x");
                Entry::sign(&st, &signers[i % 2]).to_cbor()
            })
            .collect();
        (entries, signers[1].verifier().public_key())
    }

    /// Writes `entries` and the size, as every version did, and lets
    /// `legacy` write an earlier version's lookup index.
    fn write_log(path: &Path, entries: &[Vec<u8>], legacy: impl FnOnce(&redb::WriteTransaction)) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(ENTRIES).unwrap();
            for (i, bytes) in entries.iter().enumerate() {
                table.insert(i as u64, bytes.as_slice()).unwrap();
            }
            let mut meta = txn.open_table(META).unwrap();
            let size = (entries.len() as u64).to_be_bytes();
            meta.insert(META_SIZE, size.as_slice()).unwrap();
        }
        legacy(&txn);
        txn.commit().unwrap();
    }

    /// Opens the store and checks lookups of all four entries and of key
    /// b's, and that the entries are known as duplicates.
    fn assert_lookups(path: &Path, entries: &[Vec<u8>], digest: &Hash, b: [u8; 32]) {
        let store = RedbStore::open(path).unwrap();
        let snap = store.snapshot().unwrap();
        for (i, bytes) in entries.iter().enumerate() {
            let leaf = Hash::leaf(bytes);
            assert_eq!(snap.index_of_leaf(digest, &leaf).unwrap(), Some(i as u64));
        }
        let query = |keys| LookupQuery {
            digest,
            keys,
            size: 4,
            cursor: 0,
            limit: 10,
        };
        let by_b = [b];
        let page = snap.lookup(&query(&by_b)).unwrap();
        assert_eq!((page.indices, page.total), (vec![1, 3], 4));
        let all = snap.lookup(&query(&[])).unwrap();
        assert_eq!((all.indices, all.total), (vec![0, 1, 2, 3], 4));
        drop(snap);
        drop(store);
        // Only the current tables are left.
        let db = Database::open(path).unwrap();
        let txn = db.begin_read().unwrap();
        assert!(!txn
            .list_tables()
            .unwrap()
            .any(|t| LEGACY_TABLES.contains(&t.name())));
        assert_eq!(txn.list_multimap_tables().unwrap().count(), 0);
        assert_eq!(
            txn.open_table(SUBJECTS).unwrap().len().unwrap(),
            1 + 4 + 4 + 4
        );
    }

    #[test]
    fn the_first_versions_index_is_rebuilt_on_open() {
        const OLD: MultimapTableDefinition<[u8; 32], u64> =
            MultimapTableDefinition::new("subjects");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let digest = Hash::of(b"binary");
        let (entries, b) = four_entries(digest);
        write_log(&path, &entries, |txn| {
            let mut old = txn.open_multimap_table(OLD).unwrap();
            for i in 0..4u64 {
                old.insert(digest.0, i).unwrap();
            }
        });
        assert_lookups(&path, &entries, &digest, b);
        // Opening again finds nothing left to do.
        assert_lookups(&path, &entries, &digest, b);
    }

    #[test]
    fn the_three_table_index_is_rebuilt_even_after_an_interrupted_rebuild() {
        const BY_SUBJECT: TableDefinition<([u8; 32], u64), ()> = TableDefinition::new("by_subject");
        const BY_SUBJECT_KEY: TableDefinition<([u8; 32], [u8; 32], u64), ()> =
            TableDefinition::new("by_subject_key");
        const COUNTS: TableDefinition<[u8; 32], u64> = TableDefinition::new("subject_counts");
        const LEAVES: TableDefinition<[u8; 32], u64> = TableDefinition::new("leaves");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let digest = Hash::of(b"binary");
        let (entries, b) = four_entries(digest);
        write_log(&path, &entries, |txn| {
            let mut by_subject = txn.open_table(BY_SUBJECT).unwrap();
            let mut by_key = txn.open_table(BY_SUBJECT_KEY).unwrap();
            let mut leaves = txn.open_table(LEAVES).unwrap();
            for (i, bytes) in entries.iter().enumerate() {
                leaves.insert(Hash::leaf(bytes).0, i as u64).unwrap();
                let key = Entry::from_cbor(bytes).unwrap().key;
                by_subject.insert((digest.0, i as u64), ()).unwrap();
                by_key.insert((digest.0, key, i as u64), ()).unwrap();
            }
            txn.open_table(COUNTS).unwrap().insert(digest.0, 4).unwrap();
            // A rebuild that stopped after entries 0 and 1.
            let mut subjects = txn.open_table(SUBJECTS).unwrap();
            for (i, bytes) in entries.iter().enumerate().take(2) {
                let e = NewEntry::from_stored(i as u64, bytes.clone()).unwrap();
                index_subject(&mut subjects, &e, i as u64).unwrap();
            }
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(META_REINDEXED_TO, 2u64.to_be_bytes().as_slice())
                .unwrap();
        });
        // Read-only, it cannot be rebuilt, and says so.
        let e = RedbStore::open_read_only(&path).err().unwrap().to_string();
        assert!(e.contains("earlier version"), "{e}");
        // The count is 4, not 6: the rebuild resumed where it stopped.
        assert_lookups(&path, &entries, &digest, b);
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
