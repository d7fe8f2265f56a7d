//! "Can I trust this file?": the consensus verdict over a log's attestations.
//!
//! Every piece the log serves is verified here before it counts: the checkpoint
//! signature and origin, consistency with the remembered checkpoint, each
//! inclusion proof, each DSSE signature, and that each statement is about the
//! digest asked for. Then distinct trusted rebuilder keys whose attestation says
//! "reproduced" (rebuilt == subject) are counted against the policy's quorum.
//! Untrusted keys never count; a key counts once.
//!
//! The log is asked by key: only the policy's rebuilders' entries, every page
//! of them, so a flood of entries from other keys costs nothing and cannot
//! crowd out the ones that decide. Entries of other keys are summarised by
//! count, never listed one per row (`--json` keeps every row fetched).

use crate::memory::{CheckpointMemory, MemoryError};
use reprolog_io::http;
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::display;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::Verifier;
use reprolog_proto::policy::{LogSpec, Policy};
use reprolog_proto::statement::{SourceKind, Statement};
use reprolog_proto::wire::{LookupEntry, LookupResponse, WireError};
use reprolog_proto::Hash;
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// The answer to "can I trust this file?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The policy's consensus of trusted rebuilders reproduced it.
    Reproduced,
    /// Fewer trusted rebuilders than the consensus needs reproduced it.
    Insufficient,
    /// A trusted rebuilder logged a mismatch for it.
    Contested,
    /// Something the log served failed verification.
    LogError,
}

impl Verdict {
    /// Distinct process exit codes.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Reproduced => 0,
            Verdict::Insufficient => 1,
            Verdict::Contested => 2,
            Verdict::LogError => 3,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Reproduced => "REPRODUCED",
            Verdict::Insufficient => "INSUFFICIENT",
            Verdict::Contested => "CONTESTED",
            Verdict::LogError => "LOG ERROR",
        }
    }
}

/// Longest text shown for a field of an attestation (Go version, source).
pub const MAX_FIELD_CHARS: usize = 64;
/// Longest log error line.
pub const MAX_ERROR_CHARS: usize = 300;

/// One attestation found in the log. Its text fields come from the entry's
/// signer, so they are escaped and bounded here (`display::escape`): the
/// table and `--json` show them as data.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The policy name of the rebuilder, or `untrusted:<key prefix>`.
    pub rebuilder: String,
    pub trusted: bool,
    pub reproduced: bool,
    pub go_version: String,
    /// Module version or VCS revision the build used.
    pub source: String,
    pub log_index: u64,
    pub log: String,
    /// `archive:member` when the rebuilder checked the binary inside a
    /// release archive (the attestation's `internalParameters.foundIn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_in: Option<String>,
}

/// The full result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub digest: Hash,
    pub verdict: Verdict,
    pub threshold: usize,
    /// Distinct trusted rebuilders that reproduced the file.
    pub reproduced_by: Vec<String>,
    pub rows: Vec<Row>,
    /// Why the verdict is LOG ERROR, one line each.
    pub log_errors: Vec<String>,
    /// The logs asked, by URL.
    pub logs: Vec<String>,
    /// Entries about the digest by keys the policy does not list, which the
    /// lookup by key did not fetch: (log URL, count).
    pub not_fetched: Vec<(String, u64)>,
    /// How long ago the witness quorum last cosigned each log's checkpoint
    /// the verdict rests on, in seconds: (log URL, age). Empty under
    /// `quorum none`.
    #[serde(default)]
    pub cosigned_ago: Vec<(String, u64)>,
    /// The logs whose answers their index proved whole (the policy names
    /// their index logs): nothing was left out of what was asked.
    #[serde(default)]
    pub proven_complete: Vec<String>,
}

/// How far ahead of our clock a cosignature may be (clocks drift).
const CLOCK_SKEW: u64 = 600;

