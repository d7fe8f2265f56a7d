//! Shared harness for the server's integration tests: runs the real
//! `reprolog-server` binary on 127.0.0.1 and talks HTTP to it.
#![allow(dead_code)]

pub mod sumdb;
pub mod witness;

use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::Statement;
use reprolog_proto::wire::{InclusionProof, LookupResponse, Receipt};
use reprolog_proto::Hash;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_reprolog-server");
pub const ORIGIN: &str = "test.localhost/log";

pub use reprolog_testkit::process::listening_url;

/// Whether the server tests run on PostgreSQL (`REPROLOG_TEST_BACKEND=postgres`,
/// with `REPROLOG_TEST_POSTGRES` naming the server): scripts/test.sh runs the
/// suite once on redb and once on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("REPROLOG_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// The `serve` arguments that put a data dir's log on the backend under
/// test: none for redb; for PostgreSQL, `--database` naming a database of
/// its own, created on first use (so a restart finds the same log).
pub fn backend_args(data: &Path) -> Vec<String> {
    if !on_postgres() {
        return vec![];
    }
    let admin = std::env::var("REPROLOG_TEST_POSTGRES").expect(
        "REPROLOG_TEST_BACKEND=postgres needs REPROLOG_TEST_POSTGRES (scripts/postgres.sh)",
    );
    use std::os::unix::ffi::OsStrExt;
    let name = format!(
        "t_{}",
        &Hash::of(data.as_os_str().as_bytes()).to_hex()[..24]
    );
    let url = reprolog_server::storage::postgres::create_database(&admin, &name)
        .expect("creating the test database");
    vec!["--database".into(), url]
}

/// A running server process.
pub struct TestServer {
    child: Option<Child>,
    pub url: String,
    pub data: PathBuf,
    pub key: Verifier,
}

/// Creates a data dir with a fresh key; returns the log verifier.
pub fn init(data: &Path) -> Verifier {
    printed_key(&["init", "--origin", ORIGIN, "--data"], data)
}

/// The index log's verifier key of a data dir (`vkey --index`).
pub fn index_key(data: &Path) -> Verifier {
    printed_key(&["vkey", "--index", "--data"], data)
}

/// The verifier key `reprolog-server ARGS DATA` prints.
fn printed_key(args: &[&str], data: &Path) -> Verifier {
    let out = Command::new(BIN)
        .args(args)
        .arg(data)
        .output()
        .expect("run reprolog-server");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Verifier::from_key_text(String::from_utf8(out.stdout).unwrap().trim()).expect("vkey")
}

impl TestServer {
    /// Starts `reprolog-server serve` on an ephemeral port and waits for it.
    pub fn start(data: &Path, key: &Verifier, extra: &[&str]) -> TestServer {
        TestServer::start_via(Command::new(BIN), data, key, extra)
    }

    /// Like `start`, with `command` running the server binary: a wrapper
    /// that sets resource limits, or a command set to run as another user.
    pub fn start_via(command: Command, data: &Path, key: &Verifier, extra: &[&str]) -> TestServer {
        let backend = if extra.contains(&"--database") {
            vec![]
        } else {
            backend_args(data)
        };
        TestServer::start_on(command, data, key, &backend, extra)
    }

    /// Like `start`, the log on redb whatever backend the suite runs on.
    pub fn start_on_redb(data: &Path, key: &Verifier, extra: &[&str]) -> TestServer {
        TestServer::start_on(Command::new(BIN), data, key, &[], extra)
    }

