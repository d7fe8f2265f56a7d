//! Build flags are data, never commands.
//!
//! Go records `-gcflags`, `-asmflags` and `-ldflags` in a binary exactly as they
//! were given, and a rebuild passes them back to the toolchain. A crafted binary
//! or attestation could therefore name files (`-o`), programs (`-extld`) or
//! directories (`-tmpdir`) on the rebuilder's machine. Every recorded setting is
//! parsed here with cmd/go's own rules and each tool flag is checked against an
//! allow-list of flags that only change *what* is compiled; anything else is
//! refused with the reason.
//!
//! - Splitting: `cmd/internal/quoted.Split` (fields separated by spaces, `'…'`
//!   and `"…"` quote a field, no escapes) after `cmd/go/internal/load/flag.go`'s
//!   `PerPackageFlag.set` (an optional `pattern=` prefix when the value does not
//!   start with `-`).
//! - Flag syntax: Go's `flag` package (`-name`, `--name`, `-name=value`, and
//!   `-name value` for flags that take a value; the first non-flag argument ends
//!   the flags, and the tools read such arguments as input files).
//! - The allow-lists follow the spirit of `cmd/go/internal/work/security.go`,
//!   which guards `#cgo` flags the same way: accept the known harmless, refuse
//!   the rest.

use reprolog_proto::display;

/// The tool a flag list is passed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `go tool compile` (`-gcflags`).
    Compile,
    /// `go tool asm` (`-asmflags`).
    Asm,
    /// `go tool link` (`-ldflags`).
    Link,
}

/// How a flag takes its argument.
#[derive(Clone, Copy)]
enum Arg {
    /// `-name` or `-name=<bool or count>`.
    Bool,
    /// `-name=value` or `-name value`; the check returns why a value is refused.
    Value(fn(&str) -> Result<(), &'static str>),
}

type Spec = (&'static str, Arg);

const COMPILE: &[Spec] = &[
    ("N", Arg::Bool),
    ("l", Arg::Bool),
    ("m", Arg::Bool),
    ("B", Arg::Bool),
    ("C", Arg::Bool),
    ("S", Arg::Bool),
    ("e", Arg::Bool),
    ("live", Arg::Bool),
    ("nolocalimports", Arg::Bool),
    ("std", Arg::Bool),
    ("complete", Arg::Bool),
    ("smallframes", Arg::Bool),
    ("dwarf", Arg::Bool),
    ("dwarflocationlists", Arg::Bool),
    ("dwarfbasentries", Arg::Bool),
    ("wb", Arg::Bool),
    ("race", Arg::Bool),
    ("msan", Arg::Bool),
    ("asan", Arg::Bool),
    ("shared", Arg::Bool),
    ("dynlink", Arg::Bool),
    ("c", Arg::Value(digits)),
    ("spectre", Arg::Value(word_list)),
    ("d", Arg::Value(compile_debug)),
];

const ASM: &[Spec] = &[
    ("dynlink", Arg::Bool),
    ("shared", Arg::Bool),
    ("e", Arg::Bool),
    ("spectre", Arg::Value(word_list)),
    ("D", Arg::Value(asm_define)),
];

const LINK: &[Spec] = &[
    ("s", Arg::Bool),
    ("w", Arg::Bool),
    ("compressdwarf", Arg::Bool),
    ("aslr", Arg::Bool),
    ("checklinkname", Arg::Bool),
    ("X", Arg::Value(link_x)),
    ("buildid", Arg::Value(build_id)),
    ("B", Arg::Value(gnu_build_id)),
    ("linkmode", Arg::Value(link_mode)),
    ("H", Arg::Value(head_type)),
    ("strictdups", Arg::Value(digits)),
];

/// Flags known to name a file, directory or program, refused with that reason
/// (any flag not on an allow-list is refused too, with a plainer one).
const NAMES_A_PATH: &[&str] = &[
    "o",
    "tmpdir",
    "extld",
    "extldflags",
    "extar",
    "importcfg",
    "embedcfg",
    "r",
    "L",
    "I",
    "D",
    "asmhdr",
    "symabis",
    "linkobj",
    "trimpath",
    "json",
    "pgoprofile",
    "cpuprofile",
    "memprofile",
    "blockprofile",
    "mutexprofile",
    "traceprofile",
    "bench",
    "benchmarkprofile",
    "coveragecfg",
    "installsuffix",
    "capturehostobjs",
    "dumpdep",
];

impl Tool {
    fn specs(self) -> &'static [Spec] {
        match self {
            Tool::Compile => COMPILE,
            Tool::Asm => ASM,
            Tool::Link => LINK,
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Tool::Compile => "-gcflags",
            Tool::Asm => "-asmflags",
            Tool::Link => "-ldflags",
        }
    }
}

/// Splits a flag string like `cmd/internal/quoted.Split`: fields are separated
/// by spaces, tabs, CR or LF; a field that starts with `'` or `"` runs to the
/// next identical quote, with no escapes inside.
pub fn split_quoted(mut s: &str) -> Result<Vec<String>, String> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let mut fields = Vec::new();
    loop {
        s = s.trim_start_matches(is_space);
        let Some(first) = s.chars().next() else {
            return Ok(fields);
        };
        if first == '\'' || first == '"' {
            let rest = &s[1..];
            let end = rest
                .find(first)
                .ok_or_else(|| format!("unterminated {first} string"))?;
            fields.push(rest[..end].to_string());
            s = &rest[end + 1..];
        } else {
            let end = s.find(is_space).unwrap_or(s.len());
            fields.push(s[..end].to_string());
            s = &s[end..];
        }
    }
}

