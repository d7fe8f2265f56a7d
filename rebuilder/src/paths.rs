//! Where a build without `-trimpath` ran.
//!
//! Such a build records the absolute paths of its source files: the GOROOT,
//! the module cache and the main module's directory, in the file table the
//! runtime uses for stack traces. Go then also records `-ldflags`, so nothing
//! is left to infer: rebuilt with the toolchain, the module cache and the
//! source at those same paths, the binary is the same. The sandbox makes that
//! possible without touching the host: each is bound at its original path
//! inside it ([`crate::sandbox::Mounts::mapped`]).

use crate::diagnose::{go_file_paths, is_under};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The directories a build without `-trimpath` ran in, as its binary names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPaths {
    pub goroot: Option<PathBuf>,
    pub module_cache: Option<PathBuf>,
    /// The main module's root directory, when it was not in the module cache.
    pub module_root: Option<PathBuf>,
}

impl BuildPaths {
    /// Reads the paths from `data`. `main_rel` is the main package's directory
    /// relative to its module (`cmd/app`, or empty at the root).
    pub fn of(data: &[u8], main_rel: &str) -> BuildPaths {
        let files = go_file_paths(data);
        let goroot = files
            .iter()
            .find_map(|p| p.find("/src/runtime/").map(|i| p[..i].to_string()));
        let module_cache = files
            .iter()
            .filter(|p| goroot.as_deref().is_none_or(|g| !is_under(p, g)))
            .find_map(|p| {
                p.find("/pkg/mod/")
                    .map(|i| p[..i + "/pkg/mod".len()].to_string())
            });
        // Directories of the main module's own files, by how many files each
        // root candidate explains.
        let mut roots: BTreeMap<String, usize> = BTreeMap::new();
        for p in &files {
            let outside = goroot.as_deref().is_some_and(|g| is_under(p, g))
                || module_cache.as_deref().is_some_and(|c| is_under(p, c));
            let Some(dir) = p.rfind('/').map(|i| &p[..i]) else {
                continue;
            };
            if outside {
                continue;
            }
            let root = if main_rel.is_empty() {
                Some(dir)
            } else {
                dir.strip_suffix(main_rel).and_then(|r| r.strip_suffix('/'))
            };
            if let Some(r) = root.filter(|r| !r.is_empty()) {
                *roots.entry(r.to_string()).or_default() += 1;
            }
        }
        // At the module root, the outermost directory with files is the root.
        let module_root = if main_rel.is_empty() {
            roots
                .keys()
                .filter(|d| !roots.keys().any(|o| o != *d && is_under(d, o)))
                .max_by_key(|d| files.iter().filter(|p| is_under(p, d)).count())
                .cloned()
        } else {
            roots
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(r, _)| r.clone())
        };
        BuildPaths {
            goroot: goroot.and_then(safe_dest),
            module_cache: module_cache.and_then(safe_dest),
            module_root: module_root.and_then(safe_dest),
        }
    }

    pub fn is_empty(&self) -> bool {
        self == &BuildPaths::default()
    }
}

/// A path from the binary that may serve as a mount point inside the
/// sandbox: absolute, plain components only, not a system directory.
fn safe_dest(p: String) -> Option<PathBuf> {
    let path = PathBuf::from(&p);
    let plain = path.is_absolute()
        && path
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)))
        && !p.chars().any(char::is_control);
    let first = path.components().nth(1).map(|c| c.as_os_str().to_owned());
    let system = first.is_none_or(|f| {
        [
            "proc", "dev", "sys", "usr", "bin", "lib", "lib64", "sbin", "etc",
        ]
        .iter()
        .any(|s| f == *s)
    });
    (plain && !system && path.components().count() >= 3).then_some(path)
}

/// Where the module cache most likely was for a build whose source was at
/// `source`: `~/go/pkg/mod` of the home directory the source lies in
/// (`…/home/<user>/…` or `/root/…`), else the official Docker image's
/// `/go/pkg/mod`.
pub fn guess_module_cache(source: &Path) -> Option<PathBuf> {
    let s = source.to_str()?;
    let home = match s.rfind("/home/") {
        Some(i) => {
            let user_end = s[i + 6..].find('/').map_or(s.len(), |j| i + 6 + j);
            Some(&s[..user_end])
        }
        None if s.starts_with("/root/") => Some("/root"),
        None => None,
    };
    let cache = match home {
        Some(h) => format!("{h}/go/pkg/mod"),
        None => "/go/pkg/mod".to_string(),
    };
    safe_dest(cache)
}

/// `to` with `suffix` taken off its end, if it ends with it.
pub fn strip_suffix(to: &Path, suffix: &Path) -> Option<PathBuf> {
    if suffix.as_os_str().is_empty() {
        return Some(to.to_path_buf());
    }
    let to_s = to.to_str()?;
    let suffix_s = suffix.to_str()?;
    to_s.strip_suffix(suffix_s)
        .and_then(|r| r.strip_suffix('/'))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_a_ci_build_are_found() {
        let data = b"\x00/opt/hostedtoolcache/go/1.22.10/x64/src/runtime/proc.go\x00/home/runner/go/pkg/mod/golang.org/x/text@v0.3.0/a.go\x00/home/runner/work/app/app/cmd/app/main.go\x00/home/runner/work/app/app/internal/x/x.go\x00";
        let p = BuildPaths::of(data, "cmd/app");
        assert_eq!(
            p.goroot.unwrap(),
            PathBuf::from("/opt/hostedtoolcache/go/1.22.10/x64")
        );
        assert_eq!(
            p.module_cache.unwrap(),
            PathBuf::from("/home/runner/go/pkg/mod")
        );
        assert_eq!(
            p.module_root.unwrap(),
            PathBuf::from("/home/runner/work/app/app")
        );
        let at_root = BuildPaths::of(b"\x00/src/m/main.go\x00/src/m/internal/a.go\x00", "");
        assert_eq!(at_root.module_root.unwrap(), PathBuf::from("/src/m"));
        assert!(
            BuildPaths::of(b"\x00/usr/local/go/src/runtime/a.go\x00", "")
                .goroot
                .is_none(),
            "system dirs are not mount points"
        );
        assert!(BuildPaths::of(b"\x00/proc/x/main.go\x00", "")
            .module_root
            .is_none());
        let guess = |p: &str| guess_module_cache(Path::new(p)).unwrap();
        assert_eq!(
            guess("/home/runner/work/a/a"),
            PathBuf::from("/home/runner/go/pkg/mod")
        );
        assert_eq!(
            guess("/tmp/x/home/ci/src"),
            PathBuf::from("/tmp/x/home/ci/go/pkg/mod")
        );
        assert_eq!(guess("/root/src/a"), PathBuf::from("/root/go/pkg/mod"));
        assert_eq!(guess("/src/a"), PathBuf::from("/go/pkg/mod"));
    }
}
