//! Module mode or GOPATH mode for Go distribution commands, decided once per
//! toolchain, package and recorded DefaultGODEBUG, and cached.

use crate::build::go_command;
use crate::job::Job;
use std::path::Path;

/// Go 1.22 distributions built their commands in GOPATH mode; the DefaultGODEBUG
/// recorded in the binary tells which mode reproduces it. The answer depends only
/// on the toolchain, the package and the recorded value, so it is cached beside
/// the toolchain digests.
pub(crate) fn module_mode_for_distribution(job: &Job, dir: &Path) -> Vec<(String, String)> {
    let Job {
        plan,
        toolchain,
        scratch,
        config,
        confined,
        ..
    } = *job;
    let Some(want) = &plan.default_godebug else {
        return vec![];
    };
    let cache_path = config.digest_cache.with_file_name("module-modes.json");
    let key = format!(
        "{}|{}|{}|{want}",
        toolchain.goroot.display(),
        toolchain.version,
        plan.path
    );
    let mut cache: std::collections::BTreeMap<String, bool> = std::fs::read(&cache_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(&gopath_mode) = cache.get(&key) {
        return gopath_mode_env(gopath_mode);
    }
    let godebug = |extra: Option<(&str, &str)>| -> Option<String> {
        let mut cmd = go_command(toolchain, plan, scratch, &config.gocache, &config.modules);
        if let Some((k, v)) = extra {
            cmd.env(k, v);
        }
        cmd.current_dir(dir)
            .args(["list", "-f", "{{.DefaultGODEBUG}}", &plan.path]);
        let (out, _) = confined.run(cmd, "go list").ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_string())
    };
    // When neither mode lists the recorded value (newer releases leave the
    // field empty for commands), build in module mode and let the comparison speak.
    let gopath_mode = godebug(None).as_deref() != Some(want.as_str())
        && godebug(Some(("GO111MODULE", "off"))).as_deref() == Some(want.as_str());
    cache.insert(key, gopath_mode);
    // A failed cache write only costs the probe next time.
    let _ = reprolog_io::statefile::save_json(&cache_path, &cache);
    gopath_mode_env(gopath_mode)
}

pub(crate) fn gopath_mode_env(gopath_mode: bool) -> Vec<(String, String)> {
    if gopath_mode {
        vec![("GO111MODULE".into(), "off".into())]
    } else {
        vec![]
    }
}
