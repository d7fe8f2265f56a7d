//! The archive differential: what `reprolog verify` reports of an archive
//! against what the extractors people use write when they unpack it. GNU
//! tar, bsdtar (libarchive), Info-ZIP unzip and Python's tarfile and zipfile
//! (installed by scripts/extractors.sh) each unpack every archive of a
//! corpus into a directory of their own; then, for every archive, either
//! our reader refuses it, or every member it reports has exactly the bytes
//! each extractor wrote at that path, and every extractor that succeeded
//! wrote those members and nothing else.
//!
//! The corpus: genuine archives from the real writers (GNU tar in its three
//! formats, bsdtar, Info-ZIP zip, Python, and Go's archive/tar and
//! archive/zip as goreleaser uses them) holding a Go binary of the Go
//! distribution; and hostile archives built byte by byte, each a shape on
//! which readers have disagreed. The test prints one row per archive: what
//! each extractor did and what we did (RELIABILITY.md, "Archive
//! differentials").

use reprolog_proto::archive::{self, craft::*, Limits};
use reprolog_proto::Hash;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What an extractor left: its exit status and every regular file written.
struct Extracted {
    ok: bool,
    files: BTreeMap<String, Vec<u8>>,
}

const EXTRACTORS: [&str; 5] = [
    "GNU tar",
    "bsdtar",
    "unzip",
    "Python tarfile",
    "Python zipfile",
];

fn extractor(name: &str, archive: &Path, out: &Path) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/extract.py");
    let mut c;
    match name {
        "GNU tar" => {
            c = Command::new("tar");
            c.arg("-xf").arg(archive).arg("-C").arg(out);
        }
        "bsdtar" => {
            c = Command::new(std::env::var("REPROLOG_BSDTAR").unwrap_or_else(|_| "bsdtar".into()));
            c.arg("-xf").arg(archive).arg("-C").arg(out);
        }
        "unzip" => {
            c = Command::new("unzip");
            c.arg("-o").arg("-qq").arg(archive).arg("-d").arg(out);
        }
        "Python tarfile" | "Python zipfile" => {
            c = Command::new("python3");
            let kind = if name.ends_with("tarfile") {
                "tar"
            } else {
                "zip"
            };
            c.arg(&script).arg(kind).arg(archive).arg(out);
        }
        _ => unreachable!(),
    }
    c
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if meta.is_dir() {
            walk(root, &path, files);
        } else if meta.is_file() {
            files.insert(rel, std::fs::read(&path).unwrap());
        } else {
            files.insert(rel, b"<not a regular file>".to_vec());
        }
    }
}

