//! Rebuilding real Go binaries: distribution commands, module releases through a
//! file:// GOPROXY, git checkouts with VCS stamping, two Go versions, and
//! deliberate non-reproductions with their diagnoses.

mod common;

use common::*;
use reprolog_rebuilder::rebuild::{rebuild, RebuildError, RebuildReport};
use std::path::Path;
use std::process::Command;

fn quiet(_: &str) {}

fn rebuild_ok(binary: &Path, goproxy: Option<&Path>, source: Option<&Path>) -> RebuildReport {
    rebuild(binary, &rebuild_config(goproxy, source), &mut quiet)
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
}

#[test]
fn distribution_commands_reproduce_with_inferred_w() {
    for version in ["1.22.10", "1.27.3"] {
        let root = goroot(version);
        for bin in [
            root.join("bin/gofmt"),
            root.join("pkg/tool/linux_amd64/vet"),
            root.join("pkg/tool/linux_amd64/link"),
        ] {
            let r = rebuild_ok(&bin, None, None);
            assert!(
                r.reproduced,
                "{} not reproduced: {:?}",
                bin.display(),
                r.diagnosis
            );
            let inferred = r.inferred.as_ref().expect("-ldflags inferred");
            assert_eq!(inferred.ldflags.as_deref(), Some("-w"), "{}", bin.display());
            assert!(inferred.reason.contains("no DWARF"));
            assert_eq!(r.toolchain_version, format!("go{version}"));
        }
    }
}

const GREET_MOD: &str = "module example.com/greet\n\ngo 1.22\n";
const GREET_GO: &str =
    "package greet\n\nfunc Hello() string { return \"hello from a dependency\" }\n";
const HELLO_GO: &str =
    "package main\n\nimport \"example.com/greet\"\n\nfunc main() { println(greet.Hello()) }\n";

/// A file GOPROXY with example.com/greet v1.0.0 and example.com/hello v1.0.0
/// (greet's go.sum lines are kept beside it in `go.sum.greet`).
fn module_proxy(dir: &Path) -> std::path::PathBuf {
    let proxy = dir.join("proxy");
    let greet_sums = goproxy::publish(
        &proxy,
        "example.com/greet",
        "v1.0.0",
        &[("go.mod", GREET_MOD), ("greet.go", GREET_GO)],
    );
    std::fs::write(proxy.join("go.sum.greet"), &greet_sums).unwrap();
    let hello_mod = "module example.com/hello\n\ngo 1.22\n\nrequire example.com/greet v1.0.0\n";
    goproxy::publish(
        &proxy,
        "example.com/hello",
        "v1.0.0",
        &[
            ("go.mod", hello_mod),
            ("go.sum", &greet_sums),
            ("main.go", HELLO_GO),
        ],
    );
    proxy
}

#[test]
fn module_release_reproduces_across_go_versions_with_and_without_strip() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = module_proxy(dir.path());
    let goproxy_url = format!("file://{}", proxy.display());
    for version in ["1.22.10", "1.27.3"] {
        for ldflags in [None, Some("-s -w")] {
            let work = dir
                .path()
                .join(format!("publisher-{version}-{}", ldflags.is_some()));
            std::fs::create_dir_all(&work).unwrap();
            let bin = work.join("bin");
            let mut args = vec!["install", "-trimpath"];
            let flag;
            if let Some(l) = ldflags {
                flag = format!("-ldflags={l}");
                args.push(&flag);
            }
            args.push("example.com/hello@v1.0.0");
            go(
                version,
                &work,
                &args,
                &[("GOPROXY", &goproxy_url), ("GOBIN", bin.to_str().unwrap())],
            );
            let original = bin.join("hello");
            let r = rebuild_ok(&original, Some(&proxy), None);
            assert!(r.reproduced, "go{version} {ldflags:?}: {:?}", r.diagnosis);
            assert_eq!(
                r.inferred.as_ref().and_then(|c| c.ldflags.as_deref()),
                ldflags,
                "go{version}"
            );
            assert!(
                matches!(r.plan.source, reprolog_rebuilder::plan::Source::Module { ref version, .. } if version == "v1.0.0")
            );
            assert_eq!(r.plan.deps[0].path, "example.com/greet");
        }
    }
}

const APP_MOD: &str = "module example.com/app\n\ngo 1.22\n";
const APP_GO: &str = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"app\", version) }\n\nvar version = \"1\"\n";

