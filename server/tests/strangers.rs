//! Keys the operator does not know ("strangers") share one budget: 300 fresh
//! keys × 100 entries from 128 threads are held to the total intake
//! (accepted ≤ burst + rate × duration), while a known rebuilder's entries
//! are all acknowledged; and below the strangers' disk floor no unknown key
//! writes at all, while the known one still does.

mod common;

use common::*;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

const RATE: f64 = 20.0;
const BURST: usize = 100;

/// A log in `dir` that knows one rebuilder key (returned), started with `args`.
fn with_a_known_key(dir: &std::path::Path, args: &[&str]) -> (TestServer, Signer) {
    let key = init(dir);
    let trusted = Signer::generate("trusted.test").unwrap();
    let known = trusted.verifier().to_key_text();
    let args = [&["--known-key", known.as_str()], args].concat();
    (TestServer::start(dir, &key, &args), trusted)
}

#[test]
fn fresh_keys_share_one_budget_and_known_keys_keep_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, trusted) = with_a_known_key(
        dir.path(),
        &[
            "--unknown-total-rate",
            &RATE.to_string(),
            "--unknown-total-burst",
            &BURST.to_string(),
            // 128 clients on one address, a connection per request.
            "--max-connections-per-peer",
            "1024",
        ],
    );
    let accepted = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let trusted_acks = std::thread::scope(|s| {
        for _ in 0..128 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= 300 * 100 {
                    return;
                }
                // Key i / 100: 300 keys, 100 entries each.
                let signer = Signer::from_seed(
                    &format!("fresh{}.test", i / 100),
                    &Hash::of(&(i / 100).to_be_bytes()).0,
                )
                .unwrap();
                let entry = entry_for(&signer, &format!("copy-{i}"), Hash::of(b"x"), true);
                match server.post_entry(&entry, "application/cbor") {
                    (200, _) => accepted.fetch_add(1, Relaxed),
                    (503 | 429, _) => refused.fetch_add(1, Relaxed),
                    (status, body) => panic!("{status}: {}", String::from_utf8_lossy(&body)),
                };
            });
        }
        // Meanwhile the known rebuilder submits: every entry acknowledged.
        s.spawn(|| {
            let mut acknowledged = 0;
            for i in 0..20u8 {
                // `submit` asserts a 200 and a receipt.
                server.submit(&entry_for(&trusted, "app", Hash::of(&[i]), true));
                acknowledged += 1;
            }
            acknowledged
        })
        .join()
        .unwrap()
    });
    let secs = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Relaxed);
    let bound = BURST as f64 + RATE * secs;
    assert_eq!(trusted_acks, 20);
    assert!(
        (accepted as f64) <= bound + 1.0,
        "{accepted} untrusted entries accepted in {secs:.1} s; the budget allows {bound:.0}"
    );
    assert!(accepted >= BURST, "the burst was admitted: {accepted}");
    assert_eq!(accepted + refused.load(Relaxed), 30_000);
    // The budget's own count bounds it too (an admitted entry may still
    // meet a full pool: 503, not accepted).
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    let admitted: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("reprolog_unknown_keys_admitted_total "))
        .and_then(|n| n.parse().ok())
        .expect("the budget's count in /metrics");
    assert!(
        accepted <= admitted && admitted as f64 <= bound + 1.0,
        "{metrics}"
    );
    assert!(metrics.contains("reprolog_rejected_total{reason=\"unknown_budget\"}"));
    eprintln!("{accepted} of 30000 untrusted entries accepted in {secs:.1} s (bound {bound:.0})");
}

#[test]
fn below_the_strangers_floor_only_known_keys_write() {
    if common::on_postgres() {
        eprintln!("redb only: on PostgreSQL the data dir's disk holds no entries");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A floor above any disk's free space: strangers are refused outright.
    let (server, trusted) = with_a_known_key(dir.path(), &["--unknown-min-free-mib", "1000000000"]);
    let stranger = Signer::generate("stranger.test").unwrap();
    let before = server.checkpoint().size;
    let (status, body) = server.post_entry(
        &entry_for(&stranger, "app", Hash::of(b"s"), true),
        "application/cbor",
    );
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("kept for the log's own rebuilders"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(server.checkpoint().size, before, "nothing stored");
    server.submit(&entry_for(&trusted, "app", Hash::of(b"t"), true));
    assert_eq!(server.checkpoint().size, before + 1);
}
