//! Rebuilder nodes against a real log on 127.0.0.1: attest, submit, follow.

mod common;

use common::*;
use reprolog_io::http::{self, LogClient};
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::Statement;
use reprolog_proto::wire::LookupResponse;
use reprolog_proto::Hash;
use reprolog_rebuilder::node::{self, FollowOptions};
use reprolog_rebuilder::rebuild::{rebuild, RebuildConfig};
use reprolog_rebuilder::toolchain::ToolchainStore;
use reprolog_server::harness::LogHandle;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Go 1.22.10 copied to a second, differently shaped directory, so node B's
/// toolchain lives elsewhere than node A's (the digest must not care).
fn second_toolchain_store() -> PathBuf {
    let store = target_tmp().join("node-b-toolchains");
    let copy = store.join("vendor/golang/go-1.22.10");
    if !copy.join("VERSION").is_file() {
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        let tmp = store.join("copying");
        let _ = std::fs::remove_dir_all(&tmp);
        let ok = Command::new("cp")
            .arg("-a")
            .arg(goroot("1.22.10"))
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::rename(&tmp, &copy).unwrap();
    }
    store
}

fn node_b_config() -> RebuildConfig {
    let cache = target_tmp().join("node-b-cache");
    let mut c = rebuild_config(None, None);
    c.toolchains = ToolchainStore::scan(&[second_toolchain_store()]);
    c.digest_cache = cache.join("digests.json");
    c.scratch_root = cache.join("scratch");
    c
}

fn lookup(log: &LogClient, digest: Hash) -> Vec<(Entry, Statement)> {
    let pages = log.lookup(&digest, &[]).unwrap();
    pages
        .iter()
        .flat_map(|(page, _)| &page.entries)
        .map(|e| Entry::parse_and_verify(&e.entry).unwrap())
        .collect()
}

fn tamper(src: &Path, dst: &Path) {
    use object::{Object, ObjectSection};
    let mut bytes = std::fs::read(src).unwrap();
    let off = {
        let f = object::File::parse(&*bytes).unwrap();
        let (start, size) = f.section_by_name(".rodata").unwrap().file_range().unwrap();
        (start + size / 3) as usize
    };
    bytes[off] ^= 1;
    std::fs::write(dst, bytes).unwrap();
}

/// The DSSE PAE written out from the spec, independent of proto::dsse.
fn independent_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    // PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
    let head = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    );
    [head.as_bytes(), payload].concat()
}

#[test]
fn two_nodes_agree_and_a_tampered_target_is_logged_as_mismatch_by_both() {
    let dir = tempfile::tempdir().unwrap();
    let server = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let log_key = Verifier::from_key_text(&server.vkey).unwrap();
    let log = http::connect(&server.url, log_key.clone());
    let a = Signer::generate("node-a.test").unwrap();
    let b = Signer::generate("node-b.test").unwrap();

    let gofmt = goroot("1.22.10").join("bin/gofmt");
    let tampered = dir.path().join("gofmt");
    tamper(&gofmt, &tampered);

    // Node A rebuilds both and submits; the receipts verify.
    let quiet = &mut |_: &str| {};
    let mut bundles = Vec::new();
    for bin in [&gofmt, &tampered] {
        let report = rebuild(bin, &rebuild_config(None, None), quiet).unwrap();
        assert_eq!(report.reproduced, bin == &gofmt);
        let (entry, receipt) = node::submit_report(&report, &a, &log).unwrap();
        receipt.verify(&entry, log.verifier()).unwrap();
        bundles.push(serde_json::to_vec(&node::proof_bundle(&entry, &receipt)).unwrap());
    }

    // Node B follows the log and repeats both builds from the attestations.
    let state_file = dir.path().join("b-state.json");
    let opts = FollowOptions {
        state_file: state_file.clone(),
        repeat: node::Repeat {
            trusted: [a.verifier().public_key()].into(),
            anyone: false,
        },
        jobs: 2,
        once: true,
        poll: Duration::from_millis(50),
    };
    let st = node::follow(&log, &b, &node_b_config(), &opts, None).unwrap();
    assert_eq!(st.done.len(), 2, "{:?}", st.done);

    let genuine = lookup(&log, Hash::of(&std::fs::read(&gofmt).unwrap()));
    assert_eq!(genuine.len(), 2);
    assert_ne!(genuine[0].0.key, genuine[1].0.key);
    assert!(genuine.iter().all(|(_, s)| s.reproduced()));
    assert_eq!(
        genuine[0].1.inputs_digest(),
        genuine[1].1.inputs_digest(),
        "same inputs, including the toolchain digest"
    );
    let b_params = &genuine
        .iter()
        .find(|(e, _)| e.key == b.verifier().public_key())
        .unwrap()
        .1
        .predicate
        .build_definition
        .external_parameters;
    assert!(b_params
        .inferred
        .iter()
        .any(|f| f.key == "-ldflags" && f.value == "-w"));

    let bad = lookup(&log, Hash::of(&std::fs::read(&tampered).unwrap()));
    assert_eq!(bad.len(), 2);
    assert!(
        bad.iter().all(|(_, s)| !s.reproduced()),
        "both nodes log the mismatch"
    );

    // A second pass has nothing to do.
    let again = node::follow(&log, &b, &node_b_config(), &opts, None).unwrap();
    assert_eq!(again.done.len(), 2);
    assert_eq!(
        lookup(&log, Hash::of(&std::fs::read(&gofmt).unwrap())).len(),
        2
    );

    // The DSSE export verifies with an independent PAE.
    let (entry, _) = &genuine[0];
    let env = entry.to_envelope();
    let payload = env.payload_bytes().unwrap();
    use base64::Engine;
    let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(&env.signatures[0].sig)
        .unwrap()
        .try_into()
        .unwrap();
    let v = Verifier::new("x", &entry.key).unwrap();
    assert!(v.verify(&independent_pae(&env.payload_type, &payload), &sig));

    // The stored bundles verify offline, with the log gone.
    server.stop().unwrap();
    for b in bundles {
        let resp: LookupResponse = serde_json::from_slice(&b).unwrap();
        resp.verify(&LogVerifier::new(log_key.clone())).unwrap();
    }
}

