//! The human-readable rebuild report.

use crate::plan::Source;
use crate::rebuild::RebuildReport;
use std::fmt::Write;

/// A short report for people; `--json` prints the full [`RebuildReport`].
pub fn human(r: &RebuildReport) -> String {
    let mut s = String::new();
    let verdict = if r.reproduced {
        "REPRODUCED"
    } else {
        "MISMATCH"
    };
    let _ = writeln!(s, "{}: {verdict}", r.file_name);
    let _ = writeln!(s, "  subject    sha256:{}", r.subject);
    let _ = writeln!(s, "  rebuilt    sha256:{}", r.rebuilt);
    let _ = writeln!(
        s,
        "  toolchain  {} (digest {})",
        r.toolchain_version, r.toolchain_digest
    );
    let source = match &r.plan.source {
        Source::Distribution => format!("Go distribution source ({})", r.plan.path),
        Source::Unidentified { module } => {
            format!("{module} from the directory given (the binary does not identify its source)")
        }
        Source::Module { path, version, .. } => {
            format!("module {path}@{version} ({})", r.plan.path)
        }
        Source::Vcs {
            vcs,
            revision,
            module,
        } => format!("{vcs} {revision} of {module} ({})", r.plan.path),
    };
    let _ = writeln!(s, "  source     {source}");
    if !r.plan.flags.is_empty() {
        let _ = writeln!(s, "  flags      {}", r.plan.flags.join(" "));
    }
    for (k, v) in &r.extra_env {
        let _ = writeln!(s, "  env        {k}={v}");
    }
    if let Some(c) = &r.inferred {
        let flag = c
            .ldflags
            .as_deref()
            .map_or("no -ldflags".to_string(), |l| format!("-ldflags={l:?}"));
        let _ = writeln!(s, "  inferred   {flag}: {}", c.reason);
    }
    let total: f64 = r.attempts.iter().map(|a| a.seconds).sum();
    let _ = writeln!(
        s,
        "  attempts   {} ({total:.1}s of building)",
        r.attempts.len()
    );
    if let Some(d) = &r.diagnosis {
        if let Some(id) = &d.original_build_id {
            let _ = writeln!(s, "  build ID   original {id}");
        }
        if let Some(id) = &d.rebuilt_build_id {
            let _ = writeln!(s, "             rebuilt  {id}");
        }
        for sd in d.sections.iter().take(12) {
            let _ = writeln!(
                s,
                "  section    {:<22} original {:>9} bytes  rebuilt {:>9} bytes",
                sd.name,
                sd.original_size.map_or("-".into(), |v| v.to_string()),
                sd.rebuilt_size.map_or("-".into(), |v| v.to_string())
            );
        }
        for a in &d.advice {
            let _ = writeln!(s, "  why        {a}");
        }
    }
    s
}
