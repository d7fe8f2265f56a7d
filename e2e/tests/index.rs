//! The verifiable index against a lying front end: a proxy between
//! `reprolog verify` and a real log drops a trusted rebuilder's MISMATCH
//! from lookup answers (fixing the counts, so the answer adds up). Without
//! the index in the policy the lie works (REPRODUCED); with it the client
//! says LOG ERROR, online and offline. A digest with no entries is
//! INSUFFICIENT with the index's proof that there are none.

use reprolog_e2e::*;
use reprolog_proto::note::Signer;
use reprolog_proto::wire::LookupResponse;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

/// How the proxy changes lookup answers.
#[derive(Clone, Copy)]
enum Lie {
    /// Leave out the entry at this index (and fix the counts).
    DropEntry(u64),
    /// Take this index out of the index answer's lists, too.
    DropFromIndex(u64),
}

fn doctor(body: &[u8], lie: Lie) -> Vec<u8> {
    let mut answer: LookupResponse = serde_json::from_slice(body).unwrap();
    let gone = match lie {
        Lie::DropEntry(i) | Lie::DropFromIndex(i) => i,
    };
    let before = answer.entries.len();
    answer.entries.retain(|e| e.index != gone);
    let dropped = (before - answer.entries.len()) as u64;
    answer.total = answer.total.map(|t| t - dropped);
    answer.matched = answer.matched.map(|m| m - dropped);
    if let (Lie::DropFromIndex(i), Some(index)) = (lie, answer.index.as_mut()) {
        for key in &mut index.keys {
            key.indices.retain(|&x| x != i);
        }
    }
    serde_json::to_vec(&answer).unwrap()
}

/// A front end on 127.0.0.1 that forwards GETs to `upstream` and tells
/// `lie` in lookup answers. Returns its URL.
fn lying_proxy(upstream: String, lie: Lie) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || serve_one(stream, &upstream, lie));
        }
    });
    url
}

fn serve_one(mut stream: TcpStream, upstream: &str, lie: Lie) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Headers are not needed: every request here is a GET.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let agent = reprolog_testkit::agent(std::time::Duration::from_secs(30));
    let Ok(mut resp) = agent.get(&format!("{upstream}{path}")).call() else {
        return;
    };
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let _ = resp.body_mut().as_reader().read_to_end(&mut body);
    if status == 200 && path.starts_with("/lookup/") {
        body = doctor(&body, lie);
    }
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The policy (1 of alice and bob) for `url`, naming the index log or not.
fn write_policy(
    path: &Path,
    log: &LogHandle,
    url: &str,
    alice: &Signer,
    bob: &Signer,
    index: bool,
) {
    let mut text = policy(&log.vkey, url, &[("alice", alice), ("bob", bob)], 1);
    if index {
        text = text.replacen('\n', &format!("\nindex {}\n", log.index_vkey), 1);
    }
    std::fs::write(path, text).unwrap();
}

fn stdout_and_code(out: &std::process::Output) -> (String, i32) {
    let text = stdout(out) + &String::from_utf8_lossy(&out.stderr);
    (text, out.status.code().unwrap_or(-1))
}

