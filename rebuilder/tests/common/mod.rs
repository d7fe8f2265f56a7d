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

pub mod goproxy;

use reprolog_rebuilder::build::ModuleConfig;
use reprolog_rebuilder::rebuild::RebuildConfig;
use reprolog_rebuilder::toolchain::ToolchainStore;
#[allow(unused_imports)] // not every test binary packs archives
pub use reprolog_testkit::archive::tar_gz;
use std::process::Output;

/// Cargo's scratch directory for integration tests; GOCACHE is shared there.
pub fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Runs the real `go` of `version` in `dir`, with no network, no user config and
/// the tests' shared GOCACHE. `env` adds or overrides variables.
pub fn go(version: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let root = goroot(version);
    // HOME and GOPATH outside `dir`, which may be a git checkout that must stay clean.
    let home = target_tmp().join("gohome");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(root.join("bin/go"));
    cmd.env_clear()
        .current_dir(dir)
        .args(args)
        .env(
            "PATH",
            format!(
                "{}:/usr/local/bin:/usr/bin:/bin",
                root.join("bin").display()
            ),
        )
        .env("HOME", &home)
        .env("GOROOT", &root)
        .env("GOPATH", target_tmp().join("gopath"))
        .env("GOCACHE", target_tmp().join("gocache"))
        .env("GOFLAGS", "-modcacherw")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("CGO_ENABLED", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run go");
    assert!(
        out.status.success(),
        "go {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `go build -trimpath -o OUT .` in `dir` with Go `version` and `env`.
pub fn trimpath_build(version: &str, dir: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    go(
        version,
        dir,
        &["build", "-trimpath", "-o", out.to_str().unwrap(), "."],
        env,
    )
}

/// Runs git in `dir` with a fixed identity and dates, so commits are repeatable.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A git repository at `dir` holding `files`, committed; returns the revision.
pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "release"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Rebuilder configuration for tests: the installed toolchains, a cache under
/// the target dir, scratch space that is not where the originals were built.
pub fn rebuild_config(goproxy: Option<&Path>, source: Option<&Path>) -> RebuildConfig {
    let cache = target_tmp().join("rebuilder-cache");
    RebuildConfig {
        toolchains: ToolchainStore::scan(&[toolchains()]),
        digest_cache: cache.join("toolchain-digests.json"),
        gocache: target_tmp().join("gocache"),
        scratch_root: cache.join("scratch"),
        modules: ModuleConfig {
            goproxy: goproxy.map(|p| format!("file://{}", p.display())),
            gosumdb: None,
            gonosumdb: None,
        },
        source: source.map(Path::to_path_buf),
        source_from_history: false,
        user_ldflags: None,
        keep_scratch: false,
        download: None,
        limits: Default::default(),
        sandbox: Default::default(),
        // An empty mirror: tests never reach for a network.
        vcs_mirrors: vec![reprolog_rebuilder::vcs::Mirror::Dir(
            target_tmp().join("no-mirror"),
        )],
        source_cache: cache.join("sources"),
        egress: Default::default(),
    }
}

/// `reprolog-rebuilder SUBCOMMAND` with the tests' toolchains and cache.
pub fn rebuilder_command(subcommand: &str) -> Command {
    let mut cmd = Command::new(REBUILDER);
    cmd.env_remove("REPROLOG_TOOLCHAINS")
        .arg(subcommand)
        .arg("--toolchains")
        .arg(toolchains())
        .arg("--cache")
        .arg(target_tmp().join("rebuilder-cache"))
        .arg("--gocache")
        .arg(target_tmp().join("gocache"));
    cmd
}

/// `reprolog-rebuilder keygen --name NAME --out PATH`: a node key file at
/// `path`, as an operator makes one; returns the key it holds.
pub fn keygen(name: &str, path: &Path) -> reprolog_proto::note::Signer {
    let out = Command::new(REBUILDER)
        .args(["keygen", "--name", name, "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    reprolog_proto::note::Signer::from_key_text(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A one-package module `example.com/app` committed in a git repository at `dir`.
pub fn small_app(dir: &Path) -> String {
    git_repo(
        dir,
        &[
            ("go.mod", "module example.com/app\n\ngo 1.22\n"),
            (
                "main.go",
                "package main\n\nfunc main() { println(\"app\") }\n",
            ),
        ],
    )
}
