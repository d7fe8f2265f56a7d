//! `serve --publish`: the read path copied to a real S3-compatible server
//! (s3s-fs, built from crates.io by scripts/s3s-fs.sh), then read from the
//! bucket alone by the client's verified reader, a full audit and Go's own
//! `golang.org/x/mod/sumdb/tlog`; a publisher restarted without the
//! bucket's checkpoint redoes its writes.

mod common;

use common::sumdb::{go_sumdbcheck, run_sumdbcheck};
use common::*;
use reprolog_client::audit;
use reprolog_io::http;
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

fn s3s_fs() -> PathBuf {
    installed_tool("REPROLOG_S3S_FS", "s3s-fs.sh")
}

/// An s3s-fs server on 127.0.0.1 with one bucket; anonymous access.
struct S3 {
    child: Child,
    endpoint: String,
}

impl S3 {
    fn start(root: &Path, bucket: &str) -> S3 {
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(root)
            .spawn()
            .expect("start s3s-fs");
        let up = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "s3s-fs did not start");
        S3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_bucket_serves_every_reader_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start(&dir.path().join("s3"), "logbucket");
    let data = dir.path().join("log");
    let key = init(&data);
    let publish = format!(
        "s3://logbucket/reprolog?endpoint={}&skip_signature=true&region=us-east-1",
        s3.endpoint
    );
    let args = ["--publish", publish.as_str(), "--unknown-key-rate", "0"];
    let server = TestServer::start(&data, &key, &args);
    let bucket = format!("{}/logbucket/reprolog", s3.endpoint);
    let signer = Signer::generate("rebuilder.test").unwrap();
    let mut entries = Vec::new();
    for i in 0..300u32 {
        let e = entry_for(&signer, "bin", Hash::of(&i.to_be_bytes()), i % 7 != 0);
        server.submit(&e);
        entries.push(e);
        if i == 99 {
            wait_published(&bucket, 100);
        }
    }
    wait_published(&bucket, 300);
    let (_, old_note) = http_get(&format!("{bucket}/checkpoint"));
    let old_checkpoint = dir.path().join("checkpoint-300");
    std::fs::write(&old_checkpoint, &old_note).unwrap();

    // Tiles are immutable for caches; the checkpoint is not.
    let resp = agent().get(&format!("{bucket}/tile/0/000")).call().unwrap();
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "public, max-age=31536000, immutable"
    );

    // The client's verified reader, given only the bucket: the same
    // checkpoint, every entry, consistency with a checkpoint kept earlier.
    let reader = http::connect(&bucket, key.clone());
    let cp = reader.checkpoint().unwrap();
    assert_eq!(cp, server.checkpoint());
    let tiles = reader.tiles(&cp);
    let mut read = Vec::new();
    for n in 0..tiles.bundle_count() {
        read.extend(tiles.bundle(n).unwrap());
    }
    assert_eq!(read, entries);

    // Split reads: checkpoint and tiles from the bucket, the API (here
    // unreachable) for the rest, as `follow --read-url` does.
    let split = reprolog_proto::logclient::LogClient::new(
        http::Http::new("http://127.0.0.1:9").with_static_reads(&bucket),
        key.clone(),
    );
    let cp_split = split.checkpoint().unwrap();
    assert_eq!(split.tiles(&cp_split).bundle(0).unwrap(), entries[..256]);
    assert!(split.lookup(&Hash::of(&0u32.to_be_bytes()), &[]).is_err());

    // A full audit from the bucket alone.
    let report = audit::audit(&bucket, &key, &dir.path().join("audit"), true, None).unwrap();
    assert!(report.ok(), "{:?}", report.findings.log_errors);
    assert_eq!(report.findings.entries_checked, 300);
    assert_eq!(report.findings.mismatches.len(), 43);

    // Restarted with its bucket checkpoint gone, the publisher redoes every
    // write (they are idempotent) and the bucket grows on.
    server.stop();
    let checkpoint_file = dir.path().join("s3/logbucket/reprolog/checkpoint");
    std::fs::remove_file(&checkpoint_file).unwrap();
    let server = TestServer::start(&data, &key, &args);
    wait_published(&bucket, 300);
    let more = entry_for(&signer, "bin", Hash::of(b"one more"), true);
    server.submit(&more);
    wait_published(&bucket, 301);
    let cp2 = reader.checkpoint().unwrap();
    reader.check_extends(&cp, &cp2).unwrap();
    assert_eq!(reader.tiles(&cp2).bundle(1).unwrap().last(), Some(&more));
    let (_, metrics) = server.get("/metrics");
    assert!(String::from_utf8(metrics)
        .unwrap()
        .contains("reprolog_published_size 301"));

    // A tile the bucket does not hold (it lags the API, or no one asked for
    // that width) is asked of the API instead. The publisher wrote the
    // partial tile of every checkpoint it published, and where the
    // sequencer cut its batches is timing, so take a width it did not write.
    use reprolog_proto::transport::Transport;
    let tiles_dir = dir.path().join("s3/logbucket/reprolog/tile/0/001.p");
    let width = (1..45u32)
        .find(|w| !tiles_dir.join(w.to_string()).exists())
        .expect("the bucket holds every partial width below 45");
    let lagging = format!("/tile/0/001.p/{width}");
    let lagging = lagging.as_str();
    assert_eq!(http_get(&format!("{bucket}{lagging}")).0, 404);
    let split = http::Http::new(&server.url).with_static_reads(&bucket);
    assert_eq!(split.get(lagging).unwrap(), server.get(lagging).1);
    assert_eq!(
        split.get("/checkpoint").unwrap(),
        http_get(&format!("{bucket}/checkpoint")).1
    );

    // Go's sumdb code verifies the same bucket over HTTP: signature, every
    // tile, the root, all 301 entries, and that it grew from size 300.
    let Some(checker) = go_sumdbcheck(&dir.path().join("go")) else {
        eprintln!("no Go toolchain (scripts/toolchains.sh): the Go sumdb check is skipped");
        return;
    };
    let (ok, line) = run_sumdbcheck(&checker, &bucket, &key, Some(&old_checkpoint));
    assert!(ok, "{line}");
    assert_eq!(
        line,
        format!(
            "golang.org/x/mod/sumdb/tlog verified size 301 root {}: 301 entries proven; consistent with size 300",
            cp2.root.to_base64()
        )
    );
    // The index log is published beside the log, and Go reads it there too.
    {
        let index_size = LogVerifier::new(index_key(&data))
            .open(&server.get("/index/checkpoint").1)
            .unwrap()
            .size;
        let index_bucket = format!("{bucket}/index");
        wait_published(&index_bucket, index_size);
        let (ok, line) = run_sumdbcheck(&checker, &index_bucket, &index_key(&data), None);
        assert!(ok, "{line}");
        assert!(
            line.contains(&format!("{index_size} entries proven")),
            "{line}"
        );
    }
    // It can fail: a flipped byte in a full tile in the bucket is caught.
    let tile = dir.path().join("s3/logbucket/reprolog/tile/0/000");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&tile, &bytes).unwrap();
    let (ok, line) = run_sumdbcheck(&checker, &bucket, &key, None);
    assert!(!ok);
    assert!(
        line.contains("tree hash from tiles") || line.contains("entry"),
        "{line}"
    );
}
