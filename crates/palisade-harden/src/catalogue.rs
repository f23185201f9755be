//! The check catalogue: checks as data.
//!
//! Holds [`Check`], [`Eval`] (the typed evaluator specification each check
//! names) and [`catalogue`], which parses the TOML file embedded from
//! `data/catalogue.toml`. Nothing here evaluates anything: see
//! [`crate::eval`]. Profiles: `level1` (CIS Level 1), `level2` (Level 1 and
//! 2) and `k8s-node` (Level 2 without the items that break a Kubernetes
//! node); each check lists the profiles it belongs to.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The embedded catalogue source.
pub const CATALOGUE_TOML: &str = include_str!("../data/catalogue.toml");

/// Profile names.
pub const PROFILES: &[&str] = &["level1", "level2", "k8s-node"];

/// A benchmark reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Benchmark name and version (`CIS Debian Linux 12 v1.1.0`).
    pub benchmark: String,
    /// Section number in that benchmark.
    pub section: String,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Stable identifier (`ssh-permit-root-login`).
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Benchmark references.
    pub references: Vec<Reference>,
    /// CIS level (1 or 2).
    pub level: u8,
    /// Profiles this check belongs to.
    pub profiles: Vec<String>,
    /// True for items that must not be enforced on a Kubernetes node.
    #[serde(default)]
    pub breaks_k8s_node: bool,
    /// Why it matters.
    pub rationale: String,
    /// How to audit it by hand.
    pub audit: String,
    /// How to remediate it.
    pub remediation: String,
    /// What evaluates it.
    pub eval: Eval,
}

/// Rule applied to an sshd keyword's effective value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum SshRule {
    /// Value equals one of these (case-insensitive).
    OneOf {
        /// Accepted values.
        values: Vec<String>,
    },
    /// Integer value within `[min, max]`.
    IntRange {
        /// Lowest accepted.
        min: i64,
        /// Highest accepted.
        max: i64,
    },
    /// Comma-separated list containing none of these.
    NoneOf {
        /// Forbidden list members.
        forbidden: Vec<String>,
    },
    /// Value differs from this (case-insensitive).
    Not {
        /// Rejected value.
        value: String,
    },
    /// Integer within `[min, max]`, or exactly `or` (faillock
    /// `unlock_time`: 0 or at least 900).
    IntRangeOr {
        /// Lowest accepted.
        min: i64,
        /// Highest accepted.
        max: i64,
        /// Also accepted.
        or: i64,
    },
    /// Octal file mode with no bit outside `mode` (`0640`).
    ModeAtMost {
        /// Most permissive mode.
        mode: u32,
    },
    /// `MaxStartups start:rate:full` with each part at most these.
    MaxStartups {
        /// Highest accepted `start`.
        start: i64,
        /// Highest accepted `rate`.
        rate: i64,
        /// Highest accepted `full`.
        full: i64,
    },
}

/// Rule applied to a Kubernetes flag or kubelet setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum FlagRule {
    /// Flag present (any value).
    Set,
    /// Flag absent.
    NotSet,
    /// Value equals.
    Eq {
        /// Required value.
        value: String,
    },
    /// Absent, or value equals.
    AbsentOrEq {
        /// Required value when present.
        value: String,
    },
    /// Value differs (absent passes).
    NotEq {
        /// Rejected value.
        value: String,
    },
    /// Comma-separated value contains.
    Has {
        /// Required member.
        value: String,
    },
    /// Comma-separated value lacks (absent passes).
    NotHas {
        /// Rejected member.
        value: String,
    },
    /// Numeric value at least.
    Gte {
        /// Lowest accepted.
        value: i64,
    },
}

/// Where Kubernetes file checks find their files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KubePath {
    /// The literal paths given.
    Literal,
    /// etcd's `--data-dir` (default `/var/lib/etcd`).
    EtcdDataDir,
    /// The kubelet unit file and drop-ins.
    KubeletService,
    /// The kubelet config file.
    KubeletConfig,
    /// The kubelet kubeconfig (`--kubeconfig`).
    KubeletKubeconfig,
}

/// One audit rule the benchmark asks for: a watch (`watch` + `perms`) or
/// syscalls for an architecture (`syscalls` + `arch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditReq {
    /// Watched path.
    #[serde(default)]
    pub watch: Option<String>,
    /// Permission letters the watch must grant (`wa`, `x`).
    #[serde(default)]
    pub perms: String,
    /// Syscalls that must be audited.
    #[serde(default)]
    pub syscalls: Vec<String>,
    /// Architecture (`b64`, `b32`).
    #[serde(default)]
    pub arch: Option<String>,
}

