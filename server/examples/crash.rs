//! Crash test: concurrent submitters while the log is killed with SIGKILL at
//! random moments and restarted on the same data dir, many times. Afterwards every
//! receipt a client got must still be in the log at its index with the same leaf,
//! and every checkpoint ever served must be consistent with the final one.
//!
//! Run: `scripts/crash-test.sh` (= `cargo run --release -p reprolog-server --example crash -- CYCLES`).
//! Prints the figures RELIABILITY.md records; exits non-zero on any loss.

use reprolog_proto::checkpoint::{Checkpoint, LogVerifier};
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::Statement;
use reprolog_proto::wire::{ConsistencyProof, InclusionProof, Receipt};
use reprolog_proto::Hash;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ORIGIN: &str = "crash.localhost/log";

fn server_bin() -> PathBuf {
    // The example sits next to the server binary in target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("reprolog-server")
}

fn start(data: &Path, port: u16) -> (Child, String) {
    let mut child = Command::new(server_bin())
        .args([
            "serve",
            "--max-wait-ms",
            "5",
            // A few keys write as fast as they can: lift the unknown keys' limits.
            "--unknown-key-rate",
            "0",
            "--unknown-key-pending",
            "1000000",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start reprolog-server (cargo build --release -p reprolog-server first)");
    let url = reprolog_testkit::process::listening_url(&mut child)
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    (child, url)
}

fn agent() -> ureq::Agent {
    reprolog_testkit::agent(Duration::from_secs(10))
}

fn get(url: &str) -> Option<Vec<u8>> {
    let mut r = agent().get(url).call().ok()?;
    (r.status().as_u16() == 200)
        .then(|| r.body_mut().read_to_vec().ok())
        .flatten()
}

/// A tiny xorshift so runs differ without a dependency.
fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() {
    let cycles: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let init = Command::new(server_bin())
        .args(["init", "--origin", ORIGIN, "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let key = Verifier::from_key_text(String::from_utf8(init.stdout).unwrap().trim()).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };

    // receipts: index -> leaf hash the client was promised; checkpoints seen.
    let receipts: Arc<Mutex<BTreeMap<u64, Hash>>> = Default::default();
    let checkpoints: Arc<Mutex<BTreeMap<u64, Hash>>> = Default::default();
    let failed_requests = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let started = Instant::now();
    let mut restarts = 0;
    for cycle in 0..cycles {
        let (mut child, url) = start(&data, port);
        restarts += 1;
        // The restarted log must still verify and never shrink.
        let note = get(&format!("{url}/checkpoint")).expect("checkpoint after restart");
        let cp = Checkpoint::open(&note, ORIGIN, &key).expect("checkpoint verifies after restart");
        checkpoints.lock().unwrap().insert(cp.size, cp.root);

        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..16)
            .map(|w| {
                let (stop, url, receipts, checkpoints, failed, counter, key) = (
                    stop.clone(),
                    url.clone(),
                    receipts.clone(),
                    checkpoints.clone(),
                    failed_requests.clone(),
                    counter.clone(),
                    key.clone(),
                );
                std::thread::spawn(move || {
                    let signer = Signer::generate(&format!("crash-{w}")).unwrap();
                    let agent = agent();
                    while !stop.load(Ordering::Relaxed) {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let d = Hash::of(&n.to_be_bytes());
                        let entry = Entry::sign(
                            &Statement::minimal(&format!("bin-{n}"), d, d, signer.name()),
                            &signer,
                        )
                        .to_cbor();
                        let resp = reprolog_testkit::add_entry(&agent, &url, &entry);
                        let Ok(mut resp) = resp else {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        if resp.status().as_u16() != 200 {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let Ok(body) = resp.body_mut().read_to_vec() else {
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        let receipt: Receipt = serde_json::from_slice(&body).expect("receipt JSON");
                        let cp = receipt
                            .verify(&entry, &LogVerifier::new(key.clone()))
                            .expect("receipt verifies");
                        receipts
                            .lock()
                            .unwrap()
                            .insert(receipt.index, Hash::leaf(&entry));
                        checkpoints.lock().unwrap().insert(cp.size, cp.root);
                    }
                })
            })
            .collect();
        let run_ms = 100 + rand(&mut seed) % 900;
        std::thread::sleep(Duration::from_millis(run_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        eprintln!(
            "cycle {:>3}/{cycles}: killed after {run_ms} ms, {} receipts so far",
            cycle + 1,
            receipts.lock().unwrap().len()
        );
    }

    // Final check on a clean restart.
    let (mut child, url) = start(&data, port);
    let note = get(&format!("{url}/checkpoint")).unwrap();
    let last = Checkpoint::open(&note, ORIGIN, &key).unwrap();
    let receipts = receipts.lock().unwrap().clone();
    let mut lost = 0;
    for (&index, leaf) in &receipts {
        let ok = get(&format!(
            "{url}/proof/inclusion?index={index}&size={}",
            last.size
        ))
        .and_then(|b| serde_json::from_slice::<InclusionProof>(&b).ok())
        .is_some_and(|p| {
            merkle::verify_inclusion(index, last.size, leaf, &p.proof, &last.root).is_ok()
        });
        if !ok {
            lost += 1;
            eprintln!(
                "LOST: receipt for index {index} does not prove against the final checkpoint"
            );
        }
    }
    let checkpoints = checkpoints.lock().unwrap().clone();
    let mut inconsistent = 0;
    for (&size, root) in &checkpoints {
        let ok = size <= last.size
            && get(&format!(
                "{url}/proof/consistency?old={size}&new={}",
                last.size
            ))
            .and_then(|b| serde_json::from_slice::<ConsistencyProof>(&b).ok())
            .is_some_and(|p| {
                merkle::verify_consistency(size, last.size, root, &last.root, &p.proof).is_ok()
            });
        if !ok {
            inconsistent += 1;
            eprintln!(
                "INCONSISTENT: checkpoint size {size} root {root} vs final size {}",
                last.size
            );
        }
    }
    let index_errors = check_index(&data, &url, &last, counter.load(Ordering::Relaxed));
    child.kill().unwrap();
    child.wait().unwrap();
    println!(
        "crash test: {cycles} SIGKILL cycles, {restarts} restarts (+1 final), {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "receipts acknowledged: {}, final tree size: {}, failed/refused requests: {}",
        receipts.len(),
        last.size,
        failed_requests.load(Ordering::Relaxed)
    );
    println!(
        "distinct checkpoints seen: {}, inconsistent with the final one: {inconsistent}",
        checkpoints.len()
    );
    println!("acknowledged entries lost: {lost}");
    println!("index answers that failed to verify: {index_errors}");
    if lost > 0 || inconsistent > 0 || index_errors > 0 {
        std::process::exit(1);
    }
}

/// The index after the crashes: its revision covers the final checkpoint,
/// and lookups of a sample of the digests submitted prove their lists
/// (entries and index agree). Returns how many answers failed.
fn check_index(data: &std::path::Path, url: &str, last: &Checkpoint, submitted: u64) -> u64 {
    let out = Command::new(server_bin())
        .args(["vkey", "--index", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let index = LogVerifier::new(
        Verifier::from_key_text(String::from_utf8(out.stdout).unwrap().trim()).unwrap(),
    );
    let mut failed = 0;
    let step = (submitted / 200).max(1);
    for n in (0..submitted).step_by(step as usize) {
        let d = Hash::of(&n.to_be_bytes());
        let Some(body) = get(&format!("{url}/lookup/{}", d.to_hex())) else {
            failed += 1;
            continue;
        };
        let answer: reprolog_proto::wire::LookupResponse = serde_json::from_slice(&body).unwrap();
        let proven = answer.index.as_ref().map(|i| {
            i.verify(&index, last, &d, &[])
                .and_then(|p| p.check_entries(&answer.entries))
        });
        if !matches!(proven, Some(Ok(()))) {
            failed += 1;
            eprintln!("INDEX: the answer for {d} does not prove its list: {proven:?}");
        }
    }
    failed
}