#[test]
fn restarting_follow_neither_loses_nor_repeats_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let log_key = Verifier::from_key_text(&server.vkey).unwrap();
    let log = http::connect(&server.url, log_key);
    let a = Signer::generate("node-a.test").unwrap();
    let root = goroot("1.27.3");
    let targets: Vec<PathBuf> = [
        "bin/gofmt",
        "pkg/tool/linux_amd64/vet",
        "pkg/tool/linux_amd64/cover",
        "pkg/tool/linux_amd64/fix",
    ]
    .iter()
    .map(|t| root.join(t))
    .collect();
    for t in &targets {
        let report = rebuild(t, &rebuild_config(None, None), &mut |_| {}).unwrap();
        node::submit_report(&report, &a, &log).unwrap();
    }

    // Node B via the CLI; killed as soon as its first job is saved, then restarted.
    let key = dir.path().join("b.key");
    keygen("node-b.test", &key);
    let state = dir.path().join("b-state.json");
    let follow = || {
        let mut c = Command::new(REBUILDER);
        c.env_remove("REPROLOG_TOOLCHAINS")
            .args([
                "follow",
                &server.url,
                "--log-key",
                &server.vkey,
                "--once",
                "--any-rebuilder",
                "--jobs",
                "1",
                "--key",
            ])
            .arg(&key)
            .arg("--state")
            .arg(&state)
            .arg("--toolchains")
            .arg(second_toolchain_store())
            .arg("--toolchains")
            .arg(toolchains())
            .arg("--cache")
            .arg(target_tmp().join("node-b-cache"))
            .arg("--gocache")
            .arg(target_tmp().join("gocache"));
        c
    };
    let mut child = follow()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let done_count = || -> usize { node::FollowState::load(&state).map_or(0, |s| s.done.len()) };
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while done_count() < 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = done_count();
    assert!(before >= 1);

    let out = follow().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(done_count(), 4);
    let b_key = Signer::from_key_text(&std::fs::read_to_string(&key).unwrap())
        .unwrap()
        .verifier()
        .public_key();
    for t in &targets {
        let entries = lookup(&log, Hash::of(&std::fs::read(t).unwrap()));
        let by_b = entries.iter().filter(|(e, _)| e.key == b_key).count();
        assert_eq!(by_b, 1, "{}: node B attested {by_b} times", t.display());
        assert!(entries.iter().all(|(_, s)| s.reproduced()));
    }
    eprintln!("first run finished {before} of 4 before it was killed");
}
