//! A whole rebuild: read the binary, plan, find the toolchain, prepare the
//! source, build with each -ldflags candidate until one is bit-identical, and
//! diagnose if none is.

use crate::build::{self, go_command, BuildError, Confined, Limits, ModuleConfig, Scratch};
use crate::buildid;
use crate::buildinfo::{BuildInfo, BuildInfoError};
use crate::diagnose::{self, Diagnosis};
use crate::gover;
use crate::infer::{ldflags_candidates, LdflagsCandidate, LinkTraits};
use crate::paths::BuildPaths;
use crate::plan::{self, BuildPlan, PlanError, Source};
use crate::sandbox::{Sandbox, SandboxError, SandboxMode};
use crate::search;
use crate::toolchain::{DigestCache, Toolchain, ToolchainError, ToolchainStore};
use reprolog_proto::Hash;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

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
}

impl Target {
    /// Reads a binary from disk.
    pub fn from_file(path: &Path) -> Result<Target, RebuildError> {
        let original = std::fs::read(path).map_err(|source| RebuildError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let info = BuildInfo::from_binary(&original)?;
        let file_name = path.file_name().map_or_else(
            || "binary".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let original = Arc::new(original);
        Ok(Target {
            file_name,
            subject: Digest::compute(original.clone()),
            info,
            original: Some(original),
            ldflags_hint: None,
        })
    }
}

/// A binary's SHA-256, known or still being computed on another thread: a
/// rebuild needs it only to compare and report, so hashing the original runs
/// while the toolchain builds.
#[derive(Clone)]
pub struct Digest(Arc<Mutex<DigestState>>);

enum DigestState {
    Known(Hash),
    Hashing(std::thread::JoinHandle<Hash>, Arc<Vec<u8>>),
    /// Only while `get` swaps a finished thread for its result.
    Taken,
}

impl Digest {
    /// A digest already known.
    pub fn known(hash: Hash) -> Digest {
        Digest(Arc::new(Mutex::new(DigestState::Known(hash))))
    }

    /// Starts hashing `bytes` on another thread.
    pub fn compute(bytes: Arc<Vec<u8>>) -> Digest {
        let for_thread = bytes.clone();
        let handle = std::thread::spawn(move || Hash::of(&for_thread));
        Digest(Arc::new(Mutex::new(DigestState::Hashing(handle, bytes))))
    }

    /// The digest, waiting for the hashing thread if it is still running.
    pub fn get(&self) -> Hash {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let hash = match std::mem::replace(&mut *state, DigestState::Taken) {
            DigestState::Known(h) => h,
            // Hashing cannot panic; if the thread died anyway, hash here.
            DigestState::Hashing(handle, bytes) => {
                handle.join().unwrap_or_else(|_| Hash::of(&bytes))
            }
            DigestState::Taken => unreachable!("the lock is held while taken"),
        };
        *state = DigestState::Known(hash);
        hash
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            DigestState::Known(h) => write!(f, "Digest({h})"),
            _ => f.write_str("Digest(computing)"),
        }
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
        limits: config.limits,
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

/// A build without -trimpath repeated at the paths it ran in (`paths.rs`):
/// inside the sandbox the toolchain, the module cache and the checkout are
/// bound where the original build had them.
struct Relocation {
    confined: Confined,
    /// The toolchain as seen inside: GOROOT at the original's path.
    toolchain: Toolchain,
    module_cache: Option<PathBuf>,
    /// The working directory inside, for a checkout.
    dir: Option<PathBuf>,
}

/// The relocation a build without -trimpath needs, when its binary names the
/// paths and the sandbox can bind them.
fn relocate(
    target: &Target,
    plan: &BuildPlan,
    toolchain: &Toolchain,
    scratch: &Scratch,
    prepared: &Prepared,
    confined: &Confined,
    progress: &mut dyn FnMut(&str),
) -> Option<Relocation> {
    if plan.trimpath || !confined.sandbox.is_confined() {
        return None;
    }
    let original = target.original.as_deref()?;
    let rel = plan
        .main_module
        .as_ref()
        .and_then(|m| plan.path.strip_prefix(m.path.as_str()))
        .unwrap_or("")
        .trim_start_matches('/');
    let paths = BuildPaths::of(original, rel);
    if paths.is_empty() {
        return None;
    }
    let mut mounts = confined.mounts.clone();
    let mut inside = toolchain.clone();
    let mut said = Vec::new();
    if let Some(goroot) = &paths.goroot {
        mounts
            .mapped
            .push((toolchain.goroot.clone(), goroot.clone(), false));
        inside.goroot = goroot.clone();
        said.push(format!("GOROOT at {}", goroot.display()));
    }
    // Dependencies whose code was all inlined leave no file name behind, yet
    // their directory is part of the main package's action ID: guess the
    // module cache from where the source was (GOPATH defaults to ~/go).
    let guessed = (paths.module_cache.is_none() && !plan.deps.is_empty())
        .then(|| {
            paths
                .module_root
                .as_deref()
                .and_then(crate::paths::guess_module_cache)
        })
        .flatten();
    let module_cache = paths.module_cache.clone().or(guessed.clone());
    if let Some(cache) = &module_cache {
        let host = scratch.gopath().join("pkg/mod");
        let _ = std::fs::create_dir_all(&host);
        mounts.mapped.push((host, cache.clone(), true));
        let how = if guessed.is_some() { "guessed" } else { "at" };
        said.push(format!("module cache {how} {}", cache.display()));
    }
    let mut dir = None;
    if let (Some(root), Source::Vcs { .. }) = (&paths.module_root, &plan.source) {
        let checkout = scratch.root.join("src");
        let in_repo = prepared.dir.strip_prefix(&checkout).ok()?;
        let at = crate::paths::strip_suffix(root, in_repo)?;
        mounts.mapped.push((checkout, at.clone(), true));
        dir = Some(at.join(in_repo));
        said.push(format!("source at {}", root.display()));
    }
    progress(&format!(
        "built without -trimpath: rebuilding with {}",
        said.join(", ")
    ));
    Some(Relocation {
        confined: Confined {
            mounts,
            ..confined.clone()
        },
        toolchain: inside,
        module_cache,
        dir,
    })
}

/// How one build compared with the original.
enum Tried {
    Identical,
    /// Equal once the Go and GNU build IDs are masked: only the -ldflags
    /// string (its order or spelling) differs.
    LinkOnly,
    /// The build info differs: not an -ldflags matter.
    InfoDiffers,
    Differs,
}

/// Runs the builds of one job and keeps what they produced.
struct Attempter<'a> {
    target: &'a Target,
    plan: &'a BuildPlan,
    toolchain: &'a Toolchain,
    scratch: &'a Scratch,
    config: &'a RebuildConfig,
    confined: &'a Confined,
    prepared: &'a Prepared,
    relocation: Option<&'a Relocation>,
    attempts: Vec<Attempt>,
    /// The first differing output, for the diagnosis.
    first_output: Option<Vec<u8>>,
}

impl Attempter<'_> {
    /// Builds with `ldflags` and compares the result with the subject.
    fn try_ldflags(
        &mut self,
        ldflags: Option<&str>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Tried, RebuildError> {
        let (plan, scratch) = (self.plan, self.scratch);
        let out = scratch
            .out()
            .join(format!("attempt-{}", self.attempts.len()));
        progress(&format!(
            "building {} with {} (-ldflags {})",
            plan.path,
            self.toolchain.version,
            ldflags.map_or("none".to_string(), |l| format!("{l:?}"))
        ));
        let (toolchain, confined) = match self.relocation {
            Some(r) => (&r.toolchain, &r.confined),
            None => (self.toolchain, self.confined),
        };
        let mut cmd = go_command(
            toolchain,
            plan,
            scratch,
            &self.config.gocache,
            &self.config.modules,
        );
        for (k, v) in &self.prepared.extra_env {
            cmd.env(k, v);
        }
        let built = self.prepared.build(&mut cmd, plan, ldflags, &out);
        if let Some(r) = self.relocation {
            if let Some(cache) = &r.module_cache {
                cmd.env("GOMODCACHE", cache);
            }
            if let Some(dir) = &r.dir {
                cmd.current_dir(dir);
            }
        }
        let (_, took) = confined.run(cmd, &format!("go build {}", plan.path))?;
        let built = built.resolve(scratch, &out)?;
        let bytes = std::fs::read(&built).map_err(|source| RebuildError::Read {
            path: built.clone(),
            source,
        })?;
        let _ = std::fs::remove_file(&built);
        // Comparing bytes is cheaper than hashing them; equal bytes have the
        // subject's digest.
        let subject = self.target.subject.get();
        let digest = match &self.target.original {
            Some(original) if **original == bytes => subject,
            _ => Hash::of(&bytes),
        };
        progress(&format!(
            "  sha256 {digest} in {:.1}s{}",
            took.as_secs_f64(),
            if digest == subject { ": identical" } else { "" }
        ));
        self.attempts.push(Attempt {
            ldflags: ldflags.map(str::to_string),
            sha256: digest,
            seconds: took.as_secs_f64(),
        });
        if digest == subject {
            return Ok(Tried::Identical);
        }
        let same_info = BuildInfo::from_binary(&bytes).map(|i| i.modinfo_text())
            == Ok(self.target.info.modinfo_text());
        let link_only = self
            .target
            .original
            .as_deref()
            .is_some_and(|o| buildid::equal_but_build_ids(o, &bytes));
        if self.first_output.is_none() {
            self.first_output = Some(bytes);
        }
        Ok(if !same_info {
            Tried::InfoDiffers
        } else if link_only {
            Tried::LinkOnly
        } else {
            Tried::Differs
        })
    }

    fn budget_left(&self) -> usize {
        search::MAX_LINKS.saturating_sub(self.attempts.len())
    }

    /// Relinks with the other orders of `candidate`'s flags.
    fn search_orders(
        &mut self,
        candidate: &LdflagsCandidate,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<LdflagsCandidate>, RebuildError> {
        let given = candidate.ldflags.clone().unwrap_or_default();
        let orders = search::orders(&search::units(&given), self.budget_left() + 1);
        progress(&format!(
            "code and data match with -ldflags {given:?}; searching {} flag orders by relinking",
            orders.len().saturating_sub(1)
        ));
        for (n, order) in orders.iter().enumerate().skip(1) {
            if self.budget_left() == 0 {
                break;
            }
            if let Tried::Identical = self.try_ldflags(Some(order), progress)? {
                let why = if candidate.reason.is_empty() {
                    "not recorded under -trimpath (go.dev/issue/52372)".to_string()
                } else {
                    candidate.reason.clone()
                };
                return Ok(Some(LdflagsCandidate {
                    ldflags: Some(order.clone()),
                    reason: format!(
                        "{why}; the code and data matched with {given:?} and the exact order was found by relinking ({} of {} orders tried)",
                        n + 1,
                        orders.len()
                    ),
                }));
            }
        }
        Ok(None)
    }

    /// Looks for hidden `-X` flags: values standing alone in the binary
    /// paired with string variables of the source (see `search.rs`).
    fn search_x(
        &mut self,
        base: Option<&str>,
        base_reason: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<LdflagsCandidate>, RebuildError> {
        let Some(original) = self.target.original.clone() else {
            return Ok(None);
        };
        let Some((module_root, module_path, main_dir)) = self.source_tree() else {
            return Ok(None);
        };
        let vars = search::settable_vars(&module_root, &module_path, &main_dir);
        let revision = match &self.plan.source {
            Source::Vcs { revision, .. } => Some(revision.as_str()),
            _ => None,
        };
        let version = self.plan.main_module.as_ref().map(|m| m.version.as_str());
        let values =
            search::classify_values(&search::standalone_strings(&original), version, revision);
        let sets = search::x_assignments(&vars, &values, 40);
        progress(&format!(
            "searching hidden -X flags: {} string variables in the source, {} candidate sets from the binary",
            vars.len(),
            sets.len()
        ));
        let base_units: Vec<Vec<String>> = search::units(base.unwrap_or_default());
        for set in sets {
            if self.budget_left() == 0 {
                break;
            }
            let mut units = base_units.clone();
            units.extend(
                set.iter()
                    .map(|(x, v)| vec!["-X".to_string(), format!("{}={v}", x.symbol)]),
            );
            let ldflags = search::join(&units);
            let described: Vec<String> = set
                .iter()
                .map(|(x, v)| format!("{}={v}", x.symbol))
                .collect();
            let candidate = LdflagsCandidate {
                ldflags: Some(ldflags.clone()),
                reason: format!(
                    "{base_reason}; -X values found standing alone in the binary's read-only data and matched by name to string variables of the source ({})",
                    described.join(", ")
                ),
            };
            match self.try_ldflags(Some(&ldflags), progress)? {
                Tried::Identical => return Ok(Some(candidate)),
                Tried::LinkOnly => return self.search_orders(&candidate, progress),
                Tried::InfoDiffers | Tried::Differs => {}
            }
        }
        Ok(None)
    }

    /// The main module's root, its path and the main package's directory, as
    /// the build saw them.
    fn source_tree(&self) -> Option<(PathBuf, String, PathBuf)> {
        let module = self.plan.main_module.as_ref()?;
        let root = match &self.plan.source {
            Source::Vcs { .. } => self.prepared.dir.clone(),
            Source::Module { path, version, .. } => self.scratch.gopath().join("pkg/mod").join(
                format!("{}@{}", escape_module(path), escape_module(version)),
            ),
            Source::Distribution => return None,
            Source::Unidentified { .. } => self.prepared.dir.clone(),
        };
        let rel = self
            .plan
            .path
            .strip_prefix(module.path.as_str())
            .unwrap_or("")
            .trim_start_matches('/');
        let main_dir = if rel.is_empty() {
            root.clone()
        } else {
            root.join(rel)
        };
        Some((root, module.path.clone(), main_dir))
    }
}

/// The module cache's case escaping (golang.org/x/mod/module.EscapePath):
/// each upper-case letter becomes `!` and its lower case.
fn escape_module(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The source, ready to build.
struct Prepared {
    /// Directory to run `go` in.
    dir: PathBuf,
    /// What to build: a package path, `./rel` or `path@version`.
    target: String,
    install: bool,
    extra_env: Vec<(String, String)>,
}

/// Where the built binary ends up.
enum Built {
    At(PathBuf),
    /// `go install` output in GOBIN or GOPATH/bin[/goos_goarch].
    Installed {
        name: String,
    },
}

impl Built {
    fn resolve(self, scratch: &Scratch, out: &Path) -> Result<PathBuf, RebuildError> {
        match self {
            Built::At(p) => p
                .is_file()
                .then_some(p.clone())
                .ok_or(RebuildError::NoOutput(p)),
            Built::Installed { name } => {
                let bin = scratch.gopath().join("bin");
                let candidates = [out.join(&name), bin.join(&name)];
                let cross = std::fs::read_dir(&bin)
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|e| e.path().join(&name));
                candidates
                    .into_iter()
                    .chain(cross)
                    .find(|p| p.is_file())
                    .ok_or(RebuildError::NoOutput(bin))
            }
        }
    }
}

impl Prepared {
    fn build(
        &self,
        cmd: &mut Command,
        plan: &BuildPlan,
        ldflags: Option<&str>,
        out: &Path,
    ) -> Built {
        cmd.current_dir(&self.dir);
        cmd.arg(if self.install { "install" } else { "build" });
        cmd.args(&plan.flags);
        if let Some(l) = ldflags {
            cmd.arg(format!("-ldflags={l}"));
        }
        if self.install {
            // GOBIN works only for native builds; cross builds land in GOPATH/bin/goos_goarch.
            let _ = std::fs::create_dir_all(out);
            if !is_cross(plan) {
                cmd.env("GOBIN", out);
            }
            cmd.arg(&self.target);
            let name = plan.path.rsplit('/').next().unwrap_or("main").to_string();
            let name = if plan.env_var("GOOS") == Some("windows") {
                format!("{name}.exe")
            } else {
                name
            };
            Built::Installed { name }
        } else {
            cmd.arg("-o").arg(out).arg(&self.target);
            Built::At(out.to_path_buf())
        }
    }
}

fn is_cross(plan: &BuildPlan) -> bool {
    let host_os = std::env::consts::OS;
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    plan.env_var("GOOS").is_some_and(|o| o != host_os)
        || plan.env_var("GOARCH").is_some_and(|a| a != host_arch)
}

fn prepare_source(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    scratch: &Scratch,
    config: &RebuildConfig,
    confined: &Confined,
    progress: &mut dyn FnMut(&str),
) -> Result<Prepared, RebuildError> {
    match &plan.source {
        Source::Distribution => {
            let dir = toolchain.goroot.join("src");
            let extra_env =
                module_mode_for_distribution(plan, toolchain, scratch, config, confined, &dir);
            if !extra_env.is_empty() {
                progress("the original's DefaultGODEBUG matches a GOPATH-mode build: using GO111MODULE=off");
            }
            Ok(Prepared {
                dir,
                target: plan.path.clone(),
                install: false,
                extra_env,
            })
        }
        Source::Module { path, version, .. } => {
            progress(&format!(
                "fetching {}@{version} through GOPROXY={}",
                plan.path,
                config.modules.goproxy.as_deref().unwrap_or("off")
            ));
            let _ = path;
            Ok(Prepared {
                dir: scratch.work(),
                target: format!("{}@{version}", plan.path),
                install: true,
                extra_env: vec![],
            })
        }
        Source::Unidentified { module } => {
            let dir = config
                .source
                .as_ref()
                .ok_or_else(|| RebuildError::SourceUnidentified(module.clone()))?;
            progress(&format!(
                "the binary does not identify its source (main module {module} is (devel), no VCS revision): building from {} as given; a match shows only that this directory builds the binary",
                dir.display()
            ));
            let module_root =
                find_module_root(dir, module).ok_or_else(|| RebuildError::NoModuleRoot {
                    module: module.clone(),
                    source_dir: dir.display().to_string(),
                })?;
            Ok(Prepared {
                target: main_package_target(&plan.path, module),
                dir: module_root,
                install: false,
                extra_env: vec![],
            })
        }
        Source::Vcs {
            vcs,
            revision,
            module,
        } => {
            if vcs != "git" {
                return Err(RebuildError::UnsupportedVcs(vcs.clone()));
            }
            let checkout = scratch.root.join("src");
            let source = match &config.source {
                Some(source) => {
                    progress(&format!("cloning {} at {revision}", source.display()));
                    git_checkout(source, &checkout, revision, scratch, confined)?;
                    let state = WorkingTree::read(source, scratch, confined);
                    if config.source_from_history {
                        for note in state.notes(source, revision) {
                            progress(&note);
                        }
                    } else {
                        state.require_exact(source, revision)?;
                    }
                    source.clone()
                }
                // No --source: the module's own repository, through the cache.
                None => {
                    let url = crate::vcs::locate(module, &config.vcs_mirrors)?;
                    let fetched = crate::vcs::fetch(
                        &url,
                        revision,
                        &config.source_cache,
                        confined,
                        progress,
                    )?;
                    let mut reading = confined.clone();
                    reading.mounts.read_only.push(fetched.clone());
                    progress(&format!("checking out {revision} of {url}"));
                    git_checkout(&fetched, &checkout, revision, scratch, &reading)?;
                    fetched
                }
            };
            // Go before 1.24 stamps a module built inside a git submodule with
            // the outer repository's revision: the module is then in a
            // submodule of this checkout.
            let module_root = match find_module_root(&checkout, module) {
                Some(root) => Some(root),
                None if checkout.join(".gitmodules").is_file() => {
                    progress(
                        "the module is not in the checkout itself: checking out its git submodules",
                    );
                    // Local submodule URLs only in a repository the user named:
                    // one fetched for a binary may point anywhere on this host.
                    let local_urls = config.source.is_some();
                    init_submodules(&source, &checkout, local_urls, scratch, confined)?;
                    find_module_root(&checkout, module)
                }
                None => None,
            };
            let module_root = module_root.ok_or_else(|| RebuildError::NoModuleRoot {
                module: module.clone(),
                source_dir: source.display().to_string(),
            })?;
            let go_mod = module_root.join("go.mod");
            let newer = gover::newer_requirement(&go_mod, &plan.go_version).map_err(|e| {
                RebuildError::Read {
                    path: go_mod.clone(),
                    source: e,
                }
            })?;
            if let Some(line) = newer {
                return Err(RebuildError::GoModNeedsNewerGo {
                    module: module.clone(),
                    line,
                    toolchain: plan.go_version.clone(),
                });
            }
            Ok(Prepared {
                dir: module_root,
                target: main_package_target(&plan.path, module),
                install: false,
                extra_env: vec![],
            })
        }
    }
}

/// The main package as `go build` names it from the module root: `.` or `./rel`.
fn main_package_target(path: &str, module: &str) -> String {
    let rel = path
        .strip_prefix(module)
        .unwrap_or("")
        .trim_start_matches('/');
    if rel.is_empty() {
        ".".to_string()
    } else {
        format!("./{rel}")
    }
}

/// Go 1.22 distributions built their commands in GOPATH mode; the DefaultGODEBUG
/// recorded in the binary tells which mode reproduces it. The answer depends only
/// on the toolchain, the package and the recorded value, so it is cached beside
/// the toolchain digests.
fn module_mode_for_distribution(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    scratch: &Scratch,
    config: &RebuildConfig,
    confined: &Confined,
    dir: &Path,
) -> Vec<(String, String)> {
    let Some(want) = &plan.default_godebug else {
        return vec![];
    };
    let cache_path = config.digest_cache.with_file_name("module-modes.json");
    let key = format!(
        "{}|{}|{}|{want}",
        toolchain.goroot.display(),
        toolchain.version,
        plan.path
    );
    let mut cache: std::collections::BTreeMap<String, bool> = std::fs::read(&cache_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(&gopath_mode) = cache.get(&key) {
        return gopath_mode_env(gopath_mode);
    }
    let godebug = |extra: Option<(&str, &str)>| -> Option<String> {
        let mut cmd = go_command(toolchain, plan, scratch, &config.gocache, &config.modules);
        if let Some((k, v)) = extra {
            cmd.env(k, v);
        }
        cmd.current_dir(dir)
            .args(["list", "-f", "{{.DefaultGODEBUG}}", &plan.path]);
        let (out, _) = confined.run(cmd, "go list").ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_string())
    };
    // When neither mode lists the recorded value (newer releases leave the
    // field empty for commands), build in module mode and let the comparison speak.
    let gopath_mode = godebug(None).as_deref() != Some(want.as_str())
        && godebug(Some(("GO111MODULE", "off"))).as_deref() == Some(want.as_str());
    cache.insert(key, gopath_mode);
    // A failed cache write only costs the probe next time.
    let _ = crate::statefile::save_json(&cache_path, &cache);
    gopath_mode_env(gopath_mode)
}

fn gopath_mode_env(gopath_mode: bool) -> Vec<(String, String)> {
    if gopath_mode {
        vec![("GO111MODULE".into(), "off".into())]
    } else {
        vec![]
    }
}

fn git(scratch: &Scratch) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", scratch.root.join("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// The state of `--source`'s working tree: its HEAD and whether tracked files
/// have local changes. The build uses a clone at the recorded revision, so
/// neither reaches it; they matter because the user believes that tree is what
/// gets checked. Read with `git` in the scratch environment; what git cannot
/// say (a bare repository has no working tree) counts as nothing to report.
struct WorkingTree {
    head: Option<String>,
    dirty: bool,
}

impl WorkingTree {
    fn read(source: &Path, scratch: &Scratch, confined: &Confined) -> WorkingTree {
        let git_out = |args: &[&str]| {
            let mut cmd = git(scratch);
            cmd.arg("--no-optional-locks")
                .arg("-C")
                .arg(source)
                .args(args);
            confined
                .run(cmd, "git")
                .ok()
                .map(|(out, _)| String::from_utf8_lossy(&out).trim().to_string())
        };
        WorkingTree {
            head: git_out(&["rev-parse", "HEAD"]),
            // Untracked files are left out: build outputs and editor files are
            // common, and like every local change they never reach the build,
            // which works on a clone of the recorded revision.
            dirty: git_out(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
        }
    }

    /// Refuses a tree whose HEAD is not `revision` or that has local changes:
    /// a user who points at a checkout believes that tree is what gets checked.
    fn require_exact(&self, source: &Path, revision: &str) -> Result<(), RebuildError> {
        let source_dir = source.display().to_string();
        match &self.head {
            Some(head) if head != revision => Err(RebuildError::SourceNotAtRevision {
                source_dir,
                head: head.clone(),
                revision: revision.to_string(),
            }),
            _ if self.dirty => Err(RebuildError::SourceDirty { source_dir }),
            _ => Ok(()),
        }
    }

    /// The same facts as progress notes, for `--from-history` runs.
    fn notes(&self, source: &Path, revision: &str) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(head) = self.head.as_ref().filter(|h| *h != revision) {
            notes.push(format!(
                "note: {} is at {head}, not the recorded revision; building the recorded revision from its history",
                source.display()
            ));
        }
        if self.dirty {
            notes.push(format!(
                "note: {} has uncommitted changes; they are not part of this rebuild",
                source.display()
            ));
        }
        notes
    }
}

fn git_checkout(
    source: &Path,
    checkout: &Path,
    revision: &str,
    scratch: &Scratch,
    confined: &Confined,
) -> Result<(), RebuildError> {
    let mut clone = git(scratch);
    clone
        .args([
            "-c",
            "protocol.file.allow=always",
            "clone",
            "--quiet",
            "--no-checkout",
            "--no-hardlinks",
        ])
        .arg(source)
        .arg(checkout);
    confined.run(clone, "git clone")?;
    let mut verify = git(scratch);
    verify
        .arg("-C")
        .arg(checkout)
        .args(["cat-file", "-e", &format!("{revision}^{{commit}}")]);
    if confined.run(verify, "git cat-file").is_err() {
        return Err(RebuildError::MissingRevision {
            revision: revision.to_string(),
            source_dir: source.display().to_string(),
        });
    }
    let mut co = git(scratch);
    co.arg("-C").arg(checkout).args([
        "-c",
        "advice.detachedHead=false",
        "checkout",
        "--quiet",
        "--detach",
        revision,
    ]);
    confined.run(co, "git checkout")?;
    Ok(())
}

/// Checks out the submodules of `checkout` (a clone of `source`), confined:
/// https URLs open the network; with `local_urls`, local ones (relative ones
/// resolved against `source`) are shown read-only, else refused like every
/// other protocol.
fn init_submodules(
    source: &Path,
    checkout: &Path,
    local_urls: bool,
    scratch: &Scratch,
    confined: &Confined,
) -> Result<(), RebuildError> {
    let gitmodules = std::fs::read_to_string(checkout.join(".gitmodules")).unwrap_or_default();
    let mut job = confined.clone();
    for url in gitmodules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("url"))
        .filter_map(|l| l.trim_start().strip_prefix('='))
        .map(str::trim)
    {
        if url.starts_with("https://") {
            job.mounts.network = true;
        } else if local_urls
            && (url.starts_with('/') || url.starts_with("../") || url.starts_with("./"))
        {
            let path = source.join(url);
            job.mounts
                .read_only
                .push(std::fs::canonicalize(&path).unwrap_or(path));
        }
    }
    let mut cmd = git(scratch);
    cmd.arg("-C")
        .arg(checkout)
        .args(crate::vcs::ONLY_HTTPS_AND_FILES);
    if !local_urls {
        cmd.args(["-c", "protocol.file.allow=never"]);
    }
    cmd.args(["submodule", "update", "--init", "--recursive", "--quiet"]);
    job.run(cmd, "git submodule update")?;
    Ok(())
}

/// The directory below `root` whose go.mod declares `module`.
fn find_module_root(root: &Path, module: &str) -> Option<PathBuf> {
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        if let Ok(text) = std::fs::read_to_string(dir.join("go.mod")) {
            let declared = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("module "))
                .map(|m| m.trim().trim_matches('"'));
            if declared == Some(module) {
                return Some(dir);
            }
        }
        if depth < 6 {
            for e in std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
            {
                let name = e.file_name();
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false)
                    && name != ".git"
                    && name != "vendor"
                    && name != "testdata"
                {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
    None
}

fn unique_dir(root: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    root.join(format!("job-{}-{nanos}", std::process::id()))
}

/// The current UTC time as RFC 3339 (seconds precision).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
