//! Release builds reproduced with no `--ldflags`: flag orders Go did not
//! record, `-buildid=`, and hidden `-X` flags (goreleaser's defaults, a
//! package other than main, a variable initialised to "dev", an unusual
//! order), each built here by Go 1.27.3 from a tagged git repository.

mod common;

use common::*;
use reprolog_rebuilder::rebuild::{rebuild, RebuildReport};
use std::path::Path;

const MAIN_GO: &str = r#"package main

import (
	"fmt"

	"example.com/app/internal/build"
)

var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
	builtBy = "unknown"
)

func main() {
	fmt.Println("app", version, commit, date, builtBy, build.Version)
}
"#;

const BUILD_GO: &str = "package build\n\n// Version is set at link time.\nvar Version = \"dev\"\n";

/// A tagged repository of example.com/app; returns its revision.
fn tagged_repo(dir: &Path) -> String {
    let rev = git_repo(
        dir,
        &[
            ("go.mod", "module example.com/app\n\ngo 1.22\n"),
            ("main.go", MAIN_GO),
            ("internal/build/build.go", BUILD_GO),
        ],
    );
    git(dir, &["tag", "v1.2.3"]);
    rev
}

/// Builds the repository with `ldflags` as a release would, then rebuilds it
/// with nothing but the binary and the source.
fn release_and_rebuild(repo: &Path, name: &str, ldflags: &str) -> RebuildReport {
    let out = repo.parent().unwrap().join(name);
    go(
        "1.27.3",
        repo,
        &[
            "build",
            "-trimpath",
            &format!("-ldflags={ldflags}"),
            "-o",
            out.to_str().unwrap(),
            ".",
        ],
        &[],
    );
    let report = rebuild(&out, &rebuild_config(None, Some(repo)), &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let seconds: f64 = report.attempts.iter().map(|a| a.seconds).sum();
    eprintln!(
        "SHAPE {name}: reproduced={} attempts={} build-seconds={seconds:.1} ldflags={:?}",
        report.reproduced,
        report.attempts.len(),
        report.inferred.as_ref().and_then(|c| c.ldflags.clone())
    );
    assert!(report.reproduced, "{name}: {:#?}", report.diagnosis);
    let inferred = report.inferred.as_ref().expect("inferred -ldflags");
    assert_eq!(inferred.ldflags.as_deref(), Some(ldflags), "{name}");
    assert!(report.attempts.len() <= 64, "{name}: search bounded");
    report
}

#[test]
fn flag_orders_and_buildid_are_found_by_relinking() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    tagged_repo(&repo);
    let r = release_and_rebuild(&repo, "w-s", "-w -s");
    assert!(r
        .inferred
        .unwrap()
        .reason
        .contains("order was found by relinking"));
    release_and_rebuild(&repo, "s-w-buildid", "-s -w -buildid=");
}

#[test]
fn goreleaser_defaults_are_inferred_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    let rev = tagged_repo(&repo);
    // goreleaser's default: the tag without "v", the full commit, the build
    // date (not the commit's, 2026-01-02), and its own name.
    let flags = format!(
        "-s -w -X main.version=1.2.3 -X main.commit={rev} -X main.date=2026-03-04T05:06:07Z -X main.builtBy=goreleaser"
    );
    let r = release_and_rebuild(&repo, "goreleaser", &flags);
    let reason = r.inferred.unwrap().reason;
    assert!(reason.contains("main.builtBy=goreleaser"), "{reason}");
}

#[test]
fn x_on_other_packages_and_in_unusual_orders_is_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    let rev = tagged_repo(&repo);
    let short = &rev[..8];
    release_and_rebuild(
        &repo,
        "other-package",
        "-s -w -X example.com/app/internal/build.Version=v1.2.3",
    );
    release_and_rebuild(
        &repo,
        "unusual-order",
        &format!("-X example.com/app/internal/build.Version=v1.2.3 -X main.commit={short} -w -s"),
    );
}

