//! From build info to a build plan: which toolchain, which source, which flags
//! and environment reproduce the binary. Every recorded setting is either turned
//! into an input or, if it cannot be reproduced hermetically, refused with the
//! reason.

use crate::buildinfo::{BuildInfo, Module, Setting};
use crate::flags::{self, Tool};
use crate::modpath;
use reprolog_proto::display;
use serde::Serialize;

/// Why a binary cannot be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("built with cgo (CGO_ENABLED=1): the host C toolchain and libraries become inputs, so the rebuild would not be hermetic")]
    Cgo,
    #[error("built with the {0} compiler; only gc builds can be reproduced")]
    Compiler(String),
    #[error("built from a modified working tree (vcs.modified=true): the exact source is unknown")]
    DirtyTree,
    #[error("binary has no main package path in its build info")]
    NoPath,
    #[error("build setting {key}={value} cannot be reproduced: {why}")]
    Unsupported {
        key: String,
        value: String,
        why: &'static str,
    },
    #[error("cannot tell where the source comes from: main module {0:?} has no version and no VCS revision")]
    UnknownSource(String),
    /// An input that could make the build reach outside its scratch space, or
    /// that no real build has (flags.rs, modpath.rs). Attacker text in `what`
    /// and `why` is already escaped and bounded.
    #[error("{what} refused: {why}")]
    Refused { what: String, why: String },
}

impl PlanError {
    fn refused(what: impl Into<String>) -> impl FnOnce(String) -> PlanError {
        let what = what.into();
        move |why| PlanError::Refused { what, why }
    }
}

/// Where the source of the main package comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A command of the Go distribution (`cmd/...`), built from the toolchain's own `src/`.
    Distribution,
    /// A module version fetched through GOPROXY (`go install path@version`).
    Module {
        path: String,
        version: String,
        sum: String,
    },
    /// Nothing in the binary says where the source is (main module `(devel)`,
    /// no VCS stamp): only a directory the user names can be tried, and a match
    /// shows only that this directory builds the binary.
    Unidentified {
        /// The main module path.
        module: String,
    },
    /// A version-control checkout at a recorded revision.
    Vcs {
        vcs: String,
        revision: String,
        /// The main module path (the checkout's go.mod names it).
        module: String,
    },
}

/// Everything needed to repeat the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildPlan {
    pub go_version: String,
    /// Main package import path.
    pub path: String,
    pub main_module: Option<Module>,
    pub source: Source,
    /// `go build` flags, in the order Go records the settings (without -ldflags).
    pub flags: Vec<String>,
    /// Environment the settings require (CGO_ENABLED, GOOS, GOARCH, GOAMD64, ...).
    pub env: Vec<(String, String)>,
    /// -ldflags as recorded; `None` when Go did not record it.
    pub ldflags: Option<String>,
    pub trimpath: bool,
    /// The DefaultGODEBUG the original carries, a check on module mode.
    pub default_godebug: Option<String>,
    /// Every recorded setting, in order.
    pub settings: Vec<Setting>,
    pub deps: Vec<Module>,
}

/// Settings that are environment variables of the build.
const ENV_SETTINGS: &[&str] = &[
    "CGO_ENABLED",
    "GOOS",
    "GOARCH",
    "GO386",
    "GOAMD64",
    "GOARM",
    "GOARM64",
    "GOMIPS",
    "GOMIPS64",
    "GOPPC64",
    "GORISCV64",
    "GOWASM",
    "GOEXPERIMENT",
    "GOFIPS140",
];

/// Boolean flags recorded as `-flag=true`.
const BOOL_FLAGS: &[&str] = &["-race", "-msan", "-asan", "-cover"];
/// Flags recorded as `-flag=value` and passed the same way.
const VALUE_FLAGS: &[&str] = &["-gcflags", "-asmflags", "-tags", "-covermode", "-coverpkg"];

