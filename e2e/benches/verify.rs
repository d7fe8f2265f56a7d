//! `reprolog verify` of a 200 MB file against `openssl dgst -sha256`, and the p50
//! of verifying a known digest against a local log, before and after 10,000
//! entries from 100 untrusted keys flood that digest; lookup latency by key
//! and unfiltered (every page) at 10,000 entries. Prints the BENCHMARKS.md rows.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p reprolog-e2e --bench verify`

use reprolog_e2e::client_program;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::statement::Statement;
use reprolog_proto::Hash;
use reprolog_server::harness::LogHandle;
use reprolog_testkit::bench::median;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

fn timed(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("spawn");
    let d = t.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    {
        let mut f = std::fs::File::create(&file).unwrap();
        let block: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for i in 0..200u32 {
            let mut b = block.clone();
            b[..4].copy_from_slice(&i.to_be_bytes());
            f.write_all(&b).unwrap();
        }
    }
    let digest = {
        use sha2::Digest;
        Hash(sha2::Sha256::digest(std::fs::read(&file).unwrap()).into())
    };
    let log = LogHandle::start(&dir.path().join("log"), "bench.localhost/log").unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut policy = format!("log {} {}\n", log.vkey, log.url);
    let mut trusted_keys = Vec::new();
    for name in ["a", "b"] {
        let s = Signer::generate(&format!("{name}.bench")).unwrap();
        let entry =
            Entry::sign(&Statement::minimal("big.bin", digest, digest, s.name()), &s).to_cbor();
        reprolog_testkit::submit(&agent, &log.url, &entry);
        policy += &format!("rebuilder {name} {}\n", s.verifier().to_key_text());
        trusted_keys.push(hex::encode(s.verifier().public_key()));
    }
    policy += "group g 2 a b\nconsensus g\nquorum none\n";
    let policy_path = dir.path().join("policy");
    std::fs::write(&policy_path, policy).unwrap();
    let state = dir.path().join("state");
    let verify = |target: &str| {
        let mut c = Command::new(client_program());
        c.arg("--state")
            .arg(&state)
            .args(["verify", target, "--policy"])
            .arg(&policy_path);
        c
    };

    let runs = 7;
    // Warm the page cache first.
    timed(verify(file.to_str().unwrap()));
    let ours = median(
        (0..runs)
            .map(|_| timed(verify(file.to_str().unwrap())))
            .collect(),
    );
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok()
        .then(|| {
            median(
                (0..runs)
                    .map(|_| {
                        let mut c = Command::new("openssl");
                        c.args(["dgst", "-sha256"]).arg(&file);
                        timed(c)
                    })
                    .collect(),
            )
        });
    let p50 = median((0..51).map(|_| timed(verify(&digest.to_hex()))).collect());

    println!("| figure | median |");
    println!("|---|---|");
    println!(
        "| reprolog verify, 200 MB file, local log (hash + lookup + proofs) | {:.0} ms |",
        ours.as_secs_f64() * 1e3
    );
    match openssl {
        Some(o) => println!(
            "| openssl dgst -sha256, same file | {:.0} ms (ratio {:.2}×) |",
            o.as_secs_f64() * 1e3,
            ours.as_secs_f64() / o.as_secs_f64()
        ),
        None => println!("| openssl dgst -sha256 | openssl not installed |"),
    }
    println!(
        "| reprolog verify of a known digest against a local log, p50 of 51 | {:.1} ms |",
        p50.as_secs_f64() * 1e3
    );

    // The flood: 10,000 entries for the same digest from 100 fresh keys
    // (100 each, an unknown key's default burst).
    std::thread::scope(|sc| {
        for t in 0..2 {
            let (url, agent) = (&log.url, &agent);
            sc.spawn(move || {
                for k in (t * 50)..(t * 50 + 50) {
                    let s = Signer::generate(&format!("flood-{k}.bench")).unwrap();
                    for i in 0..100 {
                        let st = Statement::minimal(&format!("f{k}-{i}"), digest, digest, s.name());
                        let entry = Entry::sign(&st, &s).to_cbor();
                        reprolog_testkit::submit(agent, url, &entry);
                    }
                }
            });
        }
    });
    let flooded = median((0..51).map(|_| timed(verify(&digest.to_hex()))).collect());
    println!(
        "| the same, after 10,000 untrusted entries for that digest, p50 of 51 | {:.1} ms |",
        flooded.as_secs_f64() * 1e3
    );
    let get = |path: &str| -> serde_json::Value {
        let mut resp = agent.get(&format!("{}{path}", log.url)).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap()
    };
    let lookup = format!("/lookup/{}", digest.to_hex());
    let by_key = format!("{lookup}?key={}&key={}", trusted_keys[0], trusted_keys[1]);
    let time_of = |f: &dyn Fn()| {
        median(
            (0..21)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .collect(),
        )
    };
    let keyed = time_of(&|| assert_eq!(get(&by_key)["entries"].as_array().unwrap().len(), 2));
    let first_page = time_of(&|| {
        get(&lookup);
    });
    let all_pages = time_of(&|| {
        let mut cursor = 0u64;
        let mut n = 0;
        loop {
            let page = get(&format!("{lookup}?cursor={cursor}"));
            n += page["entries"].as_array().unwrap().len();
            match page["next"].as_u64() {
                Some(next) => cursor = next,
                None => break,
            }
        }
        assert_eq!(n, 10_002);
    });
    println!(
        "| lookup of a digest with 10,002 entries, by the policy's 2 keys, p50 of 21 | {:.1} ms |",
        keyed.as_secs_f64() * 1e3
    );
    println!(
        "| the same digest unfiltered: first page of 1,000, p50 of 21 | {:.1} ms |",
        first_page.as_secs_f64() * 1e3
    );
    println!(
        "| the same digest unfiltered: all 11 pages, p50 of 21 | {:.1} ms |",
        all_pages.as_secs_f64() * 1e3
    );
}
