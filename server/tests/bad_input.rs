//! Bad input over HTTP: each case gets the right 4xx with a one-line reason, and
//! the tree does not change.

mod common;

use common::*;
use reprolog_proto::dsse;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;

fn assert_one_line(body: &[u8], what: &str) -> String {
    let text = String::from_utf8(body.to_vec()).expect("utf-8 error body");
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{what}: not one line: {text:?}"
    );
    text
}

#[test]
fn bad_requests_are_rejected_without_changing_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = TestServer::start(dir.path(), &key, &[]);
    let signer = Signer::generate("rebuilder").unwrap();
    let good = entry_for(&signer, "prog", Hash::of(b"bin"), true);
    let (status, _) = server.post_entry(&good, "application/cbor");
    assert_eq!(status, 200);
    let before = server.checkpoint();

    let entry = Entry::from_cbor(&good).unwrap();
    let mut forged = entry.clone();
    forged.payload[10] ^= 1;
    let non_canonical = {
        // Same fields, keys in insertion order other than the canonical one.
        let v = ciborium::Value::Map(vec![
            (
                ciborium::Value::Text("key".into()),
                ciborium::Value::Bytes(entry.key.to_vec()),
            ),
            (
                ciborium::Value::Text("v".into()),
                ciborium::Value::Integer(1.into()),
            ),
            (
                ciborium::Value::Text("sig".into()),
                ciborium::Value::Bytes(entry.sig.to_vec()),
            ),
            (
                ciborium::Value::Text("payload".into()),
                ciborium::Value::Bytes(entry.payload.clone()),
            ),
            (
                ciborium::Value::Text("payloadType".into()),
                ciborium::Value::Text(entry.payload_type.clone()),
            ),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    };
    let not_a_statement = {
        let payload = b"{\"hello\":1}".to_vec();
        let sig = signer.sign(&dsse::pae(dsse::IN_TOTO_PAYLOAD_TYPE, &payload));
        Entry {
            key: entry.key,
            payload_type: dsse::IN_TOTO_PAYLOAD_TYPE.into(),
            payload,
            sig,
        }
        .to_cbor()
    };

    let posts: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "application/cbor",
            400,
            "truncated",
        ),
        ("empty", vec![], "application/cbor", 400, "CBOR"),
        (
            "non-canonical",
            non_canonical,
            "application/cbor",
            400,
            "canonical",
        ),
        (
            "bad signature",
            forged.to_cbor(),
            "application/cbor",
            400,
            "signature",
        ),
        (
            "not a statement",
            not_a_statement,
            "application/cbor",
            400,
            "statement",
        ),
        (
            "oversize",
            vec![0xa5; 70_000],
            "application/cbor",
            400,
            "limit",
        ),
        (
            "wrong content type",
            good.clone(),
            "application/json",
            415,
            "Content-Type",
        ),
    ];
    for (what, body, ct, want, needle) in posts {
        let (status, resp) = server.post_entry(&body, ct);
        assert_eq!(status, want, "{what}");
        let text = assert_one_line(&resp, what);
        assert!(text.contains(needle), "{what}: {text:?} lacks {needle:?}");
    }

    let gets = [
        ("/tile/0/0001", 400),
        ("/tile/9/000", 400),
        ("/tile/0/000.p/0", 400),
        ("/tile/0/000.p/256", 400),
        ("/tile/0/x001/000", 404),
        ("/tile/0/000.p/2", 404),
        ("/tile/entries/000.p/5", 404),
        ("/proof/inclusion?index=1&size=1", 400),
        ("/proof/inclusion?index=0&size=2", 400),
        ("/proof/inclusion?index=0", 400),
        ("/proof/inclusion?index=x&size=1", 400),
        ("/proof/inclusion?index=99999999999999999999&size=1", 400),
        ("/proof/consistency?old=1&new=0", 400),
        ("/proof/consistency?old=0&new=5", 400),
        ("/lookup/nothex", 400),
        ("/lookup/ABCD", 400),
        ("/no/such/thing", 404),
    ];
    for (path, want) in gets {
        let (status, body) = server.get(path);
        assert_eq!(status, want, "{path}");
        assert_one_line(&body, path);
    }

    let after = server.checkpoint();
    assert_eq!((after.size, after.root), (before.size, before.root));
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "reprolog_rejected_total{reason=\"non_canonical\"} 1",
        "reprolog_rejected_total{reason=\"bad_signature\"} 1",
        "reprolog_rejected_total{reason=\"too_large\"} 1",
        "reprolog_rejected_total{reason=\"content_type\"} 1",
        "reprolog_tree_size 1",
    ] {
        assert!(metrics.contains(line), "metrics lack {line}");
    }
    server.stop();
}

#[test]
fn allow_list_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let alice = Signer::generate("alice").unwrap();
    let mallory = Signer::generate("mallory").unwrap();
    let vkey = alice.verifier().to_key_text();
    let server = TestServer::start(dir.path(), &key, &["--allow-key", &vkey]);
    let (status, body) = server.post_entry(
        &entry_for(&mallory, "p", Hash::of(b"x"), true),
        "application/cbor",
    );
    assert_eq!(status, 403);
    assert!(assert_one_line(&body, "403").contains("not allowed"));
    assert_eq!(server.checkpoint().size, 0);
    let (status, _) = server.post_entry(
        &entry_for(&alice, "p", Hash::of(b"x"), true),
        "application/cbor",
    );
    assert_eq!(status, 200);
    assert_eq!(server.checkpoint().size, 1);
    server.stop();
}

#[test]
fn tampered_storage_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = TestServer::start(dir.path(), &key, &[]);
    let signer = Signer::generate("r").unwrap();
    for i in 0..3 {
        server.post_entry(
            &entry_for(&signer, &format!("p{i}"), Hash::of(b"x"), true),
            "application/cbor",
        );
    }
    server.stop();
    // Another log's key cannot open this data dir: its checkpoint does not verify.
    let other = tempfile::tempdir().unwrap();
    init(other.path());
    std::fs::copy(
        other.path().join("log.key"),
        dir.path().join("log.key.other"),
    )
    .unwrap();
    std::fs::rename(dir.path().join("log.key.other"), dir.path().join("log.key")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(common::backend_args(dir.path()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stored checkpoint does not verify"), "{err}");
}

#[test]
fn a_slow_sender_times_out_without_stalling_others() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = TestServer::start(dir.path(), &key, &["--body-timeout-secs", "3"]);
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    write!(slow, "POST /add-entry HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/cbor\r\nContent-Length: 1000\r\n\r\n").unwrap();
    slow.write_all(&[0xa5; 10]).unwrap();

    // Others are served meanwhile: this submission is answered while the
    // slow client still waits for its own answer (a stalled server would
    // answer the slow client's timeout first).
    let signer = Signer::generate("r").unwrap();
    let (status, _) = server.post_entry(
        &entry_for(&signer, "p", Hash::of(b"x"), true),
        "application/cbor",
    );
    assert_eq!(status, 200);
    slow.set_nonblocking(true).unwrap();
    let early = slow.read(&mut [0u8; 1]);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "submission waited on the slow client: {early:?}"
    );

    slow.set_nonblocking(false).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("not received within 3 s"), "{answer}");
    assert_eq!(server.checkpoint().size, 1);
    server.stop();
}
