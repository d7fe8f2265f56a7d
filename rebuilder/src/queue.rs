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
}

/// One Go binary of a queued release archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberOutcome {
    pub path: String,
    pub result: QueueResult,
    pub index: Option<u64>,
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

/// Rebuilds every binary listed in `queue_file` (one path per line, `#`
/// comments), submitting each result when `submit` is given. Progress is kept
/// in `<queue_file>.progress.json`, keyed by path and digest, so a rerun skips
/// what is done; targets whose submission failed transiently are retried on the
/// next run. Returns the outcomes of this run and earlier ones.
pub fn run_queue(
    queue_file: &Path,
    config: &RebuildConfig,
    submit: Option<(&Signer, &LogClient)>,
    progress: &mut dyn FnMut(&str),
) -> Result<BTreeMap<String, QueueOutcome>, FollowError> {
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
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let path = base.join(line);
        let digest = match std::fs::read(&path) {
            Ok(b) => Hash::of(&b).to_hex(),
            Err(e) => {
                progress(&format!("{line}: FAILED: {e}"));
                done.insert(
                    line.to_string(),
                    QueueOutcome {
                        sha256: String::new(),
                        result: QueueResult::Failed(e.to_string()),
                        index: None,
                        members: Vec::new(),
                    },
                );
                continue;
            }
        };
        if done
            .get(line)
            .is_some_and(|o| o.sha256 == digest && !matches!(o.result, QueueResult::Retry(_)))
        {
            progress(&format!("{line}: already done ({})", done[line].result));
            continue;
        }
        let outcome = queue_one(&path, &digest, config, submit, done.get(line), progress);
        progress(&format!(
            "{line}: {}{}",
            outcome.result,
            outcome
                .index
                .map_or(String::new(), |i| format!(" (log index {i})"))
        ));
        done.insert(line.to_string(), outcome);
        statefile::save_json(&progress_path, &done).map_err(state_err)?;
    }
    Ok(done)
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
            let (result, index) = match m.result {
                MemberResult::Rebuilt(report) => attest(&report, submit),
                MemberResult::NotCovered(_) => continue,
                MemberResult::Failed(why) => (QueueResult::Failed(why), None),
            };
            progress(&format!("  {}: {result}", m.path));
            members.push(MemberOutcome {
                path: m.path,
                result,
                index,
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
            outcome(result, index, Vec::new())
        }
        Err(e) => outcome(QueueResult::Failed(e.to_string()), None, Vec::new()),
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
