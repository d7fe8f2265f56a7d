//! `reprolog verify` against a real log on 127.0.0.1: every verdict, untrusted
//! keys, one key counting once, offline bundles, and checkpoint memory.

use reprolog_e2e::*;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use std::path::Path;

#[test]
fn each_verdict_is_reached_from_a_real_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let (alice, bob, carol) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
        Signer::generate("carol.test").unwrap(),
    );
    let mallory = Signer::generate("mallory.test").unwrap();
    let policy_path = dir.path().join("policy");
    std::fs::write(
        &policy_path,
        policy(
            &log.vkey,
            &log.url,
            &[("alice", &alice), ("bob", &bob), ("carol", &carol)],
            2,
        ),
    )
    .unwrap();
    let state = dir.path().join("state");

    let file = |name: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("contents of {name}")).unwrap();
        (p, Hash::of(format!("contents of {name}").as_bytes()))
    };
    let (good, good_d) = file("good");
    let (lonely, lonely_d) = file("lonely");
    let (_, disputed_d) = file("disputed");
    let (unknown, _) = file("unknown");
    post(&log.url, &attestation(&alice, "good", good_d, true));
    post(&log.url, &attestation(&bob, "good", good_d, true));
    post(&log.url, &attestation(&mallory, "good", good_d, true));
    // Alice twice and Mallory: still one trusted key.
    post(&log.url, &attestation(&alice, "lonely", lonely_d, true));
    post(
        &log.url,
        &attestation(&alice, "lonely-renamed", lonely_d, true),
    );
    post(&log.url, &attestation(&mallory, "lonely", lonely_d, true));
    post(&log.url, &attestation(&alice, "disputed", disputed_d, true));
    post(&log.url, &attestation(&bob, "disputed", disputed_d, true));
    post(
        &log.url,
        &attestation(&carol, "disputed", disputed_d, false),
    );

    let policy_arg = policy_path.to_str().unwrap();
    let run = |target: &str| client(&state, &["verify", target, "--policy", policy_arg]);

    let out = run(good.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.starts_with("REPRODUCED"), "{text}");
    assert!(
        text.contains("1 more entry in") && text.contains("by keys not in the policy"),
        "untrusted key summarised: {text}"
    );

    let out = run(lonely.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("reproduced by 1 of the 2"),
        "{}",
        stdout(&out)
    );

    let out = run(&disputed_d.to_hex());
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("MISMATCH"));

    let out = run(unknown.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("INSUFFICIENT"));

    // JSON, and a saved answer that verifies offline once the log is gone.
    let bundle = dir.path().join("good.bundle.json");
    let out = client(
        &state,
        &[
            "verify",
            good.to_str().unwrap(),
            "--policy",
            policy_arg,
            "--json",
            "--save",
            bundle.to_str().unwrap(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "REPRODUCED");
    assert_eq!(json["reproduced_by"], serde_json::json!(["alice", "bob"]));
    assert!(std::fs::read_dir(&state).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("checkpoint-")));
    log.stop().unwrap();
    let offline = |target: &Path, bundle: &Path| {
        client(
            &state,
            &[
                "verify",
                target.to_str().unwrap(),
                "--policy",
                policy_arg,
                "--offline",
                bundle.to_str().unwrap(),
            ],
        )
    };
    let out = offline(&good, &bundle);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // An entry cut out of the saved answer: its counts no longer add up.
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(saved["matched"], 2, "{saved}");
    saved["entries"].as_array_mut().unwrap().remove(1);
    let cut = dir.path().join("cut.bundle.json");
    std::fs::write(&cut, saved.to_string()).unwrap();
    let out = offline(&good, &cut);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{}{err}", stdout(&out));
    assert!(
        err.contains("lists 1 of the 2 entries it says match"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // The bundle does not vouch for another file.
    let out = offline(&lonely, &bundle);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("about another file"));
}

#[test]
fn bad_input_gets_one_line_and_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bad_policy = dir.path().join("p");
    std::fs::write(&bad_policy, "log nonsense\n").unwrap();
    for args in [
        vec![
            "verify",
            "/no/such/file",
            "--policy",
            bad_policy.to_str().unwrap(),
        ],
        vec!["verify", "abc", "--policy", "/no/such/policy"],
        vec![
            "audit",
            "--log",
            "http://127.0.0.1:9",
            "--log-key",
            "garbage",
        ],
    ] {
        let out = client(&state, &args);
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let out = client(&state, &["policy", "init"]);
    assert!(stdout(&out).contains("quorum"));

    // A policy of the earlier form (`quorum` naming rebuilders) is refused
    // with one line that says how to write it now.
    let signer = Signer::from_seed("r.test", &[5; 32]).unwrap();
    let log = Signer::from_seed("log.test", &[6; 32]).unwrap();
    let old = dir.path().join("old-policy");
    std::fs::write(
        &old,
        format!(
            "log {} http://127.0.0.1:9\nrebuilder r {}\ngroup g 1 r\nquorum g\n",
            log.verifier().to_key_text(),
            signer.verifier().to_key_text()
        ),
    )
    .unwrap();
    let out = client(
        &state,
        &["verify", &"0".repeat(64), "--policy", old.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("write `consensus g` and add `quorum none`"),
        "{err}"
    );
}

/// A usage error is bad input (exit 4, one line), never a verdict's code;
/// a malformed policy line says its reason once.
#[test]
fn usage_errors_are_bad_input_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cases: [&[&str]; 3] = [
        &["verify", "x"],
        &["verify", "x", "--policy", "p", "--bogus"],
        &["audit"],
    ];
    for args in cases {
        let out = client(&state, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("see reprolog --help"), "{err}");
    }
    assert_eq!(client(&state, &["verify", "--help"]).status.code(), Some(0));
    let policy = dir.path().join("policy.txt");
    std::fs::write(&policy, "log not-a-key http://127.0.0.1:1\n").unwrap();
    let digest = "00".repeat(32);
    let out = client(
        &state,
        &["verify", &digest, "--policy", policy.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert_eq!(err.matches("bad key").count(), 1, "{err}");
    let reason = err.rsplit("bad key: ").next().unwrap().trim();
    assert_eq!(err.matches(reason).count(), 1, "said once: {err}");
}