#[test]
fn sources_are_fetched_through_a_vcs_mirror_with_their_tags() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    // A tagged module at the mirror's example.com/app: Go stamps v1.2.3.
    let repo = mirror.join("example.com/app");
    tagged_repo(&repo);
    let bin = dir.path().join("app-tagged");
    trimpath_build("1.27.3", &repo, &bin, &[]);
    assert!(go_version_m("1.27.3", &bin).contains("example.com/app\tv1.2.3"));
    let mut config = rebuild_config(None, None);
    config.vcs_mirrors = vec![reprolog_rebuilder::vcs::Mirror::Dir(mirror.clone())];
    config.source_cache = dir.path().join("sources");
    let mut lines = Vec::new();
    let r = rebuild(&bin, &config, &mut |l: &str| lines.push(l.to_string())).unwrap();
    assert!(r.reproduced, "{:#?}", r.diagnosis);
    assert!(lines.join("\n").contains("cloning "), "{lines:?}");

    // A module in a subdirectory of its repository, tagged tools/v0.1.0.
    let mono = mirror.join("example.com/mono");
    git_repo(
        &mono,
        &[
            ("README", "a repository holding several modules\n"),
            ("tools/go.mod", "module example.com/mono/tools\n\ngo 1.22\n"),
            (
                "tools/cmd/t/main.go",
                "package main\n\nfunc main() { println(\"t\") }\n",
            ),
        ],
    );
    git(&mono, &["tag", "tools/v0.1.0"]);
    let tool = dir.path().join("t");
    release_build("1.27.3", &mono.join("tools"), &tool, "./cmd/t", &[]);
    assert!(go_version_m("1.27.3", &tool).contains("vcs.revision="));
    let r = rebuild(&tool, &config, &mut |_| {}).unwrap();
    assert!(r.reproduced, "{:#?}", r.diagnosis);
}

#[test]
fn a_binary_that_names_no_source_is_built_from_the_directory_given() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("plain");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("go.mod"), "module example.com/plain\n\ngo 1.22\n").unwrap();
    std::fs::write(
        src.join("main.go"),
        "package main\n\nfunc main() { println(\"plain\") }\n",
    )
    .unwrap();
    let bin = dir.path().join("plain-bin");
    trimpath_build("1.27.3", &src, &bin, &[]);
    assert!(go_version_m("1.27.3", &bin).contains("(devel)"));

    let err = rebuild(&bin, &rebuild_config(None, None), &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("does not identify its source"),
        "{err}"
    );
    assert!(err.to_string().contains("--source DIR"), "{err}");
    let mut lines = Vec::new();
    let r = rebuild(&bin, &rebuild_config(None, Some(&src)), &mut |l: &str| {
        lines.push(l.to_string())
    })
    .unwrap();
    assert!(r.reproduced, "{:#?}", r.diagnosis);
    assert!(lines
        .join("\n")
        .contains("a match shows only that this directory builds the binary"));
}

#[test]
fn a_module_built_inside_a_git_submodule_is_found_there() {
    // A repackager's repository holds the module's own repository as a git
    // submodule; Go 1.22 stamps the outer repository's revision.
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("tool");
    git_repo(
        &inner,
        &[
            ("go.mod", "module example.com/tool\n\ngo 1.22\n"),
            (
                "main.go",
                "package main\n\nfunc main() { println(\"tool\") }\n",
            ),
        ],
    );
    let outer = dir.path().join("repackaged");
    git_repo(&outer, &[("README", "packages example.com/tool\n")]);
    git(
        &outer,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            inner.to_str().unwrap(),
            "upstream",
        ],
    );
    git(&outer, &["commit", "-q", "-m", "add upstream"]);
    let outer_rev = git(&outer, &["rev-parse", "HEAD"]);
    let bin = dir.path().join("tool-bin");
    release_build("1.22.10", &outer.join("upstream"), &bin, ".", &[]);
    assert!(go_version_m("1.22.10", &bin).contains(&format!("vcs.revision={outer_rev}")));
    let mut lines = Vec::new();
    let r = rebuild(&bin, &rebuild_config(None, Some(&outer)), &mut |l: &str| {
        lines.push(l.to_string())
    })
    .unwrap();
    assert!(r.reproduced, "{:#?}", r.diagnosis);
    assert!(lines.join("\n").contains("git submodules"), "{lines:?}");

    // Fetched rather than named, the repository's local submodule URL could
    // point anywhere on this host: it is refused before git runs.
    let mirror = dir.path().join("mirror/example.com/tool");
    std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
    std::fs::rename(&outer, &mirror).unwrap();
    let mut config = rebuild_config(None, None);
    config.vcs_mirrors = vec![reprolog_rebuilder::vcs::Mirror::Dir(
        dir.path().join("mirror"),
    )];
    config.source_cache = dir.path().join("sources");
    let err = rebuild(&bin, &config, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("is local to this host: refused in a fetched repository"),
        "{err}"
    );
}

