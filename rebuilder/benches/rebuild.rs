//! Rebuild wall time against a plain `go build` with the same flags and a warm
//! GOCACHE, the same rebuild without its bubblewrap sandbox (the sandbox's
//! overhead), and `inspect` against `go version -m`. Prints the BENCHMARKS.md rows.
//!
//! Run: `REPROLOG_TOOLCHAINS=$(scripts/toolchains.sh) cargo bench -p reprolog-rebuilder --bench rebuild`

use reprolog_rebuilder::buildinfo::BuildInfo;
use reprolog_testkit::bench::{median, time};
use std::path::{Path, PathBuf};
use std::process::Command;

const REBUILDER: &str = env!("CARGO_BIN_EXE_reprolog-rebuilder");

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let store = std::env::var_os("REPROLOG_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/toolchains"));
    let goroot =
        std::fs::canonicalize(store.join("go1.27.3/go")).expect("run scripts/toolchains.sh first");
    let cache = tempfile::tempdir().unwrap();
    let gocache = cache.path().join("gocache");
    let targets = [
        "bin/gofmt",
        "pkg/tool/linux_amd64/vet",
        "pkg/tool/linux_amd64/link",
        "bin/go",
    ];

    println!("| binary | reprolog-rebuilder rebuild (sandboxed) | rebuild --no-sandbox | plain go build | ratio to go build | sandbox overhead |");
    println!("|---|---|---|---|---|---|");
    for t in targets {
        let bin = goroot.join(t);
        let pkg = format!("cmd/{}", bin.file_name().unwrap().to_string_lossy());
        let rebuild = |extra: &[&str]| {
            run(Command::new(REBUILDER)
                .args(["rebuild", "--toolchains"])
                .arg(&store)
                .arg("--cache")
                .arg(cache.path())
                .args(extra)
                .arg(&bin)
                .stderr(std::process::Stdio::null()));
        };
        let ours = || rebuild(&[]);
        let unconfined = || rebuild(&["--no-sandbox"]);
        let out = cache.path().join("plain-out");
        // A fresh output path each time, as a rebuild has: an existing up-to-date
        // output would let `go build` skip the link.
        let plain = || {
            let _ = std::fs::remove_file(&out);
            run(Command::new(goroot.join("bin/go"))
                .env_clear()
                .current_dir(goroot.join("src"))
                .env(
                    "PATH",
                    format!("{}:/usr/bin:/bin", goroot.join("bin").display()),
                )
                .env("HOME", cache.path())
                .env("GOROOT", &goroot)
                .env("GOCACHE", &gocache)
                .env("GOPATH", cache.path().join("gopath"))
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "")
                .env("CGO_ENABLED", "0")
                .args([
                    "build",
                    "-trimpath",
                    "-gcflags=cmd/...=-dwarf=false",
                    "-ldflags=-w",
                    "-o",
                ])
                .arg(&out)
                .arg(&pkg));
        };
        ours(); // warm GOCACHE and the toolchain digest cache
        plain();
        // Interleaved rounds, so drift in the machine's speed hits all three alike.
        let mut rounds = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..9 {
            rounds.0.push(time(1, ours));
            rounds.1.push(time(1, unconfined));
            rounds.2.push(time(1, plain));
        }
        let (a, u, b) = (median(rounds.0), median(rounds.1), median(rounds.2));
        println!(
            "| go1.27.3 {t} | {:.3} s | {:.3} s | {:.3} s | {:.2}× | {:+.1}% |",
            a.as_secs_f64(),
            u.as_secs_f64(),
            b.as_secs_f64(),
            a.as_secs_f64() / b.as_secs_f64(),
            (a.as_secs_f64() / u.as_secs_f64() - 1.0) * 100.0
        );
    }

    // inspect on the largest binary of the distribution.
    let largest = targets
        .iter()
        .map(|t| goroot.join(t))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let size_mb = std::fs::metadata(&largest).unwrap().len() as f64 / 1e6;
    let lib = time(21, || {
        let data = std::fs::read(&largest).unwrap();
        BuildInfo::from_binary(&data).unwrap();
    });
    let cli = time(21, || {
        run(Command::new(REBUILDER).arg("inspect").arg(&largest))
    });
    let go = time(21, || {
        run(Command::new(goroot.join("bin/go"))
            .env("GOTOOLCHAIN", "local")
            .args(["version", "-m"])
            .arg(&largest))
    });
    println!();
    println!(
        "| inspect {} ({size_mb:.1} MB) | median of 21 |",
        largest.display()
    );
    println!("|---|---|");
    println!(
        "| library (read + parse) | {:.2} ms |",
        lib.as_secs_f64() * 1e3
    );
    println!(
        "| reprolog-rebuilder inspect | {:.2} ms |",
        cli.as_secs_f64() * 1e3
    );
    println!("| go version -m | {:.2} ms |", go.as_secs_f64() * 1e3);
}
