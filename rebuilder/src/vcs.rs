//! Finding and fetching the repository a VCS-stamped binary was built from.
//!
//! A binary stamped by Go names its main module and the git revision, not the
//! repository. The repository is found as `go get` finds it
//! (https://go.dev/ref/mod#vcs-find): for well-known hosts the first path
//! elements name it (`github.com/<owner>/<repo>`), elsewhere the module path's
//! `?go-get=1` page names it in a `go-import` meta tag. `--vcs-mirror` puts a
//! directory or URL template first, for offline and air-gapped nodes (and the
//! tests). The repository is cloned once, with all its tags, into the cache
//! and fetched again when a revision is missing; the module may live in any
//! subdirectory of it.

use crate::build::Confined;
use crate::egress::{EgressError, EgressPolicy, HttpsUrl};
use crate::sandbox::Mounts;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where repositories may be found before their origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// A directory holding repositories at their root paths
    /// (`DIR/github.com/owner/repo`, `DIR/example.com/app`).
    Dir(PathBuf),
    /// A URL with `{repo}` standing for the repository root path.
    Template(String),
}

impl Mirror {
    /// `--vcs-mirror` text: a template if it holds `{repo}`, else a directory.
    pub fn parse(text: &str) -> Mirror {
        if text.contains("{repo}") {
            Mirror::Template(text.to_string())
        } else {
            Mirror::Dir(PathBuf::from(text))
        }
    }
}

/// Why no repository could be found or fetched.
#[derive(Debug, thiserror::Error)]
pub enum VcsError {
    #[error("no repository found for module {module}: {why}; pass --source DIR or --vcs-mirror")]
    NotFound { module: String, why: String },
    #[error("fetching {url}: {why}")]
    Fetch { url: String, why: String },
    #[error("source of {module}: {source}")]
    Egress { module: String, source: EgressError },
}

/// git options for a local repository (a `--vcs-mirror` directory): the
/// file transport only, no network.
pub const ONLY_FILES: [&str; 4] = [
    "-c",
    "protocol.allow=never",
    "-c",
    "protocol.file.allow=always",
];

/// Hosts whose repositories are the first `n` path elements.
const KNOWN_HOSTS: &[(&str, usize)] = &[
    ("github.com", 3),
    ("gitlab.com", 3),
    ("bitbucket.org", 3),
    ("codeberg.org", 3),
    ("git.sr.ht", 3),
];

/// The repository root path of a module on a well-known host.
pub fn known_root(module: &str) -> Option<String> {
    let host = module.split('/').next()?;
    let (_, n) = KNOWN_HOSTS.iter().find(|(h, _)| *h == host)?;
    let parts: Vec<&str> = module.split('/').take(*n).collect();
    (parts.len() == *n).then(|| parts.join("/"))
}

/// The module path and its parents, longest first.
fn prefixes(module: &str) -> Vec<String> {
    let parts: Vec<&str> = module.split('/').collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("/"))
        .collect()
}

/// Where to clone from: the mirrors when any is given (nothing else is then
/// asked: mirrors are how offline nodes work), else the origin. A remote
/// URL comes back in the one form [`HttpsUrl`] reads; its host is checked
/// when it is fetched.
pub fn locate(module: &str, mirrors: &[Mirror], egress: &EgressPolicy) -> Result<String, VcsError> {
    for m in mirrors {
        match m {
            Mirror::Dir(dir) => {
                if let Some(found) = prefixes(module)
                    .into_iter()
                    .map(|p| dir.join(p))
                    .find(|d| d.join(".git").exists() || d.join("HEAD").is_file())
                {
                    return Ok(found.display().to_string());
                }
            }
            Mirror::Template(t) => {
                let root = known_root(module).unwrap_or_else(|| module.to_string());
                return Ok(t.replace("{repo}", &root));
            }
        }
    }
    if !mirrors.is_empty() {
        return Err(VcsError::NotFound {
            module: module.to_string(),
            why: "no --vcs-mirror holds it".into(),
        });
    }
    let egress_err = |source| VcsError::Egress {
        module: module.to_string(),
        source,
    };
    if let Some(root) = known_root(module) {
        let url = HttpsUrl::parse(&format!("https://{root}")).map_err(egress_err)?;
        return Ok(url.to_string());
    }
    let url = HttpsUrl::parse(&format!("https://{module}?go-get=1")).map_err(egress_err)?;
    let (_, body) = egress.get_page(&url).map_err(|e| match e {
        refused @ (EgressError::Refused { .. } | EgressError::BadUrl { .. }) => egress_err(refused),
        other => VcsError::NotFound {
            module: module.to_string(),
            why: other.to_string(),
        },
    })?;
    let repo = go_import(module, &body).ok_or_else(|| VcsError::NotFound {
        module: module.to_string(),
        why: format!("{url} has no git go-import meta tag"),
    })?;
    Ok(HttpsUrl::parse(&repo).map_err(egress_err)?.to_string())
}

