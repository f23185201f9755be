//! Files the agent reads and writes: the credentials file (refused when
//! group- or world-accessible) and atomic writes (temp file in the same
//! directory, fsync, rename, fsync of the directory; mode 0600), so a crash
//! never leaves a half-written credentials or spool file. This module must
//! not log: callers decide what to say, never the content.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use palisade_bus::Credentials;
use palisade_bus::creds::MAX_CREDS_LEN;
use palisade_core::Uid;
use zeroize::Zeroizing;

use crate::AgentError;

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AgentError {
    let path = path.to_path_buf();
    move |source| AgentError::Io { what, path, source }
}

/// Reads and parses a credentials file. Refuses a file that group or
/// others may access (its seed is a secret), a file over 64 KiB and
/// anything [`Credentials::parse`] refuses.
pub fn read_credentials(path: &Path) -> Result<Credentials, AgentError> {
    let mut f = std::fs::File::open(path).map_err(io("opening the credentials file", path))?;
    let meta = f
        .metadata()
        .map_err(io("reading the credentials file's metadata", path))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(AgentError::CredsPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
    Read::by_ref(&mut f)
        .take(u64::try_from(MAX_CREDS_LEN).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)
        .map_err(io("reading the credentials file", path))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| AgentError::Creds {
        path: path.to_path_buf(),
        source: palisade_bus::BusError::Creds("not UTF-8 text"),
    })?;
    Credentials::parse(text).map_err(|source| AgentError::Creds {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` atomically with mode 0600: a temporary file
/// next to it, fsync, rename over `path`, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| AgentError::Options(format!("{} has no file name", path.display())))?;
    let nonce = Uid::generate().map(|u| u.to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{nonce}"));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        f.write_all(bytes).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io("renaming over", path))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Fsyncs a directory (makes a rename or removal in it durable).
pub fn sync_dir(dir: &Path) -> Result<(), AgentError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))
}

/// Creates `dir` (and parents) if missing and sets it to mode 0700.
pub fn private_dir(dir: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(dir).map_err(io("creating directory", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("setting mode 0700 on", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_are_private_and_replace() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.creds");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn readable_credentials_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.creds");
        std::fs::write(&p, "junk").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_credentials(&p).unwrap_err();
        assert!(
            matches!(e, AgentError::CredsPermissions { mode: 0o644, .. }),
            "{e}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_credentials(&p).unwrap_err().to_string();
        assert!(e.contains("no BEGIN NATS USER JWT line"), "{e}");
    }
}
