//! Hostile inputs never reach the host: crafted settings and module paths in
//! attestations a follower repeats and in binaries Go built itself are refused
//! with a one-line reason, nothing is written outside scratch, and the sandbox
//! stops a build that writes elsewhere even when the checks are bypassed.

mod common;

use common::*;
use reprolog_io::http;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::{Setting, Statement};
use reprolog_proto::Hash;
use reprolog_rebuilder::attest;
use reprolog_rebuilder::build::{self, go_command, Confined, Scratch};
use reprolog_rebuilder::buildinfo::BuildInfo;
use reprolog_rebuilder::plan::BuildPlan;
use reprolog_rebuilder::rebuild::rebuild;
use reprolog_rebuilder::sandbox::{Sandbox, SandboxMode};
use reprolog_rebuilder::toolchain::ToolchainStore;
use reprolog_server::harness::LogHandle;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A crafted attestation: what it changes in a genuine statement.
type Edit = Box<dyn Fn(&mut Statement)>;

fn setting(key: &'static str, value: String) -> Edit {
    Box::new(move |st| {
        st.predicate
            .build_definition
            .external_parameters
            .settings
            .push(Setting {
                key: key.into(),
                value: value.clone(),
            })
    })
}

/// Every spelling of "write a file there" the issue lists, aimed at `target(i)`.
fn hostile_edits(target: &dyn Fn(usize) -> String) -> Vec<(String, Edit)> {
    let mut edits: Vec<(String, Edit)> = Vec::new();
    // Each spelling inside each of the three flag settings, then -extld.
    let spellings: [fn(&str) -> String; 4] = [
        |p| format!("-o={p}"),
        |p| format!("-o {p}"),
        |p| format!("'-o' '{p}'"),
        |p| format!("pattern=-o={p}"),
    ];
    let mut flag_cases: Vec<(&'static str, String)> = Vec::new();
    for (k, key) in ["-gcflags", "-asmflags", "-ldflags"]
        .into_iter()
        .enumerate()
    {
        for (i, spell) in spellings.iter().enumerate() {
            flag_cases.push((key, spell(&target(k * 4 + i))));
        }
    }
    flag_cases.push((
        "-ldflags",
        format!("-extld={} -linkmode=external", target(12)),
    ));
    for (key, value) in flag_cases {
        edits.push((format!("{key}={value}"), setting(key, value)));
    }
    let hint = format!("-w -o {}", target(13));
    edits.push((
        format!("inferred -ldflags {hint}"),
        Box::new(move |st| {
            st.predicate.build_definition.external_parameters.inferred[0].value = hint.clone()
        }),
    ));
    for path in ["../x", "/abs/cmd/x", "example.com/a\0b"] {
        edits.push((
            format!("module path {path:?}"),
            Box::new(move |st| {
                let p = &mut st.predicate.build_definition.external_parameters;
                p.path = path.into();
                p.main_module.path = path.into();
                p.main_module.version = "v1.0.0".into();
            }),
        ));
    }
    edits
}

fn assert_one_line_refusal(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
    assert!(err.contains("refused"), "{what}: {err}");
}

#[test]
fn followers_refuse_crafted_attestations_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    let target = |i: usize| victim.join(format!("pwned-{i}")).display().to_string();
    let server = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let log = http::connect(&server.url, Verifier::from_key_text(&server.vkey).unwrap());

    // A genuine attestation of gofmt is the template each attacker edits; each
    // crafted entry has its own subject and its own fresh, unlisted key.
    let gofmt = goroot("1.27.3").join("bin/gofmt");
    let report = rebuild(&gofmt, &rebuild_config(None, None), &mut |_| {}).unwrap();
    assert!(report.reproduced);
    let template = attest::statement(&report, "template");
    let edits = hostile_edits(&target);
    for (i, (what, edit)) in edits.iter().enumerate() {
        let mut st = template.clone();
        st.subject[0].digest = [("sha256".to_string(), Hash::of(what.as_bytes()).to_hex())].into();
        edit(&mut st);
        let attacker = Signer::generate(&format!("attacker-{i}.test")).unwrap();
        log.submit(&Entry::sign(&st, &attacker).to_cbor())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    let key = dir.path().join("node.key");
    keygen("node.test", &key);
    let follow = |state: &Path, who: &[&str]| {
        rebuilder_command("follow")
            .args([&server.url, "--log-key", &server.vkey, "--once"])
            .args(who)
            .arg("--key")
            .arg(&key)
            .arg("--state")
            .arg(state)
            .output()
            .unwrap()
    };

    // By default a follower repeats only its policy's rebuilders: all skipped.
    let policy = dir.path().join("policy");
    let someone = Signer::generate("trusted.test").unwrap();
    std::fs::write(
        &policy,
        format!(
            "log {} {}\nrebuilder trusted {}\ngroup g 1 trusted\nconsensus g\nquorum none\n",
            server.vkey,
            server.url,
            someone.verifier().to_key_text()
        ),
    )
    .unwrap();
    let out = follow(
        &dir.path().join("policy-state.json"),
        &["--policy", policy.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("entries not repeated: {} by policy", edits.len())),
        "{err}"
    );

    // Opened to every key, each crafted build is refused before it runs.
    let state = dir.path().join("any-state.json");
    let out = follow(&state, &["--any-rebuilder"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let st = reprolog_rebuilder::node::FollowState::load(&state).unwrap();
    for (what, _) in &edits {
        let subject = Hash::of(what.as_bytes()).to_hex();
        let note = st.done.get(&subject).map_or("", |o| o.note.as_str());
        assert!(
            note.starts_with("could not rebuild")
                && note.contains("refused")
                && !note.contains('\n'),
            "{what}: {note:?}"
        );
        let (found, _) = log
            .lookup(&Hash::from_hex(&subject).unwrap(), &[])
            .unwrap()
            .remove(0);
        assert_eq!(
            found.entries.len(),
            1,
            "{what}: nothing submitted for a refusal"
        );
    }
    assert!(
        !err.contains('\0'),
        "attacker text is escaped in the node's log"
    );
    for i in 0..14 {
        assert!(!Path::new(&target(i)).exists(), "{} was written", target(i));
    }
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
}

#[test]
fn rebuild_refuses_binaries_whose_recorded_flags_name_paths() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    small_app(&repo);
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    let p = |i: usize| victim.join(format!("pwned-{i}")).display().to_string();
    // Scoped to a package that does not exist, so Go builds and records them.
    let builds: Vec<Vec<String>> = vec![
        vec![
            "-trimpath".into(),
            format!("-gcflags=example.com/none=-o={}", p(0)),
        ],
        vec!["-trimpath".into(), format!("-gcflags=pattern=-o={}", p(1))],
        vec![
            "-trimpath".into(),
            format!("-asmflags=example.com/none=-o {}", p(2)),
        ],
        vec![format!("-ldflags=example.com/none='-o' '{}'", p(3))],
        vec![format!(
            "-ldflags=example.com/none=-extld={} -linkmode=external",
            p(4)
        )],
    ];
    for (i, flags) in builds.iter().enumerate() {
        let bin = dir.path().join(format!("app-{i}"));
        let mut args: Vec<&str> = vec!["build"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["-o", bin.to_str().unwrap(), "."]);
        go("1.27.3", &repo, &args, &[]);
        let recorded = go_version_m("1.27.3", &bin);
        assert!(
            recorded.contains("pwned-"),
            "Go recorded the flag: {recorded}"
        );
        let out = rebuilder_command("rebuild")
            .arg("--source")
            .arg(&repo)
            .arg(&bin)
            .output()
            .unwrap();
        assert_one_line_refusal(&out, &flags.join(" "));
    }
    // Flags given on the command line get the same checks.
    let clean = dir.path().join("app-clean");
    trimpath_build("1.27.3", &repo, &clean, &[]);
    let out = rebuilder_command("rebuild")
        .arg("--source")
        .arg(&repo)
        .arg(format!("--ldflags=-s -w -o {}", p(5)))
        .arg(&clean)
        .output()
        .unwrap();
    assert_one_line_refusal(&out, "--ldflags");
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
}

/// The second wall: a build told to write into the source (read-only), into a
/// host directory the sandbox does not show, or into /tmp (a private tmpfs)
/// leaves the host untouched. The same command unconfined does write, so the
/// test would notice a sandbox that lets it through.
#[test]
fn the_sandbox_stops_writes_outside_scratch_when_checks_are_bypassed() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("app");
    small_app(&source);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let tmp_target = PathBuf::from(format!("/tmp/reprolog-pwned-{}", std::process::id()));
    let targets = [
        source.join("pwned"),
        elsewhere.join("pwned"),
        tmp_target.clone(),
    ];

    // A plan for a benign build of this module; the attack is added below,
    // straight into the go command, so no check ever sees it.
    let original = dir.path().join("app-bin");
    trimpath_build("1.27.3", &source, &original, &[]);
    let plan = BuildPlan::from_build_info(&BuildInfo::from_file(&original).unwrap()).unwrap();
    let store = ToolchainStore::scan(&[toolchains()]);
    let toolchain = store.find("go1.27.3").unwrap().clone();
    let config = rebuild_config(None, Some(&source));
    let attempt = |mode: SandboxMode, target: &Path, n: usize| -> bool {
        let scratch = Scratch::create(&dir.path().join(format!("scratch-{n}"))).unwrap();
        let confined = Confined {
            sandbox: Sandbox::new(mode).unwrap(),
            mounts: build::job_mounts(
                &toolchain,
                &scratch,
                &config.gocache,
                &config.modules,
                Some(&source),
            ),
            limits: config.limits.clone(),
        };
        let mut cmd = go_command(
            &toolchain,
            &plan,
            &scratch,
            &config.gocache,
            &config.modules,
        );
        cmd.current_dir(&source).args([
            "build".to_string(),
            "-trimpath".to_string(),
            format!("-gcflags=-o={}", target.display()),
            "-o".to_string(),
            scratch.out().join("bin").display().to_string(),
            ".".to_string(),
        ]);
        let _ = confined.run(cmd, "go build");
        target.exists()
    };
    for (n, target) in targets.iter().enumerate() {
        assert!(
            !attempt(SandboxMode::Required, target, n),
            "sandboxed build wrote {}",
            target.display()
        );
    }
    // Control: unconfined, the same attack writes the file.
    let wrote = attempt(SandboxMode::Off, &elsewhere.join("pwned"), 9);
    assert!(wrote, "the attack works without the sandbox");
    let _ = std::fs::remove_file(tmp_target);
}

/// Where no sandbox can start, rebuilds are refused in one line unless the
/// operator asks for unconfined builds.
#[test]
fn no_sandbox_means_no_build_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    // A bwrap that fails the way it does where the kernel refuses namespaces.
    let refusing = dir.path().join("bwrap");
    std::fs::write(
        &refusing,
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&refusing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gofmt = goroot("1.27.3").join("bin/gofmt");
    let rebuild_with = |bwrap: &Path, extra: &[&str]| {
        rebuilder_command("rebuild")
            .env("REPROLOG_BWRAP", bwrap)
            .args(extra)
            .arg(&gofmt)
            .output()
            .unwrap()
    };
    for bwrap in [refusing.clone(), dir.path().join("missing-bwrap")] {
        let out = rebuild_with(&bwrap, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let last = err.trim().lines().last().unwrap_or_default();
        assert!(
            last.contains("builds cannot be confined") && last.contains("--no-sandbox"),
            "{err}"
        );
        assert!(err.lines().all(|l| !l.contains("REPRODUCED")), "{err}");
    }
    let out = rebuild_with(&refusing, &["--no-sandbox"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
