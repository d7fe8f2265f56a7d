//! `inspect` agrees with `go version -m` on every binary of two real Go
//! distributions, and rejects what is not a readable Go binary.

mod common;

use common::*;
use reprolog_rebuilder::buildinfo::BuildInfo;
use std::process::Command;

#[test]
fn matches_go_version_m_on_every_distribution_binary() {
    for version in ["1.22.10", "1.27.3"] {
        let binaries = distribution_binaries(version);
        assert!(binaries.len() >= 10, "too few binaries in Go {version}");
        for bin in binaries {
            let data = std::fs::read(&bin).unwrap();
            let info =
                BuildInfo::from_binary(&data).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
            let ours = info.go_version_m(&bin.display().to_string());
            assert_eq!(ours, go_version_m(version, &bin), "{}", bin.display());
        }
    }
}

#[test]
fn cli_inspect_prints_the_same_and_json() {
    let gofmt = goroot("1.22.10").join("bin/gofmt");
    let out = Command::new(REBUILDER)
        .arg("inspect")
        .arg(&gofmt)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        go_version_m("1.22.10", &gofmt)
    );
    let out = Command::new(REBUILDER)
        .args(["inspect", "--json"])
        .arg(&gofmt)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["go_version"], "go1.22.10");
    assert_eq!(json["path"], "cmd/gofmt");
}

#[test]
fn bad_inputs_get_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gofmt = std::fs::read(goroot("1.22.10").join("bin/gofmt")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text",
            b"#!/bin/sh\necho hi\n".to_vec(),
            "not an executable",
        ),
        ("truncated", gofmt[..gofmt.len() / 3].to_vec(), ""),
        ("header only", gofmt[..64].to_vec(), ""),
        ("empty", vec![], "not an executable"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = Command::new(REBUILDER)
            .arg("inspect")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
    }
    // A non-Go ELF binary.
    let out = Command::new(REBUILDER)
        .arg("inspect")
        .arg("/bin/true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("not a Go binary"));
    let out = Command::new(REBUILDER)
        .arg("inspect")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pe_and_macho_binaries_match_go_version_m_and_rebuild() {
    // Real PE and Mach-O binaries, cross-compiled by the real Go toolchain.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("go.mod"),
        "module example.com/xplat\n\ngo 1.22\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"cross\") }\n",
    )
    .unwrap();
    for (goos, goarch, name) in [
        ("windows", "amd64", "xplat.exe"),
        ("darwin", "arm64", "xplat-darwin"),
    ] {
        go(
            "1.27.3",
            dir.path(),
            &["build", "-trimpath", "-o", name, "."],
            &[("GOOS", goos), ("GOARCH", goarch)],
        );
        let bin = dir.path().join(name);
        let info = BuildInfo::from_file(&bin).unwrap_or_else(|e| panic!("{goos}: {e}"));
        assert_eq!(info.setting("GOOS"), Some(goos));
        assert_eq!(
            info.go_version_m(&bin.display().to_string()),
            go_version_m("1.27.3", &bin),
            "{goos}"
        );
        // And the CLI reads it too.
        let out = Command::new(REBUILDER)
            .env_remove("REPROLOG_TOOLCHAINS")
            .args(["inspect", "--json"])
            .arg(&bin)
            .output()
            .unwrap();
        assert!(out.status.success(), "{goos}");
    }
}

/// A wheel (zip) and an npm tarball (tar.gz) holding a real Go binary: `inspect`
/// shows each Go member as `go version -m` shows the binary, named
/// `ARCHIVE:MEMBER`, and leaves the rest out; an archive with no Go binary
/// exits 1 in one line.
#[test]
fn archives_are_inspected_member_by_member() {
    let dir = tempfile::tempdir().unwrap();
    let gofmt_path = goroot("1.22.10").join("bin/gofmt");
    let gofmt = std::fs::read(&gofmt_path).unwrap();
    let expected = |name: &str| {
        go_version_m("1.22.10", &gofmt_path).replacen(&gofmt_path.display().to_string(), name, 1)
    };
    let wheel = dir
        .path()
        .join("tool-1.0-py3-none-manylinux_2_17_x86_64.whl");
    reprolog_testkit::archive::zip(
        &wheel,
        &[
            ("tool/__init__.py", b"".as_slice()),
            ("tool/bin/gofmt", &gofmt),
        ],
    );
    let npm = dir.path().join("tool-1.0.0.tgz");
    reprolog_testkit::archive::tar_gz(
        &npm,
        &[
            ("package/package.json", b"{}".as_slice()),
            ("package/bin/gofmt", &gofmt),
        ],
    );
    for (archive, member) in [(&wheel, "tool/bin/gofmt"), (&npm, "package/bin/gofmt")] {
        let out = Command::new(REBUILDER)
            .arg("inspect")
            .arg(archive)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected(&format!("{}:{member}", archive.display()))
        );
        let out = Command::new(REBUILDER)
            .args(["inspect", "--json"])
            .arg(archive)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json[0]["member"], member);
        assert_eq!(json[0]["buildInfo"]["path"], "cmd/gofmt");
        assert_eq!(json.as_array().map(Vec::len), Some(1));
    }
    let empty = dir.path().join("empty.zip");
    reprolog_testkit::archive::zip(&empty, &[("README", b"nothing here".as_slice())]);
    let out = Command::new(REBUILDER)
        .arg("inspect")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no Go binary in it"), "{err}");
}
