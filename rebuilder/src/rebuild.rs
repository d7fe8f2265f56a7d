//! A whole rebuild: read the binary, plan, find the toolchain, prepare the
//! source, build with each -ldflags candidate until one is bit-identical, and
//! diagnose if none is.

use crate::attempt::{relocate, Attempter, Tried};
use crate::build::{self, Confined, Scratch};
use crate::diagnose::{self, Diagnosis};
pub use crate::digest::Digest;
use crate::link_traits::{ldflags_candidates, LdflagsCandidate, LinkTraits};
use crate::plan::{self, BuildPlan};
use crate::sandbox::Sandbox;
use crate::source::{prepare_source, unique_dir};
use crate::toolchain::{DigestCache, Toolchain};
use std::path::Path;

use crate::job::Job;
pub use crate::job::{Attempt, RebuildConfig, RebuildError, RebuildReport, Target};

/// Rebuilds the binary at `path`. `progress` receives one line per step.
pub fn rebuild(
    path: &Path,
    config: &RebuildConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<RebuildReport, RebuildError> {
    rebuild_target(&Target::from_file(path)?, config, progress)
}

/// Rebuilds a target and compares the result with its subject digest.
pub fn rebuild_target(
    target: &Target,
    config: &RebuildConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<RebuildReport, RebuildError> {
    let started = now_rfc3339();
    let plan = BuildPlan::from_build_info(&target.info)?;
    // Flags not recorded in the binary get the same checks as recorded ones.
    if let Some(user) = &config.user_ldflags {
        plan::check_ldflags(user, "given with --ldflags")?;
    }
    if let Some(hint) = &target.ldflags_hint {
        plan::check_ldflags(hint, "inferred by the attesting rebuilder")?;
    }
    let sandbox = Sandbox::new(config.sandbox)?;
    // The source's whereabouts before the toolchain: learning that nobody
    // has the source must not take installing a toolchain first.
    let source_url = crate::source::locate_source(&plan, config)?;
    let toolchain = match (config.toolchains.find(&plan.go_version), &config.download) {
        (Ok(t), _) => t.clone(),
        (Err(_), Some((base, store))) => {
            let goroot = crate::download::install(&plan.go_version, base, store, progress)?;
            Toolchain {
                version: plan.go_version.clone(),
                goroot,
            }
        }
        (Err(e), None) => return Err(e.into()),
    };
    progress(&format!(
        "toolchain {} at {}",
        toolchain.version,
        toolchain.goroot.display()
    ));
    let toolchain_digest = DigestCache::new(config.digest_cache.clone()).digest(&toolchain)?;

    let scratch_dir = unique_dir(&config.scratch_root);
    let scratch = Scratch::create(&scratch_dir)?;
    let confined = Confined {
        sandbox,
        mounts: build::job_mounts(
            &toolchain,
            &scratch,
            &config.gocache,
            &config.modules,
            config.source.as_deref(),
        ),
        limits: config.limits.clone(),
    };
    let job = Job {
        plan: &plan,
        toolchain: &toolchain,
        scratch: &scratch,
        config,
        confined: &confined,
        source_url: source_url.as_deref(),
    };
    let result = run_attempts(target, &job, progress);
    if !config.keep_scratch {
        let _ = std::fs::remove_dir_all(&scratch_dir);
    }
    let AttemptsOutcome {
        attempts,
        extra_env,
        winner,
        diagnosis,
    } = result?;
    let best = winner.as_ref().map_or(0, |(i, _)| *i);
    Ok(RebuildReport {
        file_name: target.file_name.clone(),
        subject: target.subject.get(),
        rebuilt: attempts[best].sha256,
        reproduced: winner.is_some(),
        inferred: winner.and_then(|(_, c)| (!c.reason.is_empty()).then_some(c)),
        plan,
        toolchain_version: toolchain.version.clone(),
        toolchain_digest,
        extra_env,
        attempts,
        diagnosis,
        started,
        finished: now_rfc3339(),
        found_in: target.found_in.clone(),
    })
}

/// What the attempts of one rebuild came to.
struct AttemptsOutcome {
    attempts: Vec<Attempt>,
    /// Environment the source needed (`GO111MODULE=off` for GOPATH mode).
    extra_env: Vec<(String, String)>,
    /// The bit-identical attempt and the candidate that made it.
    winner: Option<(usize, LdflagsCandidate)>,
    /// Why the closest attempt differs, when none matched.
    diagnosis: Option<Diagnosis>,
}

fn run_attempts(
    target: &Target,
    job: &Job,
    progress: &mut dyn FnMut(&str),
) -> Result<AttemptsOutcome, RebuildError> {
    let (plan, config) = (job.plan, job.config);
    let prepared = prepare_source(job, progress)?;
    let relocation = relocate(target, job, &prepared, progress);
    let traits = target.original.as_deref().and_then(|o| LinkTraits::of(o));
    let mut candidates = ldflags_candidates(
        plan.ldflags.as_deref(),
        plan.trimpath,
        traits,
        config.user_ldflags.as_deref(),
    );
    if let (Some(hint), None) = (&target.ldflags_hint, &plan.ldflags) {
        candidates.retain(|c| c.ldflags.as_deref() != Some(hint.as_str()));
        candidates.insert(
            0,
            LdflagsCandidate {
                ldflags: Some(hint.clone()),
                reason: "inferred by the attesting rebuilder".to_string(),
            },
        );
    }
    let mut builder = Attempter {
        target,
        job: *job,
        prepared: &prepared,
        relocation: relocation.as_ref(),
        attempts: Vec::new(),
        first_output: None,
    };
    let won = |b: Attempter, c: LdflagsCandidate| {
        let k = b.attempts.len() - 1;
        Ok(AttemptsOutcome {
            attempts: b.attempts,
            extra_env: prepared.extra_env.clone(),
            winner: Some((k, c)),
            diagnosis: None,
        })
    };
    // Searching needs the original (to compare) and an -ldflags Go left out.
    let mut searchable = plan.ldflags.is_none() && plan.trimpath && target.original.is_some();
    let mut link_only = None;
    let first_reason = candidates
        .first()
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    let base = candidates.first().and_then(|c| c.ldflags.clone());
    for candidate in candidates {
        match builder.try_ldflags(candidate.ldflags.as_deref(), progress)? {
            Tried::Identical => return won(builder, candidate),
            // Other candidates may still match exactly (`-s` and `-s -w` link
            // the same code since Go 1.22); search orders after them.
            Tried::LinkOnly => {
                link_only.get_or_insert(candidate);
            }
            // Inferred -ldflags only change the link; if the build info
            // already differs, no other candidate can help.
            Tried::InfoDiffers => {
                searchable = false;
                break;
            }
            Tried::Differs => {}
        }
    }
    let mut notes = Vec::new();
    if searchable {
        let started = std::time::Instant::now();
        let before = builder.attempts.len();
        let found = match &link_only {
            Some(c) => builder.search_orders(c, progress)?,
            None => builder.search_x(base.as_deref(), &first_reason, progress)?,
        };
        let (n, secs) = (
            builder.attempts.len() - before,
            started.elapsed().as_secs_f64(),
        );
        match found {
            Some(c) => return won(builder, c),
            None => notes.push(match &link_only {
                Some(c) => {
                    let tried: Vec<String> = builder.attempts[before..]
                        .iter()
                        .take(8)
                        .map(|a| format!("{:?}", a.ldflags.as_deref().unwrap_or("")))
                        .collect();
                    format!(
                        "Only the link step differs: with -ldflags {:?} the code and data equal the original's, but none of {n} orders tried ({secs:.1} s) gave the exact flag string (tried {}{}); pass the release's exact -ldflags with --ldflags.",
                        c.ldflags.as_deref().unwrap_or(""),
                        tried.join(", "),
                        if n > 8 { ", …" } else { "" }
                    )
                }
                None => format!(
                    "Hidden -X flags searched: {n} builds ({secs:.1} s) from values standing alone in the binary; none matched. Pass the release's -ldflags with --ldflags."
                ),
            }),
        }
    }
    let diagnosis = match (&target.original, builder.first_output) {
        (Some(original), Some(rebuilt)) => {
            let mut d = diagnose::diagnose(original, &rebuilt);
            if let Some(note) = unexplained_strings(original, &rebuilt) {
                notes.push(note);
            }
            d.advice.splice(0..0, notes);
            Some(d)
        }
        _ => None,
    };
    Ok(AttemptsOutcome {
        attempts: builder.attempts,
        extra_env: prepared.extra_env,
        winner: None,
        diagnosis,
    })
}

/// The strings standing alone in the original's read-only data that no
/// rebuild has (what an `-X` the search could not place would leave), as
/// a note; none when there are none.
fn unexplained_strings(original: &[u8], rebuilt: &[u8]) -> Option<String> {
    let ours: std::collections::BTreeSet<String> = crate::search::standalone_strings(rebuilt)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let mut only: Vec<String> = Vec::new();
    for (_, s) in crate::search::standalone_strings(original) {
        if !ours.contains(&s) && !only.contains(&s) && s.len() <= 80 {
            only.push(s);
        }
    }
    if only.is_empty() {
        return None;
    }
    let shown: Vec<String> = only
        .iter()
        .take(8)
        .map(|s| format!("{:?}", reprolog_proto::display::escape(s, 80)))
        .collect();
    Some(format!(
        "Strings only in the original, never explained ({} in all): {}{}.",
        only.len(),
        shown.join(", "),
        if only.len() > 8 { ", …" } else { "" }
    ))
}

/// The current UTC time as RFC 3339 (seconds precision).
pub fn now_rfc3339() -> String {
    rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_341_600), "2026-11-22T10:00:00Z");
    }
}
