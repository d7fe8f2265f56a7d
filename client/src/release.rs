//! What people download, verified member by member: a release archive
//! (tar, tar.gz, zip) or a `checksums.txt` of `<sha256>  <file>` lines.
//!
//! Each Go binary gets its own verdict ([`crate::verify::verify`]); every
//! other file is listed as not covered. The overall exit status is the worst
//! member's. A checksums line whose file is present but differs is a hard
//! error: the release is not what its publisher listed.

use crate::verify::{self, Report, Source, Verdict, VerifyError};
use reprolog_proto::archive::{self, ArchiveError, Limits};
use reprolog_proto::display;
use reprolog_proto::policy::Policy;
use reprolog_proto::Hash;
use serde::Serialize;
use std::io::Read;
use std::path::Path;

/// Why a release could not be verified at all. (The `error` fields are not
/// `#[source]`s: the message already carries them, once.)
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {error}")]
    Archive { path: String, error: ArchiveError },
    #[error("{0}")]
    Verify(#[from] VerifyError),
    #[error("{file} line {line}: {why}")]
    Checksums {
        file: String,
        line: usize,
        why: String,
    },
}

/// One file of a release: a Go binary with its verdict, or not covered.
#[derive(Debug, Clone, Serialize)]
pub struct MemberReport {
    /// `archive:member` for archive members, else the file name.
    pub path: String,
    pub sha256: Hash,
    /// Why it has no verdict (not a Go binary, not present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_covered: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

/// Every member of a release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    pub target: String,
    /// The worst verdict of the Go binaries (INSUFFICIENT when there is none).
    pub verdict: Verdict,
    pub members: Vec<MemberReport>,
}

impl ReleaseReport {
    fn new(target: String, members: Vec<MemberReport>) -> ReleaseReport {
        let verdict = members
            .iter()
            .filter_map(|m| m.report.as_ref().map(|r| r.verdict))
            .max_by_key(|v| v.exit_code())
            .unwrap_or(Verdict::Insufficient);
        ReleaseReport {
            target,
            verdict,
            members,
        }
    }
}

/// Whether the file at `path` is an archive this module reads.
pub fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .unwrap_or(0);
    archive::sniff(&head[..n]).is_some()
}

/// Verifies every Go binary in the archive at `path`.
pub fn verify_archive(
    path: &Path,
    policy: &Policy,
    source: &Source,
) -> Result<ReleaseReport, ReleaseError> {
    let name = display_name(path);
    let members = archive_members(path, &name, policy, source)?;
    Ok(ReleaseReport::new(name, members))
}

/// Checks every file `checksums` lists that is present in `dir` against its
/// line, then verifies it as [`verify_archive`] or as a single binary.
pub fn verify_checksums(
    checksums: &Path,
    dir: &Path,
    policy: &Policy,
    source: &Source,
) -> Result<ReleaseReport, ReleaseError> {
    let file = display_name(checksums);
    let text = std::fs::read_to_string(checksums).map_err(|error| ReleaseError::Read {
        path: file.clone(),
        error,
    })?;
    let mut members = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |why: String| ReleaseError::Checksums {
            file: file.clone(),
            line: i + 1,
            why,
        };
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (hex, name) = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .ok_or_else(|| bad("not a `<sha256>  <file>` line".into()))?;
        let listed = Hash::from_hex(&hex.to_ascii_lowercase())
            .map_err(|_| bad("the digest is not 64 hex digits".into()))?;
        let name = archive::safe_path(name).map_err(|e| bad(e.to_string()))?;
        let path = dir.join(&name);
        if !path.is_file() {
            members.push(MemberReport {
                path: name,
                sha256: listed,
                not_covered: Some("not present".into()),
                report: None,
            });
            continue;
        }
        let (actual, go_binary) = std::fs::File::open(&path)
            .and_then(archive::hash_and_classify)
            .map_err(|error| ReleaseError::Read {
                path: name.clone(),
                error,
            })?;
        if actual != listed {
            return Err(bad(format!(
                "{name} has sha256 {actual}, but the line says {listed}"
            )));
        }
        if is_archive(&path) {
            members.extend(archive_members(&path, &name, policy, source)?);
        } else {
            members.push(member(name, actual, go_binary, policy, source)?);
        }
    }
    Ok(ReleaseReport::new(file, members))
}

fn archive_members(
    path: &Path,
    name: &str,
    policy: &Policy,
    source: &Source,
) -> Result<Vec<MemberReport>, ReleaseError> {
    let read_err = |error| ReleaseError::Read {
        path: name.to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    let found = archive::members(std::io::BufReader::new(file), size, Limits::default()).map_err(
        |error| ReleaseError::Archive {
            path: name.to_string(),
            error,
        },
    )?;
    found
        .into_iter()
        .map(|m| {
            member(
                format!("{name}:{}", m.path),
                m.sha256,
                m.go_binary,
                policy,
                source,
            )
        })
        .collect()
}

fn member(
    path: String,
    sha256: Hash,
    go_binary: bool,
    policy: &Policy,
    source: &Source,
) -> Result<MemberReport, ReleaseError> {
    if !go_binary {
        return Ok(MemberReport {
            path,
            sha256,
            not_covered: Some("not a Go binary".into()),
            report: None,
        });
    }
    let (report, _) = verify::verify(sha256, policy, *source)?;
    Ok(MemberReport {
        path,
        sha256,
        not_covered: None,
        report: Some(report),
    })
}

/// The release as text: the worst verdict, then a line per member.
pub fn render(r: &ReleaseReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let binaries = r.members.iter().filter(|m| m.report.is_some()).count();
    let _ = writeln!(
        s,
        "{}  {} ({binaries} Go {})",
        r.verdict.word(),
        r.target,
        if binaries == 1 { "binary" } else { "binaries" }
    );
    for m in &r.members {
        match (&m.report, &m.not_covered) {
            (Some(report), _) => {
                let _ = writeln!(
                    s,
                    "  {:<13} {}  sha256:{}  reproduced by {} of {}",
                    report.verdict.word(),
                    m.path,
                    display::prefix(&m.sha256.to_hex(), 16),
                    report.reproduced_by.len(),
                    report.threshold
                );
                for e in &report.log_errors {
                    let _ = writeln!(s, "                log error: {e}");
                }
                // Where the trusted rebuilders found it, when in an archive.
                let origins: std::collections::BTreeSet<&str> = report
                    .rows
                    .iter()
                    .filter(|row| row.trusted)
                    .filter_map(|row| row.found_in.as_deref())
                    .collect();
                for origin in origins {
                    let _ = writeln!(s, "                rebuilt from {origin}");
                }
            }
            (None, why) => {
                let _ = writeln!(
                    s,
                    "  {:<13} {}  {}",
                    "not covered",
                    m.path,
                    why.as_deref().unwrap_or("")
                );
            }
        }
    }
    s
}

fn display_name(path: &Path) -> String {
    display::escape(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        200,
    )
}

fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
