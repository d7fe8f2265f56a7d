//! Searching for the `-ldflags` string Go did not record.
//!
//! Under `-trimpath` Go leaves `-ldflags` out of the build info
//! (go.dev/issue/52372), and release builds use it for more than `-s -w`:
//! they stamp versions with `-X`, in an order set by their release tool. Two
//! facts make the search cheap:
//!
//! - The exact token order matters only to the link action ID (and so the Go
//!   and GNU build IDs): with both masked ([`crate::buildid`]) a build with the
//!   right flags in the wrong order equals the original, and finding the
//!   order then takes only relinks ([`orders`]).
//! - The linker writes each `-X` value as its own NUL-terminated string in
//!   read-only data, while Go string literals are packed together without NULs:
//!   a version, revision or date standing alone between NULs is the trace of an
//!   `-X` flag ([`standalone_strings`]). Pairing those values with the
//!   package-level string variables of the source ([`settable_vars`]) by name
//!   gives few candidates ([`x_assignments`]), each checked by a rebuild.

use object::{Object, ObjectSection};
use std::collections::BTreeSet;
use std::path::Path;

/// Most builds one search may run.
pub const MAX_LINKS: usize = 64;

/// Printable strings delimited by NUL on both sides in the read-only data
/// sections, with their file offsets, longest 256 bytes.
pub fn standalone_strings(data: &[u8]) -> Vec<(usize, String)> {
    let Ok(file) = object::File::parse(data) else {
        return vec![];
    };
    let mut out = Vec::new();
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        if !matches!(name, ".rodata" | "__rodata" | ".rdata" | "__const") {
            continue;
        }
        let (Ok(bytes), Some((offset, _))) = (section.data(), section.file_range()) else {
            continue;
        };
        let mut i = 1;
        while i < bytes.len() {
            if bytes[i - 1] != 0 || !is_printable(bytes[i]) {
                i += 1;
                continue;
            }
            let len = bytes[i..].iter().take_while(|&&b| is_printable(b)).count();
            let end = i + len;
            if end < bytes.len() && bytes[end] == 0 && len <= 256 {
                if let Ok(s) = std::str::from_utf8(&bytes[i..end]) {
                    out.push((offset as usize + i, s.to_string()));
                }
            }
            i = end + 1;
        }
    }
    out
}

fn is_printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

/// A package-level string variable `-X` can set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XVar {
    /// What `-X` names: `main.version` or `example.com/m/internal/build.Version`.
    pub symbol: String,
    /// The variable's name.
    pub name: String,
}

/// The string variables of the main package at `main_dir` (named `main.x`)
/// and of the module's other packages it imports, directly or not (named by
/// import path; a package only tests import is not linked, so `-X` on it
/// changes nothing), in declaration order: uninitialised `string` variables
/// and those initialised to a string literal, which is what `-X` can set.
pub fn settable_vars(module_root: &Path, module_path: &str, main_dir: &Path) -> Vec<XVar> {
    let linked = linked_dirs(module_root, module_path, main_dir);
    let mut out = Vec::new();
    let mut stack = vec![module_root.to_path_buf()];
    let mut dirs = 0;
    while let Some(dir) = stack.pop() {
        dirs += 1;
        if dirs > 2000 {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).collect();
        files.sort_by_key(|e| e.file_name());
        for e in files {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                let skip = name.starts_with(['.', '_']) || name == "testdata" || name == "vendor";
                // A nested go.mod starts another module.
                if !skip && !e.path().join("go.mod").exists() {
                    stack.push(e.path());
                }
                continue;
            }
            if !name.ends_with(".go") || name.ends_with("_test.go") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let Some(package) = package_name(&text) else {
                continue;
            };
            let prefix = if package == "main" {
                if dir != main_dir {
                    continue;
                }
                "main".to_string()
            } else if !linked.contains(&dir) {
                continue;
            } else {
                match dir.strip_prefix(module_root) {
                    Ok(rel) if rel.as_os_str().is_empty() => module_path.to_string(),
                    Ok(rel) => format!("{module_path}/{}", rel.display()),
                    Err(_) => continue,
                }
            };
            for var in string_vars(&text) {
                let x = XVar {
                    symbol: format!("{prefix}.{var}"),
                    name: var,
                };
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out
}

/// The directories of the module's packages the main package at
/// `main_dir` imports, directly or through others (from the `import`s of
/// their non-test files), `main_dir` included.
fn linked_dirs(
    module_root: &Path,
    module_path: &str,
    main_dir: &Path,
) -> BTreeSet<std::path::PathBuf> {
    let mut linked = BTreeSet::new();
    let mut todo = vec![main_dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        if !linked.insert(dir.clone()) || linked.len() > 2000 {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".go") || name.ends_with("_test.go") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            for path in imports(&text) {
                let rel = if path == module_path {
                    Some("")
                } else {
                    path.strip_prefix(&format!("{module_path}/"))
                };
                if let Some(rel) = rel {
                    todo.push(module_root.join(rel));
                }
            }
        }
    }
    linked
}

/// The import paths of a Go file (`import "p"`, `import x "p"`, and the
/// same in `import (…)` blocks).
fn imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        let spec = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line
        } else if line == "import (" {
            in_block = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("import ") {
            rest.trim()
        } else {
            continue;
        };
        if let Some(start) = spec.find('"') {
            if let Some(len) = spec[start + 1..].find('"') {
                out.push(spec[start + 1..start + 1 + len].to_string());
            }
        }
    }
    out
}

