//! Durable log storage in redb.
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
//! failure [`Store::reopen`] replaces the handle, letting redb roll back to
//! the last committed transaction, and reads go on.

use redb::{
    Database, MultimapTableDefinition, MultimapTableHandle, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableMultimapTable, ReadableTable, TableDefinition,
};
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{self, Appender, HashReader, MerkleError};
use reprolog_proto::tile::{self, Tile, TileKind};
use reprolog_proto::Hash;
use std::collections::HashMap;
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

/// redb's page cache; everything else the server keeps is independent of log size.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A storage failure. The message goes to the operator's log, never to clients.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Db(String),
    #[error("merkle: {0}")]
    Merkle(#[from] MerkleError),
    #[error("corrupt storage: {0}")]
    Corrupt(String),
    /// The operating system refused a read or write of the database file.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The store is open read-only; the reason says why.
    #[error("read-only: {0}")]
    ReadOnly(String),
    /// Another handle (in this process, until its last reader ends) still
    /// holds the file.
    #[error("database file is already open")]
    AlreadyOpen,
    /// No usable database handle after a failed reopen.
    #[error("database closed after an i/o failure")]
    Closed,
}

impl StorageError {
    /// Whether the failure means the disk (or the file-size limit) is full.
    pub fn is_full(&self) -> bool {
        matches!(self, StorageError::Io(e)
            if matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded))
    }
}

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

/// An entry ready to append: already validated by the caller.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub bytes: Vec<u8>,
    pub leaf: Hash,
    pub subject: Hash,
    /// The rebuilder key that signed it.
    pub key: [u8; 32],
}

/// One page of the entries about a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage {
    /// Indices in log order.
    pub indices: Vec<u64>,
    /// Entries about the subject in the tree, whatever their key.
    pub total: u64,
    /// Where the next page starts, if the answer was cut at the page size.
    pub next: Option<u64>,
}

/// Where an appended entry ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    New(u64),
    /// The same bytes were already in the log at this index.
    Existing(u64),
}

