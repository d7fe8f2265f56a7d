//! A file-based GOPROXY written by the tests (the layout of
//! https://go.dev/ref/mod#goproxy-protocol), with h1: sums computed as Go's
//! `golang.org/x/mod/sumdb/dirhash.Hash1` does.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// dirhash.Hash1 over (name, content) pairs.
pub fn h1(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, content) in sorted {
        h.update(format!("{}  {name}\n", hex::encode(Sha256::digest(content))).as_bytes());
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

/// Publishes `path@version` with `files` (must include go.mod) into the proxy
/// directory. Returns the go.sum lines for it.
pub fn publish(proxy: &Path, path: &str, version: &str, files: &[(&str, &str)]) -> String {
    let dir = proxy.join(path).join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("{path}@{version}/");
    let entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, c)| (format!("{prefix}{n}"), c.as_bytes().to_vec()))
        .collect();
    let mut zip =
        zip::ZipWriter::new(std::fs::File::create(dir.join(format!("{version}.zip"))).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in &entries {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap();
    let gomod = files
        .iter()
        .find(|(n, _)| *n == "go.mod")
        .expect("go.mod")
        .1;
    std::fs::write(dir.join(format!("{version}.mod")), gomod).unwrap();
    std::fs::write(
        dir.join(format!("{version}.info")),
        format!("{{\"Version\":\"{version}\",\"Time\":\"2026-01-01T00:00:00Z\"}}\n"),
    )
    .unwrap();
    let list = dir.join("list");
    let mut versions = std::fs::read_to_string(&list).unwrap_or_default();
    versions.push_str(&format!("{version}\n"));
    std::fs::write(list, versions).unwrap();
    let mod_sum = h1(&[("go.mod".to_string(), gomod.as_bytes().to_vec())]);
    format!(
        "{path} {version} {}\n{path} {version}/go.mod {mod_sum}\n",
        h1(&entries)
    )
}
