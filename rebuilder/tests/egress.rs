//! A node's egress policy, tried as an attacker would: binaries and log
//! entries whose module paths, `go-import` tags or redirects name loopback
//! make `rebuild` and `follow --any-rebuilder` connect nowhere, each with a
//! one-line refusal. Listeners on the named loopback addresses count every
//! connection; none may arrive.
//!
//! The one server a node may reach here is a `?go-get=1` server on
//! 127.0.0.2:443 (tests/egress/gogetd.py), allowed with `--allow-egress
//! 127.0.0.2/32` and trusted through `--source-ca`; it points onwards at
//! loopback. Nothing in this file connects outside 127.0.0.0/8 and ::1: the
//! other ranges are covered by the unit tests of `egress.rs`.

mod common;

use common::*;
use reprolog_io::http;
use reprolog_proto::entry::Entry;
use reprolog_proto::note::{Signer, Verifier};
use reprolog_proto::statement::{Module, Setting, Statement};
use reprolog_proto::Hash;
use reprolog_rebuilder::buildinfo::BuildInfo;
use reprolog_server::harness::LogHandle;
use std::io::BufRead;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Module paths naming loopback directly, and the refusal each gets.
const DIRECT: &[(&str, &str)] = &[
    (
        "127.0.0.1/x",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
    (
        "localhost/x",
        "refused to connect to localhost (127.0.0.1): loopback address",
    ),
    (
        "0x7f000001/x",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
    (
        "2130706433/x",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
    (
        "127.1/x",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
];

/// Module paths served by gogetd.py, which points onwards at loopback.
const VIA_GO_GET: &[(&str, &str)] = &[
    (
        "127.0.0.2/meta-v4",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
    (
        "127.0.0.2/meta-v6",
        "refused to connect to [::1] (::1): loopback address",
    ),
    (
        "127.0.0.2/meta-mapped",
        "refused to connect to [::ffff:127.0.0.1] (::ffff:127.0.0.1): IPv4-mapped address",
    ),
    (
        "127.0.0.2/meta-localhost",
        "refused to connect to localhost (127.0.0.1): loopback address",
    ),
    (
        "127.0.0.2/meta-hex",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
    ("127.0.0.2/meta-ssh", "only https URLs are fetched"),
    (
        "127.0.0.2/redirect",
        "refused to connect to 127.0.0.1 (127.0.0.1): loopback address",
    ),
    (
        "127.0.0.2/redirect-v6",
        "refused to connect to [::1] (::1): loopback address",
    ),
    ("127.0.0.2/redirect-http", "only https URLs are fetched"),
    ("127.0.0.2/redirect-self", "more than 3 redirects"),
];

/// Counts connections to the loopback addresses the inputs name: port 443
/// (where a module path's `?go-get=1` page and repository would be) and the
/// port gogetd.py's tags and redirects name, on 127.0.0.1 and ::1.
struct Recorder {
    connections: Arc<AtomicUsize>,
    port: u16,
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let connections = Arc::new(AtomicUsize::new(0));
        let bind = |addr: SocketAddr| {
            TcpListener::bind(addr).unwrap_or_else(|e| {
                panic!("binding {addr} (this test binds port 443 on loopback, as root): {e}")
            })
        };
        let mut listeners = vec![
            bind("127.0.0.1:443".parse().unwrap()),
            bind("[::1]:443".parse().unwrap()),
        ];
        let v4 = bind("127.0.0.1:0".parse().unwrap());
        let port = v4.local_addr().unwrap().port();
        listeners.push(v4);
        listeners.push(bind(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))));
        for listener in listeners {
            let count = connections.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    count.fetch_add(1, Ordering::SeqCst);
                    drop(stream);
                }
            });
        }
        Recorder { connections, port }
    })
}

