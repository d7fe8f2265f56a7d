//! A `reprolog-server witness` process for tests that need one.

use super::{agent, BIN};
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::policy::Policy;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `reprolog-server witness` process: its data in `dir/data`, its key
/// `dir/witness.key`, the logs it witnesses listed in `dir/logs`.
pub struct WitnessProcess {
    child: Child,
    pub url: String,
}

impl WitnessProcess {
    pub fn start(dir: &Path) -> WitnessProcess {
        WitnessProcess::start_with(dir, &[])
    }

    /// [`WitnessProcess::start`] with more flags (listener limits, say).
    pub fn start_with(dir: &Path, extra: &[&str]) -> WitnessProcess {
        let mut child = Command::new(BIN)
            .args(["witness", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.join("data"))
            .arg("--key")
            .arg(dir.join("witness.key"))
            .arg("--logs")
            .arg(dir.join("logs"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn witness");
        let url = super::listening_url(&mut child).unwrap_or_else(|e| panic!("witness {e}"));
        WitnessProcess { child, url }
    }

    /// POSTs an add-checkpoint body: status, content type, body.
    pub fn add(&self, body: &[u8]) -> (u16, String, String) {
        let mut resp = agent()
            .post(&format!("{}/add-checkpoint", self.url))
            .send(body)
            .expect("POST");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, resp.body_mut().read_to_string().unwrap())
    }

    pub fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `witness-init` in `dir`; returns the witness's verifier key.
pub fn witness_key(dir: &Path, name: &str) -> Verifier {
    let out = Command::new(BIN)
        .args(["witness-init", "--name", name, "--key"])
        .arg(dir.join("witness.key"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Verifier::from_key_text(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

/// A log in `dir/log` that publishes only checkpoints its one witness
/// (`w1`, a `reprolog-server witness` process) cosigned.
pub struct WitnessedLog {
    pub key: Verifier,
    pub wvkey: Verifier,
    pub witness: WitnessProcess,
    pub policy_file: PathBuf,
    pub server: super::TestServer,
    pub data: PathBuf,
}

impl WitnessedLog {
    /// A client's policy for this log and its index under its one witness
    /// (quorum w1), trusting `rebuilder` alone, with `extra` policy lines.
    pub fn client_policy(&self, rebuilder: &Signer, extra: &str) -> Policy {
        Policy::parse(&format!(
            "log {} {}\nindex {}\nwitness w1 {}\nrebuilder r {}\nconsensus r\nquorum w1\n{extra}",
            self.key.to_key_text(),
            self.server.url,
            super::index_key(&self.data).to_key_text(),
            self.wvkey.to_key_text(),
            rebuilder.verifier().to_key_text()
        ))
        .unwrap()
    }
}

/// `witness_args` go to the witness, `log_args` to the log.
pub fn witnessed_log(dir: &Path, witness_args: &[&str], log_args: &[&str]) -> WitnessedLog {
    let wvkey = witness_key(dir, "witness.test/w1");
    // The witness reads its log list at start: write it before starting.
    let data = dir.join("log");
    let key = super::init(&data);
    // The log and its index log.
    std::fs::write(
        dir.join("logs"),
        format!(
            "log {}\nindex {}\n",
            key.to_key_text(),
            super::index_key(&data).to_key_text()
        ),
    )
    .unwrap();
    let witness = WitnessProcess::start_with(dir, witness_args);
    let policy_file = dir.join("witness-policy");
    std::fs::write(
        &policy_file,
        format!(
            "witness w1 {} {}\nquorum w1\n",
            wvkey.to_key_text(),
            witness.url
        ),
    )
    .unwrap();
    let mut args = vec!["--witness-policy", policy_file.to_str().unwrap()];
    args.extend_from_slice(log_args);
    let server = super::TestServer::start(&data, &key, &args);
    WitnessedLog {
        key,
        wvkey,
        witness,
        policy_file,
        server,
        data,
    }
}
