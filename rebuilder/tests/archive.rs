//! `reprolog-rebuilder rebuild ARCHIVE`: a goreleaser-shaped tar.gz holding
//! Go 1.22.10's gofmt beside a LICENSE and a README, rebuilt member by member
//! and attested to a real log on 127.0.0.1; the attestation says where the
//! binary was found.

mod common;

use common::*;
use reprolog_io::http;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Verifier;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;

#[test]
fn every_go_member_is_rebuilt_and_attested_with_its_archive() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let key = dir.path().join("node.key");
    keygen("node.test", &key);

    let gofmt = std::fs::read(goroot("1.22.10").join("bin/gofmt")).unwrap();
    let archive = dir.path().join("app_1.0.0_linux_amd64.tar.gz");
    tar_gz(
        &archive,
        &[
            ("LICENSE", b"BSD-3-Clause\n"),
            ("README.md", b"# app\n"),
            ("bin/gofmt", &gofmt),
        ],
    );

    let out = rebuilder_command("rebuild")
        .arg(&archive)
        .args(["--submit", &log.url, "--log-key", &log.vkey, "--key"])
        .arg(&key)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("not covered   LICENSE  not a Go binary"),
        "{text}"
    );
    assert!(
        text.contains("not covered   README.md  not a Go binary"),
        "{text}"
    );
    assert!(text.contains("REPRODUCED    bin/gofmt"), "{text}");
    assert!(text.contains("log index 0"), "{text}");
    let bundle = dir
        .path()
        .join("app_1.0.0_linux_amd64.tar.gz.bin_gofmt.proof.json");
    assert!(bundle.is_file(), "offline proof bundle beside the archive");

    // The attestation's subject is the member; the archive is its context.
    let client = http::connect(&log.url, Verifier::from_key_text(&log.vkey).unwrap());
    let pages = client.lookup(&Hash::of(&gofmt), &[]).unwrap();
    let entry = &pages[0].0.entries[0];
    let (_, st) = Entry::parse_and_verify(&entry.entry).unwrap();
    assert_eq!(st.subject[0].name, "gofmt");
    assert!(st.reproduced());
    let found = st
        .predicate
        .build_definition
        .internal_parameters
        .and_then(|p| p.found_in)
        .expect("foundIn recorded");
    assert_eq!(found.name, "app_1.0.0_linux_amd64.tar.gz");
    assert_eq!(found.path, "bin/gofmt");
    assert_eq!(
        found.digest["sha256"],
        Hash::of(&std::fs::read(&archive).unwrap()).to_hex()
    );

    // A queue may list archives: each Go member gets its result and index.
    let queue = dir.path().join("targets.txt");
    std::fs::write(&queue, "app_1.0.0_linux_amd64.tar.gz\n").unwrap();
    let run = || {
        rebuilder_command("rebuild")
            .arg("--queue")
            .arg(&queue)
            .args(["--submit", &log.url, "--log-key", &log.vkey, "--key"])
            .arg(&key)
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let progress: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("targets.txt.progress.json")).unwrap(),
    )
    .unwrap();
    let entry = &progress["app_1.0.0_linux_amd64.tar.gz"];
    assert_eq!(entry["result"], "REPRODUCED", "{progress}");
    assert_eq!(entry["members"][0]["path"], "bin/gofmt", "{progress}");
    // Its index is that of its attestation in the log (the first run's,
    // when both runs fell in the same second and signed the same bytes).
    let index = entry["members"][0]["index"].as_u64().expect("an index");
    let logged: Vec<u64> = client
        .lookup(&Hash::of(&gofmt), &[])
        .unwrap()
        .iter()
        .flat_map(|(page, _)| page.entries.iter().map(|e| e.index))
        .collect();
    assert!(logged.contains(&index), "{progress} {logged:?}");
    // A second run skips what is done.
    let again = run();
    assert_eq!(again.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already done"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
