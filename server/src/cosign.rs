//! The log's side of C2SP tlog-witness: after signing a checkpoint, ask every
//! witness of the `--witness-policy` for its cosignature, in parallel, and
//! publish the checkpoint only once the cosignatures that verify meet the
//! policy's quorum (C2SP tlog-policy).
//!
//! Each witness is sent `old <size it last cosigned>` and a consistency proof
//! from there. The log remembers that size per witness; on a 409 the witness
//! says its size and the log catches it up with a proof from its own tree,
//! once per request.

use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::cosignature;
use reprolog_proto::note;
use reprolog_proto::policy::{WitnessQuorum, WitnessSpec};
use reprolog_proto::witness::{parse_size_body, AddCheckpoint};
use reprolog_proto::Hash;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// How long the log waits for each witness by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Largest witness answer the log reads.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// The witnesses a log asks, and what it knows of them.
pub struct Witnesses {
    quorum: WitnessQuorum,
    agent: ureq::Agent,
    /// By witness name: the size it last cosigned, as far as the log knows.
    sizes: Mutex<HashMap<String, u64>>,
    /// By witness (policy order): requests that brought no valid cosignature.
    failures: Vec<AtomicU64>,
    cosigned: AtomicU64,
}

/// Why a checkpoint could not be published.
#[derive(Debug, thiserror::Error)]
#[error("witness quorum not met: {0}")]
pub struct QuorumError(pub String);

impl Witnesses {
    /// Witnesses from a parsed `--witness-policy`; each request may take
    /// `timeout`.
    pub fn new(quorum: WitnessQuorum, timeout: Duration) -> Witnesses {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        let failures = quorum.witnesses.iter().map(|_| AtomicU64::new(0)).collect();
        Witnesses {
            quorum,
            agent,
            sizes: Mutex::new(HashMap::new()),
            failures,
            cosigned: AtomicU64::new(0),
        }
    }

    /// The policy this log publishes under.
    pub fn quorum(&self) -> &WitnessQuorum {
        &self.quorum
    }

    /// Asks every witness to cosign `note` (the log-signed checkpoint `cp`);
    /// `proof(old)` is the consistency proof from size `old` to `cp.size`.
    /// Returns the note with the valid cosignatures appended, if they meet the
    /// quorum. A witness whose size the log does not know starts at
    /// `published` (the size of the checkpoint the log last published).
    pub fn cosign(
        &self,
        cp: &Checkpoint,
        note: &str,
        published: u64,
        proof: &(dyn Fn(u64) -> Result<Vec<Hash>, String> + Sync),
    ) -> Result<String, QuorumError> {
        let answers: Vec<Result<String, String>> = std::thread::scope(|scope| {
            let asks: Vec<_> = self
                .quorum
                .witnesses
                .iter()
                .map(|w| scope.spawn(move || self.ask(w, cp, note, published, proof)))
                .collect();
            asks.into_iter()
                .map(|a| a.join().unwrap_or_else(|_| Err("request panicked".into())))
                .collect()
        });
        let mut lines = String::new();
        let mut cosigned = BTreeSet::new();
        for ((w, answer), failures) in self
            .quorum
            .witnesses
            .iter()
            .zip(answers)
            .zip(&self.failures)
        {
            match answer {
                Ok(line) => {
                    lines.push_str(&line);
                    cosigned.insert(w.name.clone());
                }
                Err(why) => {
                    failures.fetch_add(1, Relaxed);
                    tracing::warn!(witness = %w.name, size = cp.size, "no cosignature: {why}");
                }
            }
        }
        if !self.quorum.is_met(&cosigned) {
            return Err(QuorumError(format!(
                "size {} cosigned by {} of {} witnesses",
                cp.size,
                cosigned.len(),
                self.quorum.witnesses.len()
            )));
        }
        self.cosigned.fetch_add(1, Relaxed);
        Ok(format!("{note}{lines}"))
    }

    /// One witness: its cosignature line on `note`, verified.
    fn ask(
        &self,
        w: &WitnessSpec,
        cp: &Checkpoint,
        note: &str,
        published: u64,
        proof: &(dyn Fn(u64) -> Result<Vec<Hash>, String> + Sync),
    ) -> Result<String, String> {
        let url = format!("{}/add-checkpoint", w.url.as_deref().unwrap_or_default());
        let mut old = self.known_size(&w.name).unwrap_or(published).min(cp.size);
        for _ in 0..2 {
            let hashes = if old == 0 || old == cp.size {
                vec![]
            } else {
                proof(old)?
            };
            let request = AddCheckpoint {
                old_size: old,
                proof: hashes,
                checkpoint: note.as_bytes().to_vec(),
            };
            let (status, body) = self.post(&url, &request.to_body())?;
            match status {
                200 => {
                    let line = verified_line(w, cp, &body)?;
                    self.set_known_size(&w.name, cp.size);
                    return Ok(line);
                }
                409 => {
                    let size = parse_size_body(&body)
                        .ok_or("409 without a text/x.tlog.size body".to_string())?;
                    self.set_known_size(&w.name, size);
                    if size > cp.size {
                        return Err(format!(
                            "the witness has cosigned size {size}, beyond this log's {}",
                            cp.size
                        ));
                    }
                    old = size;
                }
                other => return Err(format!("{other}: {}", first_line(&body))),
            }
        }
        Err("the witness's size kept changing (409 twice)".into())
    }

    fn post(&self, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let mut resp = self
            .agent
            .post(url)
            .header("Content-Type", "text/plain")
            .send(body)
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| format!("{url}: {e}"))?;
        Ok((status, body))
    }

    fn known_size(&self, name: &str) -> Option<u64> {
        let sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.get(name).copied()
    }

    fn set_known_size(&self, name: &str, size: u64) {
        let mut sizes = self.sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.insert(name.to_string(), size);
    }

    /// Prometheus lines: cosigned checkpoints, failures per witness.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP reprolog_witness_quorums_total Checkpoints published with the witness quorum.\n# TYPE reprolog_witness_quorums_total counter\nreprolog_witness_quorums_total {}",
            self.cosigned.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP reprolog_witness_failures_total Requests to a witness that brought no valid cosignature.\n# TYPE reprolog_witness_failures_total counter"
        );
        for (w, n) in self.quorum.witnesses.iter().zip(&self.failures) {
            let _ = writeln!(
                out,
                "reprolog_witness_failures_total{{witness=\"{}\"}} {}",
                w.name.escape_default(),
                n.load(Relaxed)
            );
        }
        out
    }
}

/// The witness's cosignature among the lines of a 200 answer (others are
/// ignored, as the spec says); it must verify on the checkpoint.
fn verified_line(w: &WitnessSpec, cp: &Checkpoint, body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "answer is not text".to_string())?;
    let checkpoint_text = cp.to_text();
    for line in text.lines().take(100) {
        let Ok(sig) = note::parse_signature_line(line) else {
            continue;
        };
        if sig.name == w.key.name() && sig.key_id == w.key.key_id() {
            cosignature::verify(&w.key, &checkpoint_text, &sig.signature)
                .map_err(|e| e.to_string())?;
            return Ok(sig.to_line());
        }
    }
    Err(format!("answer has no line by {}", w.key.name()))
}

fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    reprolog_proto::display::escape(text.lines().next().unwrap_or(""), 200)
}