fn extract(name: &str, archive: &Path, scratch: &Path) -> Extracted {
    let out = scratch.join(name.replace(' ', "-"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let status = extractor(name, archive, &out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| {
            panic!("{name} could not run (scripts/extractors.sh installs it): {e}")
        });
    let mut files = BTreeMap::new();
    walk(&out, &out, &mut files);
    Extracted {
        ok: status.success(),
        files,
    }
}

/// What a cell of the printed table says of one extractor's result.
fn cell(x: &Extracted) -> String {
    let files: Vec<String> = x
        .files
        .iter()
        .map(|(p, d)| {
            let text = String::from_utf8_lossy(&d[..d.len().min(6)]).replace(['\n', '|'], " ");
            if d.starts_with(b"\x7fELF") {
                format!("{p}=ELF {}", &Hash::of(d).to_hex()[..8])
            } else {
                format!("{p}={text}")
            }
        })
        .collect();
    let status = if x.ok { "ok" } else { "fails" };
    if files.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {}", files.join(", "))
    }
}

/// What we expect of our reader.
enum Expect {
    Read,
    Refused(&'static str),
}

/// Runs every extractor and ours on `bytes` (written as `name`), checks the
/// differential property and `expect`, and returns the table row.
fn check(scratch: &Path, name: &str, bytes: &[u8], expect: Expect) -> String {
    let path = scratch.join(name);
    std::fs::write(&path, bytes).unwrap();
    let ours = archive::members(
        std::io::Cursor::new(bytes),
        bytes.len() as u64,
        Limits::default(),
    );
    let results: Vec<(&str, Extracted)> = EXTRACTORS
        .iter()
        .map(|e| (*e, extract(e, &path, &scratch.join("out"))))
        .collect();
    // A refusal is always safe; a reading must be every extractor's.
    if let Ok(members) = &ours {
        let reported: BTreeMap<&str, Hash> = members
            .iter()
            .map(|m| (m.path.as_str(), m.sha256))
            .collect();
        for (e, x) in &results {
            for (p, data) in &x.files {
                match reported.get(p.as_str()) {
                    Some(h) => assert_eq!(
                        Hash::of(data),
                        *h,
                        "{name}: {e} wrote other bytes at {p} than we report"
                    ),
                    None => assert!(!x.ok, "{name}: {e} wrote {p}, which we do not report"),
                }
            }
            if x.ok {
                for p in reported.keys() {
                    assert!(x.files.contains_key(*p), "{name}: {e} did not write {p}");
                }
            }
        }
    }
    let ours_cell = match (&ours, &expect) {
        (Ok(m), Expect::Read) => format!("reads {} members", m.len()),
        (Err(e), Expect::Refused(needle)) => {
            let text = e.to_string();
            assert!(
                text.contains(needle),
                "{name}: refused, but not for {needle:?}: {text}"
            );
            // `reprolog verify` refuses it too: exit 4, one line.
            let out = Command::new(env!("CARGO_BIN_EXE_reprolog"))
                .arg("--state")
                .arg(scratch.join("state"))
                .args(["verify", path.to_str().unwrap(), "--policy"])
                .arg(scratch.join("policy"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(4), "{name}: {err}");
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(err.contains(needle), "{name}: {err}");
            format!("refuses: {text}")
        }
        (Ok(_), Expect::Refused(n)) => panic!("{name}: read, but should be refused ({n})"),
        (Err(e), Expect::Read) => panic!("{name}: refused, but should be read: {e}"),
    };
    if matches!(expect, Expect::Read) {
        let succeeded = results.iter().filter(|(_, x)| x.ok).count();
        assert!(
            succeeded >= 3,
            "{name}: only {succeeded} extractors read a genuine archive"
        );
    }
    let cells: Vec<String> = results.iter().map(|(_, x)| cell(x)).collect();
    format!("| {name} | {} | {ours_cell} |", cells.join(" | "))
}

/// The newest cached Go distribution.
fn goroot() -> PathBuf {
    let dir = std::env::var_os("REPROLOG_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/toolchains"));
    let root = dir.join("go1.27.3/go");
    assert!(
        root.join("bin/go").is_file(),
        "{} missing: run scripts/toolchains.sh",
        root.display()
    );
    root
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Genuine archives of `src` from every real writer, by file name.
fn genuine(scratch: &Path, src: &Path) -> Vec<(String, Vec<u8>)> {
    let made = scratch.join("made");
    std::fs::create_dir_all(&made).unwrap();
    let m = |n: &str| made.join(n);
    run(Command::new("tar")
        .arg("-czf")
        .arg(m("gnu.tar.gz"))
        .arg("-C")
        .arg(src)
        .arg("."));
    run(Command::new("tar")
        .args(["--format=pax", "-czf"])
        .arg(m("pax.tar.gz"))
        .arg("-C")
        .arg(src)
        .arg("."));
    run(Command::new("tar")
        .args(["--format=ustar", "-cf"])
        .arg(m("ustar.tar"))
        .arg("-C")
        .arg(src)
        .arg("."));
    let bsdtar = std::env::var("REPROLOG_BSDTAR").unwrap_or_else(|_| "bsdtar".into());
    run(Command::new(&bsdtar)
        .arg("-czf")
        .arg(m("bsdtar.tar.gz"))
        .arg("-C")
        .arg(src)
        .arg("."));
    run(Command::new(&bsdtar)
        .args(["--format", "zip", "-cf"])
        .arg(m("bsdtar.zip"))
        .arg("-C")
        .arg(src)
        .arg("."));
    run(Command::new("zip")
        .arg("-q")
        .arg("-r")
        .arg(m("info-zip.zip"))
        .arg(".")
        .current_dir(src));
    run(Command::new("python3").arg("-c").arg(
        "import sys, tarfile, zipfile, os\n\
         src, out = sys.argv[1], sys.argv[2]\n\
         with tarfile.open(os.path.join(out, 'python.tar.gz'), 'w:gz') as t: t.add(src, arcname='app')\n\
         with zipfile.ZipFile(os.path.join(out, 'python.zip'), 'w', zipfile.ZIP_DEFLATED) as z:\n\
         \x20   for d, _, fs in os.walk(src):\n\
         \x20       for f in fs: p = os.path.join(d, f); z.write(p, os.path.relpath(p, src))\n",
    ).arg(src).arg(&made));
    let go = goroot();
    let writers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/writers.go");
    let mut files = vec![writers.clone()];
    for f in ["gofmt", "README", "LICENSE"] {
        files.push(src.join(f));
    }
    run(Command::new(go.join("bin/go"))
        .arg("run")
        .arg(&writers)
        .arg(&made)
        .args(&files[1..])
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .env(
            "GOCACHE",
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .env("HOME", scratch));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&made)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A zip with `extra`'s local record slipped in before the central directory,
/// listed nowhere.
fn with_unlisted(zip: &[u8], extra: &[u8]) -> Vec<u8> {
    let n = zip.len();
    let cd_offset = u32::from_le_bytes(zip[n - 6..n - 2].try_into().unwrap()) as usize;
    let local_end =
        u32::from_le_bytes(extra[extra.len() - 6..extra.len() - 2].try_into().unwrap()) as usize;
    let mut out = zip[..cd_offset].to_vec();
    out.extend_from_slice(&extra[..local_end]);
    out.extend_from_slice(&zip[cd_offset..]);
    let moved = (cd_offset + local_end) as u32;
    let m = out.len();
    out[m - 6..m - 2].copy_from_slice(&moved.to_le_bytes());
    out
}

/// The hostile corpus, built byte by byte.
fn hostile() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let good: &[u8] = b"good binary";
    let evil: &[u8] = b"evil binary";
    let mut v = Vec::new();
    // Two gzip members: the first without end blocks.
    let mut first = Vec::new();
    tar_entry(&mut first, header("README", 2, b'0', USTAR), b"hi");
    tar_entry(
        &mut first,
        header("app", good.len() as u64, b'0', USTAR),
        good,
    );
    let mut two = gz(&first);
    two.extend(gz(&tar_of(&[("app", evil)])));
    v.push(("two-gzip-members.tar.gz", two, Expect::Refused("twice")));
    // A pax size before a V7 header whose own size field says something else.
    let pax = pax_record("size", &evil.len().to_string());
    let mut t = Vec::new();
    tar_entry(
        &mut t,
        header("pax", pax.len() as u64, b'x', USTAR),
        pax.as_bytes(),
    );
    tar_entry(&mut t, header("app", 0, b'0', V7), evil);
    t.extend_from_slice(&[0; 1024]);
    v.push(("pax-size-on-v7.tar", t.clone(), Expect::Read));
    v.push(("pax-size-on-v7.tar.gz", gz(&t), Expect::Read));
    // Two zips back to back; the last end record's comment runs past the end.
    let mut z = zip_of(&[("app", good)], |_, _| {});
    let mut second = zip_of(&[("app", evil)], |_, _| {});
    let n = second.len();
    second[n - 2] = 40;
    z.extend(second);
    v.push((
        "two-end-records.zip",
        z,
        Expect::Refused("end-of-central-directory records"),
    ));
    // A tar that is also a zip.
    let mut both = tar_of(&[("app", good)]);
    both.extend(zip_of(&[("app", evil)], |_, _| {}));
    v.push((
        "tar-and-zip.zip",
        both,
        Expect::Refused("both as tar and as zip"),
    ));
    // The same path twice: the binary, then a script.
    v.push((
        "same-path-twice.tar.gz",
        gz(&tar_of(&[
            ("app", good),
            ("./app", b"#!/bin/sh\necho owned\n"),
        ])),
        Expect::Refused("twice"),
    ));
    v.push((
        "case-twice.tar",
        tar_of(&[("App", good), ("app", evil)]),
        Expect::Refused("twice"),
    ));
    // A pax global header naming every later entry.
    let g = pax_record("path", "app");
    let mut t = Vec::new();
    tar_entry(
        &mut t,
        header("global", g.len() as u64, b'g', USTAR),
        g.as_bytes(),
    );
    tar_entry(&mut t, header("app", good.len() as u64, b'0', USTAR), good);
    tar_entry(
        &mut t,
        header("run.sh", evil.len() as u64, b'0', USTAR),
        evil,
    );
    t.extend_from_slice(&[0; 1024]);
    v.push((
        "pax-global-path.tar",
        t,
        Expect::Refused("global keyword \"path\""),
    ));
    // Local names that are not the central directory's.
    let z = zip_of(&[("app", good), ("run", evil)], |i, local| {
        let n = local.len();
        local[n - 3..].copy_from_slice(if i == 0 { b"xyz" } else { b"app" });
    });
    v.push((
        "local-names-differ.zip",
        z,
        Expect::Refused("local header's name differs"),
    ));
    // A local record nobody lists.
    let z = with_unlisted(
        &zip_of(&[("app", good)], |_, _| {}),
        &zip_of(&[("run", evil)], |_, _| {}),
    );
    v.push(("unlisted-entry.zip", z, Expect::Refused("before it")));
    // An entry type GNU tar extracts as a file and others skip.
    let mut t = tar_of(&[("app", good)]);
    t.truncate(t.len() - 1024);
    tar_entry(&mut t, header("run", evil.len() as u64, b'Q', USTAR), evil);
    t.extend_from_slice(&[0; 1024]);
    v.push((
        "unknown-type.tar",
        t,
        Expect::Refused("not one this reader knows"),
    ));
    // A second archive after the end blocks; garbage after the gzip stream.
    let mut t = tar_of(&[("app", good)]);
    t.extend(tar_of(&[("run", evil)]));
    v.push((
        "after-end-blocks.tar",
        t,
        Expect::Refused("follows the tar archive's end block"),
    ));
    let mut t = gz(&tar_of(&[("app", good)]));
    t.extend_from_slice(b"trailing garbage");
    v.push((
        "gzip-trailing-garbage.tar.gz",
        t,
        Expect::Refused("zero padding"),
    ));
    // A GNU header with a path in ustar's prefix field (Python reads it).
    let mut h = header("app", evil.len() as u64, b'0', b"ustar  \0");
    h[345..348].copy_from_slice(b"bin");
    seal(&mut h);
    let mut t = tar_of(&[("bin/app", good)]);
    t.truncate(t.len() - 1024);
    tar_entry(&mut t, h, evil);
    t.extend_from_slice(&[0; 1024]);
    v.push(("gnu-with-prefix.tar", t, Expect::Refused("prefix field")));
    // A directory entry with data.
    let mut t = Vec::new();
    tar_entry(&mut t, header("app", evil.len() as u64, b'5', USTAR), evil);
    t.extend_from_slice(&[0; 1024]);
    v.push(("directory-with-data.tar", t, Expect::Refused("has data")));
    v
}

#[test]
fn every_member_we_report_is_what_every_extractor_writes() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let src = scratch.join("src");
    let long = src.join(format!("{}/{}", "d".repeat(60), "e".repeat(60)));
    std::fs::create_dir_all(&long).unwrap();
    std::fs::copy(goroot().join("bin/gofmt"), src.join("gofmt")).unwrap();
    std::fs::write(src.join("README"), "# app\n").unwrap();
    std::fs::write(src.join("LICENSE"), "MIT\n").unwrap();
    std::fs::write(long.join("notes.txt"), "a path over 100 bytes\n").unwrap();
    // A policy for `reprolog verify` (no log is reached: the archive is
    // refused first).
    let log = reprolog_proto::note::Signer::generate("log.localhost").unwrap();
    let rebuilder = reprolog_proto::note::Signer::generate("r.localhost").unwrap();
    std::fs::write(
        scratch.join("policy"),
        format!(
            "log {} http://127.0.0.1:9\nrebuilder r {}\nconsensus r\nquorum none\n",
            log.verifier().to_key_text(),
            rebuilder.verifier().to_key_text()
        ),
    )
    .unwrap();
    let mut rows = vec![format!(
        "| archive | {} | reprolog |\n|{}",
        EXTRACTORS.join(" | "),
        "---|".repeat(EXTRACTORS.len() + 2)
    )];
    for (name, bytes) in genuine(scratch, &src) {
        rows.push(check(scratch, &name, &bytes, Expect::Read));
    }
    for (name, bytes, expect) in hostile() {
        rows.push(check(scratch, name, &bytes, expect));
    }
    eprintln!("{}", rows.join("\n"));
}