fn package_name(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("package "))
        .map(|p| p.split_whitespace().next().unwrap_or(""))
}

/// Names of top-level `var` declarations of type string or with a string
/// literal value (`var v string`, `var v = "dev"`, and the same in `var (…)`).
fn string_vars(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let decl = if in_block {
            if line.starts_with(')') {
                in_block = false;
                continue;
            }
            line.trim()
        } else if line.trim_end() == "var (" {
            in_block = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("var ") {
            rest.trim()
        } else {
            continue;
        };
        let decl = decl.split("//").next().unwrap_or("").trim();
        let (lhs, value) = match decl.split_once('=') {
            Some((l, v)) => (l.trim(), Some(v.trim())),
            None => (decl, None),
        };
        // `a, b string`: the type follows the last name.
        let mut names: Vec<&str> = lhs.split(',').map(str::trim).collect();
        let mut ty = "";
        if let Some(last) = names.last_mut() {
            if let Some((name, t)) = last.split_once(char::is_whitespace) {
                *last = name;
                ty = t.trim();
            }
        }
        let string_typed = ty == "string" || (ty.is_empty() && value.is_some());
        let literal = value.is_none_or(|v| {
            (v.starts_with('"') && v.ends_with('"') && v.len() >= 2)
                || (v.starts_with('`') && v.ends_with('`') && v.len() >= 2)
        });
        if string_typed && literal {
            for n in names {
                if !n.is_empty() && n != "_" && n.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    out.push(n.to_string());
                }
            }
        }
    }
    out
}

/// What a variable or a value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Version,
    Commit,
    Date,
    BuiltBy,
    /// A name that says nothing (`buildSource`, `channel`): words only.
    Other,
}

/// The kind a variable's name suggests.
pub fn kind_of_var(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    if n.contains("builtby") || n.contains("builder") || n == "by" {
        Some(Kind::BuiltBy)
    } else if n.contains("commit") || n.contains("revision") || n == "sha" || n.contains("githash")
    {
        Some(Kind::Commit)
    } else if n.contains("date") || n.contains("time") || n.contains("built") {
        Some(Kind::Date)
    } else if n.contains("version") || n == "ver" || n == "v" {
        Some(Kind::Version)
    } else {
        Some(Kind::Other)
    }
}

/// Values found in the binary, by kind, in the order found.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub version: Vec<String>,
    pub commit: Vec<String>,
    pub date: Vec<String>,
    pub other: Vec<String>,
}

