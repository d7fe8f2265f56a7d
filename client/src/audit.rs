//! The auditor's view: the log only grows, and (with `--full`) every entry it
//! holds is well-formed, signed and hashes to the root it signed.
//!
//! A full audit reads every entry bundle through proto's verified
//! [`TileReader`](reprolog_proto::reader::TileReader) (each bundle's leaf
//! hashes authenticated against the checkpoint), and independently recomputes
//! the root with a [`CompactRange`] (O(log n) memory) from the entries it saw.
//! It saves its progress every few seconds and at the end (not per bundle: the
//! findings grow with the log), so an interrupted audit resumes near where it
//! stopped.

use crate::memory::{check_extends, CheckpointMemory};
use reprolog_io::http;
use reprolog_proto::display;
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::CompactRange;
use reprolog_proto::note::Verifier;
use reprolog_proto::policy::Policy;
use reprolog_proto::tile;
use reprolog_proto::Hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What an audit found. Any `log_errors` mean the log misbehaved.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Findings {
    pub entries_checked: u64,
    pub reproduced: u64,
    /// Entries whose rebuild did not match: (index, file name, subject, builder).
    pub mismatches: Vec<(u64, String, String, String)>,
    /// Same inputs digest, different rebuilt digests: inputs → rebuilt → builders.
    pub disagreements: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Keys not in the policy (when one is given), with entry counts.
    pub unknown_keys: BTreeMap<String, u64>,
    pub malformed: Vec<(u64, String)>,
    pub log_errors: Vec<String>,
    /// Inputs digest → rebuilt digest → builders, for disagreement detection.
    #[serde(default)]
    inputs: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// Saved progress of a full audit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    next_index: u64,
    roots: Vec<Hash>,
    findings: Findings,
}

/// Why an audit could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit state {path}: {message}")]
    State { path: PathBuf, message: String },
}

/// The audit result.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub checkpoint_size: u64,
    pub checkpoint_root: Hash,
    /// Size of the previously audited checkpoint, if any.
    pub previous_size: Option<u64>,
    pub full: bool,
    pub findings: Findings,
    /// The index audit (a full audit of a log whose index key is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<crate::audit_index::IndexFindings>,
}

impl AuditReport {
    pub fn ok(&self) -> bool {
        self.findings.log_errors.is_empty()
            && self.index.as_ref().is_none_or(|i| i.errors.is_empty())
    }

    /// The process exit status: 0 OK, 3 LOG ERROR (as `reprolog verify`).
    pub fn exit_code(&self) -> i32 {
        if self.ok() {
            0
        } else {
            crate::verify::Verdict::LogError.exit_code()
        }
    }
}

/// Audits the log at `url` signed by `key`, remembering state in `state_dir`.
pub fn audit(
    url: &str,
    key: &Verifier,
    state_dir: &std::path::Path,
    full: bool,
    policy: Option<&Policy>,
) -> Result<AuditReport, AuditError> {
    audit_with_index(url, key, None, state_dir, full, policy)
}