/// The age of `signed`'s latest quorum cosignature at `now` (`signed` is
/// `what`: a log's checkpoint or its index log's, opened with `verifier`),
/// checked against the policy's `max-age`: `Ok(None)` without a quorum,
/// `Err` (a LOG ERROR line) when it is older than allowed or from the future.
fn freshness(
    policy: &Policy,
    verifier: &LogVerifier,
    what: &str,
    signed: &str,
    now: u64,
) -> Result<Option<u64>, String> {
    let opened = verifier
        .open_witnessed(signed.as_bytes())
        .map_err(|e| e.to_string())?;
    let Some(at) = opened.cosigned_at else {
        return Ok(None);
    };
    if at > now + CLOCK_SKEW {
        return Err(format!(
            "the witness quorum cosigned the {what} {} in the future (a witness's clock, or this machine's, is wrong)",
            ago(at - now)
        ));
    }
    let age = now.saturating_sub(at);
    match policy.max_age {
        Some(max) if age > max => Err(format!(
            "the {} was last cosigned by the witness quorum {} ago, longer than the policy's max-age of {}: the log may be hiding newer entries",
            what,
            ago(age),
            ago(max)
        )),
        _ => Ok(Some(age)),
    }
}

/// Seconds as people read a duration: `45 s`, `12 min`, `5 h 3 min`, `3 d 2 h`.
pub fn ago(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why verification could not start (bad input, not a bad log).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("offline bundle: {0}")]
    Bundle(String),
}

/// SHA-256 of a file, streamed in 1 MiB blocks (sha2 picks SHA-NI when the CPU has it).
pub fn hash_file(path: &Path) -> Result<Hash, VerifyError> {
    use sha2::Digest;
    let err = |source| VerifyError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Hash(h.finalize().into()))
}

/// A 64-hex-digit digest, or the digest of the file at that path.
pub fn digest_of(arg: &str) -> Result<Hash, VerifyError> {
    if arg.len() == 64 && !Path::new(arg).exists() {
        if let Ok(h) = Hash::from_hex(&arg.to_ascii_lowercase()) {
            return Ok(h);
        }
    }
    hash_file(Path::new(arg))
}

