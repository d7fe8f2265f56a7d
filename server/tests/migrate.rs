//! `reprolog-server migrate`: a redb log moved into PostgreSQL keeps its
//! root, its checkpoint and its lookups, and its index log its history; an
//! interrupted or repeated migration
//! resumes; a database holding another log is refused.
//!
//! Needs `REPROLOG_TEST_POSTGRES` (scripts/postgres.sh); skipped without it.

mod common;

use common::{entry_for, index_key, init, proven_lists, TestServer, BIN};
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::wire::LookupResponse;
use reprolog_proto::Hash;
use reprolog_server::log::{Log, LogOptions};
use reprolog_server::serve::{load_key, DB_FILE};
use reprolog_server::storage::{LookupQuery, NewEntry};
use std::path::Path;
use std::process::Command;

/// Appends `n` entries (three per subject) to the redb log in `data`.
fn grow_redb(data: &Path, from: u32, n: u32) {
    let log = Log::open(
        &data.join(DB_FILE),
        load_key(data).unwrap(),
        LogOptions::default(),
    )
    .unwrap();
    let signer = Signer::generate("rebuilder").unwrap();
    let batch: Vec<NewEntry> = (from..from + n)
        .map(|i| {
            let subject = Hash::of(&(i / 3).to_be_bytes());
            let bytes = entry_for(&signer, &format!("p{i}"), subject, i % 5 != 0);
            NewEntry {
                leaf: Hash::leaf(&bytes),
                subject,
                key: Entry::from_cbor(&bytes).unwrap().key,
                bytes,
            }
        })
        .collect();
    for chunk in batch.chunks(500) {
        log.append(chunk).unwrap();
    }
}