/// Where `fix` writes a setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingFix {
    /// In-root file `fix` edits (a Palisade drop-in, or the only file the
    /// program reads, such as `faillock.conf` or `login.defs`).
    pub file: String,
    /// Value written.
    pub value: String,
}

/// Typed evaluator specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Eval {
    /// An sshd keyword on the effective configuration.
    SshOption {
        /// Keyword.
        keyword: String,
        /// Rule.
        #[serde(flatten)]
        rule: SshRule,
        /// Value `fix` writes to the drop-in (none: manual).
        fix: Option<String>,
    },
    /// At least one of AllowUsers/AllowGroups/DenyUsers/DenyGroups set.
    SshAccessLists,
    /// sysctl keys must each have one of the allowed values.
    Sysctl {
        /// Keys.
        keys: Vec<String>,
        /// Allowed values.
        allowed: Vec<String>,
        /// Value `fix` writes.
        fix: String,
    },
    /// Kernel module disabled (`install … /bin/false` and blacklisted).
    ModuleDisabled {
        /// Module name.
        module: String,
    },
    /// Mode and ownership of files (globs allowed in the last component).
    FileMode {
        /// Paths or globs.
        paths: Vec<String>,
        /// Most permissive mode allowed (no bit outside it).
        mode: u32,
        /// Allowed owners (empty: any).
        #[serde(default)]
        owners: Vec<String>,
        /// Allowed groups (empty: any).
        #[serde(default)]
        groups: Vec<String>,
        /// Outcome when no path exists: `pass`, `fail` or `not_applicable`.
        #[serde(default = "default_missing")]
        missing: String,
    },
    /// No world-writable files; world-writable directories sticky.
    WorldWritable,
    /// No files without a known owner or group.
    Unowned,
    /// None of the packages installed, unless all their units are masked.
    NotInUse {
        /// Packages.
        packages: Vec<String>,
        /// Units that may be masked instead.
        #[serde(default)]
        units: Vec<String>,
    },
    /// At least one of the packages installed.
    Installed {
        /// Packages (any of).
        any_of: Vec<String>,
    },
    /// A package installed and its unit enabled.
    Enabled {
        /// Packages (any of).
        packages: Vec<String>,
        /// Units (any of).
        units: Vec<String>,
    },
    /// Exactly one time-synchronisation daemon in use.
    TimeSync,
    /// One firewall installed with a default-deny input policy.
    Firewall,
    /// A global sudoers `Defaults` option set (prefix match).
    SudoDefault {
        /// Option (`use_pty`, `logfile=`).
        option: String,
        /// Option `fix` writes to the sudoers drop-in (none: manual).
        #[serde(default)]
        fix: Option<String>,
    },
    /// unattended-upgrades installed and enabled in APT::Periodic.
    AutoUpdates,
    /// No installed package older than the security lists offer.
    SecurityUpdates,
    /// Kubernetes file mode/ownership; not applicable when absent.
    KubeFile {
        /// Where the files come from.
        source: KubePath,
        /// Literal paths (for `literal`), globs allowed.
        #[serde(default)]
        paths: Vec<String>,
        /// Most permissive mode.
        mode: u32,
        /// Required owner:group (empty: not checked).
        #[serde(default)]
        owner: String,
        /// Apply to directory contents too (PKI dir).
        #[serde(default)]
        recursive: bool,
    },
    /// Control-plane component flags; not applicable without its manifest.
    KubeFlag {
        /// Component (`kube-apiserver`, …, `etcd`).
        component: String,
        /// Flags (without dashes); the rule must hold for each.
        flags: Vec<String>,
        /// Rule.
        #[serde(flatten)]
        rule: FlagRule,
    },
    /// A separate mount for `path` (empty `options`), or options of that
    /// mount (not applicable when it is not a separate mount). Read from
    /// `/etc/fstab`, systemd's `tmp.mount` for `/tmp`, systemd's built-in
    /// `/dev/shm`, and `/proc/self/mounts` when scanning `/`.
    Mount {
        /// Mount point.
        path: String,
        /// Options that must all be set.
        #[serde(default)]
        options: Vec<String>,
    },
    /// The effective value of a key in key/value files (the last
    /// assignment across `files`, in order, wins).
    Setting {
        /// Files or globs, in the order the program reads them.
        files: Vec<String>,
        /// Syntax.
        syntax: crate::parse::conf::Syntax,
        /// INI section the key lives in (`Journal`).
        #[serde(default)]
        section: Option<String>,
        /// Key.
        key: String,
        /// Rule.
        #[serde(flatten)]
        rule: SshRule,
        /// Compiled-in default when no file sets the key.
        #[serde(default)]
        default: Option<String>,
        /// Not applicable unless one of these packages is installed.
        #[serde(default)]
        packages: Vec<String>,
        /// How `fix` sets it (none: manual).
        #[serde(default)]
        fix: Option<SettingFix>,
    },
    /// A PAM module used in a PAM file.
    PamModule {
        /// In-root PAM file.
        file: String,
        /// Module file name (`pam_pwquality.so`).
        module: String,
    },
    /// Passwords hashed with yescrypt or SHA-512 (pam_unix argument, else
    /// `ENCRYPT_METHOD` in login.defs).
    PasswordHash,
    /// Audit rules (rules.d and audit.rules) cover every requirement.
    AuditRules {
        /// Requirements.
        rules: Vec<AuditReq>,
    },
    /// A login banner without OS-identifying escapes or names.
    Banner {
        /// In-root banner file.
        path: String,
        /// Outcome when the file is absent: `pass` or `fail`.
        #[serde(default = "default_missing")]
        missing: String,
    },
    /// AppArmor profiles: all enforcing, or (`allow_complain`) enforcing
    /// or complaining, none disabled.
    AppArmorProfiles {
        /// Accept complain mode.
        #[serde(default)]
        allow_complain: bool,
    },
    /// GRUB superusers and a PBKDF2 password set in grub.cfg.
    GrubPassword,
    /// Kubelet setting (flag, else config path); n/a without a kubelet.
    Kubelet {
        /// Flag name.
        flag: String,
        /// Dotted config path.
        path: String,
        /// Rule.
        #[serde(flatten)]
        rule: FlagRule,
    },
}

