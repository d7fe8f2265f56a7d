//! Two `serve` instances on one PostgreSQL database: one sequences, the other
//! serves reads; the sequencer is killed with SIGKILL under load and the
//! other takes over. Nothing acknowledged is lost and every checkpoint either
//! instance served is consistent with the last one; the same holds for the
//! index log, whose lock follows the log's, and lookups on either instance
//! carry index proofs that verify.
//!
//! Needs `REPROLOG_TEST_POSTGRES` (scripts/postgres.sh); skipped without it.

mod common;

use common::witness::{witness_key, WitnessProcess};
use common::{
    agent, entry_for, http_get, index_key, index_lookup, init, proven_lists, TestServer, ORIGIN,
};
use reprolog_proto::checkpoint::{Checkpoint, LogVerifier};
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::policy::WitnessQuorum;
use reprolog_proto::wire::{ConsistencyProof, InclusionProof, Receipt};
use reprolog_proto::Hash;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An acknowledged entry, its receipt, which instance (0 = a, 1 = b) and when.
type Acked = (Vec<u8>, Receipt, usize, Instant);

fn instance(data: &Path, key: &Verifier, url: &str, name: &str) -> TestServer {
    instance_with(data, key, url, name, &[])
}

fn instance_with(data: &Path, key: &Verifier, url: &str, name: &str, extra: &[&str]) -> TestServer {
    // One rebuilder key makes the load: the unknown keys' rate limit is lifted.
    let mut args = vec![
        "--database",
        url,
        "--instance",
        name,
        "--unknown-key-rate",
        "0",
    ];
    args.extend_from_slice(extra);
    TestServer::start(data, key, &args)
}

/// Two data dirs holding the same log and index keys, as two instances of
/// one log do.
fn two_instances_one_key() -> ([tempfile::TempDir; 2], Verifier) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let key = init(dirs[0].path());
    for file in ["log.key", "index.key"] {
        std::fs::copy(dirs[0].path().join(file), dirs[1].path().join(file)).unwrap();
    }
    (dirs, key)
}

fn health(url: &str) -> String {
    String::from_utf8_lossy(&http_get(&format!("{url}/healthz")).1).into_owned()
}

/// Submits `bytes` to the first of `urls` that acknowledges it.
fn submit_anywhere(urls: &[String], bytes: &[u8]) -> Option<(usize, Receipt)> {
    for (i, url) in urls.iter().enumerate() {
        let Ok(mut resp) = reprolog_testkit::add_entry(&agent(), url, bytes) else {
            continue;
        };
        if resp.status().as_u16() == 200 {
            let body = resp.body_mut().read_to_vec().ok()?;
            return Some((i, serde_json::from_slice(&body).expect("receipt")));
        }
    }
    None
}