impl BuildPlan {
    /// Plans the rebuild of a binary from its build info.
    pub fn from_build_info(info: &BuildInfo) -> Result<BuildPlan, PlanError> {
        if info.path.is_empty() {
            return Err(PlanError::NoPath);
        }
        check_inputs(info)?;
        let mut flags = Vec::new();
        let mut env = Vec::new();
        let mut ldflags = None;
        let mut trimpath = false;
        let mut default_godebug = None;
        let mut vcs = None;
        let mut revision = None;
        let goos = info
            .setting("GOOS")
            .unwrap_or(std::env::consts::OS)
            .to_string();
        for Setting { key, value } in &info.settings {
            let unsupported = |why| PlanError::Unsupported {
                key: key.clone(),
                value: value.clone(),
                why,
            };
            match key.as_str() {
                "-compiler" if value != "gc" => return Err(PlanError::Compiler(value.clone())),
                "-compiler" => {}
                "-trimpath" => {
                    trimpath = value == "true";
                    if trimpath {
                        flags.push("-trimpath".to_string());
                    }
                }
                "-ldflags" => ldflags = Some(value.clone()),
                "-pgo" => {
                    if value.ends_with("default.pgo") {
                        flags.push("-pgo=auto".to_string());
                    } else {
                        return Err(unsupported(
                            "only the main package's default.pgo profile can be located",
                        ));
                    }
                }
                k if BOOL_FLAGS.contains(&k) && value == "true" => flags.push(k.to_string()),
                k if BOOL_FLAGS.contains(&k) => {}
                // Go records -buildmode even when it was the default, but passing
                // the default explicitly changes the main package's action ID and
                // so the Go build ID: pass it only when it is not the default.
                "-buildmode" if value == default_buildmode(&goos) => {}
                "-buildmode" => flags.push(format!("-buildmode={value}")),
                k if VALUE_FLAGS.contains(&k) => flags.push(format!("{k}={value}")),
                "CGO_ENABLED" if value == "1" => return Err(PlanError::Cgo),
                k if ENV_SETTINGS.contains(&k) => env.push((k.to_string(), value.clone())),
                "DefaultGODEBUG" => default_godebug = Some(value.clone()),
                "vcs" => vcs = Some(value.clone()),
                "vcs.revision" => revision = Some(value.clone()),
                "vcs.modified" if value == "true" => return Err(PlanError::DirtyTree),
                "vcs.modified" | "vcs.time" => {}
                k if k.starts_with('-') => return Err(unsupported("unknown build flag")),
                _ => {}
            }
        }
        if !env.iter().any(|(k, _)| k == "CGO_ENABLED") {
            // Go omits CGO_ENABLED when cgo was off by default; make that explicit.
            env.push(("CGO_ENABLED".to_string(), "0".to_string()));
        }
        let source = source_of(info, vcs, revision)?;
        Ok(BuildPlan {
            go_version: info.go_version.clone(),
            path: info.path.clone(),
            main_module: info.main.clone(),
            source,
            flags,
            env,
            ldflags,
            trimpath,
            default_godebug,
            settings: info.settings.clone(),
            deps: info.deps.clone(),
        })
    }

