//! Access to files *inside* the scanned root.
//!
//! Holds [`RootFs`]: every path the scanner reads or the fixer writes goes
//! through it. Symlinks are resolved by hand relative to the root (an
//! absolute link target restarts at the root, `..` stops at the root), so a
//! hostile image cannot make the scanner read or write a host file. It also
//! resolves owners by name through the root's own `etc/passwd` and
//! `etc/group`, never the host's. It must not follow a symlink with the host
//! kernel's resolution, except when the root *is* `/`.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Upper bound on symlinks followed while resolving one path (as Linux).
const MAX_LINKS: usize = 40;
/// Files larger than this are not read (a config file never is).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A user or group database entry from the root's `etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (inside the root).
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// A view of a root directory.
#[derive(Debug, Clone)]
pub struct RootFs {
    root: PathBuf,
    live: bool,
    users: Vec<User>,
    groups: BTreeMap<u32, String>,
}

impl RootFs {
    /// Open a root directory. `live` is true when the root is the running
    /// system's `/` (then `/proc/sys` is read and sysctl changes are applied).
    pub fn open(root: &Path) -> Result<Self> {
        let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !meta.is_dir() {
            return Err(Error::BadRoot(root.to_path_buf()));
        }
        let canon = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        let live = canon == Path::new("/");
        let mut fs = Self {
            root: canon,
            live,
            users: Vec::new(),
            groups: BTreeMap::new(),
        };
        fs.reload_accounts();
        Ok(fs)
    }

    /// Re-read `etc/passwd` and `etc/group` (after a fix, say).
    pub fn reload_accounts(&mut self) {
        self.users = self
            .read_to_string("/etc/passwd")
            .map(|s| parse_passwd(&s))
            .unwrap_or_default();
        self.groups = self
            .read_to_string("/etc/group")
            .map(|s| parse_group(&s))
            .unwrap_or_default();
    }

    /// The root directory on the host.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when the root is the live system's `/`.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Users from the root's `etc/passwd`.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// User name for a uid, from the root's `etc/passwd`.
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users
            .iter()
            .find(|u| u.uid == uid)
            .map(|u| u.name.as_str())
    }

    /// Uid for a user name, from the root's `etc/passwd`.
    pub fn uid_of(&self, name: &str) -> Option<u32> {
        self.users.iter().find(|u| u.name == name).map(|u| u.uid)
    }

    /// Group name for a gid, from the root's `etc/group`.
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }

    /// Gid for a group name, from the root's `etc/group`.
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(g, _)| *g)
    }

    /// Resolve an absolute in-root path (`/etc/passwd`) to a host path,
    /// following every symlink relative to the root. With `follow_last`
    /// false the final component is not followed (like `lstat`).
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf> {
        let mut pending: Vec<String> = components(path);
        pending.reverse();
        let mut resolved: Vec<String> = Vec::new();
        let mut links = 0usize;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." | "" => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let is_last = pending.is_empty();
            let mut candidate = self.host_path(&resolved);
            candidate.push(&part);
            if is_last && !follow_last {
                resolved.push(part);
                break;
            }
            match std::fs::symlink_metadata(&candidate) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Error::io(
                            candidate,
                            std::io::Error::other("too many levels of symbolic links"),
                        ));
                    }
                    let target =
                        std::fs::read_link(&candidate).map_err(|e| Error::io(&candidate, e))?;
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    let mut more = components(&target);
                    more.reverse();
                    pending.extend(more);
                }
                _ => resolved.push(part),
            }
        }
        Ok(self.host_path(&resolved))
    }

    fn host_path(&self, parts: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for part in parts {
            p.push(part);
        }
        p
    }

    /// Convert a host path below the root back to its in-root form.
    pub fn in_root(&self, host: &Path) -> String {
        match host.strip_prefix(&self.root) {
            Ok(rel) => format!("/{}", rel.to_string_lossy()),
            Err(_) => host.to_string_lossy().into_owned(),
        }
    }

    /// `stat` of an in-root path (symlinks followed inside the root).
    pub fn metadata(&self, path: &str) -> Result<Metadata> {
        let host = self.resolve(path, true)?;
        std::fs::metadata(&host).map_err(|e| Error::io(host, e))
    }

    /// `lstat` of an in-root path.
    pub fn symlink_metadata(&self, path: &str) -> Result<Metadata> {
        let host = self.resolve(path, false)?;
        std::fs::symlink_metadata(&host).map_err(|e| Error::io(host, e))
    }

    /// True when the in-root path exists (after resolving links).
    pub fn exists(&self, path: &str) -> bool {
        self.metadata(path).is_ok()
    }

    /// Read an in-root file as bytes (bounded by [`MAX_FILE_BYTES`]).
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let host = self.resolve(path, true)?;
        let meta = std::fs::metadata(&host).map_err(|e| Error::io(&host, e))?;
        if !meta.is_file() {
            return Err(Error::io(host, std::io::Error::other("not a regular file")));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(Error::io(host, std::io::Error::other("file too large")));
        }
        std::fs::read(&host).map_err(|e| Error::io(host, e))
    }

    /// Read an in-root file as text (invalid UTF-8 replaced).
    pub fn read_to_string(&self, path: &str) -> Result<String> {
        self.read(path).map(|b| {
            String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        })
    }

    /// Entries of an in-root directory as in-root paths, sorted by name.
    /// A missing directory yields an empty list.
    pub fn list_dir(&self, dir: &str) -> Result<Vec<String>> {
        let host = self.resolve(dir, true)?;
        let rd = match std::fs::read_dir(&host) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(host, e)),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let base = dir.trim_end_matches('/');
        Ok(names.into_iter().map(|n| format!("{base}/{n}")).collect())
    }

    /// Expand a glob pattern on an in-root path. Only the last component
    /// may contain wildcards; the directory part is resolved in the root.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>> {
        let (dir, file) = match pattern.rsplit_once('/') {
            Some((d, f)) => (if d.is_empty() { "/" } else { d }, f),
            None => ("/", pattern),
        };
        if !file.contains(['*', '?', '[']) {
            return Ok(if self.symlink_metadata(pattern).is_ok() {
                vec![pattern.to_string()]
            } else {
                Vec::new()
            });
        }
        let pat = glob::Pattern::new(file).map_err(|e| {
            Error::io(
                PathBuf::from(pattern),
                std::io::Error::other(format!("bad glob: {e}")),
            )
        })?;
        Ok(self
            .list_dir(dir)?
            .into_iter()
            .filter(|p| {
                p.rsplit('/')
                    .next()
                    .is_some_and(|name| !name.starts_with('.') && pat.matches(name))
            })
            .collect())
    }
}