/// Splits a per-package flag value as `PerPackageFlag.set` does: a value that
/// does not start with `-` is `pattern=flags`. Returns the pattern, if any, and
/// the flags.
pub fn split_per_package(value: &str) -> Result<(Option<String>, Vec<String>), String> {
    let v = value.trim_matches(|c: char| c.is_ascii_whitespace());
    if v.is_empty() {
        return Ok((None, vec![]));
    }
    if v.starts_with('-') {
        return Ok((None, split_quoted(v)?));
    }
    let (pattern, flags) = v
        .split_once('=')
        .ok_or("missing =<value> in <pattern>=<value>")?;
    if pattern.is_empty() {
        return Err("missing <pattern> in <pattern>=<value>".into());
    }
    if pattern.starts_with(['\'', '"']) {
        return Err("parameter may not start with a quote character".into());
    }
    Ok((Some(pattern.trim().to_string()), split_quoted(flags)?))
}

/// Checks a recorded or inferred `-gcflags`, `-asmflags` or `-ldflags` value.
/// `Err` says why it is refused.
pub fn check_tool_flags(tool: Tool, value: &str) -> Result<(), String> {
    let (pattern, args) = split_per_package(value)?;
    if let Some(p) = pattern {
        check_pattern(&p).map_err(|why| format!("package pattern {}: {why}", shown(&p)))?;
    }
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(format!(
                "{} is not a flag; the tool would read it as an input file",
                shown(arg)
            ));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        if name.is_empty() || name.starts_with(['-', '=']) {
            return Err(format!("{} is not a flag", shown(arg)));
        }
        let spec = tool.specs().iter().find(|(n, _)| *n == name);
        let Some((_, kind)) = spec else {
            return Err(if NAMES_A_PATH.contains(&name) {
                format!("-{name} names a file, directory or program on the rebuilder's machine")
            } else {
                format!(
                    "-{} is not on the list of {} flags a rebuild may pass",
                    shown(name),
                    tool.setting()
                )
            });
        };
        match kind {
            Arg::Bool => {
                if let Some(v) = inline {
                    if !(v == "true" || v == "false" || digits(v).is_ok()) {
                        return Err(format!("-{name}={} is not a boolean or count", shown(v)));
                    }
                }
            }
            Arg::Value(check) => {
                let v = match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| format!("-{name} is missing its value"))?,
                };
                check(v).map_err(|why| format!("-{name} {}: {why}", shown(v)))?;
            }
        }
    }
    Ok(())
}