/// [`audit`], and with `index_key` (or the policy's `index` line for this
/// log) a full audit also recomputes every revision of the log's index
/// ([`crate::audit_index`], read from `<url>/index`).
pub fn audit_with_index(
    url: &str,
    key: &Verifier,
    index_key: Option<&Verifier>,
    state_dir: &std::path::Path,
    full: bool,
    policy: Option<&Policy>,
) -> Result<AuditReport, AuditError> {
    // With a policy, the audited checkpoints must carry its witness quorum.
    let witnesses = policy.map(|p| p.witnesses.clone()).unwrap_or_default();
    let index_key = index_key.cloned().or_else(|| {
        policy?
            .logs
            .iter()
            .find(|l| l.key == *key)
            .and_then(|l| l.index.clone())
    });
    let index_verifier = index_key
        .map(|k| reprolog_proto::checkpoint::LogVerifier::with_witnesses(k, witnesses.clone()));
    let mut log = http::connect(url, key.clone()).with_witnesses(witnesses);
    if let Some(v) = &index_verifier {
        log = log.with_index(v.clone());
    }
    let memory = CheckpointMemory::new(&state_dir.join("audit"));
    let mut report = AuditReport {
        checkpoint_size: 0,
        checkpoint_root: Hash::empty_tree(),
        previous_size: None,
        full,
        findings: Findings::default(),
        index: None,
    };
    let (cp, note) = match log.checkpoint_note() {
        Ok(x) => x,
        Err(e) => {
            report.findings.log_errors.push(e.to_string());
            return Ok(report);
        }
    };
    report.checkpoint_size = cp.size;
    report.checkpoint_root = cp.root;
    let previous = memory.load(key).map_err(|e| AuditError::State {
        path: state_dir.to_path_buf(),
        message: e.to_string(),
    })?;
    if let Some((old, _)) = &previous {
        report.previous_size = Some(old.size);
        if let Err(e) = check_extends(old, &cp, Some(&log)) {
            report.findings.log_errors.push(e.to_string());
            return Ok(report);
        }
    }
    if !full {
        if let Err(e) = memory.advance(key, &cp, &note, Some(&log)) {
            report.findings.log_errors.push(e.to_string());
        }
        return Ok(report);
    }
    let progress_path = state_dir.join(format!(
        "audit-progress-{}.json",
        &Hash::of(key.to_key_text().as_bytes()).to_hex()[..16]
    ));
    let mut progress: Progress = std::fs::read(&progress_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if progress.next_index > cp.size {
        progress = Progress::default();
    }
    let mut range =
        CompactRange::from_parts(progress.next_index, progress.roots.clone()).unwrap_or_default();
    if range.size() != progress.next_index {
        progress = Progress::default();
    }
    let bar = indicatif::ProgressBar::new(cp.size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "auditing {bar:40} {pos}/{len} entries ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(progress.next_index);
    let mut findings = progress.findings.clone();
    let tiles = log.tiles(&cp);
    let mut index = progress.next_index;
    let mut last_save = std::time::Instant::now();
    while index < cp.size {
        let n = index >> tile::HEIGHT;
        let entries = match tiles.bundle(n) {
            Ok(e) => e,
            Err(e) => {
                findings.log_errors.push(e.to_string());
                break;
            }
        };
        for (k, e) in entries.iter().enumerate() {
            let i = (n << tile::HEIGHT) + k as u64;
            if i < index {
                continue;
            }
            range.push(Hash::leaf(e));
            examine(i, e, policy, &mut findings);
        }
        index = (n << tile::HEIGHT) + entries.len() as u64;
        bar.set_position(index);
        if last_save.elapsed() >= PROGRESS_EVERY || index >= cp.size {
            save_progress(&progress_path, &range, &findings);
            last_save = std::time::Instant::now();
        }
    }
    bar.finish_and_clear();
    if findings.log_errors.is_empty() {
        if range.root() != cp.root {
            findings.log_errors.push(format!(
                "entries hash to root {} but the checkpoint of size {} says {}",
                range.root(),
                cp.size,
                cp.root
            ));
        } else if let Err(e) = memory.advance(key, &cp, &note, Some(&log)) {
            findings.log_errors.push(e.to_string());
        }
    }
    if let (Some(v), true) = (index_verifier, findings.log_errors.is_empty()) {
        let index_url = format!("{}/index", url.trim_end_matches('/'));
        report.index = Some(crate::audit_index::audit_index(&log, &cp, &index_url, v));
    }
    findings.disagreements = findings
        .inputs
        .iter()
        .filter(|(_, by_rebuilt)| by_rebuilt.len() > 1)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    report.findings = findings;
    Ok(report)
}

/// How often a full audit saves its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Saves a full audit's progress. A failure only costs a longer resume.
fn save_progress(path: &std::path::Path, range: &CompactRange, findings: &Findings) {
    let saved = Progress {
        next_index: range.size(),
        roots: range.roots().to_vec(),
        findings: findings.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&saved) {
        if let Err(e) = reprolog_io::statefile::save(path, &bytes) {
            eprintln!("audit progress not saved: {}: {e}", path.display());
        }
    }
}

/// Longest text kept from an entry (file names, builder ids, reasons).
pub const MAX_FIELD_CHARS: usize = 128;

/// Adds what one entry shows to the findings. Text from the entry is escaped
/// and bounded before it is kept (`display::escape`).
pub fn examine(index: u64, bytes: &[u8], policy: Option<&Policy>, f: &mut Findings) {
    f.entries_checked += 1;
    let (entry, st) = match Entry::parse_and_verify(bytes) {
        Ok(x) => x,
        Err(e) => {
            f.malformed
                .push((index, display::escape(&e.to_string(), MAX_FIELD_CHARS * 2)));
            return;
        }
    };
    if let Some(p) = policy {
        if p.rebuilder_for_key(&entry.key).is_none() {
            *f.unknown_keys.entry(hex::encode(entry.key)).or_default() += 1;
        }
    }
    let builder = display::escape(&st.predicate.run_details.builder.id, MAX_FIELD_CHARS);
    let subject = st.subject_digest().map(|h| h.to_hex()).unwrap_or_default();
    let rebuilt = st.rebuilt_digest().map(|h| h.to_hex()).unwrap_or_default();
    if st.reproduced() {
        f.reproduced += 1;
    } else {
        let name = st
            .subject
            .first()
            .map(|s| display::escape(&s.name, MAX_FIELD_CHARS))
            .unwrap_or_default();
        f.mismatches.push((index, name, subject, builder.clone()));
    }
    f.inputs
        .entry(st.inputs_digest().to_hex())
        .or_default()
        .entry(rebuilt)
        .or_default()
        .push(builder);
}

/// The audit as text for people.
pub fn render(r: &AuditReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let status = if r.ok() { "OK" } else { "LOG ERROR" };
    let _ = writeln!(
        s,
        "{status}  log size {} root {}",
        r.checkpoint_size, r.checkpoint_root
    );
    match r.previous_size {
        Some(p) => {
            let _ = writeln!(s, "consistent with the previously audited size {p}");
        }
        None => {
            let _ = writeln!(s, "first audit of this log: checkpoint remembered");
        }
    }
    if r.full {
        let f = &r.findings;
        let _ = writeln!(
            s,
            "entries checked: {} ({} reproduced, {} mismatches, {} malformed)",
            f.entries_checked,
            f.reproduced,
            f.mismatches.len(),
            f.malformed.len()
        );
        for (i, name, subject, builder) in f.mismatches.iter().take(20) {
            let _ = writeln!(
                s,
                "  mismatch  #{i} {name} sha256:{} by {builder}",
                display::prefix(subject, 16)
            );
        }
        for (inputs, by) in &f.disagreements {
            let _ = writeln!(
                s,
                "  rebuilders disagree on inputs {}: {}",
                display::prefix(inputs, 16),
                by.iter()
                    .map(|(d, b)| format!("{} by {}", display::prefix(d, 16), b.join(",")))
                    .collect::<Vec<_>>()
                    .join(" vs ")
            );
        }
        for (k, n) in &f.unknown_keys {
            let _ = writeln!(s, "  unknown key {} ({n} entries)", display::prefix(k, 16));
        }
        for (i, why) in f.malformed.iter().take(20) {
            let _ = writeln!(s, "  malformed #{i}: {why}");
        }
    }
    if let Some(i) = &r.index {
        let _ = writeln!(
            s,
            "index: {} of {} revisions recomputed from the log and found right",
            i.revisions_checked, i.revisions
        );
    }
    for e in &r.findings.log_errors {
        let _ = writeln!(s, "log error: {e}");
    }
    for e in r.index.iter().flat_map(|i| &i.errors) {
        let _ = writeln!(s, "log error: {e}");
    }
    s
}