#[test]
fn a_flag_string_no_search_finds_is_diagnosed_as_a_link_difference() {
    // "-s -w -s": the code and data of "-s -w", a flag list no order of it gives.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    tagged_repo(&repo);
    let bin = dir.path().join("odd");
    go(
        "1.27.3",
        &repo,
        &[
            "build",
            "-trimpath",
            "-ldflags=-s -w -s",
            "-o",
            bin.to_str().unwrap(),
            ".",
        ],
        &[],
    );
    let r = rebuild(&bin, &rebuild_config(None, Some(&repo)), &mut |_| {}).unwrap();
    assert!(!r.reproduced);
    let d = r.diagnosis.expect("diagnosis");
    assert!(
        d.advice[0].starts_with("Only the link step differs")
            && d.advice[0].contains("tried \"-w -s\""),
        "{:?}",
        d.advice
    );
    assert!(
        d.build_id_note
            .as_deref()
            .unwrap_or("")
            .contains("only the link inputs differ"),
        "{:?}",
        d.build_id_note
    );
}

/// A goreleaser-shaped release: binaries Go built for linux/amd64 and
/// cross-compiled for linux/arm64, darwin/arm64 and windows/amd64 with
/// `-trimpath -ldflags "-s -w"`, packed as goreleaser packs them (tar.gz for
/// unix, zip for windows, each beside a LICENSE and a README, and a checksums.txt), rebuilt from the archives for the platform
/// each records and attested by two rebuilders to a real log; then the
/// client's `verify` of each archive and of checksums.txt.
#[test]
fn cross_platform_members_of_release_archives_reproduce() {
    use reprolog_client::memory::CheckpointMemory;
    use reprolog_client::release;
    use reprolog_client::verify::{Source, Verdict};
    use reprolog_io::http;
    use reprolog_proto::note::{Signer, Verifier};
    use reprolog_proto::policy::Policy;
    use reprolog_rebuilder::node;
    use reprolog_rebuilder::release::{is_archive, rebuild_archive, MemberResult};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    tagged_repo(&repo);
    let log =
        reprolog_server::harness::LogHandle::start(&dir.path().join("log"), "test.localhost/log")
            .unwrap();
    let client = http::connect(&log.url, Verifier::from_key_text(&log.vkey).unwrap());
    let rebuilders = [
        Signer::generate("alpha.test").unwrap(),
        Signer::generate("beta.test").unwrap(),
    ];
    let mut checksums = String::new();
    let license: &[u8] = b"BSD-3-Clause\n";
    let readme: &[u8] = b"# app\n";
    for (goos, goarch) in [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
    ] {
        let exe = if goos == "windows" { "app.exe" } else { "app" };
        let out = dir.path().join(format!("{goos}-{goarch}-{exe}"));
        release_build(
            "1.27.3",
            &repo,
            &out,
            ".",
            &[("GOOS", goos), ("GOARCH", goarch)],
        );
        let binary = std::fs::read(&out).unwrap();
        let archive = if goos == "windows" {
            let path = dir.path().join(format!("app_1.2.3_{goos}_{goarch}.zip"));
            let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            for (name, data) in [
                ("LICENSE", license),
                ("README.md", readme),
                (exe, &binary[..]),
            ] {
                z.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                z.write_all(data).unwrap();
            }
            z.finish().unwrap();
            path
        } else {
            let path = dir.path().join(format!("app_1.2.3_{goos}_{goarch}.tar.gz"));
            tar_gz(
                &path,
                &[
                    ("LICENSE", license),
                    ("README.md", readme),
                    (exe, &binary[..]),
                ],
            );
            path
        };
        checksums += &format!(
            "{}  {}\n",
            reprolog_proto::Hash::of(&std::fs::read(&archive).unwrap()).to_hex(),
            archive.file_name().unwrap().to_string_lossy()
        );
        assert!(is_archive(&archive));
        // Each rebuilder rebuilds the archive itself and attests what it got.
        for signer in &rebuilders {
            let outcomes = rebuild_archive(
                &archive,
                &rebuild_config(None, Some(&repo)),
                &|_| false,
                &mut |_| {},
            )
            .unwrap();
            assert_eq!(outcomes.len(), 3, "{goos}/{goarch}");
            assert!(matches!(outcomes[0].result, MemberResult::NotCovered(_)));
            assert!(matches!(outcomes[1].result, MemberResult::NotCovered(_)));
            if let MemberResult::Rebuilt(report) = &outcomes[2].result {
                node::submit_report(report, signer, &client).unwrap();
            }
        }
        let outcomes = rebuild_archive(
            &archive,
            &rebuild_config(None, Some(&repo)),
            &|_| false,
            &mut |_| {},
        )
        .unwrap();
        match &outcomes[2].result {
            MemberResult::Rebuilt(report) => {
                eprintln!(
                    "CROSS {goos}/{goarch}: reproduced={} attempts={}",
                    report.reproduced,
                    report.attempts.len()
                );
                assert!(
                    report.reproduced,
                    "{goos}/{goarch}: {:#?}",
                    report.diagnosis
                );
                assert_eq!(report.plan.env_var("GOOS"), Some(goos));
                assert_eq!(report.plan.env_var("GOARCH"), Some(goarch));
                let found = report.found_in.as_ref().unwrap();
                assert_eq!(found.path, exe);
            }
            other => panic!("{goos}/{goarch}: {other:?}"),
        }
    }

    // The client: each archive and the checksums file, REPRODUCED for every
    // binary, the LICENSEs not covered.
    std::fs::write(dir.path().join("checksums.txt"), &checksums).unwrap();
    let policy = Policy::parse(&format!(
        "log {} {}\nrebuilder alpha {}\nrebuilder beta {}\ngroup g 2 alpha beta\nconsensus g\nquorum none\n",
        log.vkey,
        log.url,
        rebuilders[0].verifier().to_key_text(),
        rebuilders[1].verifier().to_key_text()
    ))
    .unwrap();
    let memory = CheckpointMemory::new(&dir.path().join("client-state"));
    let source = Source::Online { memory: &memory };
    for line in checksums.lines() {
        let name = line.split_once("  ").unwrap().1;
        let report = release::verify_archive(&dir.path().join(name), &policy, &source).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Reproduced,
            "{}",
            release::render(&report)
        );
        let text = release::render(&report);
        assert!(text.contains(":LICENSE  not a Go binary"), "{text}");
        assert!(text.contains(":README.md  not a Go binary"), "{text}");
        assert!(text.contains(&format!("rebuilt from {name}:app")), "{text}");
    }
    let report = release::verify_checksums(
        &dir.path().join("checksums.txt"),
        dir.path(),
        &policy,
        &source,
    )
    .unwrap();
    let text = release::render(&report);
    assert_eq!(report.verdict, Verdict::Reproduced, "{text}");
    assert!(
        text.starts_with("REPRODUCED  checksums.txt (4 Go binaries)"),
        "{text}"
    );
    assert_eq!(text.matches("not covered").count(), 8, "{text}");
}