    fn start_on(
        mut command: Command,
        data: &Path,
        key: &Verifier,
        backend: &[String],
        extra: &[&str],
    ) -> TestServer {
        let mut child = command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--max-wait-ms",
                "5",
                "--data",
            ])
            .arg(data)
            .args(backend)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn server");
        let url = listening_url(&mut child).unwrap_or_else(|e| panic!("server {e}"));
        TestServer {
            child: Some(child),
            url,
            data: data.to_path_buf(),
            key: key.clone(),
        }
    }

    /// SIGKILL: the process ends on the spot, as on a crash.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "server exited with {exit}");
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        http_get(&format!("{}{path}", self.url))
    }

    pub fn checkpoint(&self) -> reprolog_proto::checkpoint::Checkpoint {
        let (status, body) = self.get("/checkpoint");
        assert_eq!(status, 200);
        reprolog_proto::checkpoint::Checkpoint::open(&body, ORIGIN, &self.key)
            .expect("checkpoint verifies")
    }

    /// Submits an entry that must be accepted; returns its receipt.
    pub fn submit(&self, bytes: &[u8]) -> Receipt {
        let (status, body) = self.post_entry(bytes, "application/cbor");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("receipt JSON")
    }

    /// Asserts that `bytes` is entry `index` of the tree the server now serves,
    /// by an inclusion proof against its verified checkpoint.
    pub fn assert_included(&self, index: u64, bytes: &[u8]) {
        let cp = self.checkpoint();
        let (status, body) = self.get(&format!("/proof/inclusion?index={index}&size={}", cp.size));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let p: InclusionProof = serde_json::from_slice(&body).expect("proof JSON");
        merkle::verify_inclusion(index, cp.size, &Hash::leaf(bytes), &p.proof, &cp.root)
            .expect("inclusion proof verifies");
    }

    pub fn post_entry(&self, body: &[u8], content_type: &str) -> (u16, Vec<u8>) {
        let mut resp = agent()
            .post(&format!("{}/add-entry", self.url))
            .header("Content-Type", content_type)
            .send(body)
            .expect("POST");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_vec().expect("body"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn agent() -> ureq::Agent {
    reprolog_testkit::agent(Duration::from_secs(30))
}

pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let mut resp = agent().get(url).call().expect("GET");
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .expect("body");
    (status, body)
}

/// A signed entry about `subject` (a file called `name`) by `signer`.
pub fn entry_for(signer: &Signer, name: &str, subject: Hash, reproduced: bool) -> Vec<u8> {
    let rebuilt = if reproduced {
        subject
    } else {
        Hash::of(b"something else")
    };
    let st = Statement::minimal(name, subject, rebuilt, signer.name());
    Entry::sign(&st, signer).to_cbor()
}

/// Waits (up to 30 s) until the checkpoint a static read path serves at
/// `base` (a bucket, a container) shows `size`.
pub fn wait_published(base: &str, size: u64) {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http_get(&format!("{base}/checkpoint"));
        if status == 200 && String::from_utf8_lossy(&body).lines().nth(1) == Some(&size.to_string())
        {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{base} never reached size {size} ({status})"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A tool the tests run: the path in `$env_var` (scripts/test.sh sets it),
/// else what the project's `scripts/<script>` installs and prints.
pub fn installed_tool(env_var: &str, script: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = std::process::Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A lookup of `digest` by `keys`, answered 200.
pub fn index_lookup(server: &TestServer, digest: &Hash, keys: &[&Signer]) -> LookupResponse {
    let query: Vec<String> = keys
        .iter()
        .map(|k| format!("key={}", hex::encode(k.verifier().public_key())))
        .collect();
    let (status, body) = server.get(&format!("/lookup/{}?{}", digest.to_hex(), query.join("&")));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The lists a lookup's answer proves, verified as a client would.
pub fn proven_lists(
    server: &TestServer,
    index: &Verifier,
    digest: &Hash,
    keys: &[&Signer],
) -> Vec<Vec<u64>> {
    let answer = index_lookup(server, digest, keys);
    let cp = answer
        .verify(&LogVerifier::new(server.key.clone()))
        .unwrap();
    let pubkeys: Vec<[u8; 32]> = keys.iter().map(|k| k.verifier().public_key()).collect();
    let proven = answer
        .index
        .as_ref()
        .expect("an index answer")
        .verify(&LogVerifier::new(index.clone()), &cp, digest, &pubkeys)
        .unwrap();
    assert_eq!(proven.revision.size, cp.size, "the index is up to date");
    proven.lists.into_iter().map(|(_, l)| l).collect()
}
