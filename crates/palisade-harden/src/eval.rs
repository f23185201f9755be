//! Typed evaluators: turn an [`Eval`] spec and a root into an [`Outcome`].
//!
//! Holds [`Context`] (parsed inputs of one root, each loaded lazily at most
//! once per scan), [`Outcome`] and [`FixAction`] (what `fix` would do for a
//! failing check), and [`evaluate`]. Evaluators read only through
//! [`RootFs`]; they never write. Unreadable or malformed inputs become
//! `ERROR`/`WARN` outcomes with the reason.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use crate::catalogue::{Eval, FlagRule, KubePath, SshRule};
use crate::parse::conf::Syntax;
use crate::parse::{dpkg, kube, modprobe, sshd, sysctl, systemd, text};
use crate::report::Status;
use crate::rootfs::RootFs;

/// Upper bound on filesystem entries visited by the world-writable and
/// unowned-file walk.
pub const WALK_LIMIT: usize = 1_000_000;
/// Paths never walked.
const WALK_SKIP: &[&str] = &["/proc", "/sys", "/dev", "/run"];
/// At most this many offending paths are listed as evidence.
const MAX_EVIDENCE: usize = 20;

mod host;

/// A change `fix` can make for a failing check.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FixAction {
    /// Set an sshd keyword in the Palisade drop-in.
    SshSet {
        /// Keyword as written in the catalogue.
        keyword: String,
        /// Value.
        value: String,
    },
    /// Set a sysctl key in the Palisade drop-in.
    Sysctl {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Disable and blacklist a module in the Palisade modprobe file.
    Module {
        /// Module name.
        module: String,
    },
    /// Set a key in a key/value file (a drop-in, or edited in place).
    SetConf {
        /// In-root file.
        file: String,
        /// Its syntax.
        syntax: Syntax,
        /// INI section, if any.
        section: Option<String>,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Replace a login banner with a neutral warning.
    Banner {
        /// In-root banner file.
        path: String,
    },
    /// Add a global `Defaults` option in the Palisade sudoers drop-in.
    SudoDefault {
        /// Option as written (`use_pty`, `logfile="/var/log/sudo.log"`).
        option: String,
    },
    /// Enable unattended upgrades in the APT periodic drop-in.
    AutoUpgrades,
    /// Change mode bits of an in-root path.
    Chmod {
        /// In-root path.
        path: String,
        /// New mode.
        mode: u32,
    },
    /// Change ownership of an in-root path.
    Chown {
        /// In-root path.
        path: String,
        /// New uid.
        uid: u32,
        /// New gid.
        gid: u32,
    },
}

/// Result of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Status.
    pub status: Status,
    /// One-line explanation.
    pub message: String,
    /// Detail lines.
    pub evidence: Vec<String>,
    /// Fixes that would remediate a FAIL (empty: manual).
    pub fixes: Vec<FixAction>,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            evidence: Vec::new(),
            fixes: Vec::new(),
        }
    }
    fn pass(m: impl Into<String>) -> Self {
        Self::new(Status::Pass, m)
    }
    fn fail(m: impl Into<String>) -> Self {
        Self::new(Status::Fail, m)
    }
    fn na(m: impl Into<String>) -> Self {
        Self::new(Status::NotApplicable, m)
    }
    fn error(m: impl Into<String>) -> Self {
        Self::new(Status::Error, m)
    }
    fn with_evidence(mut self, e: Vec<String>) -> Self {
        self.evidence.extend(e);
        self
    }
    /// A passing outcome with input problems becomes WARN.
    fn caveat(mut self, problems: &[String]) -> Self {
        if !problems.is_empty() {
            if self.status == Status::Pass {
                self.status = Status::Warn;
                self.message = format!("{} (but input problems were found)", self.message);
            }
            self.evidence
                .extend(problems.iter().map(|p| format!("problem: {p}")));
        }
        self
    }
}

/// Result of the filesystem walk.
#[derive(Debug, Clone, Default)]
pub struct WalkResult {
    /// World-writable regular files, and world-writable directories
    /// without the sticky bit.
    pub world_writable: Vec<String>,
    /// Paths whose uid or gid is unknown to the root's databases.
    pub unowned: Vec<String>,
    /// Entries visited.
    pub visited: usize,
    /// True when [`WALK_LIMIT`] stopped the walk.
    pub truncated: bool,
    /// Unreadable directories.
    pub problems: Vec<String>,
}

/// Parsed inputs of one root, loaded on first use.
pub struct Context<'a> {
    /// The root.
    pub fs: &'a RootFs,
    sshd: OnceCell<sshd::SshdConfig>,
    sysctl: OnceCell<sysctl::SysctlConfig>,
    modprobe: OnceCell<modprobe::ModprobeConfig>,
    packages: OnceCell<Result<dpkg::Packages, String>>,
    manifests: OnceCell<kube::Manifests>,
    kubelet: OnceCell<kube::Kubelet>,
    walk: OnceCell<WalkResult>,
    sudo: OnceCell<(Vec<String>, Vec<String>, Vec<String>)>,
}

impl<'a> Context<'a> {
    /// A fresh context over a root.
    pub fn new(fs: &'a RootFs) -> Self {
        Self {
            fs,
            sshd: OnceCell::new(),
            sysctl: OnceCell::new(),
            modprobe: OnceCell::new(),
            packages: OnceCell::new(),
            manifests: OnceCell::new(),
            kubelet: OnceCell::new(),
            walk: OnceCell::new(),
            sudo: OnceCell::new(),
        }
    }