/// `go build -trimpath -ldflags="-s -w" -o OUT PACKAGE` in `dir` with Go
/// `version` and `env`: how release tools build.
fn release_build(version: &str, dir: &Path, out: &Path, package: &str, env: &[(&str, &str)]) {
    go(
        version,
        dir,
        &[
            "build",
            "-trimpath",
            "-ldflags=-s -w",
            "-o",
            out.to_str().unwrap(),
            package,
        ],
        env,
    );
}

/// A one-file module `path` in a git repository at `dir`; returns the revision.
fn module_repo(dir: &Path, path: &str, says: &str) -> String {
    git_repo(
        dir,
        &[
            ("go.mod", &format!("module {path}\n\ngo 1.22\n")),
            (
                "main.go",
                &format!("package main\n\nfunc main() {{ println(\"{says}\") }}\n"),
            ),
        ],
    )
}

/// Tags added after the build (on the built commit, or a second one on a
/// tagged commit) would change the version Go 1.24+ stamps: the rebuild sets
/// the clone's tags back to what the recorded version implies.
#[test]
fn tags_added_after_the_build_do_not_change_the_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    let mut config = rebuild_config(None, None);
    config.vcs_mirrors = vec![reprolog_rebuilder::vcs::Mirror::Dir(mirror.clone())];
    config.source_cache = dir.path().join("sources");

    // Built one commit above v0.1.0 (a pseudo-version), tagged v0.1.1 later.
    let late = mirror.join("example.com/late");
    module_repo(&late, "example.com/late", "late");
    git(&late, &["tag", "v0.1.0"]);
    std::fs::write(
        late.join("main.go"),
        "package main\n\nfunc main() { println(\"late, fixed\") }\n",
    )
    .unwrap();
    git(&late, &["commit", "-qam", "fix"]);
    let bin = dir.path().join("late");
    trimpath_build("1.27.3", &late, &bin, &[]);
    let stamped = go_version_m("1.27.3", &bin);
    assert!(
        stamped.contains("example.com/late\tv0.1.1-0.2026"),
        "{stamped}"
    );
    git(&late, &["tag", "v0.1.1"]);
    let mut lines = Vec::new();
    let r = rebuild(&bin, &config, &mut |l: &str| lines.push(l.to_string())).unwrap();
    assert!(r.reproduced, "{:#?}", r.diagnosis);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tags set as v0.1.1-0.") && l.ends_with(": v0.1.0")),
        "{lines:?}"
    );

    // Built at v1.0.0, the same commit tagged v1.0.1 later.
    let twice = mirror.join("example.com/twice");
    module_repo(&twice, "example.com/twice", "twice");
    git(&twice, &["tag", "v1.0.0"]);
    let bin = dir.path().join("twice");
    trimpath_build("1.27.3", &twice, &bin, &[]);
    assert!(go_version_m("1.27.3", &bin).contains("example.com/twice\tv1.0.0"));
    git(&twice, &["tag", "v1.0.1"]);
    let r = rebuild(&bin, &config, &mut |_| {}).unwrap();
    assert!(r.reproduced, "{:#?}", r.diagnosis);
}

