//! Hermetic `go` invocations.
//!
//! The environment is cleared and rebuilt from the plan and the configuration
//! only: HOME, TMPDIR, GOPATH and GOMODCACHE live in the job's scratch space,
//! GOFLAGS is empty, GOTOOLCHAIN=local (never download or switch toolchains),
//! GOENV=off and GOWORK=off (no user or workspace configuration), GOPROXY,
//! GOSUMDB and GONOSUMDB come from the configuration. Only GOCACHE is shared
//! between jobs, which is safe because Go keys it by every input.

use crate::plan::BuildPlan;
use crate::toolchain::Toolchain;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where module downloads may come from.
#[derive(Debug, Clone, Default)]
pub struct ModuleConfig {
    /// GOPROXY; `off` when unset so nothing is fetched by surprise.
    pub goproxy: Option<String>,
    /// GOSUMDB; `off` when unset (a file:// proxy has no checksum database).
    pub gosumdb: Option<String>,
    pub gonosumdb: Option<String>,
}

/// Why a build could not run.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("could not run {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} failed: {stderr}")]
    Failed { what: String, stderr: String },
    #[error("scratch space {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The scratch directories of one build job.
#[derive(Debug, Clone)]
pub struct Scratch {
    pub root: PathBuf,
}

impl Scratch {
    /// Creates the scratch layout under `root`.
    pub fn create(root: &Path) -> Result<Scratch, BuildError> {
        for sub in ["home", "tmp", "gopath", "out", "work"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p)
                .map_err(|source| BuildError::Scratch { path: p, source })?;
        }
        Ok(Scratch {
            root: root.to_path_buf(),
        })
    }

    pub fn gopath(&self) -> PathBuf {
        self.root.join("gopath")
    }

    pub fn out(&self) -> PathBuf {
        self.root.join("out")
    }

    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }
}

/// A `go` command with the hermetic environment for `plan`.
pub fn go_command(
    toolchain: &Toolchain,
    plan: &BuildPlan,
    scratch: &Scratch,
    gocache: &Path,
    modules: &ModuleConfig,
) -> Command {
    let mut cmd = Command::new(toolchain.go());
    cmd.env_clear();
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        toolchain.goroot.join("bin").display()
    );
    cmd.env("PATH", path)
        .env("HOME", scratch.root.join("home"))
        .env("TMPDIR", scratch.root.join("tmp"))
        .env("GOROOT", &toolchain.goroot)
        .env("GOPATH", scratch.gopath())
        .env("GOMODCACHE", scratch.gopath().join("pkg/mod"))
        .env(
            "GOCACHE",
            std::path::absolute(gocache).unwrap_or_else(|_| gocache.to_path_buf()),
        )
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .env("GOPROXY", modules.goproxy.as_deref().unwrap_or("off"))
        .env("GOSUMDB", modules.gosumdb.as_deref().unwrap_or("off"))
        .env("GONOSUMDB", modules.gonosumdb.as_deref().unwrap_or(""))
        .env("GOPRIVATE", "")
        .env("GOINSECURE", "");
    for (k, v) in &plan.env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a command, returning its output on success and stderr on failure.
pub fn run(mut cmd: Command, what: &str) -> Result<(Output, Duration), BuildError> {
    let started = Instant::now();
    let out = cmd.output().map_err(|source| BuildError::Spawn {
        what: what.to_string(),
        source,
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        return Err(BuildError::Failed {
            what: what.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        });
    }
    Ok((out, started.elapsed()))
}
