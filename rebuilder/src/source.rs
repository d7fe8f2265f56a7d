//! The source of a rebuild, made ready to build: a module version from the
//! proxy, a git revision (cloned, submodules confined), the Go distribution's
//! own tree, and the checks on a user's `--source` working tree.

use crate::build::{Confined, Scratch};
use crate::gopath::module_mode_for_distribution;
use crate::gover;
use crate::job::{Job, RebuildError};
use crate::plan::{BuildPlan, Source};
use crate::rebuild::RebuildConfig;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The module cache's case escaping (golang.org/x/mod/module.EscapePath):
/// each upper-case letter becomes `!` and its lower case.
pub(crate) fn escape_module(s: &str) -> String {
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
pub(crate) struct Prepared {
    /// Directory to run `go` in.
    pub(crate) dir: PathBuf,
    /// What to build: a package path, `./rel` or `path@version`.
    pub(crate) target: String,
    pub(crate) install: bool,
    pub(crate) extra_env: Vec<(String, String)>,
}

/// Where the built binary ends up.
pub(crate) enum Built {
    At(PathBuf),
    /// `go install` output in GOBIN or GOPATH/bin[/goos_goarch].
    Installed {
        name: String,
    },
}

impl Built {
    pub(crate) fn resolve(self, scratch: &Scratch, out: &Path) -> Result<PathBuf, RebuildError> {
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
    pub(crate) fn build(
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

pub(crate) fn is_cross(plan: &BuildPlan) -> bool {
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

/// Where the repository of a git-stamped main module is, when it is to be
/// fetched (no `--source`); `None` for every other source.
pub(crate) fn locate_source(
    plan: &BuildPlan,
    config: &RebuildConfig,
) -> Result<Option<String>, RebuildError> {
    match (&plan.source, &config.source) {
        (Source::Vcs { vcs, module, .. }, None) if vcs == "git" => Ok(Some(crate::vcs::locate(
            module.as_str(),
            &config.vcs_mirrors,
            &config.egress,
        )?)),
        _ => Ok(None),
    }
}

pub(crate) fn prepare_source(
    job: &Job,
    progress: &mut dyn FnMut(&str),
) -> Result<Prepared, RebuildError> {
    let Job {
        plan,
        toolchain,
        scratch,
        config,
        ..
    } = *job;
    match &plan.source {
        Source::Distribution => {
            let dir = toolchain.goroot.join("src");
            let extra_env = module_mode_for_distribution(job, &dir);
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
            refuse_newer_go(&module_root, module, plan)?;
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
        } if vcs == "git" => prepare_git(job, revision, module, progress),
        Source::Vcs { vcs, .. } => Err(RebuildError::UnsupportedVcs(vcs.clone())),
    }
}

/// A git-stamped binary's source: `--source`'s history, or the module's own
/// repository fetched into the cache (egress-checked), checked out at the
/// recorded revision; the module found in it or in its submodules.
fn prepare_git(
    job: &Job,
    revision: &str,
    module: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Prepared, RebuildError> {
    let Job {
        plan,
        scratch,
        config,
        confined,
        ..
    } = *job;
    let checkout = scratch.root.join("src");
    let source = match &config.source {
        Some(source) => {
            progress(&format!("cloning {} at {revision}", source.display()));
            match git_checkout(source, &checkout, revision, scratch, confined) {
                Err(missing @ RebuildError::MissingRevision { .. })
                    if gover::stamps_submodule_revision(&plan.go_version) =>
                {
                    progress(&format!(
                        "{revision} is not in {}: {} stamps a module built inside a git submodule with the submodule's own revision, so trying the module's own repository",
                        source.display(),
                        plan.go_version
                    ));
                    let _ = std::fs::remove_dir_all(&checkout);
                    match fetch_own(job, revision, module, &checkout, progress) {
                        Ok(fetched) => fetched,
                        // Not there either: the source given is what lacks it.
                        Err(_) => return Err(missing),
                    }
                }
                checked_out => {
                    checked_out?;
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
            }
        }
        // No --source: the module's own repository, through the cache.
        None => fetch_own(job, revision, module, &checkout, progress)?,
    };
    // Go 1.26 and earlier stamp a module built inside a git submodule with
    // the outer repository's revision (measured: `gover::stamps_submodule_revision`):
    // the module is then in a submodule of this checkout.
    let module_root = match find_module_root(&checkout, module) {
        Some(root) => Some(root),
        None if checkout.join(".gitmodules").is_file() => {
            progress("the module is not in the checkout itself: checking out its git submodules");
            // Local submodule URLs only in a repository the user named:
            // one fetched for a binary may point anywhere on this host.
            let local_urls = config.source.is_some();
            let submodules = Submodules {
                local_urls,
                egress: &config.egress,
                scratch,
                confined,
                module,
                mirrors: &config.vcs_mirrors,
            };
            submodules.update(&source, &checkout, 0)?;
            find_module_root(&checkout, module)
        }
        None => None,
    };
    let module_root = module_root.ok_or_else(|| RebuildError::NoModuleRoot {
        module: module.to_string(),
        source_dir: source.display().to_string(),
    })?;
    refuse_newer_go(&module_root, module, plan)?;
    if let Some(version) = plan.main_module.as_ref().map(|m| m.version.as_str()) {
        set_tags(&checkout, &module_root, revision, version, job, progress)?;
    }
    Ok(Prepared {
        dir: module_root,
        target: main_package_target(&plan.path, module),
        install: false,
        extra_env: vec![],
    })
}

/// The module's own repository (found before the toolchain, or now),
/// fetched into the cache (egress-checked) and checked out at `revision`
/// into `checkout`; returns the fetched repository.
fn fetch_own(
    job: &Job,
    revision: &str,
    module: &str,
    checkout: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, RebuildError> {
    let config = job.config;
    let url = match job.source_url {
        Some(url) => url.to_string(),
        None => crate::vcs::locate(module, &config.vcs_mirrors, &config.egress)?,
    };
    let fetched = crate::vcs::fetch(
        module,
        &url,
        revision,
        &config.source_cache,
        job.confined,
        &config.egress,
        progress,
    )?;
    let mut reading = job.confined.clone();
    reading.mounts.read_only.push(fetched.clone());
    progress(&format!("checking out {revision} of {url}"));
    git_checkout(&fetched, checkout, revision, job.scratch, &reading)?;
    Ok(fetched)
}

/// Sets the scratch clone's tags to those the recorded main-module
/// `version` implies (see `stamp.rs`), so tags added or moved after the
/// build do not change the version Go stamps. Leaves them alone when the
/// version says nothing of tags or the module is in a submodule.
fn set_tags(
    checkout: &Path,
    module_root: &Path,
    revision: &str,
    version: &str,
    job: &Job,
    progress: &mut dyn FnMut(&str),
) -> Result<(), RebuildError> {
    let Some(dir) = crate::stamp::dir_in_repo(checkout, module_root) else {
        return Ok(());
    };
    let Some(tags) = crate::stamp::implied_tags(version, &dir) else {
        return Ok(());
    };
    let git_here = |args: &[&str]| {
        let mut cmd = git(job.scratch);
        cmd.arg("-C").arg(checkout).args(args);
        cmd
    };
    let listed = job
        .confined
        .run(git_here(&["tag", "--list"]), "git tag --list")?
        .0;
    let existing: Vec<String> = String::from_utf8_lossy(&listed)
        .lines()
        .map(str::to_string)
        .collect();
    let implied: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
    for chunk in existing.chunks(256) {
        let mut args = vec!["tag", "-d"];
        args.extend(chunk.iter().map(String::as_str));
        job.confined.run(git_here(&args), "git tag -d")?;
    }
    for (tag, at) in &tags {
        let target = match at {
            crate::stamp::TagAt::Commit => revision.to_string(),
            crate::stamp::TagAt::Parent => format!("{revision}^"),
        };
        if job
            .confined
            .run(git_here(&["tag", tag, &target]), "git tag")
            .is_err()
        {
            // A root commit has no parent to carry the base: Go could not
            // have found one either.
            progress(&format!("note: cannot tag {target} as {tag}"));
        }
    }
    if existing.len() != implied.len() || existing.iter().zip(&implied).any(|(a, b)| a != b) {
        progress(&format!(
            "tags set as {version} implies they were at build time: {}",
            if implied.is_empty() {
                "none".to_string()
            } else {
                implied.join(", ")
            }
        ));
    }
    Ok(())
}

/// Refuses a module whose go.mod asks for a newer Go than the plan's (its
/// `go` or `toolchain` line): whatever the source, given with `--source` or
/// fetched, the go command must never switch toolchains or fail on it.
fn refuse_newer_go(module_root: &Path, module: &str, plan: &BuildPlan) -> Result<(), RebuildError> {
    let go_mod = module_root.join("go.mod");
    let newer =
        gover::newer_requirement(&go_mod, &plan.go_version).map_err(|e| RebuildError::Read {
            path: go_mod.clone(),
            source: e,
        })?;
    match newer {
        Some(line) => Err(RebuildError::GoModNeedsNewerGo {
            module: module.to_string(),
            line,
            toolchain: plan.go_version.clone(),
        }),
        None => Ok(()),
    }
}

/// The main package as `go build` names it from the module root: `.` or `./rel`.
pub(crate) fn main_package_target(path: &str, module: &str) -> String {
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

pub(crate) fn git(scratch: &Scratch) -> Command {
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
pub(crate) struct WorkingTree {
    pub(crate) head: Option<String>,
    pub(crate) dirty: bool,
}

impl WorkingTree {
    pub(crate) fn read(source: &Path, scratch: &Scratch, confined: &Confined) -> WorkingTree {
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
    pub(crate) fn require_exact(&self, source: &Path, revision: &str) -> Result<(), RebuildError> {
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
    pub(crate) fn notes(&self, source: &Path, revision: &str) -> Vec<String> {
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

pub(crate) fn git_checkout(
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

/// How submodules are checked out: confined, with every https URL checked
/// by the egress policy and pinned to its checked addresses.
pub(crate) struct Submodules<'a> {
    /// Whether local URLs (relative ones resolved against the source) may be
    /// read: only in a repository the user named, since one fetched for a
    /// binary may point anywhere on this host.
    pub(crate) local_urls: bool,
    pub(crate) egress: &'a crate::egress::EgressPolicy,
    pub(crate) scratch: &'a Scratch,
    pub(crate) confined: &'a Confined,
    /// The module looked for: a submodule whose URL names it is the only
    /// one checked out, fetched the way the module's own repository is
    /// (`--vcs-mirror` first).
    pub(crate) module: &'a str,
    pub(crate) mirrors: &'a [crate::vcs::Mirror],
}

/// One `.gitmodules` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Submodule {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) url: String,
}

/// The entries of a `.gitmodules` as `git config --get-regexp` lists them
/// (`submodule.<name>.<key> <value>` lines).
pub(crate) fn parse_gitmodules(listing: &str) -> Vec<Submodule> {
    let mut found: Vec<Submodule> = Vec::new();
    for line in listing.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        let Some(rest) = key.strip_prefix("submodule.") else {
            continue;
        };
        let Some((name, field)) = rest.rsplit_once('.') else {
            continue;
        };
        let at = match found.iter().position(|s| s.name == name) {
            Some(at) => at,
            None => {
                found.push(Submodule {
                    name: name.to_string(),
                    path: String::new(),
                    url: String::new(),
                });
                found.len() - 1
            }
        };
        match field {
            "path" => found[at].path = value.trim().to_string(),
            "url" => found[at].url = value.trim().to_string(),
            _ => {}
        }
    }
    found
}

/// The repository root path a submodule URL names (`https://host/a/b.git`,
/// `git@host:a/b`, `ssh://git@host/a/b` → `host/a/b`), if it names one.
pub(crate) fn url_root(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest,
        None => {
            // scp-like: user@host:path
            let (host, path) = url.split_once(':')?;
            if host.contains('/') {
                return None;
            }
            return Some(format!(
                "{}/{}",
                host.rsplit('@').next()?,
                path.trim_start_matches('/')
            ))
            .map(|r| trim_repo(&r));
        }
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    // A port is not part of the module path.
    let (host, path) = rest.split_once('/')?;
    let host = host.split(':').next()?;
    Some(trim_repo(&format!("{host}/{path}")))
}

fn trim_repo(root: &str) -> String {
    root.trim_end_matches('/')
        .trim_end_matches(".git")
        .to_ascii_lowercase()
}

/// The submodule whose URL names the repository `module` lives in (the
/// longest such root), if any.
pub(crate) fn submodule_of<'s>(subs: &'s [Submodule], module: &str) -> Option<&'s Submodule> {
    let module = module.to_ascii_lowercase();
    subs.iter()
        .filter_map(|s| Some((url_root(&s.url)?, s)))
        .filter(|(root, _)| module == *root || module.starts_with(&format!("{root}/")))
        .max_by_key(|(root, _)| root.len())
        .map(|(_, s)| s)
}

/// Deepest submodule nesting checked out.
const MAX_SUBMODULE_DEPTH: usize = 4;

impl Submodules<'_> {
    /// Checks out the submodules of `checkout` (a clone of `source`) one
    /// level at a time, so that each level's URLs are known, and checked,
    /// before git fetches them: git's own `--recursive` would fetch nested
    /// URLs nobody looked at.
    pub(crate) fn update(
        &self,
        source: &Path,
        checkout: &Path,
        depth: usize,
    ) -> Result<(), RebuildError> {
        if depth >= MAX_SUBMODULE_DEPTH || !checkout.join(".gitmodules").is_file() {
            return Ok(());
        }
        if self.update_only_the_modules(checkout, depth)? {
            return Ok(());
        }
        // `submodule init` resolves relative URLs and writes them to the
        // checkout's config, without fetching anything.
        let local = |args: &[&str]| self.git_in(checkout, args);
        self.confined.run(
            local(&["submodule", "init", "--quiet"]),
            "git submodule init",
        )?;
        let urls = self
            .confined
            .run(
                local(&["config", "--get-regexp", r"^submodule\..*\.url$"]),
                "git config",
            )
            .map(|(out, _)| String::from_utf8_lossy(&out).into_owned())
            .unwrap_or_default();
        let mut job = self.confined.clone();
        let mut pins = Vec::new();
        for url in urls
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(_, u)| u.trim())
        {
            if url.contains("://") && !url.starts_with("file://") {
                let pinned = crate::egress::HttpsUrl::parse(url)
                    .and_then(|u| self.egress.resolve(&u))
                    .map_err(|e| RebuildError::Submodule(e.to_string()))?;
                pins.push(pinned);
                job.mounts.network = true;
            } else if self.local_urls {
                let path = source.join(url.trim_start_matches("file://"));
                job.mounts
                    .read_only
                    .push(std::fs::canonicalize(&path).unwrap_or(path));
            } else {
                return Err(RebuildError::Submodule(format!(
                    "submodule URL {} is local to this host: refused in a fetched repository",
                    reprolog_proto::display::escape(url, 200)
                )));
            }
        }
        job.mounts.read_only.extend(self.egress.ca_file.clone());
        if job.mounts.network {
            job.limits.timeout = self.egress.timeout;
            job.limits.max_disk = Some((checkout.to_path_buf(), self.egress.max_clone_bytes));
        }
        let mut cmd = git(self.scratch);
        cmd.arg("-C")
            .arg(checkout)
            .args(crate::egress::git_network_args(
                &pins,
                self.egress.ca_file.as_deref(),
            ));
        if self.local_urls {
            cmd.args(["-c", "protocol.file.allow=always"]);
        }
        cmd.args(["submodule", "update", "--quiet"]);
        job.run(cmd, "git submodule update")?;
        let paths = self
            .confined
            .run(
                local(&[
                    "config",
                    "-f",
                    ".gitmodules",
                    "--get-regexp",
                    r"^submodule\..*\.path$",
                ]),
                "git config",
            )
            .map(|(out, _)| String::from_utf8_lossy(&out).into_owned())
            .unwrap_or_default();
        for path in paths
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(_, p)| p.trim())
        {
            let sub = checkout.join(path);
            // A submodule path is the checkout's own: never above it.
            if Path::new(path)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                self.update(&sub, &sub, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Checks out only the submodule whose URL names the module's
    /// repository, from where the module's own repository comes
    /// (`--vcs-mirror` first, else its URL, egress-checked), leaving the
    /// others alone; then its own submodules, the same way. False when no
    /// submodule names it (every one is then checked out).
    fn update_only_the_modules(&self, checkout: &Path, depth: usize) -> Result<bool, RebuildError> {
        let local = |args: &[&str]| self.git_in(checkout, args);
        let listing = self
            .confined
            .run(
                local(&[
                    "config",
                    "-f",
                    ".gitmodules",
                    "--get-regexp",
                    r"^submodule\..*\.(path|url)$",
                ]),
                "git config",
            )
            .map(|(out, _)| String::from_utf8_lossy(&out).into_owned())
            .unwrap_or_default();
        let subs = parse_gitmodules(&listing);
        let Some(sub) = submodule_of(&subs, self.module) else {
            return Ok(false);
        };
        let path_ok = Path::new(&sub.path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !path_ok || sub.path.is_empty() {
            return Err(RebuildError::Submodule(format!(
                "submodule path {:?} leaves the checkout",
                reprolog_proto::display::escape(&sub.path, 200)
            )));
        }
        let from = crate::vcs::locate(self.module, self.mirrors, self.egress)
            .map_err(|e| RebuildError::Submodule(e.to_string()))?;
        let mut job = self.confined.clone();
        let mut pins = Vec::new();
        if from.contains("://") {
            let pinned = crate::egress::HttpsUrl::parse(&from)
                .and_then(|u| self.egress.resolve(&u))
                .map_err(|e| RebuildError::Submodule(e.to_string()))?;
            pins.push(pinned);
            job.mounts.network = true;
            job.limits.timeout = self.egress.timeout;
            job.limits.max_disk = Some((checkout.to_path_buf(), self.egress.max_clone_bytes));
        } else {
            let dir = PathBuf::from(&from);
            job.mounts
                .read_only
                .push(std::fs::canonicalize(&dir).unwrap_or(dir));
        }
        job.mounts.read_only.extend(self.egress.ca_file.clone());
        self.confined.run(
            local(&["submodule", "init", "--quiet", "--", &sub.path]),
            "git submodule init",
        )?;
        self.confined.run(
            local(&["config", &format!("submodule.{}.url", sub.name), &from]),
            "git config",
        )?;
        let mut cmd = git(self.scratch);
        cmd.arg("-C")
            .arg(checkout)
            .args(crate::egress::git_network_args(
                &pins,
                self.egress.ca_file.as_deref(),
            ))
            .args(["-c", "protocol.file.allow=always"])
            .args(["submodule", "update", "--quiet", "--", &sub.path]);
        job.run(cmd, "git submodule update").map_err(|e| {
            RebuildError::Submodule(format!(
                "checking out submodule {} from {from}: {}",
                sub.path,
                one_line(&e.to_string())
            ))
        })?;
        let inner = checkout.join(&sub.path);
        if find_module_root(&inner, self.module).is_none() {
            self.update(&inner, &inner, depth + 1)?;
        }
        Ok(true)
    }

    /// `git -C dir ARGS`, local protocols only: reading and writing the
    /// scratch checkout.
    fn git_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = git(self.scratch);
        cmd.arg("-C")
            .arg(dir)
            .args(crate::vcs::ONLY_FILES)
            .args(args);
        cmd
    }
}

/// `text` on one line: git's several error lines joined with "; ".
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The directory below `root` whose go.mod declares `module`.
pub(crate) fn find_module_root(root: &Path, module: &str) -> Option<PathBuf> {
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

pub(crate) fn unique_dir(root: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    root.join(format!("job-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_submodule_naming_the_module_is_found_by_its_url() {
        let listing = "submodule.tools/fzf.path tools/fzf\nsubmodule.tools/fzf.url https://github.com/junegunn/fzf.git\nsubmodule.shfmt.path vendor/shfmt\nsubmodule.shfmt.url git@github.com:mvdan/sh.git\nsubmodule.x.path x\nsubmodule.x.url ../relative\n";
        let subs = parse_gitmodules(listing);
        assert_eq!(subs.len(), 3);
        assert_eq!(subs[0].path, "tools/fzf");
        assert_eq!(
            url_root(&subs[1].url).as_deref(),
            Some("github.com/mvdan/sh")
        );
        assert_eq!(
            url_root("ssh://git@example.com:2222/a/b/").as_deref(),
            Some("example.com/a/b")
        );
        assert_eq!(url_root("../relative"), None);
        let name = |m: &str| submodule_of(&subs, m).map(|s| s.name.clone());
        assert_eq!(
            name("github.com/junegunn/fzf").as_deref(),
            Some("tools/fzf")
        );
        assert_eq!(name("mvdan.cc/sh/v3"), None, "a vanity path names no URL");
        assert_eq!(name("github.com/mvdan/sh/v3").as_deref(), Some("shfmt"));
        assert_eq!(
            name("github.com/junegunn/fzfx"),
            None,
            "a prefix is a whole path element"
        );
    }
}