/// The source is looked for before the toolchain: a binary whose source no
/// mirror holds is refused for that, without a toolchain being installed.
#[test]
fn a_source_nobody_has_is_said_before_a_missing_toolchain() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    module_repo(&repo, "example.com/nowhere", "nowhere");
    let bin = dir.path().join("nowhere");
    trimpath_build("1.27.3", &repo, &bin, &[]);
    let mut config = rebuild_config(None, None);
    config.toolchains = reprolog_rebuilder::toolchain::ToolchainStore::scan(&[]);
    let err = rebuild(&bin, &config, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("no --vcs-mirror holds it"), "{err}");
    assert!(!err.contains("toolchain"), "{err}");
}

/// The Go versions the project installs (scripts/toolchains.sh), oldest first.
const EVERY_GO: [&str; 6] = ["1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3"];

/// A repackager's "factory": a repository holding `example.com/tool` and two
/// other projects as git submodules, at the URLs a real one would name.
/// Returns (factory, tool repository, the factory's commit, the tool's).
fn factory(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String, String) {
    let tool = dir.join("tool");
    let tool_rev = git_repo(
        &tool,
        &[
            ("go.mod", "module example.com/tool\n\ngo 1.22\n"),
            (
                "main.go",
                "package main\n\nvar (\n\tversion  = \"dev\"\n\trevision = \"\"\n)\n\nfunc main() { println(\"tool\", version, revision) }\n",
            ),
        ],
    );
    let others: Vec<std::path::PathBuf> = (1..=2)
        .map(|n| {
            let other = dir.join(format!("other{n}"));
            git_repo(&other, &[("README", "another project\n")]);
            other
        })
        .collect();
    let factory = dir.join("factory");
    git_repo(&factory, &[("README", "builds the tools' wheels\n")]);
    for (repo, path) in [
        (&tool, "tools/tool"),
        (&others[0], "tools/other1"),
        (&others[1], "tools/other2"),
    ] {
        git(
            &factory,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                repo.to_str().unwrap(),
                path,
            ],
        );
    }
    // The URLs a factory names: none reachable from here.
    for (name, url) in [
        ("tools/tool", "https://example.com/tool.git"),
        ("tools/other1", "https://example.org/other1.git"),
        ("tools/other2", "https://example.org/other2.git"),
    ] {
        git(
            &factory,
            &[
                "config",
                "-f",
                ".gitmodules",
                &format!("submodule.{name}.url"),
                url,
            ],
        );
    }
    git(&factory, &["add", ".gitmodules"]);
    git(&factory, &["commit", "-q", "-m", "the tools"]);
    let factory_rev = git(&factory, &["rev-parse", "HEAD"]);
    (factory, tool, factory_rev, tool_rev)
}

