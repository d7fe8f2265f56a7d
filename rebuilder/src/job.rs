//! The nouns of one rebuild job, shared by the steps that carry it out
//! (`source`, `gopath`, `attempt`) and the whole job in `rebuild`: what to
//! rebuild ([`Target`]), how ([`RebuildConfig`]), with what once it is set up
//! ([`Job`]), what came of it ([`RebuildReport`], [`Attempt`]) and why it
//! could not run ([`RebuildError`]).
//! They live here, below all of those, so that no step imports the job.

use crate::build::{BuildError, Confined, Limits, ModuleConfig, Scratch};
use crate::buildinfo::{BuildInfo, BuildInfoError};
use crate::diagnose::Diagnosis;
use crate::digest::Digest;
use crate::link_traits::LdflagsCandidate;
use crate::plan::{BuildPlan, PlanError};
use crate::sandbox::{SandboxError, SandboxMode};
use crate::toolchain::{Toolchain, ToolchainError, ToolchainStore};
use reprolog_proto::statement::FoundIn;
use reprolog_proto::Hash;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One job once it is set up: its plan, toolchain, scratch space and
/// confinement, and the node's configuration. Every step reads it; none
/// changes it.
#[derive(Clone, Copy)]
pub(crate) struct Job<'a> {
    pub(crate) plan: &'a BuildPlan,
    pub(crate) toolchain: &'a Toolchain,
    pub(crate) scratch: &'a Scratch,
    pub(crate) config: &'a RebuildConfig,
    pub(crate) confined: &'a Confined,
    /// Where the main module's repository is, when it is fetched (found
    /// before the toolchain, so a source nobody has is said first).
    pub(crate) source_url: Option<&'a str>,
}

/// Why a rebuild could not be carried out (as opposed to: it ran and differed).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    BuildInfo(#[from] BuildInfoError),
    #[error("cannot rebuild: {0}")]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Vcs(#[from] crate::vcs::VcsError),
    #[error("the binary does not identify its source: main module {0} is (devel) with no VCS revision; pass the source directory with --source DIR to check whether it builds this binary")]
    SourceUnidentified(String),
    #[error("submodules: {0}")]
    Submodule(String),
    #[error("only git checkouts are supported, this binary records vcs={0}")]
    UnsupportedVcs(String),
    #[error("revision {revision} is not in {source_dir}")]
    MissingRevision {
        revision: String,
        source_dir: String,
    },
    #[error("{source_dir} is at {head}, not the recorded revision {revision}: check that revision out, or pass --from-history to build it from the repository's history")]
    SourceNotAtRevision {
        source_dir: String,
        head: String,
        revision: String,
    },
    #[error("{source_dir} has uncommitted changes to tracked files: commit or stash them, or pass --from-history to build the recorded revision from the repository's history")]
    SourceDirty { source_dir: String },
    #[error("no go.mod for module {module} in {source_dir}")]
    NoModuleRoot { module: String, source_dir: String },
    #[error("go.mod of {module} at the recorded revision says `{line}`, newer than the binary's {toolchain}: Go would switch toolchains to build it, which a rebuild never does")]
    GoModNeedsNewerGo {
        module: String,
        line: String,
        toolchain: String,
    },
    #[error("the build produced no binary at {0}")]
    NoOutput(PathBuf),
    /// (`error` is not a `#[source]`: the message already carries it, once.)
    #[error("{path}: {error}")]
    Archive {
        path: PathBuf,
        error: reprolog_proto::archive::ArchiveError,
    },
}

