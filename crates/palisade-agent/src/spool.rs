//! The result spool: one file per job result not yet acknowledged, so a
//! result survives a stopped nats-server, a dropped network and an agent
//! restart.
//!
//! A result is stored (atomically, mode 0600, in a 0700 directory) before
//! it is first published and removed when Palisade's [`Ack`] for its
//! `messageUid` arrives. Files are named `<messageUid>.result` and hold
//!
//! ```json
//! {"version":1,"requestUid":"…","result":{ …JobResult… }}
//! ```
//!
//! [`parse`] is strict (unknown fields, wrong version, oversize, a result
//! the protocol would refuse); a file that does not parse, or whose name
//! is not its `messageUid`, is moved into `corrupt/` with a log line and
//! never stops the agent. Leftover temporary files of an interrupted write
//! were never published and are removed. This module must not publish.
//!
//! [`Ack`]: palisade_bus::protocol::Ack

use std::path::{Path, PathBuf};

use palisade_bus::protocol::{JobResult, MAX_MESSAGE_BYTES, Message};
use palisade_core::Uid;
use serde::{Deserialize, Serialize};

use crate::AgentError;
use crate::files;

/// Format version written into every spool file.
pub const SPOOL_VERSION: u32 = 1;

/// Largest spool file accepted: a maximal message plus the envelope.
pub const MAX_SPOOL_FILE: usize = MAX_MESSAGE_BYTES + 1024;

/// File name suffix of spooled results.
pub const SUFFIX: &str = ".result";

/// Subdirectory that receives files that do not parse.
pub const CORRUPT_DIR: &str = "corrupt";

/// A spooled result with the request UID it is published under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpoolEntry {
    /// Always [`SPOOL_VERSION`].
    pub version: u32,
    /// The request UID of the job (the `Palisade-Request-Uid` header of
    /// every publication of this result).
    pub request_uid: Uid,
    /// The result.
    pub result: JobResult,
}

impl SpoolEntry {
    /// A current-version entry.
    pub fn new(request_uid: Uid, result: JobResult) -> Self {
        SpoolEntry {
            version: SPOOL_VERSION,
            request_uid,
            result,
        }
    }

    /// The file content.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AgentError> {
        self.result.validate()?;
        let v = serde_json::to_vec(self).map_err(|e| AgentError::Spool(format!("encode: {e}")))?;
        if v.len() > MAX_SPOOL_FILE {
            return Err(AgentError::Spool(
                "entry larger than the spool limit".into(),
            ));
        }
        Ok(v)
    }
}

/// Parses a spool file's content (see the module documentation).
pub fn parse(bytes: &[u8]) -> Result<SpoolEntry, AgentError> {
    if bytes.len() > MAX_SPOOL_FILE {
        return Err(AgentError::Spool("larger than the spool limit".into()));
    }
    let e: SpoolEntry = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json names the position or field, not the data.
        AgentError::Spool(format!(
            "JSON: {}",
            e.to_string().chars().take(200).collect::<String>()
        ))
    })?;
    if e.version != SPOOL_VERSION {
        return Err(AgentError::Spool(format!("unknown version {}", e.version)));
    }
    e.result
        .validate()
        .map_err(|err| AgentError::Spool(format!("result refused: {err}")))?;
    Ok(e)
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Opens (creating, mode 0700) the spool directory.
    pub fn open(dir: &Path) -> Result<Spool, AgentError> {
        files::private_dir(dir)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a result.
    pub fn path_of(&self, message_uid: Uid) -> PathBuf {
        self.dir.join(format!("{message_uid}{SUFFIX}"))
    }

    /// Stores an entry durably (atomic write, 0600).
    pub fn store(&self, entry: &SpoolEntry) -> Result<(), AgentError> {
        let bytes = entry.to_bytes()?;
        files::write_atomic(&self.path_of(entry.result.message_uid), &bytes)
    }

    /// Removes an acknowledged result; a missing file is not an error.
    pub fn remove(&self, message_uid: Uid) -> Result<(), AgentError> {
        let p = self.path_of(message_uid);
        match std::fs::remove_file(&p) {
            Ok(()) => files::sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AgentError::Io {
                what: "removing",
                path: p,
                source,
            }),
        }
    }

    /// Every spooled result, oldest UID first. Files that do not parse are
    /// moved into `corrupt/` (logged); temporary leftovers are removed.
    pub fn load(&self) -> Result<Vec<SpoolEntry>, AgentError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|source| AgentError::Io {
            what: "listing the spool directory",
            path: self.dir.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let path = ent.path();
            let Ok(ft) = ent.file_type() else { continue };
            if ft.is_dir() {
                continue;
            }
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") {
                tracing::info!(file = %path.display(), "removing an interrupted spool write (never published)");
                let _ = std::fs::remove_file(&path);
                continue;
            }
            match self.read_one(&path, &name) {
                Ok(e) => out.push(e),
                Err(err) => self.set_aside(&path, &name, &err),
            }
        }
        out.sort_by_key(|e| e.result.message_uid.as_u64());
        Ok(out)
    }

    fn read_one(&self, path: &Path, name: &str) -> Result<SpoolEntry, AgentError> {
        if !ent_is_regular(path) {
            return Err(AgentError::Spool("not a regular file".into()));
        }
        let stem = name
            .strip_suffix(SUFFIX)
            .ok_or_else(|| AgentError::Spool(format!("name does not end in {SUFFIX}")))?;
        let uid = Uid::parse(stem).map_err(|_| AgentError::Spool("name is not a UID".into()))?;
        let len = std::fs::symlink_metadata(path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        if len > u64::try_from(MAX_SPOOL_FILE).unwrap_or(u64::MAX) {
            return Err(AgentError::Spool("larger than the spool limit".into()));
        }
        let bytes = std::fs::read(path).map_err(|source| AgentError::Io {
            what: "reading",
            path: path.to_path_buf(),
            source,
        })?;
        let e = parse(&bytes)?;
        if e.result.message_uid != uid {
            return Err(AgentError::Spool("name differs from the messageUid".into()));
        }
        Ok(e)
    }

    fn set_aside(&self, path: &Path, name: &str, err: &AgentError) {
        let corrupt = self.dir.join(CORRUPT_DIR);
        let nonce = Uid::generate().map(|u| u.to_string()).unwrap_or_default();
        let target = corrupt.join(format!("{name}.{nonce}"));
        let moved = files::private_dir(&corrupt)
            .and_then(|()| {
                std::fs::rename(path, &target).map_err(|source| AgentError::Io {
                    what: "moving aside",
                    path: path.to_path_buf(),
                    source,
                })
            })
            .and_then(|()| files::sync_dir(&self.dir));
        match moved {
            Ok(()) => tracing::error!(
                file = %path.display(), moved_to = %target.display(), error = %err,
                "corrupt spool file moved aside; its result is not republished"
            ),
            Err(e) => tracing::error!(
                file = %path.display(), error = %err, move_error = %e,
                "corrupt spool file could not be moved aside; skipping it"
            ),
        }
    }
}