impl Placement {
    pub fn index(self) -> u64 {
        match self {
            Placement::New(i) | Placement::Existing(i) => i,
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
pub struct Store {
    path: PathBuf,
    handle: RwLock<Handle>,
    /// Why the store is read-only, when it is.
    read_only: RwLock<Option<String>>,
}

impl Store {
    /// Opens (or creates) the database file for reading and writing. A file
    /// the process may not write (permissions, a read-only file system) is
    /// opened read-only instead: the log keeps serving what it has.
    pub fn open(path: &Path) -> Result<Store, StorageError> {
        match open_writable(path) {
            Ok(db) => Ok(Store::with(path, Handle::Writable(db), None)),
            Err(StorageError::Io(e)) if is_not_writable(&e) => {
                let reason = format!("{} is not writable ({e})", path.display());
                tracing::warn!("{reason}; serving read-only");
                Store::open_read_only_because(path, reason)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens an existing database file read-only.
    pub fn open_read_only(path: &Path) -> Result<Store, StorageError> {
        Store::open_read_only_because(path, "started with --read-only".into())
    }

    fn open_read_only_because(path: &Path, reason: String) -> Result<Store, StorageError> {
        let db = open_read_only(path)?;
        Ok(Store::with(path, Handle::ReadOnly(db), Some(reason)))
    }

    fn with(path: &Path, handle: Handle, read_only: Option<String>) -> Store {
        Store {
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
        Ok(Snapshot { txn })
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

    /// Appends a batch in one durable transaction. Entries already in the log
    /// (or repeated within the batch) keep their first index. Returns the
    /// placements in input order, the new tree size and its root.
    pub fn append(&self, batch: &[NewEntry]) -> Result<(Vec<Placement>, u64, Hash), StorageError> {
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

            let mut placements = Vec::with_capacity(batch.len());
            let mut fresh: Vec<&NewEntry> = Vec::new();
            let mut in_batch: HashMap<Hash, u64> = HashMap::new();
            let (new_hashes, first_new, new_size, root) = {
                let reader = TableReader(&hashes);
                let mut app = Appender::new(&reader, size);
                for e in batch {
                    if let Some(i) = leaves.get(e.leaf.0)? {
                        placements.push(Placement::Existing(i.value()));
                    } else if let Some(&i) = in_batch.get(&e.leaf) {
                        placements.push(Placement::Existing(i));
                    } else {
                        let i = app.push(e.leaf)?;
                        in_batch.insert(e.leaf, i);
                        fresh.push(e);
                        placements.push(Placement::New(i));
                    }
                }
                let root = merkle::tree_hash(app.size(), &app)?;
                (
                    app.new_hashes().to_vec(),
                    app.first_new_index(),
                    app.size(),
                    root,
                )
            };
            for (k, h) in new_hashes.iter().enumerate() {
                hashes.insert(first_new + k as u64, h.0)?;
            }
            for (k, e) in fresh.iter().enumerate() {
                let index = size + k as u64;
                entries.insert(index, e.bytes.as_slice())?;
                leaves.insert(e.leaf.0, index)?;
                by_subject.insert((e.subject.0, index), ())?;
                by_subject_key.insert((e.subject.0, e.key, index), ())?;
                let n = counts.get(e.subject.0)?.map_or(0, |v| v.value());
                counts.insert(e.subject.0, n + 1)?;
            }
            meta.insert(META_SIZE, new_size.to_be_bytes().as_slice())?;
            result = (placements, new_size, root);
        }
        txn.commit()?;
        Ok(result)
    }

    /// Stores the latest signed checkpoint note, durably.
    ///
    /// (A variant that let it ride on the next batch's fsync measured slower
    /// ingest: redb cannot reuse pages freed by non-durable commits.)
    pub fn set_checkpoint(&self, note: &[u8]) -> Result<(), StorageError> {
        let txn = self.begin_write()?;
        txn.open_table(META)?.insert(META_CHECKPOINT, note)?;
        txn.commit()?;
        Ok(())
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
    match meta.get(META_SIZE)? {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 8] = v
                .value()
                .try_into()
                .map_err(|_| StorageError::Corrupt("tree size is not 8 bytes".into()))?;
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
pub struct Snapshot {
    txn: ReadTransaction,
}

impl Snapshot {
    /// The number of entries committed.
    pub fn size(&self) -> Result<u64, StorageError> {
        read_size(&self.txn.open_table(META)?)
    }

    /// The latest signed checkpoint note, if any.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .txn
            .open_table(META)?
            .get(META_CHECKPOINT)?
            .map(|v| v.value().to_vec()))
    }

    /// Runs `f` with a hash reader over this snapshot.
    pub fn with_hashes<R>(
        &self,
        f: impl FnOnce(&dyn HashReader) -> Result<R, MerkleError>,
    ) -> Result<R, StorageError> {
        let table = self.txn.open_table(HASHES)?;
        Ok(f(&TableReader(&table))?)
    }

    /// Entry bytes at `index`.
    /// The bytes of a tile or entry bundle that exists in this tree (see
    /// [`Tile::exists_in_tree`]): served by the API and written by the
    /// publisher, so both copies of the log hold the same bytes.
    pub fn tile_data(&self, tile: &Tile) -> Result<Vec<u8>, StorageError> {
        Ok(match tile.kind {
            TileKind::Hash { .. } => {
                let hashes = self.hashes(&tile.stored_hash_indexes())?;
                hashes.iter().flat_map(|h| h.0).collect()
            }
            TileKind::Entries => {
                let start = tile.n << tile::HEIGHT;
                let entries = self.entries(start, start + u64::from(tile.width))?;
                tile::encode_bundle(&entries).map_err(|e| StorageError::Corrupt(e.to_string()))?
            }
        })
    }

    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .txn
            .open_table(ENTRIES)?
            .get(index)?
            .map(|v| v.value().to_vec()))
    }

    /// Entries `start..end`, which must all exist.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let table = self.txn.open_table(ENTRIES)?;
        let mut out = Vec::with_capacity((end - start) as usize);
        for item in table.range(start..end)? {
            out.push(item?.1.value().to_vec());
        }
        if out.len() as u64 != end - start {
            return Err(StorageError::Corrupt(format!(
                "entries {start}..{end} incomplete"
            )));
        }
        Ok(out)
    }

    /// Stored hashes by index, raw.
    pub fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        self.with_hashes(|r| r.read_hashes(indexes))
    }

    /// One page of the entries about `digest` in the tree of `size`: from
    /// index `cursor` on, at most `limit`, in log order; only those signed by
    /// `keys` when any are given. `total` counts every entry about `digest`.
    pub fn lookup(
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
        let next = (found.len() > limit).then(|| found[limit]);
        found.truncate(limit);
        Ok(LookupPage {
            indices: found,
            total,
            next,
        })
    }

    /// The index of an entry with this leaf hash, if present.
    pub fn index_of_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        Ok(self.txn.open_table(LEAVES)?.get(leaf.0)?.map(|v| v.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> NewEntry {
        let bytes = format!("entry {i}").into_bytes();
        NewEntry {
            leaf: Hash::leaf(&bytes),
            subject: Hash::of(&[(i % 3) as u8]),
            key: [(i % 2) as u8; 32],
            bytes,
        }
    }

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
        let store = Store::open(&path).unwrap();
        let snap = store.snapshot().unwrap();
        let b = signers[1].verifier().public_key();
        let page = snap.lookup(&digest, &[b], 4, 0, 10).unwrap();
        assert_eq!((page.indices, page.total), (vec![1, 3], 4));
        drop(snap);
        drop(store);
        // Opening again finds nothing left to migrate.
        let store = Store::open(&path).unwrap();
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
        let (expected_root, size) = {
            let store = Store::open(&path).unwrap();
            let batch: Vec<NewEntry> = (0..10).map(entry).collect();
            let (p, size, _) = store.append(&batch).unwrap();
            assert_eq!(p[9], Placement::New(9));
            assert_eq!(size, 10);
            let again = vec![entry(3), entry(10), entry(10)];
            let (p, size, root) = store.append(&again).unwrap();
            assert_eq!(
                p,
                vec![
                    Placement::Existing(3),
                    Placement::New(10),
                    Placement::Existing(10)
                ]
            );
            (root, size)
        };
        let store = Store::open(&path).unwrap();
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.size().unwrap(), size);
        let root = snap.with_hashes(|r| merkle::tree_hash(size, r)).unwrap();
        assert_eq!(root, expected_root);
        // Compare with a tree built in memory.
        let mut mem: Vec<Hash> = Vec::new();
        let mut app = Appender::new(&mem, 0);
        for i in 0..11 {
            app.push(entry(i).leaf).unwrap();
        }
        mem = app.new_hashes().to_vec();
        assert_eq!(merkle::tree_hash(11, &mem).unwrap(), root);
        let page = |keys: &[[u8; 32]], cursor, limit| {
            snap.lookup(&Hash::of(&[1]), keys, size, cursor, limit)
                .unwrap()
        };
        let all = page(&[], 0, 100);
        assert_eq!(
            (all.indices, all.total, all.next),
            (vec![1, 4, 7, 10], 4, None)
        );
        let first = page(&[], 0, 3);
        assert_eq!((first.indices, first.next), (vec![1, 4, 7], Some(10)));
        let rest = page(&[], 10, 3);
        assert_eq!((rest.indices, rest.next), (vec![10], None));
        // Entries 1 and 7 are key 1's, 4 and 10 key 0's.
        let by_key = page(&[[1; 32]], 0, 100);
        assert_eq!((by_key.indices, by_key.total), (vec![1, 7], 4));
        assert_eq!(page(&[[0; 32], [1; 32]], 0, 100).indices, vec![1, 4, 7, 10]);
        assert_eq!(page(&[[9; 32]], 0, 100).indices, Vec::<u64>::new());
        // Under an older, smaller checkpoint only what it covers counts.
        let older = snap.lookup(&Hash::of(&[1]), &[], 5, 0, 100).unwrap();
        assert_eq!((older.indices, older.total), (vec![1, 4], 2));
        assert_eq!(
            snap.entries(2, 4).unwrap(),
            vec![b"entry 2".to_vec(), b"entry 3".to_vec()]
        );
        assert!(snap.entries(10, 12).is_err());
    }
}
