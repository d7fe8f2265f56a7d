//! Go's own `golang.org/x/mod/sumdb` code, run against a log's read path
//! (tests/go/sumdbcheck): an independent verifier of checkpoints, tiles,
//! entries and consistency.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `tests/go/sumdbcheck` against the `golang.org/x/mod/sumdb` the Go
/// distribution vendors (no module download: the proxy is unreachable), with
/// the newest toolchain in `$REPROLOG_TOOLCHAINS` (or `.cache/toolchains`).
/// `None` when no toolchain is installed at all.
pub fn go_sumdbcheck(work: &Path) -> Option<PathBuf> {
    let store = std::env::var_os("REPROLOG_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/toolchains"));
    let mut roots: Vec<PathBuf> = std::fs::read_dir(&store)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("go")))
        .filter(|root| {
            root.join("src/cmd/vendor/golang.org/x/mod/sumdb/tlog")
                .is_dir()
        })
        .collect();
    roots.sort_by_key(|r| {
        let v = r
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        v.trim_start_matches("go")
            .split('.')
            .map(|n| n.parse::<u32>().unwrap_or(0))
            .collect::<Vec<u32>>()
    });
    let goroot = roots.pop()?;
    let xmod = work.join("xmod");
    for pkg in ["tlog", "note"] {
        let from = goroot
            .join("src/cmd/vendor/golang.org/x/mod/sumdb")
            .join(pkg);
        let to = xmod.join("sumdb").join(pkg);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(xmod.join("go.mod"), "module golang.org/x/mod\n\ngo 1.22\n").unwrap();
    let src = work.join("sumdbcheck");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/sumdbcheck/main.go"),
        src.join("main.go"),
    )
    .unwrap();
    std::fs::write(
        src.join("go.mod"),
        "module reprolog.test/sumdbcheck\n\ngo 1.22\n\nrequire golang.org/x/mod v0.0.0\n\nreplace golang.org/x/mod => ../xmod\n",
    )
    .unwrap();
    let bin = work.join("sumdbcheck-bin");
    let out = Command::new(goroot.join("bin/go"))
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GOROOT", &goroot)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", work.join("gopath"))
        .env(
            "GOCACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .env("CGO_ENABLED", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building sumdbcheck: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

/// Runs the Go checker on a base URL; returns (success, its one line).
pub fn run_sumdbcheck(
    bin: &Path,
    base: &str,
    key: &reprolog_proto::note::Verifier,
    old: Option<&Path>,
) -> (bool, String) {
    let out = Command::new(bin)
        .arg(base)
        .arg(key.to_key_text())
        .args(old)
        .output()
        .unwrap();
    let (ok, text) = reprolog_testkit::process::outcome(&out);
    (ok, text.trim().to_string())
}