/// Where lookups come from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// Ask each log of the policy over HTTP, with checkpoint memory.
    Online { memory: &'a CheckpointMemory },
    /// A saved lookup answer; no network.
    Offline { bundle: &'a LookupResponse },
}

/// Verifies `digest` under `policy`. Log failures become the LOG ERROR verdict;
/// only unusable local input is an `Err`.
pub fn verify(
    digest: Hash,
    policy: &Policy,
    source: Source,
) -> Result<(Report, Vec<LookupResponse>), VerifyError> {
    let mut rows = Vec::new();
    let mut log_errors = Vec::new();
    let mut answers = Vec::new();
    let mut logs = Vec::new();
    let mut not_fetched = Vec::new();
    let mut cosigned_ago = Vec::new();
    let mut proven_complete = Vec::new();
    let now = unix_now();
    // The answer's checkpoint, and its index log's when the policy names
    // one: both must have been cosigned within the policy's max-age.
    let mut fresh = |log: &LogSpec, answer: &LookupResponse, errors: &mut Vec<String>| {
        let mut check =
            |verifier: &LogVerifier, what: &str, signed: &str, record: bool| match freshness(
                policy, verifier, what, signed, now,
            ) {
                Ok(Some(age)) if record => cosigned_ago.push((log.url.clone(), age)),
                Ok(_) => {}
                Err(e) => errors.push(display::escape(
                    &format!("{}: {e}", log.url),
                    MAX_ERROR_CHARS,
                )),
            };
        check(
            &policy.log_verifier(log),
            "checkpoint",
            &answer.checkpoint,
            true,
        );
        if let (Some(verifier), Some(index)) = (policy.index_verifier(log), &answer.index) {
            check(&verifier, "index checkpoint", &index.checkpoint, false);
        }
    };
    match source {
        Source::Online { memory } => {
            let keys: Vec<[u8; 32]> = policy
                .rebuilders
                .iter()
                .map(|r| r.key.public_key())
                .collect();
            for log in &policy.logs {
                logs.push(log.url.clone());
                match fetch_online(log, policy, &digest, &keys, memory) {
                    Ok(pages) => {
                        let fetched: usize = pages.iter().map(|p| p.entries.len()).sum();
                        let total = pages.last().and_then(|p| p.total).unwrap_or(0);
                        let others = total.saturating_sub(fetched as u64);
                        if others > 0 {
                            not_fetched.push((log.url.clone(), others));
                        }
                        if let Some(last) = pages.last() {
                            fresh(log, last, &mut log_errors);
                        }
                        if log.index.is_some() {
                            proven_complete.push(log.url.clone());
                        }
                        for page in pages {
                            collect(&page, log, &digest, policy, &mut rows, &mut log_errors);
                            answers.push(page);
                        }
                    }
                    Err(e) => log_errors.push(display::escape(
                        &format!("{}: {e}", log.url),
                        MAX_ERROR_CHARS,
                    )),
                }
            }
        }
        Source::Offline { bundle } => {
            let log = policy
                .logs
                .iter()
                .find(|l| {
                    bundle
                        .checkpoint
                        .starts_with(&format!("{}\n", l.key.name()))
                })
                .ok_or_else(|| {
                    VerifyError::Bundle("no log in the policy has this bundle's origin".into())
                })?;
            if let Some(next) = bundle.next {
                return Err(VerifyError::Bundle(format!(
                    "the saved answer is one page of several (the next starts at entry {next}): it does not hold every entry"
                )));
            }
            bundle
                .check_counts(Some(bundle.entries.len()))
                .map_err(|e| VerifyError::Bundle(e.to_string()))?;
            logs.push(log.url.clone());
            let verified = bundle.verify(&policy.log_verifier(log)).and_then(|cp| {
                match policy.index_verifier(log) {
                    Some(index) => {
                        let answer = bundle.index.as_ref().ok_or_else(|| {
                            WireError::Index("the saved answer carries no index proof, so it may leave entries out (the policy names the log's index)".into())
                        })?;
                        let keys: Vec<[u8; 32]> =
                            policy.rebuilders.iter().map(|r| r.key.public_key()).collect();
                        answer
                            .verify(&index, &cp, &digest, &keys)?
                            .check_entries(&bundle.entries)?;
                        Ok(cp)
                    }
                    None => Ok(cp),
                }
            });
            match verified {
                Ok(_) => {
                    fresh(log, bundle, &mut log_errors);
                    if log.index.is_some() {
                        proven_complete.push(log.url.clone());
                    }
                    collect(bundle, log, &digest, policy, &mut rows, &mut log_errors)
                }
                Err(e) => {
                    log_errors.push(display::escape(&format!("bundle: {e}"), MAX_ERROR_CHARS))
                }
            }
        }
    }
    let mut report = decide(digest, policy, rows, log_errors, logs);
    report.not_fetched = not_fetched;
    report.cosigned_ago = cosigned_ago;
    report.proven_complete = proven_complete;
    Ok((report, answers))
}

/// Fetch, verify and remember: every page of the lookup by `keys`; each
/// page's checkpoint must verify, extend the remembered one, and prove every
/// entry on it.
fn fetch_online(
    log: &LogSpec,
    policy: &Policy,
    digest: &Hash,
    keys: &[[u8; 32]],
    memory: &CheckpointMemory,
) -> Result<Vec<LookupResponse>, String> {
    let mut transport = http::Http::new(&log.url);
    if let Some(read_url) = &log.read_url {
        // Checkpoint and tiles (consistency with the remembered checkpoint)
        // from where the log publishes them; lookups from the log.
        transport = transport.with_static_reads(read_url);
    }
    let mut client =
        http::LogClient::new(transport, log.key.clone()).with_witnesses(policy.witnesses.clone());
    if let Some(index) = policy.index_verifier(log) {
        client = client.with_index(index);
    }
    let pages = client.lookup(digest, keys).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(pages.len());
    for (page, cp) in pages {
        memory
            .advance(&log.key, &cp, page.checkpoint.as_bytes(), Some(&client))
            .map_err(|e: MemoryError| e.to_string())?;
        out.push(page);
    }
    Ok(out)
}

fn collect(
    resp: &LookupResponse,
    log: &LogSpec,
    digest: &Hash,
    policy: &Policy,
    rows: &mut Vec<Row>,
    errors: &mut Vec<String>,
) {
    collect_entries(&resp.entries, log, digest, policy, rows, errors);
}

/// The verdict over entries whose inclusion is already verified: each entry's
/// signature and subject are checked, then the policy decides. The pure half
/// of [`verify`], used by tests and the fuzz target.
pub fn assess(digest: Hash, policy: &Policy, log: &LogSpec, entries: &[LookupEntry]) -> Report {
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    collect_entries(entries, log, &digest, policy, &mut rows, &mut errors);
    decide(digest, policy, rows, errors, vec![log.url.clone()])
}

fn collect_entries(
    entries: &[LookupEntry],
    log: &LogSpec,
    digest: &Hash,
    policy: &Policy,
    rows: &mut Vec<Row>,
    errors: &mut Vec<String>,
) {
    for e in entries {
        let (entry, st) = match Entry::parse_and_verify(&e.entry) {
            Ok(x) => x,
            Err(err) => {
                errors.push(display::escape(
                    &format!("{}: entry {}: {err}", log.url, e.index),
                    MAX_ERROR_CHARS,
                ));
                continue;
            }
        };
        match st.subject_digest() {
            Ok(s) if s == *digest => {}
            _ => {
                errors.push(format!(
                    "{}: entry {} is about another file",
                    log.url, e.index
                ));
                continue;
            }
        }
        rows.push(row(&entry, &st, e.index, log, policy));
    }
}

fn row(entry: &Entry, st: &Statement, index: u64, log: &LogSpec, policy: &Policy) -> Row {
    let trusted = policy.rebuilder_for_key(&entry.key);
    let params = &st.predicate.build_definition.external_parameters;
    let source = st.source().map(describe_source).unwrap_or_default();
    Row {
        rebuilder: trusted.map_or_else(
            || format!("untrusted:{}", &hex::encode(entry.key)[..12]),
            |r| r.name.clone(),
        ),
        trusted: trusted.is_some(),
        reproduced: st.reproduced(),
        go_version: display::escape(&params.go_version, MAX_FIELD_CHARS),
        source: display::escape(&source, MAX_FIELD_CHARS),
        log_index: index,
        log: log.url.clone(),
        found_in: st
            .predicate
            .build_definition
            .internal_parameters
            .as_ref()
            .and_then(|p| p.found_in.as_ref())
            .map(|f| display::escape(&format!("{}:{}", f.name, f.path), MAX_FIELD_CHARS * 2)),
    }
}

/// A short description of where the source came from, for the table.
fn describe_source(d: &reprolog_proto::statement::ResourceDescriptor) -> String {
    if let Some(commit) = d.git_commit() {
        return format!("git {}", display::prefix(commit, 12));
    }
    if d.kind() == Some(SourceKind::GoDistribution) {
        return "Go source".to_string();
    }
    d.uri.rsplit('@').next().unwrap_or("").to_string()
}

fn decide(
    digest: Hash,
    policy: &Policy,
    rows: Vec<Row>,
    log_errors: Vec<String>,
    logs: Vec<String>,
) -> Report {
    let reproduced_by: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.trusted && r.reproduced)
        .map(|r| r.rebuilder.clone())
        .collect();
    // Each trusted key once, whatever names the policy gives it.
    let reproduced_keys: BTreeSet<[u8; 32]> = reproduced_by
        .iter()
        .filter_map(|name| policy.rebuilders.iter().find(|r| &r.name == name))
        .map(|r| r.key.public_key())
        .collect();
    let contested = rows.iter().any(|r| r.trusted && !r.reproduced);
    let verdict = if !log_errors.is_empty() {
        Verdict::LogError
    } else if contested {
        Verdict::Contested
    } else if policy.consensus_met(&reproduced_keys) {
        Verdict::Reproduced
    } else {
        Verdict::Insufficient
    };
    Report {
        digest,
        verdict,
        threshold: policy.consensus_threshold(),
        reproduced_by: reproduced_by.into_iter().collect(),
        rows,
        log_errors,
        logs,
        not_fetched: Vec::new(),
        cosigned_ago: Vec::new(),
        proven_complete: Vec::new(),
    }
}

