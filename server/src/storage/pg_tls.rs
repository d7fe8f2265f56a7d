//! Where to reach PostgreSQL, and TLS to it with rustls.
//!
//! A database URL is libpq's (`postgres://user@host:port/db?opt=value`).
//! Two options are ours to read, because the `postgres` crate has no TLS of
//! its own:
//!
//! - `sslmode`: `disable` (or absent) connects in plain text, for a local
//!   socket or a private network. `require`, `verify-ca` and `verify-full`
//!   all connect over TLS and verify the server's certificate chain *and*
//!   its host name: a log that acknowledges entries only once PostgreSQL
//!   holds them must know it is talking to that PostgreSQL. `allow` and
//!   `prefer`, which accept any certificate or none, are refused.
//! - `sslrootcert`: a PEM file of the CA certificates to trust; without it,
//!   the Mozilla roots (webpki-roots), as for a managed database whose CA is
//!   public. libpq's `system` means the same here.
//! - `sslcert` and `sslkey`: a PEM client certificate (chain) and its private
//!   key, for a server whose `pg_hba.conf` asks for `cert` (or `clientcert`)
//!   authentication. Both or neither; only with a verifying `sslmode`.
//!
//! Channel binding (SCRAM-SHA-256-PLUS) is not offered; the verified
//! certificate already binds the session to the server.

use super::StorageError;
use postgres::tls::{ChannelBinding, MakeTlsConnect, NoTls, TlsConnect, TlsStream};
use postgres::{Client, Socket};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, PrivateKeyDer, ServerName};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A parsed database URL: the connection settings and, when asked for, the
/// TLS configuration to connect with.
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The `sslrootcert` file, if one was named.
    root_cert: Option<PathBuf>,
}

/// A PostgreSQL error with the server's message, which `Display` of
/// `postgres::Error` leaves out ("db error").
pub(super) fn db(e: postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(d) => StorageError::Db(format!("postgres: {}: {}", d.code().code(), d.message())),
        // "error connecting to server" says more with its cause.
        None => match std::error::Error::source(&e) {
            Some(cause) => StorageError::Db(format!("postgres: {e}: {cause}")),
            None => StorageError::Db(format!("postgres: {e}")),
        },
    }
}

impl Target {
    /// Parses and checks a `postgres://` URL (see the module doc for
    /// `sslmode` and `sslrootcert`).
    pub fn parse(url: &str) -> Result<Target, StorageError> {
        let (rest, ssl) = take_ssl_options(url)?;
        let mut config = postgres::Config::from_str(&rest)
            .map_err(|e| StorageError::Db(format!("database URL: {e}")))?;
        // A key=value connection string keeps its sslmode; the crate knows
        // disable, prefer and require.
        let mode = match ssl.mode {
            Some(mode) => mode,
            None => match config.get_ssl_mode() {
                postgres::config::SslMode::Require => SslMode::Verify,
                _ => SslMode::Disable,
            },
        };
        let tls = match mode {
            SslMode::Disable => {
                config.ssl_mode(postgres::config::SslMode::Disable);
                None
            }
            SslMode::Verify => {
                config.ssl_mode(postgres::config::SslMode::Require);
                let identity = ssl.client_identity()?;
                Some(Arc::new(client_config(ssl.root_cert.as_deref(), identity)?))
            }
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        // A peer that vanished without closing its connection is noticed.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        config.application_name("reprolog-server");
        Ok(Target {
            config,
            tls,
            root_cert: ssl.root_cert,
        })
    }

    /// Opens a connection (blocking).
    pub fn connect(&self) -> Result<Client, StorageError> {
        let connected = match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(RustlsConnect(tls.clone())),
        };
        connected.map_err(|e| {
            let hint = if self.root_cert.is_none() && untrusted_issuer(&e) {
                " (the server's CA is not among the Mozilla roots: name it with sslrootcert=FILE)"
            } else {
                ""
            };
            match db(e) {
                StorageError::Db(m) => StorageError::Db(format!("{m}{hint}")),
                other => other,
            }
        })
    }

    /// The same target, its connections' `search_path` set to `schema`
    /// (after any `options` the URL gave).
    pub fn in_schema(mut self, schema: &str) -> Target {
        let options = match self.config.get_options() {
            Some(given) => format!("{given} -c search_path={schema}"),
            None => format!("-c search_path={schema}"),
        };
        self.config.options(&options);
        self
    }

