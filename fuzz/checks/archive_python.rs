//! The archive differential, fuzzed: every archive our reader accepts is
//! read the same way by Python's `tarfile` and `zipfile` (run as one
//! long-lived process, scripts/archive_oracle.py). For each member we report,
//! whatever Python would write at that path has our bytes; where Python
//! reads the archive whole in the format we read, it writes exactly our
//! members. (client/tests/archive_differential.rs does the same with GNU tar,
//! bsdtar and unzip on a fixed corpus.)
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/archive_python.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::archive::{self, ArchiveKind, Limits};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

struct Oracle {
    _child: Child,
    stdout: BufReader<ChildStdout>,
}

/// What one Python reader made of an archive.
struct Reading {
    status: String,
    files: BTreeMap<String, String>,
}

fn oracle() -> &'static Mutex<Oracle> {
    static ORACLE: OnceLock<Mutex<Oracle>> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/archive_oracle.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the archive oracle");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Mutex::new(Oracle {
            _child: child,
            stdout,
        })
    })
}

fn ask(data: &[u8]) -> BTreeMap<String, Reading> {
    let mut o = oracle().lock().unwrap_or_else(|e| e.into_inner());
    let stdin = o._child.stdin.as_mut().expect("piped");
    stdin.write_all(&(data.len() as u64).to_le_bytes()).unwrap();
    stdin.write_all(data).unwrap();
    stdin.flush().unwrap();
    let mut out = BTreeMap::new();
    let mut current = String::new();
    loop {
        let mut line = String::new();
        o.stdout.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line == "." || line.is_empty() {
            return out;
        }
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        match parts.as_slice() {
            ["f", sha, path] => {
                let path = String::from_utf8_lossy(&hex::decode(path).unwrap()).into_owned();
                out.get_mut(&current)
                    .map(|r: &mut Reading| r.files.insert(path, sha.to_string()));
            }
            [reader, status] => {
                current = reader.to_string();
                out.insert(
                    current.clone(),
                    Reading {
                        status: status.to_string(),
                        files: BTreeMap::new(),
                    },
                );
            }
            _ => panic!("oracle said {line:?}"),
        }
    }
}

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    let limits = Limits {
        floor: 1 << 20,
        max_total: 1 << 22,
        ..Limits::default()
    };
    let Ok(members) = archive::members(std::io::Cursor::new(data), data.len() as u64, limits)
    else {
        return; // a refusal is always safe
    };
    // Paths we had to escape for display cannot be compared byte for byte.
    if members
        .iter()
        .any(|m| m.path.contains('\\') || m.path.contains('…'))
    {
        return;
    }
    let kind = archive::classify(&mut std::io::Cursor::new(data), data.len() as u64).unwrap();
    let ours: BTreeMap<&str, String> = members
        .iter()
        .map(|m| (m.path.as_str(), m.sha256.to_hex()))
        .collect();
    for (reader, r) in ask(data) {
        for (path, sha) in &r.files {
            if let Some(ours) = ours.get(path.as_str()) {
                assert_eq!(ours, sha, "Python's {reader} writes other bytes at {path}");
            }
        }
        let same_format = matches!(
            (reader.as_str(), kind),
            ("tar", ArchiveKind::Tar | ArchiveKind::TarGz) | ("zip", ArchiveKind::Zip)
        );
        if same_format && r.status == "ok" {
            let theirs: Vec<&str> = r.files.keys().map(String::as_str).collect();
            let ours: Vec<&str> = ours.keys().copied().collect();
            assert_eq!(ours, theirs, "Python's {reader} writes other files");
        }
    }
}
