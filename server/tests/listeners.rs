//! Every listener keeps answering while strangers try to hold it: against
//! `reprolog-server serve` and `reprolog-server witness`, an attacker on
//! 127.0.0.2 opens 1,000 connections that stall in a request body, 1,000
//! that stall in the headers, and 5,000 that send nothing. Honest clients on
//! 127.0.0.1 are answered throughout, the attacker holds at most
//! `--max-connections-per-peer` connections, and each of those is closed
//! within its deadline. A witnessed log keeps acknowledging entries while
//! its witness is under the stalled-body attack.

mod common;

use common::witness::{witnessed_log, WitnessedLog};
use common::*;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The deadlines the listeners run with here (seconds).
const DEADLINE: u64 = 2;
const PER_PEER: usize = 32;

fn limits() -> Vec<String> {
    [
        "--header-timeout-secs",
        &DEADLINE.to_string(),
        "--body-timeout-secs",
        &DEADLINE.to_string(),
        "--max-connections-per-peer",
        &PER_PEER.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `n` connections from 127.0.0.2 to `addr`, each sending `first` (if any).
/// Connections the listener closes at once are kept too: the caller counts.
fn attack(addr: SocketAddr, n: usize, first: &[u8]) -> Vec<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let stream = socket.connect(addr).await.unwrap();
            let stream = stream.into_std().unwrap();
            stream.set_nonblocking(false).unwrap();
            let mut s = stream;
            let _ = s.write_all(first);
            out.push(s);
        }
        out
    })
}

/// How many of `conns` the listener still holds open after `wait`.
fn still_open(conns: &mut [TcpStream], wait: Duration) -> usize {
    std::thread::sleep(wait);
    let mut open = 0;
    for c in conns.iter_mut() {
        c.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let is_open = match c.read(&mut buf) {
            Ok(0) => false,
            // An answer (408) then the close, or still open.
            Ok(_) => {
                matches!(c.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        };
        open += usize::from(is_open);
    }
    open
}

/// Runs the three attacks on `addr`; `honest` must succeed during each.
fn attacks_leave_it_answering(addr: SocketAddr, stalled_body: &[u8], honest: &dyn Fn()) {
    let stalled_header = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for (what, n, first) in [
        ("stalled bodies", 1_000, stalled_body.to_vec()),
        ("stalled headers", 1_000, stalled_header),
        ("idle connections", 5_000, Vec::new()),
    ] {
        let mut conns = attack(addr, n, &first);
        let started = Instant::now();
        honest();
        honest();
        let held = still_open(&mut conns, Duration::from_millis(300));
        assert!(
            held <= PER_PEER,
            "{what}: the attacker holds {held} connections"
        );
        assert!(held > 0, "{what}: the attack reached the listener");
        honest();
        // Within the deadline (and a second of slack) every one is closed.
        let wait = Duration::from_secs(DEADLINE + 1).saturating_sub(started.elapsed());
        assert_eq!(still_open(&mut conns, wait), 0, "{what}: past the deadline");
        honest();
    }
}

#[test]
fn the_log_answers_through_stalls_and_floods() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let args = limits();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::start(dir.path(), &key, &args);
    let addr: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let signer = Signer::generate("r.test").unwrap();
    let n = std::sync::atomic::AtomicU8::new(0);
    let honest = || {
        let (status, _) = server.get("/healthz");
        assert_eq!(status, 200);
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        server.submit(&entry_for(&signer, "app", Hash::of(&[i]), true));
    };
    let body = format!(
        "POST /add-entry HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/cbor\r\nContent-Length: 1000\r\n\r\n\x05\x05\x05\x05\x05\x05"
    );
    attacks_leave_it_answering(addr, body.as_bytes(), &honest);

    // A kept-alive connection that sits idle is closed after the deadline.
    let mut idle = TcpStream::connect(addr).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).unwrap() > 0);
    idle.set_read_timeout(Some(Duration::from_secs(DEADLINE + 5)))
        .unwrap();
    let started = Instant::now();
    let closed = idle.read(&mut buf);
    assert!(matches!(closed, Ok(0)), "{closed:?}");
    assert!(started.elapsed() < Duration::from_secs(DEADLINE + 2));
}

#[test]
fn the_witness_answers_through_stalls_and_floods_and_its_log_keeps_acknowledging() {
    let dir = tempfile::tempdir().unwrap();
    let args = limits();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let WitnessedLog {
        witness: w, server, ..
    } = witnessed_log(dir.path(), &args, &[]);
    let addr: SocketAddr = w.url.trim_start_matches("http://").parse().unwrap();
    let signer = Signer::generate("r.test").unwrap();
    let n = std::sync::atomic::AtomicU8::new(0);
    // Honest: the witness answers a request (400 for an empty body), and the
    // log it witnesses acknowledges an entry, which needs a cosignature.
    let honest = || {
        let (status, _, _) = w.add(b"");
        assert_eq!(status, 400);
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        server.submit(&entry_for(&signer, "app", Hash::of(&[i]), true));
    };
    let body = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\r\nold 0\n"
    );
    attacks_leave_it_answering(addr, body.as_bytes(), &honest);
}