impl Values {
    /// The values a variable of `kind` may take: the likely ones, and those
    /// tried only after leaving the variable unset. A revision variable
    /// takes hex revisions, and words after that (`-X main.revision=pypi`
    /// is common in repackagers); builder and unnamed variables take words.
    fn of(&self, kind: Kind) -> (&[String], &[String]) {
        match kind {
            Kind::Version => (&self.version, &[]),
            Kind::Commit => (&self.commit, &self.other),
            Kind::Date => (&self.date, &[]),
            Kind::BuiltBy | Kind::Other => (&self.other, &[]),
        }
    }
}

/// Sorts the standalone strings into candidate `-X` values: the module
/// version (with and without `v`), any semantic version, the VCS revision in
/// full or cut to 7 or more hex digits, RFC 3339 times and dates, and short
/// words near those (a builder's name, like `goreleaser`).
pub fn classify_values(
    strings: &[(usize, String)],
    module_version: Option<&str>,
    revision: Option<&str>,
) -> Values {
    let mut v = Values::default();
    let mut anchors = Vec::new();
    let push = |list: &mut Vec<String>, s: &str| {
        if !list.iter().any(|x| x == s) && list.len() < 8 {
            list.push(s.to_string());
        }
    };
    for (offset, s) in strings {
        let is_commit = revision.is_some_and(|r| {
            s.len() >= 7 && r.starts_with(s.as_str()) && s.bytes().all(|b| b.is_ascii_hexdigit())
        });
        let is_module_version = module_version
            .is_some_and(|m| m != "(devel)" && (s == m || Some(s.as_str()) == m.strip_prefix('v')));
        if is_commit {
            push(&mut v.commit, s);
        } else if is_module_version || is_semver(s) {
            push(&mut v.version, s);
        } else if is_date(s) {
            push(&mut v.date, s);
        } else {
            continue;
        }
        anchors.push(*offset);
    }
    // Words near the values found: the linker lays `-X` values out side
    // by side, so the nearest are the likeliest.
    let mut words: Vec<(usize, &str)> = Vec::new();
    for (offset, s) in strings {
        let Some(distance) = anchors.iter().map(|a| a.abs_diff(*offset)).min() else {
            continue;
        };
        let word = s.len() >= 2
            && s.len() <= 40
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !s.starts_with("go1.");
        let taken = v.version.contains(s) || v.commit.contains(s) || v.date.contains(s);
        if distance <= 4096 && word && !taken {
            words.push((distance, s));
        }
    }
    // Names release tools stamp themselves with come first, then by distance.
    const KNOWN_BUILDERS: &[&str] = &["goreleaser", "make", "ci", "github-actions", "nix"];
    words.sort_by_key(|(distance, s)| {
        let known = KNOWN_BUILDERS
            .iter()
            .position(|k| k == s)
            .unwrap_or(usize::MAX);
        (known, *distance)
    });
    for (_, s) in words {
        push(&mut v.other, s);
    }
    v
}

fn is_semver(s: &str) -> bool {
    let core = s.strip_prefix('v').unwrap_or(s);
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let ymd = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    ymd && (b.len() == 10 || matches!(b[10], b'T' | b' ')) && b.len() <= 35
}

