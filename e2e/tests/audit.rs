//! `reprolog audit` against a real log: consistency, full recomputation,
//! mismatches, disagreeing rebuilders, unknown keys, and resuming.

use reprolog_e2e::*;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::statement::Statement;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;

#[test]
fn full_audit_recomputes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (alice, bob, eve) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
        Signer::generate("eve.test").unwrap(),
    );
    // Alice writes 300 entries at once: the log knows her (and Bob).
    let known = [alice.verifier().public_key(), bob.verifier().public_key()];
    let log =
        LogHandle::start_knowing(&dir.path().join("log"), "test.localhost/log", &known).unwrap();
    let policy_path = dir.path().join("policy");
    std::fs::write(
        &policy_path,
        policy(&log.vkey, &log.url, &[("alice", &alice), ("bob", &bob)], 2),
    )
    .unwrap();

    for i in 0..300u32 {
        post(
            &log.url,
            &attestation(&alice, &format!("f{i}"), Hash::of(&i.to_be_bytes()), true),
        );
    }
    // Bob rebuilds the same inputs as one of Alice's and gets something else.
    let subject = Hash::of(&7u32.to_be_bytes());
    let st = Statement::minimal("f7", subject, Hash::of(b"bob's output"), "bob.test");
    post(&log.url, &Entry::sign(&st, &bob).to_cbor());
    post(&log.url, &attestation(&eve, "e", Hash::of(b"e"), true));

    let audit = |full: bool| {
        let mut args = vec![
            "audit",
            "--log",
            &log.url,
            "--log-key",
            &log.vkey,
            "--policy",
            policy_path.to_str().unwrap(),
            "--json",
        ];
        if full {
            args.push("--full");
        }
        let out = client(&state, &args);
        (
            out.status.code(),
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        )
    };
    let (code, first) = audit(false);
    assert_eq!(code, Some(0));
    assert_eq!(first["previous_size"], serde_json::Value::Null);

    let (code, full) = audit(true);
    assert_eq!(code, Some(0), "{full}");
    let f = &full["findings"];
    assert_eq!(f["entries_checked"], 302);
    assert_eq!(f["mismatches"].as_array().unwrap().len(), 1);
    assert_eq!(f["disagreements"].as_object().unwrap().len(), 1, "{f}");
    assert_eq!(f["unknown_keys"].as_object().unwrap().len(), 1);
    assert_eq!(full["previous_size"], 302);

    // More entries: the next full audit resumes rather than starting over.
    for i in 0..20u32 {
        post(
            &log.url,
            &attestation(
                &bob,
                &format!("g{i}"),
                Hash::of(&(1000 + i).to_be_bytes()),
                true,
            ),
        );
    }
    let (code, again) = audit(true);
    assert_eq!(code, Some(0), "{again}");
    assert_eq!(again["findings"]["entries_checked"], 322);
    assert_eq!(again["checkpoint_size"], 322);
}