/// Which revision each Go stamps for a module built inside a git submodule,
/// measured with every toolchain the project installs: the outer
/// repository's up to 1.26, the submodule's own from 1.27. The rebuilder
/// follows this table (`gover::stamps_submodule_revision`).
#[test]
fn which_revision_each_go_stamps_inside_a_submodule() {
    let dir = tempfile::tempdir().unwrap();
    let (factory, _, factory_rev, tool_rev) = factory(dir.path());
    let mut table = Vec::new();
    for v in EVERY_GO {
        let bin = dir.path().join(format!("tool-{v}"));
        trimpath_build(v, &factory.join("tools/tool"), &bin, &[]);
        let info = go_version_m(v, &bin);
        let stamped = if info.contains(&format!("vcs.revision={tool_rev}")) {
            "submodule"
        } else if info.contains(&format!("vcs.revision={factory_rev}")) {
            "outer"
        } else {
            "none"
        };
        table.push(format!("go{v}: {stamped}"));
        let follows = if reprolog_rebuilder::gover::stamps_submodule_revision(&format!("go{v}")) {
            "submodule"
        } else {
            "outer"
        };
        assert_eq!(stamped, follows, "go{v}:\n{info}");
    }
    eprintln!("STAMPS {}", table.join(", "));
}

/// A tool built inside a factory's submodule by Go 1.26 (which stamps the
/// factory's revision) and by Go 1.27 (the tool's own), each with hidden
/// `-X main.version=1.4.2 -X main.revision=pypi`: both reproduce offline from a mirror holding only the factory and
/// the tool, with the factory given as the source, as a package's registry
/// metadata would name it. The other submodules, unreachable, are never
/// fetched.
#[test]
fn a_tool_built_in_a_factory_submodule_reproduces_from_a_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let (factory, tool, _, _) = factory(dir.path());
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(mirror.join("example.com")).unwrap();
    for (repo, at) in [
        (&factory, "example.com/factory"),
        (&tool, "example.com/tool"),
    ] {
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                repo.to_str().unwrap(),
                mirror.join(at).to_str().unwrap(),
            ],
        );
    }
    for v in ["1.26.6", "1.27.3"] {
        let bin = dir.path().join(format!("tool-{v}"));
        go(
            v,
            &factory.join("tools/tool"),
            &[
                "build",
                "-trimpath",
                "-ldflags=-s -w -X main.version=1.4.2 -X main.revision=pypi",
                "-o",
                bin.to_str().unwrap(),
                ".",
            ],
            &[],
        );
        let mut config = rebuild_config(None, Some(&mirror.join("example.com/factory")));
        config.vcs_mirrors = vec![reprolog_rebuilder::vcs::Mirror::Dir(mirror.clone())];
        config.source_cache = dir.path().join(format!("sources-{v}"));
        let mut lines = Vec::new();
        let r = rebuild(&bin, &config, &mut |l: &str| lines.push(l.to_string()))
            .unwrap_or_else(|e| panic!("go{v}: {e}\n{}", lines.join("\n")));
        assert!(
            r.reproduced,
            "go{v}: {:#?}\n{}",
            r.diagnosis,
            lines.join("\n")
        );
        eprintln!(
            "FACTORY go{v}: reproduced in {} attempts; -ldflags {:?}",
            r.attempts.len(),
            r.inferred.as_ref().and_then(|c| c.ldflags.clone())
        );
    }
}

