//! `reprolog-server`'s exit codes (README): 2 on a usage error, 1 with one
//! line on an error such as a data dir that holds no log.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_reprolog-server");

#[test]
fn usage_errors_exit_2_and_errors_exit_1_with_one_line() {
    let out = Command::new(BIN)
        .args(["serve", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("reprolog-server:"))
        .collect();
    assert_eq!(ours.len(), 1, "{err}");
}
