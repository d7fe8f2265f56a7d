//! Official Go archives, for nodes that are online: download
//! `goX.Y.Z.<os>-<arch>.tar.gz`, check it against the SHA-256 published in the
//! release index (`<base>?mode=json&include=all`, as served by go.dev/dl), and
//! unpack it into the toolchain store. Nothing is installed unless the digest
//! matches; the unpacked tree appears under its final name only when complete.

use reprolog_proto::Hash;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The official download site.
pub const DEFAULT_BASE: &str = "https://go.dev/dl/";

/// Why a download failed; nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("fetching {url}: {message}")]
    Http { url: String, message: String },
    #[error("the release index lists no {filename}")]
    NotListed { filename: String },
    #[error("{filename} has SHA-256 {actual}, but the release index publishes {expected}: refusing to install it")]
    DigestMismatch {
        filename: String,
        expected: String,
        actual: String,
    },
    #[error("unpacking {filename}: {message}")]
    Unpack { filename: String, message: String },
}

#[derive(Deserialize)]
struct Release {
    files: Vec<ReleaseFile>,
}

#[derive(Deserialize)]
struct ReleaseFile {
    filename: String,
    sha256: String,
}

/// The archive name for a version on this host, e.g. `go1.22.10.linux-amd64.tar.gz`.
pub fn archive_name(version: &str) -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{version}.{}-{arch}.tar.gz", std::env::consts::OS)
}

/// Downloads, verifies and unpacks `version` into `store/<version>/go`; returns the GOROOT.
pub fn install(
    version: &str,
    base: &str,
    store: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, DownloadError> {
    // Parallel jobs may want the same release: one download at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = crate::toolchain::goroot_version(&store.join(version).join("go")) {
        if v == version {
            return Ok(store.join(version).join("go"));
        }
    }
    let base = if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(1800)))
        .build()
        .into();
    let filename = archive_name(version);

    let index_url = format!("{base}?mode=json&include=all");
    let http = |url: &str, e: ureq::Error| DownloadError::Http {
        url: url.to_string(),
        message: e.to_string(),
    };
    let index: Vec<Release> = agent
        .get(&index_url)
        .call()
        .map_err(|e| http(&index_url, e))?
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_json()
        .map_err(|e| http(&index_url, e))?;
    let expected = index
        .iter()
        .flat_map(|r| &r.files)
        .find(|f| f.filename == filename)
        .map(|f| f.sha256.to_ascii_lowercase())
        .ok_or_else(|| DownloadError::NotListed {
            filename: filename.clone(),
        })?;

    let url = format!("{base}{filename}");
    progress(&format!("downloading {url}"));
    std::fs::create_dir_all(store).map_err(|e| DownloadError::Unpack {
        filename: filename.clone(),
        message: e.to_string(),
    })?;
    let archive_path = store.join(format!(".{filename}.part"));
    let actual = fetch_to_file(&agent, &url, &archive_path)?;
    if actual.to_hex() != expected {
        let _ = std::fs::remove_file(&archive_path);
        return Err(DownloadError::DigestMismatch {
            filename,
            expected,
            actual: actual.to_hex(),
        });
    }
    progress(&format!(
        "SHA-256 {expected} matches the release index; unpacking"
    ));
    let target = store.join(version);
    let staging = store.join(format!(".{version}.unpacking"));
    let unpack_err = |message: String| DownloadError::Unpack {
        filename: filename.clone(),
        message,
    };
    let _ = std::fs::remove_dir_all(&staging);
    let unpacked = std::fs::File::open(&archive_path)
        .map_err(|e| unpack_err(e.to_string()))
        .and_then(|f| {
            tar::Archive::new(flate2::read::GzDecoder::new(f))
                .unpack(&staging)
                .map_err(|e| unpack_err(e.to_string()))
        });
    let _ = std::fs::remove_file(&archive_path);
    unpacked?;
    let goroot = staging.join("go");
    if crate::toolchain::goroot_version(&goroot).as_deref() != Some(version) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(unpack_err(format!(
            "the archive does not hold a {version} GOROOT at go/"
        )));
    }
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&staging, &target).map_err(|e| unpack_err(e.to_string()))?;
    Ok(target.join("go"))
}

/// Streams `url` into `path`, returning the SHA-256 of what was written.
fn fetch_to_file(agent: &ureq::Agent, url: &str, path: &Path) -> Result<Hash, DownloadError> {
    use std::io::Write;
    let err = |message: String| DownloadError::Http {
        url: url.to_string(),
        message,
    };
    let mut resp = agent.get(url).call().map_err(|e| err(e.to_string()))?;
    let mut reader = resp
        .body_mut()
        .with_config()
        .limit(2 * 1024 * 1024 * 1024)
        .reader();
    let mut file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| err(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| err(e.to_string()))?;
    }
    file.sync_all().map_err(|e| err(e.to_string()))?;
    Ok(Hash(hasher.finalize().into()))
}