fn ent_is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_bus::protocol::JobStatus;
    use proptest::prelude::*;

    fn entry(m: u64, j: u64, ok: bool, text: &str) -> SpoolEntry {
        SpoolEntry::new(
            Uid::from_u64(m ^ 0x5a5a),
            JobResult {
                message_uid: Uid::from_u64(m),
                job_uid: Uid::from_u64(j),
                status: if ok {
                    JobStatus::Succeeded
                } else {
                    JobStatus::Failed
                },
                report: ok.then(|| serde_json::json!({ "text": text, "n": [1, 2, 3] })),
                error: (!ok).then(|| text.to_owned()),
            },
        )
    }

    #[test]
    fn store_load_remove_and_corrupt_files_set_aside() {
        let d = tempfile::tempdir().unwrap();
        let s = Spool::open(&d.path().join("spool")).unwrap();
        let a = entry(2, 20, true, "a");
        let b = entry(1, 10, false, "b");
        s.store(&a).unwrap();
        s.store(&b).unwrap();
        std::fs::write(s.dir().join("000000000003.result"), b"{not json").unwrap();
        // A valid entry under another UID's name.
        std::fs::write(s.dir().join("000000000004.result"), a.to_bytes().unwrap()).unwrap();
        std::fs::write(s.dir().join(".000000000005.result.tmp-x"), b"half").unwrap();
        let got = s.load().unwrap();
        assert_eq!(got, vec![b.clone(), a.clone()]);
        let aside = std::fs::read_dir(s.dir().join(CORRUPT_DIR))
            .unwrap()
            .count();
        assert_eq!(aside, 2);
        assert!(!s.dir().join(".000000000005.result.tmp-x").exists());
        s.remove(a.result.message_uid).unwrap();
        s.remove(a.result.message_uid).unwrap();
        assert_eq!(s.load().unwrap(), vec![b]);
    }

    #[test]
    fn parse_refuses_bad_entries() {
        let good = String::from_utf8(entry(1, 2, true, "x").to_bytes().unwrap()).unwrap();
        assert!(parse(good.as_bytes()).is_ok());
        for bad in [
            good.replace("\"version\":1", "\"version\":2"),
            good.replace("\"version\":1", "\"version\":1,\"x\":0"),
            good.replace("succeeded", "failed"),
            good.replace("\"requestUid\"", "\"requestUID\""),
            String::new(),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse(&vec![b' '; MAX_SPOOL_FILE + 1]).is_err());
    }

    proptest! {
        #[test]
        fn entries_round_trip(m in 0u64..(1 << 48), j in 0u64..(1 << 48), ok: bool,
                              text in "[ -~]{1,100}") {
            let e = entry(m, j, ok, &text);
            prop_assert_eq!(parse(&e.to_bytes().unwrap()).unwrap(), e);
        }

        #[test]
        fn parse_never_panics(s in "(?s).{0,300}") {
            let _ = parse(s.as_bytes());
        }
    }
}
