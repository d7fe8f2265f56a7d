//! The web page under a flood: one digest carries REPROLOG_BENCH_FLOOD
//! (default 100,000) entries from fresh keys no policy lists, and two
//! trusted rebuilders' matches. Headless Chromium (ChromeDriver, as in the
//! page's tests) opens `/#sha256:<digest>` under the log's policy; the figure
//! is the time from navigation (from a blank page, so loading the page counts)
//! to the verdict on screen, verified in the browser. The page asks the lookup by the policy's keys, so the flood costs
//! one number (`total`); for contrast, the bench also times reading the
//! unfiltered lookup (every page of it) over HTTP.
//!
//! Run: `REPROLOG_CHROMEDRIVER=/usr/bin/chromedriver cargo bench -p reprolog-server --bench web_flood`

#[path = "../tests/browser/mod.rs"]
mod browser;
#[path = "../tests/common/mod.rs"]
mod common;

use common::{entry_for, init, TestServer};
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let flood: usize = std::env::var("REPROLOG_BENCH_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let key = init(&data);
    let alpha = Signer::generate("alpha.bench").unwrap();
    let beta = Signer::generate("beta.bench").unwrap();
    let policy = format!(
        "log {} http://127.0.0.1:1\nrebuilder alpha {}\nrebuilder beta {}\ngroup both 2 alpha beta\nconsensus both\nquorum none\n",
        key.to_key_text(),
        alpha.verifier().to_key_text(),
        beta.verifier().to_key_text()
    );
    let policy_file = dir.path().join("policy");
    std::fs::write(&policy_file, &policy).unwrap();
    let server = TestServer::start(
        &data,
        &key,
        &[
            "--policy",
            policy_file.to_str().unwrap(),
            "--unknown-key-rate",
            "0",
            "--max-pending",
            "65536",
            "--max-connections-per-peer",
            "1024",
        ],
    );
    let digest = Hash::of(b"a binary everyone floods");
    server.submit(&entry_for(&alpha, "app", digest, true));

    // The flood: 256 submitters, each with its own fresh keys (100 entries
    // a key), every entry acknowledged.
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..256 {
            s.spawn(|| {
                let mut signer = Signer::generate("fresh.bench").unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= flood {
                        return;
                    }
                    if i % 100 == 0 {
                        signer = Signer::generate(&format!("fresh{i}.bench")).unwrap();
                    }
                    server.submit(&entry_for(&signer, &format!("copy-{i}"), digest, true));
                }
            });
        }
    });
    server.submit(&entry_for(&beta, "app", digest, true));
    eprintln!(
        "flooded {flood} untrusted entries in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // For contrast: every page of the unfiltered lookup over HTTP.
    let t = Instant::now();
    let mut cursor = 0u64;
    let mut pages = 0;
    loop {
        let (status, body) = server.get(&format!("/lookup/{}?cursor={cursor}", digest.to_hex()));
        assert_eq!(status, 200);
        let page: reprolog_proto::wire::LookupResponse = serde_json::from_slice(&body).unwrap();
        pages += 1;
        match page.next {
            Some(n) => cursor = n,
            None => break,
        }
    }
    let unfiltered = t.elapsed();

    let b = browser::Browser::start(1200, 900);
    let mut runs = Vec::new();
    for _ in 0..3 {
        // From a blank page: the figure includes loading the page itself.
        b.goto("about:blank");
        let t = Instant::now();
        b.goto(&format!("{}/#sha256:{}", server.url, digest.to_hex()));
        let verdict = b.wait_for(
            &format!("document.getElementById('result').dataset.digest === '{}' && document.getElementById('result').dataset.state === 'done' && document.getElementById('result').dataset.verdict", digest.to_hex()),
            Duration::from_secs(300),
        );
        runs.push(t.elapsed());
        assert_eq!(verdict, serde_json::json!("REPRODUCED"));
    }
    let secs: Vec<String> = runs
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect();
    println!(
        "web page, {flood} untrusted + 2 trusted entries on one digest: REPRODUCED in {} s (3 runs); unfiltered lookup over HTTP: {pages} pages in {:.2} s",
        secs.join(" / "),
        unfiltered.as_secs_f64()
    );
}
