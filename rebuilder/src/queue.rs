//! `rebuild --queue`: rebuild every binary a file lists, submit each result,
//! and keep progress so a rerun skips what is done.

use crate::follow::FollowError;
use crate::node::submit_report;
use crate::rebuild::{RebuildConfig, RebuildReport};
use crate::release::MemberResult;
use reprolog_io::http::LogClient;
use reprolog_io::statefile;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What happened to one queued target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueOutcome {
    pub sha256: String,
    /// For an archive, the worst of its Go members' results.
    pub result: QueueResult,
    /// Log index of this node's attestation, when submitted.
    pub index: Option<u64>,
    /// For a release archive, each Go member's result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberOutcome>,
    /// Why a MISMATCH differs (the diagnosis's advice, one line each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis: Vec<String>,
}

impl QueueOutcome {
    /// Whether a rerun leaves it as it is: rebuilt to a verdict, and
    /// attested when this run submits (a FAILED item is always tried
    /// again: its cause, a missing mirror say, may be fixed).
    fn is_final(&self, submitting: bool) -> bool {
        let verdict = matches!(self.result, QueueResult::Reproduced | QueueResult::Mismatch);
        let attested = if self.members.is_empty() {
            self.index.is_some()
        } else {
            self.members.iter().all(|m| m.index.is_some())
        };
        verdict && (!submitting || attested)
    }
}

/// One Go binary of a queued release archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberOutcome {
    pub path: String,
    pub result: QueueResult,
    pub index: Option<u64>,
    /// Why a MISMATCH differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis: Vec<String>,
}

/// The result of one queued target. Saved as text (`REPRODUCED`, `MISMATCH`,
/// `RETRY: <why>`, `FAILED: <why>`), the format progress files have always had.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(into = "String", from = "String")]
pub enum QueueResult {
    Reproduced,
    Mismatch,
    /// Rebuilt, but the submission failed transiently: tried again next run.
    Retry(String),
    Failed(String),
}

impl QueueResult {
    /// The exit status of `rebuild --queue`'s worst result: 0 all reproduced,
    /// 1 a mismatch, 2 a failure or a pending retry.
    pub fn exit_code(&self) -> i32 {
        match self {
            QueueResult::Reproduced => 0,
            QueueResult::Mismatch => 1,
            QueueResult::Retry(_) | QueueResult::Failed(_) => 2,
        }
    }

    fn verdict(reproduced: bool) -> QueueResult {
        if reproduced {
            QueueResult::Reproduced
        } else {
            QueueResult::Mismatch
        }
    }
}

impl std::fmt::Display for QueueResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueResult::Reproduced => f.write_str("REPRODUCED"),
            QueueResult::Mismatch => f.write_str("MISMATCH"),
            QueueResult::Retry(why) => write!(f, "RETRY: {why}"),
            QueueResult::Failed(why) => write!(f, "FAILED: {why}"),
        }
    }
}

impl From<QueueResult> for String {
    fn from(r: QueueResult) -> String {
        r.to_string()
    }
}

impl From<String> for QueueResult {
    fn from(s: String) -> QueueResult {
        match s.as_str() {
            "REPRODUCED" => QueueResult::Reproduced,
            "MISMATCH" => QueueResult::Mismatch,
            _ => match s.split_once(": ") {
                Some(("RETRY", why)) => QueueResult::Retry(why.to_string()),
                Some(("FAILED", why)) => QueueResult::Failed(why.to_string()),
                _ => QueueResult::Failed(s),
            },
        }
    }
}

/// What one run of a queue did: every listed item's outcome (this run's or
/// an earlier one's), and which were left as an earlier run finished them.
#[derive(Debug, Clone, Default)]
pub struct QueueRun {
    pub outcomes: BTreeMap<String, QueueOutcome>,
    pub already_done: Vec<String>,
}

