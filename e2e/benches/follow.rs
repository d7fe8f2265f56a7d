//! The reading path of `follow --once` over a large log: a real log server on
//! 127.0.0.1 holding REPROLOG_BENCH_ENTRIES entries (default 1,000,000) from
//! 1,000 keys, and a follower in a child process whose builds are stubbed (a
//! [`Repeater`] that finishes every job at once), so only reading, verifying,
//! scanning and saving are measured. Prints HTTP requests, wall time and peak
//! RSS of a full run, then kills a second run with SIGKILL halfway and
//! restarts it, to show it resumes without re-reading the first half.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p reprolog-e2e --bench follow`
//! (the log is built once into target/follow-bench/ and reused).

use reprolog_io::http::Http;
use reprolog_proto::entry::Entry;
use reprolog_proto::logclient::LogClient;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::Statement;
use reprolog_proto::transport::{FetchError, Transport};
use reprolog_proto::Hash;
use reprolog_rebuilder::node::{self, FollowError, FollowOptions, Job, Outcome, Repeater};
use reprolog_server::harness::LogHandle;
use reprolog_server::log::{Log, LogOptions};
use reprolog_server::storage::NewEntry;
use reprolog_testkit::bench::own_peak_rss_kib;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ORIGIN: &str = "bench.localhost/follow";
const KEYS: usize = 1000;
/// Distinct binaries attested: each is attested by many keys, as in life.
/// Few enough that the follower has repeated every one of them in both runs,
/// so the runs differ only in the log's size.
const SUBJECTS: usize = 512;
/// Keys the follower's policy trusts (1% of the entries).
const TRUSTED: usize = 10;

fn main() {
    if let Ok(args) = std::env::var("REPROLOG_FOLLOW_BENCH_CHILD") {
        return child(&args);
    }
    let entries: u64 = std::env::var("REPROLOG_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("follow-bench");
    for n in [entries / 10, entries] {
        let data = work.join(format!("log-v3-{n}"));
        build_log(&data, n);
        let server = LogHandle::start(&data, ORIGIN).expect("log starts");
        let state = work.join(format!("state-{n}.json"));
        remove_state(&state);
        let run = run_child(&server, &data, &state, None);
        println!(
            "entries {n}: {} requests, {:.1} s, peak RSS {} KiB, {:.0} entries/s",
            run.requests,
            run.secs,
            run.peak_rss_kib,
            n as f64 / run.secs
        );
        if n == entries {
            remove_state(&state);
            let killed = run_child(&server, &data, &state, Some(n / 2));
            let resumed_at = node::FollowState::load(&state)
                .map(|s| s.next_index)
                .unwrap_or(0);
            let rest = run_child(&server, &data, &state, None);
            println!(
                "SIGKILL after {:.1} s, saved state at index {resumed_at}; the restart made {} requests in {:.1} s",
                killed.secs, rest.requests, rest.secs
            );
        }
        server.stop().expect("log stops");
    }
}

/// Appends `n` signed entries straight into a log's storage, once.
fn build_log(data: &Path, n: u64) {
    let done = data.join("complete");
    if done.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data).expect("log dir");
    reprolog_server::serve::init(data, reprolog_server::serve::Origin::Named(ORIGIN))
        .expect("init");
    let signer = reprolog_server::serve::load_key(data).expect("key");
    let log = Log::open(
        &data.join(reprolog_server::serve::DB_FILE),
        signer,
        LogOptions {
            read_only: false,
            min_free_bytes: 0,
        },
    )
    .expect("open");
    let keys: Vec<Signer> = (0..KEYS)
        .map(|k| Signer::generate(&format!("rebuilder-{k}.bench")).expect("key"))
        .collect();
    let started = Instant::now();
    let batch = 8192u64;
    for first in (0..n).step_by(batch as usize) {
        let end = (first + batch).min(n);
        let mid = first + (end - first) / 2;
        let keys = &keys;
        let entries: Vec<NewEntry> = std::thread::scope(|s| {
            let a = s.spawn(move || make_entries(keys, first, mid));
            let b = s.spawn(move || make_entries(keys, mid, end));
            let mut v = a.join().expect("signer thread");
            v.extend(b.join().expect("signer thread"));
            v
        });
        log.append(&entries).expect("append");
    }
    std::fs::write(data.join("trusted"), trusted_keys(&keys)).expect("trusted keys");
    std::fs::write(&done, b"").expect("marker");
    eprintln!("built a log of {n} entries in {:?}", started.elapsed());
}

