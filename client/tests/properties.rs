//! Properties of the client's decision on statements with arbitrary text:
//! `verify` exits only with its documented codes (0–3 for a verdict) and the
//! right one for the keys and results involved, `audit` only with 0 or 3, and
//! what either prints holds no control or bidi character and no overlong line.

use proptest::prelude::*;
use reprolog_client::{audit, verify};
use reprolog_proto::display::is_unsafe;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::policy::Policy;
use reprolog_proto::statement::{DigestSet, ResourceDescriptor, Statement};
use reprolog_proto::wire::LookupEntry;
use reprolog_proto::Hash;

fn assert_safe(text: &str) {
    for line in text.lines() {
        assert!(line.chars().count() <= 400, "overlong line {line:?}");
        assert!(
            !line.chars().any(is_unsafe),
            "unescaped character in {line:?}"
        );
    }
}

/// Text fields of one attestation: file name, Go version, git commit, builder id.
fn fields() -> impl Strategy<Value = [String; 4]> {
    let text = prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\u{202a}-\\u{202e}é]{0,40}",
        ".{1000,2000}"
    ];
    [text.clone(), text.clone(), text.clone(), text]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn verdicts_and_output_hold_for_any_text(
        entries in prop::collection::vec((any::<bool>(), any::<bool>(), fields()), 1..4)
    ) {
        let log = Signer::from_seed("prop.example/log", &[1; 32]).unwrap();
        let trusted = Signer::from_seed("trusted.example", &[2; 32]).unwrap();
        let stranger = Signer::from_seed("stranger.example", &[3; 32]).unwrap();
        let policy = Policy::parse(&format!(
            "log {} http://127.0.0.1:1\nrebuilder trusted {}\ngroup g 1 trusted\nconsensus g\nquorum none\n",
            log.verifier().to_key_text(),
            trusted.verifier().to_key_text()
        ))
        .unwrap();
        let subject = Hash::of(b"the binary");
        let mut lookup = Vec::new();
        let mut findings = audit::Findings::default();
        for (i, (by_trusted, reproduced, [name, go, commit, builder])) in entries.iter().enumerate() {
            let signer = if *by_trusted { &trusted } else { &stranger };
            let rebuilt = if *reproduced { subject } else { Hash::of(b"other") };
            let mut st = Statement::minimal(name, subject, rebuilt, builder);
            st.predicate.build_definition.external_parameters.go_version = go.clone();
            st.predicate.build_definition.resolved_dependencies.push(ResourceDescriptor {
                name: "source".into(),
                digest: DigestSet::from([("gitCommit".to_string(), commit.clone())]),
                ..Default::default()
            });
            let entry = Entry::sign(&st, signer).to_cbor();
            audit::examine(i as u64, &entry, Some(&policy), &mut findings);
            lookup.push(LookupEntry { index: i as u64, entry, inclusion_proof: vec![] });
        }
        let report = verify::assess(subject, &policy, &policy.logs[0], &lookup);
        let expected = if entries.iter().any(|(t, r, _)| *t && !*r) {
            2
        } else if entries.iter().any(|(t, r, _)| *t && *r) {
            0
        } else {
            1
        };
        prop_assert_eq!(report.verdict.exit_code(), expected);
        assert_safe(&verify::render(&report));
        let json = serde_json::to_string(&report).unwrap();
        prop_assert!(!json.chars().any(is_unsafe));

        let audited = audit::AuditReport {
            checkpoint_size: entries.len() as u64,
            checkpoint_root: Hash::empty_tree(),
            previous_size: None,
            full: true,
            findings,
            index: None,
        };
        prop_assert!([0, 3].contains(&audited.exit_code()));
        prop_assert_eq!(audited.exit_code(), 0, "well-signed entries are no log error");
        assert_safe(&audit::render(&audited));
    }
}