#[test]
fn git_checkout_with_vcs_stamping_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    let rev = git_repo(&repo, &[("go.mod", APP_MOD), ("cmd/app/main.go", APP_GO)]);
    go(
        "1.27.3",
        &repo,
        &["build", "-trimpath", "-o", "../app-bin", "./cmd/app"],
        &[],
    );
    let original = dir.path().join("app-bin");
    let r = rebuild_ok(&original, None, Some(&repo));
    assert!(r.reproduced, "{:?}", r.diagnosis);
    assert!(r
        .plan
        .settings
        .iter()
        .any(|s| s.key == "vcs.revision" && s.value == rev));
    assert!(
        matches!(r.plan.source, reprolog_rebuilder::plan::Source::Vcs { ref revision, .. } if *revision == rev)
    );

    // A tree with local changes is not the tree the binary claims: refused.
    std::fs::write(repo.join("go.mod"), "module example.com/app\n\ngo 1.27\n").unwrap();
    let err = rebuild(&original, &rebuild_config(None, Some(&repo)), &mut quiet).unwrap_err();
    assert!(matches!(err, RebuildError::SourceDirty { .. }), "{err}");
    assert!(err.to_string().contains("--from-history"), "{err}");

    // So is a HEAD that moved on, named with both revisions.
    std::fs::write(
        repo.join("cmd/app/main.go"),
        "package main\nfunc main() {}\n",
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "later work"]);
    let later = git(&repo, &["rev-parse", "HEAD"]);
    let err = rebuild(&original, &rebuild_config(None, Some(&repo)), &mut quiet).unwrap_err();
    assert!(
        matches!(err, RebuildError::SourceNotAtRevision { ref head, ref revision, .. } if *head == later && *revision == rev),
        "{err}"
    );

    // Asked to build from history, the recorded revision is cloned and built:
    // local state never reaches the build, and the user is told about it.
    std::fs::write(repo.join("go.mod"), "module example.com/app\n\ngo 1.26\n").unwrap();
    let mut config = rebuild_config(None, Some(&repo));
    config.source_from_history = true;
    let mut lines = Vec::new();
    let r = rebuild(&original, &config, &mut |l: &str| lines.push(l.to_string())).unwrap();
    assert!(r.reproduced, "{:?}", r.diagnosis);
    let said = lines.join("\n");
    assert!(said.contains("not the recorded revision"), "{said}");
    assert!(said.contains("has uncommitted changes"), "{said}");

    // Without the repository, or with one lacking the revision: refused, clearly.
    let err = rebuild(&original, &rebuild_config(None, None), &mut quiet).unwrap_err();
    assert!(matches!(err, RebuildError::Vcs(_)), "{err}");
    assert!(
        err.to_string().contains("--source DIR or --vcs-mirror"),
        "{err}"
    );
    let other = dir.path().join("other");
    git_repo(
        &other,
        &[
            ("go.mod", APP_MOD),
            ("cmd/app/main.go", "package main\nfunc main() {}\n"),
        ],
    );
    let err = rebuild(&original, &rebuild_config(None, Some(&other)), &mut quiet).unwrap_err();
    assert!(matches!(err, RebuildError::MissingRevision { .. }), "{err}");
}

#[test]
fn a_go_mod_asking_for_a_newer_toolchain_is_refused() {
    // Built with Go 1.22.10 and GOTOOLCHAIN=local, although go.mod asks for
    // 1.27.3: a rebuild would have to switch toolchains, so it refuses.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    let go_mod = "module example.com/app\n\ngo 1.22\n\ntoolchain go1.27.3\n";
    git_repo(&repo, &[("go.mod", go_mod), ("main.go", APP_GO)]);
    go(
        "1.22.10",
        &repo,
        &["build", "-trimpath", "-o", "../app-bin", "."],
        &[],
    );
    let err = rebuild(
        &dir.path().join("app-bin"),
        &rebuild_config(None, Some(&repo)),
        &mut quiet,
    )
    .unwrap_err();
    assert!(
        matches!(err, RebuildError::GoModNeedsNewerGo { ref line, .. } if line == "toolchain go1.27.3"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("newer than the binary's go1.22.10"),
        "{err}"
    );
}

#[test]
fn a_given_source_asking_for_a_newer_toolchain_is_refused_too() {
    // No VCS information: the binary names no source, so the rebuild builds
    // the directory given with --source, whose go.mod asks for go1.99.0.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("go.mod"),
        "module example.com/app\n\ngo 1.22\n\ntoolchain go1.99.0\n",
    )
    .unwrap();
    std::fs::write(src.join("main.go"), APP_GO).unwrap();
    go(
        "1.22.10",
        &src,
        &["build", "-trimpath", "-o", "../app-bin", "."],
        &[],
    );
    let err = rebuild(
        &dir.path().join("app-bin"),
        &rebuild_config(None, Some(&src)),
        &mut quiet,
    )
    .unwrap_err();
    assert!(
        matches!(err, RebuildError::GoModNeedsNewerGo { ref line, .. } if line == "toolchain go1.99.0"),
        "{err}"
    );
}

