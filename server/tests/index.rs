//! The verifiable index as served: every lookup carries the index log's
//! checkpoint, the last revision and a map proof per key asked, which
//! proto's verifier accepts; the lists are exactly the entries; a digest
//! with no entries is proven absent; the index survives a restart, and
//! `--no-index` serves lookups without it.

mod common;

use common::sumdb::{go_sumdbcheck, run_sumdbcheck};
use common::*;
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;

#[test]
fn lookups_prove_whole_lists_and_absence() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let ikey = index_key(dir.path());
    assert_eq!(ikey.name(), format!("{ORIGIN}/index"));
    let server = TestServer::start(dir.path(), &key, &[]);
    let (alice, bob) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
    );
    let digest = Hash::of(b"a binary");
    server.submit(&entry_for(&alice, "app", digest, true));
    server.submit(&entry_for(&bob, "other", Hash::of(b"another"), true));
    server.submit(&entry_for(&bob, "app", digest, false));
    server.submit(&entry_for(&alice, "app", digest, false));

    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[&alice, &bob]),
        vec![vec![0, 3], vec![2]]
    );
    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[]),
        vec![vec![0, 2, 3]]
    );
    // No entries: proven absent, for a key and for the digest.
    let nobody = Signer::generate("nobody.test").unwrap();
    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[&nobody]),
        vec![Vec::<u64>::new()]
    );
    assert_eq!(
        proven_lists(&server, &ikey, &Hash::of(b"unknown"), &[]),
        vec![Vec::<u64>::new()]
    );

    // The index log is a log: its checkpoint opens under its key, one
    // revision for the empty log at start and one per batch (four here).
    let (status, note) = server.get("/index/checkpoint");
    assert_eq!(status, 200);
    let cp = LogVerifier::new(ikey.clone()).open(&note).unwrap();
    assert_eq!(cp.size, 5);
    // Go's sumdb code reads it as it reads any log: signature, tiles, root,
    // every revision leaf.
    match go_sumdbcheck(&dir.path().join("go")) {
        Some(checker) => {
            let (ok, line) =
                run_sumdbcheck(&checker, &format!("{}/index", server.url), &ikey, None);
            assert!(ok, "{line}");
            assert!(
                line.contains("verified size 5") && line.contains("5 entries proven"),
                "{line}"
            );
        }
        None => eprintln!("no Go toolchain (scripts/toolchains.sh): the Go sumdb check is skipped"),
    }

    // After a restart the map is rebuilt and checked against the last
    // revision; the next entry makes a fifth.
    server.stop();
    let server = TestServer::start(dir.path(), &key, &[]);
    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[&alice]),
        vec![vec![0, 3]]
    );
    server.submit(&entry_for(&alice, "app-v2", digest, true));
    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[&alice]),
        vec![vec![0, 3, 4]]
    );
    server.stop();

    // Without the index, lookups answer as before, with no index part.
    let server = TestServer::start(dir.path(), &key, &["--no-index"]);
    assert!(index_lookup(&server, &digest, &[&alice]).index.is_none());
    let (status, _) = server.get("/index/checkpoint");
    assert_eq!(status, 404);
    server.stop();

    // Lists longer than --index-max-list are not proven: the digest's four
    // entries asked without keys come without the index part; alice's
    // three, or bob's one, with it.
    let server = TestServer::start(dir.path(), &key, &["--index-max-list", "3"]);
    assert!(index_lookup(&server, &digest, &[]).index.is_none());
    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[&alice]),
        vec![vec![0, 3, 4]]
    );
    assert_eq!(
        proven_lists(&server, &ikey, &digest, &[&bob]),
        vec![vec![2]]
    );
}

/// The same entries, submitted one at a time (a batch, so a revision, each)
/// to a log on redb and to one with the same keys on PostgreSQL: the two
/// index logs hold the same revisions, so their roots are equal at every
/// size (the index log's tree commits to every revision before it).
#[test]
fn redb_and_postgres_index_the_same_entries_alike() {
    let Ok(admin) = std::env::var("REPROLOG_TEST_POSTGRES") else {
        eprintln!("REPROLOG_TEST_POSTGRES unset (scripts/postgres.sh): skipped");
        return;
    };
    let db = reprolog_server::storage::postgres::recreate_database(
        &admin,
        &format!("index_equal_{}", std::process::id()),
    )
    .unwrap();
    let (on_redb, on_pg) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = init(on_redb.path());
    let ikey = index_key(on_redb.path());
    for file in ["log.key", "index.key"] {
        std::fs::copy(on_redb.path().join(file), on_pg.path().join(file)).unwrap();
    }
    // redb whatever backend the suite runs on; PostgreSQL named outright.
    let a = TestServer::start_on_redb(on_redb.path(), &key, &[]);
    let b = TestServer::start(on_pg.path(), &key, &["--database", &db]);
    let signers: Vec<Signer> = (0..3)
        .map(|i| Signer::generate(&format!("r{i}.test")).unwrap())
        .collect();
    let index_checkpoint = |server: &TestServer| {
        LogVerifier::new(ikey.clone())
            .open(&server.get("/index/checkpoint").1)
            .unwrap()
    };
    let mut compared = 0;
    for i in 0..12u32 {
        let signer = &signers[i as usize % 3];
        let digest = Hash::of(&[(i % 4) as u8]);
        let bytes = entry_for(signer, &format!("app{i}"), digest, i % 5 != 0);
        a.submit(&bytes);
        b.submit(&bytes);
        let (ca, cb) = (index_checkpoint(&a), index_checkpoint(&b));
        assert_eq!((ca.size, ca.root), (cb.size, cb.root), "after entry {i}");
        compared += 1;
    }
    assert_eq!(
        index_checkpoint(&a).size,
        13,
        "a revision at start and one per entry"
    );
    // And the answers agree list for list.
    for d in 0..4u8 {
        let digest = Hash::of(&[d]);
        let keys: Vec<&Signer> = signers.iter().collect();
        assert_eq!(
            proven_lists(&a, &ikey, &digest, &keys),
            proven_lists(&b, &ikey, &digest, &keys)
        );
    }
    eprintln!("{compared} index revisions equal on redb and PostgreSQL");
    a.stop();
    b.stop();
}
