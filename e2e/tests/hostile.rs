//! Attacker text is data: entries in a real log on 127.0.0.1, well signed,
//! whose fields are crafted (a multibyte revision cut at byte 12 used to panic,
//! 2,000-character fields, terminal escapes, bidi overrides, 400 dependencies).
//! `verify` and `audit` keep to their documented exit codes and show the text
//! escaped and bounded, in the table and in `--json`.

use reprolog_e2e::*;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::statement::{DigestSet, ResourceDescriptor, Statement};
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use std::collections::BTreeMap;

/// A statement by `signer` about `subject`, shaped by `edit`.
fn crafted(
    signer: &Signer,
    subject: Hash,
    reproduced: bool,
    edit: impl FnOnce(&mut Statement),
) -> Vec<u8> {
    let rebuilt = if reproduced {
        subject
    } else {
        Hash::of(b"something else")
    };
    let mut st = Statement::minimal("app", subject, rebuilt, signer.name());
    edit(&mut st);
    Entry::sign(&st, signer).to_cbor()
}

fn git_source(commit: &str) -> ResourceDescriptor {
    ResourceDescriptor {
        name: "source".into(),
        uri: format!("git+example.com/app@{commit}"),
        digest: DigestSet::from([("gitCommit".to_string(), commit.to_string())]),
        annotations: BTreeMap::from([("kind".to_string(), "vcs".to_string())]),
    }
}

/// No raw control character but newline, no bidi control, no overlong line.
fn assert_safe(text: &str, max_line: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= max_line,
            "line of {} chars: {line}",
            line.chars().count()
        );
        assert!(
            !line
                .chars()
                .any(|c| reprolog_proto::display::is_unsafe(c) && c != '\n'),
            "unescaped control or bidi character in {line:?}"
        );
    }
}

#[test]
fn crafted_fields_reach_the_screen_escaped_and_exit_codes_hold() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let alice = Signer::generate("alice.test").unwrap();
    let bob = Signer::generate("bob.test").unwrap();
    let mallory = Signer::generate("mallory.test").unwrap();
    let policy_path = dir.path().join("policy");
    std::fs::write(
        &policy_path,
        policy(&log.vkey, &log.url, &[("alice", &alice), ("bob", &bob)], 1),
    )
    .unwrap();
    let state = dir.path().join("state");
    let d = |name: &str| Hash::of(name.as_bytes());

    // 1. The revision that panicked: "a" and six "é", 13 bytes.
    let multibyte = "aéééééé";
    post(
        &log.url,
        &crafted(&alice, d("multibyte"), true, |st| {
            st.predicate
                .build_definition
                .resolved_dependencies
                .push(git_source(multibyte));
        }),
    );
    // 2. 2,000-character fields, from a trusted key (so they reach the table;
    // the lookup by key never fetches an untrusted one's) and from mallory.
    let long = "é".repeat(2000);
    for signer in [&bob, &mallory] {
        post(
            &log.url,
            &crafted(signer, d("long"), true, |st| {
                let p = &mut st.predicate.build_definition.external_parameters;
                p.go_version = long.clone();
                p.path = long.clone();
                st.subject[0].name = long.clone();
                st.predicate.run_details.builder.id = long.clone();
                st.predicate
                    .build_definition
                    .resolved_dependencies
                    .push(git_source(&long));
            }),
        );
    }
    // 3. Terminal escapes and bidi overrides, and a trusted mismatch.
    let evil_version = "go1.22\x1b[2J\x1b]0;pwned\x07\u{202e}lave";
    post(
        &log.url,
        &crafted(&alice, d("escapes"), true, |st| {
            st.predicate.build_definition.external_parameters.go_version = evil_version.into();
        }),
    );
    post(
        &log.url,
        &crafted(&bob, d("escapes"), false, |st| {
            st.predicate
                .build_definition
                .resolved_dependencies
                .push(git_source("\r\x1b[1A\u{2066}0123456789abcdef"));
            st.subject[0].name = "app\x1b[31m\u{202e}exe.sh".into();
            st.predicate.run_details.builder.id = "bob\x1b[8m".into();
        }),
    );
    // 4. Four hundred dependencies.
    post(
        &log.url,
        &crafted(&alice, d("deps"), true, |st| {
            for i in 0..400 {
                st.predicate
                    .build_definition
                    .resolved_dependencies
                    .push(ResourceDescriptor {
                        name: "dep".into(),
                        uri: format!("pkg:golang/example.com/dep{i}@v1.0.{i}"),
                        digest: DigestSet::from([(
                            "dirHash".to_string(),
                            "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string(),
                        )]),
                        ..Default::default()
                    });
            }
        }),
    );

    let policy_arg = policy_path.to_str().unwrap();
    let verify = |digest: Hash, json: bool| {
        let hex = digest.to_hex();
        let mut args = vec!["verify", hex.as_str(), "--policy", policy_arg];
        if json {
            args.push("--json");
        }
        client(&state, &args)
    };
    for (name, expected) in [("multibyte", 0), ("long", 0), ("escapes", 2), ("deps", 0)] {
        let table = verify(d(name), false);
        let text = stdout(&table);
        assert_eq!(table.status.code(), Some(expected), "{name}: {text}");
        assert_safe(&text, 200);
        let json = verify(d(name), true);
        assert_eq!(json.status.code(), Some(expected), "{name} --json");
        let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_safe(&report.to_string(), 1_000_000);
        for row in report["rows"].as_array().unwrap() {
            for field in ["go_version", "source"] {
                let v = row[field].as_str().unwrap();
                assert!(v.chars().count() <= 64, "{name} {field}: {v}");
            }
        }
        match name {
            "multibyte" => assert!(text.contains(&format!("git {multibyte}")), "{text}"),
            "long" => assert!(
                text.contains('…') && text.contains("1 more entry in"),
                "{text}"
            ),
            "escapes" => {
                assert!(
                    text.contains("go1.22\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{202e}lave"),
                    "{text}"
                );
                assert!(text.contains("git \\u{d}\\u{1b}[1A"), "{text}");
                assert!(text.starts_with("CONTESTED"), "{text}");
            }
            _ => assert!(text.starts_with("REPRODUCED"), "{text}"),
        }
    }

    let audit_args = ["audit", "--log", &log.url, "--log-key", &log.vkey, "--full"];
    let audit = client(
        &state,
        &[&audit_args[..], &["--policy", policy_arg]].concat(),
    );
    let text = stdout(&audit);
    assert_eq!(audit.status.code(), Some(0), "{text}");
    assert_safe(&text, 400);
    assert!(
        text.contains("app\\u{1b}[31m\\u{202e}exe.sh") && text.contains("by bob\\u{1b}[8m"),
        "{text}"
    );
    assert!(
        text.contains("entries checked: 6 (5 reproduced, 1 mismatches"),
        "{text}"
    );
    let json = client(&state, &[&audit_args[..], &["--json"]].concat());
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_safe(&v.to_string(), 1_000_000);
}
