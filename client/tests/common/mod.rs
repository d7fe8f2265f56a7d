//! Shared harness for the client's tests: signed entries, policies, the real
//! `reprolog` binary, and a small log server that can be told to lie.
#![allow(dead_code)]

pub mod liar;

use std::path::Path;
use std::process::{Command, Output};

pub const CLIENT: &str = env!("CARGO_BIN_EXE_reprolog");

pub use reprolog_proto::testing::{attestation, policy};

/// Runs `reprolog` with a state dir.
pub fn client(state: &Path, args: &[&str]) -> Output {
    Command::new(CLIENT)
        .arg("--state")
        .arg(state)
        // No policy but the one a test names: none from the user's config.
        .env_remove("REPROLOG_POLICY")
        .env("XDG_CONFIG_HOME", state.join("no-config"))
        .args(args)
        .output()
        .expect("run reprolog")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
