//! `serve --database` over TLS to a real PostgreSQL, which scripts/postgres.sh
//! starts with a certificate for 127.0.0.1 from a test CA. Entries travel
//! in verified TLS sessions (PostgreSQL's own `pg_stat_ssl` says so); an
//! untrusted CA, a host name the certificate does not name, a server without
//! TLS and a mode that would accept any certificate are each refused with one
//! line, and leave the log as it was. A role that PostgreSQL lets in only
//! with a client certificate (pg_hba `cert`) logs in with `sslcert`/`sslkey`.
//!
//! Needs `REPROLOG_TEST_POSTGRES` and `REPROLOG_TEST_POSTGRES_CA`
//! (scripts/test.sh sets both); skipped without them.

mod common;

use common::{entry_for, init, TestServer, BIN};
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `serve` expecting it to refuse the database URL; returns its stderr.
fn refused(data: &Path, url: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(["--database", url])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("serve accepted {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "serve accepted {url}");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line for {url}: {stderr}");
    stderr
}

/// The admin URL and the TLS CA scripts/postgres.sh made, or `None` (the
/// test is skipped) without them.
fn postgres_with_tls() -> Option<(String, String)> {
    match (
        std::env::var("REPROLOG_TEST_POSTGRES"),
        std::env::var("REPROLOG_TEST_POSTGRES_CA"),
    ) {
        (Ok(admin), Ok(ca)) => Some((admin, ca)),
        _ => {
            eprintln!("REPROLOG_TEST_POSTGRES(_CA) unset (scripts/postgres.sh): skipped");
            None
        }
    }
}

/// Submits `n` new entries to a fresh log; returns them, each acknowledged
/// at its index.
fn submit_new(server: &TestServer, n: u8) -> Vec<Vec<u8>> {
    let signer = Signer::generate("tls.example").unwrap();
    let entries: Vec<Vec<u8>> = (0..n)
        .map(|i| entry_for(&signer, "tls", Hash::of(&[i]), true))
        .collect();
    for (i, bytes) in entries.iter().enumerate() {
        assert_eq!(server.submit(bytes).index, i as u64);
    }
    entries
}

/// The log's size as stored in its database.
fn stored_size(admin_db: &str) -> i64 {
    let mut c = reprolog_server::storage::postgres::connect(admin_db).unwrap();
    c.query_one("SELECT size FROM reprolog_meta", &[])
        .unwrap()
        .get(0)
}

#[test]
fn the_log_reaches_postgresql_over_verified_tls_only() {
    let Some((admin, ca)) = postgres_with_tls() else {
        return;
    };
    let name = format!("tls_{}", std::process::id());
    let plain = reprolog_server::storage::postgres::recreate_database(&admin, &name).unwrap();
    let verified = format!("{plain}?sslmode=verify-full&sslrootcert={ca}");
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());

    // Three entries through a verified session.
    let server = TestServer::start(dir.path(), &key, &["--database", &verified]);
    let entries = submit_new(&server, 3);
    // PostgreSQL's view of the server's sessions: every one is TLS.
    let mut observer = reprolog_server::storage::postgres::connect(&admin).unwrap();
    let sessions: Vec<(bool, String)> = observer
        .query(
            "SELECT s.ssl, coalesce(s.version, '') FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'reprolog-server'",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(!sessions.is_empty(), "no sessions seen");
    assert!(
        sessions.iter().all(|(ssl, v)| *ssl && v.starts_with("TLS")),
        "{sessions:?}"
    );
    server.stop();
    assert_eq!(stored_size(&plain), 3);

    // A CA that did not issue the server's certificate.
    let (other, _) = self_signed(dir.path(), "other-ca", "another CA");
    let e = refused(
        dir.path(),
        &format!(
            "{plain}?sslmode=verify-full&sslrootcert={}",
            other.display()
        ),
    );
    assert!(e.contains("UnknownIssuer"), "{e}");
    // No sslrootcert: the Mozilla roots do not include a test CA, and the
    // error says what to do.
    let e = refused(dir.path(), &format!("{plain}?sslmode=require"));
    assert!(
        e.contains("UnknownIssuer") && e.contains("sslrootcert=FILE"),
        "{e}"
    );
    // The certificate names 127.0.0.1, not localhost.
    let by_name = verified.replacen("127.0.0.1", "localhost", 1);
    let e = refused(dir.path(), &by_name);
    assert!(e.contains("not valid for name \"localhost\""), "{e}");
    // Modes that would accept any certificate are refused before connecting.
    let e = refused(dir.path(), &format!("{plain}?sslmode=prefer"));
    assert!(e.contains("accepts any certificate"), "{e}");
    // A server without TLS (the replica runs without it) is not talked to in
    // plain text when TLS was asked for.
    if let Ok(replica) = std::env::var("REPROLOG_TEST_POSTGRES_REPLICA") {
        let (base, _) = replica.rsplit_once('/').unwrap();
        let e = refused(
            dir.path(),
            &format!("{base}/{name}?sslmode=verify-full&sslrootcert={ca}"),
        );
        assert!(e.contains("server does not support TLS"), "{e}");
    }
    assert_eq!(stored_size(&plain), 3, "a refused start changed the log");

    // And the log opens again over TLS, as it was.
    let again = TestServer::start(dir.path(), &key, &["--database", &verified]);
    assert_eq!(again.checkpoint().size, 3);
    again.assert_included(2, &entries[2]);
}

