//! Shared harness for rebuilder integration tests: the Go toolchains installed by
//! `scripts/toolchains.sh` and helpers to run them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const REBUILDER: &str = env!("CARGO_BIN_EXE_reprolog-rebuilder");

/// The toolchain store: `$REPROLOG_TOOLCHAINS` or the repo's `.cache/toolchains`.
pub fn toolchains() -> PathBuf {
    let dir = std::env::var_os("REPROLOG_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/toolchains"));
    assert!(
        dir.is_dir(),
        "no Go toolchains at {}: run scripts/toolchains.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// GOROOT of an installed Go version, e.g. "1.22.10".
pub fn goroot(version: &str) -> PathBuf {
    let root = toolchains().join(format!("go{version}/go"));
    assert!(
        root.join("bin/go").is_file(),
        "Go {version} missing at {}: run scripts/toolchains.sh",
        root.display()
    );
    root
}

/// Runs `go version -m FILE` with the given toolchain.
pub fn go_version_m(version: &str, file: &Path) -> String {
    let root = goroot(version);
    let out = Command::new(root.join("bin/go"))
        .args(["version", "-m"])
        .arg(file)
        .env("GOROOT", &root)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .output()
        .expect("run go version -m");
    assert!(
        out.status.success(),
        "go version -m failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Go commands shipped in a distribution: bin/* and pkg/tool/linux_amd64/*.
pub fn distribution_binaries(version: &str) -> Vec<PathBuf> {
    let root = goroot(version);
    let mut out = Vec::new();
    for dir in [root.join("bin"), root.join("pkg/tool/linux_amd64")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}
