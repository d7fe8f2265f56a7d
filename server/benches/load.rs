//! Load benchmark: a real `reprolog-server` on 127.0.0.1 driven by many concurrent
//! submitters, then tile and lookup readers. Prints the figures BENCHMARKS.md
//! records. Knobs (environment): REPROLOG_BENCH_ENTRIES (default 1000000),
//! REPROLOG_BENCH_CONCURRENCY (default 256), REPROLOG_BENCH_READ_SECS (default 5).
//! The same load runs on redb, then, when given, on PostgreSQL
//! (REPROLOG_BENCH_POSTGRES, an admin URL as scripts/postgres.sh prints) and
//! on redb publishing to s3s-fs (REPROLOG_S3S_FS, as scripts/s3s-fs.sh
//! prints), whose tiles are then read from the bucket.
//!
//! On redb the load runs twice: with the verifiable index (the default) and
//! with `--no-index`, for the index's cost (REPROLOG_BENCH_INDEX=on or off
//! runs one of them only).
//!
//! Run: `cargo bench -p reprolog-server --bench load`

use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::statement::Statement;
use reprolog_proto::tile::Tile;
use reprolog_proto::Hash;
use reprolog_testkit::bench::{env_usize, peak_rss_kib};
use reprolog_testkit::process::listening_url;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_reprolog-server");

/// User + system CPU seconds a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<i64> = after
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // `after` starts at field 3 (state, skipped), so utime is f[10].
    f.get(10)
        .zip(f.get(11))
        .map_or(0.0, |(u, s)| (u + s) as f64 / 100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let total = env_usize("REPROLOG_BENCH_ENTRIES", 1_000_000);
    let concurrency = env_usize("REPROLOG_BENCH_CONCURRENCY", 256);
    let read_secs = env_usize("REPROLOG_BENCH_READ_SECS", 5) as u64;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    // Raw Ed25519 strict verification rate on this machine, one core.
    let signer = Signer::generate("bench").unwrap();
    let v = signer.verifier();
    let msg = vec![7u8; 800];
    let sig = signer.sign(&msg);
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        assert!(v.verify(&msg, &sig));
        n += 1;
    }
    let verify_rate = n as f64 / started.elapsed().as_secs_f64();
    println!("ed25519 verify_strict: {verify_rate:.0}/s per core ({threads} cores)");

    // Pre-sign all entries so the timed phase measures the log, not the signer.
    eprintln!("signing {total} entries...");
    let started = Instant::now();
    let per = total.div_ceil(threads);
    let entries: Vec<Vec<u8>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let signer = Signer::generate(&format!("rebuilder-{t}")).unwrap();
                    (t * per..((t + 1) * per).min(total))
                        .map(|i| {
                            let d = Hash::of(&(i as u64 / 3).to_be_bytes());
                            let st = Statement::minimal(&format!("bin-{i}"), d, d, signer.name());
                            Entry::sign(&st, &signer).to_cbor()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mean_size = entries.iter().map(Vec::len).sum::<usize>() / entries.len().max(1);
    eprintln!(
        "signed in {:.1}s, mean entry {mean_size} bytes",
        started.elapsed().as_secs_f64()
    );
    let entries = Arc::new(entries);
    let run = Run {
        total,
        concurrency,
        read_secs,
        threads,
        verify_rate,
    };
    let index = std::env::var("REPROLOG_BENCH_INDEX").unwrap_or_default();
    if index != "off" {
        println!("== redb (the data dir), with the index");
        bench_backend(&run, &entries, None, None, &[]);
    }
    if index != "on" {
        println!("== redb (the data dir), --no-index");
        bench_backend(&run, &entries, None, None, &["--no-index"]);
    }
    // REPROLOG_BENCH_POSTGRES (an admin URL, as scripts/postgres.sh prints)
    // runs the same load on a PostgreSQL database, side by side.
    if let Ok(admin) = std::env::var("REPROLOG_BENCH_POSTGRES") {
        let url = reprolog_server::storage::postgres::recreate_database(&admin, "bench_load")
            .expect("creating the bench database");
        println!("== PostgreSQL ({url})");
        bench_backend(&run, &entries, Some(&url), None, &[]);
    }
    if let Some(s3s_fs) = std::env::var_os("REPROLOG_S3S_FS") {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bench")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s3 = Command::new(s3s_fs)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(root.path())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let publish = format!(
            "s3://bench/log?endpoint=http://127.0.0.1:{port}&skip_signature=true&region=us-east-1"
        );
        let bucket = format!("http://127.0.0.1:{port}/bench/log");
        println!("== redb, publishing to s3s-fs; tiles read from the bucket");
        bench_backend(&run, &entries, None, Some((&publish, &bucket)), &[]);
        let _ = s3.kill();
        let _ = s3.wait();
    }
}

/// The figures every backend's run shares.
struct Run {
    total: usize,
    concurrency: usize,
    read_secs: u64,
    threads: usize,
    verify_rate: f64,
}