#[test]
fn source_that_differs_from_its_revision_is_a_mismatch() {
    // A gitignored file is compiled in, yet vcs.modified stays false: the binary
    // claims a revision whose source does not produce it.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    git_repo(
        &repo,
        &[
            ("go.mod", APP_MOD),
            (".gitignore", "extra.go\n"),
            ("main.go", APP_GO),
        ],
    );
    std::fs::write(
        repo.join("extra.go"),
        "package main\n\nfunc init() { version = \"sneaky\" }\n",
    )
    .unwrap();
    go(
        "1.22.10",
        &repo,
        &["build", "-trimpath", "-o", "../app-bin", "."],
        &[],
    );
    let r = rebuild_ok(&dir.path().join("app-bin"), None, Some(&repo));
    assert!(!r.reproduced);
    let d = r.diagnosis.expect("diagnosis");
    assert!(
        d.only_in_original.is_empty() && d.only_in_rebuilt.is_empty(),
        "build info should agree: {d:?}"
    );
    assert!(
        d.sections.iter().any(|s| s.name == ".text"),
        "{:?}",
        d.sections
    );
    assert!(
        d.build_id_note
            .as_deref()
            .unwrap_or("")
            .contains("compile inputs differ"),
        "{:?}",
        d.build_id_note
    );
    assert!(
        d.advice.iter().any(|a| a.contains("machine code differs")),
        "{:?}",
        d.advice
    );
}

