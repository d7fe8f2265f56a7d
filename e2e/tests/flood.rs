//! A flood of entries cannot hide evidence: a real log on 127.0.0.1 under its
//! default limits, 2,000 well-signed entries from keys no policy lists for one
//! digest, then a trusted mismatch and a trusted match.

use reprolog_e2e::*;
use reprolog_io::http;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

/// Submits `entry`, returning the HTTP status.
fn submit(url: &str, entry: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    reprolog_testkit::add_entry(&agent, url, entry)
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_flood_neither_hides_a_trusted_mismatch_nor_blocks_trusted_rebuilders() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let alice = Signer::generate("alice.test").unwrap();
    let bob = Signer::generate("bob.test").unwrap();
    let policy_path = dir.path().join("policy");
    std::fs::write(
        &policy_path,
        policy(&log.vkey, &log.url, &[("alice", &alice), ("bob", &bob)], 1),
    )
    .unwrap();
    let digest = Hash::of(b"a popular release");

    // 25 fresh keys send 80 entries each for the digest (within the default
    // burst of an unknown key), one greedy key sends 300 and is held to its
    // rate; meanwhile a trusted rebuilder attests other binaries.
    let flooders: Vec<Signer> = (0..25)
        .map(|i| Signer::generate(&format!("flood-{i}.test")).unwrap())
        .collect();
    let greedy = Signer::generate("greedy.test").unwrap();
    let (trusted_statuses, greedy_statuses) = std::thread::scope(|s| {
        for (k, f) in flooders.iter().enumerate() {
            let url = &log.url;
            s.spawn(move || {
                for i in 0..80 {
                    let e = attestation(f, &format!("flood-{k}-{i}"), digest, true);
                    assert_eq!(submit(url, &e), 200, "flood key {k} entry {i}");
                }
            });
        }
        let greedy = s.spawn(|| {
            (0..300)
                .map(|i| {
                    let e = attestation(
                        &greedy,
                        &format!("greedy-{i}"),
                        Hash::of(&[1, i as u8]),
                        true,
                    );
                    submit(&log.url, &e)
                })
                .collect::<Vec<u16>>()
        });
        let trusted = s.spawn(|| {
            (0..20u8)
                .map(|i| {
                    let e = attestation(&alice, &format!("other-{i}"), Hash::of(&[2, i]), true);
                    submit(&log.url, &e)
                })
                .collect::<Vec<u16>>()
        });
        (trusted.join().unwrap(), greedy.join().unwrap())
    });
    assert!(
        trusted_statuses.iter().all(|&s| s == 200),
        "a trusted rebuilder was refused during the flood: {trusted_statuses:?}"
    );
    assert!(
        greedy_statuses.contains(&429),
        "one key sending 300 at once is held to its rate"
    );

    // Evidence after the flood: a trusted mismatch and a trusted match.
    post(&log.url, &attestation(&alice, "release", digest, false));
    post(&log.url, &attestation(&bob, "release", digest, true));

    let state = dir.path().join("state");
    let policy_arg = policy_path.to_str().unwrap();
    let hex = digest.to_hex();
    let out = client(&state, &["verify", &hex, "--policy", policy_arg]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "CONTESTED expected: {text}");
    assert!(text.starts_with("CONTESTED"), "{text}");
    assert!(
        text.contains("2,000 more entries in") && text.contains("by keys not in the policy"),
        "{text}"
    );
    assert!(text.lines().count() <= 8, "the flood is one line: {text}");
    // Only the policy's keys' entries were fetched.
    let json = client(&state, &["verify", &hex, "--policy", policy_arg, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["not_fetched"][0][1], 2000, "{report}");

    // Without keys, a lookup pages through all 2,002 entries.
    let reader = http::connect(&log.url, Verifier::from_key_text(&log.vkey).unwrap());
    let pages = reader.lookup(&digest, &[]).unwrap();
    assert_eq!(pages.len(), 3, "pages of 1,000");
    let indices: BTreeSet<u64> = pages
        .iter()
        .flat_map(|(p, _)| p.entries.iter().map(|e| e.index))
        .collect();
    assert_eq!(indices.len(), 2002);
    assert!(pages.iter().all(|(p, _)| p.total == Some(2002)));
    assert!(pages[..2].iter().all(|(p, _)| p.next.is_some()) && pages[2].0.next.is_none());

    // A reader that stops after one line does not turn the verdict into a panic.
    let mut child = Command::new(client_program())
        .arg("--state")
        .arg(&state)
        .args(["verify", &hex, "--policy", policy_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
