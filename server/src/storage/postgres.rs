//! The shared backend: the log in PostgreSQL, for several `serve` processes.
//!
//! Tables (all prefixed `reprolog_`): `hashes` (stored hash index → hash),
//! `entries` (index, leaf, subject, key, bytes; unique leaf; indexes on
//! (subject, index) and (subject, key, index)), `subject_counts` and one
//! `meta` row (tree size, latest checkpoint and its size, which instance
//! sequences).
//!
//! One instance sequences: the one holding the session advisory lock
//! [`SEQUENCER_LOCK`]. It writes every batch and checkpoint on the very
//! connection that holds the lock, so an instance that lost its connection
//! (and with it the lock) cannot commit another write: the lock fences the
//! writes. When the holder dies, PostgreSQL ends its session, the lock frees,
//! and the next instance to try takes it ([`PgStore::try_sequence`]).
//!
//! The index log ([`Part::Index`]) has the same tables in the schema
//! [`INDEX_SCHEMA`] of the same database (its connections set
//! `search_path`), and its own lock, [`INDEX_LOCK`]. Its lock follows the
//! log's: an instance takes it only while it holds the log's, and lets it go
//! as soon as it no longer does, so the index log is written by the
//! instance that sequences the log, or by none.
//!
//! Reads run in `REPEATABLE READ READ ONLY` transactions on pooled
//! connections, each a consistent view like a redb read transaction. An
//! instance given a read replica reads there while it does not sequence:
//! its checkpoint then comes from the replica too, so what it serves is
//! always a consistent (if slightly older) state. The sequencer reads the
//! primary, where its own latest checkpoint is.

use super::pg_tls::{db, Target};
use super::{
    page_of, plan_batch, Appended, LookupPage, LookupQuery, NewEntry, Placement, Sign, Snapshot,
    StorageError, Store, View,
};
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use reprolog_proto::merkle::{CachingReader, HashReader, MerkleError};
use reprolog_proto::Hash;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The advisory lock whose holder sequences ("reprolog" in ASCII).
pub const SEQUENCER_LOCK: i64 = 0x7265_7072_6f6c_6f67;
/// Held while creating the schema, so instances starting together do not race.
const SCHEMA_LOCK: i64 = SEQUENCER_LOCK + 1;
/// The advisory lock whose holder writes the index log.
pub const INDEX_LOCK: i64 = SEQUENCER_LOCK + 2;
/// The schema holding the index log's tables.
pub const INDEX_SCHEMA: &str = "reprolog_index";

/// Which of a database's two logs a store holds.
#[derive(Debug, Clone)]
pub enum Part {
    /// The log: its tables where the URL's `search_path` puts them,
    /// sequenced by the holder of [`SEQUENCER_LOCK`].
    Log,
    /// The log's index log: its tables in [`INDEX_SCHEMA`], written by the
    /// holder of [`INDEX_LOCK`], which takes it only while `leader` (the
    /// log's "this instance sequences") is set.
    Index { leader: Arc<AtomicBool> },
}

impl Part {
    fn lock(&self) -> i64 {
        match self {
            Part::Log => SEQUENCER_LOCK,
            Part::Index { .. } => INDEX_LOCK,
        }
    }

    /// Whether this instance may hold the part's lock now.
    fn may_sequence(&self) -> bool {
        match self {
            Part::Log => true,
            Part::Index { leader } => leader.load(SeqCst),
        }
    }

    /// `target` with its connections in the part's schema.
    fn target(&self, target: Target) -> Target {
        match self {
            Part::Log => target,
            Part::Index { .. } => target.in_schema(INDEX_SCHEMA),
        }
    }

