//! `reprolog verify` of what people download: goreleaser-shaped archives
//! (tar.gz and zip holding Go binaries beside LICENSE and README), a
//! checksums.txt, and hostile archives. The Go binaries are the Go
//! distribution's own (real binaries with build info); two rebuilders'
//! attestations for them are in a real log on 127.0.0.1.

use reprolog_e2e::*;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use reprolog_testkit::archive::{tar_gz, zip};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A Go binary of the cached Go 1.27.3 distribution.
fn go_binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("REPROLOG_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/toolchains"));
    let path = dir.join("go1.27.3/go").join(name);
    assert!(
        path.is_file(),
        "{} missing: run scripts/toolchains.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

#[test]
fn archives_and_checksums_get_a_verdict_per_go_binary() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let (alice, bob) = (
        Signer::generate("alice.test").unwrap(),
        Signer::generate("bob.test").unwrap(),
    );
    let policy_path = dir.path().join("policy");
    std::fs::write(
        &policy_path,
        policy(&log.vkey, &log.url, &[("alice", &alice), ("bob", &bob)], 2),
    )
    .unwrap();
    let gofmt = std::fs::read(go_binary("bin/gofmt")).unwrap();
    let vet = std::fs::read(go_binary("pkg/tool/linux_amd64/vet")).unwrap();
    for (name, bytes) in [("gofmt", &gofmt), ("vet", &vet)] {
        for s in [&alice, &bob] {
            post(&log.url, &attestation(s, name, Hash::of(bytes), true));
        }
    }
    // Alice also attests vet as found inside the archive.
    {
        use reprolog_proto::entry::Entry;
        use reprolog_proto::statement::{FoundIn, InternalParameters, Statement};
        let d = Hash::of(&vet);
        let mut st = Statement::minimal("vet", d, d, "alice.test");
        st.predicate.build_definition.internal_parameters = Some(InternalParameters {
            found_in: Some(FoundIn {
                name: "app_linux_amd64.tar.gz".into(),
                digest: Default::default(),
                path: "vet".into(),
            }),
        });
        post(&log.url, &Entry::sign(&st, &alice).to_cbor());
    }
    let dist = dir.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    let license: &[u8] = b"Apache License 2.0\n";
    let readme: &[u8] = b"# app\n";
    tar_gz(
        &dist.join("app_linux_amd64.tar.gz"),
        &[
            ("LICENSE", license),
            ("README.md", readme),
            ("gofmt", &gofmt),
            ("vet", &vet),
        ],
    );
    zip(
        &dist.join("app_windows_amd64.zip"),
        &[
            ("LICENSE", license),
            ("README.md", readme),
            ("gofmt", &gofmt),
        ],
    );
    let mut sums = String::new();
    for f in ["app_linux_amd64.tar.gz", "app_windows_amd64.zip"] {
        let h = Hash::of(&std::fs::read(dist.join(f)).unwrap());
        sums += &format!("{}  {f}\n", h.to_hex());
    }
    sums += &format!(
        "{}  app_darwin_arm64.tar.gz\n",
        Hash::of(b"elsewhere").to_hex()
    );
    std::fs::write(dist.join("checksums.txt"), &sums).unwrap();

    let state = dir.path().join("state");
    let policy_arg = policy_path.to_str().unwrap();
    let verify = |args: &[&str]| {
        let mut all = vec!["verify", "--policy", policy_arg];
        all.extend_from_slice(args);
        client(&state, &all)
    };

    let tgz = dist.join("app_linux_amd64.tar.gz");
    let out = verify(&[tgz.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("REPRODUCED  app_linux_amd64.tar.gz (2 Go binaries)"),
        "{text}"
    );
    for line in [
        "REPRODUCED    app_linux_amd64.tar.gz:gofmt",
        "REPRODUCED    app_linux_amd64.tar.gz:vet",
        "rebuilt from app_linux_amd64.tar.gz:vet",
        "not covered   app_linux_amd64.tar.gz:LICENSE  not a Go binary",
        "not covered   app_linux_amd64.tar.gz:README.md  not a Go binary",
    ] {
        assert!(text.contains(line), "{line:?} missing: {text}");
    }
    let out = verify(&[
        dist.join("app_windows_amd64.zip").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["members"].as_array().unwrap().len(), 3, "{json}");
    assert_eq!(
        json["members"][2]["report"]["verdict"], "REPRODUCED",
        "{json}"
    );

    // The checksums file: both archives checked, then verified member by member.
    let out = verify(&["--checksums", dist.join("checksums.txt").to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("(3 Go binaries)"), "{text}");
    assert!(text.contains("app_windows_amd64.zip:gofmt"), "{text}");
    assert!(
        text.contains("app_darwin_arm64.tar.gz  not present"),
        "{text}"
    );

    // One flipped byte in one member: that member is INSUFFICIENT, the rest hold.
    let mut flipped = gofmt.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 1;
    let bad = dist.join("app_linux_amd64.tar.gz");
    tar_gz(
        &bad,
        &[("LICENSE", license), ("gofmt", &flipped), ("vet", &vet)],
    );
    let out = verify(&[bad.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("INSUFFICIENT  app_linux_amd64.tar.gz:gofmt"),
        "{text}"
    );
    assert!(
        text.contains("REPRODUCED    app_linux_amd64.tar.gz:vet"),
        "{text}"
    );

    // The archive changed under checksums.txt: a hard error naming the line.
    let out = verify(&["--checksums", dist.join("checksums.txt").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("checksums.txt line 1") && err.contains("app_linux_amd64.tar.gz has sha256"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn hostile_archives_get_one_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let alice = Signer::generate("alice.test").unwrap();
    let policy_path = dir.path().join("policy");
    std::fs::write(
        &policy_path,
        policy(&log.vkey, &log.url, &[("alice", &alice)], 1),
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();

    // Path traversal: a raw header whose name climbs out.
    let traversal = work.join("traversal.tar");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&traversal).unwrap());
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append(&h, &b"abc"[..]).unwrap();
        tar.finish().unwrap();
    }
    // A symbolic link.
    let symlink = work.join("symlink.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&symlink).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, "app", "/etc/passwd").unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    // A gzip bomb: 512 MiB of zeros in well under 1 MiB.
    let bomb = work.join("bomb.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&bomb).unwrap(),
            flate2::Compression::best(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(512 << 20);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "zeros", std::io::repeat(0).take(512 << 20))
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    // A zip bomb: the same inside a zip.
    let zip_bomb = work.join("bomb.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_bomb).unwrap());
        z.start_file(
            "zeros",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        std::io::copy(&mut std::io::repeat(0).take(512 << 20), &mut z).unwrap();
        z.finish().unwrap();
    }
    // Truncated: the first half of a real tar.gz.
    let truncated = work.join("truncated.tar.gz");
    {
        let whole = work.join("whole.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&whole).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| ((i.wrapping_mul(7919)) >> 5) as u8)
            .collect();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "data", &data[..]).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        std::fs::remove_file(&whole).unwrap();
    }
    // Two gzip members that each add `app`: every extractor keeps the second.
    let two_members = work.join("two-members.tar.gz");
    {
        use reprolog_proto::archive::craft::*;
        let mut first = Vec::new();
        tar_entry(&mut first, header("app", 4, b'0', USTAR), b"good");
        let mut bytes = gz(&first);
        bytes.extend(gz(&tar_of(&[("app", b"evil")])));
        std::fs::write(&two_members, bytes).unwrap();
    }
    let before: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let state = dir.path().join("state");
    for (file, needle) in [
        (&traversal, "unsafe name"),
        (&symlink, "is a symbolic link"),
        (&bomb, "refused as a likely bomb"),
        (&zip_bomb, "refused as a likely bomb"),
        (&truncated, "truncated or corrupt"),
        (&two_members, "\"app\" twice"),
    ] {
        let out = client(
            &state,
            &[
                "verify",
                file.to_str().unwrap(),
                "--policy",
                policy_path.to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{}: {err}", file.display());
        assert_eq!(err.matches(needle).count(), 1, "said once: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let after: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after, "nothing written beside the archives");
    assert!(!dir.path().join("escape").exists());
}