#[test]
fn a_left_out_mismatch_is_caught_only_with_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let (alice, bob) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
    );
    let binary = dir.path().join("app");
    std::fs::write(&binary, b"the released binary").unwrap();
    let digest = Hash::of(b"the released binary");
    post(&log.url, &attestation(&alice, "app", digest, true));
    post(&log.url, &attestation(&bob, "app", digest, false)); // index 1
    let target = binary.to_str().unwrap();
    let verify = |policy: &Path, state: &str, extra: &[&str]| {
        let state = dir.path().join(state);
        let args = [
            &["verify", target, "--policy", policy.to_str().unwrap()],
            extra,
        ]
        .concat();
        stdout_and_code(&client(&state, &args))
    };

    // The honest log: CONTESTED, with or without the index.
    let honest = dir.path().join("honest");
    write_policy(&honest, &log, &log.url, &alice, &bob, true);
    let (text, code) = verify(&honest, "s1", &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.starts_with("CONTESTED"), "{text}");

    // The proxy leaves Bob's MISMATCH out: without the index, a lie that works.
    let proxy = lying_proxy(log.url.clone(), Lie::DropEntry(1));
    let fooled = dir.path().join("fooled");
    write_policy(&fooled, &log, &proxy, &alice, &bob, false);
    let (text, code) = verify(&fooled, "s2", &[]);
    assert_eq!(
        (code, text.lines().next()),
        (0, Some(&*format!("REPRODUCED  sha256:{digest}"))),
        "{text}"
    );

    // With the index: LOG ERROR, one line saying what was left out.
    let guarded = dir.path().join("guarded");
    write_policy(&guarded, &log, &proxy, &alice, &bob, true);
    let (text, code) = verify(&guarded, "s3", &[]);
    assert_eq!(code, 3, "{text}");
    assert!(text.starts_with("LOG ERROR"), "{text}");
    assert!(text.contains("the index lists entry 1"), "{text}");
    assert!(text.contains("leaves it out"), "{text}");

    // Lying in the index answer as well: its map proof fails.
    let deeper = lying_proxy(log.url.clone(), Lie::DropFromIndex(1));
    write_policy(&guarded, &log, &deeper, &alice, &bob, true);
    let (text, code) = verify(&guarded, "s4", &[]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("map proof"), "{text}");

    // Offline: an honest saved answer verifies; with Bob's entry cut out of
    // it (counts fixed), it is a LOG ERROR.
    let saved = dir.path().join("answer.json");
    let (text, code) = verify(&honest, "s5", &["--save", saved.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    let (text, code) = verify(&honest, "s6", &["--offline", saved.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    let cut = dir.path().join("cut.json");
    std::fs::write(
        &cut,
        doctor(&std::fs::read(&saved).unwrap(), Lie::DropEntry(1)),
    )
    .unwrap();
    let (text, code) = verify(&honest, "s7", &["--offline", cut.to_str().unwrap()]);
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("leaves it out"), "{text}");
}

#[test]
fn no_attestation_is_a_proven_statement() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let (alice, bob) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
    );
    post(
        &log.url,
        &attestation(&alice, "other", Hash::of(b"other"), true),
    );
    let binary = dir.path().join("unknown");
    std::fs::write(&binary, b"never attested").unwrap();
    let policy_path = dir.path().join("policy");
    write_policy(&policy_path, &log, &log.url, &alice, &bob, true);
    let out = client(
        &dir.path().join("state"),
        &[
            "verify",
            binary.to_str().unwrap(),
            "--policy",
            policy_path.to_str().unwrap(),
        ],
    );
    let (text, code) = stdout_and_code(&out);
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("INSUFFICIENT"), "{text}");
    assert!(
        text.contains("proven: the log's index lists none"),
        "{text}"
    );
}

/// `reprolog audit --full` with the index key, run as a user would.
fn audit_full(log: &LogHandle, state: &Path) -> (String, i32) {
    let out = std::process::Command::new(client_program())
        .args(["--state"])
        .arg(state)
        .args(["audit", "--full", "--log", &log.url, "--log-key", &log.vkey])
        .args(["--index-key", &log.index_vkey])
        .output()
        .unwrap();
    stdout_and_code(&out)
}