/// Starts a server on the backend (redb when `database` is `None`), ingests
/// every entry, then reads; prints the figures.
fn bench_backend(
    run: &Run,
    entries: &Arc<Vec<Vec<u8>>>,
    database: Option<&str>,
    s3: Option<(&str, &str)>,
    extra: &[&str],
) {
    let Run {
        total,
        concurrency,
        read_secs,
        threads,
        verify_rate,
    } = *run;

    // REPROLOG_BENCH_URL drives an already running server instead (e.g. under a
    // profiler); its figures for RSS and CPU are then not reported.
    let dir = tempfile::tempdir().unwrap();
    let (url, mut child) = match std::env::var("REPROLOG_BENCH_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let init = Command::new(BIN)
                .args(["init", "--data"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(init.status.success());
            let mut child = serve_command(dir.path(), database, s3, extra)
                .spawn()
                .unwrap();
            (listening_url(&mut child).unwrap(), Some(child))
        }
    };
    let pid = child.as_ref().map_or(0, |c| c.id());

    // Ingest: `concurrency` submitters, each on its own keep-alive HTTP/1.1
    // connection (hyper client on tokio, so the generator spends little CPU),
    // POSTing and waiting for its receipt before the next.
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let authority = url.trim_start_matches("http://").to_string();
    let progress = {
        let next = next.clone();
        std::thread::spawn(move || {
            let mut last = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let done = next.load(Ordering::Relaxed).min(total);
                if done >= total {
                    break;
                }
                if last.elapsed() >= Duration::from_secs(10) {
                    eprintln!(
                        "  {done}/{total} submitted, {:.0}/s",
                        done as f64 / started.elapsed().as_secs_f64()
                    );
                    last = Instant::now();
                }
            }
        })
    };
    let mut lat: Vec<Duration> = rt.block_on(async {
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (entries, next, retries, authority) = (
                    entries.clone(),
                    next.clone(),
                    retries.clone(),
                    authority.clone(),
                );
                tokio::spawn(
                    async move { submit_loop(&authority, &entries, &next, &retries).await },
                )
            })
            .collect();
        let mut all = Vec::with_capacity(total);
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let ingest_secs = started.elapsed().as_secs_f64();
    let _ = progress.join();
    let server_cpu = cpu_secs(pid);
    lat.sort();
    println!(
        "ingest: {total} entries in {ingest_secs:.1}s = {:.0} acknowledged entries/s ({concurrency} submitters, {} 503 retries)",
        total as f64 / ingest_secs,
        retries.load(Ordering::Relaxed)
    );
    println!(
        "ingest / one core's verify_strict rate: {:.2}×",
        total as f64 / ingest_secs / verify_rate
    );
    println!(
        "ack latency: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "server CPU during ingest: {server_cpu:.1} s = {:.0} µs per entry ({:.2} of {threads} cores)",
        server_cpu * 1e6 / total as f64,
        server_cpu / ingest_secs
    );
    println!(
        "server peak RSS after ingest: {} MiB",
        peak_rss_kib(pid) / 1024
    );

    // Publishing trails ingest: how long until the bucket holds it all.
    if let Some((_, bucket)) = s3 {
        let agent = agent();
        let started = Instant::now();
        loop {
            let size = agent
                .get(&format!("{bucket}/checkpoint"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|t| t.lines().nth(1).and_then(|l| l.parse::<usize>().ok()));
            if size == Some(total) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "bucket caught up {:.2} s after the last acknowledgement",
            started.elapsed().as_secs_f64()
        );
    }

    // Readers: full tiles (from the bucket, when publishing) and lookups,
    // 4×cores threads for `read_secs` each.
    let size = total as u64;
    let read_phase = |name: &str,
                      base: &str,
                      path_for: Arc<dyn Fn(u64) -> String + Send + Sync>| {
        let count = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let hs: Vec<_> = (0..threads * 4)
            .map(|t| {
                let (count, url, path_for) = (count.clone(), base.to_string(), path_for.clone());
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut k = t as u64 * 7919;
                    let mut took = Vec::new();
                    while started.elapsed() < Duration::from_secs(read_secs) {
                        let one = Instant::now();
                        k = k
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let mut resp = agent.get(&format!("{url}{}", path_for(k))).call().unwrap();
                        assert_eq!(resp.status().as_u16(), 200);
                        let _ = resp.body_mut().with_config().limit(1 << 24).read_to_vec();
                        count.fetch_add(1, Ordering::Relaxed);
                        took.push(one.elapsed());
                    }
                    took
                })
            })
            .collect();
        let mut took: Vec<Duration> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        took.sort();
        let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        println!(
            "{name}: {rate:.0} requests/s, latency p50 {:.2} ms, p99 {:.2} ms ({} readers)",
            percentile(&took, 0.5).as_secs_f64() * 1e3,
            percentile(&took, 0.99).as_secs_f64() * 1e3,
            threads * 4
        );
    };
    let full_tiles = (size / 256).max(1);
    let tile_base = s3.map_or(url.as_str(), |(_, bucket)| bucket);
    read_phase(
        "full level-0 tiles",
        tile_base,
        Arc::new(move |k| {
            format!(
                "/{}",
                Tile {
                    kind: reprolog_proto::tile::TileKind::Hash { level: 0 },
                    n: k % full_tiles,
                    width: 256
                }
                .path()
            )
        }),
    );
    let subjects = (size / 3).max(1);
    read_phase(
        "lookups (3 entries each, with proofs)",
        &url,
        Arc::new(move |k| {
            format!(
                "/lookup/{}",
                Hash::of(&(k % subjects).to_be_bytes()).to_hex()
            )
        }),
    );
    // The index's part of one answer, and its map proof, in bytes.
    if let Ok(mut resp) = agent()
        .get(&format!(
            "{url}/lookup/{}",
            Hash::of(&7u64.to_be_bytes()).to_hex()
        ))
        .call()
    {
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 24)
            .read_to_vec()
            .unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(index) = answer.get("index") {
            let proof = index["keys"][0]["proof"].as_str().unwrap_or("");
            println!(
                "lookup answer: {} bytes, its index part {} bytes (map proof {} bytes)",
                body.len(),
                serde_json::to_vec(index).map_or(0, |v| v.len()),
                proof.len() * 3 / 4
            );
        }
    }
    println!("server peak RSS at end: {} MiB", peak_rss_kib(pid) / 1024);
    if child.is_some() && !extra.contains(&"--no-index") && database.is_none() {
        audit_index(&url, dir.path());
    }
    if let Some(child) = child.as_mut() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let _ = child.wait();
        // A restart: the stored checkpoint is checked against storage and,
        // with the index, the map is rebuilt and checked.
        let started = Instant::now();
        let mut again = serve_command(dir.path(), database, s3, extra)
            .spawn()
            .unwrap();
        let _ = listening_url(&mut again);
        println!(
            "restart until listening: {:.1} s, peak RSS {} MiB",
            started.elapsed().as_secs_f64(),
            peak_rss_kib(again.id()) / 1024
        );
        let _ = again.kill();
        let _ = again.wait();
    }
}

