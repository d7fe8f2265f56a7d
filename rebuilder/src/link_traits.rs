//! The `-s`, `-w` and `-buildid=` flags a binary's link traits imply.
//!
//! With `-trimpath`, Go leaves `-ldflags` out of the build info
//! (go.dev/issue/52372), yet `-s` (no symbol table) and `-w` (no DWARF) change the
//! binary. Both leave visible traces: no `.symtab` section, no `.debug_*`
//! sections. The candidates are ordered so the flags the binary's traits point to
//! come first; the caller stops at the first bit-identical rebuild.

use object::{Object, ObjectSection};
use serde::Serialize;

/// What the binary shows about how it was linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LinkTraits {
    pub has_dwarf: bool,
    pub has_symtab: bool,
    /// Whether the binary carries a Go build ID (`-buildid=` removes it).
    pub has_build_id: bool,
}

impl LinkTraits {
    /// Reads the traits from an executable; `None` if it cannot be parsed.
    pub fn of(data: &[u8]) -> Option<LinkTraits> {
        let file = object::File::parse(data).ok()?;
        let mut traits = LinkTraits {
            has_dwarf: false,
            has_symtab: file.symbol_table().is_some(),
            has_build_id: crate::buildid::go_build_id(data).is_some_and(|id| !id.is_empty()),
        };
        for s in file.sections() {
            let name = s.name().unwrap_or("");
            if name.starts_with(".debug_")
                || name.starts_with(".zdebug_")
                || name.starts_with("__debug_")
                || name.starts_with("__zdebug_")
            {
                traits.has_dwarf = true;
            }
        }
        Some(traits)
    }
}

/// One -ldflags value to try, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LdflagsCandidate {
    /// `None` means: pass no -ldflags at all.
    pub ldflags: Option<String>,
    /// Why this value was chosen (empty when it was recorded, not inferred).
    pub reason: String,
}

/// The -ldflags values to try, best first.
///
/// - Recorded -ldflags: only that value.
/// - Not recorded and not trimpath: Go records -ldflags whenever it is set
///   without -trimpath, so there were none.
/// - Not recorded under -trimpath: the user's guess first, then what the traits
///   say, then the other combinations of -s and -w.
pub fn ldflags_candidates(
    recorded: Option<&str>,
    trimpath: bool,
    traits: Option<LinkTraits>,
    user: Option<&str>,
) -> Vec<LdflagsCandidate> {
    if let Some(value) = recorded {
        return vec![LdflagsCandidate {
            ldflags: Some(value.to_string()),
            reason: String::new(),
        }];
    }
    if !trimpath {
        return vec![LdflagsCandidate {
            ldflags: None,
            reason: String::new(),
        }];
    }
    let mut out: Vec<LdflagsCandidate> = Vec::new();
    let mut push = |ldflags: Option<&str>, reason: String| {
        let ldflags = ldflags.map(str::to_string);
        if !out.iter().any(|c| c.ldflags == ldflags) {
            out.push(LdflagsCandidate { ldflags, reason });
        }
    };
    if let Some(u) = user {
        push(Some(u), "given with --ldflags".to_string());
    }
    let why = |t: &LinkTraits| {
        format!(
            "not recorded under -trimpath (go.dev/issue/52372); the binary has {} and {}",
            if t.has_symtab {
                "a symbol table"
            } else {
                "no symbol table (-s)"
            },
            if t.has_dwarf {
                "DWARF"
            } else {
                "no DWARF sections (-w)"
            }
        )
    };
    match traits {
        Some(t) => {
            let mut reason = why(&t);
            // An empty Go build ID is what -buildid= leaves.
            let with_id = |l: Option<&str>| -> Option<String> {
                match (t.has_build_id, l) {
                    (true, l) => l.map(str::to_string),
                    (false, None) => Some("-buildid=".to_string()),
                    (false, Some(l)) => Some(format!("{l} -buildid=")),
                }
            };
            if !t.has_build_id {
                reason.push_str(" and no Go build ID (-buildid=)");
            }
            let mut push = |l: Option<&str>, r: String| push(with_id(l).as_deref(), r);
            match (t.has_symtab, t.has_dwarf) {
                (true, true) => push(None, reason.clone()),
                (true, false) => push(Some("-w"), reason.clone()),
                // Since Go 1.22 -s implies -w, so both spellings can match.
                (false, _) => {
                    push(Some("-s -w"), reason.clone());
                    push(Some("-s"), reason.clone());
                }
            }
            for alt in [None, Some("-w"), Some("-s -w"), Some("-s")] {
                push(alt, format!("{reason}; fallback"));
            }
        }
        None => {
            for alt in [None, Some("-w"), Some("-s -w")] {
                push(
                    alt,
                    "not recorded under -trimpath; trying common values".to_string(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_traits() {
        let no_dwarf = LinkTraits {
            has_dwarf: false,
            has_symtab: true,
            has_build_id: true,
        };
        let c = ldflags_candidates(None, true, Some(no_dwarf), None);
        assert_eq!(c[0].ldflags.as_deref(), Some("-w"));
        assert!(c[0].reason.contains("no DWARF"));
        let stripped = LinkTraits {
            has_dwarf: false,
            has_symtab: false,
            has_build_id: true,
        };
        assert_eq!(
            ldflags_candidates(None, true, Some(stripped), None)[0]
                .ldflags
                .as_deref(),
            Some("-s -w")
        );
        let full = LinkTraits {
            has_dwarf: true,
            has_symtab: true,
            has_build_id: true,
        };
        assert_eq!(
            ldflags_candidates(None, true, Some(full), None)[0].ldflags,
            None
        );
        let user = ldflags_candidates(None, true, Some(full), Some("-X main.v=1"));
        assert_eq!(user[0].ldflags.as_deref(), Some("-X main.v=1"));
        assert_eq!(
            ldflags_candidates(Some("-s"), true, Some(full), None).len(),
            1
        );
        assert_eq!(
            ldflags_candidates(None, false, Some(full), None),
            vec![LdflagsCandidate {
                ldflags: None,
                reason: String::new()
            }]
        );
    }
}
