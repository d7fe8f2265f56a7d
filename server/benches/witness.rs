//! Witness benchmark, on 127.0.0.1 with the real binaries:
//!
//! 1. acknowledgement latency of one submitter against two logs in the same
//!    run, one publishing through a local `reprolog-server witness`
//!    (`--witness-policy`), one without; submissions alternate between them;
//! 2. `add-checkpoint` requests per second a witness answers for 64 logs,
//!    each advancing one entry per request with a consistency proof, from 16
//!    concurrent clients (every answer is stored durably first).
//!
//! Knobs: REPROLOG_BENCH_ACKS (default 500 per log), REPROLOG_BENCH_STEPS
//! (default 100 requests per log).
//! Run: `cargo bench -p reprolog-server --bench witness`

use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{self, Appender};
use reprolog_proto::note::{KeyType, Signer};
use reprolog_proto::statement::Statement;
use reprolog_proto::witness::AddCheckpoint;
use reprolog_proto::Hash;
use reprolog_testkit::bench::env_usize;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reprolog-server");

/// Starts `reprolog-server <args>`; returns it and the URL it prints.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let url = reprolog_testkit::process::listening_url(&mut child).unwrap();
    (child, url)
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let acks = env_usize("REPROLOG_BENCH_ACKS", 500);
    let steps = env_usize("REPROLOG_BENCH_STEPS", 100);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();

    // Two logs and one witness of the first.
    let witnessed_key = run(&[
        "init",
        "--origin",
        "bench.localhost/witnessed",
        "--data",
        &p("a"),
    ]);
    run(&[
        "init",
        "--origin",
        "bench.localhost/plain",
        "--data",
        &p("b"),
    ]);
    let wkey = run(&[
        "witness-init",
        "--name",
        "bench.localhost/w",
        "--key",
        &p("w.key"),
    ]);
    std::fs::write(d.join("logs"), format!("log {witnessed_key}\n")).unwrap();
    let (mut witness, wurl) = start(&[
        "witness",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &p("w"),
        "--key",
        &p("w.key"),
        "--logs",
        &p("logs"),
    ]);
    std::fs::write(
        d.join("policy"),
        format!("witness w {wkey} {wurl}\nquorum w\n"),
    )
    .unwrap();
    let common = [
        "--listen",
        "127.0.0.1:0",
        "--max-wait-ms",
        "5",
        "--unknown-key-rate",
        "0",
    ];
    let (mut a, aurl) = start(
        &[
            &["serve", "--data", &p("a"), "--witness-policy", &p("policy")][..],
            &common[..],
        ]
        .concat(),
    );
    let (mut b, burl) = start(&[&["serve", "--data", &p("b")][..], &common[..]].concat());

    let signer = Signer::generate("bench.rebuilder").unwrap();
    let agent = agent();
    let mut with = Vec::new();
    let mut without = Vec::new();
    for i in 0..acks * 2 {
        let subject = Hash::of(format!("bench {i}").as_bytes());
        let entry = Entry::sign(
            &Statement::minimal("bin", subject, subject, signer.name()),
            &signer,
        )
        .to_cbor();
        let (url, into) = if i % 2 == 0 {
            (&aurl, &mut with)
        } else {
            (&burl, &mut without)
        };
        let started = Instant::now();
        reprolog_testkit::submit(&agent, url, &entry);
        into.push(started.elapsed());
    }
    with.sort();
    without.sort();
    println!("ack latency, one submitter, {acks} entries per log, alternating:");
    for (name, v) in [("no witness", &without), ("one local witness", &with)] {
        println!(
            "  {name:18} p50 {:6.2} ms  p99 {:6.2} ms",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99))
        );
    }
    println!(
        "  witness adds       p50 {:+6.2} ms  p99 {:+6.2} ms",
        ms(percentile(&with, 0.5)) - ms(percentile(&without, 0.5)),
        ms(percentile(&with, 0.99)) - ms(percentile(&without, 0.99))
    );
    for c in [&mut a, &mut b, &mut witness] {
        let _ = c.kill();
        let _ = c.wait();
    }
    witness_throughput(d, steps);
}

/// 64 logs, 16 clients; each request moves one log forward by one entry.
fn witness_throughput(d: &Path, steps: usize) {
    const LOGS: usize = 64;
    const CLIENTS: usize = 16;
    let logs: Vec<Signer> = (0..LOGS)
        .map(|i| Signer::generate(&format!("bench.localhost/log{i}")).unwrap())
        .collect();
    let list: String = logs
        .iter()
        .map(|l| format!("log {}\n", l.verifier().to_key_text()))
        .collect();
    std::fs::write(d.join("logs64"), list).unwrap();
    let key = Signer::generate_of_type(KeyType::Cosignature, "bench.localhost/w64").unwrap();
    std::fs::write(d.join("w64.key"), key.to_key_text()).unwrap();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    let (mut witness, url) = start(&[
        "witness",
        "--listen",
        "127.0.0.1:0",
        "--data",
        &p("w64"),
        "--key",
        &p("w64.key"),
        "--logs",
        &p("logs64"),
    ]);
    // Every log has the same records; requests are prepared before timing.
    let mut stored: Vec<Hash> = Vec::new();
    for i in 0..steps as u64 {
        let mut app = Appender::new(&stored, i);
        app.push(Hash::leaf(format!("r{i}").as_bytes())).unwrap();
        stored.extend(app.new_hashes().to_vec());
    }
    let requests: Vec<Vec<Vec<u8>>> = logs
        .iter()
        .map(|log| {
            (1..=steps as u64)
                .map(|size| {
                    let old = size - 1;
                    let cp = Checkpoint {
                        origin: log.name().into(),
                        size,
                        root: merkle::tree_hash(size, &stored).unwrap(),
                        extensions: vec![],
                    };
                    AddCheckpoint {
                        old_size: old,
                        proof: if old == 0 {
                            vec![]
                        } else {
                            merkle::consistency_proof(old, size, &stored).unwrap()
                        },
                        checkpoint: cp.sign(log).unwrap().into_bytes(),
                    }
                    .to_body()
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            let requests = &requests;
            let url = &url;
            s.spawn(move || {
                let agent = agent();
                let mine: Vec<usize> = (c..LOGS).step_by(CLIENTS).collect();
                // Round-robin over this client's logs, one step at a time.
                let order = (0..steps).flat_map(|step| mine.iter().map(move |&log| (log, step)));
                for (log, step) in order {
                    let resp = agent
                        .post(&format!("{url}/add-checkpoint"))
                        .send(&requests[log][step][..])
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 200);
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let total = LOGS * steps;
    println!(
        "witness add-checkpoint: {total} requests ({LOGS} logs x {steps}, {CLIENTS} clients) in {:.2} s: {:.0} requests/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    let _ = witness.kill();
    let _ = witness.wait();
}

fn agent() -> ureq::Agent {
    reprolog_testkit::agent(Duration::from_secs(30))
}
