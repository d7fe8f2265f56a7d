//! Explaining a mismatch: which build settings differ, which parts of the Go
//! build ID, which sections, which absolute paths the original carries, and
//! what to do about it.

use crate::buildinfo::BuildInfo;
use object::{Object, ObjectSection};
use reprolog_proto::Hash;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One section compared between the original and the rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionDiff {
    pub name: String,
    pub original_size: Option<u64>,
    pub rebuilt_size: Option<u64>,
    pub original_sha256: Option<String>,
    pub rebuilt_sha256: Option<String>,
}

/// Everything learned from comparing two binaries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Diagnosis {
    /// Build info lines only in the original.
    pub only_in_original: Vec<String>,
    /// Build info lines only in the rebuild.
    pub only_in_rebuilt: Vec<String>,
    pub original_build_id: Option<String>,
    pub rebuilt_build_id: Option<String>,
    /// Which of the build ID's parts differ, in words.
    pub build_id_note: Option<String>,
    /// Sections whose size or content differ.
    pub sections: Vec<SectionDiff>,
    /// Absolute source directories baked into the original.
    pub path_leaks: Vec<String>,
    /// Plain-words explanation and advice.
    pub advice: Vec<String>,
}

/// Compares an original binary with a rebuild.
pub fn diagnose(original: &[u8], rebuilt: &[u8]) -> Diagnosis {
    let mut d = Diagnosis::default();
    let lines = |data: &[u8]| -> BTreeSet<String> {
        BuildInfo::from_binary(data)
            .map(|i| {
                let mut set: BTreeSet<String> =
                    i.modinfo_text().lines().map(str::to_string).collect();
                set.insert(format!("go\t{}", i.go_version));
                set
            })
            .unwrap_or_default()
    };
    let (a, b) = (lines(original), lines(rebuilt));
    d.only_in_original = a.difference(&b).cloned().collect();
    d.only_in_rebuilt = b.difference(&a).cloned().collect();
    d.original_build_id = go_build_id(original);
    d.rebuilt_build_id = go_build_id(rebuilt);
    d.build_id_note = build_id_note(
        d.original_build_id.as_deref(),
        d.rebuilt_build_id.as_deref(),
    );
    d.sections = section_diffs(original, rebuilt);
    d.path_leaks = path_leaks(original);
    d.advice = advice(&d);
    d
}

pub use crate::buildid::go_build_id;

/// Explains which parts of two build IDs differ (see [`crate::buildid::explain`]).
fn build_id_note(a: Option<&str>, b: Option<&str>) -> Option<String> {
    Some(crate::buildid::explain(a?, b?))
}

fn section_map(data: &[u8]) -> BTreeMap<String, (u64, String)> {
    let Ok(file) = object::File::parse(data) else {
        return BTreeMap::new();
    };
    file.sections()
        .filter_map(|s| {
            let name = s.name().ok()?.to_string();
            let content = s.data().unwrap_or(&[]);
            Some((name, (s.size(), Hash::of(content).to_hex())))
        })
        .collect()
}

fn section_diffs(original: &[u8], rebuilt: &[u8]) -> Vec<SectionDiff> {
    let (a, b) = (section_map(original), section_map(rebuilt));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| SectionDiff {
            name: n.clone(),
            original_size: a.get(n).map(|x| x.0),
            rebuilt_size: b.get(n).map(|x| x.0),
            original_sha256: a.get(n).map(|x| x.1.clone()),
            rebuilt_sha256: b.get(n).map(|x| x.1.clone()),
        })
        .collect()
}