/// The report as text for people: the verdict, its reason, then the table.
/// A LOG ERROR's reason is the log error (no count: nothing was decided); an
/// INSUFFICIENT with no attestation says so; otherwise "n of k".
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{}  sha256:{}", r.verdict.word(), r.digest);
    if r.verdict == Verdict::LogError {
        for e in &r.log_errors {
            let _ = writeln!(s, "log error: {e}");
        }
    } else if r.rows.is_empty() {
        let proven = !r.logs.is_empty() && r.logs.iter().all(|l| r.proven_complete.contains(l));
        let _ = writeln!(
            s,
            "no attestation for this digest in {}{}",
            if r.logs.is_empty() {
                "the policy's logs".to_string()
            } else {
                r.logs.join(", ")
            },
            if proven {
                " (proven: the log's index lists none by the policy's rebuilders)"
            } else {
                ""
            }
        );
    } else {
        let _ = writeln!(
            s,
            "reproduced by {} of the {} trusted rebuilders required",
            r.reproduced_by.len(),
            r.threshold
        );
    }
    let trusted: Vec<&Row> = r.rows.iter().filter(|row| row.trusted).collect();
    if !trusted.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<24} {:<10} {:<12} {:<14} {:>9}",
            "REBUILDER", "RESULT", "GO", "SOURCE", "LOG INDEX"
        );
        for row in trusted {
            let result = if row.reproduced { "match" } else { "MISMATCH" };
            let _ = writeln!(
                s,
                "{:<24} {:<10} {:<12} {:<14} {:>9}",
                row.rebuilder, result, row.go_version, row.source, row.log_index
            );
        }
    }
    let untrusted: Vec<&Row> = r.rows.iter().filter(|row| !row.trusted).collect();
    if !untrusted.is_empty() {
        let keys: BTreeSet<&str> = untrusted.iter().map(|row| row.rebuilder.as_str()).collect();
        let _ = writeln!(
            s,
            "{} from {} (not counted)",
            count(untrusted.len() as u64, "entry", "entries"),
            count(keys.len() as u64, "untrusted key", "untrusted keys")
        );
    }
    for (log, n) in &r.not_fetched {
        let _ = writeln!(
            s,
            "{} in {log} by keys not in the policy (not fetched, not counted)",
            count(*n, "more entry", "more entries")
        );
    }
    for (log, age) in &r.cosigned_ago {
        let _ = writeln!(
            s,
            "{log}: checkpoint cosigned by the witness quorum {} ago",
            ago(*age)
        );
    }
    // No line ends in padding.
    s.lines().map(|l| l.trim_end().to_string() + "\n").collect()
}