/// Candidate sets of `-X` assignments, most likely first: for each kind of
/// variable the source has and the binary has values for, one variable and
/// one value, or none of them; at most `limit` sets. Choices are ranked (the
/// first variable with the first value first, leaving a kind unset last, but
/// second for builder names, which only release tools set) and sets are
/// taken in order of their rank sum.
pub fn x_assignments(vars: &[XVar], values: &Values, limit: usize) -> Vec<Vec<(XVar, String)>> {
    type Choice = (usize, Option<(XVar, String)>);
    let mut options: Vec<Vec<Choice>> = Vec::new();
    let kinds: BTreeSet<Kind> = vars.iter().filter_map(|v| kind_of_var(&v.name)).collect();
    for kind in kinds {
        let (likely, unlikely) = values.of(kind);
        let kind_vars: Vec<&XVar> = vars
            .iter()
            .filter(|v| kind_of_var(&v.name) == Some(kind))
            .collect();
        let pairs = |values: &[String]| -> Vec<Option<(XVar, String)>> {
            kind_vars
                .iter()
                .flat_map(|var| {
                    values
                        .iter()
                        .map(move |v| Some(((*var).clone(), v.clone())))
                })
                .collect()
        };
        let mut ranked = pairs(likely);
        if ranked.is_empty() && unlikely.is_empty() {
            continue;
        }
        // Builder names only release tools set, and a variable whose name
        // says nothing is most likely left alone: unset comes early.
        let unset_at = match kind {
            Kind::BuiltBy => 1.min(ranked.len()),
            Kind::Other => 0,
            _ => ranked.len(),
        };
        ranked.insert(unset_at, None);
        ranked.extend(pairs(unlikely));
        options.push(ranked.into_iter().enumerate().collect());
    }
    let mut sets: Vec<(usize, Vec<(XVar, String)>)> = vec![(0, vec![])];
    for opts in &options {
        let mut next = Vec::new();
        for (rank, set) in &sets {
            for (r, o) in opts {
                let mut s = set.clone();
                s.extend(o.clone());
                next.push((rank + r, s));
            }
        }
        next.sort_by_key(|(r, _)| *r);
        next.truncate(limit.max(1) * 4);
        sets = next;
    }
    let declared = |x: &XVar| vars.iter().position(|v| v == x).unwrap_or(usize::MAX);
    sets.into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(_, mut s)| {
            s.sort_by_key(|(x, _)| declared(x));
            s
        })
        .take(limit)
        .collect()
}

/// The units of an `-ldflags` string: flags, with `-X` kept together with its
/// value (`quoted.Split` tokens; cmd/go hashes the token list, not the text).
pub fn units(ldflags: &str) -> Vec<Vec<String>> {
    let tokens = crate::flags::split_quoted(ldflags).unwrap_or_default();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut it = tokens.into_iter();
    while let Some(t) = it.next() {
        if t == "-X" || t == "--X" {
            let value = it.next().unwrap_or_default();
            out.push(vec![t, value]);
        } else {
            out.push(vec![t]);
        }
    }
    out
}