/// Times the client's index audit (`reprolog audit --full`'s index part)
/// against the server at `url`: every revision recomputed from the log's
/// entries, read over HTTP.
fn audit_index(url: &str, data: &std::path::Path) {
    let vkey = |extra: &[&str]| {
        let out = Command::new(BIN)
            .arg("vkey")
            .args(extra)
            .arg("--data")
            .arg(data)
            .output()
            .unwrap();
        reprolog_proto::note::Verifier::from_key_text(String::from_utf8_lossy(&out.stdout).trim())
            .unwrap()
    };
    let log = reprolog_io::http::connect(url, vkey(&[]));
    let cp = log.checkpoint().unwrap();
    let index = reprolog_proto::checkpoint::LogVerifier::new(vkey(&["--index"]));
    let started = Instant::now();
    let found =
        reprolog_client::audit_index::audit_index(&log, &cp, &format!("{url}/index"), index);
    println!(
        "index audit of {} entries: {:.1} s, {} of {} revisions recomputed and right, {} errors",
        cp.size,
        started.elapsed().as_secs_f64(),
        found.revisions_checked,
        found.revisions,
        found.errors.len()
    );
}

/// `reprolog-server serve` on the data dir `data` for this load.
fn serve_command(
    data: &std::path::Path,
    database: Option<&str>,
    s3: Option<(&str, &str)>,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new(BIN);
    cmd // Two keys submit the whole million, from one address: lift
        // the unknown keys' limits and the per-address connection cap.
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--unknown-key-rate",
            "0",
            "--max-connections-per-peer",
            "1024",
        ])
        .args(["--unknown-key-pending", "1000000"])
        .args(extra)
        .arg("--data")
        .arg(data)
        .args(
            database
                .map(|url| ["--database", url])
                .into_iter()
                .flatten(),
        )
        .args(
            s3.map(|(publish, _)| ["--publish", publish])
                .into_iter()
                .flatten(),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    cmd
}

/// One submitter: a single connection, one request at a time.
async fn submit_loop(
    authority: &str,
    entries: &[Vec<u8>],
    next: &AtomicUsize,
    retries: &AtomicUsize,
) -> Vec<Duration> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut out = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= entries.len() {
            return out;
        }
        loop {
            let req = hyper::Request::post("/add-entry")
                .header("Host", authority)
                .header("Content-Type", "application/cbor")
                .body(Full::new(hyper::body::Bytes::from(entries[i].clone())))
                .unwrap();
            let t = Instant::now();
            sender.ready().await.expect("connection");
            let resp = sender.send_request(req).await.expect("request");
            let status = resp.status().as_u16();
            let _ = resp.into_body().collect().await;
            if status == 200 {
                out.push(t.elapsed());
                break;
            }
            assert_eq!(status, 503, "unexpected status {status}");
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn agent() -> ureq::Agent {
    reprolog_testkit::agent(Duration::from_secs(60))
}
