//! Durable log storage behind one interface, with two backends:
//!
//! - [`redb`]: one file in the data dir, the embedded default;
//! - [`postgres`]: a PostgreSQL database several `serve` processes share, one
//!   of which sequences while holding an advisory lock.
//!
//! Both keep the same things: stored hashes by stored hash index (see
//! `proto::merkle`), entries by index, leaf hash → index (deduplication),
//! subject digest (and rebuilder key) → indices (lookup), the tree size and the
//! latest signed checkpoint. A batch of entries is written in one transaction
//! committed durably; the checkpoint covering it is stored in a later
//! transaction, after it was signed. Both plan a batch with [`plan_batch`], so
//! they place and hash entries identically.

pub mod pg_tls;
pub mod postgres;
pub mod redb;

use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{self, Appender, HashReader, MerkleError};
use reprolog_proto::tile::{self, Tile, TileKind};
use reprolog_proto::Hash;
use std::collections::HashMap;
use std::io;
use std::path::Path;

pub use self::redb::RedbStore;

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
    /// (Not a `source`: the message already holds it, once.)
    #[error("i/o: {0}")]
    Io(io::Error),
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
    /// Another instance holds the sequencer lock of a shared database.
    #[error("this instance serves reads; {0} sequences")]
    NotSequencer(String),
}

impl From<io::Error> for StorageError {
    fn from(e: io::Error) -> Self {
        StorageError::Io(e)
    }
}

impl StorageError {
    /// Whether the failure means the disk (or the file-size limit) is full.
    pub fn is_full(&self) -> bool {
        matches!(self, StorageError::Io(e)
            if matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded))
    }
}

/// Which entries a lookup asks for: those about `digest` in the tree of
/// `size`, from index `cursor` on, at most `limit`; only those signed by
/// `keys` when any are given.
#[derive(Debug, Clone, Copy)]
pub struct LookupQuery<'a> {
    pub digest: &'a Hash,
    pub keys: &'a [[u8; 32]],
    pub size: u64,
    pub cursor: u64,
    pub limit: usize,
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

impl NewEntry {
    /// Made-up entry number `n` ("entry n", any key), for unit tests.
    #[cfg(test)]
    pub(crate) fn numbered(n: u32) -> NewEntry {
        let bytes = format!("entry {n}").into_bytes();
        NewEntry {
            leaf: Hash::leaf(&bytes),
            subject: Hash::of(&bytes),
            key: [7; 32],
            bytes,
        }
    }

    /// A leaf that is not a log entry (the index log's revision texts):
    /// looked up by its own hash, with no signer.
    pub fn opaque(bytes: Vec<u8>) -> NewEntry {
        NewEntry {
            leaf: Hash::leaf(&bytes),
            subject: Hash::of(&bytes),
            key: [0; 32],
            bytes,
        }
    }

    /// An entry read back from storage (entry `index`), with the leaf hash,
    /// subject and key its indexes are keyed by.
    pub fn from_stored(index: u64, bytes: Vec<u8>) -> Result<NewEntry, StorageError> {
        let corrupt =
            |e: &dyn std::fmt::Display| StorageError::Corrupt(format!("entry {index}: {e}"));
        let entry = Entry::from_cbor(&bytes).map_err(|e| corrupt(&e))?;
        let subject = entry
            .statement()
            .map_err(|e| corrupt(&e))?
            .subject_digest()
            .map_err(|e| corrupt(&e))?;
        Ok(NewEntry {
            leaf: Hash::leaf(&bytes),
            subject,
            key: entry.key,
            bytes,
        })
    }
}

/// One page of the entries about a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage {
    /// Indices in log order.
    pub indices: Vec<u64>,
    /// Entries about the subject in the tree, whatever their key.
    pub total: u64,
    /// Entries about the subject in the tree by the keys asked for (all of
    /// them, `total`, when none were named): what a complete answer holds.
    pub matched: u64,
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

/// A lookup page from up to `limit + 1` indices found in log order: the
/// extra one, when present, is where the next page starts.
pub fn page_of(mut found: Vec<u64>, total: u64, matched: u64, limit: usize) -> LookupPage {
    let next = found.get(limit).copied();
    found.truncate(limit);
    LookupPage {
        indices: found,
        total,
        matched,
        next,
    }
}

