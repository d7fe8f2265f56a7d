//! The tags a scratch clone carries, set back to what the binary's recorded
//! main-module version says the original clone had.
//!
//! Since Go 1.24, `go build` in a git checkout stamps the main module's
//! version from the repository's tags: the semver tag on the built commit
//! (`v1.2.3`, or `tools/v1.2.3` for a module in the `tools` directory), else
//! a pseudo-version naming the highest semver tag below the commit (`v0.1.1-
//! 0.20260203014517-29e51233f19f` for a commit above `v0.1.0`; `v0.0.0-…`
//! with no tag below). A tag added on the commit after the release, or a
//! second one, changes the stamp, and with it the binary. So the clone's
//! tags are replaced by the one the recorded version implies, on the commit
//! or on its parent (the pseudo-version's base). The forms are Go's
//! (`golang.org/x/mod/module`, "Pseudo-versions").

use std::path::Path;

/// Where an implied tag points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagAt {
    /// The built commit: the recorded version is a release.
    Commit,
    /// The built commit's first parent: the recorded version is a
    /// pseudo-version with this tag as its base.
    Parent,
}

/// The tags the recorded main-module `version` implies for a module in the
/// repository directory `dir` ("" at the root): `None` when the version says
/// nothing about tags (`(devel)`, a dirty tree, not semver), else the tags
/// the original clone must have had, none for a pseudo-version without base.
pub fn implied_tags(version: &str, dir: &str) -> Option<Vec<(String, TagAt)>> {
    if version.ends_with("+dirty") || !is_semver(version) {
        return None;
    }
    // `+incompatible` is Go's mark for a v2+ tag without a /vN module path;
    // the tag itself has no build metadata.
    let version = version.split('+').next().unwrap_or(version);
    let name = |v: &str| match dir {
        "" => v.to_string(),
        d => format!("{d}/{v}"),
    };
    match pseudo_base(version) {
        Pseudo::Not => Some(vec![(name(version), TagAt::Commit)]),
        Pseudo::NoBase => Some(vec![]),
        Pseudo::Base(base) => Some(vec![(name(&base), TagAt::Parent)]),
        Pseudo::Malformed => None,
    }
}

/// What a version says of a pseudo-version's base tag.
enum Pseudo {
    /// Not a pseudo-version: a release (or pre-release) tag.
    Not,
    /// `vX.0.0-TIMESTAMP-REV`: no tag below the commit.
    NoBase,
    /// The tag below the commit.
    Base(String),
    /// Shaped like a pseudo-version, but no base Go would have written.
    Malformed,
}

/// Whether `v` looks like a semver version Go stamps (`vMAJOR.MINOR.PATCH`
/// with an optional pre-release and build part).
fn is_semver(v: &str) -> bool {
    // A version from a crafted binary becomes a tag name: semver's
    // characters only, and not without end.
    let charset = v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b));
    let Some(rest) = v.strip_prefix('v').filter(|_| charset) else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// For a pseudo-version, its base tag (see [`Pseudo`]).
fn pseudo_base(v: &str) -> Pseudo {
    // vX.Y.Z-PRE.0.TIMESTAMP-REV, vX.Y.Z-0.TIMESTAMP-REV or vX.0.0-TIMESTAMP-REV.
    let Some((head, rev)) = v.rsplit_once('-') else {
        return Pseudo::Not;
    };
    if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Pseudo::Not;
    }
    let is_time = |t: &str| t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit());
    let Some((before, time)) = head.rsplit_once(['.', '-']) else {
        return Pseudo::Not;
    };
    if !is_time(time) {
        return Pseudo::Not;
    }
    if head.as_bytes()[before.len()] == b'-' {
        // vX.0.0-TIMESTAMP-REV: no tag below.
        return match before.split_once('.') {
            Some((major, "0.0")) if major.starts_with('v') => Pseudo::NoBase,
            _ => Pseudo::Malformed,
        };
    }
    if let Some(base_pre) = before.strip_suffix(".0") {
        // vX.Y.Z-PRE.0.…: base vX.Y.Z-PRE.
        return if base_pre.contains('-') {
            Pseudo::Base(base_pre.to_string())
        } else {
            Pseudo::Malformed
        };
    }
    // vX.Y.Z-0.…: base vX.Y.(Z-1).
    let base = before
        .strip_suffix("-0")
        .and_then(|release| release.rsplit_once('.'))
        .and_then(|(mm, patch)| {
            Some(format!(
                "{mm}.{}",
                patch.parse::<u64>().ok()?.checked_sub(1)?
            ))
        });
    match base {
        Some(base) => Pseudo::Base(base),
        None => Pseudo::Malformed,
    }
}

/// The directory of `module_root` inside the repository `repo` ("" for the
/// root), or `None` when the module is in a nested repository (a
/// submodule), whose tags this does not govern.
pub fn dir_in_repo(repo: &Path, module_root: &Path) -> Option<String> {
    let rel = module_root.strip_prefix(repo).ok()?;
    let mut at = repo.to_path_buf();
    for part in rel.components() {
        at.push(part);
        if at.join(".git").exists() {
            return None;
        }
    }
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_imply_the_tags_go_read() {
        let at = |v: &str, d: &str| implied_tags(v, d);
        assert_eq!(
            at("v1.2.3", ""),
            Some(vec![("v1.2.3".into(), TagAt::Commit)])
        );
        assert_eq!(
            at("v0.1.0", "tools"),
            Some(vec![("tools/v0.1.0".into(), TagAt::Commit)])
        );
        assert_eq!(
            at("v2.0.1+incompatible", ""),
            Some(vec![("v2.0.1".into(), TagAt::Commit)])
        );
        assert_eq!(
            at("v0.1.1-0.20260203014517-29e51233f19f", ""),
            Some(vec![("v0.1.0".into(), TagAt::Parent)])
        );
        assert_eq!(
            at("v1.3.0-rc.1.0.20260203014517-29e51233f19f", "x/y"),
            Some(vec![("x/y/v1.3.0-rc.1".into(), TagAt::Parent)])
        );
        assert_eq!(at("v0.0.0-20260203014517-29e51233f19f", ""), Some(vec![]));
        assert_eq!(at("v2.0.0-20260203014517-29e51233f19f", ""), Some(vec![]));
        assert_eq!(
            at("v1.2.4-pre", ""),
            Some(vec![("v1.2.4-pre".into(), TagAt::Commit)])
        );
        // Nothing said of tags.
        assert_eq!(at("(devel)", ""), None);
        assert_eq!(at("v1.2.3+dirty", ""), None);
        assert_eq!(at("v0.1.1-0.20260203014517-29e51233f19f+dirty", ""), None);
        assert_eq!(at("1.2.3", ""), None);
        assert_eq!(at("", ""), None);
        assert_eq!(at("v1.2.3-a b", ""), None, "not a tag name");
        assert_eq!(at("v1.2.3-\u{1b}[2J", ""), None);
        // A patch of 0 cannot be a base's successor.
        assert_eq!(at("v1.2.0-0.20260203014517-29e51233f19f", ""), None);
    }
}