#[test]
fn tampered_byte_and_non_trimpath_builds_are_diagnosed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    git_repo(&repo, &[("go.mod", APP_MOD), ("main.go", APP_GO)]);

    // One flipped byte in .rodata of an otherwise reproducible binary.
    go(
        "1.22.10",
        &repo,
        &["build", "-trimpath", "-o", "../app-bin", "."],
        &[],
    );
    let path = dir.path().join("app-bin");
    let mut bytes = std::fs::read(&path).unwrap();
    let offset = {
        use object::{Object, ObjectSection};
        let file = object::File::parse(&*bytes).unwrap();
        let rodata = file.section_by_name(".rodata").unwrap();
        let (start, size) = rodata.file_range().unwrap();
        (start + size / 2) as usize
    };
    bytes[offset] ^= 0x40;
    let tampered = dir.path().join("app-tampered");
    std::fs::write(&tampered, &bytes).unwrap();
    let r = rebuild_ok(&tampered, None, Some(&repo));
    assert!(!r.reproduced);
    let d = r.diagnosis.expect("diagnosis");
    let names: Vec<&str> = d.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec![".rodata"], "only the tampered section differs");
    assert!(
        d.build_id_note
            .as_deref()
            .unwrap_or("")
            .contains("identical"),
        "{:?}",
        d.build_id_note
    );

    // Built without -trimpath in the repository directory: paths leak. Without
    // the sandbox the rebuild cannot run at those paths, so it differs, and
    // the diagnosis names them (with it, see
    // `non_trimpath_builds_reproduce_at_their_original_paths`).
    go("1.22.10", &repo, &["build", "-o", "../app-paths", "."], &[]);
    let out = Command::new(REBUILDER)
        .args(["rebuild", "--no-sandbox", "--json", "--toolchains"])
        .arg(toolchains())
        .arg("--cache")
        .arg(target_tmp().join("rebuilder-cache"))
        .arg("--gocache")
        .arg(target_tmp().join("gocache"))
        .arg("--source")
        .arg(&repo)
        .arg(dir.path().join("app-paths"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let leaks = report["diagnosis"]["path_leaks"].to_string();
    let repo_real = std::fs::canonicalize(&repo).unwrap();
    assert!(
        leaks.contains(&format!("source {}", repo_real.display())),
        "{leaks}"
    );
    assert!(leaks.contains("GOROOT "), "{leaks}");
    assert!(report["diagnosis"]["advice"]
        .to_string()
        .contains("-trimpath"));
}

#[test]
fn cli_exit_codes() {
    let gofmt = goroot("1.27.3").join("bin/gofmt");
    let run = |args: &[&str], bin: &Path| {
        Command::new(REBUILDER)
            .env_remove("REPROLOG_TOOLCHAINS")
            .arg("rebuild")
            .args(args)
            .arg("--cache")
            .arg(target_tmp().join("rebuilder-cache"))
            .arg("--gocache")
            .arg(target_tmp().join("gocache"))
            .arg(bin)
            .output()
            .unwrap()
    };
    let ok = run(&["--toolchains", toolchains().to_str().unwrap()], &gofmt);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("gofmt: REPRODUCED"));
    // No toolchain directory that holds go1.27.3: a clear error naming the version.
    let empty = tempfile::tempdir().unwrap();
    let missing = run(&["--toolchains", empty.path().to_str().unwrap()], &gofmt);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("go1.27.3 is not installed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn builds_are_stopped_at_their_time_limit() {
    let mut config = rebuild_config(None, None);
    config.limits.timeout = std::time::Duration::from_millis(1);
    // A fresh GOCACHE so the build cannot finish within the limit from cache.
    config.gocache = tempfile::tempdir().unwrap().keep();
    let err = rebuild(
        &goroot("1.27.3").join("pkg/tool/linux_amd64/vet"),
        &config,
        &mut quiet,
    )
    .unwrap_err();
    assert!(err.to_string().contains("took longer than"), "{err}");
    let _ = std::fs::remove_dir_all(&config.gocache);
}

#[test]
fn queue_runs_resume_and_skip_what_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let root = goroot("1.27.3");
    let queue = dir.path().join("targets.txt");
    // One of each outcome: two that reproduce, one whose bytes were altered
    // after the build (MISMATCH), one missing (FAILED).
    let mut altered = std::fs::read(root.join("bin/gofmt")).unwrap();
    let middle = altered.len() / 2;
    altered[middle] ^= 0xff;
    let altered_path = dir.path().join("gofmt-altered");
    std::fs::write(&altered_path, &altered).unwrap();
    std::fs::write(
        &queue,
        format!(
            "# release binaries\n{}\n{}\n{}\n/no/such/binary\n",
            root.join("bin/gofmt").display(),
            root.join("pkg/tool/linux_amd64/cover").display(),
            altered_path.display()
        ),
    )
    .unwrap();
    let run = || {
        Command::new(REBUILDER)
            .env_remove("REPROLOG_TOOLCHAINS")
            .args(["rebuild", "--queue"])
            .arg(&queue)
            .arg("--toolchains")
            .arg(toolchains())
            .arg("--cache")
            .arg(target_tmp().join("rebuilder-cache"))
            .arg("--gocache")
            .arg(target_tmp().join("gocache"))
            .output()
            .unwrap()
    };
    let first = run();
    // The missing file makes the run exit 2; the two binaries reproduce.
    assert_eq!(
        first.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // stdout: a line per item as it finishes (a MISMATCH's diagnosis
    // indented below it), then the summary.
    let out = String::from_utf8_lossy(&first.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("queue: 4 items: 2 REPRODUCED, 1 MISMATCH, 1 FAILED, 0 RETRY (0 done on an earlier run)"),
        "{out}"
    );
    assert!(
        lines.contains(&format!("{}: REPRODUCED", root.join("bin/gofmt").display()).as_str()),
        "{out}"
    );
    let mismatch = lines
        .iter()
        .position(|l| *l == format!("{}: MISMATCH", altered_path.display()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        lines[mismatch + 1].starts_with("  "),
        "a diagnosis follows: {out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("/no/such/binary: FAILED: ")),
        "{out}"
    );
    let progress: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("targets.txt.progress.json")).unwrap(),
    )
    .unwrap();
    let results: Vec<&str> = progress
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|r| **r == "REPRODUCED").count(),
        2,
        "{progress}"
    );
    // The MISMATCH keeps its diagnosis in the progress file.
    let kept = &progress[altered_path.to_str().unwrap()]["diagnosis"];
    assert!(kept.as_array().is_some_and(|d| !d.is_empty()), "{progress}");
    let second = run();
    let err = String::from_utf8_lossy(&second.stderr);
    // The verdicts are kept; the FAILED item is tried again.
    assert_eq!(err.matches("already done").count(), 3, "{err}");
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        out.ends_with("queue: 4 items: 2 REPRODUCED, 1 MISMATCH, 1 FAILED, 0 RETRY (3 done on an earlier run)\n"),
        "{out}"
    );
    assert!(
        !err.contains("building cmd/"),
        "nothing is rebuilt twice: {err}"
    );
}