/// A repackager's word-valued stamps: `-X main.commit=pypi` (a revision
/// variable given a word), `-X main.buildSource=pypi` (a name that says
/// nothing), a date and a version, hidden under -trimpath, with a test-only
/// package's variable that is never linked: found within the bound.
#[test]
fn word_valued_x_flags_are_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("wordy");
    git_repo(
        &repo,
        &[
            ("go.mod", "module example.com/wordy\n\ngo 1.22\n"),
            (
                "main.go",
                "package main\n\nimport \"fmt\"\n\nvar (\n\tversion     = \"dev\"\n\tcommit      = \"none\"\n\tdate        = \"unknown\"\n\tbuildSource = \"unknown\"\n)\n\nfunc main() { fmt.Println(version, commit, date, buildSource) }\n",
            ),
            (
                "internal/testutil/testutil.go",
                "package testutil\n\n// Revision is only for tests.\nvar Revision = \"\"\n",
            ),
            (
                "main_test.go",
                "package main\n\nimport (\n\t\"testing\"\n\n\t\"example.com/wordy/internal/testutil\"\n)\n\nfunc TestX(t *testing.T) { _ = testutil.Revision }\n",
            ),
        ],
    );
    git(&repo, &["tag", "v0.9.1"]);
    let report = release_and_rebuild(
        &repo,
        "wordy-bin",
        "-s -w -X main.version=0.9.1 -X main.commit=pypi -X main.date=2026-02-03T01:45:17Z -X main.buildSource=pypi",
    );
    eprintln!("WORDY attempts={}", report.attempts.len());
}

/// A hidden `-X` value no search can place (not a version, revision, date
/// or word) is named in the diagnosis as a string only the original has.
#[test]
fn strings_no_search_explains_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("motd");
    git_repo(
        &repo,
        &[
            ("go.mod", "module example.com/motd\n\ngo 1.22\n"),
            (
                "main.go",
                "package main\n\nvar motd = \"\"\n\nfunc main() { println(motd) }\n",
            ),
        ],
    );
    let bin = dir.path().join("motd-bin");
    go(
        "1.27.3",
        &repo,
        &[
            "build",
            "-trimpath",
            "-ldflags=-s -w -X 'main.motd=hello there, world'",
            "-o",
            bin.to_str().unwrap(),
            ".",
        ],
        &[],
    );
    let r = rebuild(&bin, &rebuild_config(None, Some(&repo)), &mut |_| {}).unwrap();
    assert!(!r.reproduced);
    let advice = r.diagnosis.expect("a diagnosis").advice.join("\n");
    assert!(
        advice.contains(
            r#"Strings only in the original, never explained (1 in all): "hello there, world"."#
        ),
        "{advice}"
    );
}