    /// Effective sshd configuration.
    pub fn sshd(&self) -> &sshd::SshdConfig {
        self.sshd
            .get_or_init(|| sshd::load(self.fs, "/etc/ssh/sshd_config"))
    }
    /// Merged sysctl configuration.
    pub fn sysctl(&self) -> &sysctl::SysctlConfig {
        self.sysctl.get_or_init(|| sysctl::load(self.fs))
    }
    /// modprobe.d configuration.
    pub fn modprobe(&self) -> &modprobe::ModprobeConfig {
        self.modprobe.get_or_init(|| modprobe::load(self.fs))
    }
    /// Installed packages, or why they are unknown.
    pub fn packages(&self) -> Result<&dpkg::Packages, &str> {
        self.packages
            .get_or_init(|| {
                self.fs
                    .read_to_string("/var/lib/dpkg/status")
                    .map(|t| dpkg::parse_status(&t))
                    .map_err(|e| format!("no dpkg status database: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }
    /// Static-pod manifests.
    pub fn manifests(&self) -> &kube::Manifests {
        self.manifests.get_or_init(|| kube::load_manifests(self.fs))
    }
    /// Kubelet configuration.
    pub fn kubelet(&self) -> &kube::Kubelet {
        self.kubelet.get_or_init(|| kube::load_kubelet(self.fs))
    }
    /// sudoers defaults, files, problems.
    fn sudo(&self) -> &(Vec<String>, Vec<String>, Vec<String>) {
        self.sudo.get_or_init(|| text::load_sudoers(self.fs))
    }
    /// The bounded filesystem walk.
    pub fn walk(&self) -> &WalkResult {
        self.walk.get_or_init(|| walk(self.fs))
    }
    fn installed(&self, names: &[String]) -> Result<Vec<String>, String> {
        let p = self.packages().map_err(str::to_string)?;
        Ok(names.iter().filter(|n| p.has(n)).cloned().collect())
    }
}

fn walk(fs: &RootFs) -> WalkResult {
    let mut res = WalkResult::default();
    let Ok(root_meta) = std::fs::symlink_metadata(fs.root()) else {
        res.problems.push("root not readable".to_string());
        return res;
    };
    let dev = root_meta.dev();
    let known_uids: std::collections::BTreeSet<u32> = fs.users().iter().map(|u| u.uid).collect();
    let mut stack = vec![fs.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                res.problems.push(format!("{}: {e}", fs.in_root(&dir)));
                continue;
            }
        };
        for entry in rd.flatten() {
            res.visited += 1;
            if res.visited > WALK_LIMIT {
                res.truncated = true;
                return res;
            }
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let in_root = fs.in_root(&path);
            if meta.dev() != dev || WALK_SKIP.contains(&in_root.as_str()) {
                continue;
            }
            let ft = meta.file_type();
            let mode = meta.mode();
            if ft.is_file() && mode & 0o002 != 0 {
                res.world_writable.push(in_root.clone());
            }
            if ft.is_dir() && mode & 0o002 != 0 && mode & 0o1000 == 0 {
                res.world_writable
                    .push(format!("{in_root}/ (no sticky bit)"));
            }
            if !known_uids.contains(&meta.uid()) || fs.group_name(meta.gid()).is_none() {
                res.unowned
                    .push(format!("{in_root} (uid {} gid {})", meta.uid(), meta.gid()));
            }
            if ft.is_dir() {
                stack.push(path);
            }
        }
    }
    res
}

/// Evaluate one spec against a context.
pub fn evaluate(ctx: &Context<'_>, eval: &Eval) -> Outcome {
    match eval {
        Eval::SshOption { keyword, rule, fix } => ssh_option(ctx, keyword, rule, fix.as_deref()),
        Eval::SshAccessLists => ssh_access_lists(ctx),
        Eval::Sysctl { keys, allowed, fix } => sysctl_keys(ctx, keys, allowed, fix),
        Eval::ModuleDisabled { module } => module_disabled(ctx, module),
        Eval::FileMode {
            paths,
            mode,
            owners,
            groups,
            missing,
        } => file_mode(ctx, paths, *mode, owners, groups, missing),
        Eval::WorldWritable => {
            let w = ctx.walk();
            listing(w, &w.world_writable, "world-writable path")
        }
        Eval::Unowned => {
            let w = ctx.walk();
            listing(w, &w.unowned, "unowned path")
        }
        Eval::NotInUse { packages, units } => not_in_use(ctx, packages, units),
        Eval::Installed { any_of } => match ctx.installed(any_of) {
            Err(e) => Outcome::error(e),
            Ok(found) if found.is_empty() => {
                Outcome::fail(format!("none of {} is installed", any_of.join(", ")))
            }
            Ok(found) => Outcome::pass(format!("{} installed", found.join(", "))),
        },
        Eval::Enabled { packages, units } => enabled(ctx, packages, units),
        Eval::TimeSync => time_sync(ctx),
        Eval::Firewall => firewall(ctx),
        Eval::SudoDefault { option, fix } => sudo_default(ctx, option, fix.as_deref()),
        Eval::AutoUpdates => auto_updates(ctx),
        Eval::SecurityUpdates => security_updates(ctx),
        Eval::KubeFile {
            source,
            paths,
            mode,
            owner,
            recursive,
        } => kube_file(ctx, source, paths, *mode, owner, *recursive),
        Eval::KubeFlag {
            component,
            flags,
            rule,
        } => kube_flag(ctx, component, flags, rule),
        Eval::Mount { path, options } => host::mount(ctx, path, options),
        Eval::Setting {
            files,
            syntax,
            section,
            key,
            rule,
            default,
            packages,
            fix,
        } => host::setting(
            ctx,
            &host::SettingSpec {
                files,
                syntax: *syntax,
                section: section.as_deref(),
                key,
                rule,
                default: default.as_deref(),
                packages,
                fix: fix.as_ref(),
            },
        ),
        Eval::PamModule { file, module } => host::pam_module(ctx, file, module),
        Eval::PasswordHash => host::password_hash(ctx),
        Eval::AuditRules { rules } => host::audit_rules(ctx, rules),
        Eval::Banner { path, missing } => host::banner(ctx, path, missing),
        Eval::AppArmorProfiles { allow_complain } => host::apparmor_profiles(ctx, *allow_complain),
        Eval::GrubPassword => host::grub_password(ctx),
        Eval::Kubelet { flag, path, rule } => {
            let k = ctx.kubelet();
            if !k.present() {
                return Outcome::na("no kubelet configuration on this root");
            }
            if k.config.is_none() && k.config_path.is_some() && !k.problems.is_empty() {
                return Outcome::error(format!(
                    "kubelet configuration unreadable: {}",
                    k.problems.join("; ")
                ));
            }
            let value = k.setting(flag, path);
            let (ok, why) = flag_rule(value.as_deref(), rule);
            let src = if k.flags.contains_key(flag.as_str()) {
                format!("--{flag}")
            } else {
                path.clone()
            };
            let o = if ok {
                Outcome::pass(format!("{src}: {why}"))
            } else {
                Outcome::fail(format!("{src}: {why}"))
            };
            o.caveat(&k.problems)
        }
    }
}

fn ssh_applicable(ctx: &Context<'_>) -> Result<(), Outcome> {
    let cfg = ctx.sshd();
    if cfg.missing {
        let installed = ctx
            .packages()
            .map(|p| p.has("openssh-server"))
            .unwrap_or(false);
        if installed || ctx.fs.symlink_metadata("/etc/ssh/sshd_config").is_ok() {
            return Err(Outcome::error(format!(
                "sshd_config unreadable: {}",
                cfg.problems.join("; ")
            )));
        }
        return Err(Outcome::na("OpenSSH server not installed"));
    }
    Ok(())
}

/// True when root has authorized keys and no other login-capable user has
/// any: then `PermitRootLogin no` would lock everyone out.
pub fn root_is_only_key_holder(fs: &RootFs) -> bool {
    let has_keys = |home: &str| {
        ["authorized_keys", "authorized_keys2"].iter().any(|f| {
            fs.read_to_string(&format!("{}/.ssh/{f}", home.trim_end_matches('/')))
                .map(|t| {
                    t.lines()
                        .any(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                })
                .unwrap_or(false)
        })
    };
    let root_home = fs
        .users()
        .iter()
        .find(|u| u.uid == 0)
        .map(|u| u.home.clone())
        .unwrap_or_else(|| "/root".to_string());
    if !has_keys(&root_home) {
        return false;
    }
    !fs.users().iter().any(|u| {
        u.uid != 0
            && !u.shell.ends_with("nologin")
            && !u.shell.ends_with("false")
            && !u.shell.is_empty()
            && has_keys(&u.home)
    })
}

fn ssh_option(ctx: &Context<'_>, keyword: &str, rule: &SshRule, fix: Option<&str>) -> Outcome {
    if let Err(o) = ssh_applicable(ctx) {
        return o;
    }
    let cfg = ctx.sshd();
    let value = cfg.get(keyword).unwrap_or_default();
    let lower = keyword.to_ascii_lowercase();
    let origin = match cfg.origin.get(&lower) {
        Some(at) => format!("set at {at}"),
        None => "compiled-in default".to_string(),
    };
    let (ok, why) = ssh_rule(&value, rule);
    let mut o = if ok {
        Outcome::pass(format!("{keyword} {value} ({origin})"))
    } else {
        Outcome::fail(format!("{keyword} {value} ({origin}): {why}"))
    };
    if !ok && let Some(fix) = fix {
        let mut fix = fix.to_string();
        if lower == "permitrootlogin" && root_is_only_key_holder(ctx.fs) {
            let safe = "prohibit-password";
            if matches!(value.as_str(), "prohibit-password" | "without-password") {
                o.evidence.push(
                    "not fixed automatically: root is the only account with SSH keys, \
                     `no` would lock out access; add an administrator account first"
                        .to_string(),
                );
                return o.caveat(&cfg.problems);
            }
            o.evidence.push(format!(
                "fix uses `{safe}`: root is the only account with SSH keys"
            ));
            fix = safe.to_string();
        }
        o.fixes.push(FixAction::SshSet {
            keyword: keyword.to_string(),
            value: fix,
        });
    }
    o.caveat(&cfg.problems)
}

fn ssh_rule(value: &str, rule: &SshRule) -> (bool, String) {
    match rule {
        SshRule::OneOf { values } => (
            values.iter().any(|v| v.eq_ignore_ascii_case(value)),
            format!("expected {}", values.join(" or ")),
        ),
        SshRule::IntRange { min, max } => match value.trim().parse::<i64>() {
            Ok(n) => ((*min..=*max).contains(&n), format!("expected {min}..{max}")),
            Err(_) => (false, format!("not a number; expected {min}..{max}")),
        },
        SshRule::NoneOf { forbidden } => {
            let bad: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|a| forbidden.iter().any(|f| f.eq_ignore_ascii_case(a)))
                .collect();
            (bad.is_empty(), format!("weak: {}", bad.join(",")))
        }
        SshRule::Not { value: v } => (
            !v.eq_ignore_ascii_case(value.trim()),
            format!("must not be {v}"),
        ),
        SshRule::IntRangeOr { min, max, or } => match value.trim().parse::<i64>() {
            Ok(n) => (
                (*min..=*max).contains(&n) || n == *or,
                format!("expected {or} or {min}..{max}"),
            ),
            Err(_) => (
                false,
                format!("not a number; expected {or} or {min}..{max}"),
            ),
        },
        SshRule::ModeAtMost { mode } => match u32::from_str_radix(value.trim(), 8) {
            Ok(m) => (m & !mode == 0, format!("expected {mode:04o} or stricter")),
            Err(_) => (
                false,
                format!("not an octal mode; expected {mode:04o} or stricter"),
            ),
        },
        SshRule::MaxStartups { start, rate, full } => {
            let parts: Vec<Option<i64>> = value.split(':').map(|p| p.trim().parse().ok()).collect();
            let ok = match parts.as_slice() {
                [Some(s)] => s <= start,
                [Some(s), Some(r), Some(f)] => s <= start && r <= rate && f <= full,
                _ => false,
            };
            (ok, format!("expected {start}:{rate}:{full} or stricter"))
        }
    }
}

fn ssh_access_lists(ctx: &Context<'_>) -> Outcome {
    if let Err(o) = ssh_applicable(ctx) {
        return o;
    }
    let cfg = ctx.sshd();
    let set: Vec<String> = ["allowusers", "allowgroups", "denyusers", "denygroups"]
        .iter()
        .filter_map(|k| cfg.explicit.get(*k).map(|v| format!("{k} {}", v.join(" "))))
        .collect();
    if set.is_empty() {
        Outcome::fail("no AllowUsers, AllowGroups, DenyUsers or DenyGroups set")
    } else {
        Outcome::pass(set.join("; "))
    }
    .caveat(&cfg.problems)
}

fn sysctl_keys(ctx: &Context<'_>, keys: &[String], allowed: &[String], fix: &str) -> Outcome {
    let cfg = ctx.sysctl();
    let mut bad = Vec::new();
    let mut evidence = Vec::new();
    let mut fixes = Vec::new();
    for key in keys {
        let configured = cfg.values.get(key);
        let live = sysctl::live_value(ctx.fs, key);
        let mut key_ok = true;
        match configured {
            Some(s) => {
                evidence.push(format!("{key} = {} ({}:{})", s.value, s.file, s.line));
                if !allowed.contains(&s.value) {
                    key_ok = false;
                    bad.push(format!("{key} = {} in {}", s.value, s.file));
                }
            }
            None => {
                key_ok = false;
                bad.push(format!("{key} not set in any sysctl file"));
            }
        }
        if let Some(l) = &live {
            evidence.push(format!("{key} live value {l}"));
            if !allowed.contains(l) {
                key_ok = false;
                bad.push(format!("{key} is {l} in the running kernel"));
            }
        }
        if !key_ok {
            fixes.push(FixAction::Sysctl {
                key: key.clone(),
                value: fix.to_string(),
            });
        }
    }
    let mut o = if bad.is_empty() {
        Outcome::pass(format!(
            "all of {} in {{{}}}",
            keys.join(", "),
            allowed.join(",")
        ))
    } else {
        Outcome::fail(bad.join("; "))
    };
    o.evidence = evidence;
    o.fixes = fixes;
    o.caveat(&cfg.problems)
}

fn module_disabled(ctx: &Context<'_>, module: &str) -> Outcome {
    let cfg = ctx.modprobe();
    let m = modprobe::canonical(module);
    let disabled = cfg.disabled.contains(&m);
    let blacklisted = cfg.blacklisted.contains(&m);
    let loaded = ctx.fs.is_live()
        && std::fs::read_to_string("/proc/modules")
            .map(|t| {
                t.lines()
                    .any(|l| l.split_whitespace().next() == Some(m.as_str()))
            })
            .unwrap_or(false);
    let mut o = match (disabled, blacklisted, loaded) {
        (true, true, false) => {
            Outcome::pass(format!("{module}: install /bin/false and blacklisted"))
        }
        _ => {
            let mut why = Vec::new();
            if !disabled {
                why.push("no `install … /bin/false` line");
            }
            if !blacklisted {
                why.push("not blacklisted");
            }
            if loaded {
                why.push("loaded in the running kernel");
            }
            Outcome::fail(format!("{module}: {}", why.join(", ")))
        }
    };
    if o.status == Status::Fail && !(disabled && blacklisted) {
        o.fixes.push(FixAction::Module {
            module: module.to_string(),
        });
    }
    o.caveat(&cfg.problems)
}

/// Expand in-root globs to existing paths.
fn expand(fs: &RootFs, patterns: &[String]) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in patterns {
        match fs.glob(p) {
            Ok(list) => out.extend(list),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (out, problems)
}

/// Check one path's mode/ownership; push problems and fixes.
#[allow(clippy::too_many_arguments)]
fn check_attrs(
    fs: &RootFs,
    path: &str,
    max_mode: u32,
    owners: &[String],
    groups: &[String],
    bad: &mut Vec<String>,
    evidence: &mut Vec<String>,
    fixes: &mut Vec<FixAction>,
) -> Result<(), String> {
    let meta = fs.metadata(path).map_err(|e| e.to_string())?;
    let mode = meta.mode() & 0o7777;
    let (uid, gid) = (meta.uid(), meta.gid());
    let uname = fs
        .user_name(uid)
        .map_or_else(|| uid.to_string(), str::to_string);
    let gname = fs
        .group_name(gid)
        .map_or_else(|| gid.to_string(), str::to_string);
    evidence.push(format!("{path} {mode:04o} {uname}:{gname}"));
    if mode & !max_mode != 0 {
        bad.push(format!(
            "{path} is {mode:04o}, want {max_mode:04o} or stricter"
        ));
        fixes.push(FixAction::Chmod {
            path: path.to_string(),
            mode: mode & max_mode,
        });
    }
    let owner_ok = owners.is_empty() || owners.contains(&uname);
    let group_ok = groups.is_empty() || groups.contains(&gname);
    if !owner_ok || !group_ok {
        bad.push(format!(
            "{path} owned by {uname}:{gname}, want {}:{}",
            owners.first().map_or("*", String::as_str),
            groups.join("|")
        ));
        let new_uid = if owner_ok {
            Some(uid)
        } else {
            owners.first().and_then(|o| fs.uid_of(o))
        };
        let new_gid = if group_ok {
            Some(gid)
        } else {
            groups.first().and_then(|g| fs.gid_of(g))
        };
        if let (Some(u), Some(g)) = (new_uid, new_gid) {
            fixes.push(FixAction::Chown {
                path: path.to_string(),
                uid: u,
                gid: g,
            });
        }
    }
    Ok(())
}

fn file_mode(
    ctx: &Context<'_>,
    patterns: &[String],
    max_mode: u32,
    owners: &[String],
    groups: &[String],
    missing: &str,
) -> Outcome {
    let (paths, problems) = expand(ctx.fs, patterns);
    if paths.is_empty() {
        let what = patterns.join(", ");
        return match missing {
            "pass" => Outcome::pass(format!("{what} absent")),
            "fail" => Outcome::fail(format!("{what} missing")),
            _ => Outcome::na(format!("{what} absent")),
        }
        .caveat(&problems);
    }
    let mut bad = Vec::new();
    let mut evidence = Vec::new();
    let mut fixes = Vec::new();
    let mut errors = Vec::new();
    for p in &paths {
        if let Err(e) = check_attrs(
            ctx.fs,
            p,
            max_mode,
            owners,
            groups,
            &mut bad,
            &mut evidence,
            &mut fixes,
        ) {
            errors.push(e);
        }
    }
    if !errors.is_empty() && bad.is_empty() {
        return Outcome::error(errors.join("; ")).with_evidence(evidence);
    }
    let mut o = if bad.is_empty() {
        Outcome::pass(format!("{} path(s) compliant", paths.len()))
    } else {
        Outcome::fail(bad.join("; "))
    };
    o.evidence = evidence;
    o.fixes = fixes;
    o.caveat(&problems).caveat(&errors)
}

fn listing(w: &WalkResult, items: &[String], what: &str) -> Outcome {
    let mut o = if items.is_empty() {
        Outcome::pass(format!("no {what}s among {} entries", w.visited))
    } else {
        Outcome::fail(format!("{} {what}(s)", items.len()))
    };
    o.evidence = items.iter().take(MAX_EVIDENCE).cloned().collect();
    if items.len() > MAX_EVIDENCE {
        o.evidence
            .push(format!("… and {} more", items.len() - MAX_EVIDENCE));
    }
    if w.truncated {
        o.status = if o.status == Status::Pass {
            Status::Warn
        } else {
            o.status
        };
        o.evidence
            .push(format!("walk stopped after {WALK_LIMIT} entries"));
    }
    o
}

fn not_in_use(ctx: &Context<'_>, packages: &[String], units: &[String]) -> Outcome {
    let found = match ctx.installed(packages) {
        Ok(f) => f,
        Err(e) => return Outcome::error(e),
    };
    if found.is_empty() {
        return Outcome::pass(format!("not installed: {}", packages.join(", ")));
    }
    let states: Vec<(String, systemd::UnitState)> = units
        .iter()
        .map(|u| (u.clone(), systemd::unit_state(ctx.fs, u)))
        .collect();
    let present: Vec<&(String, systemd::UnitState)> = states
        .iter()
        .filter(|(_, s)| *s != systemd::UnitState::Absent)
        .collect();
    if !present.is_empty()
        && present
            .iter()
            .all(|(_, s)| *s == systemd::UnitState::Masked)
    {
        return Outcome::pass(format!(
            "{} installed but its units are masked",
            found.join(", ")
        ));
    }
    Outcome::fail(format!("installed: {}", found.join(", ")))
        .with_evidence(states.iter().map(|(u, s)| format!("{u}: {s:?}")).collect())
}

fn enabled(ctx: &Context<'_>, packages: &[String], units: &[String]) -> Outcome {
    let found = match ctx.installed(packages) {
        Ok(f) => f,
        Err(e) => return Outcome::error(e),
    };
    if found.is_empty() {
        return Outcome::fail(format!("none of {} installed", packages.join(", ")));
    }
    match units
        .iter()
        .find(|u| systemd::unit_state(ctx.fs, u) == systemd::UnitState::Enabled)
    {
        Some(u) => Outcome::pass(format!("{} installed, {u} enabled", found.join(", "))),
        None => Outcome::fail(format!(
            "{} installed but none of {} enabled",
            found.join(", "),
            units.join(", ")
        )),
    }
}

fn time_sync(ctx: &Context<'_>) -> Outcome {
    let pk = match ctx.packages() {
        Ok(p) => p,
        Err(e) => return Outcome::error(e),
    };
    let mut daemons = Vec::new();
    if pk.has("chrony") {
        daemons.push("chrony");
    }
    if pk.has("ntp") || pk.has("ntpsec") {
        daemons.push("ntp");
    }
    if pk.has("openntpd") {
        daemons.push("openntpd");
    }
    if (pk.has("systemd-timesyncd") || ctx.fs.exists("/lib/systemd/systemd-timesyncd"))
        && systemd::unit_state(ctx.fs, "systemd-timesyncd") != systemd::UnitState::Masked
    {
        daemons.push("systemd-timesyncd");
    }
    match daemons.as_slice() {
        [one] => Outcome::pass(format!("{one} in use")),
        [] => Outcome::fail("no time-synchronisation daemon installed"),
        many => Outcome::fail(format!("more than one in use: {}", many.join(", "))),
    }
}

fn firewall(ctx: &Context<'_>) -> Outcome {
    let pk = match ctx.packages() {
        Ok(p) => p,
        Err(e) => return Outcome::error(e),
    };
    let fs = ctx.fs;
    let read = |p: &str| fs.read_to_string(p).unwrap_or_default();
    let mut tools = Vec::new();
    if pk.has("ufw") {
        let enabled = text::shell_var(&read("/etc/ufw/ufw.conf"), "ENABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let drop = text::shell_var(&read("/etc/default/ufw"), "DEFAULT_INPUT_POLICY")
            .is_some_and(|v| v == "DROP" || v == "REJECT");
        tools.push((
            "ufw",
            enabled && drop,
            "ENABLED=yes and DEFAULT_INPUT_POLICY=DROP",
        ));
    }
    if pk.has("iptables-persistent") || pk.has("netfilter-persistent") {
        let drop = text::iptables_input_default_drop(&read("/etc/iptables/rules.v4"));
        tools.push((
            "iptables-persistent",
            drop,
            ":INPUT DROP in /etc/iptables/rules.v4",
        ));
    }
    if pk.has("nftables") && tools.is_empty() {
        let enabled = systemd::unit_state(fs, "nftables") == systemd::UnitState::Enabled;
        let drop = text::nft_input_default_drop(&read("/etc/nftables.conf"));
        tools.push((
            "nftables",
            enabled && drop,
            "nftables.service enabled and an input hook with policy drop in /etc/nftables.conf",
        ));
    }
    match tools.as_slice() {
        [] => Outcome::fail("no firewall (nftables, ufw or iptables-persistent) installed"),
        [(name, true, _)] => Outcome::pass(format!("{name} with default-deny input")),
        [(name, false, want)] => Outcome::fail(format!(
            "{name} installed but not default deny: need {want}"
        )),
        many => Outcome::fail(format!(
            "more than one firewall manager: {}",
            many.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// True when `/etc/sudoers` reads the `/etc/sudoers.d` drop-ins.
fn sudoers_reads_dropins(ctx: &Context<'_>) -> bool {
    ctx.fs.read_to_string("/etc/sudoers").is_ok_and(|t| {
        t.lines().any(|l| {
            let l = l.trim();
            (l.starts_with("@includedir") || l.starts_with("#includedir"))
                && l.split_whitespace().nth(1).map(|d| d.trim_end_matches('/'))
                    == Some("/etc/sudoers.d")
        })
    })
}

fn sudo_default(ctx: &Context<'_>, option: &str, fix: Option<&str>) -> Outcome {
    match ctx.installed(&["sudo".to_string(), "sudo-ldap".to_string()]) {
        Err(e) => return Outcome::error(e),
        Ok(f) if f.is_empty() => return Outcome::fail("sudo is not installed"),
        Ok(_) => {}
    }
    let (opts, files, problems) = ctx.sudo();
    let found = opts.iter().find(|o| o.starts_with(option));
    let negated = opts
        .iter()
        .any(|o| o.strip_prefix('!') == Some(option.trim_end_matches('=')));
    let mut o = match found {
        Some(f) if !negated => Outcome::pass(format!("Defaults {f}")),
        _ => Outcome::fail(format!(
            "no global `Defaults {option}` in {}",
            files.join(", ")
        )),
    };
    // Fixed only through the drop-in directory, never by editing
    // /etc/sudoers, and never over a negation (a site decision).
    if o.status == Status::Fail
        && !negated
        && let Some(fix) = fix
    {
        if sudoers_reads_dropins(ctx) {
            o.fixes.push(FixAction::SudoDefault {
                option: fix.to_string(),
            });
        } else {
            o.evidence.push(
                "not fixed automatically: /etc/sudoers has no `@includedir /etc/sudoers.d`"
                    .to_string(),
            );
        }
    }
    o.caveat(problems)
}

fn auto_updates(ctx: &Context<'_>) -> Outcome {
    match ctx.installed(&["unattended-upgrades".to_string()]) {
        Err(e) => return Outcome::error(e),
        Ok(f) if f.is_empty() => return Outcome::fail("unattended-upgrades is not installed"),
        Ok(_) => {}
    }
    match text::apt_option(ctx.fs, "APT::Periodic::Unattended-Upgrade") {
        Some((v, f)) if v == "1" => {
            Outcome::pass(format!("APT::Periodic::Unattended-Upgrade \"1\" ({f})"))
        }
        Some((v, f)) => {
            let mut o = Outcome::fail(format!(
                "APT::Periodic::Unattended-Upgrade is \"{v}\" ({f})"
            ));
            o.fixes.push(FixAction::AutoUpgrades);
            o
        }
        None => {
            let mut o = Outcome::fail("APT::Periodic::Unattended-Upgrade not set");
            o.fixes.push(FixAction::AutoUpgrades);
            o
        }
    }
}

fn security_updates(ctx: &Context<'_>) -> Outcome {
    let pk = match ctx.packages() {
        Ok(p) => p,
        Err(e) => return Outcome::error(e),
    };
    let lists: Vec<String> = ctx
        .fs
        .list_dir("/var/lib/apt/lists")
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|n| n.contains("security") && n.ends_with("_Packages"))
        })
        .collect();
    if lists.is_empty() {
        return Outcome::new(
            Status::Warn,
            "cannot tell: no security package lists in /var/lib/apt/lists (run apt update)",
        );
    }
    let mut newest: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for l in &lists {
        match ctx.fs.read_to_string(l) {
            Ok(t) => {
                for (name, ver) in dpkg::parse_packages_list_filtered(&t, |n| pk.has(n)) {
                    match newest.get(&name) {
                        Some(old) if dpkg::compare_versions(old, &ver).is_ge() => {}
                        _ => {
                            newest.insert(name, ver);
                        }
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let pending: Vec<String> = pk
        .installed
        .iter()
        .filter_map(|(name, ver)| {
            let avail = newest.get(name)?;
            dpkg::compare_versions(ver, avail)
                .is_lt()
                .then(|| format!("{name} {ver} → {avail}"))
        })
        .collect();
    let mut o = if pending.is_empty() {
        Outcome::pass(format!(
            "no pending security updates ({} list(s))",
            lists.len()
        ))
    } else {
        Outcome::fail(format!("{} pending security update(s)", pending.len()))
    };
    o.evidence = pending.into_iter().take(MAX_EVIDENCE).collect();
    o.caveat(&problems)
}

fn kube_paths(ctx: &Context<'_>, source: &KubePath, paths: &[String]) -> Vec<String> {
    match source {
        KubePath::Literal => expand(ctx.fs, paths).0,
        KubePath::EtcdDataDir => {
            let m = ctx.manifests();
            let Some(etcd) = m.components.get("etcd") else {
                return Vec::new();
            };
            let dir = etcd
                .flags
                .get("data-dir")
                .cloned()
                .unwrap_or_else(|| "/var/lib/etcd".to_string());
            if ctx.fs.exists(&dir) {
                vec![dir]
            } else {
                Vec::new()
            }
        }
        KubePath::KubeletService => ctx.kubelet().service_files.clone(),
        KubePath::KubeletConfig => ctx.kubelet().config_path.iter().cloned().collect(),
        KubePath::KubeletKubeconfig => {
            let k = ctx.kubelet();
            let p = k.kubeconfig();
            if k.present() && ctx.fs.exists(&p) {
                vec![p]
            } else {
                Vec::new()
            }
        }
    }
}

fn collect_recursive(fs: &RootFs, path: &str, out: &mut Vec<String>, budget: &mut usize) {
    out.push(path.to_string());
    let is_dir = fs.symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !is_dir {
        return;
    }
    for child in fs.list_dir(path).unwrap_or_default() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        collect_recursive(fs, &child, out, budget);
    }
}

fn kube_file(
    ctx: &Context<'_>,
    source: &KubePath,
    paths: &[String],
    mode: u32,
    owner: &str,
    recursive: bool,
) -> Outcome {
    let mut targets = kube_paths(ctx, source, paths);
    if targets.is_empty() {
        return Outcome::na("file not present on this node");
    }
    if recursive {
        let mut all = Vec::new();
        let mut budget = 10_000usize;
        for t in &targets {
            collect_recursive(ctx.fs, t, &mut all, &mut budget);
        }
        targets = all;
    }
    let (owners, groups): (Vec<String>, Vec<String>) = match owner.split_once(':') {
        Some((u, g)) => (vec![u.to_string()], vec![g.to_string()]),
        None => (Vec::new(), Vec::new()),
    };
    let mut bad = Vec::new();
    let mut evidence = Vec::new();
    let mut fixes = Vec::new();
    let mut errors = Vec::new();
    for p in &targets {
        if let Err(e) = check_attrs(
            ctx.fs,
            p,
            mode,
            &owners,
            &groups,
            &mut bad,
            &mut evidence,
            &mut fixes,
        ) {
            errors.push(e);
        }
    }
    let mut o = if !errors.is_empty() && bad.is_empty() {
        Outcome::error(errors.join("; "))
    } else if bad.is_empty() {
        Outcome::pass(format!("{} path(s) compliant", targets.len()))
    } else {
        Outcome::fail(bad.join("; "))
    };
    evidence.truncate(MAX_EVIDENCE);
    o.evidence = evidence;
    o.fixes = fixes;
    o
}

fn kube_flag(ctx: &Context<'_>, component: &str, flags: &[String], rule: &FlagRule) -> Outcome {
    let m = ctx.manifests();
    let Some(c) = m.components.get(component) else {
        if let Some(why) = m.broken.get(component) {
            return Outcome::error(format!("manifest unreadable: {why}"));
        }
        return Outcome::na(format!("no {component} static-pod manifest on this node"));
    };
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for f in flags {
        let (ok, why) = flag_rule(c.flags.get(f).map(String::as_str), rule);
        if ok {
            good.push(format!("--{f}: {why}"));
        } else {
            bad.push(format!("--{f}: {why}"));
        }
    }
    let o = if bad.is_empty() {
        Outcome::pass(good.join("; "))
    } else {
        Outcome::fail(bad.join("; "))
    };
    o.with_evidence(vec![c.file.clone()])
}

/// Apply a flag rule to an optional value; returns (ok, explanation).
pub fn flag_rule(value: Option<&str>, rule: &FlagRule) -> (bool, String) {
    let shown = value.map_or_else(|| "not set".to_string(), |v| format!("`{v}`"));
    let list = |v: &str| {
        v.split(',')
            .map(str::trim)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (ok, want) = match rule {
        FlagRule::Set => (
            value.is_some_and(|v| !v.is_empty()),
            "must be set".to_string(),
        ),
        FlagRule::NotSet => (value.is_none(), "must not be set".to_string()),
        FlagRule::Eq { value: w } => (
            value.is_some_and(|v| v.eq_ignore_ascii_case(w)),
            format!("must be {w}"),
        ),
        FlagRule::AbsentOrEq { value: w } => (
            value.is_none_or(|v| v.eq_ignore_ascii_case(w)),
            format!("must be {w} or unset"),
        ),
        FlagRule::NotEq { value: w } => (
            value.is_none_or(|v| !v.eq_ignore_ascii_case(w)),
            format!("must not be {w}"),
        ),
        FlagRule::Has { value: w } => (
            value.is_some_and(|v| list(v).iter().any(|x| x == w)),
            format!("must include {w}"),
        ),
        FlagRule::NotHas { value: w } => (
            value.is_none_or(|v| !list(v).iter().any(|x| x == w)),
            format!("must not include {w}"),
        ),
        FlagRule::Gte { value: w } => (
            value
                .and_then(|v| v.trim().parse::<i64>().ok())
                .is_some_and(|n| n >= *w),
            format!("must be ≥ {w}"),
        ),
    };
    (ok, format!("{shown}, {want}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_rules() {
        assert!(
            flag_rule(
                Some("Node,RBAC"),
                &FlagRule::Has {
                    value: "RBAC".into()
                }
            )
            .0
        );
        assert!(
            !flag_rule(
                None,
                &FlagRule::Has {
                    value: "RBAC".into()
                }
            )
            .0
        );
        assert!(
            flag_rule(
                None,
                &FlagRule::NotHas {
                    value: "AlwaysAdmit".into()
                }
            )
            .0
        );
        assert!(
            !flag_rule(
                Some("AlwaysAdmit,X"),
                &FlagRule::NotHas {
                    value: "AlwaysAdmit".into()
                }
            )
            .0
        );
        assert!(flag_rule(Some("30"), &FlagRule::Gte { value: 30 }).0);
        assert!(!flag_rule(Some("x"), &FlagRule::Gte { value: 30 }).0);
        assert!(
            flag_rule(
                None,
                &FlagRule::AbsentOrEq {
                    value: "false".into()
                }
            )
            .0
        );
        assert!(
            !flag_rule(
                Some("true"),
                &FlagRule::AbsentOrEq {
                    value: "false".into()
                }
            )
            .0
        );
        assert!(flag_rule(None, &FlagRule::NotSet).0);
        assert!(!flag_rule(Some(""), &FlagRule::Set).0);
        assert!(flag_rule(Some("x"), &FlagRule::NotEq { value: "y".into() }).0);
        assert!(
            flag_rule(
                Some("False"),
                &FlagRule::Eq {
                    value: "false".into()
                }
            )
            .0
        );
    }

    #[test]
    fn setting_rules() {
        let or = SshRule::IntRangeOr {
            min: 900,
            max: 99_999,
            or: 0,
        };
        assert!(ssh_rule("0", &or).0 && ssh_rule("900", &or).0);
        assert!(!ssh_rule("600", &or).0 && !ssh_rule("x", &or).0);
        let m = SshRule::ModeAtMost { mode: 0o640 };
        assert!(ssh_rule("0640", &m).0 && ssh_rule("0600", &m).0);
        assert!(!ssh_rule("0644", &m).0 && !ssh_rule("rw", &m).0);
    }

    #[test]
    fn ssh_rules() {
        assert!(
            ssh_rule(
                "10:30:60",
                &SshRule::MaxStartups {
                    start: 10,
                    rate: 30,
                    full: 60
                }
            )
            .0
        );
        assert!(
            !ssh_rule(
                "10:30:100",
                &SshRule::MaxStartups {
                    start: 10,
                    rate: 30,
                    full: 60
                }
            )
            .0
        );
        assert!(
            ssh_rule(
                "5",
                &SshRule::MaxStartups {
                    start: 10,
                    rate: 30,
                    full: 60
                }
            )
            .0
        );
        assert!(
            !ssh_rule(
                "a:b",
                &SshRule::MaxStartups {
                    start: 10,
                    rate: 30,
                    full: 60
                }
            )
            .0
        );
        assert!(
            !ssh_rule(
                "aes128-ctr,3des-cbc",
                &SshRule::NoneOf {
                    forbidden: vec!["3des-cbc".into()]
                }
            )
            .0
        );
        assert!(ssh_rule("4", &SshRule::IntRange { min: 1, max: 4 }).0);
        assert!(!ssh_rule("0", &SshRule::IntRange { min: 1, max: 4 }).0);
        assert!(
            !ssh_rule(
                "none",
                &SshRule::Not {
                    value: "none".into()
                }
            )
            .0
        );
    }
}