    /// The value of a planned environment variable.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Refuses build info that could make a rebuild reach outside its scratch
/// space, before anything of it is used: the Go version (it names a toolchain
/// directory), every module path, version and sum, and every build setting
/// (tool flags are parsed and allow-listed, see [`flags`]).
pub fn check_inputs(info: &BuildInfo) -> Result<(), PlanError> {
    modpath::check_go_version(&info.go_version).map_err(PlanError::refused("Go version"))?;
    modpath::check_path(&info.path).map_err(PlanError::refused("main package"))?;
    let modules = info.main.iter().map(|m| ("main module", m));
    for (role, m) in modules.chain(info.deps.iter().map(|m| ("dependency", m))) {
        check_module(m, role)?;
        if let Some(r) = &m.replace {
            modpath::check_replacement(&r.path)
                .and_then(|()| modpath::check_version(&r.version))
                .and_then(|()| modpath::check_sum(&r.sum))
                .map_err(PlanError::refused(format!(
                    "replacement of {role} {}",
                    shown(&m.path)
                )))?;
        }
    }
    for s in &info.settings {
        check_setting(&s.key, &s.value).map_err(|why| PlanError::Refused {
            what: format!("build setting {}={}", shown(&s.key), shown(&s.value)),
            why,
        })?;
    }
    Ok(())
}

fn check_module(m: &Module, role: &str) -> Result<(), PlanError> {
    modpath::check_path(&m.path)
        .and_then(|()| modpath::check_version(&m.version))
        .and_then(|()| modpath::check_sum(&m.sum))
        .map_err(PlanError::refused(role))
}

/// Checks an -ldflags value that was not recorded: given by the user or
/// inferred by another rebuilder (`origin` says which).
pub fn check_ldflags(value: &str, origin: &str) -> Result<(), PlanError> {
    flags::check_tool_flags(Tool::Link, value).map_err(|why| PlanError::Refused {
        what: format!("-ldflags={} ({origin})", shown(value)),
        why,
    })
}

/// Checks one recorded build setting; `Err` says why it is refused. Keys this
/// function does not know are never used by a rebuild and pass.
fn check_setting(key: &str, value: &str) -> Result<(), String> {
    let one_of = |allowed: &[&str]| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(format!("expected one of {}", allowed.join(", ")))
        }
    };
    let charset = |max: usize, extra: &str| {
        let ok = value.len() <= max
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        ok.then_some(())
            .ok_or_else(|| "contains characters no such setting has".to_string())
    };
    match key {
        "-gcflags" => flags::check_tool_flags(Tool::Compile, value),
        "-asmflags" => flags::check_tool_flags(Tool::Asm, value),
        "-ldflags" => flags::check_tool_flags(Tool::Link, value),
        "-tags" => flags::check_tags(value),
        "-buildmode" => one_of(&["exe", "pie", "default"]),
        "-compiler" => one_of(&["gc", "gccgo"]),
        "-covermode" => one_of(&["set", "count", "atomic"]),
        "-coverpkg" => value
            .split(',')
            .try_for_each(flags::check_pattern)
            .map_err(str::to_string),
        "-trimpath" | "-race" | "-msan" | "-asan" | "-cover" | "vcs.modified" => {
            one_of(&["true", "false"])
        }
        // Only compared with a fixed suffix, never opened.
        "-pgo" => charset(512, "/._-+~"),
        "CGO_ENABLED" => one_of(&["0", "1"]),
        "CGO_CFLAGS" | "CGO_CPPFLAGS" | "CGO_CXXFLAGS" | "CGO_FFLAGS" | "CGO_LDFLAGS" => {
            Err("cgo flags are inputs of the host's C toolchain; cgo builds are not rebuilt".into())
        }
        "GOOS" | "GOARCH" => charset(16, ""),
        k if ENV_SETTINGS.contains(&k) => charset(256, "_,.-"),
        "DefaultGODEBUG" => charset(4096, "=,_."),
        "vcs" => charset(16, ""),
        "vcs.revision" => {
            let hex = matches!(value.len(), 40 | 64)
                && value
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            hex.then_some(())
                .ok_or_else(|| "not a git commit hash".to_string())
        }
        "vcs.time" => charset(64, ":-+.TZ"),
        _ => Ok(()),
    }
}

/// Attacker text inside an error message: escaped and bounded.
fn shown(s: &str) -> String {
    format!("{:?}", display::escape(s, 80))
}

/// What Go records as `-buildmode` for a build given none. Checked with Go
/// 1.27.3 on linux, darwin and windows (amd64, arm64): `exe` everywhere, even
/// where the linker then builds PIE (windows, darwin/arm64), and a build given
/// `-buildmode=exe` or `=pie` explicitly differs from the default one on every
/// platform. Android and iOS need cgo, which rebuilds refuse.
fn default_buildmode(goos: &str) -> &'static str {
    match goos {
        "android" | "ios" => "pie",
        _ => "exe",
    }
}

