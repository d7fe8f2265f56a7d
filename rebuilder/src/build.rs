//! Hermetic `go` invocations.
//!
//! The environment is cleared and rebuilt from the plan and the configuration
//! only: HOME, TMPDIR, GOPATH and GOMODCACHE live in the job's scratch space,
//! GOFLAGS is empty, GOTOOLCHAIN=local (never download or switch toolchains),
//! GOENV=off and GOWORK=off (no user or workspace configuration), GOPROXY,
//! GOSUMDB and GONOSUMDB come from the configuration. Only GOCACHE is shared
//! between jobs, which is safe because Go keys it by every input.

use crate::plan::BuildPlan;
use crate::sandbox::{Mounts, Sandbox};
use crate::toolchain::Toolchain;
use std::path::{Path, PathBuf};
use std::process::Command;
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

impl ModuleConfig {
    fn proxy_entries(&self) -> impl Iterator<Item = &str> {
        self.goproxy
            .as_deref()
            .unwrap_or("off")
            .split([',', '|'])
            .map(str::trim)
    }

    /// Directories of `file://` GOPROXY entries: builds read them.
    pub fn local_dirs(&self) -> Vec<PathBuf> {
        self.proxy_entries()
            .filter_map(|e| e.strip_prefix("file://"))
            .map(PathBuf::from)
            .collect()
    }

    /// Whether module downloads or checksum lookups reach the network
    /// (a remote proxy, `direct`, or a checksum database).
    pub fn is_remote(&self) -> bool {
        let remote_proxy = self
            .proxy_entries()
            .any(|e| e == "direct" || e.starts_with("https://") || e.starts_with("http://"));
        let sumdb = self
            .gosumdb
            .as_deref()
            .is_some_and(|s| !s.is_empty() && s != "off");
        remote_proxy || sumdb
    }
}

/// What the commands of one job may see and change: the toolchain, the
/// source repository and a local GOPROXY read-only; the scratch space and the
/// shared GOCACHE writable; the network only for remote module sources.
pub fn job_mounts(
    toolchain: &Toolchain,
    scratch: &Scratch,
    gocache: &Path,
    modules: &ModuleConfig,
    source: Option<&Path>,
) -> Mounts {
    let mut read_only = vec![toolchain.goroot.clone()];
    read_only.extend(source.map(Path::to_path_buf));
    read_only.extend(modules.local_dirs());
    Mounts {
        read_only,
        writable: vec![scratch.root.clone(), gocache.to_path_buf()],
        mapped: vec![],
        network: modules.is_remote(),
    }
}

/// How every command of one job runs: in its sandbox, within its limits.
#[derive(Debug, Clone)]
pub struct Confined {
    pub sandbox: Sandbox,
    pub mounts: Mounts,
    pub limits: Limits,
}

impl Confined {
    /// Runs `cmd` confined (see [`run`]). A sandbox that cannot start is
    /// reported as such, not as a failed build.
    pub fn run(&self, cmd: Command, what: &str) -> Result<(Vec<u8>, Duration), BuildError> {
        match run(self.sandbox.wrap(cmd, &self.mounts), what, &self.limits) {
            Err(BuildError::Spawn { source, what }) => Err(self
                .sandbox
                .diagnose(Some(&source), "")
                .map_or(BuildError::Spawn { what, source }, BuildError::Sandbox)),
            Err(BuildError::Failed { stderr, what }) => Err(self
                .sandbox
                .diagnose(None, &stderr)
                .map_or(BuildError::Failed { what, stderr }, BuildError::Sandbox)),
            other => other,
        }
    }
}

/// Why a build could not run.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("could not run {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} {why}")]
    Limit { what: String, why: String },
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
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
        for sub in ["home/.config/go/telemetry", "tmp", "gopath", "out", "work"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p)
                .map_err(|source| BuildError::Scratch { path: p, source })?;
        }
        // Go telemetry off (what `go telemetry off` writes): a fresh HOME
        // would otherwise have every build set up counters and start the
        // upload helper process. Neither affects the output.
        let mode = root.join("home/.config/go/telemetry/mode");
        std::fs::write(&mode, "off")
            .map_err(|source| BuildError::Scratch { path: mode, source })?;
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

/// Bounds on one build command: wall time and bytes of output, and for
/// clones the bytes written below one directory.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub max_output: u64,
    pub max_disk: Option<(PathBuf, u64)>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(3600),
            max_output: 16 * 1024 * 1024,
            max_disk: None,
        }
    }
}

/// Sends SIGKILL to the process group `leader` leads.
fn kill_group(leader: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(leader) {
        // SAFETY: kill(2) takes plain integers and touches no memory; a
        // negative pid names the process group the child leads (process_group(0)).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Bytes in the regular files below `dir` (symlinks not followed).
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// Keeps the last `KEEP` bytes of a stream and counts all of them.
fn drain(
    mut r: impl std::io::Read,
    total: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Vec<u8> {
    const KEEP: usize = 64 * 1024;
    let mut tail = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        total.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * KEEP {
            tail.drain(..tail.len() - KEEP);
        }
    }
    tail
}

/// Runs a command within `limits`: it is killed when it runs longer than the
/// timeout or writes more than the output budget. Returns stdout (its last
/// 64 KiB) on success; on failure the last lines of stderr.
///
/// The command leads a process group of its own and the whole group is
/// killed: `go` leaves compilers behind, and bwrap's `--die-with-parent`
/// cannot protect the moment between its fork and its `prctl` (seen: a build
/// killed at 2 ms ran on for a minute, holding the output pipes).
pub fn run(
    mut cmd: Command,
    what: &str,
    limits: &Limits,
) -> Result<(Vec<u8>, Duration), BuildError> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let started = Instant::now();
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn {
            what: what.to_string(),
            source,
        })?;
    let total = Arc::new(AtomicU64::new(0));
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let t1 = total.clone();
    let out_thread = std::thread::spawn(move || out.map(|o| drain(o, t1)).unwrap_or_default());
    let t2 = total.clone();
    let err_thread = std::thread::spawn(move || err.map(|e| drain(e, t2)).unwrap_or_default());
    let mut killed = None;
    let mut next_disk_check = started;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|source| BuildError::Spawn {
            what: what.to_string(),
            source,
        })? {
            break status;
        }
        if started.elapsed() > limits.timeout {
            killed = Some(format!(
                "took longer than {} s and was stopped",
                limits.timeout.as_secs()
            ));
        } else if total.load(Ordering::Relaxed) > limits.max_output {
            killed = Some(format!(
                "wrote more than {} bytes of output and was stopped",
                limits.max_output
            ));
        } else if let Some((dir, max)) = &limits.max_disk {
            if Instant::now() >= next_disk_check {
                next_disk_check = Instant::now() + Duration::from_millis(200);
                if disk_usage(dir) > *max {
                    killed = Some(format!(
                        "wrote more than {max} bytes below {} and was stopped",
                        dir.display()
                    ));
                }
            }
        }
        if killed.is_some() {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            break std::process::ExitStatus::default();
        }
        // Short: the end of a build is noticed within 2 ms.
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    // A command quicker than the polling is measured once more at its end.
    if let (None, Some((dir, max))) = (&killed, &limits.max_disk) {
        if disk_usage(dir) > *max {
            killed = Some(format!(
                "wrote more than {max} bytes below {}",
                dir.display()
            ));
        }
    }
    if let Some(why) = killed {
        return Err(BuildError::Limit {
            what: what.to_string(),
            why,
        });
    }
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        return Err(BuildError::Failed {
            what: what.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
        });
    }
    Ok((stdout, started.elapsed()))
}
