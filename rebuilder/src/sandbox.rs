//! Builds run confined.
//!
//! A rebuild runs the Go toolchain on source and flags that strangers wrote.
//! Flags are checked before use (`flags.rs`), and as a second wall every `go`
//! and `git` command of a rebuild runs under bubblewrap (`bwrap`), which builds
//! a fresh mount namespace from nothing:
//!
//! - visible read-only: the host's `/usr` (with `/bin`, `/lib`, … as on the
//!   host), a handful of `/etc` files name resolution and TLS need, the
//!   toolchain, the source and a `file://` GOPROXY;
//! - writable: the job's scratch directory and the shared GOCACHE, nothing else;
//!   `/tmp` is an empty tmpfs that vanishes with the build;
//! - its own PID, IPC, UTS and cgroup namespaces (other processes cannot be
//!   seen), a new session (no terminal injection), every capability dropped
//!   (root could otherwise remount the read-only binds), and killed with its
//!   parent;
//! - no network, unless the configured GOPROXY or GOSUMDB is remote.
//!
//! Paths inside are the same as outside, so environment variables and error
//! messages need no translation. Where bubblewrap is missing or the kernel
//! refuses its namespaces, rebuilds are refused unless the operator asked for
//! unconfined builds (`--no-sandbox`).
//!
//! Starting bwrap costs about 5 ms per command (BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether builds must be confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Confine every build; refuse to build where that is impossible.
    #[default]
    Required,
    /// Build unconfined (`--no-sandbox`).
    Off,
}

/// Why builds cannot be confined.
#[derive(Debug, Clone, thiserror::Error)]
#[error("builds cannot be confined: {0}; install bubblewrap (Debian: apt install bubblewrap) or pass --no-sandbox to build unconfined")]
pub struct SandboxError(pub String);

/// What one confined command may see and change.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    /// Host directories shown at another path: (host, inside, writable).
    /// A build without -trimpath is repeated at its original paths this way.
    pub mapped: Vec<(PathBuf, PathBuf, bool)>,
    pub network: bool,
}

/// Runs commands confined, or as they are when the sandbox is off.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: Option<PathBuf>,
}

/// Host directories every command may read: programs and their libraries.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Host files under /etc that name resolution, TLS and git need.
const ETC_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
];

impl Sandbox {
    /// The sandbox for `mode`. Required: finds `bwrap` (`$REPROLOG_BWRAP`, then
    /// `PATH`). Whether the kernel lets it build namespaces shows on the first
    /// confined command ([`Sandbox::diagnose`]): a separate trial run would
    /// cost every rebuild another process start.
    pub fn new(mode: SandboxMode) -> Result<Sandbox, SandboxError> {
        if mode == SandboxMode::Off {
            return Ok(Sandbox { bwrap: None });
        }
        let bwrap = find_bwrap().ok_or_else(|| SandboxError("bwrap was not found".into()))?;
        Ok(Sandbox { bwrap: Some(bwrap) })
    }

    /// Whether a failed command failed because the sandbox could not start:
    /// bwrap could not be run, or bwrap itself reported the error (its
    /// messages start with `bwrap: `; a build's never do).
    pub fn diagnose(
        &self,
        spawn_error: Option<&std::io::Error>,
        stderr: &str,
    ) -> Option<SandboxError> {
        let bwrap = self.bwrap.as_ref()?;
        if let Some(e) = spawn_error {
            return Some(SandboxError(format!("{} cannot run: {e}", bwrap.display())));
        }
        stderr.trim_start().starts_with("bwrap: ").then(|| {
            SandboxError(format!(
                "{} failed to start a confined process ({})",
                bwrap.display(),
                stderr.trim().lines().next().unwrap_or_default()
            ))
        })
    }

    /// Whether commands run confined.
    pub fn is_confined(&self) -> bool {
        self.bwrap.is_some()
    }

    /// `cmd` confined to `mounts`: the same program, arguments, environment
    /// and working directory, run by bwrap. Unchanged when the sandbox is off.
    /// `cmd`'s environment must be explicit (built after `env_clear`).
    pub fn wrap(&self, cmd: Command, mounts: &Mounts) -> Command {
        let Some(bwrap) = &self.bwrap else {
            return cmd;
        };
        let mut out = Command::new(bwrap);
        out.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                out.env(k, v);
            }
        }
        out.args(base_args(mounts.network));
        for (host, inside, writable) in ordered_mounts(mounts) {
            let flag = if writable { "--bind" } else { "--ro-bind" };
            out.arg(flag).arg(&host).arg(&inside);
        }
        if let Some(dir) = cmd.get_current_dir() {
            out.arg("--chdir").arg(absolute(dir));
        }
        out.arg("--").arg(cmd.get_program()).args(cmd.get_args());
        out
    }
}

/// The fixed part of every bwrap command line: namespaces, capabilities, the
/// system directories and a private /dev, /proc and /tmp.
fn base_args(network: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "--die-with-parent",
        "--new-session",
        "--unshare-user-try",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--cap-drop",
        "ALL",
    ]
    .map(String::from)
    .to_vec();
    if !network {
        args.push("--unshare-net".into());
    }
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::read_link(path) {
            // Merged /usr: /bin -> usr/bin stays a symlink inside.
            Ok(target) => args.extend([
                "--symlink".into(),
                target.display().to_string(),
                dir.to_string(),
            ]),
            Err(_) if path.is_dir() => {
                args.extend(["--ro-bind".into(), dir.to_string(), dir.to_string()])
            }
            Err(_) => {}
        }
    }
    for f in ETC_FILES {
        args.extend(["--ro-bind-try".into(), f.to_string(), f.to_string()]);
    }
    args.extend(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"].map(String::from));
    args
}

/// Mounts parents before children, so a directory's own mode wins over its
/// parent's; writable directories are created first (bwrap binds only what
/// exists). Duplicates keep their most restrictive mode. Returns (host path,
/// path inside, writable).
fn ordered_mounts(mounts: &Mounts) -> Vec<(PathBuf, PathBuf, bool)> {
    let mut all: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
    for p in &mounts.writable {
        let _ = std::fs::create_dir_all(p);
    }
    let listed = mounts
        .writable
        .iter()
        .map(|p| (p.clone(), p.clone(), true))
        .chain(
            mounts
                .read_only
                .iter()
                .map(|p| (p.clone(), p.clone(), false)),
        )
        .chain(mounts.mapped.iter().cloned());
    for (host, inside, writable) in listed {
        let (host, inside) = (absolute(&host), absolute(&inside));
        if !host.exists() {
            continue;
        }
        match all.iter_mut().find(|(_, q, _)| *q == inside) {
            Some(existing) => existing.2 &= writable,
            None => all.push((host, inside, writable)),
        }
    }
    all.sort_by_key(|(_, inside, _)| inside.components().count());
    all
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn find_bwrap() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REPROLOG_BWRAP") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_mounted_before_children() {
        let dir = tempfile_dir();
        let (a, b) = (dir.join("a"), dir.join("a/b"));
        std::fs::create_dir_all(&b).unwrap();
        let m = Mounts {
            read_only: vec![b.clone(), a.clone(), dir.join("missing")],
            writable: vec![b.clone()],
            mapped: vec![(a.clone(), PathBuf::from("/elsewhere/x/y/z"), true)],
            network: false,
        };
        let order = ordered_mounts(&m);
        assert_eq!(
            order,
            vec![
                (a.clone(), a.clone(), false),
                (b.clone(), b, false),
                (a, PathBuf::from("/elsewhere/x/y/z"), true)
            ],
            "read-only wins, missing skipped, parents first"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("reprolog-sandbox-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
