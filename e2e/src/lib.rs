//! reprolog-e2e: tests and benchmarks that use more than one of reprolog's
//! programs, so that no program depends on another (the brief's one member
//! that may depend on all of them). This library is their shared support:
//! the programs' binaries, signed entries, trust policies, submissions.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A workspace program (`reprolog`, `reprolog-server`, `reprolog-rebuilder`)
/// from the target directory this test or bench was built into. Cargo
/// builds a package's binaries only for that package's own tests, so they
/// are there after `cargo test --workspace` (scripts/test.sh) or `cargo
/// build --workspace --bins [--release]` (before `cargo bench -p reprolog-e2e`).
pub fn program(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of this test");
    let mut dir = exe.parent().expect("a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins{}` first (scripts/test.sh's `cargo test --workspace` builds it)",
        path.display(),
        if dir.ends_with("release") { " --release" } else { "" }
    );
    path
}

/// The client, `reprolog`.
pub fn client_program() -> PathBuf {
    program("reprolog")
}

pub use reprolog_proto::testing::{attestation, policy};

/// Runs `reprolog` with a state dir (see [`reprolog_testkit::process::client`]).
pub fn client(state: &Path, args: &[&str]) -> Output {
    reprolog_testkit::process::client(&client_program(), state, args)
}

pub use reprolog_testkit::process::stdout;

/// Submits an entry to a log and insists it is accepted.
pub fn post(url: &str, entry: &[u8]) {
    let agent = reprolog_testkit::agent(std::time::Duration::from_secs(60));
    reprolog_testkit::submit(&agent, url, entry);
}