fn source_of(
    info: &BuildInfo,
    vcs: Option<String>,
    revision: Option<String>,
) -> Result<Source, PlanError> {
    let main = info.main.as_ref();
    let is_distribution = info.path.starts_with("cmd/") && main.is_none_or(|m| m.path == "cmd");
    if is_distribution {
        return Ok(Source::Distribution);
    }
    let main = main.ok_or_else(|| PlanError::UnknownSource(info.path.clone()))?;
    if let Some(revision) = revision {
        return Ok(Source::Vcs {
            vcs: vcs.unwrap_or_else(|| "git".to_string()),
            revision,
            module: main.path.clone(),
        });
    }
    if main.version != "(devel)" && !main.version.is_empty() {
        return Ok(Source::Module {
            path: main.path.clone(),
            version: main.version.clone(),
            sum: main.sum.clone(),
        });
    }
    Ok(Source::Unidentified {
        module: main.path.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> BuildInfo {
        let mut i = BuildInfo::parse_modinfo(text).unwrap();
        i.go_version = "go1.22.10".into();
        i
    }

    #[test]
    fn distribution_binary_plan() {
        let p = BuildPlan::from_build_info(&info(
            "path\tcmd/gofmt\nbuild\t-buildmode=exe\nbuild\t-compiler=gc\nbuild\t-gcflags=cmd/...=-dwarf=false\nbuild\t-trimpath=true\nbuild\tDefaultGODEBUG=panicnil=1\nbuild\tCGO_ENABLED=0\nbuild\tGOARCH=amd64\nbuild\tGOOS=linux\nbuild\tGOAMD64=v1\n",
        ))
        .unwrap();
        assert_eq!(p.source, Source::Distribution);
        assert_eq!(p.flags, vec!["-gcflags=cmd/...=-dwarf=false", "-trimpath"]);
        assert_eq!(p.env_var("GOAMD64"), Some("v1"));
        assert_eq!(p.ldflags, None);
        assert!(p.trimpath);
    }

    #[test]
    fn module_and_vcs_sources() {
        let m = BuildPlan::from_build_info(&info("path\texample.com/a/cmd/x\nmod\texample.com/a\tv1.0.0\th1:x=\nbuild\t-ldflags=\"-s -w\"\n")).unwrap();
        assert!(matches!(m.source, Source::Module { ref version, .. } if version == "v1.0.0"));
        assert_eq!(m.ldflags.as_deref(), Some("-s -w"));
        let v = BuildPlan::from_build_info(&info("path\texample.com/a\nmod\texample.com/a\t(devel)\t\nbuild\tvcs=git\nbuild\tvcs.revision=0123456789abcdef0123456789abcdef01234567\nbuild\tvcs.modified=false\n")).unwrap();
        assert!(
            matches!(v.source, Source::Vcs { ref revision, .. } if revision == "0123456789abcdef0123456789abcdef01234567")
        );
    }

    #[test]
    fn unreproducible_builds_are_refused_with_reasons() {
        let cases = [
            ("path\tx\nmod\tx\tv1.0.0\t\nbuild\tCGO_ENABLED=1\n", "cgo"),
            (
                "path\tx\nmod\tx\tv1.0.0\t\nbuild\t-compiler=gccgo\n",
                "gccgo",
            ),
            (
                "path\tx\nmod\tx\t(devel)\t\nbuild\tvcs.revision=0123456789abcdef0123456789abcdef01234567\nbuild\tvcs.modified=true\n",
                "modified",
            ),
            (
                "path\tx\nmod\tx\tv1.0.0\t\nbuild\t-pgo=/tmp/p.prof\n",
                "default.pgo",
            ),
        ];
        for (text, needle) in cases {
            let err = BuildPlan::from_build_info(&info(text))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
