//! A log that lies is caught, with the right message.

mod common;

use common::liar::{self, LiarState, Lie};
use common::*;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::sync::{Arc, Mutex};

struct Setup {
    dir: tempfile::TempDir,
    state: Arc<Mutex<LiarState>>,
    policy: String,
    alice: Signer,
    subject: Hash,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate("liar.test/log").unwrap();
    let vkey = signer.verifier().to_key_text();
    let alice = Signer::generate("alice.test").unwrap();
    let subject = Hash::of(b"the download");
    let entries = (0..6)
        .map(|i| attestation(&alice, &format!("f{i}"), Hash::of(&[i]), true))
        .chain([attestation(&alice, "dl", subject, true)])
        .collect();
    let state = Arc::new(Mutex::new(LiarState {
        signer,
        entries,
        lie: Lie::None,
    }));
    let url = liar::serve(state.clone());
    let policy_text = policy(&vkey, &url, &[("alice", &alice)], 1);
    let policy = dir.path().join("policy");
    std::fs::write(&policy, policy_text).unwrap();
    Setup {
        policy: policy.to_str().unwrap().to_string(),
        dir,
        state,
        alice,
        subject,
    }
}

fn verify(s: &Setup) -> (i32, String) {
    let out = client(
        &s.dir.path().join("state"),
        &["verify", &s.subject.to_hex(), "--policy", &s.policy],
    );
    (out.status.code().unwrap(), stdout(&out))
}

#[test]
fn honest_then_each_lie() {
    let s = setup();
    assert_eq!(verify(&s).0, 0, "honest log: {}", verify(&s).1);
    for (lie, needle) in [
        (Lie::WrongRoot, "proof"),
        (Lie::ForgedSignature, "signature"),
        (Lie::ProofForAnotherLeaf, "proof"),
    ] {
        s.state.lock().unwrap().lie = lie;
        let (code, text) = verify(&s);
        assert_eq!(code, 3, "{lie:?}: {text}");
        assert!(
            text.contains("LOG ERROR") && text.contains(needle),
            "{lie:?}: {text}"
        );
    }
}

#[test]
fn rollback_is_caught_naming_both_checkpoints() {
    let s = setup();
    s.state
        .lock()
        .unwrap()
        .entries
        .push(attestation(&s.alice, "later", Hash::of(b"later"), true));
    assert_eq!(verify(&s).0, 0);
    // The log now pretends the last entry never existed.
    s.state.lock().unwrap().entries.pop();
    let (code, text) = verify(&s);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("rollback") && text.contains("size 7") && text.contains("size 8"),
        "{text}"
    );
}

#[test]
fn fork_from_the_same_prefix_is_caught() {
    let s = setup();
    assert_eq!(verify(&s).0, 0);
    // Same first 4 entries, then a different history, signed by the same key.
    {
        let mut st = s.state.lock().unwrap();
        st.entries.truncate(4);
        for i in 0..5 {
            st.entries.push(attestation(
                &s.alice,
                &format!("fork{i}"),
                Hash::of(format!("fork {i}").as_bytes()),
                true,
            ));
        }
        st.entries
            .push(attestation(&s.alice, "dl", s.subject, true));
    }
    let (code, text) = verify(&s);
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("fork") && text.contains("size 7") && text.contains("size 10"),
        "{text}"
    );

    // A same-size fork.
    let s = setup();
    assert_eq!(verify(&s).0, 0);
    {
        let mut st = s.state.lock().unwrap();
        st.entries[0] = attestation(&s.alice, "other", Hash::of(b"other"), true);
    }
    let (code, text) = verify(&s);
    assert_eq!(code, 3);
    assert!(text.contains("same size, different root"), "{text}");
}

#[test]
fn audit_catches_a_fork_too() {
    let s = setup();
    let vkey = s.state.lock().unwrap().signer.verifier().to_key_text();
    let url = std::fs::read_to_string(&s.policy)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let state = s.dir.path().join("audit-state");
    let out = client(&state, &["audit", "--log", &url, "--log-key", &vkey]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    {
        let mut st = s.state.lock().unwrap();
        st.entries.truncate(3);
        for i in 0..6 {
            st.entries.push(attestation(
                &s.alice,
                &format!("x{i}"),
                Hash::of(&[i, 9]),
                true,
            ));
        }
    }
    let out = client(&state, &["audit", "--log", &url, "--log-key", &vkey]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("fork"), "{}", stdout(&out));
}
