//! `serve --config FILE` and `REPROLOG_*` variables: a flag on the command
//! line wins, then the environment, then the file. Shown with `--max-batch`,
//! whose checks fail before the server starts: 0 is refused by the server
//! (exit 1, "must be at least 1"), `abc` by the parser (exit 2), and a good
//! value lets it go on to fail at its data dir, which holds no log.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_reprolog-server");

fn serve(config: Option<&Path>, env: Option<&str>, flags: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env_remove("REPROLOG_MAX_BATCH")
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("missing"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    if let Some(v) = env {
        cmd.env("REPROLOG_MAX_BATCH", v);
    }
    let out = cmd.args(flags).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.toml");
    std::fs::write(&zero, "max-batch = 0\n").unwrap();
    let word = dir.path().join("word.toml");
    std::fs::write(&word, "max_batch = \"abc\"\n").unwrap();

    // The file alone is read.
    let (code, err) = serve(Some(&zero), None, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--max-batch must be at least 1"), "{err}");
    // The environment alone is read.
    let (code, err) = serve(None, Some("abc"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'abc'"), "{err}");
    // The environment over the file.
    let (code, err) = serve(Some(&zero), Some("abc"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'abc'"), "{err}");
    // A flag over both: with 5 the checks pass and the server stops later,
    // at the data dir that holds no log.
    let (code, err) = serve(Some(&zero), Some("abc"), &["--max-batch", "5"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("missing"), "{err}");
    assert!(!err.contains("--max-batch"), "{err}");
    let (code, err) = serve(Some(&zero), None, &["--max-batch=5"]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("--max-batch"), "{err}");
    // A value in the file must parse even when a flag replaces it.
    let (code, err) = serve(Some(&word), None, &["--max-batch=5"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'abc'"), "{err}");
}

#[test]
fn a_bad_config_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max-batch = [\n").unwrap();
    for config in [bad, dir.path().join("missing.toml")] {
        let (code, err) = serve(Some(&config), None, &[]);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("reprolog-server: "), "{err}");
        assert!(err.contains(&config.display().to_string()), "{err}");
    }
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "no-such-flag = 1\n").unwrap();
    let (code, err) = serve(Some(&unknown), None, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
}
