//! `reprolog-rebuilder`'s bad-input exit code (2, README) with one line:
//! usage errors, a file that is not a Go binary, and an archive the reader
//! refuses (here two gzip members that each add `app`, which every
//! extractor unpacks as the second). Nothing needs a toolchain: each is
//! refused before any build.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_reprolog-rebuilder");

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = run(&["rebuild"]);
    assert_eq!(code, Some(2), "usage error");
    let (code, _) = run(&["rebuild", "x", "--no-such-flag"]);
    assert_eq!(code, Some(2), "usage error");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a binary\n").unwrap();
    let (code, err) = run(&["rebuild", text.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let archive = dir.path().join("two-members.tar.gz");
    {
        use reprolog_proto::archive::craft::*;
        let mut first = Vec::new();
        tar_entry(&mut first, header("app", 4, b'0', USTAR), b"good");
        let mut bytes = gz(&first);
        bytes.extend(gz(&tar_of(&[("app", b"evil")])));
        std::fs::write(&archive, bytes).unwrap();
    }
    let (code, err) = run(&["rebuild", archive.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("archive refused") && err.contains("\"app\" twice"),
        "{err}"
    );
}