/// Split a path into its normal components (`/a/./b/` → `a`, `.`, `b`).
fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

/// Parse an `/etc/passwd` file; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<User> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let name = f.first()?;
            Some(User {
                name: (*name).to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or("/").to_string(),
                shell: f.get(6).copied().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Parse an `/etc/group` file into gid → name; malformed lines are skipped.
pub fn parse_group(text: &str) -> BTreeMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _pw = f.next()?;
            let gid: u32 = f.next()?.parse().ok()?;
            Some((gid, name.to_string()))
        })
        .collect()
}

/// Mode bits, uid and gid of a file.
pub fn mode_of(meta: &Metadata) -> (u32, u32, u32) {
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlink_stays_in_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/real"), "inside").unwrap();
        symlink("/etc/real", d.path().join("etc/link")).unwrap();
        symlink("/etc/passwd", d.path().join("etc/hostpw")).unwrap();
        symlink("../../../../etc/real", d.path().join("etc/dotdot")).unwrap();
        let fs = RootFs::open(d.path()).unwrap();
        assert_eq!(fs.read_to_string("/etc/link").unwrap(), "inside");
        // /etc/passwd does not exist inside the root: must not read the host's.
        assert!(fs.read("/etc/hostpw").is_err());
        assert_eq!(fs.read_to_string("/etc/dotdot").unwrap(), "inside");
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        symlink("/b", d.path().join("a")).unwrap();
        symlink("/a", d.path().join("b")).unwrap();
        let fs = RootFs::open(d.path()).unwrap();
        assert!(fs.read("/a").is_err());
    }

    #[test]
    fn accounts_come_from_the_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nbad line\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nshadow:x:42:\n").unwrap();
        let fs = RootFs::open(d.path()).unwrap();
        assert_eq!(fs.user_name(1000), Some("alice"));
        assert_eq!(fs.gid_of("shadow"), Some(42));
        assert_eq!(fs.users().len(), 2);
    }

    proptest::proptest! {
        /// Whatever the path and whatever links the root holds, resolution
        /// stays inside the root.
        #[test]
        fn resolution_never_leaves_the_root(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["..", ".", "etc", "up", "abs", "rel", "loop", "x", ""]),
                0..12,
            ),
            leading in proptest::bool::ANY,
        ) {
            let d = tempfile::tempdir().unwrap();
            let r = d.path();
            std::fs::create_dir_all(r.join("etc")).unwrap();
            let _ = symlink("../../../../..", r.join("up"));
            let _ = symlink("/", r.join("abs"));
            let _ = symlink("etc/../..", r.join("rel"));
            let _ = symlink("loop", r.join("loop"));
            let _ = symlink("/../../etc", r.join("etc/x"));
            let fs = RootFs::open(r).unwrap();
            let path = format!("{}{}", if leading { "/" } else { "" }, parts.join("/"));
            for follow in [true, false] {
                if let Ok(p) = fs.resolve(&path, follow) {
                    proptest::prop_assert!(p.starts_with(fs.root()), "{path} -> {}", p.display());
                }
            }
        }
    }

    #[test]
    fn glob_in_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/ssh")).unwrap();
        for f in ["ssh_host_rsa_key", "ssh_host_rsa_key.pub", "moduli"] {
            std::fs::write(d.path().join("etc/ssh").join(f), "x").unwrap();
        }
        let fs = RootFs::open(d.path()).unwrap();
        assert_eq!(
            fs.glob("/etc/ssh/ssh_host_*_key").unwrap(),
            vec!["/etc/ssh/ssh_host_rsa_key".to_string()]
        );
    }
}