#[test]
fn a_full_audit_recomputes_every_revision_and_names_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
    );
    let digest = Hash::of(b"a binary");
    let submit_all = |log: &LogHandle| {
        post(&log.url, &attestation(&alice, "app", digest, true));
        post(
            &log.url,
            &attestation(&bob, "other", Hash::of(b"other"), true),
        );
        post(&log.url, &attestation(&bob, "app", digest, false)); // entry 2
        post(&log.url, &attestation(&alice, "app-2", digest, true));
    };

    // An honest log: every revision (the empty log's and one per batch) is right.
    let honest = LogHandle::start(&dir.path().join("honest"), "test.localhost/log").unwrap();
    submit_all(&honest);
    let (text, code) = audit_full(&honest, &dir.path().join("s1"));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("index: 5 of 5 revisions recomputed from the log and found right"),
        "{text}"
    );

    // A log whose index leaves entry 2's rebuilder key out of its map: the
    // audit stops at the revision of size 3 and names the digest and key.
    let wrong =
        LogHandle::start_with_wrong_index(&dir.path().join("wrong"), "test.localhost/log", 2)
            .unwrap();
    submit_all(&wrong);
    let (text, code) = audit_full(&wrong, &dir.path().join("s2"));
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("index: 3 of 5 revisions"), "{text}");
    let bob_key = hex::encode(bob.verifier().public_key());
    assert!(
        text.contains(&format!(
            "log error: index revision 3 (log size 3): its map root is not the map of the log's first 3 entries; first wrong key: digest {} by rebuilder key {bob_key}",
            digest.to_hex()
        )),
        "{text}"
    );
}

/// `reprolog-rebuilder follow --once` with a policy naming the log's index
/// log (and trusting a rebuilder that attests nothing here, so no build
/// runs): stderr and exit code.
fn follow_once(log: &LogHandle, dir: &Path, node: &str) -> (String, i32) {
    let rebuilder = program("reprolog-rebuilder");
    let key = dir.join(format!("{node}.key"));
    if !key.exists() {
        let out = std::process::Command::new(&rebuilder)
            .args(["keygen", "--name", node, "--out"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let carol = Signer::generate("carol.test").unwrap();
    let policy = dir.join(format!("{node}.policy"));
    std::fs::write(
        &policy,
        format!(
            "log {} {}\nindex {}\nrebuilder carol {}\ngroup g 1 carol\nconsensus g\nquorum none\n",
            log.vkey,
            log.url,
            log.index_vkey,
            carol.verifier().to_key_text()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(&rebuilder)
        .args([
            "follow",
            &log.url,
            "--log-key",
            &log.vkey,
            "--once",
            "--key",
        ])
        .arg(&key)
        .arg("--policy")
        .arg(&policy)
        .arg("--cache")
        .arg(dir.join(format!("{node}-cache")))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn a_follower_recomputes_the_index_and_stops_at_a_wrong_revision() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
    );
    let digest = Hash::of(b"a binary");
    let submit_all = |log: &LogHandle| {
        post(&log.url, &attestation(&alice, "app", digest, true));
        post(
            &log.url,
            &attestation(&bob, "other", Hash::of(b"other"), true),
        );
        post(&log.url, &attestation(&bob, "app", digest, false)); // entry 2
        post(&log.url, &attestation(&alice, "app-2", digest, true));
    };

    // An honest log: every revision is recomputed and found right, again
    // after a restart (the replay starts over), and the new one after the
    // log grew.
    let honest = LogHandle::start(&dir.path().join("honest"), "test.localhost/log").unwrap();
    submit_all(&honest);
    let (text, code) = follow_once(&honest, dir.path(), "node");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("caught up at log size 4"), "{text}");
    assert!(
        text.contains("index: 5 revisions recomputed and found right"),
        "{text}"
    );
    let (text, code) = follow_once(&honest, dir.path(), "node");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("index: 5 revisions recomputed"), "{text}");
    post(&honest.url, &attestation(&bob, "app-3", digest, true));
    let (text, code) = follow_once(&honest, dir.path(), "node");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("caught up at log size 5"), "{text}");
    assert!(text.contains("index: 6 revisions recomputed"), "{text}");

    // A log whose index leaves entry 2's rebuilder key out of its map: the
    // follower stops at the first revision that has it, in one line.
    let wrong =
        LogHandle::start_with_wrong_index(&dir.path().join("wrong"), "test.localhost/log", 2)
            .unwrap();
    submit_all(&wrong);
    let (text, code) = follow_once(&wrong, dir.path(), "node-2");
    assert_eq!(code, 2, "{text}");
    assert_eq!(
        text.trim(),
        "reprolog-rebuilder: the log's index is wrong, following stopped: index revision 3 (log size 3): its map root is not the map of the log's first 3 entries",
    );
}