/// Checks a recorded `-tags` value (comma- or space-separated build tags).
pub fn check_tags(value: &str) -> Result<(), String> {
    let tags: Vec<String> = if value.contains(',') {
        value.split(',').map(str::to_string).collect()
    } else {
        split_quoted(value)?
    };
    for tag in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("{} is not a build tag", shown(tag)));
        }
    }
    Ok(())
}

/// Checks a package pattern (`cmd/...`, `all`, `example.com/x/...`).
pub fn check_pattern(p: &str) -> Result<(), &'static str> {
    if p.is_empty() || p.len() > 512 {
        return Err("empty or too long");
    }
    if p.starts_with(['/', '.']) {
        return Err("patterns name packages, not directories");
    }
    let ok = p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._~/+-".contains(c));
    if !ok {
        return Err("contains characters no package path has");
    }
    if p.split('/').any(|e| e == "..") {
        return Err("contains a .. element");
    }
    Ok(())
}

/// Attacker text inside an error message: escaped and bounded.
fn shown(s: &str) -> String {
    format!("{:?}", display::escape(s, 80))
}

fn digits(v: &str) -> Result<(), &'static str> {
    if !v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("expected a small number")
    }
}

fn word_list(v: &str) -> Result<(), &'static str> {
    if v.len() <= 64 && v.chars().all(|c| c.is_ascii_lowercase() || c == ',') {
        Ok(())
    } else {
        Err("expected a comma-separated list of words")
    }
}

/// `-d` debug settings that change code but write nothing and read nothing.
fn compile_debug(v: &str) -> Result<(), &'static str> {
    const ALLOWED: &[&str] = &["checkptr", "libfuzzer"];
    for item in v.split(',') {
        let (key, val) = item.split_once('=').unwrap_or((item, "1"));
        if !ALLOWED.contains(&key) || digits(val).is_err() {
            return Err("only -d=checkptr and -d=libfuzzer are accepted");
        }
    }
    Ok(())
}

fn asm_define(v: &str) -> Result<(), &'static str> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_=.".contains(c));
    ok.then_some(()).ok_or("expected NAME or NAME=VALUE")
}

/// `-X importpath.name=value`: any printable value; the symbol must be a
/// package path and a name.
fn link_x(v: &str) -> Result<(), &'static str> {
    let (symbol, value) = v.split_once('=').ok_or("expected importpath.name=value")?;
    let (pkg, name) = symbol
        .rsplit_once('.')
        .ok_or("expected importpath.name=value")?;
    let ident = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if check_pattern(pkg).is_err() || pkg.contains("...") || !ident {
        return Err("expected importpath.name=value");
    }
    if value.len() > 4096 || value.chars().any(display::is_unsafe) {
        return Err("the value is too long or holds control or bidi characters");
    }
    Ok(())
}

fn build_id(v: &str) -> Result<(), &'static str> {
    let ok = v.len() <= 256
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/=+.".contains(c));
    ok.then_some(()).ok_or("not a Go build ID")
}

fn gnu_build_id(v: &str) -> Result<(), &'static str> {
    let hex = v.strip_prefix("0x").is_some_and(|h| {
        !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
    });
    (hex || v == "gobuildid" || v == "none")
        .then_some(())
        .ok_or("expected 0x<hex>, gobuildid or none")
}

fn link_mode(v: &str) -> Result<(), &'static str> {
    match v {
        "internal" | "auto" => Ok(()),
        "external" => Err("external linking runs the host's C linker, which a rebuild never does"),
        _ => Err("unknown link mode"),
    }
}

