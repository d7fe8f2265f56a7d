//! Where `reprolog verify` finds its trust policy when `--policy` is not
//! given: `$REPROLOG_POLICY`, then `$XDG_CONFIG_HOME/reprolog/policy`; with
//! neither, one line saying how to give one (exit 4, bad input).

use std::path::Path;
use std::process::{Command, Output};

const CLIENT: &str = env!("CARGO_BIN_EXE_reprolog");

/// A policy file whose log key is broken: reading it fails in a way that
/// names it, so the error shows which file `verify` read.
const BROKEN: &str = "log not-a-key http://127.0.0.1:1\n";

fn verify(dir: &Path, env: &[(&str, &Path)]) -> (i32, String) {
    let mut cmd = Command::new(CLIENT);
    cmd.env_remove("REPROLOG_POLICY")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", dir.join("home"))
        .arg("--state")
        .arg(dir.join("state"))
        .args(["verify", &"00".repeat(32)]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().expect("run reprolog");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_policy_comes_from_the_flag_the_environment_or_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let (code, err) = verify(d, &[]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no trust policy"), "{err}");
    assert!(err.contains("home/.config/reprolog/policy"), "{err}");

    // ~/.config/reprolog/policy when XDG_CONFIG_HOME is unset.
    let home_policy = d.join("home/.config/reprolog/policy");
    std::fs::create_dir_all(home_policy.parent().unwrap()).unwrap();
    std::fs::write(&home_policy, BROKEN).unwrap();
    let (code, err) = verify(d, &[]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&home_policy.display().to_string()), "{err}");
    assert!(err.contains("bad key"), "{err}");

    // $XDG_CONFIG_HOME/reprolog/policy before it.
    let xdg = d.join("xdg");
    std::fs::create_dir_all(xdg.join("reprolog")).unwrap();
    std::fs::write(xdg.join("reprolog/policy"), BROKEN).unwrap();
    let (_, err) = verify(d, &[("XDG_CONFIG_HOME", &xdg)]);
    assert!(
        err.contains(&xdg.join("reprolog/policy").display().to_string()),
        "{err}"
    );

    // $REPROLOG_POLICY before both.
    let named = d.join("named-policy");
    std::fs::write(&named, BROKEN).unwrap();
    let (_, err) = verify(d, &[("XDG_CONFIG_HOME", &xdg), ("REPROLOG_POLICY", &named)]);
    assert!(err.contains(&named.display().to_string()), "{err}");
}