    /// Whether connections use TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// What the URL says of TLS, in the two forms we offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Verify,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct SslOptions {
    mode: Option<SslMode>,
    root_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

/// A client certificate chain and its private key.
type ClientIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl SslOptions {
    /// Reads the `sslcert` chain and `sslkey` key, when named.
    fn client_identity(&self) -> Result<Option<ClientIdentity>, StorageError> {
        let (cert_path, key_path) = match (&self.client_cert, &self.client_key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                return Err(StorageError::Db(
                    "database URL names only one of sslcert and sslkey: a client certificate needs both".into(),
                ))
            }
        };
        let chain = read_certificates(cert_path, "sslcert")?;
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| StorageError::Db(format!("sslkey {}: {e}", key_path.display())))?;
        Ok(Some((chain, key)))
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query, returning the URL
/// without them. A key=value connection string is returned unchanged.
fn take_ssl_options(url: &str) -> Result<(String, SslOptions), StorageError> {
    let mut ssl = SslOptions::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), ssl));
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok((url.to_string(), ssl));
    }
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => ssl.mode = Some(parse_mode(value)?),
            "sslrootcert" => {
                let value = percent_decode(value)?;
                if value != "system" {
                    ssl.root_cert = Some(PathBuf::from(value));
                }
            }
            "sslcert" => ssl.client_cert = Some(PathBuf::from(percent_decode(value)?)),
            "sslkey" => ssl.client_key = Some(PathBuf::from(percent_decode(value)?)),
            _ => kept.push(pair),
        }
    }
    let files_named = [
        ("sslrootcert", ssl.root_cert.is_some()),
        ("sslcert", ssl.client_cert.is_some()),
        ("sslkey", ssl.client_key.is_some()),
    ];
    if let Some((option, _)) = files_named.iter().find(|(_, named)| *named) {
        if ssl.mode != Some(SslMode::Verify) {
            return Err(StorageError::Db(format!(
                "database URL names {option} without sslmode=verify-full"
            )));
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, ssl))
}

fn parse_mode(value: &str) -> Result<SslMode, StorageError> {
    match value {
        "disable" => Ok(SslMode::Disable),
        "require" | "verify-ca" | "verify-full" => Ok(SslMode::Verify),
        "allow" | "prefer" => Err(StorageError::Db(format!(
            "database URL asks for sslmode={value}, which accepts any certificate or none: \
             use sslmode=verify-full (with sslrootcert=FILE for a private CA) or sslmode=disable"
        ))),
        other => Err(StorageError::Db(format!(
            "database URL: unknown sslmode {other:?} (disable, require, verify-ca or verify-full)"
        ))),
    }
}

/// Decodes `%XX` escapes, so a path with reserved characters fits in a URL.
fn percent_decode(s: &str) -> Result<String, StorageError> {
    let bad = || StorageError::Db(format!("database URL: bad percent-encoding in {s:?}"));
    // percent_encoding leaves a `%` without two hex digits as it is.
    let malformed = s.match_indices('%').any(|(i, _)| {
        !s.get(i + 1..i + 3)
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if malformed {
        return Err(bad());
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|d| d.into_owned())
        .map_err(|_| bad())
}

/// The certificates of a PEM file, at least one; `option` names the URL
/// option that named the file, for errors.
fn read_certificates(
    path: &Path,
    option: &str,
) -> Result<Vec<CertificateDer<'static>>, StorageError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StorageError::Db(format!("{option} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(StorageError::Db(format!(
            "{option} {}: no certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

/// rustls with the ring provider, trusting `root_cert`'s CAs or else the
/// Mozilla roots, presenting `identity` when the server asks for a client
/// certificate.
fn client_config(
    root_cert: Option<&Path>,
    identity: Option<ClientIdentity>,
) -> Result<rustls::ClientConfig, StorageError> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            for cert in read_certificates(path, "sslrootcert")? {
                roots.add(cert).map_err(|e| {
                    StorageError::Db(format!("sslrootcert {}: {e}", path.display()))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::Db(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    match identity {
        None => Ok(builder.with_no_client_auth()),
        // Fails when the key does not fit the certificate or rustls cannot
        // sign with it.
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => {
                    StorageError::Db("sslcert/sslkey: the key is not the certificate's key".into())
                }
                e => StorageError::Db(format!("sslcert/sslkey: {e}")),
            }),
    }
}

/// Whether a connection failed because no trusted CA issued the server's
/// certificate.
fn untrusted_issuer(e: &postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let rustls_error = c
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) =
            rustls_error
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// `postgres`'s TLS hooks over tokio-rustls.
struct RustlsConnect(Arc<rustls::ClientConfig>);

/// One connection's handshake to the named server.
struct RustlsConnectOne {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl MakeTlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnectOne;
    type Error = InvalidDnsNameError;

    /// `host` is the URL's host: a DNS name or an IP address, which the
    /// certificate must name.
    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnectOne, InvalidDnsNameError> {
        Ok(RustlsConnectOne {
            config: self.0.clone(),
            name: ServerName::try_from(host)?.to_owned(),
        })
    }
}

impl TlsConnect<Socket> for RustlsConnectOne {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            let tls = connector.connect(self.name, stream).await?;
            Ok(RustlsStream(Box::new(tls)))
        })
    }
}