/// Absolute directories of `.go` files named in the binary: a build without
/// -trimpath records where GOROOT, the module cache and the source lived.
///
/// Files under a GOROOT (recognised by its `src/runtime/`) or a module cache
/// are summarised by that root, and source directories nested in another
/// source directory by the outer one, so the few lines shown name each
/// place once.
pub fn path_leaks(data: &[u8]) -> Vec<String> {
    let files = go_file_paths(data);
    let goroots: BTreeSet<&str> = files
        .iter()
        .filter_map(|p| p.find("/src/runtime/").map(|i| &p[..i]))
        .collect();
    let mut caches = BTreeSet::new();
    let mut sources = BTreeSet::new();
    for path in &files {
        if goroots.iter().any(|g| is_under(path, g)) {
            continue;
        }
        if let Some(i) = path.find("/pkg/mod/") {
            caches.insert(&path[..i + "/pkg/mod".len()]);
        } else if let Some(dir) = path.rfind('/').map(|i| &path[..i]) {
            if !dir.is_empty() {
                sources.insert(dir);
            }
        }
    }
    let outermost: Vec<&str> = sources
        .iter()
        .copied()
        .filter(|d| !sources.iter().any(|o| o != d && is_under(d, o)))
        .collect();
    let mut out: Vec<String> = outermost.iter().map(|d| format!("source {d}")).collect();
    out.extend(goroots.iter().map(|g| format!("GOROOT {g}")));
    out.extend(caches.iter().map(|c| format!("module cache {c}")));
    out.truncate(20);
    out
}

/// Every absolute `*.go` path that appears as a string in `data`.
pub(crate) fn go_file_paths(data: &[u8]) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut i = 0;
    while i < data.len() {
        if data[i] != b'/' || (i > 0 && is_path_byte(data[i - 1])) {
            i += 1;
            continue;
        }
        let end = data[i..]
            .iter()
            .position(|&c| !is_path_byte(c))
            .map_or(data.len(), |p| i + p);
        let s = &data[i..end];
        if s.ends_with(b".go") && s.len() > 4 {
            if let Ok(path) = std::str::from_utf8(s) {
                files.insert(path.to_string());
            }
        }
        i = end.max(i + 1);
    }
    files
}

/// Whether `path` lies inside directory `dir`.
pub(crate) fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

fn is_path_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"/._-+@~".contains(&c)
}

/// The main module's recorded version in the original and the rebuild,
/// when only that differs on its `mod` line.
fn main_version_change(d: &Diagnosis) -> Option<(String, String)> {
    let main = |lines: &[String]| {
        lines.iter().find_map(|l| {
            let mut f = l.split('\t');
            (f.next() == Some("mod"))
                .then(|| (f.next().map(str::to_string), f.next().map(str::to_string)))
        })
    };
    let (Some(path_a), Some(theirs)) = main(&d.only_in_original)? else {
        return None;
    };
    let (Some(path_b), Some(ours)) = main(&d.only_in_rebuilt)? else {
        return None;
    };
    (path_a == path_b && theirs != ours).then_some((theirs, ours))
}

/// Whether the two Go build IDs say the main package's compile inputs and
/// output are the same (only link inputs differ).
fn same_main_package(d: &Diagnosis) -> bool {
    let parts = |id: &Option<String>| -> Option<Vec<String>> {
        let p: Vec<String> = id.as_deref()?.split('/').map(str::to_string).collect();
        (p.len() == 4).then_some(p)
    };
    match (parts(&d.original_build_id), parts(&d.rebuilt_build_id)) {
        (Some(a), Some(b)) => a[1] == b[1] && a[2] == b[2],
        _ => false,
    }
}