/// What a batch appends to a tree of `old_size`, decided before any write.
pub struct BatchPlan<'a> {
    /// Where each input entry ends up, in input order.
    pub placements: Vec<Placement>,
    /// The entries not yet in the log; entry `k` gets index `old_size + k`.
    pub fresh: Vec<&'a NewEntry>,
    pub old_size: u64,
    /// The stored hashes the new leaves add, from stored index `first_new_hash`.
    pub new_hashes: Vec<Hash>,
    pub first_new_hash: u64,
    pub new_size: u64,
    pub root: Hash,
}

/// Plans appending `batch` to the tree of `size` whose hashes `hashes`
/// holds. Entries already in the log (`existing` finds their index) or
/// repeated within the batch keep their first index.
pub fn plan_batch<'a>(
    batch: &'a [NewEntry],
    size: u64,
    hashes: &dyn HashReader,
    existing: &mut dyn FnMut(&NewEntry) -> Result<Option<u64>, StorageError>,
) -> Result<BatchPlan<'a>, StorageError> {
    let mut placements = Vec::with_capacity(batch.len());
    let mut fresh = Vec::new();
    let mut in_batch: HashMap<Hash, u64> = HashMap::new();
    let mut app = Appender::new(hashes, size);
    for e in batch {
        if let Some(i) = existing(e)? {
            placements.push(Placement::Existing(i));
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
    Ok(BatchPlan {
        placements,
        fresh,
        old_size: size,
        new_hashes: app.new_hashes().to_vec(),
        first_new_hash: app.first_new_index(),
        new_size: app.size(),
        root,
    })
}

/// What an append did: the placements in input order, the new tree size
/// and its root.
pub type Appended = (Vec<Placement>, u64, Hash);

/// Signs the checkpoint of a tree (size, root): the note to store.
pub type Sign<'a> = dyn FnMut(u64, Hash) -> Result<Vec<u8>, StorageError> + 'a;

/// A log store: what `Log` needs from either backend.
pub trait Store: Send + Sync {
    /// Appends a batch in one durable transaction; returns the placements in
    /// input order, the new tree size and its root.
    fn append(&self, batch: &[NewEntry]) -> Result<(Vec<Placement>, u64, Hash), StorageError>;

    /// Stores the latest signed checkpoint note (of tree `size`), durably.
    /// A note for a smaller tree than the stored one is ignored.
    fn set_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StorageError>;

    /// Appends a batch and, when it grew the tree, the checkpoint `sign`
    /// makes of the new size and root, in one durable transaction: one
    /// commit per batch instead of two. (Only for a log without witnesses:
    /// a witnessed log must have its entries durable before a witness sees
    /// their checkpoint.) This default commits twice.
    fn append_signed(
        &self,
        batch: &[NewEntry],
        sign: &mut Sign<'_>,
    ) -> Result<Appended, StorageError> {
        let (placements, size, root) = self.append(batch)?;
        let note = sign(size, root)?;
        self.set_checkpoint(size, &note)?;
        Ok((placements, size, root))
    }

    /// A consistent read-only view of the whole log.
    fn snapshot(&self) -> Result<Snapshot, StorageError>;

    /// Why appends are refused, if they are.
    fn read_only_reason(&self) -> Option<String>;

    /// Called after a write failed with an I/O error, to get a usable handle.
    fn recover_after_write_failure(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// The local directory whose free space bounds appends, if any.
    fn local_dir(&self) -> Option<&Path> {
        None
    }

    /// Tries to become (or checks still being) the one instance that
    /// appends. A store only this process opens always sequences.
    fn try_sequence(&self) -> Result<bool, StorageError> {
        Ok(true)
    }

    /// Which instance sequences, as it named itself, if known.
    fn sequencer(&self) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    /// `redb` or `postgres`, for logs and `/healthz`.
    fn backend(&self) -> &'static str;
}

/// A backend's read transaction. Stored hashes are read through
/// [`HashReader`].
pub trait View: HashReader + Send {
    /// The number of entries committed.
    fn size(&self) -> Result<u64, StorageError>;
    /// The latest signed checkpoint note, if any.
    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError>;
    /// The latest checkpoint stored of exactly `size`, if one was.
    fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError>;
    /// Entries `start..end`, which must all exist.
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError>;
    /// The entries at `indices` (any order; each must exist), in that order.
    fn entries_at(&self, indices: &[u64]) -> Result<Vec<Vec<u8>>, StorageError>;
    /// See [`Snapshot::lookup`].
    fn lookup(&self, query: &LookupQuery) -> Result<LookupPage, StorageError>;
    /// The index of an entry with this leaf hash (about `subject`), if present.
    fn index_of_leaf(&self, subject: &Hash, leaf: &Hash) -> Result<Option<u64>, StorageError>;
}

/// A consistent read-only view of the log, whichever the backend.
pub struct Snapshot {
    view: Box<dyn View>,
}

impl Snapshot {
    pub fn new(view: Box<dyn View>) -> Snapshot {
        Snapshot { view }
    }

    /// The number of entries committed.
    pub fn size(&self) -> Result<u64, StorageError> {
        self.view.size()
    }

    /// The latest signed checkpoint note, if any.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.view.checkpoint()
    }

    /// The latest checkpoint note stored of exactly `size`, if one was.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.view.checkpoint_at(size)
    }

    /// Runs `f` with a hash reader over this snapshot.
    pub fn with_hashes<R>(
        &self,
        f: impl FnOnce(&dyn HashReader) -> Result<R, MerkleError>,
    ) -> Result<R, StorageError> {
        Ok(f(&*self.view)?)
    }

    /// The root of the tree of `size` in this snapshot.
    pub fn root(&self, size: u64) -> Result<Hash, StorageError> {
        self.with_hashes(|r| merkle::tree_hash(size, r))
    }

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

    /// Entry bytes at `index`.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.view.entries(index, index.saturating_add(1))?.pop())
    }

    /// The entries at `indices`, which must all exist, in that order.
    pub fn entries_at(&self, indices: &[u64]) -> Result<Vec<Vec<u8>>, StorageError> {
        let out = self.view.entries_at(indices)?;
        if out.len() != indices.len() {
            return Err(StorageError::Corrupt("an indexed entry is missing".into()));
        }
        Ok(out)
    }

    /// Inclusion proofs of `indices` in the tree of `size`, reading each
    /// shared node once.
    pub fn inclusion_proofs(
        &self,
        indices: &[u64],
        size: u64,
    ) -> Result<Vec<Vec<Hash>>, StorageError> {
        self.with_hashes(|r| {
            let cached = merkle::CachingReader::new(r);
            indices
                .iter()
                .map(|&i| merkle::inclusion_proof(i, size, &cached))
                .collect()
        })
    }

    /// Entries `start..end`, which must all exist.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let out = self.view.entries(start, end)?;
        if out.len() as u64 != end.saturating_sub(start) {
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

    /// One page of the entries `query` asks for, in log order. `total`
    /// counts every entry about its digest, `matched` those by its keys.
    pub fn lookup(&self, query: &LookupQuery) -> Result<LookupPage, StorageError> {
        self.view.lookup(query)
    }

    /// The index of an entry with this leaf hash (about `subject`), if present.
    pub fn index_of_leaf(&self, subject: &Hash, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        self.view.index_of_leaf(subject, leaf)
    }
}

