//! A whole rebuild: read the binary, plan, find the toolchain, prepare the
//! source, build with each -ldflags candidate until one is bit-identical, and
//! diagnose if none is.

use crate::attempt::{relocate, Attempter, Tried};
use crate::build::{self, BuildError, Confined, Limits, ModuleConfig, Scratch};
use crate::buildinfo::{BuildInfo, BuildInfoError};
use crate::diagnose::{self, Diagnosis};
pub use crate::digest::Digest;
use crate::infer::{ldflags_candidates, LdflagsCandidate, LinkTraits};
use crate::plan::{self, BuildPlan, PlanError};
use crate::sandbox::{Sandbox, SandboxError, SandboxMode};
use crate::source::{prepare_source, unique_dir};
use crate::toolchain::{DigestCache, Toolchain, ToolchainError, ToolchainStore};
use reprolog_proto::statement::FoundIn;
use reprolog_proto::Hash;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Rebuilds the binary at `path`. `progress` receives one line per step.
pub fn rebuild(
    path: &Path,
    config: &RebuildConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<RebuildReport, RebuildError> {
    rebuild_target(&Target::from_file(path)?, config, progress)
}

/// Rebuilds a target and compares the result with its subject digest.
pub fn rebuild_target(
    target: &Target,
    config: &RebuildConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<RebuildReport, RebuildError> {
    let started = now_rfc3339();
    let plan = BuildPlan::from_build_info(&target.info)?;
    // Flags not recorded in the binary get the same checks as recorded ones.
    if let Some(user) = &config.user_ldflags {
        plan::check_ldflags(user, "given with --ldflags")?;
    }
    if let Some(hint) = &target.ldflags_hint {
        plan::check_ldflags(hint, "inferred by the attesting rebuilder")?;
    }
    let sandbox = Sandbox::new(config.sandbox)?;
    let toolchain = match (config.toolchains.find(&plan.go_version), &config.download) {
        (Ok(t), _) => t.clone(),
        (Err(_), Some((base, store))) => {
            let goroot = crate::download::install(&plan.go_version, base, store, progress)?;
            Toolchain {
                version: plan.go_version.clone(),
                goroot,
            }
        }
        (Err(e), None) => return Err(e.into()),
    };
    progress(&format!(
        "toolchain {} at {}",
        toolchain.version,
        toolchain.goroot.display()
    ));
    let toolchain_digest = DigestCache::new(config.digest_cache.clone()).digest(&toolchain)?;

    let scratch_dir = unique_dir(&config.scratch_root);
    let scratch = Scratch::create(&scratch_dir)?;
    let confined = Confined {
        sandbox,
        mounts: build::job_mounts(
            &toolchain,
            &scratch,
            &config.gocache,
            &config.modules,
            config.source.as_deref(),
        ),
        limits: config.limits.clone(),
    };
    let result = run_attempts(
        target, &plan, &toolchain, &scratch, config, &confined, progress,
    );
    if !config.keep_scratch {
        let _ = std::fs::remove_dir_all(&scratch_dir);
    }
    let (attempts, extra_env, winner, diagnosis) = result?;
    let best = winner.as_ref().map_or(0, |(i, _)| *i);
    Ok(RebuildReport {
        file_name: target.file_name.clone(),
        subject: target.subject.get(),
        rebuilt: attempts[best].sha256,
        reproduced: winner.is_some(),
        inferred: winner.and_then(|(_, c)| (!c.reason.is_empty()).then_some(c)),
        plan,
        toolchain_version: toolchain.version.clone(),
        toolchain_digest,
        extra_env,
        attempts,
        diagnosis,
        started,
        finished: now_rfc3339(),
        found_in: target.found_in.clone(),
    })
}

type AttemptsOutcome = (
    Vec<Attempt>,
    Vec<(String, String)>,
    Option<(usize, LdflagsCandidate)>,
    Option<Diagnosis>,
);

fn run_attempts(
    target: &Target,
    plan: &BuildPlan,
    toolchain: &Toolchain,
    scratch: &Scratch,
    config: &RebuildConfig,
    confined: &Confined,
    progress: &mut dyn FnMut(&str),
) -> Result<AttemptsOutcome, RebuildError> {
    let prepared = prepare_source(plan, toolchain, scratch, config, confined, progress)?;
    let relocation = relocate(
        target, plan, toolchain, scratch, &prepared, confined, progress,
    );
    let traits = target.original.as_deref().and_then(|o| LinkTraits::of(o));
    let mut candidates = ldflags_candidates(
        plan.ldflags.as_deref(),
        plan.trimpath,
        traits,
        config.user_ldflags.as_deref(),
    );
    if let (Some(hint), None) = (&target.ldflags_hint, &plan.ldflags) {
        candidates.retain(|c| c.ldflags.as_deref() != Some(hint.as_str()));
        candidates.insert(
            0,
            LdflagsCandidate {
                ldflags: Some(hint.clone()),
                reason: "inferred by the attesting rebuilder".to_string(),
            },
        );
    }
    let mut builder = Attempter {
        target,
        plan,
        toolchain,
        scratch,
        config,
        confined,
        prepared: &prepared,
        relocation: relocation.as_ref(),
        attempts: Vec::new(),
        first_output: None,
    };
    let won = |b: Attempter, c: LdflagsCandidate| {
        let k = b.attempts.len() - 1;
        Ok((b.attempts, prepared.extra_env.clone(), Some((k, c)), None))
    };
    // Searching needs the original (to compare) and an -ldflags Go left out.
    let mut searchable = plan.ldflags.is_none() && plan.trimpath && target.original.is_some();
    let mut link_only = None;
    let first_reason = candidates
        .first()
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    let base = candidates.first().and_then(|c| c.ldflags.clone());
    for candidate in candidates {
        match builder.try_ldflags(candidate.ldflags.as_deref(), progress)? {
            Tried::Identical => return won(builder, candidate),
            // Other candidates may still match exactly (`-s` and `-s -w` link
            // the same code since Go 1.22); search orders after them.
            Tried::LinkOnly => {
                link_only.get_or_insert(candidate);
            }
            // Inferred -ldflags only change the link; if the build info
            // already differs, no other candidate can help.
            Tried::InfoDiffers => {
                searchable = false;
                break;
            }
            Tried::Differs => {}
        }
    }
    let mut notes = Vec::new();
    if searchable {
        let started = std::time::Instant::now();
        let before = builder.attempts.len();
        let found = match &link_only {
            Some(c) => builder.search_orders(c, progress)?,
            None => builder.search_x(base.as_deref(), &first_reason, progress)?,
        };
        let (n, secs) = (
            builder.attempts.len() - before,
            started.elapsed().as_secs_f64(),
        );
        match found {
            Some(c) => return won(builder, c),
            None => notes.push(match &link_only {
                Some(c) => {
                    let tried: Vec<String> = builder.attempts[before..]
                        .iter()
                        .take(8)
                        .map(|a| format!("{:?}", a.ldflags.as_deref().unwrap_or("")))
                        .collect();
                    format!(
                        "Only the link step differs: with -ldflags {:?} the code and data equal the original's, but none of {n} orders tried ({secs:.1} s) gave the exact flag string (tried {}{}); pass the release's exact -ldflags with --ldflags.",
                        c.ldflags.as_deref().unwrap_or(""),
                        tried.join(", "),
                        if n > 8 { ", …" } else { "" }
                    )
                }
                None => format!(
                    "Hidden -X flags searched: {n} builds ({secs:.1} s) from values standing alone in the binary; none matched. Pass the release's -ldflags with --ldflags."
                ),
            }),
        }
    }
    let diagnosis = match (&target.original, builder.first_output) {
        (Some(original), Some(rebuilt)) => {
            let mut d = diagnose::diagnose(original, &rebuilt);
            d.advice.splice(0..0, notes);
            Some(d)
        }
        _ => None,
    };
    Ok((builder.attempts, prepared.extra_env, None, diagnosis))
}

/// The current UTC time as RFC 3339 (seconds precision).
pub fn now_rfc3339() -> String {
    rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_341_600), "2026-11-22T10:00:00Z");
    }
}
