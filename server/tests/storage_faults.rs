//! A full disk and an unwritable data dir: the log refuses new entries with a
//! clear reason, keeps serving reads, and restarts with everything it
//! acknowledged and nothing half-written.

mod common;

use common::{entry_for, init, TestServer, BIN};
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::note::Signer;
use reprolog_proto::wire::{LookupResponse, Receipt};
use reprolog_proto::Hash;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn entry(signer: &Signer, i: u32) -> Vec<u8> {
    entry_for(signer, "tool", Hash::of(&i.to_be_bytes()), true)
}

/// Fills a log with `n` entries and stops it; returns them with their receipts.
fn populate(data: &Path, key: &reprolog_proto::note::Verifier, n: u32) -> Vec<(Vec<u8>, Receipt)> {
    let server = TestServer::start(data, key, &[]);
    let signer = Signer::generate("rebuilder").unwrap();
    let out = (0..n)
        .map(|i| {
            let bytes = entry(&signer, i);
            let r = server.submit(&bytes);
            (bytes, r)
        })
        .collect();
    server.stop();
    out
}

/// Asserts that a submission is refused with `status` and a one-line reason
/// containing `reason`, and that the tree did not change.
fn assert_refused(server: &TestServer, status: u16, reason: &str) {
    let before = server.checkpoint().size;
    let signer = Signer::generate("late").unwrap();
    let (got, body) = server.post_entry(&entry(&signer, 999_999), "application/cbor");
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(got, status, "{body}");
    assert!(body.contains(reason), "{body}");
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    assert_eq!(server.checkpoint().size, before);
}

/// Reads still work: checkpoint, a tile, a lookup with proofs, an inclusion proof.
fn assert_reads_work(server: &TestServer, logged: &[(Vec<u8>, Receipt)]) {
    let size = server.checkpoint().size;
    let first_tile = match size {
        256.. => "/tile/0/000".to_string(),
        _ => format!("/tile/0/000.p/{size}"),
    };
    let (status, _) = server.get(&first_tile);
    assert_eq!(status, 200);
    let (bytes, r) = &logged[logged.len() / 2];
    server.assert_included(r.index, bytes);
    let subject = reprolog_proto::entry::Entry::from_cbor(bytes)
        .unwrap()
        .statement()
        .unwrap()
        .subject_digest()
        .unwrap();
    let (status, body) = server.get(&format!("/lookup/{}", subject.to_hex()));
    assert_eq!(status, 200);
    let lookup: LookupResponse = serde_json::from_slice(&body).unwrap();
    lookup
        .verify(&LogVerifier::new(server.key.clone()))
        .expect("lookup verifies");
}

#[test]
fn read_only_mode_serves_reads_and_refuses_entries() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let logged = populate(dir.path(), &key, 5);
    let server = TestServer::start(dir.path(), &key, &["--read-only"]);
    assert_eq!(server.checkpoint().size, 5);
    assert_reads_work(&server, &logged);
    assert_refused(&server, 503, "log is read-only (started with --read-only)");
    let (_, health) = server.get("/healthz");
    assert!(String::from_utf8_lossy(&health).contains("read-only"));
    server.stop();
}

#[test]
fn an_unwritable_data_dir_is_served_read_only() {
    if common::on_postgres() {
        eprintln!("redb only: the data dir holds no entries on PostgreSQL");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = init(&data);
    let logged = populate(&data, &key, 4);
    let db = data.join("log.redb");
    // Readable by everyone, writable by no one but a privileged user.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["log.key", "index.key", "index.redb"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let mut command = Command::new(BIN);
    if std::fs::metadata(&db).unwrap().uid() == 0 {
        // Root writes anything; run the server as an unprivileged user, from a
        // copy it can reach whatever the permissions above the checkout.
        use std::os::unix::process::CommandExt;
        let bin = dir.path().join("reprolog-server");
        std::fs::copy(BIN, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        command = Command::new(bin);
        command.uid(65534).gid(65534);
    }
    let before = std::fs::read(&db).unwrap();
    let server = TestServer::start_via(command, &data, &key, &[]);
    assert_eq!(server.checkpoint().size, 4);
    assert_reads_work(&server, &logged);
    assert_refused(&server, 503, "is not writable");
    server.stop();
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database was not touched"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn below_the_free_space_reserve_entries_are_refused_with_507() {
    if common::on_postgres() {
        eprintln!("redb only: the data dir holds no entries on PostgreSQL");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let logged = populate(dir.path(), &key, 3);
    // A reserve no disk has: 1 EiB.
    let server = TestServer::start(dir.path(), &key, &["--min-free-mib", "1099511627776"]);
    assert_refused(&server, 507, "below the 1.0 EiB reserve");
    assert_reads_work(&server, &logged);
    server.stop();
    // With the reserve met again, entries are accepted.
    let server = TestServer::start(dir.path(), &key, &[]);
    let signer = Signer::generate("after").unwrap();
    assert_eq!(server.submit(&entry(&signer, 7)).index, 3);
    server.stop();
}

/// A real failed write: the kernel refuses to grow the database file past
/// RLIMIT_FSIZE (EFBIG), as it would refuse a full disk (ENOSPC).
#[test]
fn a_write_that_fails_mid_commit_loses_nothing_acknowledged() {
    if common::on_postgres() {
        eprintln!("redb only: the data dir holds no entries on PostgreSQL");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let mut logged = populate(dir.path(), &key, 2);
    let db_size = std::fs::metadata(dir.path().join("log.redb"))
        .unwrap()
        .len();
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--fsize={}", db_size + 256 * 1024))
        .arg("--")
        .arg(BIN);
    // One key fills the disk: the unknown keys' rate limit is lifted.
    let server = TestServer::start_via(command, dir.path(), &key, &["--unknown-key-rate", "0"]);
    let signer = Signer::generate("filler").unwrap();
    let mut refusal = None;
    for i in 100..20_000u32 {
        let bytes = entry(&signer, i);
        let (status, body) = server.post_entry(&bytes, "application/cbor");
        match status {
            200 => logged.push((bytes, serde_json::from_slice(&body).unwrap())),
            _ => {
                refusal = Some((status, String::from_utf8_lossy(&body).to_string()));
                break;
            }
        }
    }
    let (status, body) = refusal.expect("the file-size limit was never reached");
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("log storage is full"), "{body}");
    assert!(body.contains("not acknowledged"), "{body}");
    // Reads go on after the failed write (the store reopened its file). Later
    // entries are acknowledged while the rolled-back space lasts, then
    // refused the same way; never anything else.
    assert_reads_work(&server, &logged);
    for i in 20_000..20_050u32 {
        let bytes = entry(&signer, i);
        let (status, body) = server.post_entry(&bytes, "application/cbor");
        match status {
            200 => logged.push((bytes, serde_json::from_slice(&body).unwrap())),
            507 => assert!(String::from_utf8_lossy(&body).contains("log storage is full")),
            other => panic!("{other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    assert_reads_work(&server, &logged);
    server.stop();

    // Restarted without the limit: the stored root matches its checkpoint
    // (the server checks on start), every acknowledged entry is where its
    // receipt says, and the log takes new entries.
    let server = TestServer::start(dir.path(), &key, &[]);
    let size = server.checkpoint().size;
    assert!(size >= logged.len() as u64);
    for (bytes, r) in logged.iter().step_by(5).chain(logged.last()) {
        server.assert_included(r.index, bytes);
    }
    server.submit(&entry(&signer, 1));
    server.stop();
}