impl QueueRun {
    /// One line: how many items, and how many of each result.
    pub fn summary(&self) -> String {
        let count = |f: &dyn Fn(&QueueResult) -> bool| {
            self.outcomes.values().filter(|o| f(&o.result)).count()
        };
        format!(
            "queue: {} items: {} REPRODUCED, {} MISMATCH, {} FAILED, {} RETRY ({} done on an earlier run)",
            self.outcomes.len(),
            count(&|r| matches!(r, QueueResult::Reproduced)),
            count(&|r| matches!(r, QueueResult::Mismatch)),
            count(&|r| matches!(r, QueueResult::Failed(_))),
            count(&|r| matches!(r, QueueResult::Retry(_))),
            self.already_done.len()
        )
    }

    /// The exit status of the worst result.
    pub fn exit_code(&self) -> i32 {
        self.outcomes
            .values()
            .map(|o| o.result.exit_code())
            .max()
            .unwrap_or(0)
    }
}

/// Rebuilds every binary listed in `queue_file` (one path per line, `#`
/// comments), submitting each result when `submit` is given. Progress is kept
/// in `<queue_file>.progress.json`, keyed by path and digest, so a rerun skips
/// what is finished ([`QueueOutcome::is_final`]): FAILED items, and results
/// not yet attested when submitting, are tried again. `done` hears each
/// item's outcome as it is known (for the per-item lines).
pub fn run_queue(
    queue_file: &Path,
    config: &RebuildConfig,
    submit: Option<(&Signer, &LogClient)>,
    progress: &mut dyn FnMut(&str),
    done_item: &mut dyn FnMut(&str, &QueueOutcome),
) -> Result<QueueRun, FollowError> {
    let state_err = |source| FollowError::State {
        path: queue_file.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(queue_file).map_err(state_err)?;
    let progress_path = PathBuf::from(format!("{}.progress.json", queue_file.display()));
    let mut done: BTreeMap<String, QueueOutcome> = match std::fs::read(&progress_path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| state_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(state_err(e)),
    };
    let base = queue_file.parent().unwrap_or(Path::new("."));
    let mut already_done = Vec::new();
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let path = base.join(line);
        let digest = match std::fs::read(&path) {
            Ok(b) => Hash::of(&b).to_hex(),
            Err(e) => {
                let outcome = QueueOutcome {
                    sha256: String::new(),
                    result: QueueResult::Failed(e.to_string()),
                    index: None,
                    members: Vec::new(),
                    diagnosis: Vec::new(),
                };
                done_item(line, &outcome);
                done.insert(line.to_string(), outcome);
                continue;
            }
        };
        if let Some(earlier) = done
            .get(line)
            .filter(|o| o.sha256 == digest && o.is_final(submit.is_some()))
        {
            progress(&format!("{line}: already done ({})", earlier.result));
            done_item(line, earlier);
            already_done.push(line.to_string());
            continue;
        }
        progress(&format!("{line}: rebuilding"));
        let outcome = queue_one(&path, &digest, config, submit, done.get(line), progress);
        done_item(line, &outcome);
        done.insert(line.to_string(), outcome);
        statefile::save_json(&progress_path, &done).map_err(state_err)?;
    }
    // Only the items listed now.
    let listed: std::collections::BTreeSet<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    done.retain(|k, _| listed.contains(k.as_str()));
    Ok(QueueRun {
        outcomes: done,
        already_done,
    })
}

/// One line per queued item: its path, result and log index, then the
/// diagnosis of a MISMATCH and each archive member's line, indented.
pub fn item_lines(line: &str, o: &QueueOutcome) -> Vec<String> {
    let index = |i: Option<u64>| i.map_or(String::new(), |i| format!(" (log index {i})"));
    let mut out = vec![format!("{line}: {}{}", o.result, index(o.index))];
    out.extend(o.diagnosis.iter().map(|d| format!("  {d}")));
    for m in &o.members {
        out.push(format!("  {}: {}{}", m.path, m.result, index(m.index)));
        out.extend(m.diagnosis.iter().map(|d| format!("    {d}")));
    }
    out
}

