//! Secret files: signing keys, written once and readable only by their owner.

use std::io::Write;
use std::path::Path;

/// Writes `text` to a new file at `path` with mode 0600 and syncs it.
/// Refuses to overwrite: a key replaced by mistake cannot be recovered.
pub fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let context = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("creating {}: {e}", path.display()))
    };
    let mut f = opts.open(path).map_err(context)?;
    f.write_all(text.as_bytes()).map_err(context)?;
    f.sync_all().map_err(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_secret(&path, "secret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_secret(&path, "other\n").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(err.to_string().starts_with("creating "), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret\n");
    }
}
