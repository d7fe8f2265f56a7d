//! The official-archive provider against a local HTTP server: a verified archive
//! is installed; a wrong digest or an unlisted file installs nothing.

use reprolog_rebuilder::download::{archive_name, install, DownloadError};
use reprolog_rebuilder::toolchain::{goroot_version, ToolchainStore};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// A tar.gz holding a minimal GOROOT at go/.
fn fake_archive(version: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, body, mode) in [
        (
            "go/VERSION",
            format!("{version}\ntime 2026-01-01T00:00:00Z\n"),
            0o644,
        ),
        ("go/bin/go", "#!/bin/sh\n".to_string(), 0o755),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        tar.append_data(&mut h, path, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Serves `index` at /dl/?mode=json... and `archive` at /dl/<name>, forever.
fn serve(index: String, name: String, archive: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/dl/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("");
            let (status, body) = if path.starts_with("/dl/?mode=json") {
                ("200 OK", index.as_bytes().to_vec())
            } else if path == format!("/dl/{name}") {
                ("200 OK", archive.clone())
            } else {
                ("404 Not Found", b"no".to_vec())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    base
}

#[test]
fn verified_archives_install_and_bad_ones_do_not() {
    let version = "go1.99.9";
    let name = archive_name(version);
    let archive = fake_archive(version);
    let good = hex::encode(Sha256::digest(&archive));
    let index = |sha: &str, file: &str| {
        format!("[{{\"version\":\"{version}\",\"files\":[{{\"filename\":\"{file}\",\"sha256\":\"{sha}\"}}]}}]")
    };

    let store = tempfile::tempdir().unwrap();
    let bad = serve(index(&"0".repeat(64), &name), name.clone(), archive.clone());
    let err = install(version, &bad, store.path(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, DownloadError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("refusing"));
    assert!(
        ToolchainStore::scan(&[store.path().to_path_buf()])
            .versions()
            .is_empty(),
        "nothing installed"
    );

    let unlisted = serve(index(&good, "other.tar.gz"), name.clone(), archive.clone());
    assert!(matches!(
        install(version, &unlisted, store.path(), &mut |_| {}),
        Err(DownloadError::NotListed { .. })
    ));

    let ok = serve(index(&good, &name), name.clone(), archive);
    let goroot = install(version, &ok, store.path(), &mut |_| {}).unwrap();
    assert_eq!(goroot_version(&goroot).as_deref(), Some(version));
    assert_eq!(
        ToolchainStore::scan(&[store.path().to_path_buf()]).versions(),
        vec![version]
    );
}
