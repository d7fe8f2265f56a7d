//! `reprolog verify` of a release tar.gz of about 100 MB (the Go 1.27.3
//! distribution's executables, three copies under different directories),
//! beside what a person would do by hand: `tar -xzf` into a scratch directory
//! and `sha256sum` of every member. A local log (127.0.0.1) holds an
//! attestation for each binary, so every member is looked up and proven.
//! Prints the BENCHMARKS.md rows.
//!
//! Run: `REPROLOG_TOOLCHAINS=$PWD/.cache/toolchains cargo build --release --workspace --bins && cargo bench -p reprolog-e2e --bench archive`

use reprolog_e2e::client_program;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::statement::Statement;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use reprolog_testkit::bench::time;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let goroot = std::env::var_os("REPROLOG_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/toolchains"))
        .join("go1.27.3/go");
    let mut binaries: Vec<PathBuf> = Vec::new();
    for dir in ["bin", "pkg/tool/linux_amd64"] {
        for e in std::fs::read_dir(goroot.join(dir)).expect("run scripts/toolchains.sh first") {
            binaries.push(e.unwrap().path());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("release.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        for copy in ["a", "b", "c"] {
            for b in &binaries {
                let name = format!("{copy}/{}", b.file_name().unwrap().to_string_lossy());
                tar.append_path_with_name(b, name).unwrap();
            }
            tar.append_data(
                &mut {
                    let mut h = tar::Header::new_gnu();
                    h.set_size(12);
                    h.set_mode(0o644);
                    h.set_cksum();
                    h
                },
                format!("{copy}/LICENSE"),
                &b"BSD-3-Clause"[..],
            )
            .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let size = std::fs::metadata(&archive).unwrap().len();

    let log = LogHandle::start(&dir.path().join("log"), "bench.localhost/log").unwrap();
    let signer = Signer::generate("a.bench").unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for b in &binaries {
        let d = Hash::of(&std::fs::read(b).unwrap());
        let st = Statement::minimal("bin", d, d, signer.name());
        reprolog_testkit::submit(&agent, &log.url, &Entry::sign(&st, &signer).to_cbor());
    }
    let policy = dir.path().join("policy");
    std::fs::write(
        &policy,
        format!(
            "log {} {}\nrebuilder a {}\ngroup g 1 a\nconsensus g\nquorum none\n",
            log.vkey,
            log.url,
            signer.verifier().to_key_text()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let verify = || {
        let out = Command::new(client_program())
            .arg("--state")
            .arg(&state)
            .arg("verify")
            .arg(&archive)
            .arg("--policy")
            .arg(&policy)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    let by_hand = || {
        let scratch = tempfile::tempdir_in(dir.path()).unwrap();
        let ok = Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(scratch.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let ok = Command::new("sh")
            .arg("-c")
            .arg("find . -type f -print0 | xargs -0 sha256sum > /dev/null")
            .current_dir(scratch.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    verify();
    by_hand();
    let ours = time(5, verify);
    let theirs = time(5, by_hand);
    println!("| figure | median of 5 |");
    println!("|---|---|");
    println!(
        "| `reprolog verify` of a {:.0} MB tar.gz, {} members, {} Go binaries looked up and proven | {:.2} s |",
        size as f64 / 1e6,
        3 * (binaries.len() + 1),
        3 * binaries.len(),
        ours.as_secs_f64()
    );
    println!(
        "| `tar -xzf` + `sha256sum` of every member | {:.2} s (ratio {:.2}×) |",
        theirs.as_secs_f64(),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
