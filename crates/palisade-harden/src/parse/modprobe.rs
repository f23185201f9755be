//! modprobe.d parser: which kernel modules are disabled.
//!
//! Holds [`ModprobeConfig`], read from `/etc/modprobe.d`, `/run/modprobe.d`,
//! `/usr/local/lib/modprobe.d`, `/usr/lib/modprobe.d` and `/lib/modprobe.d`
//! (`*.conf`, same-name hiding as for sysctl.d). A module counts as
//! *disabled* when an `install MOD /bin/false` (or `/bin/true`,
//! `/usr/bin/...`) line exists, and *blacklisted* on a `blacklist MOD`
//! line. Module names compare with `-` and `_` as equal, as modprobe does.

use std::collections::{BTreeMap, BTreeSet};

use crate::rootfs::RootFs;

/// Directories searched, highest precedence first.
pub const DIRS: &[&str] = &[
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/usr/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// Disabled and blacklisted modules.
#[derive(Debug, Clone, Default)]
pub struct ModprobeConfig {
    /// Modules with an `install … /bin/false|/bin/true` line.
    pub disabled: BTreeSet<String>,
    /// Modules with a `blacklist` line.
    pub blacklisted: BTreeSet<String>,
    /// Unreadable files.
    pub problems: Vec<String>,
}

/// Canonical module name (`usb-storage` → `usb_storage`).
pub fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// Apply one file's text to the config.
pub fn parse_into(cfg: &mut ModprobeConfig, text: &str) {
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("install"), Some(module)) => {
                let cmd: Vec<&str> = words.collect();
                let is_noop = matches!(
                    cmd.first().copied(),
                    Some("/bin/false" | "/bin/true" | "/usr/bin/false" | "/usr/bin/true")
                );
                if is_noop && cmd.len() == 1 {
                    cfg.disabled.insert(canonical(module));
                }
            }
            (Some("blacklist"), Some(module)) => {
                cfg.blacklisted.insert(canonical(module));
            }
            _ => {}
        }
    }
}

/// Read every modprobe.d file of the root.
pub fn load(fs: &RootFs) -> ModprobeConfig {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in DIRS.iter().rev() {
        if let Ok(entries) = fs.list_dir(dir) {
            for p in entries {
                if let Some(name) = p.rsplit('/').next().filter(|n| n.ends_with(".conf")) {
                    by_name.insert(name.to_string(), p.clone());
                }
            }
        }
    }
    let mut cfg = ModprobeConfig::default();
    for file in by_name.into_values() {
        match fs.read_to_string(&file) {
            Ok(t) => parse_into(&mut cfg, &t),
            Err(e) => cfg.problems.push(e.to_string()),
        }
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn install_and_blacklist() {
        let mut c = ModprobeConfig::default();
        parse_into(
            &mut c,
            "install cramfs /bin/false\nblacklist cramfs\ninstall usb-storage /bin/true\n\
             install hfs /sbin/modprobe --ignore-install hfs\n# blacklist udf\n",
        );
        assert!(c.disabled.contains("cramfs"));
        assert!(c.blacklisted.contains("cramfs"));
        assert!(c.disabled.contains("usb_storage"));
        assert!(!c.disabled.contains("hfs"));
        assert!(!c.blacklisted.contains("udf"));
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let mut c = ModprobeConfig::default();
            parse_into(&mut c, &s);
        }
    }
}
