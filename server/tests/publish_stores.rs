//! `serve --publish` to the other kinds of store: an Azure Blob Storage
//! container (Azurite, Microsoft's emulator, installed from npm by
//! scripts/azurite.sh) read anonymously by the client's verified reader and a
//! full audit, and a local directory that holds the same files the API
//! serves.

mod common;

use base64::Engine;
use common::*;
use reprolog_client::audit;
use reprolog_io::http;
use reprolog_proto::note::Signer;
use reprolog_proto::tile;
use reprolog_proto::Hash;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Azurite's well-known development account and key.
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite_blob() -> PathBuf {
    installed_tool("REPROLOG_AZURITE", "azurite.sh")
}

/// Azurite's blob service on 127.0.0.1.
struct Azurite {
    child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1`
    account_url: String,
}

impl Azurite {
    fn start(dir: &Path) -> Azurite {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(azurite_blob())
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir)
            .args([
                "--silent",
                "--skipApiVersionCheck",
                "--disableProductStyleUrl",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start azurite-blob");
        let up = (0..400).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "azurite did not start");
        Azurite {
            child,
            account_url: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        }
    }

    /// Creates a container whose blobs anyone may read, as a log's public
    /// read path needs (Create Container with Shared Key authorization).
    fn create_public_container(&self, name: &str) {
        let date = http_date(SystemTime::now());
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-blob-public-access:blob\nx-ms-date:{date}\n\
             x-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(ACCOUNT_KEY)
            .unwrap();
        let signature =
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, to_sign.as_bytes()));
        let resp = agent()
            .put(&format!("{}/{name}?restype=container", self.account_url))
            .header("x-ms-blob-public-access", "blob")
            .header("x-ms-date", &date)
            .header("x-ms-version", version)
            .header("Authorization", &format!("SharedKey {ACCOUNT}:{signature}"))
            .send_empty()
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().read_to_string().unwrap_or_default();
        assert_eq!(status, 201, "creating container {name}: {body}");
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HMAC-SHA256 (RFC 2104), for Shared Key signatures.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// An RFC 7231 date (`Thu, 03 Dec 2026 04:30:00 GMT`).
fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][month as usize - 1];
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn http_dates_are_rfc_7231() {
    assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    let at = UNIX_EPOCH + Duration::from_secs(1_796_272_245);
    assert_eq!(http_date(at), "Thu, 03 Dec 2026 04:30:45 GMT");
    assert_eq!(
        hex(&hmac_sha256(
            b"key",
            b"The quick brown fox jumps over the lazy dog"
        )),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn an_azure_container_serves_every_reader_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let azurite = Azurite::start(&dir.path().join("azurite"));
    azurite.create_public_container("logs");
    let data = dir.path().join("log");
    let key = init(&data);
    let publish = format!(
        "az://logs/reprolog?account_name={ACCOUNT}&access_key={}&endpoint={}",
        ACCOUNT_KEY
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D"),
        azurite.account_url
    );
    let server = TestServer::start(
        &data,
        &key,
        &["--publish", &publish, "--unknown-key-rate", "0"],
    );
    let container = format!("{}/logs/reprolog", azurite.account_url);
    let signer = Signer::generate("rebuilder.test").unwrap();
    let entries: Vec<Vec<u8>> = (0..300u32)
        .map(|i| entry_for(&signer, "bin", Hash::of(&i.to_be_bytes()), i % 5 != 0))
        .collect();
    for e in &entries {
        server.submit(e);
    }
    wait_published(&container, 300);

    // Tiles are immutable for caches; the checkpoint is not.
    let tile = agent()
        .get(&format!("{container}/tile/0/000"))
        .call()
        .unwrap();
    assert_eq!(
        tile.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "public, max-age=31536000, immutable"
    );
    let checkpoint = agent()
        .get(&format!("{container}/checkpoint"))
        .call()
        .unwrap();
    assert_eq!(
        checkpoint
            .headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-cache"
    );

    // The client's verified reader, given only the container.
    let reader = http::connect(&container, key.clone());
    let cp = reader.checkpoint().unwrap();
    assert_eq!(cp, server.checkpoint());
    let tiles = reader.tiles(&cp);
    let read: Vec<Vec<u8>> = (0..tiles.bundle_count())
        .flat_map(|n| tiles.bundle(n).unwrap())
        .collect();
    assert_eq!(read, entries);
    let report = audit::audit(&container, &key, &dir.path().join("audit"), true, None).unwrap();
    assert!(report.ok(), "{:?}", report.findings.log_errors);
    assert_eq!(report.findings.entries_checked, 300);
    assert_eq!(report.findings.mismatches.len(), 60);
}

#[test]
fn a_mistyped_store_option_stops_serve_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    init(&data);
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .args([
            "--publish",
            "s3://bucket/p?endpoint=http://127.0.0.1:9&regoin=eu-central-1",
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown S3 option \"regoin\""), "{stderr}");
}

#[test]
fn a_directory_holds_what_the_api_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let key = init(&data);
    let public = dir.path().join("public");
    let publish = format!("file://{}/reprolog", public.display());
    let server = TestServer::start(
        &data,
        &key,
        &["--publish", &publish, "--unknown-key-rate", "0"],
    );
    let signer = Signer::generate("rebuilder.test").unwrap();
    for i in 0..300u32 {
        server.submit(&entry_for(&signer, "bin", Hash::of(&i.to_be_bytes()), true));
    }
    let root = public.join("reprolog");
    let started = Instant::now();
    while std::fs::read(root.join("checkpoint")).ok() != Some(server.get("/checkpoint").1) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the directory's checkpoint never caught up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every tile and entry bundle of the published tree, byte for byte as
    // the API serves it.
    let size = server.checkpoint().size;
    let paths: Vec<String> = tile::new_tiles(0, size).iter().map(|t| t.path()).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("tile/entries/")),
        "{paths:?}"
    );
    for path in paths {
        let stored = std::fs::read(root.join(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(stored, server.get(&format!("/{path}")).1, "{path}");
    }
}
