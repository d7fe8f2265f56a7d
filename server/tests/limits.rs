//! Connection and submission limits over real HTTP: the header deadline, the
//! connection cap and the per-key rate limit.

mod common;

use common::{entry_for, init, TestServer};
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn addr(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Sends a whole GET request and returns the status line of the answer.
fn raw_get(stream: &mut TcpStream, path: &str) -> String {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out.lines().next().unwrap_or("").to_string()
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = TestServer::start(dir.path(), &key, &["--header-timeout-secs", "1"]);
    let mut slow = TcpStream::connect(addr(&server)).unwrap();
    slow.write_all(b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server ends the connection (EOF, possibly after a 408); a read
    // timeout here would mean it kept waiting for the headers.
    let read = slow.read_to_end(&mut buf);
    assert!(
        read.is_ok(),
        "server kept the connection open: {read:?} after {:?}",
        started.elapsed()
    );
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    // Others are served normally meanwhile and after.
    let mut ok = TcpStream::connect(addr(&server)).unwrap();
    assert_eq!(raw_get(&mut ok, "/healthz"), "HTTP/1.1 200 OK");
    server.stop();
}

#[test]
fn connections_beyond_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = TestServer::start(
        dir.path(),
        &key,
        &["--max-connections", "2", "--header-timeout-secs", "60"],
    );
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(addr(&server)).unwrap())
        .collect();
    // Let the server accept both before the third arrives.
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(addr(&server)).unwrap();
    write!(
        third,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = third.read(&mut byte);
    assert!(
        early.is_err(),
        "the third connection was served while two were held: {early:?}"
    );
    drop(held);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut out = Vec::new();
    third.read_to_end(&mut out).unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    server.stop();
}

#[test]
fn each_key_is_held_to_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = TestServer::start(
        dir.path(),
        &key,
        &["--rate-per-key", "0.01", "--burst-per-key", "2"],
    );
    let alice = Signer::generate("alice").unwrap();
    let bob = Signer::generate("bob").unwrap();
    let entry = |s: &Signer, i: u8| entry_for(s, "tool", Hash::of(&[i]), true);
    server.submit(&entry(&alice, 1));
    server.submit(&entry(&alice, 2));
    let size = server.checkpoint().size;

    let mut resp = common::agent()
        .post(&format!("{}/add-entry", server.url))
        .header("Content-Type", "application/cbor")
        .send(&entry(&alice, 3)[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((50..=100).contains(&retry), "Retry-After {retry}");
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("over its submission rate"), "{body}");
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    assert_eq!(
        server.checkpoint().size,
        size,
        "a refused entry is not logged"
    );

    // Bob has a budget of his own.
    server.submit(&entry(&bob, 1));
    server.submit(&entry(&bob, 2));
    let (metrics_status, metrics) = server.get("/metrics");
    assert_eq!(metrics_status, 200);
    assert!(
        String::from_utf8_lossy(&metrics).contains("reason=\"rate_limited\"} 1"),
        "{}",
        String::from_utf8_lossy(&metrics)
    );
    server.stop();
}