/// A log that answers every request 503 (busy, try later); counts them.
fn busy_log() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let body = "the log is busy\n";
            let _ = write!(
                stream,
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

/// A verdict whose submission the log refuses for now is kept as RETRY
/// (exit 2, counted in the summary) and submitted again on the next run.
#[test]
fn a_queue_item_the_log_refuses_for_now_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let gofmt = goroot("1.27.3").join("bin/gofmt");
    let queue = dir.path().join("targets.txt");
    std::fs::write(&queue, format!("{}\n", gofmt.display())).unwrap();
    let key = dir.path().join("node.key");
    keygen("node.test", &key);
    let log_key = reprolog_proto::note::Signer::generate("log.test")
        .unwrap()
        .verifier()
        .to_key_text();
    let (url, seen) = busy_log();
    let run = || {
        Command::new(REBUILDER)
            .env_remove("REPROLOG_TOOLCHAINS")
            .args(["rebuild", "--queue"])
            .arg(&queue)
            .args(["--submit", &url, "--log-key", &log_key, "--key"])
            .arg(&key)
            .arg("--toolchains")
            .arg(toolchains())
            .arg("--cache")
            .arg(target_tmp().join("rebuilder-cache"))
            .arg("--gocache")
            .arg(target_tmp().join("gocache"))
            .output()
            .unwrap()
    };
    let first = run();
    let out = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "{}: RETRY: REPRODUCED, submission failed: ",
            gofmt.display()
        )),
        "{out}"
    );
    assert!(
        out.ends_with("queue: 1 items: 0 REPRODUCED, 0 MISMATCH, 0 FAILED, 1 RETRY (0 done on an earlier run)\n"),
        "{out}"
    );
    let asked = seen.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked >= 1);
    let second = run();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!err.contains("already done"), "{err}");
    assert!(
        seen.load(std::sync::atomic::Ordering::SeqCst) > asked,
        "submitted again"
    );
}

#[test]
fn non_trimpath_builds_reproduce_at_their_original_paths() {
    // A CI-like build: its own GOROOT path (a copy of Go 1.22.10), a module
    // cache and a checkout at directories the rebuilder never uses itself.
    let dir = tempfile::tempdir().unwrap();
    let ci = dir.path().join("home/runner");
    let ci_goroot = ci.join("hostedtoolcache/go/1.22.10/x64");
    std::fs::create_dir_all(ci_goroot.parent().unwrap()).unwrap();
    let copied = Command::new("cp")
        .arg("-a")
        .arg(goroot("1.22.10"))
        .arg(&ci_goroot)
        .status()
        .unwrap();
    assert!(copied.success());
    let proxy = module_proxy(dir.path());
    let repo = ci.join("work/app/app");
    git_repo(
        &repo,
        &[
            (
                "go.mod",
                "module example.com/app\n\ngo 1.22\n\nrequire example.com/greet v1.0.0\n",
            ),
            (
                "go.sum",
                &std::fs::read_to_string(proxy.join("go.sum.greet")).unwrap(),
            ),
            ("cmd/app/main.go", HELLO_GO),
        ],
    );
    let original = dir.path().join("app-ci");
    let goproxy = format!("file://{}", proxy.display());
    let status = Command::new(ci_goroot.join("bin/go"))
        .current_dir(&repo)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", ci_goroot.join("bin").display()),
        )
        .env("HOME", ci.join("home"))
        .env("GOROOT", &ci_goroot)
        .env("GOPATH", ci.join("go"))
        .env("GOCACHE", target_tmp().join("gocache"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", &goproxy)
        .env("GOSUMDB", "off")
        .env("CGO_ENABLED", "0")
        .args(["build", "-ldflags=-s", "-o"])
        .arg(&original)
        .arg("./cmd/app")
        .status()
        .unwrap();
    assert!(status.success());
    let leaks = reprolog_rebuilder::diagnose::path_leaks(&std::fs::read(&original).unwrap());
    assert!(
        leaks.iter().any(|l| l.contains("home/runner/work/app/app"))
            && leaks
                .iter()
                .any(|l| l.contains("home/runner/hostedtoolcache")),
        "{leaks:?}"
    );

    let mut lines = Vec::new();
    let r = rebuild(
        &original,
        &rebuild_config(Some(&proxy), Some(&repo)),
        &mut |l: &str| lines.push(l.to_string()),
    )
    .unwrap();
    assert!(r.reproduced, "{:#?}\n{}", r.diagnosis, lines.join("\n"));
    assert!(r.inferred.is_none(), "Go recorded -ldflags itself");
    let said = lines.join("\n");
    assert!(
        said.contains("built without -trimpath: rebuilding with GOROOT at")
            && said.contains("module cache guessed"),
        "{said}"
    );
}
