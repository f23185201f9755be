//! systemd unit enablement from the symlinks under `etc/systemd/system`.
//!
//! Holds [`UnitState`] and [`unit_state`]. A unit is *enabled* when a
//! symlink with its name exists in any `*.wants` or `*.requires` directory
//! of `/etc/systemd/system` (or the `/usr/lib` and `/lib` equivalents for
//! units that are statically wanted), and *masked* when
//! `/etc/systemd/system/NAME` (or `/run/systemd/system/NAME`) is a symlink
//! to `/dev/null`. It reads links without following them.

use crate::rootfs::RootFs;

/// Where unit directories live, in precedence order.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Enablement state of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    /// Masked (linked to /dev/null).
    Masked,
    /// Enabled through a `.wants`/`.requires` link.
    Enabled,
    /// The unit file exists but nothing enables it.
    Disabled,
    /// No unit file was found.
    Absent,
}

/// Name with a `.service` suffix when no type suffix is given.
pub fn unit_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// Determine a unit's state in the root.
pub fn unit_state(fs: &RootFs, unit: &str) -> UnitState {
    let unit = unit_name(unit);
    for dir in ["/etc/systemd/system", "/run/systemd/system"] {
        let p = format!("{dir}/{unit}");
        if let Ok(host) = fs.resolve(&p, false)
            && let Ok(target) = std::fs::read_link(&host)
            && target.as_os_str() == "/dev/null"
        {
            return UnitState::Masked;
        }
    }
    for dir in UNIT_DIRS {
        let Ok(entries) = fs.list_dir(dir) else {
            continue;
        };
        for sub in entries {
            if !(sub.ends_with(".wants") || sub.ends_with(".requires")) {
                continue;
            }
            if fs.symlink_metadata(&format!("{sub}/{unit}")).is_ok() {
                return UnitState::Enabled;
            }
        }
    }
    if UNIT_DIRS
        .iter()
        .any(|d| fs.symlink_metadata(&format!("{d}/{unit}")).is_ok())
    {
        UnitState::Disabled
    } else {
        UnitState::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn states() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("lib/systemd/system")).unwrap();
        std::fs::create_dir_all(r.join("etc/systemd/system/multi-user.target.wants")).unwrap();
        for u in ["cron.service", "avahi-daemon.service", "cups.service"] {
            std::fs::write(r.join("lib/systemd/system").join(u), "[Unit]\n").unwrap();
        }
        symlink(
            "/lib/systemd/system/cron.service",
            r.join("etc/systemd/system/multi-user.target.wants/cron.service"),
        )
        .unwrap();
        symlink("/dev/null", r.join("etc/systemd/system/cups.service")).unwrap();
        let fs = RootFs::open(r).unwrap();
        assert_eq!(unit_state(&fs, "cron"), UnitState::Enabled);
        assert_eq!(unit_state(&fs, "cups.service"), UnitState::Masked);
        assert_eq!(unit_state(&fs, "avahi-daemon"), UnitState::Disabled);
        assert_eq!(unit_state(&fs, "nothere"), UnitState::Absent);
    }
}