    /// SQL creating the part's schema, run before the tables.
    fn create_schema(&self) -> String {
        match self {
            Part::Log => String::new(),
            Part::Index { .. } => format!("CREATE SCHEMA IF NOT EXISTS {INDEX_SCHEMA};"),
        }
    }
}
/// Read connections one instance keeps open at most.
const POOL_SIZE: usize = 16;
/// How long a read waits for a pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reprolog_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size bigint NOT NULL,
    checkpoint bytea,
    checkpoint_size bigint NOT NULL DEFAULT 0,
    sequencer text,
    sequencer_since timestamptz
);
INSERT INTO reprolog_meta (size) VALUES (0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS reprolog_hashes (
    idx bigint PRIMARY KEY,
    hash bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS reprolog_entries (
    idx bigint PRIMARY KEY,
    leaf bytea NOT NULL UNIQUE,
    subject bytea NOT NULL,
    key bytea NOT NULL,
    bytes bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS reprolog_entries_subject ON reprolog_entries (subject, idx);
CREATE INDEX IF NOT EXISTS reprolog_entries_subject_key ON reprolog_entries (subject, key, idx);
CREATE TABLE IF NOT EXISTS reprolog_subject_counts (
    subject bytea PRIMARY KEY,
    n bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS reprolog_checkpoints (
    size bigint PRIMARY KEY,
    note bytea NOT NULL
);
";

/// Opens one connection to the database a URL names (see [`Target`] for the
/// URL's TLS options).
pub fn connect(url: &str) -> Result<Client, StorageError> {
    Target::parse(url)?.connect()
}

/// How long a read replica may take to show the schema just created on the
/// primary (a new database streams there within moments).
const REPLICA_SCHEMA_WAIT: Duration = Duration::from_secs(30);

/// Waits until the replica holds the log's tables, which a new database
/// gets only once the primary's schema has streamed there.
fn await_schema(replica: &Arc<Pool>) -> Result<(), StorageError> {
    let deadline = std::time::Instant::now() + REPLICA_SCHEMA_WAIT;
    loop {
        let mut c = replica.get()?;
        let rows = c
            .conn()?
            .query("SELECT to_regclass('reprolog_meta') IS NOT NULL", &[])?;
        let present: bool = match rows.first() {
            Some(row) => col(row, 0)?,
            None => false,
        };
        if present {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(StorageError::Db(format!(
                "the read replica has no reprolog tables after {} s: is it a replica of this database?",
                REPLICA_SCHEMA_WAIT.as_secs()
            )));
        }
        drop(c);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection with its prepared statements.
struct Conn {
    /// Always `Some` until dropped.
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
}

impl Drop for Conn {
    /// `postgres::Client` says goodbye to the server by running its own
    /// runtime, which panics on a thread that drives tokio tasks (the last
    /// handle on the log may go there at shutdown). Such a thread hands the
    /// client to a thread of its own.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let Some(client) = self.client.take() else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("pg-close".into())
            .spawn(move || drop(client));
    }
}

impl Conn {
    fn connect(target: &Target) -> Result<Conn, StorageError> {
        Ok(Conn {
            client: Some(target.connect()?),
            statements: HashMap::new(),
        })
    }

    fn client(&mut self) -> Result<&mut Client, StorageError> {
        self.client.as_mut().ok_or(StorageError::Closed)
    }

    fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, StorageError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client()?.prepare(sql).map_err(db)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StorageError> {
        let s = self.statement(sql)?;
        self.client()?.query(&s, params).map_err(db)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StorageError> {
        let s = self.statement(sql)?;
        self.client()?.execute(&s, params).map_err(db)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StorageError> {
        self.client()?.batch_execute(sql).map_err(db)
    }
}

/// Read connections, opened on demand up to [`POOL_SIZE`].
struct Pool {
    target: Target,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl Pool {
    fn new(target: Target) -> Arc<Pool> {
        Arc::new(Pool {
            target,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A poisoned lock only means a panic elsewhere; the counts are whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(self: &Arc<Pool>) -> Result<Pooled, StorageError> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled::new(self, conn));
            }
            if state.open < POOL_SIZE {
                state.open += 1;
                drop(state);
                return match Conn::connect(&self.target) {
                    Ok(conn) => Ok(Pooled::new(self, conn)),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let (s, timeout) = self
                .freed
                .wait_timeout(state, POOL_WAIT)
                .unwrap_or_else(|e| e.into_inner());
            state = s;
            if timeout.timed_out() && state.idle.is_empty() && state.open >= POOL_SIZE {
                return Err(StorageError::Db(format!(
                    "no database connection free after {} s",
                    POOL_WAIT.as_secs()
                )));
            }
        }
    }
}

/// A pooled connection, returned on drop unless it broke.
struct Pooled {
    pool: Arc<Pool>,
    conn: Option<Conn>,
}

impl Pooled {
    fn new(pool: &Arc<Pool>, conn: Conn) -> Pooled {
        Pooled {
            pool: pool.clone(),
            conn: Some(conn),
        }
    }

    fn conn(&mut self) -> Result<&mut Conn, StorageError> {
        self.conn.as_mut().ok_or(StorageError::Closed)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        match self.conn.take() {
            Some(conn) if !conn.is_closed() => state.idle.push(conn),
            _ => state.open -= 1,
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

/// The log's tables in one PostgreSQL database.
pub struct PgStore {
    primary: Arc<Pool>,
    /// A read replica of `primary`, read while this instance does not sequence.
    replica: Option<Arc<Pool>>,
    /// The connection holding [`SEQUENCER_LOCK`], while this instance holds it.
    writer: Mutex<Option<Conn>>,
    /// Whether `writer` holds a connection (readable without waiting for a
    /// batch to commit).
    sequencing: AtomicBool,
    /// This instance's name, written to `meta` when it takes the lock.
    instance: String,
    read_only: bool,
    part: Part,
}

impl PgStore {
    /// Connects to the primary at `url` (and a read replica at `replica`),
    /// creating the tables if they are missing (unless `read_only`: then this
    /// instance never sequences).
    pub fn open(
        url: &str,
        replica: Option<&str>,
        instance: String,
        read_only: bool,
        part: Part,
    ) -> Result<PgStore, StorageError> {
        let primary = Pool::new(part.target(Target::parse(url)?));
        let replica = match replica {
            Some(r) => Some(Pool::new(part.target(Target::parse(r)?))),
            None => None,
        };
        if !read_only {
            let mut c = primary.get()?;
            let conn = c.conn()?;
            conn.batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {} {SCHEMA} COMMIT;",
                part.create_schema()
            ))?;
        }
        if let Some(replica) = &replica {
            await_schema(replica)?;
        }
        Ok(PgStore {
            primary,
            replica,
            writer: Mutex::new(None),
            sequencing: AtomicBool::new(false),
            instance,
            read_only,
            part,
        })
    }

    fn writer(&self) -> MutexGuard<'_, Option<Conn>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `write` on the lock-holding connection; a connection that broke
    /// on the way is dropped, and with it the claim to sequence.
    fn on_writer<R>(
        &self,
        write: impl FnOnce(&mut Conn) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        if let Some(why) = self.read_only_reason() {
            return Err(StorageError::ReadOnly(why));
        }
        let mut writer = self.writer();
        let Some(conn) = writer.as_mut() else {
            drop(writer);
            return Err(StorageError::NotSequencer(self.sequencer_name()));
        };
        let result = write(conn);
        if conn.is_closed() {
            tracing::error!("lost the database connection holding the sequencer lock");
            self.set_writer(&mut writer, None);
        }
        result
    }

    fn set_writer(&self, writer: &mut MutexGuard<'_, Option<Conn>>, conn: Option<Conn>) {
        self.sequencing.store(conn.is_some(), SeqCst);
        **writer = conn;
    }

    fn sequencer_name(&self) -> String {
        match self.sequencer() {
            Ok(Some(name)) => name,
            Ok(None) => "no instance".into(),
            Err(e) => format!("an unknown instance ({e})"),
        }
    }

    /// Runs `f` in a transaction on `conn`, rolling back on error.
    fn transaction<R>(
        conn: &mut Conn,
        f: impl FnOnce(&mut Conn) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        conn.batch("BEGIN")?;
        match f(conn) {
            Ok(r) => {
                conn.batch("COMMIT")?;
                Ok(r)
            }
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// Column `i` of `row`: an error, not a panic, if the database holds
/// something other than the schema says.
fn col<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StorageError> {
    row.try_get(i)
        .map_err(|e| StorageError::Corrupt(format!("column {i}: {e}")))
}

fn to_i64(n: u64) -> Result<i64, StorageError> {
    i64::try_from(n).map_err(|_| StorageError::Corrupt(format!("{n} exceeds bigint")))
}

fn to_u64(n: i64) -> Result<u64, StorageError> {
    u64::try_from(n).map_err(|_| StorageError::Corrupt(format!("negative number {n} stored")))
}

fn to_hash(bytes: &[u8]) -> Result<Hash, StorageError> {
    Ok(Hash(bytes.try_into().map_err(|_| {
        StorageError::Corrupt(format!("a stored hash has {} bytes", bytes.len()))
    })?))
}

/// Stored hashes `indexes`, in that order, through `conn`.
fn read_hashes(conn: &mut Conn, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
    let wanted = indexes
        .iter()
        .map(|&i| to_i64(i))
        .collect::<Result<Vec<i64>, _>>()?;
    let rows = conn.query(
        "SELECT idx, hash FROM reprolog_hashes WHERE idx = ANY($1)",
        &[&wanted],
    )?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        found.insert(col::<i64>(&row, 0)?, to_hash(col(&row, 1)?)?);
    }
    wanted
        .iter()
        .map(|i| {
            found
                .get(i)
                .copied()
                .ok_or_else(|| StorageError::Corrupt(format!("stored hash {i} missing")))
        })
        .collect()
}

/// Hashes read inside the writer's transaction.
struct TxnHashes<'c>(RefCell<&'c mut Conn>);

impl HashReader for TxnHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        read_hashes(&mut self.0.borrow_mut(), indexes)
            .map_err(|e| MerkleError::Storage(e.to_string()))
    }
}

/// One batch in the writer's transaction: the size row locked, the plan
/// made, every table written with one statement each.
fn append_in(
    conn: &mut Conn,
    batch: &[NewEntry],
) -> Result<(Vec<Placement>, u64, Hash), StorageError> {
    let meta = conn.query("SELECT size FROM reprolog_meta FOR UPDATE", &[])?;
    let row = meta
        .first()
        .ok_or_else(|| StorageError::Corrupt("no meta row".into()))?;
    let size = to_u64(col(row, 0)?)?;
    let leaves: Vec<&[u8]> = batch.iter().map(|e| e.leaf.0.as_slice()).collect();
    let mut existing = HashMap::new();
    for row in conn.query(
        "SELECT leaf, idx FROM reprolog_entries WHERE leaf = ANY($1)",
        &[&leaves],
    )? {
        existing.insert(to_hash(col(&row, 0)?)?, to_u64(col(&row, 1)?)?);
    }
    let plan = {
        let hashes = TxnHashes(RefCell::new(conn));
        let cached = CachingReader::new(&hashes);
        plan_batch(batch, size, &cached, &mut |e| {
            Ok(existing.get(&e.leaf).copied())
        })?
    };
    if !plan.fresh.is_empty() {
        let first = to_i64(plan.first_new_hash)?;
        let hash_idx: Vec<i64> = (0..plan.new_hashes.len() as i64)
            .map(|k| first + k)
            .collect();
        let hash_bytes: Vec<&[u8]> = plan.new_hashes.iter().map(|h| h.0.as_slice()).collect();
        conn.execute(
            "INSERT INTO reprolog_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&hash_idx, &hash_bytes],
        )?;
        let base = to_i64(size)?;
        let idx: Vec<i64> = (0..plan.fresh.len() as i64).map(|k| base + k).collect();
        let leaf: Vec<&[u8]> = plan.fresh.iter().map(|e| e.leaf.0.as_slice()).collect();
        let subject: Vec<&[u8]> = plan.fresh.iter().map(|e| e.subject.0.as_slice()).collect();
        let key: Vec<&[u8]> = plan.fresh.iter().map(|e| e.key.as_slice()).collect();
        let bytes: Vec<&[u8]> = plan.fresh.iter().map(|e| e.bytes.as_slice()).collect();
        conn.execute(
            "INSERT INTO reprolog_entries (idx, leaf, subject, key, bytes) \
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[])",
            &[&idx, &leaf, &subject, &key, &bytes],
        )?;
        conn.execute(
            "INSERT INTO reprolog_subject_counts (subject, n) \
             SELECT s, count(*) FROM unnest($1::bytea[]) AS t(s) GROUP BY s \
             ON CONFLICT (subject) DO UPDATE SET n = reprolog_subject_counts.n + EXCLUDED.n",
            &[&subject],
        )?;
        conn.execute(
            "UPDATE reprolog_meta SET size = $1",
            &[&to_i64(plan.new_size)?],
        )?;
    }
    Ok((plan.placements, plan.new_size, plan.root))
}

/// Stores `note` (of tree `size`) as the latest checkpoint unless a larger
/// one is, and as the checkpoint of its size.
fn store_checkpoint(conn: &mut Conn, size: u64, note: &[u8]) -> Result<(), StorageError> {
    let size = to_i64(size)?;
    conn.execute(
        "UPDATE reprolog_meta SET checkpoint = $1, checkpoint_size = $2 \
         WHERE checkpoint_size <= $2",
        &[&note, &size],
    )?;
    conn.execute(
        "INSERT INTO reprolog_checkpoints (size, note) VALUES ($1, $2) \
         ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note",
        &[&size, &note],
    )
    .map(drop)
}

impl Store for PgStore {
    /// One transaction on the lock-holding connection, committed with
    /// PostgreSQL's durability (`synchronous_commit`, on by default).
    fn append(&self, batch: &[NewEntry]) -> Result<(Vec<Placement>, u64, Hash), StorageError> {
        self.on_writer(|conn| PgStore::transaction(conn, |conn| append_in(conn, batch)))
    }

    fn append_signed(
        &self,
        batch: &[NewEntry],
        sign: &mut Sign<'_>,
    ) -> Result<Appended, StorageError> {
        self.on_writer(|conn| {
            PgStore::transaction(conn, |conn| {
                let (placements, size, root) = append_in(conn, batch)?;
                if placements.iter().any(|p| matches!(p, Placement::New(_))) {
                    store_checkpoint(conn, size, &sign(size, root)?)?;
                }
                Ok((placements, size, root))
            })
        })
    }

    fn set_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StorageError> {
        self.on_writer(|conn| PgStore::transaction(conn, |conn| store_checkpoint(conn, size, note)))
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        let pool = match &self.replica {
            Some(replica) if !self.sequencing.load(SeqCst) => replica,
            _ => &self.primary,
        };
        let mut pooled = pool.get()?;
        pooled
            .conn()?
            .batch("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        Ok(Snapshot::new(Box::new(PgView {
            conn: Mutex::new(pooled),
        })))
    }

    fn read_only_reason(&self) -> Option<String> {
        self.read_only
            .then(|| "started with --read-only".to_string())
    }

    /// Keeps the lock while its connection answers; otherwise tries to take
    /// it. The taker writes its name into `meta` for `/healthz`.
    fn try_sequence(&self) -> Result<bool, StorageError> {
        if self.read_only {
            return Ok(false);
        }
        let mut writer = self.writer();
        if !self.part.may_sequence() {
            if writer.is_some() {
                // Closing the connection frees the lock.
                tracing::info!(instance = self.instance, "let the index log's lock go");
                self.set_writer(&mut writer, None);
            }
            return Ok(false);
        }
        if let Some(conn) = writer.as_mut() {
            let alive = conn
                .client()
                .is_ok_and(|c| c.is_valid(Duration::from_secs(2)).is_ok());
            if alive {
                return Ok(true);
            }
            tracing::error!("the connection holding the sequencer lock stopped answering");
            self.set_writer(&mut writer, None);
        }
        let mut conn = Conn::connect(&self.primary.target)?;
        let got: bool = conn
            .query("SELECT pg_try_advisory_lock($1)", &[&self.part.lock()])?
            .first()
            .map(|r| col(r, 0))
            .transpose()?
            .unwrap_or(false);
        if !got {
            return Ok(false);
        }
        conn.execute(
            "UPDATE reprolog_meta SET sequencer = $1, sequencer_since = now()",
            &[&self.instance],
        )?;
        tracing::info!(
            instance = self.instance,
            lock = self.part.lock(),
            "took the sequencer lock"
        );
        self.set_writer(&mut writer, Some(conn));
        Ok(true)
    }

    /// Asked of the primary: a replica's `pg_locks` shows its own locks.
    fn sequencer(&self) -> Result<Option<String>, StorageError> {
        let mut pooled = self.primary.get()?;
        let rows = pooled.conn()?.query(
            "SELECT m.sequencer FROM reprolog_meta m \
             WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND ((l.classid::bigint << 32) | l.objid::bigint) = $1)",
            &[&self.part.lock()],
        )?;
        Ok(rows
            .first()
            .map(|r| col::<Option<String>>(r, 0))
            .transpose()?
            .flatten())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// A `REPEATABLE READ, READ ONLY` transaction on a pooled connection.
struct PgView {
    conn: Mutex<Pooled>,
}

impl PgView {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut pooled = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(pooled.conn()?)
    }

    fn one_u64(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<u64>, StorageError> {
        self.with(|c| {
            c.query(sql, params)?
                .first()
                .map(|r| to_u64(col(r, 0)?))
                .transpose()
        })
    }
}

impl Drop for PgView {
    fn drop(&mut self) {
        let pooled = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(conn) = pooled.conn.as_mut() {
            if conn.batch("ROLLBACK").is_err() {
                // Not returned to the pool in an unknown state.
                pooled.conn = None;
            }
        }
    }
}

impl HashReader for PgView {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.with(|c| read_hashes(c, indexes))
            .map_err(|e| MerkleError::Storage(e.to_string()))
    }
}

impl View for PgView {
    fn size(&self) -> Result<u64, StorageError> {
        Ok(self
            .one_u64("SELECT size FROM reprolog_meta", &[])?
            .unwrap_or(0))
    }

    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.with(|c| {
            Ok(c.query("SELECT checkpoint FROM reprolog_meta", &[])?
                .first()
                .map(|r| col::<Option<Vec<u8>>>(r, 0))
                .transpose()?
                .flatten())
        })
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let size = to_i64(size)?;
        self.with(|c| {
            c.query(
                "SELECT note FROM reprolog_checkpoints WHERE size = $1",
                &[&size],
            )?
            .first()
            .map(|r| col::<Vec<u8>>(r, 0))
            .transpose()
        })
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let (start, end) = (to_i64(start)?, to_i64(end)?);
        self.with(|c| {
            c.query(
                "SELECT bytes FROM reprolog_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&start, &end],
            )?
            .iter()
            .map(|r| col::<Vec<u8>>(r, 0))
            .collect()
        })
    }

    fn entries_at(&self, indices: &[u64]) -> Result<Vec<Vec<u8>>, StorageError> {
        let wanted = indices
            .iter()
            .map(|&i| to_i64(i))
            .collect::<Result<Vec<i64>, _>>()?;
        let rows = self.with(|c| {
            c.query(
                "SELECT idx, bytes FROM reprolog_entries WHERE idx = ANY($1)",
                &[&wanted],
            )
        })?;
        let found: HashMap<i64, Vec<u8>> = rows
            .iter()
            .map(|r| Ok((col::<i64>(r, 0)?, col::<Vec<u8>>(r, 1)?)))
            .collect::<Result<_, StorageError>>()?;
        wanted
            .iter()
            .map(|i| {
                found
                    .get(i)
                    .cloned()
                    .ok_or_else(|| StorageError::Corrupt(format!("entry {i} missing")))
            })
            .collect()
    }

    fn lookup(&self, query: &LookupQuery) -> Result<LookupPage, StorageError> {
        let LookupQuery {
            digest,
            keys,
            size,
            cursor,
            limit,
        } = *query;
        let subject = digest.0.as_slice();
        let (size, start) = (to_i64(size)?, to_i64(cursor.min(size))?);
        let take = to_i64(limit as u64 + 1)?;
        // Stored count, less the entries committed past the checkpoint's size.
        let stored = self
            .one_u64(
                "SELECT n FROM reprolog_subject_counts WHERE subject = $1",
                &[&subject],
            )?
            .unwrap_or(0);
        let beyond = self
            .one_u64(
                "SELECT count(*) FROM reprolog_entries WHERE subject = $1 AND idx >= $2",
                &[&subject, &size],
            )?
            .unwrap_or(0);
        let rows = if keys.is_empty() {
            self.with(|c| {
                c.query(
                    "SELECT idx FROM reprolog_entries WHERE subject = $1 AND idx >= $2 \
                     AND idx < $3 ORDER BY idx LIMIT $4",
                    &[&subject, &start, &size, &take],
                )
            })?
        } else {
            let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
            self.with(|c| {
                c.query(
                    "SELECT idx FROM reprolog_entries WHERE subject = $1 AND key = ANY($2) \
                     AND idx >= $3 AND idx < $4 ORDER BY idx LIMIT $5",
                    &[&subject, &keys, &start, &size, &take],
                )
            })?
        };
        let found = rows
            .iter()
            .map(|r| to_u64(col(r, 0)?))
            .collect::<Result<Vec<u64>, _>>()?;
        let total = stored.saturating_sub(beyond);
        let matched = if keys.is_empty() {
            total
        } else {
            let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
            self.one_u64(
                "SELECT count(*) FROM reprolog_entries WHERE subject = $1 AND key = ANY($2) \
                 AND idx < $3",
                &[&subject, &keys, &size],
            )?
            .unwrap_or(0)
        };
        Ok(page_of(found, total, matched, limit))
    }

    /// The leaf is unique in the table; the subject is not needed.
    fn index_of_leaf(&self, _subject: &Hash, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        self.one_u64(
            "SELECT idx FROM reprolog_entries WHERE leaf = $1",
            &[&leaf.0.as_slice()],
        )
    }
}

/// Drops and creates the database `name` through the admin URL `admin`
/// (a URL ending in `/<database>`); returns the new database's URL. For
/// tests and benchmarks: `name` is put into SQL as it is.
pub fn recreate_database(admin: &str, name: &str) -> Result<String, StorageError> {
    admin_command(
        admin,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )?;
    create_database(admin, name)
}

/// Creates the database `name` unless it exists; returns its URL. See
/// [`recreate_database`].
pub fn create_database(admin: &str, name: &str) -> Result<String, StorageError> {
    match admin_command(admin, &format!("CREATE DATABASE \"{name}\"")) {
        Err(StorageError::Db(m)) if m.contains("42P04") => {}
        other => other?,
    }
    let (base, _) = admin
        .rsplit_once('/')
        .ok_or_else(|| StorageError::Db(format!("{admin} names no database")))?;
    Ok(format!("{base}/{name}"))
}

fn admin_command(admin: &str, sql: &str) -> Result<(), StorageError> {
    let mut client = connect(admin)?;
    client.batch_execute(sql).map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database on the test server named by `REPROLOG_TEST_POSTGRES`,
    /// or `None` when the variable is unset (scripts/test.sh sets it).
    pub fn fresh_database(name: &str) -> Option<String> {
        let admin = std::env::var("REPROLOG_TEST_POSTGRES").ok()?;
        let db = format!("unit_{name}_{}", std::process::id());
        Some(recreate_database(&admin, &db).unwrap())
    }

    #[test]
    fn batches_append_dedup_and_survive_reopen() {
        let Some(url) = fresh_database("conformance") else {
            eprintln!("REPROLOG_TEST_POSTGRES unset: skipped");
            return;
        };
        let open = |url: &str| {
            let store = PgStore::open(url, None, "unit".into(), false, Part::Log).unwrap();
            assert!(store.try_sequence().unwrap());
            Box::new(store) as Box<dyn Store>
        };
        let store = open(&url);
        crate::storage::conformance::batches_append_dedup_and_survive_reopen(store, |old| {
            drop(old);
            open(&url)
        });
    }

    #[test]
    fn one_instance_sequences_and_the_other_takes_over() {
        let Some(url) = fresh_database("takeover") else {
            eprintln!("REPROLOG_TEST_POSTGRES unset: skipped");
            return;
        };
        let a = PgStore::open(&url, None, "a".into(), false, Part::Log).unwrap();
        let b = PgStore::open(&url, None, "b".into(), false, Part::Log).unwrap();
        assert!(a.try_sequence().unwrap());
        assert!(!b.try_sequence().unwrap());
        assert_eq!(b.sequencer().unwrap().as_deref(), Some("a"));
        let entry = |s: &str| NewEntry {
            bytes: s.as_bytes().to_vec(),
            leaf: Hash::leaf(s.as_bytes()),
            subject: Hash::of(b"x"),
            key: [0; 32],
        };
        let err = b.append(&[entry("by b")]).unwrap_err();
        assert_eq!(err.to_string(), "this instance serves reads; a sequences");
        a.append(&[entry("by a")]).unwrap();
        drop(a);
        // The server ends a's session, and so frees its lock, after the
        // connection closes, not when drop returns: wait for it, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !b.try_sequence().unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "b never took over after a closed"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(b.sequencer().unwrap().as_deref(), Some("b"));
        let (p, size, _) = b.append(&[entry("by a"), entry("by b")]).unwrap();
        assert_eq!(
            (p, size),
            (vec![Placement::Existing(0), Placement::New(1)], 2)
        );
    }
}