/// gogetd.py on 127.0.0.2:443 with a certificate from a test CA.
struct GoGetServer {
    child: Child,
    /// Open while this process lives: gogetd.py exits when it closes.
    _stdin: std::process::ChildStdin,
    ca: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for GoGetServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GoGetServer {
    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn go_get_server(target_port: u16) -> GoGetServer {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=reprolog egress test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(d, &ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.2"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(d, &csr);
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    let log = d.join("requests.log");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/egress/gogetd.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(d.join("server.pem"))
        .arg(d.join("server.key"))
        .arg(target_port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let stdin = child.stdin.take().unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready", "gogetd.py did not start");
    GoGetServer {
        child,
        _stdin: stdin,
        ca: d.join("ca.pem"),
        log,
        _dir: dir,
    }
}

/// Real Go binaries, one per module path, VCS-stamped (Go 1.27.3, -trimpath).
struct Binaries {
    dir: tempfile::TempDir,
}

impl Binaries {
    fn path(&self, module: &str) -> PathBuf {
        self.dir.path().join(module.replace(['/', '.'], "_"))
    }
}

fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let b = Binaries {
            dir: tempfile::tempdir().unwrap(),
        };
        for (module, _) in DIRECT.iter().chain(VIA_GO_GET) {
            let repo = b.dir.path().join("src").join(module.replace('/', "_"));
            git_repo(
                &repo,
                &[
                    ("go.mod", &format!("module {module}\n\ngo 1.22\n")),
                    (
                        "main.go",
                        "package main\n\nfunc main() { println(\"hi\") }\n",
                    ),
                ],
            );
            let out = b.path(module);
            trimpath_build("1.27.3", &repo, &out, &[]);
            assert!(go_version_m("1.27.3", &out).contains("vcs.revision="));
        }
        b
    })
}

/// The flags that let the node reach gogetd.py and nothing else on loopback.
fn egress_args(server: &GoGetServer) -> Vec<String> {
    vec![
        "--allow-egress".into(),
        "127.0.0.2/32".into(),
        "--source-ca".into(),
        server.ca.display().to_string(),
    ]
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn rebuild_of_binaries_naming_loopback_connects_nowhere() {
    let recorder = recorder();
    let server = go_get_server_shared(recorder.port);
    let binaries = binaries();
    for (module, refusal) in DIRECT.iter().chain(VIA_GO_GET) {
        let out = rebuilder_command("rebuild")
            .args(egress_args(server))
            .arg(binaries.path(module))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{module}: {stderr}");
        let errors = lines_with(&stderr, "reprolog-rebuilder: ");
        assert_eq!(errors.len(), 1, "{module}: {stderr}");
        assert!(errors[0].contains(refusal), "{module}: {stderr}");
        assert!(errors[0].contains(module), "{module}: {stderr}");
    }
    assert_eq!(
        recorder.connections.load(Ordering::SeqCst),
        0,
        "a loopback listener was connected to"
    );
    // The node did reach the one allowed server, for each module it serves.
    let requests = server.requests();
    for (module, _) in VIA_GO_GET {
        let path = module.trim_start_matches("127.0.0.2");
        assert!(
            requests.contains(&format!("{path}?go-get=1")),
            "{module}: {requests}"
        );
    }
}

/// A statement from a stranger that `module` (at `binary`'s recorded Go,
/// settings and revision) builds a binary with digest `subject`.
fn claim(binary: &Path, module: &str, subject: Hash, signer: &Signer) -> Vec<u8> {
    let info = BuildInfo::from_file(binary).unwrap();
    let main = info.main.clone().unwrap();
    let mut st = Statement::minimal(module, subject, subject, signer.name());
    let p = &mut st.predicate.build_definition.external_parameters;
    p.go_version = info.go_version.clone();
    p.path = module.to_string();
    p.main_module = Module {
        path: module.to_string(),
        version: main.version.clone(),
        sum: String::new(),
    };
    p.settings = info
        .settings
        .iter()
        .map(|s| Setting {
            key: s.key.clone(),
            value: s.value.clone(),
        })
        .collect();
    p.inferred.clear();
    Entry::sign(&st, signer).to_cbor()
}

#[test]
fn follow_of_entries_naming_loopback_connects_nowhere() {
    let recorder = recorder();
    let server = go_get_server_shared(recorder.port);
    let binaries = binaries();
    let dir = tempfile::tempdir().unwrap();
    let log = LogHandle::start(&dir.path().join("log"), "test.localhost/log").unwrap();
    let client = http::connect(&log.url, Verifier::from_key_text(&log.vkey).unwrap());
    // Module paths Go itself would not build, as a log entry may still name them.
    let bracketed = [
        ("[::1]/x", "contains characters no module path has"),
        (
            "[::ffff:127.0.0.1]/x",
            "contains characters no module path has",
        ),
    ];
    let all: Vec<(&str, &str, PathBuf)> = DIRECT
        .iter()
        .chain(VIA_GO_GET)
        .map(|(m, r)| (*m, *r, binaries.path(m)))
        .chain(
            bracketed
                .iter()
                .map(|(m, r)| (*m, *r, binaries.path("127.0.0.1/x"))),
        )
        .collect();
    for (i, (module, _, binary)) in all.iter().enumerate() {
        let stranger = Signer::generate(&format!("stranger{i}.test")).unwrap();
        let subject = Hash::of(module.as_bytes());
        client
            .submit(&claim(binary, module, subject, &stranger))
            .unwrap();
    }
    let key = dir.path().join("node.key");
    keygen("node.test", &key);
    let out = Command::new(REBUILDER)
        .env_remove("REPROLOG_TOOLCHAINS")
        .env("RUST_LOG", "warn")
        .args(["follow", "--toolchains"])
        .arg(toolchains())
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .arg("--gocache")
        .arg(target_tmp().join("gocache"))
        .args([
            &log.url,
            "--log-key",
            &log.vkey,
            "--once",
            "--any-rebuilder",
        ])
        .arg("--key")
        .arg(&key)
        .args(egress_args(server))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (module, refusal, _) in &all {
        let subject = Hash::of(module.as_bytes()).to_hex();
        let lines = lines_with(&stderr, &subject);
        assert_eq!(lines.len(), 1, "{module}: {stderr}");
        assert!(lines[0].contains("could not rebuild"), "{module}: {stderr}");
        assert!(lines[0].contains(refusal), "{module}: {stderr}");
    }
    assert_eq!(
        recorder.connections.load(Ordering::SeqCst),
        0,
        "a loopback listener was connected to"
    );
    log.stop().unwrap();
}

/// Both tests may run at once: gogetd.py binds 127.0.0.2:443, so they share it.
fn go_get_server_shared(port: u16) -> &'static GoGetServer {
    static SERVER: OnceLock<GoGetServer> = OnceLock::new();
    SERVER.get_or_init(|| go_get_server(port))
}

#[test]
fn the_mirror_path_still_works_for_the_same_binary() {
    // 127.0.0.1/x from a --vcs-mirror directory: no network, so no refusal.
    let binaries = binaries();
    let mirror = tempfile::tempdir().unwrap();
    let repo = mirror.path().join("127.0.0.1/x");
    std::fs::create_dir_all(repo.parent().unwrap()).unwrap();
    let src = binaries.dir.path().join("src/127.0.0.1_x");
    let out = Command::new("git")
        .args(["clone", "-q", "--mirror"])
        .arg(&src)
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut config = rebuild_config(None, None);
    config.vcs_mirrors = vec![reprolog_rebuilder::vcs::Mirror::Dir(
        mirror.path().to_path_buf(),
    )];
    config.source_cache = mirror.path().join("sources");
    let report =
        reprolog_rebuilder::rebuild::rebuild(&binaries.path("127.0.0.1/x"), &config, &mut |_| {})
            .unwrap();
    assert!(report.reproduced, "{:#?}", report.diagnosis);
}

#[test]
fn a_clone_is_bounded_in_bytes() {
    // 127.0.0.1/x again, from a mirror whose history holds 8 MiB of noise:
    // with a 1 MiB bound the clone is stopped and leaves nothing behind.
    let binaries = binaries();
    let mirror = tempfile::tempdir().unwrap();
    let repo = mirror.path().join("127.0.0.1/x");
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(binaries.dir.path().join("src/127.0.0.1_x"))
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut noise = vec![0u8; 8 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(repo.join("noise.bin"), noise).unwrap();
    git(&repo, &["add", "noise.bin"]);
    git(&repo, &["commit", "-q", "-m", "noise"]);
    let mut config = rebuild_config(None, None);
    config.vcs_mirrors = vec![reprolog_rebuilder::vcs::Mirror::Dir(
        mirror.path().to_path_buf(),
    )];
    let cache = mirror.path().join("sources");
    config.source_cache = cache.clone();
    config.egress.max_clone_bytes = 1 << 20;
    let err =
        reprolog_rebuilder::rebuild::rebuild(&binaries.path("127.0.0.1/x"), &config, &mut |_| {})
            .unwrap_err()
            .to_string();
    assert!(err.contains("wrote more than 1048576 bytes below"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