fn advice(d: &Diagnosis) -> Vec<String> {
    let mut out = Vec::new();
    if !d.path_leaks.is_empty() {
        out.push(format!(
            "The original contains absolute build paths ({}): it was built without -trimpath, so its bytes depend on the directories it was built in. Rebuild in the same directories or ask the publisher to build with -trimpath.",
            d.path_leaks.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some((theirs, ours)) = main_version_change(d) {
        out.push(format!(
            "The version Go stamped for the main module differs: the original has {theirs}, the rebuild {ours}. Since Go 1.24 it comes from the repository's tags: tags changed since the build (added, moved or deleted)."
        ));
    }
    if !d.only_in_original.is_empty() || !d.only_in_rebuilt.is_empty() {
        out.push(format!(
            "The build information differs: the original has [{}], the rebuild has [{}]. The rebuild used different inputs (source revision, dependency versions or settings).",
            d.only_in_original.join("; "),
            d.only_in_rebuilt.join("; ")
        ));
    }
    let changed: Vec<&str> = d.sections.iter().map(|s| s.name.as_str()).collect();
    if !changed.is_empty() {
        let code = changed.iter().any(|n| *n == ".text" || *n == "__text");
        out.push(format!(
            "{} section(s) differ: {}.{}",
            changed.len(),
            changed
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if code && same_main_package(d) {
                " The machine code differs only as linking makes it: the main package compiled to the same output, and other link inputs (an -X value, a dependency, a link setting) move addresses and strings."
            } else if code {
                " The machine code differs, so the program itself is not the same."
            } else {
                " The code sections match; only data or metadata differ."
            }
        ));
    }
    if let Some(n) = &d.build_id_note {
        out.push(format!("{n}."));
    }
    if out.is_empty() {
        out.push("The binaries differ in bytes no section covers (headers or padding); the file may have been modified after the build.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_leaks_name_goroot_module_cache_and_source() {
        let data = b"\x00/usr/local/go/src/runtime/proc.go\x00/usr/local/go/src/fmt/print.go\x00/root/go/pkg/mod/golang.org/x/text@v0.3.0/a.go\x00/home/alice/proj/main.go\x00/home/alice/proj/internal/x/x.go\x00not/a/path.go\x00";
        let leaks = path_leaks(data);
        assert_eq!(leaks[0], "source /home/alice/proj", "source first");
        assert!(
            leaks.contains(&"GOROOT /usr/local/go".to_string()),
            "{leaks:?}"
        );
        assert!(leaks.contains(&"module cache /root/go/pkg/mod".to_string()));
        assert!(leaks.contains(&"source /home/alice/proj".to_string()));
        assert_eq!(leaks.len(), 3);
    }

    #[test]
    fn a_changed_main_module_version_is_named_as_a_tag_change() {
        let d = Diagnosis {
            only_in_original: vec![
                "mod\texample.com/late\tv0.1.1-0.20260102030405-0123456789ab\t".into(),
            ],
            only_in_rebuilt: vec!["mod\texample.com/late\tv0.1.1\t".into()],
            ..Diagnosis::default()
        };
        let said = advice(&d).join("\n");
        assert!(
            said.contains("The version Go stamped for the main module differs: the original has v0.1.1-0.20260102030405-0123456789ab, the rebuild v0.1.1.")
                && said.contains("tags changed since the build"),
            "{said}"
        );
        // A dependency's version is not the main module's.
        let d = Diagnosis {
            only_in_original: vec!["dep\texample.com/dep\tv1.0.0\th1:x".into()],
            only_in_rebuilt: vec!["dep\texample.com/dep\tv1.0.1\th1:y".into()],
            ..Diagnosis::default()
        };
        assert!(!advice(&d).join("\n").contains("main module"));
    }

    #[test]
    fn a_link_only_difference_is_not_called_a_different_program() {
        let d = Diagnosis {
            original_build_id: Some("L1/M/C/B1".into()),
            rebuilt_build_id: Some("L2/M/C/B2".into()),
            sections: vec![SectionDiff {
                name: ".text".into(),
                original_size: Some(10),
                rebuilt_size: Some(10),
                original_sha256: None,
                rebuilt_sha256: None,
            }],
            ..Diagnosis::default()
        };
        let said = advice(&d).join("\n");
        assert!(said.contains("differs only as linking makes it"), "{said}");
        assert!(
            !said.contains("the program itself is not the same"),
            "{said}"
        );
        let d = Diagnosis {
            rebuilt_build_id: Some("L2/M2/C2/B2".into()),
            ..d
        };
        assert!(advice(&d)
            .join("\n")
            .contains("the program itself is not the same"));
    }
}