fn make_entries(keys: &[Signer], start: u64, end: u64) -> Vec<NewEntry> {
    (start..end)
        .map(|i| {
            let key = &keys[i as usize % KEYS];
            let subject = Hash::of(format!("binary {}", i as usize % SUBJECTS).as_bytes());
            // The index in the name keeps every entry unique (signatures are
            // deterministic, and the log stores equal entries once).
            let st = Statement::minimal(&format!("prog-{i}"), subject, subject, key.name());
            let bytes = Entry::sign(&st, key).to_cbor();
            NewEntry {
                key: key.verifier().public_key(),
                leaf: Hash::leaf(&bytes),
                bytes,
                subject,
            }
        })
        .collect()
}

/// The hex public keys of the first [`TRUSTED`] keys, one per line.
fn trusted_keys(keys: &[Signer]) -> String {
    keys[..TRUSTED]
        .iter()
        .map(|k| hex::encode(k.verifier().public_key()) + "\n")
        .collect()
}

fn remove_state(state: &Path) {
    let _ = std::fs::remove_file(state);
    let _ = std::fs::remove_file(state.with_extension("done.jsonl"));
}

struct Run {
    requests: u64,
    secs: f64,
    peak_rss_kib: u64,
}

/// Runs the follower in a child process (policy: the keys listed in
/// `data/trusted`); with `kill_at`, SIGKILLs it once its
/// saved state has read that far.
fn run_child(server: &LogHandle, data: &Path, state: &Path, kill_at: Option<u64>) -> Run {
    let mut child = Command::new(std::env::current_exe().expect("bench binary"))
        .env(
            "REPROLOG_FOLLOW_BENCH_CHILD",
            format!(
                "{}\n{}\n{}\n{}",
                server.url,
                server.vkey,
                state.display(),
                data.join("trusted").display()
            ),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("follower starts");
    let started = Instant::now();
    if let Some(at) = kill_at {
        loop {
            let read = node::FollowState::load(state).map_or(0, |s| s.next_index);
            if read >= at {
                break;
            }
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        return Run {
            requests: 0,
            secs: started.elapsed().as_secs_f64(),
            peak_rss_kib: 0,
        };
    }
    let out = child.wait_with_output().expect("follower output");
    assert!(out.status.success(), "follower failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0));
    Run {
        requests: fields.next().unwrap_or(0),
        secs: started.elapsed().as_secs_f64(),
        peak_rss_kib: fields.next().unwrap_or(0),
    }
}

/// Counts the requests a follower makes.
struct Counting {
    inner: Http,
    requests: AtomicU64,
}

impl Transport for Counting {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get(path)
    }
    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, FetchError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.post(path, content_type, body)
    }
    fn base(&self) -> &str {
        self.inner.base()
    }
}

/// Finishes every build at once: the bench measures reading, not building.
struct Stub;

impl Repeater for Stub {
    fn repeat(&self, _job: &Job) -> Result<Option<Outcome>, FollowError> {
        Ok(Some(Outcome {
            index: None,
            reproduced: None,
            note: "stubbed by the bench".into(),
        }))
    }
}

/// The follower process: follows once, prints requests and peak RSS (KiB).
fn child(args: &str) {
    let mut lines = args.lines();
    let (url, vkey, state, trusted) = (
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
    );
    let trusted = std::fs::read_to_string(trusted).expect("trusted keys");
    let repeat = node::Repeat {
        trusted: trusted
            .lines()
            .filter_map(|l| hex::decode(l).ok()?.try_into().ok())
            .collect(),
        anyone: false,
    };
    let log = LogClient::new(
        Counting {
            inner: Http::new(url),
            requests: AtomicU64::new(0),
        },
        Verifier::from_key_text(vkey).expect("log key"),
    );
    let opts = FollowOptions {
        state_file: PathBuf::from(state),
        repeat,
        jobs: 2,
        once: true,
        poll: Duration::from_millis(10),
    };
    node::follow_with(&log, &[0u8; 32], &opts, &Stub).expect("follow");
    println!(
        "{} {}",
        log.transport().requests.load(Ordering::Relaxed),
        own_peak_rss_kib()
    );
}