/// Joins units back into an `-ldflags` string, quoting what needs it.
pub fn join(units: &[Vec<String>]) -> String {
    units
        .iter()
        .flatten()
        .map(|t| {
            if t.contains([' ', '\t', '\n', '\r', '\'', '"']) || t.is_empty() {
                if t.contains('\'') {
                    format!("\"{t}\"")
                } else {
                    format!("'{t}'")
                }
            } else {
                t.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Orders of `units` to try by relinking, the given one first, at most
/// `limit`: the plain flags (`-s`, `-w`, `-buildid=`) in every order, before
/// or after the `-X` flags, which come in their given order, sorted by symbol,
/// reversed, and (for up to four) in every order.
pub fn orders(given: &[Vec<String>], limit: usize) -> Vec<String> {
    let (xs, plain): (Vec<Vec<String>>, Vec<Vec<String>>) = given
        .iter()
        .cloned()
        .partition(|u| u[0].trim_start_matches('-').starts_with('X'));
    let mut x_orders: Vec<Vec<Vec<String>>> = vec![xs.clone()];
    let mut sorted = xs.clone();
    sorted.sort();
    x_orders.push(sorted);
    x_orders.push(xs.iter().rev().cloned().collect());
    if xs.len() <= 4 {
        x_orders.extend(permutations(&xs));
    }
    let plain_orders = permutations(&plain);
    let mut out: Vec<String> = vec![join(given)];
    for x in &x_orders {
        for p in &plain_orders {
            for s in [
                join(&[p.clone(), x.clone()].concat()),
                join(&[x.clone(), p.clone()].concat()),
            ] {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    out.truncate(limit);
    out
}

/// Every order of `items` (Heap's algorithm), the given one first.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn heap<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        heap(k - 1, a, out);
        for i in 0..k - 1 {
            if k % 2 == 0 {
                a.swap(i, k - 1);
            } else {
                a.swap(0, k - 1);
            }
            heap(k - 1, a, out);
        }
    }
    let mut a = items.to_vec();
    let mut out = Vec::new();
    heap(a.len(), &mut a, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_packages_the_main_package_imports_offer_variables() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |p: &str, text: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("go.mod", "module example.com/app\n");
        write(
            "main.go",
            "package main\n\nimport (\n\t\"fmt\"\n\n\tb \"example.com/app/internal/build\"\n)\n\nvar version = \"dev\"\n\nfunc main() { fmt.Println(version, b.Version) }\n",
        );
        write(
            "main_test.go",
            "package main\n\nimport \"example.com/app/internal/testutil\"\n",
        );
        write("internal/build/build.go", "package build\n\nimport \"example.com/app/internal/deep\"\n\nvar Version = deep.V\nvar Channel = \"x\"\n");
        write("internal/deep/deep.go", "package deep\n\nvar V = \"1\"\n");
        write(
            "internal/testutil/t.go",
            "package testutil\n\nvar Revision = \"\"\n",
        );
        let vars: Vec<String> = settable_vars(root, "example.com/app", root)
            .into_iter()
            .map(|v| v.symbol)
            .collect();
        assert!(vars.contains(&"main.version".to_string()), "{vars:?}");
        assert!(
            vars.contains(&"example.com/app/internal/build.Channel".to_string()),
            "{vars:?}"
        );
        assert!(
            vars.contains(&"example.com/app/internal/deep.V".to_string()),
            "{vars:?}"
        );
        assert!(!vars.iter().any(|v| v.contains("testutil")), "{vars:?}");
    }

    #[test]
    fn string_vars_are_found_as_x_can_set_them() {
        let src = "package main\n\nvar version = \"dev\"\nvar count = 3\nvar (\n\tcommit string\n\tdate, builtBy string // set by goreleaser\n\tflag = true\n\tname string = \"x\"\n)\n\nfunc f() {\n\tvar local string\n}\n";
        assert_eq!(
            string_vars(src),
            vec!["version", "commit", "date", "builtBy", "name"]
        );
    }

    #[test]
    fn values_are_sorted_by_what_they_look_like() {
        let rev = "0123456789abcdef0123456789abcdef01234567";
        let strings: Vec<(usize, String)> = [
            "1.2.3",
            "0123456",
            "2026-01-05T10:00:00Z",
            "goreleaser",
            "go1.27.3",
            "2026-01-05",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| (i * 16, s.to_string()))
        .collect();
        let v = classify_values(&strings, Some("v1.2.3"), Some(rev));
        assert_eq!(v.version, vec!["1.2.3"]);
        assert_eq!(v.commit, vec!["0123456"]);
        assert_eq!(v.date, vec!["2026-01-05T10:00:00Z", "2026-01-05"]);
        assert_eq!(v.other, vec!["goreleaser"]);
        let vars = ["version", "commit", "date", "builtBy"].map(|n| XVar {
            symbol: format!("main.{n}"),
            name: n.into(),
        });
        let sets = x_assignments(&vars, &v, 8);
        let first: Vec<String> = sets[0]
            .iter()
            .map(|(x, v)| format!("{}={v}", x.symbol))
            .collect();
        assert_eq!(
            first,
            vec![
                "main.version=1.2.3",
                "main.commit=0123456",
                "main.date=2026-01-05T10:00:00Z",
                "main.builtBy=goreleaser"
            ]
        );
        assert_eq!(sets[1].len(), 3, "builder names are left out second");
    }

    #[test]
    fn orders_start_with_the_given_one_and_stay_bounded() {
        let u = units("-s -w -X main.a=1 -X 'main.b=2 3'");
        assert_eq!(u.len(), 4);
        assert_eq!(join(&u), "-s -w -X main.a=1 -X 'main.b=2 3'");
        let o = orders(&u, 64);
        assert_eq!(o[0], "-s -w -X main.a=1 -X 'main.b=2 3'");
        assert!(o.contains(&"-w -s -X main.a=1 -X 'main.b=2 3'".to_string()));
        assert!(o.contains(&"-X 'main.b=2 3' -X main.a=1 -s -w".to_string()));
        let many = units("-s -w -buildid= -X a.a=1 -X a.b=2 -X a.c=3 -X a.d=4 -X a.e=5");
        assert!(orders(&many, 64).len() <= 64);
        assert_eq!(permutations(&[1, 2, 3]).len(), 6);
    }
}
