//! The attempt loop's worker: runs the builds of one rebuild (each -ldflags
//! candidate, relinks with searched flag orders, relocated non-trimpath
//! builds) and keeps what each produced.

use crate::build::{go_command, Confined};
use crate::buildid;
use crate::buildinfo::BuildInfo;
use crate::job::{Attempt, Job, RebuildError, Target};
use crate::link_traits::LdflagsCandidate;
use crate::paths::BuildPaths;
use crate::plan::Source;
use crate::search;
use crate::source::{escape_module, Prepared};
use crate::toolchain::Toolchain;
use reprolog_proto::Hash;
use std::path::PathBuf;

/// A build without -trimpath repeated at the paths it ran in (`paths.rs`):
/// inside the sandbox the toolchain, the module cache and the checkout are
/// bound where the original build had them.
pub(crate) struct Relocation {
    pub(crate) confined: Confined,
    /// The toolchain as seen inside: GOROOT at the original's path.
    pub(crate) toolchain: Toolchain,
    pub(crate) module_cache: Option<PathBuf>,
    /// The working directory inside, for a checkout.
    pub(crate) dir: Option<PathBuf>,
}

/// The relocation a build without -trimpath needs, when its binary names the
/// paths and the sandbox can bind them.
pub(crate) fn relocate(
    target: &Target,
    job: &Job,
    prepared: &Prepared,
    progress: &mut dyn FnMut(&str),
) -> Option<Relocation> {
    let Job {
        plan,
        toolchain,
        scratch,
        confined,
        ..
    } = *job;
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
pub(crate) enum Tried {
    Identical,
    /// Equal once the Go and GNU build IDs are masked: only the -ldflags
    /// string (its order or spelling) differs.
    LinkOnly,
    /// The build info differs: not an -ldflags matter.
    InfoDiffers,
    Differs,
}

/// Runs the builds of one job and keeps what they produced.
pub(crate) struct Attempter<'a> {
    pub(crate) target: &'a Target,
    pub(crate) job: Job<'a>,
    pub(crate) prepared: &'a Prepared,
    pub(crate) relocation: Option<&'a Relocation>,
    pub(crate) attempts: Vec<Attempt>,
    /// The first differing output, for the diagnosis.
    pub(crate) first_output: Option<Vec<u8>>,
}

impl Attempter<'_> {
    /// Builds with `ldflags` and compares the result with the subject.
    pub(crate) fn try_ldflags(
        &mut self,
        ldflags: Option<&str>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Tried, RebuildError> {
        let (plan, scratch) = (self.job.plan, self.job.scratch);
        let out = scratch
            .out()
            .join(format!("attempt-{}", self.attempts.len()));
        progress(&format!(
            "building {} with {} (-ldflags {})",
            plan.path,
            self.job.toolchain.version,
            ldflags.map_or("none".to_string(), |l| format!("{l:?}"))
        ));
        let (toolchain, confined) = match self.relocation {
            Some(r) => (&r.toolchain, &r.confined),
            None => (self.job.toolchain, self.job.confined),
        };
        let mut cmd = go_command(
            toolchain,
            plan,
            scratch,
            &self.job.config.gocache,
            &self.job.config.modules,
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

    pub(crate) fn budget_left(&self) -> usize {
        search::MAX_LINKS.saturating_sub(self.attempts.len())
    }

    /// Relinks with the other orders of `candidate`'s flags.
    pub(crate) fn search_orders(
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
    pub(crate) fn search_x(
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
        let revision = match &self.job.plan.source {
            Source::Vcs { revision, .. } => Some(revision.as_str()),
            _ => None,
        };
        let version = self
            .job
            .plan
            .main_module
            .as_ref()
            .map(|m| m.version.as_str());
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
    pub(crate) fn source_tree(&self) -> Option<(PathBuf, String, PathBuf)> {
        let module = self.job.plan.main_module.as_ref()?;
        let root = match &self.job.plan.source {
            Source::Vcs { .. } => self.prepared.dir.clone(),
            Source::Module { path, version, .. } => self.job.scratch.gopath().join("pkg/mod").join(
                format!("{}@{}", escape_module(path), escape_module(version)),
            ),
            Source::Distribution => return None,
            Source::Unidentified { .. } => self.prepared.dir.clone(),
        };
        let rel = self
            .job
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