/// `1 entry`, `2,000 entries`.
fn count(n: u64, one: &str, many: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped} {}", if n == 1 { one } else { many })
}

/// Reads an offline bundle (a saved lookup answer).
pub fn read_bundle(path: &Path) -> Result<LookupResponse, VerifyError> {
    let bytes = std::fs::read(path).map_err(|source| VerifyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::Bundle(format!("{}: {e}", path.display())))
}

/// The verifier key of a log in the policy, by URL.
pub fn log_key<'a>(policy: &'a Policy, url: &str) -> Option<&'a Verifier> {
    policy
        .logs
        .iter()
        .find(|l| l.url == url.trim_end_matches('/'))
        .map(|l| &l.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn policy() -> Policy {
        let log = reprolog_proto::note::Signer::from_seed("log.test", &[1; 32]).unwrap();
        let alice = reprolog_proto::note::Signer::from_seed("alice.test", &[2; 32]).unwrap();
        Policy::parse(&format!(
            "log {} http://log.test\nrebuilder alice {}\ngroup g 1 alice\nconsensus g\nquorum none\n",
            log.verifier().to_key_text(),
            alice.verifier().to_key_text()
        ))
        .unwrap()
    }

    fn report(rows: Vec<Row>, errors: Vec<String>) -> String {
        let digest = Hash::from_hex(DIGEST).unwrap();
        render(&decide(
            digest,
            &policy(),
            rows,
            errors,
            vec!["http://log.test".into()],
        ))
    }

    #[test]
    fn a_flood_is_one_line_and_trusted_rows_keep_the_table() {
        let row = |rebuilder: &str, trusted, reproduced, index| Row {
            rebuilder: rebuilder.into(),
            trusted,
            reproduced,
            go_version: "go1.27.3".into(),
            source: "v1.0.0".into(),
            log_index: index,
            log: "http://log.test".into(),
            found_in: None,
        };
        let mut rows: Vec<Row> = (0..2000)
            .map(|i| row(&format!("untrusted:{:012x}", i % 3), false, true, i))
            .collect();
        rows.push(row("alice", true, false, 2000));
        let digest = Hash::from_hex(DIGEST).unwrap();
        let mut r = decide(
            digest,
            &policy(),
            rows,
            vec![],
            vec!["http://log.test".into()],
        );
        r.not_fetched = vec![("http://log.test".into(), 1)];
        assert_eq!(
            render(&r),
            format!(
                "CONTESTED  sha256:{DIGEST}\n\
                 reproduced by 0 of the 1 trusted rebuilders required\n\
                 \n\
                 REBUILDER                RESULT     GO           SOURCE         LOG INDEX\n\
                 alice                    MISMATCH   go1.27.3     v1.0.0              2000\n\
                 2,000 entries from 3 untrusted keys (not counted)\n\
                 1 more entry in http://log.test by keys not in the policy (not fetched, not counted)\n"
            )
        );
        assert_eq!(count(1_234_567, "x", "xs"), "1,234,567 xs");
        assert_eq!(count(999, "x", "xs"), "999 xs");
    }

    #[test]
    fn log_error_gives_the_error_as_its_reason_and_no_count() {
        assert_eq!(
            report(vec![], vec!["http://log.test: checkpoint signature does not verify".into()]),
            format!("LOG ERROR  sha256:{DIGEST}\nlog error: http://log.test: checkpoint signature does not verify\n")
        );
    }

    #[test]
    fn insufficient_without_attestations_says_there_are_none() {
        assert_eq!(
            report(vec![], vec![]),
            format!("INSUFFICIENT  sha256:{DIGEST}\nno attestation for this digest in http://log.test\n")
        );
    }

    #[test]
    fn an_untrusted_attestation_gives_the_count_and_one_summary_line() {
        let row = Row {
            rebuilder: "untrusted:0123456789ab".into(),
            trusted: false,
            reproduced: true,
            go_version: "go1.27.3".into(),
            source: "v1.0.0".into(),
            log_index: 7,
            log: "http://log.test".into(),
            found_in: None,
        };
        assert_eq!(
            report(vec![row], vec![]),
            format!(
                "INSUFFICIENT  sha256:{DIGEST}\n\
                 reproduced by 0 of the 1 trusted rebuilders required\n\
                 1 entry from 1 untrusted key (not counted)\n"
            )
        );
    }
}
