//! Module paths, versions and Go versions taken from build info or attestations,
//! checked before any of them is joined to a path or passed to a command.
//!
//! The rules are a strict subset of `golang.org/x/mod/module.CheckPath` and
//! `CheckImportPath`: path elements of letters, digits and `-._~+`, separated by
//! single slashes, no element that is empty, `.`, `..` or starts with a dot, no
//! leading or trailing slash. Anything else (`../x`, `/abs`, a NUL or a control
//! character) is refused: no real module has such a path, and each of them would
//! let a crafted input point a build somewhere else.

use reprolog_proto::display;

/// Longest path or version accepted.
const MAX_LEN: usize = 512;

/// Why a path or version was refused (the text is already escaped).
pub type Refusal = String;

/// Checks an import or module path (`example.com/a/cmd/x`, `cmd/gofmt`).
pub fn check_path(path: &str) -> Result<(), Refusal> {
    let why = if path.is_empty() {
        Some("is empty")
    } else if path.len() > MAX_LEN {
        Some("is too long")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.ends_with('/') {
        Some("ends with a slash")
    } else if path.chars().any(|c| c.is_control()) {
        Some("contains a NUL or control character")
    } else if !path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~+/".contains(c))
    {
        Some("contains characters no module path has")
    } else if path.split('/').any(|e| e.is_empty()) {
        Some("has an empty element")
    } else if path.split('/').any(|e| e == "." || e == "..") {
        Some("has a . or .. element")
    } else if path.split('/').any(|e| e.starts_with('.')) {
        Some("has an element that starts with a dot")
    } else {
        None
    };
    match why {
        Some(why) => Err(format!("path {} {why}", shown(path))),
        None => Ok(()),
    }
}

/// Checks a module version: empty, `(devel)`, or a `v`-prefixed version of
/// letters, digits and `.+-`.
pub fn check_version(version: &str) -> Result<(), Refusal> {
    let ok = version.is_empty()
        || version == "(devel)"
        || (version.starts_with('v')
            && version.len() <= 128
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)));
    ok.then_some(())
        .ok_or_else(|| format!("version {} is not a module version", shown(version)))
}

/// Checks a `go.sum`-style hash (`h1:` and base64).
pub fn check_sum(sum: &str) -> Result<(), Refusal> {
    let ok = sum.is_empty()
        || (sum.len() <= 128
            && sum
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=:".contains(c)));
    ok.then_some(())
        .ok_or_else(|| format!("sum {} is not a module hash", shown(sum)))
}

/// Checks the target of a `replace` directive: a module path, or a directory
/// relative to the main module (`./x`, `../x`). Only the latter may contain
/// `..`: Go resolves it inside the source tree, which builds read-only.
pub fn check_replacement(path: &str) -> Result<(), Refusal> {
    let relative = path
        .strip_prefix("./")
        .or_else(|| path.strip_prefix("../"))
        .map(|rest| (path, rest));
    match relative {
        Some((_, rest)) => {
            let ok = path.len() <= MAX_LEN
                && rest.split('/').all(|e| {
                    !e.is_empty()
                        && e.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._~+".contains(c))
                });
            ok.then_some(()).ok_or_else(|| {
                format!(
                    "replacement directory {} is not a plain relative path",
                    shown(path)
                )
            })
        }
        None => check_path(path),
    }
}

/// Checks a Go version as build info records it: `go1.22.10`, `go1.21rc2`,
/// optionally followed by ` X:<experiments>`.
pub fn check_go_version(v: &str) -> Result<(), Refusal> {
    let (release, experiments) = match v.split_once(" X:") {
        Some((r, x)) => (r, Some(x)),
        None => (v, None),
    };
    let numbers = release.strip_prefix("go").unwrap_or("");
    let numbers = numbers
        .split_once("rc")
        .or_else(|| numbers.split_once("beta"))
        .map_or(numbers, |(n, pre)| {
            if !pre.is_empty() && pre.bytes().all(|b| b.is_ascii_digit()) {
                n
            } else {
                ""
            }
        });
    let release_ok = !numbers.is_empty()
        && numbers.split('.').count() <= 3
        && numbers
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()));
    let experiments_ok = experiments.is_none_or(|x| {
        !x.is_empty()
            && x.len() <= 256
            && x.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ',' || c == '_')
    });
    (release_ok && experiments_ok)
        .then_some(())
        .ok_or_else(|| format!("Go version {} is not a Go release", shown(v)))
}

fn shown(s: &str) -> String {
    format!("{:?}", display::escape(s, 80))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_paths_pass() {
        for p in [
            "cmd/gofmt",
            "example.com/hello",
            "github.com/junegunn/fzf",
            "gopkg.in/yaml.v3",
            "golang.org/x/tools/gopls",
            "command-line-arguments",
        ] {
            assert_eq!(check_path(p), Ok(()), "{p}");
        }
        for v in [
            "",
            "(devel)",
            "v1.0.0",
            "v0.0.0-20260102030405-abcdef123456",
            "v2.1.0+incompatible",
        ] {
            assert_eq!(check_version(v), Ok(()), "{v}");
        }
        for v in [
            "go1.22.10",
            "go1.27.3",
            "go1.21rc2",
            "go1.22",
            "go1.22.10 X:boringcrypto",
        ] {
            assert_eq!(check_go_version(v), Ok(()), "{v}");
        }
        assert_eq!(check_replacement("../lib"), Ok(()));
        assert_eq!(check_replacement("example.com/fork"), Ok(()));
    }

    #[test]
    fn crafted_paths_are_refused() {
        for p in [
            "../x",
            "/abs",
            "a/../../x",
            "a\0b",
            "a//b",
            "a/",
            "",
            ".hidden/x",
            "a b",
            "a\\b",
        ] {
            assert!(check_path(p).is_err(), "{p:?}");
        }
        for v in ["../v1", "v1/../../x", "1.0.0", "v1\0", "--upload-pack=x"] {
            assert!(check_version(v).is_err(), "{v:?}");
        }
        for v in [
            "../../etc",
            "go1.22/../x",
            "go",
            "1.22",
            "go1.22.10 X:a/b",
            "go1.2.3.4",
            "gox",
        ] {
            assert!(check_go_version(v).is_err(), "{v:?}");
        }
        for r in ["/abs", "../a/../../b/\0", "./a b"] {
            assert!(check_replacement(r).is_err(), "{r:?}");
        }
        assert!(check_path("a\0b").unwrap_err().contains("\\u{0}"));
    }
}