/// Makes a self-signed certificate and key for `cn` in `dir`; returns their
/// paths.
fn self_signed(dir: &Path, stem: &str, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj"])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    (cert, key)
}

#[test]
fn a_role_that_needs_a_client_certificate_logs_in_with_one() {
    let Some((admin, ca)) = postgres_with_tls() else {
        return;
    };
    // scripts/postgres.sh puts the role's certificate beside the CA.
    let tls_dir = Path::new(&ca).parent().unwrap();
    let (cert, cert_key) = (tls_dir.join("client.crt"), tls_dir.join("client.key"));
    let name = format!("cert_{}", std::process::id());
    let plain = reprolog_server::storage::postgres::recreate_database(&admin, &name).unwrap();
    let mut setup = reprolog_server::storage::postgres::connect(&admin).unwrap();
    setup
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE reprolog_cert LOGIN; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             ALTER DATABASE \"{name}\" OWNER TO reprolog_cert"
        ))
        .unwrap();
    let as_role = plain.replacen("reprolog@", "reprolog_cert@", 1);
    assert_ne!(as_role, plain);
    let verified = format!("{as_role}?sslmode=verify-full&sslrootcert={ca}");
    let with_cert = format!(
        "{verified}&sslcert={}&sslkey={}",
        cert.display(),
        cert_key.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());

    let server = TestServer::start(dir.path(), &key, &["--database", &with_cert]);
    let entries = submit_new(&server, 2);
    // PostgreSQL saw the role's certificate in every session.
    let mut observer = reprolog_server::storage::postgres::connect(&admin).unwrap();
    let client_names: Vec<String> = observer
        .query(
            "SELECT coalesce(s.client_dn, '') FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.usename = 'reprolog_cert'",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!client_names.is_empty(), "no sessions seen");
    assert!(
        client_names.iter().all(|dn| dn == "/CN=reprolog_cert"),
        "{client_names:?}"
    );
    server.stop();

    // Without a certificate, PostgreSQL refuses the role.
    let e = refused(dir.path(), &verified);
    assert!(e.contains("certificate"), "{e}");
    // In plain text, pg_hba rejects it.
    let e = refused(dir.path(), &as_role);
    assert!(e.contains("pg_hba.conf rejects"), "{e}");
    // A certificate for the same name from a CA PostgreSQL does not trust.
    let (stranger, stranger_key) = self_signed(dir.path(), "stranger", "reprolog_cert");
    let e = refused(
        dir.path(),
        &format!(
            "{verified}&sslcert={}&sslkey={}",
            stranger.display(),
            stranger_key.display()
        ),
    );
    assert!(e.contains("ertificate") || e.contains("CA"), "{e}");
    // The role's certificate with a key that is not its own: refused before
    // connecting.
    let e = refused(
        dir.path(),
        &format!(
            "{verified}&sslcert={}&sslkey={}",
            cert.display(),
            stranger_key.display()
        ),
    );
    assert!(e.contains("sslcert/sslkey"), "{e}");
    // One of the two alone.
    let e = refused(
        dir.path(),
        &format!("{verified}&sslcert={}", cert.display()),
    );
    assert!(e.contains("needs both"), "{e}");
    assert_eq!(stored_size(&plain), 2, "a refused start changed the log");

    let again = TestServer::start(dir.path(), &key, &["--database", &with_cert]);
    assert_eq!(again.checkpoint().size, 2);
    again.assert_included(1, &entries[1]);
}