/// A TLS session over a PostgreSQL socket.
struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed P-256 certificate (`openssl req -x509`), for parsing.
    const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBdTCCARugAwIBAgIUBKp33XrtT7xZwJ3HmYNeIN11J5cwCgYIKoZIzj0EAwIw
EDEOMAwGA1UEAwwFcGFyc2UwHhcNMjYxMjAzMDMxMDE4WhcNMzYxMTMwMDMxMDE4
WjAQMQ4wDAYDVQQDDAVwYXJzZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABPHY
hRvyxaYvGGo1ZZAZek8H7KtsbEFaF4hZCcbIE5L/nxXIrZMdZ4ooKAqSbYCSizqv
TpxpqaFcS/WUmufIfCqjUzBRMB0GA1UdDgQWBBRYu2Pd7aKE7SjnoUYT9j9OgTx5
ajAfBgNVHSMEGDAWgBRYu2Pd7aKE7SjnoUYT9j9OgTx5ajAPBgNVHRMBAf8EBTAD
AQH/MAoGCCqGSM49BAMCA0gAMEUCIAX9HIMca+VutGvdtctlSHvP5txUscCYEper
E6ZR6+40AiEAmmTKfZPYEHw25My7x1riX7N6O9w5NijbbfnS4crbq30=
-----END CERTIFICATE-----
";

    fn err(url: &str) -> String {
        match Target::parse(url) {
            Ok(_) => panic!("{url} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn ssl_options_are_taken_out_of_the_query() {
        let (rest, ssl) = take_ssl_options(
            "postgres://u@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@h:5/db?application_name=x");
        assert_eq!(ssl.mode, Some(SslMode::Verify));
        assert_eq!(ssl.root_cert, Some(PathBuf::from("/etc/ca dir/ca.pem")));
        let (rest, ssl) = take_ssl_options("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(
            (rest.as_str(), ssl.mode),
            ("postgres://u@h/db", Some(SslMode::Disable))
        );
        let (rest, ssl) =
            take_ssl_options("postgres://u@h/db?sslmode=require&sslrootcert=system").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(ssl.root_cert, None);
    }

    #[test]
    fn plain_and_verified_modes() {
        assert!(!Target::parse("postgres://u@127.0.0.1/db")
            .unwrap()
            .uses_tls());
        assert!(!Target::parse("postgres://u@127.0.0.1/db?sslmode=disable")
            .unwrap()
            .uses_tls());
        for mode in ["require", "verify-ca", "verify-full"] {
            let t = Target::parse(&format!("postgres://u@db.example/db?sslmode={mode}")).unwrap();
            assert!(t.uses_tls(), "{mode}");
        }
        // The key=value form keeps the crate's own sslmode.
        assert!(Target::parse("host=db.example user=u sslmode=require")
            .unwrap()
            .uses_tls());
        assert!(!Target::parse("host=db.example user=u").unwrap().uses_tls());
    }

    #[test]
    fn unsafe_or_unknown_modes_and_bad_roots_are_one_line_errors() {
        for mode in ["prefer", "allow"] {
            let e = err(&format!("postgres://u@h/db?sslmode={mode}"));
            assert!(e.contains("accepts any certificate"), "{e}");
        }
        assert!(err("postgres://u@h/db?sslmode=bogus").contains("unknown sslmode"));
        assert!(err("postgres://u@h/db?sslrootcert=/x").contains("without sslmode"));
        let e = err("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert!(e.contains("sslrootcert /nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = err(&format!(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert={}",
            empty.display()
        ));
        assert!(e.contains("no certificate"), "{e}");
        for bad in ["%zz", "%+f", "%4"] {
            let e = err(&format!(
                "postgres://u@h/db?sslmode=verify-full&sslrootcert={bad}"
            ));
            assert!(e.contains("percent"), "{e}");
        }
        assert!(err("postgres://u@h/db?sslcert=/c&sslkey=/k").contains("sslcert without sslmode"));
        let e = err("postgres://u@h/db?sslmode=verify-full&sslkey=/k");
        assert!(e.contains("needs both"), "{e}");
        let e = err("postgres://u@h/db?sslmode=verify-full&sslcert=/nonexistent/c.pem&sslkey=/k");
        assert!(e.contains("sslcert /nonexistent/c.pem"), "{e}");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, CERTIFICATE).unwrap();
        let e = err(&format!(
            "postgres://u@h/db?sslmode=verify-full&sslcert={}&sslkey={}",
            cert.display(),
            empty.display()
        ));
        assert!(e.contains("sslkey"), "{e}");
        for e in [
            err("postgres://u@h/db?sslmode=prefer"),
            err("postgres://u@h/db?sslmode=x"),
        ] {
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
