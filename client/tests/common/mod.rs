//! Shared harness for the client's tests: signed entries, policies, the real
//! `reprolog` binary, and a small log server that can be told to lie.
#![allow(dead_code)]

pub mod liar;

use reprolog_proto::entry::Entry;
use reprolog_proto::note::Signer;
use reprolog_proto::statement::Statement;
use reprolog_proto::Hash;
use std::path::Path;
use std::process::{Command, Output};

pub const CLIENT: &str = env!("CARGO_BIN_EXE_reprolog");

/// An entry by `signer` saying it rebuilt `subject` (reproduced or not).
pub fn attestation(signer: &Signer, name: &str, subject: Hash, reproduced: bool) -> Vec<u8> {
    let rebuilt = if reproduced {
        subject
    } else {
        Hash::of(b"a different binary")
    };
    Entry::sign(
        &Statement::minimal(name, subject, rebuilt, signer.name()),
        signer,
    )
    .to_cbor()
}

/// A policy trusting `rebuilders` with threshold `k`.
pub fn policy(log_vkey: &str, url: &str, rebuilders: &[(&str, &Signer)], k: usize) -> String {
    let mut p = format!("log {log_vkey} {url}\n");
    for (name, s) in rebuilders {
        p += &format!("rebuilder {name} {}\n", s.verifier().to_key_text());
    }
    let names: Vec<&str> = rebuilders.iter().map(|(n, _)| *n).collect();
    p += &format!(
        "group trusted {k} {}\nconsensus trusted\nquorum none\n",
        names.join(" ")
    );
    p
}

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
