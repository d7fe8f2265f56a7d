//! Go version ordering (as in `golang.org/x/mod` `gover`) and the go.mod lines
//! that would make the go command want another toolchain.
//!
//! Order: `1.21` < `1.21beta1` < `1.21rc1` < `1.21.0` < `1.21.1` < `1.22`.
//! A bare `1.21` is a language version, older than any release of it.

use std::cmp::Ordering;
use std::path::Path;

/// A parsed Go version: (major, minor, kind, number) where kind orders a
/// language version < beta < rc < release, and number is the beta/rc/patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoVersion(u32, u32, u8, u32);

impl GoVersion {
    /// Parses `go1.22.10`, `1.22.10`, `1.21rc2`, `1.21`, `1`; anything after a
    /// space (`go1.22 X:boringcrypto`) is ignored.
    pub fn parse(text: &str) -> Option<GoVersion> {
        let v = text.split_whitespace().next()?;
        let v = v.strip_prefix("go").unwrap_or(v);
        let (major, rest) = split_number(v)?;
        if rest.is_empty() {
            return Some(GoVersion(major, 0, 0, 0));
        }
        let (minor, rest) = split_number(rest.strip_prefix('.')?)?;
        let (kind, rest) = if rest.is_empty() {
            return Some(GoVersion(major, minor, 0, 0));
        } else if let Some(r) = rest.strip_prefix("beta") {
            (1, r)
        } else if let Some(r) = rest.strip_prefix("rc") {
            (2, r)
        } else {
            (3, rest.strip_prefix('.')?)
        };
        let (number, rest) = split_number(rest)?;
        rest.is_empty()
            .then_some(GoVersion(major, minor, kind, number))
    }
}

fn split_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 || (end > 1 && s.starts_with('0')) {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// Compares two version texts; `None` if either does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(GoVersion::parse(a)?.cmp(&GoVersion::parse(b)?))
}

/// The first `go` or `toolchain` line of the go.mod at `path` that asks for a
/// newer Go than `toolchain` (such as `go1.22.10`). With GOTOOLCHAIN=local the
/// go command would fail on it; without, it would fetch and run another
/// toolchain, code the rebuild never vetted.
pub fn newer_requirement(path: &Path, toolchain: &str) -> std::io::Result<Option<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(|l| l.split("//").next().unwrap_or("").trim())
        .find(|line| {
            let wanted = match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["go", v] | ["toolchain", v] => v,
                _ => return false,
            };
            // `toolchain default` and unparsable values ask for nothing we
            // could compare; the go command rejects the latter itself.
            compare(wanted, toolchain) == Some(Ordering::Greater)
        })
        .map(str::to_string))
}

/// Whether Go `version` (`go1.27.3`) stamps a module built inside a git
/// submodule with the submodule's own revision: 1.27 and later. Earlier
/// ones stamp the outer repository's (measured with 1.22.10, 1.23.9,
/// 1.24.11, 1.25.5, 1.26.6 and 1.27.3 by `rebuilder/tests/releases.rs`'s
/// `which_revision_each_go_stamps_inside_a_submodule`).
pub fn stamps_submodule_revision(version: &str) -> bool {
    compare(version, "go1.27").is_some_and(|o| o != Ordering::Less)
}

#[cfg(test)]
mod tests {

    #[test]
    fn go_127_and_later_stamp_a_submodules_own_revision() {
        assert!(stamps_submodule_revision("go1.27.3"));
        assert!(stamps_submodule_revision("go1.27.0"));
        assert!(stamps_submodule_revision("go1.28.1"));
        assert!(!stamps_submodule_revision("go1.26.6"));
        assert!(!stamps_submodule_revision("go1.22.10"));
        assert!(!stamps_submodule_revision("not a version"));
    }
    use super::*;

    #[test]
    fn versions_order_like_gover() {
        let ordered = [
            "1.20.14",
            "1.21",
            "1.21beta1",
            "1.21rc1",
            "1.21rc2",
            "1.21.0",
            "go1.21.13",
            "1.22",
            "1.22.10",
            "go1.27.3",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Some(Ordering::Less), "{pair:?}");
        }
        assert_eq!(
            compare("go1.22.1 X:boringcrypto", "1.22.1"),
            Some(Ordering::Equal)
        );
        for bad in ["", "go", "1.", "1.21.", "1.021", "1.21x", "1.21rc", "v1.21"] {
            assert_eq!(GoVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn go_mod_lines_newer_than_the_toolchain_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("go.mod");
        let check = |text: &str| {
            std::fs::write(&path, text).unwrap();
            newer_requirement(&path, "go1.22.10").unwrap()
        };
        assert_eq!(check("module m\n\ngo 1.22\n"), None);
        assert_eq!(check("module m\ngo 1.22.10\ntoolchain go1.22.10\n"), None);
        assert_eq!(check("module m\ngo 1.21\ntoolchain default\n"), None);
        assert_eq!(
            check("module m\ngo 1.22\ntoolchain go1.99.0 // fetch me\n"),
            Some("toolchain go1.99.0".into())
        );
        assert_eq!(check("module m\ngo 1.23\n"), Some("go 1.23".into()));
        assert!(newer_requirement(&dir.path().join("missing"), "go1.22").is_err());
    }
}
