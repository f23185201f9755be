//! sysctl configuration with systemd-sysctl precedence, plus live values.
//!
//! Holds [`SysctlConfig`]. Files named `*.conf` are collected from
//! `/etc/sysctl.d`, `/run/sysctl.d`, `/usr/local/lib/sysctl.d`,
//! `/usr/lib/sysctl.d` and `/lib/sysctl.d` (highest precedence first); a
//! file name present in a higher directory hides the same name in lower
//! ones; the surviving files are applied in lexical order of their names,
//! and `/etc/sysctl.conf` is applied last, so later assignments win. Keys
//! are normalised (`/` → `.`). A leading `-` (ignore errors) is dropped.
//! Live values come from `/proc/sys` only when the root is `/`.

use std::collections::BTreeMap;

use crate::rootfs::RootFs;

/// Directories searched, highest precedence first.
pub const DIRS: &[&str] = &[
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

/// Where a value was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The value as written (whitespace-trimmed).
    pub value: String,
    /// File that set it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

/// The merged sysctl configuration of a root.
#[derive(Debug, Clone, Default)]
pub struct SysctlConfig {
    /// Key → winning setting.
    pub values: BTreeMap<String, Setting>,
    /// Files applied, in application order.
    pub files: Vec<String>,
    /// Unreadable files and malformed lines.
    pub problems: Vec<String>,
}

/// Normalise a key: `net/ipv4/ip_forward` → `net.ipv4.ip_forward`.
pub fn normalize_key(key: &str) -> String {
    key.trim().trim_start_matches('-').replace('/', ".")
}

/// Parse one file's text into (key, value, line) assignments.
pub fn parse_text(text: &str) -> (Vec<(String, String, usize)>, Vec<String>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((normalize_key(k), v.trim().to_string(), i + 1));
            }
            _ => bad.push(format!("line {}: not key = value", i + 1)),
        }
    }
    (out, bad)
}

/// The files systemd-sysctl would apply, in order.
pub fn ordered_files(fs: &RootFs) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in DIRS.iter().rev() {
        if let Ok(entries) = fs.list_dir(dir) {
            for path in entries {
                let Some(name) = path.rsplit('/').next() else {
                    continue;
                };
                if name.ends_with(".conf") {
                    // Lower dirs are visited first; higher ones overwrite.
                    by_name.insert(name.to_string(), path.clone());
                }
            }
        }
    }
    let mut files: Vec<String> = by_name.into_values().collect();
    if fs.exists("/etc/sysctl.conf") {
        files.push("/etc/sysctl.conf".to_string());
    }
    files
}

/// Load and merge every sysctl file of the root.
pub fn load(fs: &RootFs) -> SysctlConfig {
    let mut cfg = SysctlConfig::default();
    for file in ordered_files(fs) {
        match fs.read_to_string(&file) {
            Ok(text) => {
                let (assign, bad) = parse_text(&text);
                for b in bad {
                    cfg.problems.push(format!("{file}: {b}"));
                }
                for (k, v, line) in assign {
                    cfg.values.insert(
                        k,
                        Setting {
                            value: v,
                            file: file.clone(),
                            line,
                        },
                    );
                }
                cfg.files.push(file);
            }
            Err(e) => cfg.problems.push(e.to_string()),
        }
    }
    cfg
}

/// The live value of a key from `/proc/sys` (only meaningful on `/`).
pub fn live_value(fs: &RootFs, key: &str) -> Option<String> {
    if !fs.is_live() {
        return None;
    }
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn put(root: &std::path::Path, p: &str, c: &str) {
        let host = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        std::fs::write(host, c).unwrap();
    }

    #[test]
    fn parses_lines() {
        let (a, bad) = parse_text("# c\n; c\nnet/ipv4/ip_forward = 1\n-kernel.x=2\ngarbage\n");
        assert_eq!(a[0], ("net.ipv4.ip_forward".into(), "1".into(), 3));
        assert_eq!(a[1].0, "kernel.x");
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn precedence_and_order() {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "/usr/lib/sysctl.d/50-default.conf",
            "a = 1\nb = 1\n",
        );
        put(d.path(), "/etc/sysctl.d/50-default.conf", "a = 2\n");
        put(d.path(), "/lib/sysctl.d/99-z.conf", "b = 3\nc = 3\n");
        put(d.path(), "/run/sysctl.d/10-a.conf", "c = 4\n");
        put(d.path(), "/etc/sysctl.conf", "d = 5\n");
        put(d.path(), "/etc/sysctl.d/README", "x = 9\n");
        let fs = RootFs::open(d.path()).unwrap();
        let c = load(&fs);
        // /etc hides /usr/lib's 50-default.conf entirely: b comes from 99-z.
        assert_eq!(c.values["a"].value, "2");
        assert_eq!(c.values["b"].value, "3");
        // 99-z.conf applies after 10-a.conf.
        assert_eq!(c.values["c"].value, "3");
        assert_eq!(c.values["d"].file, "/etc/sysctl.conf");
        assert!(!c.values.contains_key("x"));
        assert_eq!(c.files.last().unwrap(), "/etc/sysctl.conf");
    }

    #[test]
    fn no_live_values_for_a_directory_root() {
        let d = tempfile::tempdir().unwrap();
        let fs = RootFs::open(d.path()).unwrap();
        assert!(live_value(&fs, "kernel.randomize_va_space").is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let _ = parse_text(&s);
        }
    }
}