fn default_missing() -> String {
    "not_applicable".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    check: Vec<Check>,
}

/// Parse a catalogue from TOML text and validate it.
pub fn parse(text: &str) -> Result<Vec<Check>> {
    let file: CatalogueFile = toml::from_str(text).map_err(|e| Error::Catalogue(e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for c in &file.check {
        if !seen.insert(c.id.as_str()) {
            return Err(Error::Catalogue(format!("duplicate id {}", c.id)));
        }
        if let Some(p) = c.profiles.iter().find(|p| !PROFILES.contains(&p.as_str())) {
            return Err(Error::Catalogue(format!("{}: unknown profile {p}", c.id)));
        }
        if !(1..=2).contains(&c.level) {
            return Err(Error::Catalogue(format!("{}: level must be 1 or 2", c.id)));
        }
    }
    Ok(file.check)
}

/// The embedded catalogue (parsed once).
pub fn catalogue() -> Result<&'static [Check]> {
    static CELL: OnceLock<std::result::Result<Vec<Check>, String>> = OnceLock::new();
    CELL.get_or_init(|| parse(CATALOGUE_TOML).map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| Error::Catalogue(e.clone()))
}

/// Checks of a profile.
pub fn profile(name: &str) -> Result<Vec<&'static Check>> {
    if !PROFILES.contains(&name) {
        return Err(Error::UnknownProfile(name.to_string()));
    }
    Ok(catalogue()?
        .iter()
        .filter(|c| c.profiles.iter().any(|p| p == name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_parses() {
        let all = catalogue().unwrap();
        assert!(all.len() > 100, "{}", all.len());
        for c in all {
            assert!(!c.title.is_empty() && !c.rationale.is_empty(), "{}", c.id);
            assert!(!c.references.is_empty(), "{}", c.id);
        }
    }

    #[test]
    fn k8s_node_profile_keeps_forwarding_and_overlay() {
        let k = profile("k8s-node").unwrap();
        assert!(k.iter().all(|c| !c.breaks_k8s_node));
        let l2 = profile("level2").unwrap();
        assert!(l2.iter().any(|c| c.breaks_k8s_node));
        assert!(profile("level1").unwrap().len() < l2.len());
        assert!(profile("nope").is_err());
    }

    #[test]
    fn duplicate_ids_rejected() {
        let one = r#"[[check]]
id = "a"
title = "t"
references = [{ benchmark = "b", section = "1" }]
level = 1
profiles = ["level1"]
rationale = "r"
audit = "a"
remediation = "r"
eval = { kind = "world_writable" }
"#;
        assert!(parse(one).is_ok());
        assert!(parse(&format!("{one}{one}")).is_err());
    }
}