fn migrate(data: &Path, url: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["migrate", "--from"])
        .arg(data)
        .args(["--to", url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    reprolog_testkit::process::outcome(&out)
}

#[test]
fn a_redb_log_moves_to_postgres_with_its_root() {
    let Ok(admin) = std::env::var("REPROLOG_TEST_POSTGRES") else {
        eprintln!("REPROLOG_TEST_POSTGRES unset (scripts/postgres.sh): skipped");
        return;
    };
    let pid = std::process::id();
    let url =
        reprolog_server::storage::postgres::recreate_database(&admin, &format!("migrate_{pid}"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    grow_redb(dir.path(), 0, 2500);
    // What the redb log says, read in-process (a test server would use the
    // backend under test).
    let digest = Hash::of(&7u32.to_be_bytes());
    let (before, indices_before) = {
        let log = Log::open(
            &dir.path().join(DB_FILE),
            load_key(dir.path()).unwrap(),
            LogOptions::default(),
        )
        .unwrap();
        let cp = log.latest().checkpoint.clone();
        let snap = log.snapshot().unwrap();
        let page = snap
            .lookup(&LookupQuery {
                digest: &digest,
                keys: &[],
                size: cp.size,
                cursor: 0,
                limit: 100,
            })
            .unwrap();
        let found: Vec<(u64, Vec<u8>)> = page
            .indices
            .iter()
            .map(|&i| (i, snap.entry(i).unwrap().unwrap()))
            .collect();
        (cp, found)
    };
    assert_eq!(indices_before.len(), 3);
    // Served once from redb, the log gets its index log (one revision).
    let ikey = index_key(dir.path());
    let on_redb = TestServer::start_on_redb(dir.path(), &key, &[]);
    let index_before = LogVerifier::new(ikey.clone())
        .open(&on_redb.get("/index/checkpoint").1)
        .unwrap();
    assert_eq!(index_before.size, 1);
    on_redb.stop();

    let (ok, out) = migrate(dir.path(), &url);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        format!(
            "migrated 2500 entries (log size 2500); root {} is the same in redb and PostgreSQL\n\
             index log: migrated 1 entries (log size 1); root {} is the same in redb and PostgreSQL",
            before.root, index_before.root
        )
    );
    // Repeated: nothing left to copy.
    let (ok, out) = migrate(dir.path(), &url);
    assert!(
        ok && out.starts_with("migrated 0 entries (log size 2500)"),
        "{out}"
    );
    // The redb log grew meanwhile: the rest is copied.
    grow_redb(dir.path(), 2500, 40);
    let (ok, out) = migrate(dir.path(), &url);
    assert!(
        ok && out.starts_with("migrated 40 entries (log size 2540)"),
        "{out}"
    );

    // Served from PostgreSQL: the same checkpoint, proofs and lookups.
    let pg = TestServer::start(dir.path(), &key, &["--database", &url]);
    let cp = pg.checkpoint();
    assert_eq!(cp.size, 2540);
    let (status, body) = pg.get(&format!(
        "/proof/consistency?old={}&new={}",
        before.size, cp.size
    ));
    assert_eq!(status, 200);
    let p: reprolog_proto::wire::ConsistencyProof = serde_json::from_slice(&body).unwrap();
    reprolog_proto::merkle::verify_consistency(
        before.size,
        cp.size,
        &before.root,
        &cp.root,
        &p.proof,
    )
    .unwrap();
    let (_, body) = pg.get(&format!("/lookup/{}", digest.to_hex()));
    let after: LookupResponse = serde_json::from_slice(&body).unwrap();
    after
        .verify(&reprolog_proto::checkpoint::LogVerifier::new(key.clone()))
        .unwrap();
    let found: Vec<(u64, Vec<u8>)> = after
        .entries
        .iter()
        .map(|e| (e.index, e.entry.clone()))
        .collect();
    assert_eq!(found, indices_before);
    // The index log moved with its history: the PostgreSQL instance goes
    // on from redb's revision, and proves the digest's list.
    let index_after = LogVerifier::new(ikey.clone())
        .open(&pg.get("/index/checkpoint").1)
        .unwrap();
    assert_eq!(
        index_after.size, 2,
        "redb's revision, then one of size 2540"
    );
    let (status, body) = pg.get("/index/proof/consistency?old=1&new=2");
    assert_eq!(status, 200);
    let p: reprolog_proto::wire::ConsistencyProof = serde_json::from_slice(&body).unwrap();
    reprolog_proto::merkle::verify_consistency(
        1,
        2,
        &index_before.root,
        &index_after.root,
        &p.proof,
    )
    .unwrap();
    let listed: Vec<u64> = indices_before.iter().map(|(i, _)| *i).collect();
    assert_eq!(proven_lists(&pg, &ikey, &digest, &[]), vec![listed]);
    pg.stop();

    // A data dir without a log, an unreachable database: one line each.
    let empty = tempfile::tempdir().unwrap();
    init(empty.path());
    let (ok, out) = migrate(empty.path(), &url);
    assert!(!ok && out.contains("no redb log at"), "{out}");
    let (ok, out) = migrate(dir.path(), "postgres://reprolog@127.0.0.1:1/none");
    assert!(!ok, "{out}");
    assert!(out.contains("Connection refused"), "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");

    // Another log's database is refused, and left as it was.
    let other = tempfile::tempdir().unwrap();
    init(other.path());
    grow_redb(other.path(), 100, 10);
    let (ok, out) = migrate(other.path(), &url);
    assert!(!ok);
    assert!(
        out.contains("the database holds 2540 entries, more than the 10"),
        "{out}"
    );
    let other_big = tempfile::tempdir().unwrap();
    init(other_big.path());
    grow_redb(other_big.path(), 9000, 2600);
    let (ok, out) = migrate(other_big.path(), &url);
    assert!(!ok);
    assert!(out.contains("the database holds a different log"), "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    let pg = TestServer::start(dir.path(), &key, &["--database", &url]);
    assert_eq!(pg.checkpoint().size, 2540);
    pg.stop();
}