#[test]
fn the_reader_takes_over_when_the_sequencer_is_killed_under_load() {
    let Ok(admin) = std::env::var("REPROLOG_TEST_POSTGRES") else {
        eprintln!("REPROLOG_TEST_POSTGRES unset (scripts/postgres.sh): skipped");
        return;
    };
    let db = reprolog_server::storage::postgres::recreate_database(
        &admin,
        &format!("failover_{}", std::process::id()),
    )
    .unwrap();
    let (dirs, key) = two_instances_one_key();
    let a = instance(dirs[0].path(), &key, &db, "a");
    let b = instance(dirs[1].path(), &key, &db, "b");
    let urls = vec![a.url.clone(), b.url.clone()];
    assert!(health(&a.url).contains("sequencer postgres; sequencer: a"));
    assert!(health(&b.url).contains("reader postgres; sequencer: a"));
    assert_eq!(http_get(&format!("{}/healthz/sequencer", a.url)).0, 200);
    assert_eq!(http_get(&format!("{}/healthz/sequencer", b.url)).0, 503);
    let signer = Arc::new(Signer::generate("rebuilder").unwrap());
    let first = entry_for(&signer, "first", Hash::of(b"first"), true);
    let (status, body) = b.post_entry(&first, "application/cbor");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("this instance serves reads; a sequences"),
        "{body}"
    );

    // Every checkpoint either instance serves, by size: the log's, and
    // the index log's.
    let ikey = index_key(dirs[0].path());
    let seen: Arc<Mutex<BTreeMap<u64, Checkpoint>>> = Default::default();
    let seen_index: Arc<Mutex<BTreeMap<u64, Checkpoint>>> = Default::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, seen_index, stop, urls) =
            (seen.clone(), seen_index.clone(), stop.clone(), urls.clone());
        let watched = [
            ("/checkpoint", key.clone(), seen),
            ("/index/checkpoint", ikey.clone(), seen_index),
        ];
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                for url in &urls {
                    for (path, key, seen) in &watched {
                        if let Ok(mut r) = agent().get(&format!("{url}{path}")).call() {
                            if r.status().as_u16() == 200 {
                                let note = r.body_mut().read_to_vec().unwrap();
                                let cp = Checkpoint::open(&note, key.name(), key).expect("signed");
                                let mut seen = seen.lock().unwrap();
                                if let Some(old) = seen.insert(cp.size, cp.clone()) {
                                    assert_eq!(
                                        old.root, cp.root,
                                        "two roots for {path} size {}",
                                        cp.size
                                    );
                                }
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // Load: eight submitters, each trying a, then b.
    let acked: Arc<Mutex<Vec<Acked>>> = Default::default();
    let loaders: Vec<_> = (0..8)
        .map(|t| {
            let (acked, stop, urls, signer) =
                (acked.clone(), stop.clone(), urls.clone(), signer.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(SeqCst) {
                    let name = format!("t{t}-{i}");
                    let bytes = entry_for(&signer, &name, Hash::of(name.as_bytes()), true);
                    if let Some((by, r)) = submit_anywhere(&urls, &bytes) {
                        acked.lock().unwrap().push((bytes, r, by, Instant::now()));
                        i += 1;
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let before_kill = acked.lock().unwrap().len();
    assert!(
        before_kill > 20,
        "only {before_kill} acknowledged before the kill"
    );
    let killed_at = Instant::now();
    a.kill();
    // Load goes on until b has acknowledged for a while.
    let deadline = killed_at + Duration::from_secs(20);
    let took_over = loop {
        let first_by_b = acked
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, by, at)| *by == 1 && *at > killed_at)
            .map(|(_, _, _, at)| *at)
            .min();
        if let Some(at) = first_by_b {
            if at.elapsed() > Duration::from_secs(1) {
                break at - killed_at;
            }
        }
        assert!(Instant::now() < deadline, "b never took over");
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, SeqCst);
    for l in loaders {
        l.join().unwrap();
    }
    watcher.join().unwrap();
    eprintln!(
        "b acknowledged its first entry {} ms after a was killed",
        took_over.as_millis()
    );
    assert!(
        took_over < Duration::from_secs(5),
        "takeover took {took_over:?}"
    );
    assert!(health(&b.url).contains("sequencer postgres; sequencer: b"));

    // Every acknowledged entry proves inclusion in b's latest checkpoint.
    let last = b.checkpoint();
    let acked = acked.lock().unwrap();
    let after_kill = acked.len() - before_kill;
    assert!(after_kill > 0);
    for (bytes, r, _, _) in acked.iter() {
        let (status, body) = b.get(&format!(
            "/proof/inclusion?index={}&size={}",
            r.index, last.size
        ));
        assert_eq!(status, 200);
        let p: InclusionProof = serde_json::from_slice(&body).unwrap();
        merkle::verify_inclusion(r.index, last.size, &Hash::leaf(bytes), &p.proof, &last.root)
            .unwrap_or_else(|e| panic!("entry {} not included: {e}", r.index));
    }
    // Every checkpoint served (and every receipt's) is consistent with it.
    let mut checkpoints: Vec<Checkpoint> = seen.lock().unwrap().values().cloned().collect();
    for (_, r, _, _) in acked.iter() {
        checkpoints.push(Checkpoint::open(r.checkpoint.as_bytes(), ORIGIN, &key).unwrap());
    }
    assert!(checkpoints.len() > 2);
    for cp in &checkpoints {
        let (status, body) = b.get(&format!(
            "/proof/consistency?old={}&new={}",
            cp.size, last.size
        ));
        assert_eq!(status, 200);
        let p: ConsistencyProof = serde_json::from_slice(&body).unwrap();
        merkle::verify_consistency(cp.size, last.size, &cp.root, &last.root, &p.proof)
            .unwrap_or_else(|e| panic!("checkpoint {} inconsistent: {e}", cp.size));
    }
    eprintln!(
        "{} acknowledged ({before_kill} before the kill), {} checkpoints checked, final size {}",
        acked.len(),
        checkpoints.len(),
        last.size
    );
    // The index log too: one history across the takeover.
    let index_last = LogVerifier::new(ikey.clone())
        .open(&b.get("/index/checkpoint").1)
        .unwrap();
    let index_seen: Vec<Checkpoint> = seen_index.lock().unwrap().values().cloned().collect();
    assert!(
        index_seen.len() > 2,
        "{} index checkpoints seen",
        index_seen.len()
    );
    for cp in &index_seen {
        let (status, body) = b.get(&format!(
            "/index/proof/consistency?old={}&new={}",
            cp.size, index_last.size
        ));
        assert_eq!(status, 200);
        let p: ConsistencyProof = serde_json::from_slice(&body).unwrap();
        merkle::verify_consistency(
            cp.size,
            index_last.size,
            &cp.root,
            &index_last.root,
            &p.proof,
        )
        .unwrap_or_else(|e| panic!("index checkpoint {} inconsistent: {e}", cp.size));
    }
    // Lookups on b prove each entry's list, a sample of them.
    for (bytes, r, _, _) in acked.iter().step_by(acked.len() / 20 + 1) {
        let entry = Entry::from_cbor(bytes).unwrap();
        let subject = entry.statement().unwrap().subject_digest().unwrap();
        let lists = proven_lists(&b, &ikey, &subject, &[&signer]);
        assert!(
            lists[0].contains(&r.index),
            "entry {} not in its proven list",
            r.index
        );
    }
    eprintln!(
        "{} index checkpoints consistent; lookups on b carry verified index proofs",
        index_seen.len()
    );

    // a comes back as a reader and follows b's checkpoints.
    let a = instance(dirs[0].path(), &key, &db, "a");
    assert!(health(&a.url).contains("reader postgres; sequencer: b"));
    let (_, receipt) = submit_anywhere(std::slice::from_ref(&b.url), &first).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.checkpoint().size < receipt.index + 1 {
        assert!(Instant::now() < deadline, "a does not follow b");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.assert_included(receipt.index, &first);
    // a follows the index log too, recomputing each revision, and proves
    // the list with the entry b just acknowledged.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = index_lookup(&a, &Hash::of(b"first"), &[&signer]);
        if answer
            .index
            .as_ref()
            .is_some_and(|i| i.revision.contains(&format!("\n{}\n", receipt.index + 1)))
        {
            break;
        }
        assert!(Instant::now() < deadline, "a's index does not follow b's");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        proven_lists(&a, &ikey, &Hash::of(b"first"), &[&signer]),
        vec![vec![receipt.index]]
    );
    a.stop();
    b.stop();
}

/// The same database at another server: `admin`'s URL with `name` as its path.
fn database_url(admin: &str, name: &str) -> String {
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

#[test]
fn a_reader_serves_from_a_read_replica_and_still_takes_over() {
    let (Ok(admin), Ok(replica_admin)) = (
        std::env::var("REPROLOG_TEST_POSTGRES"),
        std::env::var("REPROLOG_TEST_POSTGRES_REPLICA"),
    ) else {
        eprintln!("REPROLOG_TEST_POSTGRES(_REPLICA) unset (scripts/postgres.sh replica): skipped");
        return;
    };
    let name = format!("replica_{}", std::process::id());
    let db = reprolog_server::storage::postgres::recreate_database(&admin, &name).unwrap();
    let replica = database_url(&replica_admin, &name);
    // The new database reaches the replica by streaming replication.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut on_replica = loop {
        match reprolog_server::storage::postgres::connect(&replica) {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "no database on the replica: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert!(on_replica
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get::<_, bool>(0));

    let (dirs, key) = two_instances_one_key();
    let a = instance(dirs[0].path(), &key, &db, "a");
    let b = TestServer::start(
        dirs[1].path(),
        &key,
        &[
            "--database",
            &db,
            "--read-database",
            &replica,
            "--instance",
            "b",
        ],
    );
    let signer = Signer::generate("rebuilder").unwrap();
    let digest = Hash::of(b"a binary");
    let mut receipts = Vec::new();
    for i in 0..40 {
        let e = entry_for(&signer, &format!("p{i}"), digest, i % 4 != 0);
        receipts.push((a.submit(&e), e));
    }
    // b follows the checkpoint it reads on the replica.
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.checkpoint().size < 40 {
        assert!(Instant::now() < deadline, "b never saw size 40");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = b.get(&format!("/lookup/{}", digest.to_hex()));
    assert_eq!(status, 200);
    let answer: reprolog_proto::wire::LookupResponse = serde_json::from_slice(&body).unwrap();
    let cp = answer
        .verify(&reprolog_proto::checkpoint::LogVerifier::new(key.clone()))
        .unwrap();
    assert_eq!((cp.size, answer.entries.len()), (40, 40));
    for (r, e) in &receipts {
        b.assert_included(r.index, e);
    }
    // b follows the index log on the replica too, recomputing each revision
    // from the entries it reads there.
    let ikey = index_key(dirs[0].path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while index_lookup(&b, &digest, &[&signer])
        .index
        .is_none_or(|i| !i.revision.contains("\n40\n"))
    {
        assert!(Instant::now() < deadline, "b's index never reached size 40");
        std::thread::sleep(Duration::from_millis(50));
    }
    let all: Vec<u64> = (0..40).collect();
    assert_eq!(proven_lists(&b, &ikey, &digest, &[&signer]), vec![all]);
    // b's reads went to the replica: its connections are there.
    let from_b: i64 = on_replica
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = 'reprolog-server' AND datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert!(from_b >= 1, "b holds no connection to the replica");
    assert!(health(&b.url).contains("reader postgres; sequencer: a"));

    // The sequencer goes; b takes over and appends through the primary.
    a.kill();
    let more = entry_for(&signer, "after", digest, true);
    let deadline = Instant::now() + Duration::from_secs(10);
    let receipt = loop {
        let (status, body) = b.post_entry(&more, "application/cbor");
        if status == 200 {
            break serde_json::from_slice::<Receipt>(&body).unwrap();
        }
        assert!(Instant::now() < deadline, "b never took over: {status}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(receipt.index, 40);
    b.assert_included(40, &more);
    // ... and now writes the index log, whose revision lists the new entry.
    let all: Vec<u64> = (0..41).collect();
    assert_eq!(proven_lists(&b, &ikey, &digest, &[&signer]), vec![all]);
    b.stop();
}

/// A witnessed log fails over: the new sequencer's checkpoints are cosigned
/// by the same witness, which finds them consistent with what it cosigned
/// for the old one, and every receipt from either opens under the quorum.
#[test]
fn a_witnessed_log_keeps_its_quorum_across_failover() {
    let Ok(admin) = std::env::var("REPROLOG_TEST_POSTGRES") else {
        eprintln!("REPROLOG_TEST_POSTGRES unset (scripts/postgres.sh): skipped");
        return;
    };
    let (dirs, key) = two_instances_one_key();
    let wdir = tempfile::tempdir().unwrap();
    let wvkey = witness_key(wdir.path(), "witness.test/w1");
    let ikey = index_key(dirs[0].path());
    std::fs::write(
        wdir.path().join("logs"),
        format!("log {}\nindex {}\n", key.to_key_text(), ikey.to_key_text()),
    )
    .unwrap();
    let witness = WitnessProcess::start(wdir.path());
    let policy_text = format!(
        "witness w1 {} {}\nquorum w1\n",
        wvkey.to_key_text(),
        witness.url
    );
    let policy = wdir.path().join("witness-policy");
    std::fs::write(&policy, &policy_text).unwrap();
    let quorum = WitnessQuorum::parse(&policy_text).unwrap();
    let verifier = LogVerifier::with_witnesses(key.clone(), quorum.clone());
    let index_verifier = LogVerifier::with_witnesses(ikey.clone(), quorum);

    let db = reprolog_server::storage::postgres::recreate_database(
        &admin,
        &format!("witnessed_{}", std::process::id()),
    )
    .unwrap();
    let extra = ["--witness-policy", policy.to_str().unwrap()];
    let a = instance_with(dirs[0].path(), &key, &db, "a", &extra);
    let b = instance_with(dirs[1].path(), &key, &db, "b", &extra);
    assert!(health(&b.url).contains("reader postgres; sequencer: a"));

    let signer = Signer::generate("rebuilder").unwrap();
    let entries: Vec<Vec<u8>> = (0..10u8)
        .map(|i| entry_for(&signer, "w", Hash::of(&[i]), true))
        .collect();
    let mut receipts = Vec::new();
    for bytes in &entries[..5] {
        receipts.push(a.submit(bytes));
    }
    let before = verifier
        .open(&a.get("/checkpoint").1)
        .expect("a's checkpoint is cosigned");
    assert_eq!(before.size, 5);
    let index_before = index_verifier
        .open(&a.get("/index/checkpoint").1)
        .expect("a's index checkpoint is cosigned");

    a.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    for bytes in &entries[5..] {
        let receipt = loop {
            if let Some((_, r)) = submit_anywhere(std::slice::from_ref(&b.url), bytes) {
                break r;
            }
            assert!(Instant::now() < deadline, "b did not take over");
            std::thread::sleep(Duration::from_millis(50));
        };
        receipts.push(receipt);
    }
    assert!(health(&b.url).contains("sequencer postgres; sequencer: b"));
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r.index, i as u64);
        let cp = verifier
            .open(r.checkpoint.as_bytes())
            .unwrap_or_else(|e| panic!("receipt {i}'s checkpoint lacks the quorum: {e}"));
        assert!(cp.size > r.index);
    }
    let after = verifier
        .open(&b.get("/checkpoint").1)
        .expect("b's checkpoint is cosigned");
    assert_eq!(after.size, 10);
    let (status, body) = b.get("/proof/consistency?old=5&new=10");
    assert_eq!(status, 200);
    let p: ConsistencyProof = serde_json::from_slice(&body).unwrap();
    merkle::verify_consistency(5, 10, &before.root, &after.root, &p.proof).unwrap();
    for (i, bytes) in entries.iter().enumerate() {
        b.assert_included(i as u64, bytes);
    }
    // The index log fails over with the log: b's index checkpoints are
    // cosigned by the same witness, consistent with a's.
    let deadline = Instant::now() + Duration::from_secs(10);
    let index_after = loop {
        let cp = index_verifier
            .open(&b.get("/index/checkpoint").1)
            .expect("b's index checkpoint is cosigned");
        if index_lookup(&b, &Hash::of(&[9]), &[])
            .index
            .is_some_and(|i| i.revision.contains("\n10\n"))
        {
            break cp;
        }
        assert!(Instant::now() < deadline, "b's index never reached size 10");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(index_after.size > index_before.size);
    let (status, body) = b.get(&format!(
        "/index/proof/consistency?old={}&new={}",
        index_before.size, index_after.size
    ));
    assert_eq!(status, 200);
    let p: ConsistencyProof = serde_json::from_slice(&body).unwrap();
    merkle::verify_consistency(
        index_before.size,
        index_after.size,
        &index_before.root,
        &index_after.root,
        &p.proof,
    )
    .unwrap();
    assert_eq!(
        proven_lists(&b, &ikey, &Hash::of(&[9]), &[&signer]),
        vec![vec![9]]
    );
}
