//! Shared harness for the client's tests: signed entries, policies, the real
//! `reprolog` binary, and a small log server that can be told to lie.
#![allow(dead_code)]

pub mod liar;

use std::path::Path;
use std::process::Output;

pub const CLIENT: &str = env!("CARGO_BIN_EXE_reprolog");

pub use reprolog_proto::testing::{attestation, policy};

/// Runs `reprolog` with a state dir (see [`reprolog_testkit::process::client`]).
pub fn client(state: &Path, args: &[&str]) -> Output {
    reprolog_testkit::process::client(Path::new(CLIENT), state, args)
}

pub use reprolog_testkit::process::stdout;