fn queue_one(
    path: &Path,
    digest: &str,
    config: &RebuildConfig,
    submit: Option<(&Signer, &LogClient)>,
    previous: Option<&QueueOutcome>,
    progress: &mut dyn FnMut(&str),
) -> QueueOutcome {
    let outcome = |result: QueueResult, index, members| QueueOutcome {
        sha256: digest.to_string(),
        result,
        index,
        members,
        diagnosis: Vec::new(),
    };
    if crate::release::is_archive(path) {
        // Members attested on an earlier run stay as they were: a retry
        // rebuilds and submits only the rest.
        let attested: Vec<MemberOutcome> = previous
            .filter(|p| p.sha256 == digest)
            .map(|p| {
                p.members
                    .iter()
                    .filter(|m| m.index.is_some())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let skip = |member: &str| attested.iter().any(|m| m.path == member);
        let rebuilt = match crate::release::rebuild_archive(path, config, &skip, progress) {
            Ok(r) => r,
            Err(e) => return outcome(QueueResult::Failed(e.to_string()), None, attested),
        };
        let mut members = attested.clone();
        for m in rebuilt {
            let (result, index, diagnosis) = match m.result {
                MemberResult::Rebuilt(report) => {
                    let (result, index) = attest(&report, submit);
                    (result, index, advice_of(&report))
                }
                MemberResult::NotCovered(_) => continue,
                MemberResult::Failed(why) => (QueueResult::Failed(why), None, Vec::new()),
            };
            progress(&format!("  {}: {result}", m.path));
            members.push(MemberOutcome {
                path: m.path,
                result,
                index,
                diagnosis,
            });
        }
        let worst = members
            .iter()
            .map(|m| &m.result)
            .max_by_key(|r| (r.exit_code(), matches!(r, QueueResult::Failed(_))))
            .cloned()
            .unwrap_or_else(|| QueueResult::Failed("no Go binary in the archive".into()));
        return outcome(worst, None, members);
    }
    match crate::rebuild::rebuild(path, config, progress) {
        Ok(report) => {
            let (result, index) = attest(&report, submit);
            QueueOutcome {
                diagnosis: advice_of(&report),
                ..outcome(result, index, Vec::new())
            }
        }
        Err(e) => outcome(QueueResult::Failed(e.to_string()), None, Vec::new()),
    }
}

/// A MISMATCH's diagnosis, as advice lines (none for a match).
fn advice_of(report: &RebuildReport) -> Vec<String> {
    match (&report.diagnosis, report.reproduced) {
        (Some(d), false) => d.advice.clone(),
        _ => Vec::new(),
    }
}

/// The verdict of a rebuild, submitted when `submit` is given.
fn attest(
    report: &RebuildReport,
    submit: Option<(&Signer, &LogClient)>,
) -> (QueueResult, Option<u64>) {
    let verdict = QueueResult::verdict(report.reproduced);
    let Some((signer, log)) = submit else {
        return (verdict, None);
    };
    match submit_report(report, signer, log) {
        Ok((_, receipt)) => (verdict, Some(receipt.index)),
        Err(e) if e.is_transient() => (
            QueueResult::Retry(format!("{verdict}, submission failed: {e}")),
            None,
        ),
        Err(e) => (
            QueueResult::Failed(format!("{verdict}, submission rejected: {e}")),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_results_keep_their_saved_text_and_order_exit_codes() {
        for r in [
            QueueResult::Reproduced,
            QueueResult::Mismatch,
            QueueResult::Retry("MISMATCH, submission failed: 503".into()),
            QueueResult::Failed("no such file".into()),
        ] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<QueueResult>(&json).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&QueueResult::Failed("x".into())).unwrap(),
            r#""FAILED: x""#
        );
        let worst = [QueueResult::Reproduced, QueueResult::Mismatch]
            .iter()
            .map(QueueResult::exit_code)
            .max();
        assert_eq!(worst, Some(1));
        assert_eq!(QueueResult::Retry(String::new()).exit_code(), 2);
    }
}