/// How and where to rebuild.
#[derive(Debug, Clone)]
pub struct RebuildConfig {
    pub toolchains: ToolchainStore,
    /// Cache of toolchain digests (a JSON file).
    pub digest_cache: PathBuf,
    /// Shared GOCACHE.
    pub gocache: PathBuf,
    /// Each job gets a fresh directory below this.
    pub scratch_root: PathBuf,
    pub modules: ModuleConfig,
    /// A local git repository holding the source of VCS-stamped binaries.
    pub source: Option<PathBuf>,
    /// Build the recorded revision from `source`'s history even when its HEAD
    /// is elsewhere or its tree has local changes. Off, such a `source` is
    /// refused: the user meant to check *that* tree, and it is not the one the
    /// binary claims.
    pub source_from_history: bool,
    /// An -ldflags value to try first when Go did not record one.
    pub user_ldflags: Option<String>,
    /// Keep scratch directories after the job (for debugging).
    pub keep_scratch: bool,
    /// Fetch missing toolchains from this official-archive site into this store.
    pub download: Option<(String, PathBuf)>,
    /// Time and output bounds of each build.
    pub limits: Limits,
    /// Where repositories are looked for before their origin (`--vcs-mirror`);
    /// when any is given, only these are used.
    pub vcs_mirrors: Vec<crate::vcs::Mirror>,
    /// Clones of fetched repositories.
    pub source_cache: PathBuf,
    /// Which addresses sources may be fetched from, and the clone bounds.
    pub egress: crate::egress::EgressPolicy,
    /// Whether builds run confined (see `sandbox.rs`).
    pub sandbox: SandboxMode,
}

/// One build attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub ldflags: Option<String>,
    pub sha256: Hash,
    pub seconds: f64,
}

/// The result of a rebuild that ran.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub file_name: String,
    pub subject: Hash,
    /// What the best attempt produced; equals `subject` when reproduced.
    pub rebuilt: Hash,
    pub reproduced: bool,
    pub plan: BuildPlan,
    pub toolchain_version: String,
    pub toolchain_digest: Hash,
    /// `GO111MODULE=off` when the original was built in GOPATH mode.
    pub extra_env: Vec<(String, String)>,
    /// The -ldflags inferred because Go did not record them (when reproduced).
    pub inferred: Option<LdflagsCandidate>,
    pub attempts: Vec<Attempt>,
    pub diagnosis: Option<Diagnosis>,
    /// RFC 3339 times.
    pub started: String,
    pub finished: String,
    /// The release archive the binary was read from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_in: Option<FoundIn>,
}

/// What to rebuild: the build info and the digest the result must have. The
/// original bytes are optional: a follower repeats a build from an attestation
/// alone, and only loses the diagnosis and the trait-based -ldflags inference.
#[derive(Debug, Clone)]
pub struct Target {
    pub file_name: String,
    pub subject: Digest,
    pub info: BuildInfo,
    pub original: Option<Arc<Vec<u8>>>,
    /// An -ldflags value another rebuilder inferred, tried first.
    pub ldflags_hint: Option<String>,
    /// The release archive the binary is a member of, if it is one.
    pub found_in: Option<FoundIn>,
}

impl Target {
    /// Reads a binary from disk.
    pub fn from_file(path: &Path) -> Result<Target, RebuildError> {
        let original = std::fs::read(path).map_err(|source| RebuildError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file_name = path.file_name().map_or_else(
            || "binary".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Target::from_bytes(original, file_name, None)
    }

    /// A member binary of a release archive, already read into memory.
    pub fn from_member(bytes: Vec<u8>, found_in: FoundIn) -> Result<Target, RebuildError> {
        let file_name = found_in
            .path
            .rsplit('/')
            .next()
            .unwrap_or("binary")
            .to_string();
        Target::from_bytes(bytes, file_name, Some(found_in))
    }

    fn from_bytes(
        bytes: Vec<u8>,
        file_name: String,
        found_in: Option<FoundIn>,
    ) -> Result<Target, RebuildError> {
        let info = BuildInfo::from_binary(&bytes)?;
        let original = Arc::new(bytes);
        Ok(Target {
            file_name,
            subject: Digest::compute(original.clone()),
            info,
            original: Some(original),
            ldflags_hint: None,
            found_in,
        })
    }
}
