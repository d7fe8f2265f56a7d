//! A follower's memory belongs to a log: a new log at the same URL starts
//! afresh, and a log that forks stops the follower with its state untouched.

mod common;

use common::*;
use reprolog_io::http;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::Statement;
use reprolog_proto::Hash;
use reprolog_rebuilder::node;
use reprolog_rebuilder::rebuild::rebuild;
use reprolog_server::harness::LogHandle;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

/// A free port on 127.0.0.1, so successive logs share one URL.
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn follow(log: &LogHandle, key: &Path, policy: &Path, cache: &Path) -> Output {
    std::process::Command::new(REBUILDER)
        .env_remove("REPROLOG_TOOLCHAINS")
        .args(["follow", "--toolchains"])
        .arg(toolchains())
        .arg("--cache")
        .arg(cache)
        .arg("--gocache")
        .arg(target_tmp().join("gocache"))
        .args([&log.url, "--log-key", &log.vkey, "--once", "--key"])
        .arg(key)
        .arg("--policy")
        .arg(policy)
        .output()
        .unwrap()
}

fn by(log: &LogHandle, digest: Hash, key: &[u8; 32]) -> usize {
    let client = http::connect(&log.url, Verifier::from_key_text(&log.vkey).unwrap());
    // Asked by key: the answer holds that key's entries and no other.
    let pages = client.lookup(&digest, &[*key]).unwrap();
    let entries: Vec<_> = pages.iter().flat_map(|(p, _)| &p.entries).collect();
    assert!(entries
        .iter()
        .all(|e| Entry::from_cbor(&e.entry).unwrap().key == *key));
    entries.len()
}

#[test]
fn a_new_log_at_the_same_url_starts_afresh_and_a_fork_stops_the_follower() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let alice = Signer::generate("alice.test").unwrap();
    let bob = Signer::generate("bob.test").unwrap();
    let mallory = Signer::generate("mallory.test").unwrap();
    let gofmt = goroot("1.27.3").join("bin/gofmt");
    let gofmt_digest = Hash::of(&std::fs::read(&gofmt).unwrap());
    let report = rebuild(&gofmt, &rebuild_config(None, None), &mut |_| {}).unwrap();

    let key = dir.path().join("node.key");
    let node_key = keygen("node.test", &key).verifier().public_key();
    let cache = dir.path().join("node-cache");
    let policy_for = |log: &LogHandle, rebuilder: &Signer| {
        let p = dir
            .path()
            .join(format!("policy-{}", &log.vkey[..20].replace('/', "_")));
        std::fs::write(
            &p,
            format!(
                "log {} {}\nrebuilder r {}\ngroup g 1 r\nconsensus g\nquorum none\n",
                log.vkey,
                log.url,
                rebuilder.verifier().to_key_text()
            ),
        )
        .unwrap();
        p
    };

    // Log A: alice attests gofmt, the node repeats it.
    let a = LogHandle::start_on(&dir.path().join("a"), "test.localhost/log", addr).unwrap();
    let client_a = http::connect(&a.url, Verifier::from_key_text(&a.vkey).unwrap());
    node::submit_report(&report, &alice, &client_a).unwrap();
    let out = follow(&a, &key, &policy_for(&a, &alice), &cache);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(by(&a, gofmt_digest, &node_key), 1);
    a.stop().unwrap();

    // Log B, fresh, at the same URL, with bob's attestation of gofmt: the
    // node attests gofmt there too.
    let b_data = dir.path().join("b");
    let b = LogHandle::start_on(&b_data, "test.localhost/log", addr).unwrap();
    let client_b = http::connect(&b.url, Verifier::from_key_text(&b.vkey).unwrap());
    node::submit_report(&report, &bob, &client_b).unwrap();
    let policy_b = policy_for(&b, &bob);
    let out = follow(&b, &key, &policy_b, &cache);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        by(&b, gofmt_digest, &node_key),
        1,
        "done in A is not done in B"
    );
    let b_vkey = b.vkey.clone();
    b.stop().unwrap();

    // B forks: one copy gets one entry, the other another, at the same size.
    let fork_data = dir.path().join("b-fork");
    copy_dir(&b_data, &fork_data);
    let entry = |name: &str| {
        let d = Hash::of(name.as_bytes());
        Entry::sign(&Statement::minimal(name, d, d, mallory.name()), &mallory).to_cbor()
    };
    let b = LogHandle::start_on(&b_data, "test.localhost/log", addr).unwrap();
    http::connect(&b.url, Verifier::from_key_text(&b.vkey).unwrap())
        .submit(&entry("one"))
        .unwrap();
    let out = follow(&b, &key, &policy_b, &cache);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.stop().unwrap();
    let states: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("follow-node.test-")
        })
        .collect();
    // Per log: the cursor and the journal of finished subjects.
    assert_eq!(states.len(), 4, "one state per log: {states:?}");
    let before: Vec<Vec<u8>> = states.iter().map(|p| std::fs::read(p).unwrap()).collect();

    let forked = LogHandle::start_on(&fork_data, "test.localhost/log", addr).unwrap();
    assert_eq!(forked.vkey, b_vkey, "the same log key");
    http::connect(&forked.url, Verifier::from_key_text(&forked.vkey).unwrap())
        .submit(&entry("another"))
        .unwrap();
    let out = follow(&forked, &key, &policy_b, &cache);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(last.contains("fork: checkpoint size"), "{err}");
    eprintln!("follower said: {last}");
    let after: Vec<Vec<u8>> = states.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(before, after, "the state files are unchanged");
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}
