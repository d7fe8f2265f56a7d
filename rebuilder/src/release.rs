//! `rebuild ARCHIVE`: every Go binary of a release archive (tar, tar.gz,
//! zip) rebuilt, each for the GOOS and GOARCH its build info records, one at
//! a time as the archive is read (proto's bounded reader: nothing unpacked to
//! disk, one member in memory). Each report carries the archive's name and
//! digest and the member's path, which its attestation records
//! (`internalParameters.foundIn`), so a client can say where a binary came
//! from. Members that are not Go binaries are listed, not rebuilt.

use crate::rebuild::{rebuild_target, RebuildConfig, RebuildError, RebuildReport, Target};
use reprolog_proto::archive::{self, Limits};
use reprolog_proto::statement::{vocab, FoundIn};
use reprolog_proto::Hash;
use std::io::Read;
use std::path::Path;

/// What happened to one member.
#[derive(Debug)]
pub enum MemberResult {
    Rebuilt(Box<RebuildReport>),
    /// Not a Go binary (why).
    NotCovered(String),
    /// A Go binary that could not be rebuilt (why).
    Failed(String),
}

/// One member of the archive and its result.
#[derive(Debug)]
pub struct MemberOutcome {
    pub path: String,
    pub result: MemberResult,
}

/// Whether the file at `path` starts like an archive (reading it then
/// checks that it is one, and only one, kind).
pub fn is_archive(path: &Path) -> bool {
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .is_ok_and(|_| archive::sniff(&head).is_some())
}

/// Rebuilds every Go binary in the archive at `path` (see the module doc),
/// except the members `skip` names (done on an earlier run).
pub fn rebuild_archive(
    path: &Path,
    config: &RebuildConfig,
    skip: &dyn Fn(&str) -> bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<MemberOutcome>, RebuildError> {
    let digest = archive::hash_and_classify(std::fs::File::open(path).map_err(read_err(path))?)
        .map_err(read_err(path))?
        .0;
    let name = path
        .file_name()
        .map_or_else(|| "archive".into(), |n| n.to_string_lossy().into_owned());
    let mut out = Vec::new();
    each_member(path, &mut |member, bytes| {
        if !skip(member) {
            let result = rebuild_member(bytes, &name, &digest, member, config, progress);
            out.push(MemberOutcome {
                path: member.to_string(),
                result,
            });
        }
    })?;
    Ok(out)
}

/// The build info of every Go binary in the archive at `path`, by member
/// path, in archive order (members that are not Go binaries are left out).
/// The archive is read as `rebuild ARCHIVE` reads it: whole, or refused.
pub fn inspect_archive(
    path: &Path,
) -> Result<Vec<(String, crate::buildinfo::BuildInfo)>, RebuildError> {
    let mut out = Vec::new();
    each_member(path, &mut |member, bytes| {
        if let Ok(info) = crate::buildinfo::BuildInfo::from_binary(&bytes) {
            out.push((member.to_string(), info));
        }
    })?;
    Ok(out)
}

fn read_err(path: &Path) -> impl Fn(std::io::Error) -> RebuildError + '_ {
    move |source| RebuildError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Calls `f` with each member of the archive at `path` and its bytes, one
/// in memory at a time, once the whole archive has been read and accepted
/// (a member's rebuild takes minutes: none starts on an archive the reader
/// would refuse further on).
fn each_member(path: &Path, f: &mut dyn FnMut(&str, Vec<u8>)) -> Result<(), RebuildError> {
    let size = std::fs::metadata(path).map_err(read_err(path))?.len();
    let open = || -> Result<_, RebuildError> {
        Ok(std::io::BufReader::new(
            std::fs::File::open(path).map_err(read_err(path))?,
        ))
    };
    let archive_err = |error| RebuildError::Archive {
        path: path.to_path_buf(),
        error,
    };
    archive::members(open()?, size, Limits::default()).map_err(archive_err)?;
    archive::for_each_member(open()?, size, Limits::default(), |member, data| {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)
            .map_err(|error| archive::ArchiveError::Read {
                at: Some(member.to_string()),
                error,
            })?;
        f(member, bytes);
        Ok(())
    })
    .map_err(archive_err)
}

fn rebuild_member(
    bytes: Vec<u8>,
    archive_name: &str,
    archive_digest: &Hash,
    member: &str,
    config: &RebuildConfig,
    progress: &mut dyn FnMut(&str),
) -> MemberResult {
    let found_in = FoundIn {
        name: archive_name.to_string(),
        digest: [(vocab::SHA256.to_string(), archive_digest.to_hex())].into(),
        path: member.to_string(),
    };
    let target = match Target::from_member(bytes, found_in) {
        Ok(t) => t,
        Err(RebuildError::BuildInfo(_)) => {
            return MemberResult::NotCovered("not a Go binary".into());
        }
        Err(e) => return MemberResult::Failed(e.to_string()),
    };
    progress(&format!("{member}: rebuilding"));
    match rebuild_target(&target, config, progress) {
        Ok(report) => MemberResult::Rebuilt(Box::new(report)),
        Err(e) => MemberResult::Failed(e.to_string()),
    }
}