/// The repository URL of the `go-import` meta tag (https://go.dev/ref/mod#vcs-find)
/// in a `?go-get=1` page whose prefix covers `module`.
fn go_import(module: &str, body: &str) -> Option<String> {
    for tag in body.split("<meta").skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if !tag.contains("go-import") {
            continue;
        }
        let Some(content) = tag.split("content=").nth(1) else {
            continue;
        };
        let quote = content.chars().next().unwrap_or('"');
        let value = content
            .trim_start_matches(quote)
            .split(quote)
            .next()
            .unwrap_or("");
        let fields: Vec<&str> = value.split_whitespace().collect();
        if let [prefix, "git", repo] = fields[..] {
            if module == prefix || module.starts_with(&format!("{prefix}/")) {
                return Some(repo.to_string());
            }
        }
    }
    None
}

/// A clone of `url` with every branch and tag in `cache`, holding `revision`
/// (fetched again if it is missing). Runs git confined: it may write only the
/// cache, read a mirror directory, and reach the network for a remote URL,
/// at the addresses `egress` checked, within its byte and time bounds.
pub fn fetch(
    module: &str,
    url: &str,
    revision: &str,
    cache: &Path,
    confined: &Confined,
    egress: &EgressPolicy,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, VcsError> {
    let fail = |why: String| VcsError::Fetch {
        url: url.to_string(),
        why,
    };
    let remote = url.contains("://");
    let transport_args = if remote {
        let pinned = HttpsUrl::parse(url)
            .and_then(|u| egress.resolve(&u))
            .map_err(|source| VcsError::Egress {
                module: module.to_string(),
                source,
            })?;
        crate::egress::git_network_args(&[pinned], egress.ca_file.as_deref())
    } else {
        ONLY_FILES.map(String::from).to_vec()
    };
    std::fs::create_dir_all(cache).map_err(|e| fail(e.to_string()))?;
    let key = reprolog_proto::Hash::of(url.as_bytes()).to_hex();
    let clone = cache.join(&key[..16]);
    let tmp = cache.join(format!("{}.tmp", &key[..16]));
    let mut mounts = Mounts {
        writable: vec![cache.to_path_buf()],
        network: remote,
        ..Mounts::default()
    };
    if remote {
        mounts.read_only.extend(egress.ca_file.clone());
    } else {
        mounts.read_only.push(PathBuf::from(url));
    }
    let mut job = Confined {
        mounts,
        ..confined.clone()
    };
    if remote {
        job.limits.timeout = egress.timeout;
    }
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", cache)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .args(&transport_args)
            .args(args);
        cmd
    };
    // A clone writes below tmp, a fetch below the clone: both are bounded.
    let bounded = |dir: &Path| {
        let mut j = job.clone();
        j.limits.max_disk = Some((dir.to_path_buf(), egress.max_clone_bytes));
        j
    };
    let has_revision = |dir: &Path| {
        let mut cmd = git(&["cat-file", "-e"]);
        cmd.arg(format!("{revision}^{{commit}}")).current_dir(dir);
        job.run(cmd, "git cat-file").is_ok()
    };
    if !clone.join("HEAD").is_file() {
        progress(&format!("cloning {url} into {}", clone.display()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut cmd = git(&["clone", "--quiet", "--mirror", "--", url]);
        cmd.arg(&tmp);
        if let Err(e) = bounded(&tmp).run(cmd, "git clone") {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(fail(e.to_string()));
        }
        std::fs::rename(&tmp, &clone).map_err(|e| fail(e.to_string()))?;
    } else if !has_revision(&clone) {
        progress(&format!("fetching {url} into {}", clone.display()));
        let mut cmd = git(&["fetch", "--quiet", "--tags", "--prune", "origin"]);
        cmd.current_dir(&clone);
        bounded(&clone)
            .run(cmd, "git fetch")
            .map_err(|e| fail(e.to_string()))?;
    }
    if !has_revision(&clone) {
        return Err(fail(format!(
            "revision {revision} is not in the repository (Go 1.26 and earlier stamp a module built inside a git submodule with the outer repository's revision: pass that repository with --source)"
        )));
    }
    Ok(clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_found_like_go_get_finds_them() {
        assert_eq!(
            known_root("github.com/junegunn/fzf/src").as_deref(),
            Some("github.com/junegunn/fzf")
        );
        assert_eq!(known_root("github.com/x"), None);
        assert_eq!(known_root("example.com/a/b"), None);
        assert_eq!(
            prefixes("example.com/mono/tools"),
            vec!["example.com/mono/tools", "example.com/mono", "example.com"]
        );
        assert_eq!(
            Mirror::parse("https://mirror.example/{repo}.git"),
            Mirror::Template("https://mirror.example/{repo}.git".into())
        );
        assert_eq!(
            locate(
                "github.com/o/r/sub",
                &[Mirror::parse("https://m.example/{repo}")],
                &EgressPolicy::default()
            )
            .unwrap(),
            "https://m.example/github.com/o/r"
        );
        assert_eq!(
            locate("github.com/o/r", &[], &EgressPolicy::default()).unwrap(),
            "https://github.com/o/r"
        );
    }

    #[test]
    fn the_go_import_tag_whose_prefix_covers_the_module_is_used() {
        let page = r#"<html><head>
            <meta name="go-import" content="example.com/other git https://evil.example/o">
            <meta name="go-import" content="example.com/mono mod https://proxy.example">
            <meta name='go-import' content='example.com/mono git https://git.example/mono'>
            </head></html>"#;
        assert_eq!(
            go_import("example.com/mono/tools", page).as_deref(),
            Some("https://git.example/mono")
        );
        assert_eq!(go_import("example.com/monolith", page), None);
    }
}