fn head_type(v: &str) -> Result<(), &'static str> {
    match v {
        "windowsgui" | "windows" => Ok(()),
        _ => Err("only -H windowsgui is accepted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_cmd_go() {
        assert_eq!(split_quoted(" -s  -w ").unwrap(), vec!["-s", "-w"]);
        assert_eq!(
            split_quoted(r#"-X 'main.v=1 2' "-X" main.c=x"#).unwrap(),
            vec!["-X", "main.v=1 2", "-X", "main.c=x"]
        );
        assert_eq!(split_quoted("'-o''/x'").unwrap(), vec!["-o", "/x"]);
        assert!(split_quoted("'-o").is_err());
        assert_eq!(
            split_per_package("cmd/...=-dwarf=false").unwrap(),
            (Some("cmd/...".into()), vec!["-dwarf=false".into()])
        );
        assert!(split_per_package("=-s").is_err());
        assert!(split_per_package("no-equals").is_err());
    }

    #[test]
    fn harmless_flags_pass() {
        for (tool, v) in [
            (Tool::Compile, "cmd/...=-dwarf=false"),
            (Tool::Compile, "all=-N -l"),
            (Tool::Compile, "-m=2 -d=checkptr"),
            (Tool::Asm, "-D GOAMD64_v1"),
            (Tool::Link, "-s -w"),
            (Tool::Link, "-w -s -buildid="),
            (
                Tool::Link,
                "-s -w -X main.version=1.2.3 -X 'main.date=2026-01-02 03:04' -X=example.com/x/internal/build.Version=v1",
            ),
            (Tool::Link, "--s -linkmode internal -B gobuildid"),
            (Tool::Link, ""),
        ] {
            assert_eq!(check_tool_flags(tool, v), Ok(()), "{v}");
        }
        assert_eq!(check_tags("netgo,osusergo"), Ok(()));
        assert_eq!(check_tags("netgo osusergo"), Ok(()));
    }

    #[test]
    fn flags_that_name_paths_are_refused_in_every_spelling() {
        for tool in [Tool::Compile, Tool::Asm, Tool::Link] {
            for v in [
                "-o=/x",
                "-o /x",
                "'-o' '/x'",
                "\"-o\" \"/x\"",
                "-N '-o' '/x'",
                "x='-o' '/x'",
                "--o=/x",
                "pattern=-o=/x",
                "example.com/none=-o /x",
                "-s /x",
                "-I=/etc",
            ] {
                // Go itself rejects a value that starts with a quote.
                let err = check_tool_flags(tool, v).unwrap_err();
                assert!(
                    !err.is_empty() && !err.contains('\n'),
                    "{tool:?} {v}: {err}"
                );
            }
        }
        for v in [
            "-extld=/bin/sh -linkmode=external",
            "-linkmode=external",
            "-extldflags=-Wl,-o/x",
            "-tmpdir /x",
            "-r /x",
            "-L /x",
            "-X",
            "-X main.v",
            "-X ../x.v=1",
            "-B 0xzz",
            "-X main.v=a\u{202e}b",
        ] {
            assert!(check_tool_flags(Tool::Link, v).is_err(), "{v}");
        }
        for v in [
            "-d=ssa/all/dump=x",
            "-json=0,file:///x",
            "-pgoprofile=/x",
            "-c=x",
        ] {
            assert!(check_tool_flags(Tool::Compile, v).is_err(), "{v}");
        }
        assert!(check_tool_flags(Tool::Compile, "../..=-N").is_err());
        assert!(check_tool_flags(Tool::Compile, "/abs=-N").is_err());
        assert!(check_tags("a;rm").is_err());
    }

    #[test]
    fn refusals_escape_attacker_text() {
        let err = check_tool_flags(Tool::Link, "-\u{202e}x\x1b[2J").unwrap_err();
        assert!(!err.contains('\u{202e}') && !err.contains('\x1b'), "{err}");
        assert!(err.contains("\\u{202e}"), "{err}");
    }
}
