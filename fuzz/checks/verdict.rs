//! The client's decision and rendering on well-signed statements whose every
//! field an attacker chose: `verify`'s verdict keeps to its exit codes, and
//! neither the table, `--json` nor the audit report lets a control or bidi
//! character or an overlong line through.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/verdict.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_client::{audit, verify};
use reprolog_proto::display::is_unsafe;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::policy::Policy;
use reprolog_proto::statement::{DigestSet, ResourceDescriptor, Setting, Statement};
use reprolog_proto::wire::LookupEntry;
use reprolog_proto::Hash;
use std::sync::LazyLock;

/// A statement from the input: JSON if it is one, else the input's parts
/// (split at 0xff) poured into the fields people see.
fn statement(data: &[u8], subject: Hash, signer: &Signer) -> Statement {
    if let Ok(st) = serde_json::from_slice::<Statement>(data) {
        return st;
    }
    let mut parts = data.split(|&b| b == 0xff).map(String::from_utf8_lossy);
    let mut next = || parts.next().map(|p| p.into_owned()).unwrap_or_default();
    let reproduced = data.first().is_some_and(|b| b & 1 == 0);
    let rebuilt = if reproduced {
        subject
    } else {
        Hash::of(b"other")
    };
    let mut st = Statement::minimal(&next(), subject, rebuilt, signer.name());
    let p = &mut st.predicate.build_definition.external_parameters;
    p.go_version = next();
    p.path = next();
    p.settings.push(Setting {
        key: next(),
        value: next(),
    });
    let commit = next();
    st.predicate.run_details.builder.id = next();
    st.predicate
        .build_definition
        .resolved_dependencies
        .push(ResourceDescriptor {
            name: "source".into(),
            uri: next(),
            digest: DigestSet::from([("gitCommit".to_string(), commit)]),
            ..Default::default()
        });
    st
}

fn assert_safe(text: &str, max_line: usize) {
    for line in text.lines() {
        assert!(line.chars().count() <= max_line, "overlong line {line:?}");
        assert!(
            !line.chars().any(is_unsafe),
            "unescaped character in {line:?}"
        );
    }
}

/// The keys and the policy, made once.
struct World {
    trusted: Signer,
    stranger: Signer,
    policy: Policy,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let log = Signer::from_seed("fuzz.example/log", &[7; 32]).unwrap();
    let trusted = Signer::from_seed("trusted.example", &[9; 32]).unwrap();
    let stranger = Signer::from_seed("stranger.example", &[11; 32]).unwrap();
    let policy = Policy::parse(&format!(
        "log {} http://127.0.0.1:1\nrebuilder trusted {}\ngroup g 1 trusted\nconsensus g\nquorum none\n",
        log.verifier().to_key_text(),
        trusted.verifier().to_key_text()
    ))
    .unwrap();
    World {
        trusted,
        stranger,
        policy,
    }
});

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    let World {
        trusted,
        stranger,
        policy,
    } = &*WORLD;
    let subject = Hash::of(b"the binary");
    let signer = if data.get(1).is_some_and(|b| b & 1 == 1) {
        stranger
    } else {
        trusted
    };
    let st = statement(data, subject, signer);
    let entry = Entry::sign(&st, signer).to_cbor();

    let lookup = [LookupEntry {
        index: 0,
        entry: entry.clone(),
        inclusion_proof: vec![],
    }];
    let report = verify::assess(subject, policy, &policy.logs[0], &lookup);
    assert!((0..=3).contains(&report.verdict.exit_code()));
    assert_safe(&verify::render(&report), 400);
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        !json.chars().any(is_unsafe),
        "unescaped character in --json"
    );

    let mut findings = audit::Findings::default();
    audit::examine(0, &entry, Some(policy), &mut findings);
    let audited = audit::AuditReport {
        checkpoint_size: 1,
        checkpoint_root: Hash::leaf(&entry),
        previous_size: None,
        full: true,
        findings,
        index: None,
    };
    assert!([0, 3].contains(&audited.exit_code()));
    assert_safe(&audit::render(&audited), 400);
}