/// Where a log keeps its entries: `serve --data DIR` alone, or with
/// `--database postgres://…`.
#[derive(Debug, Clone)]
pub enum Location {
    Redb(std::path::PathBuf),
    Postgres {
        url: String,
        /// A read replica this instance reads while it does not sequence.
        replica: Option<String>,
        /// How this instance names itself to the others (`/healthz`).
        instance: String,
        /// The log itself, or its index log.
        part: postgres::Part,
    },
}

/// Opens the store at `location`; `read_only` for a redb file serves reads
/// only.
pub fn open(location: &Location, read_only: bool) -> Result<Box<dyn Store>, StorageError> {
    Ok(match location {
        Location::Redb(path) if read_only => Box::new(RedbStore::open_read_only(path)?),
        Location::Redb(path) => Box::new(RedbStore::open(path)?),
        Location::Postgres {
            url,
            replica,
            instance,
            part,
        } => Box::new(postgres::PgStore::open(
            url,
            replica.as_deref(),
            instance.clone(),
            read_only,
            part.clone(),
        )?),
    })
}

/// Shared tests: run against any backend, so both pass the same ones.
#[cfg(test)]
pub(crate) mod conformance {
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

    /// Appends, deduplicates, pages lookups; `reopen` gives a fresh handle on
    /// the same storage.
    pub fn batches_append_dedup_and_survive_reopen(
        store: Box<dyn Store>,
        reopen: impl FnOnce(Box<dyn Store>) -> Box<dyn Store>,
    ) {
        let batch: Vec<NewEntry> = (0..10).map(entry).collect();
        let (p, size, _) = store.append(&batch).unwrap();
        assert_eq!(p[9], Placement::New(9));
        assert_eq!(size, 10);
        let again = vec![entry(3), entry(10), entry(10)];
        let (p, size, expected_root) = store.append(&again).unwrap();
        assert_eq!(
            p,
            vec![
                Placement::Existing(3),
                Placement::New(10),
                Placement::Existing(10)
            ]
        );
        store.set_checkpoint(10, b"ten, first").unwrap();
        store.set_checkpoint(11, b"eleven").unwrap();
        store.set_checkpoint(10, b"ten").unwrap();
        let store = reopen(store);
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.size().unwrap(), size);
        assert_eq!(snap.checkpoint().unwrap().unwrap(), b"eleven");
        // Every size's latest note is kept, an older one too.
        assert_eq!(snap.checkpoint_at(10).unwrap().unwrap(), b"ten");
        assert_eq!(snap.checkpoint_at(11).unwrap().unwrap(), b"eleven");
        assert_eq!(snap.checkpoint_at(9).unwrap(), None);
        // A batch and its checkpoint in one commit: the signer sees the new
        // tree; a batch that adds nothing signs nothing.
        let mut signed = Vec::new();
        let mut sign = |size: u64, root: Hash| -> Result<Vec<u8>, StorageError> {
            signed.push((size, root));
            Ok(format!("note {size}").into_bytes())
        };
        let (p, twelve, root12) = store.append_signed(&[entry(11)], &mut sign).unwrap();
        assert_eq!((p, twelve), (vec![Placement::New(11)], 12));
        store.append_signed(&[entry(11)], &mut sign).unwrap();
        assert_eq!(signed, vec![(12, root12)]);
        let later = store.snapshot().unwrap();
        assert_eq!(later.checkpoint().unwrap().unwrap(), b"note 12");
        assert_eq!(later.checkpoint_at(12).unwrap().unwrap(), b"note 12");
        assert_eq!(later.root(12).unwrap(), root12);
        let root = snap.root(size).unwrap();
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
            snap.lookup(&LookupQuery {
                digest: &Hash::of(&[1]),
                keys,
                size,
                cursor,
                limit,
            })
            .unwrap()
        };
        let all = page(&[], 0, 100);
        assert_eq!(
            (all.indices.clone(), all.total, all.next),
            (vec![1, 4, 7, 10], 4, None)
        );
        let first = page(&[], 0, 3);
        assert_eq!((first.indices, first.next), (vec![1, 4, 7], Some(10)));
        let rest = page(&[], 10, 3);
        assert_eq!((rest.indices, rest.next), (vec![10], None));
        // Entries 1 and 7 are key 1's, 4 and 10 key 0's.
        let by_key = page(&[[1; 32]], 0, 100);
        assert_eq!(
            (by_key.indices, by_key.total, by_key.matched),
            (vec![1, 7], 4, 2)
        );
        // A key named twice counts once; a cut page still counts every match.
        assert_eq!(page(&[[1; 32], [1; 32]], 0, 1).matched, 2);
        assert_eq!(all.matched, 4);
        assert_eq!(page(&[[0; 32], [1; 32]], 0, 100).indices, vec![1, 4, 7, 10]);
        assert_eq!(page(&[[9; 32]], 0, 100).indices, Vec::<u64>::new());
        // Under an older, smaller checkpoint only what it covers counts.
        let older = snap
            .lookup(&LookupQuery {
                digest: &Hash::of(&[1]),
                keys: &[],
                size: 5,
                cursor: 0,
                limit: 100,
            })
            .unwrap();
        assert_eq!((older.indices, older.total), (vec![1, 4], 2));
        assert_eq!(
            snap.entries(2, 4).unwrap(),
            vec![b"entry 2".to_vec(), b"entry 3".to_vec()]
        );
        assert_eq!(snap.entry(10).unwrap().unwrap(), b"entry 10");
        assert_eq!(snap.entry(11).unwrap(), None);
        assert_eq!(
            snap.index_of_leaf(&entry(7).subject, &entry(7).leaf)
                .unwrap(),
            Some(7)
        );
        assert_eq!(
            snap.index_of_leaf(&entry(70).subject, &entry(70).leaf)
                .unwrap(),
            None
        );
        assert!(snap.entries(10, 12).is_err());
        assert_eq!(
            snap.entries_at(&[7, 2, 7]).unwrap(),
            vec![
                b"entry 7".to_vec(),
                b"entry 2".to_vec(),
                b"entry 7".to_vec()
            ]
        );
        assert!(snap.entries_at(&[3, 11]).is_err());
        // A snapshot does not see later appends.
        store.append(&[entry(11)]).unwrap();
        assert_eq!(snap.size().unwrap(), 11);
        assert_eq!(store.snapshot().unwrap().size().unwrap(), 12);
    }
}
