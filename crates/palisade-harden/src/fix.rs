//! Idempotent remediation with a journal, and rollback.
//!
//! Holds [`fix`], [`rollback`] and the [`Journal`] format. `fix` scans,
//! collects the [`FixAction`]s of failing checks and applies them,
//! preferring drop-in files:
//!
//! * sshd: `/etc/ssh/sshd_config.d/00-palisade-hardening.conf`; because the
//!   first value wins, `sshd_config` must include `sshd_config.d/*.conf`
//!   before its own settings: if its first directive is not such an
//!   `Include`, one is added at the top;
//! * sysctl: `/etc/sysctl.d/60-palisade-hardening.conf`; assignments of the
//!   same keys in files applied *later* (higher names, `/etc/sysctl.conf`)
//!   are commented out so the drop-in wins;
//! * modules: `/etc/modprobe.d/palisade-hardening.conf`;
//! * permissions: chmod/chown in place.
//!
//! Every file touched is recorded first (previous bytes or absence, mode,
//! owner) in `<root>/var/lib/palisade/harden/journal.json`; a second `fix`
//! keeps the oldest record, so `rollback` returns to the state before the
//! first fix, byte for byte. Live sysctl values are written (and journaled)
//! only when the root is `/` and not in dry-run. Packages and services are
//! never removed or disabled here: those findings are manual. Never
//! touches AllowUsers/DenyUsers, and keeps `PermitRootLogin
//! prohibit-password` when root holds the only SSH keys (see
//! [`crate::eval::root_is_only_key_holder`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalogue;
use crate::error::{Error, Result};
use crate::eval::FixAction;
use crate::parse::{conf, kube, sshd, sysctl, text};
use crate::rootfs::RootFs;
use crate::scan::scan_fs;

/// In-root path of the journal.
pub const JOURNAL_PATH: &str = "/var/lib/palisade/harden/journal.json";
/// sshd drop-in written by `fix`.
pub const SSHD_DROPIN: &str = "/etc/ssh/sshd_config.d/00-palisade-hardening.conf";
/// sysctl drop-in written by `fix`.
pub const SYSCTL_DROPIN: &str = "/etc/sysctl.d/60-palisade-hardening.conf";
/// modprobe drop-in written by `fix`.
pub const MODPROBE_DROPIN: &str = "/etc/modprobe.d/palisade-hardening.conf";
/// sudoers drop-in written by `fix` (no `.` in the name: sudo skips those).
pub const SUDOERS_DROPIN: &str = "/etc/sudoers.d/60-palisade-hardening";
/// APT periodic drop-in written by `fix`.
pub const APT_PERIODIC: &str = "/etc/apt/apt.conf.d/20auto-upgrades";
/// Text `fix` writes into login banners.
pub const BANNER_TEXT: &str =
    "Authorized users only. All activity may be monitored and reported.\n";
const HEADER: &str = "# Written by `palisade harden fix`; `palisade harden rollback` removes it.\n";

/// Options for [`fix`].
#[derive(Debug, Clone)]
pub struct FixOptions {
    /// Profile whose failing checks are fixed.
    pub profile: String,
    /// Plan only: report the changes, write nothing.
    pub dry_run: bool,
}

impl Default for FixOptions {
    fn default() -> Self {
        Self {
            profile: "level1".to_string(),
            dry_run: false,
        }
    }
}

/// What kind of object a journal entry restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A file whose content (or absence) is recorded.
    File,
    /// A directory `fix` created.
    Dir,
    /// Only mode and ownership were changed.
    Attrs,
    /// A live kernel parameter (`/proc/sys`).
    LiveSysctl,
}

/// One recorded previous state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Kind.
    pub kind: EntryKind,
    /// In-root path (or sysctl key for `live_sysctl`).
    pub path: String,
    /// Whether it existed before.
    pub existed: bool,
    /// Previous content, hex-encoded (files that existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hex: Option<String>,
    /// Previous mode bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Previous owner uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Previous group gid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Previous live value (`live_sysctl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A human-readable change made (or planned) by `fix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Checks this change remediates.
    pub checks: Vec<String>,
    /// What was done.
    pub description: String,
}

/// The fix journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Format version (1).
    pub version: u32,
    /// Previous states, in the order they were recorded.
    pub entries: Vec<Entry>,
    /// Changes made (all runs), or planned (dry run).
    pub changes: Vec<Change>,
    /// Failing checks left for manual remediation (last run).
    #[serde(default)]
    pub manual: Vec<String>,
    /// True when this journal describes a dry run (nothing written).
    #[serde(default)]
    pub dry_run: bool,
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

struct Fixer<'a> {
    fs: &'a RootFs,
    journal: Journal,
    recorded: BTreeSet<(String, bool)>,
    dry_run: bool,
}

impl Fixer<'_> {
    /// Record a file's state before its first change.
    fn record_file(&mut self, path: &str) -> Result<()> {
        if !self.recorded.insert((path.to_string(), true)) {
            return Ok(());
        }
        let entry = match self.fs.symlink_metadata(path) {
            Ok(m) if m.is_file() => Entry {
                kind: EntryKind::File,
                path: path.to_string(),
                existed: true,
                content_hex: Some(hex(&self.fs.read(path)?)),
                mode: Some(m.mode() & 0o7777),
                uid: Some(m.uid()),
                gid: Some(m.gid()),
                value: None,
            },
            Ok(_) => {
                return Err(Error::io(
                    self.fs.root().join(path.trim_start_matches('/')),
                    std::io::Error::other("refusing to replace a non-regular file"),
                ));
            }
            Err(_) => Entry {
                kind: EntryKind::File,
                path: path.to_string(),
                existed: false,
                content_hex: None,
                mode: None,
                uid: None,
                gid: None,
                value: None,
            },
        };
        self.journal.entries.push(entry);
        Ok(())
    }

    fn record_attrs(&mut self, path: &str) -> Result<()> {
        if self.recorded.contains(&(path.to_string(), true))
            || !self.recorded.insert((path.to_string(), false))
        {
            return Ok(());
        }
        let m = self.fs.metadata(path)?;
        self.journal.entries.push(Entry {
            kind: EntryKind::Attrs,
            path: path.to_string(),
            existed: true,
            content_hex: None,
            mode: Some(m.mode() & 0o7777),
            uid: Some(m.uid()),
            gid: Some(m.gid()),
            value: None,
        });
        Ok(())
    }

    fn ensure_dir(&mut self, dir: &str) -> Result<()> {
        if self.fs.exists(dir) {
            return Ok(());
        }
        if let Some((parent, _)) = dir.rsplit_once('/')
            && !parent.is_empty()
        {
            self.ensure_dir(parent)?;
        }
        if self.recorded.insert((dir.to_string(), true)) {
            self.journal.entries.push(Entry {
                kind: EntryKind::Dir,
                path: dir.to_string(),
                existed: false,
                content_hex: None,
                mode: None,
                uid: None,
                gid: None,
                value: None,
            });
        }
        if !self.dry_run {
            let host = self.fs.resolve(dir, false)?;
            std::fs::create_dir(&host).map_err(|e| Error::io(&host, e))?;
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| Error::io(&host, e))?;
        }
        Ok(())
    }

    /// Edit an existing configuration file: a symlink is followed (inside
    /// the root) and its target is written and journaled.
    fn edit_file(&mut self, path: &str, content: &[u8]) -> Result<bool> {
        let target = self.fs.in_root(&self.fs.resolve(path, true)?);
        self.write_file(&target, content, 0o644)
    }

    /// Write a file that may exist (followed inside the root when it is a
    /// symlink) or create it.
    fn edit_or_create(&mut self, path: &str, content: &[u8], mode: u32) -> Result<bool> {
        if self.fs.symlink_metadata(path).is_ok() {
            self.edit_file(path, content)
        } else {
            self.write_file(path, content, mode)
        }
    }

    /// Write a whole file (journaled), keeping mode/owner of an existing
    /// file or using `mode` and root:root for a new one. A symlink at
    /// `path` is refused (a planted link must not redirect our drop-ins).
    fn write_file(&mut self, path: &str, content: &[u8], mode: u32) -> Result<bool> {
        if let Ok(old) = self.fs.read(path)
            && old == content
        {
            return Ok(false);
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.ensure_dir(parent)?;
        }
        self.record_file(path)?;
        if self.dry_run {
            return Ok(true);
        }
        let host = self.fs.resolve(path, true)?;
        let existing = std::fs::metadata(&host).ok();
        let tmp = host.with_extension("palisade-tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(content).map_err(|e| Error::io(&tmp, e))?;
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        let (mode, uid, gid) = match &existing {
            Some(m) => (m.mode() & 0o7777, m.uid(), m.gid()),
            None => (mode, 0, 0),
        };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&tmp, e))?;
        // Ownership changes need privileges; unprivileged runs (tests) keep
        // their own ids.
        let _ = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid));
        std::fs::rename(&tmp, &host).map_err(|e| Error::io(&host, e))?;
        Ok(true)
    }
}

/// Merge `key value` lines: existing drop-in lines, then new ones override.
fn merged_dropin(
    existing: Option<String>,
    new: &BTreeMap<String, String>,
    sep: &str,
    key_of: impl Fn(&str) -> Option<String>,
) -> String {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for line in existing.unwrap_or_default().lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(k) = key_of(l) {
            map.insert(k, l.to_string());
        }
    }
    for (k, v) in new {
        map.insert(k.to_lowercase(), format!("{k}{sep}{v}"));
    }
    let mut out = HEADER.to_string();
    for line in map.values() {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// True when the first directive of `sshd_config` includes sshd_config.d.
fn include_first(text: &str) -> bool {
    text.lines()
        .find_map(sshd::split_line)
        .is_some_and(|(kw, args)| {
            kw == "include"
                && args
                    .iter()
                    .any(|a| a.contains("sshd_config.d/") && a.ends_with("*.conf"))
        })
}

/// Run `fix` on a root.
pub fn fix(root: &Path, opts: &FixOptions) -> Result<Journal> {
    let fs = RootFs::open(root)?;
    let (report, actions) = scan_fs(&fs, &opts.profile, |_, _, _| {})?;
    let journal_host = fs.root().join(JOURNAL_PATH.trim_start_matches('/'));
    let mut journal = match std::fs::read(&journal_host) {
        Ok(b) => serde_json::from_slice::<Journal>(&b).map_err(|e| Error::Journal {
            path: journal_host.clone(),
            reason: e.to_string(),
        })?,
        Err(_) => Journal {
            version: 1,
            ..Journal::default()
        },
    };
    journal.dry_run = opts.dry_run;
    let recorded = journal
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.kind != EntryKind::Attrs))
        .collect();
    let mut fx = Fixer {
        fs: &fs,
        journal,
        recorded,
        dry_run: opts.dry_run,
    };
    let kube_node = kube::load_kubelet(&fs).present();
    let mut ssh: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut sysctls: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut attrs: Vec<(String, FixAction)> = Vec::new();
    let mut other: Vec<(String, FixAction)> = Vec::new();
    let mut skipped = Vec::new();
    for (check, list) in &actions {
        if check.breaks_k8s_node && kube_node && opts.profile != "k8s-node" {
            skipped.push(format!(
                "{}: not fixed on a Kubernetes node (use --profile k8s-node)",
                check.id
            ));
            continue;
        }
        for a in list {
            match a {
                FixAction::SshSet { keyword, value } => {
                    ssh.entry(keyword.clone())
                        .or_insert_with(|| (value.clone(), Vec::new()))
                        .1
                        .push(check.id.clone());
                }
                FixAction::Sysctl { key, value } => {
                    sysctls
                        .entry(key.clone())
                        .or_insert_with(|| (value.clone(), Vec::new()))
                        .1
                        .push(check.id.clone());
                }
                FixAction::Module { module } => {
                    modules
                        .entry(module.clone())
                        .or_default()
                        .push(check.id.clone());
                }
                FixAction::Chmod { .. } | FixAction::Chown { .. } => {
                    attrs.push((check.id.clone(), a.clone()));
                }
                _ => other.push((check.id.clone(), a.clone())),
            }
        }
    }
    let mut changes = Vec::new();
    apply_ssh(&mut fx, &ssh, &mut changes)?;
    apply_sysctl(&mut fx, &sysctls, &mut changes)?;
    apply_modules(&mut fx, &modules, &mut changes)?;
    apply_other(&mut fx, &other, &mut changes)?;
    for (id, a) in &attrs {
        apply_attrs(&mut fx, id, a, &mut changes)?;
    }
    let manual: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.status == crate::Status::Fail && !f.fixable)
        .map(|f| f.id.clone())
        .chain(skipped)
        .collect();
    let mut journal = fx.journal;
    for c in &mut changes {
        let mut seen = BTreeSet::new();
        c.checks.retain(|id| seen.insert(id.clone()));
    }
    journal.changes.extend(changes);
    journal.manual = manual;
    if !opts.dry_run && !journal.entries.is_empty() {
        save_journal(&fs, &journal)?;
    }
    Ok(journal)
}

fn save_journal(fs: &RootFs, journal: &Journal) -> Result<()> {
    let host = fs.resolve(JOURNAL_PATH, false)?;
    if let Some(parent) = host.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let bytes = serde_json::to_vec_pretty(journal)?;
    let tmp = host.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &host).map_err(|e| Error::io(&host, e))
}

fn apply_ssh(
    fx: &mut Fixer<'_>,
    ssh: &BTreeMap<String, (String, Vec<String>)>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    if ssh.is_empty() {
        return Ok(());
    }
    let main = "/etc/ssh/sshd_config";
    // Without a readable main file the ssh checks are N/A or ERROR, never
    // fixable; nothing to do.
    let Ok(text) = fx.fs.read_to_string(main) else {
        return Ok(());
    };
    if !include_first(&text) {
        let new = format!(
            "# Added by palisade harden fix: drop-ins must come first (first value wins).\n\
             Include /etc/ssh/sshd_config.d/*.conf\n{text}"
        );
        if fx.edit_file(main, new.as_bytes())? {
            changes.push(Change {
                checks: ssh.values().flat_map(|v| v.1.clone()).collect(),
                description: format!(
                    "added `Include /etc/ssh/sshd_config.d/*.conf` at the top of {main}"
                ),
            });
        }
    }
    let new: BTreeMap<String, String> = ssh.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    let content = merged_dropin(fx.fs.read_to_string(SSHD_DROPIN).ok(), &new, " ", |l| {
        sshd::split_line(l).map(|(k, _)| k)
    });
    if fx.write_file(SSHD_DROPIN, content.as_bytes(), 0o600)? {
        changes.push(Change {
            checks: ssh.values().flat_map(|v| v.1.clone()).collect(),
            description: format!(
                "set {} in {SSHD_DROPIN} (reload sshd to apply)",
                new.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(())
}

fn apply_sysctl(
    fx: &mut Fixer<'_>,
    sysctls: &BTreeMap<String, (String, Vec<String>)>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let checks: Vec<String> = sysctls.values().flat_map(|v| v.1.clone()).collect();
    let new: BTreeMap<String, String> = sysctls
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    let content = merged_dropin(fx.fs.read_to_string(SYSCTL_DROPIN).ok(), &new, " = ", |l| {
        l.split_once('=')
            .map(|(k, _)| sysctl::normalize_key(k).to_lowercase())
    });
    if fx.write_file(SYSCTL_DROPIN, content.as_bytes(), 0o644)? {
        changes.push(Change {
            checks: checks.clone(),
            description: format!(
                "set {} in {SYSCTL_DROPIN}",
                new.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    // Comment out conflicting assignments in files applied after ours.
    let mut files = sysctl::ordered_files(fx.fs);
    if !files.iter().any(|f| f == SYSCTL_DROPIN) {
        files.push(SYSCTL_DROPIN.to_string());
        files.sort_by(|a, b| {
            let name = |p: &str| {
                if p == "/etc/sysctl.conf" {
                    "\u{10FFFF}".to_string()
                } else {
                    p.rsplit('/').next().unwrap_or("").to_string()
                }
            };
            name(a).cmp(&name(b))
        });
    }
    let ours = files.iter().position(|f| f == SYSCTL_DROPIN).unwrap_or(0);
    for file in files.iter().skip(ours + 1) {
        let Ok(text) = fx.fs.read_to_string(file) else {
            continue;
        };
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let conflicting = line.split_once('=').is_some_and(|(k, v)| {
                let k = sysctl::normalize_key(k);
                !k.starts_with('#')
                    && !k.starts_with(';')
                    && new.get(&k).is_some_and(|want| want != v.trim())
            });
            if conflicting {
                out.push_str("# palisade-harden: ");
                changed = true;
            }
            out.push_str(line);
        }
        if changed && fx.edit_file(file, out.as_bytes())? {
            changes.push(Change {
                checks: checks.clone(),
                description: format!("commented out conflicting settings in {file}"),
            });
        }
    }
    if fx.fs.is_live() && !fx.dry_run {
        for (key, value) in &new {
            let proc = format!("/proc/sys/{}", key.replace('.', "/"));
            let Ok(old) = std::fs::read_to_string(&proc) else {
                continue;
            };
            if old.trim() == value {
                continue;
            }
            if std::fs::write(&proc, value).is_ok() {
                if fx.recorded.insert((format!("sysctl:{key}"), true)) {
                    fx.journal.entries.push(Entry {
                        kind: EntryKind::LiveSysctl,
                        path: key.clone(),
                        existed: true,
                        content_hex: None,
                        mode: None,
                        uid: None,
                        gid: None,
                        value: Some(old.trim().to_string()),
                    });
                }
                changes.push(Change {
                    checks: checks.clone(),
                    description: format!("set live {key}={value}"),
                });
            }
        }
    }
    Ok(())
}

fn apply_modules(
    fx: &mut Fixer<'_>,
    modules: &BTreeMap<String, Vec<String>>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    if modules.is_empty() {
        return Ok(());
    }
    let mut lines: BTreeSet<String> = fx
        .fs
        .read_to_string(MODPROBE_DROPIN)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for m in modules.keys() {
        lines.insert(format!("install {m} /bin/false"));
        lines.insert(format!("blacklist {m}"));
    }
    let mut content = HEADER.to_string();
    for l in &lines {
        content.push_str(l);
        content.push('\n');
    }
    if fx.write_file(MODPROBE_DROPIN, content.as_bytes(), 0o644)? {
        changes.push(Change {
            checks: modules.values().flatten().cloned().collect(),
            description: format!(
                "disabled and blacklisted {} in {MODPROBE_DROPIN}",
                modules.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(())
}

/// Settings, banners, the sudoers drop-in and APT periodic configuration.
fn apply_other(
    fx: &mut Fixer<'_>,
    actions: &[(String, FixAction)],
    changes: &mut Vec<Change>,
) -> Result<()> {
    // file → (new text, checks, what was set)
    let mut files: BTreeMap<String, (String, Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut sudo: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, a) in actions {
        match a {
            FixAction::SetConf {
                file,
                syntax,
                section,
                key,
                value,
            } => {
                if !files.contains_key(file) {
                    let start = match fx.fs.read_to_string(file) {
                        Ok(t) => t,
                        Err(_) if !fx.fs.exists(file) => HEADER.to_string(),
                        Err(e) => return Err(e),
                    };
                    files.insert(file.clone(), (start, Vec::new(), Vec::new()));
                }
                if let Some(entry) = files.get_mut(file) {
                    entry.0 = conf::set_key(&entry.0, *syntax, section.as_deref(), key, value);
                    entry.1.push(id.clone());
                    entry.2.push(conf::render(*syntax, key, value));
                }
            }
            FixAction::Banner { path } => {
                let target = fx.fs.in_root(&fx.fs.resolve(path, true)?);
                if fx.write_file(&target, BANNER_TEXT.as_bytes(), 0o644)? {
                    changes.push(Change {
                        checks: vec![id.clone()],
                        description: format!("replaced {path} with a neutral warning banner"),
                    });
                }
            }
            FixAction::SudoDefault { option } => {
                sudo.entry(option.clone()).or_default().push(id.clone());
            }
            FixAction::AutoUpgrades => {
                let start = fx.fs.read_to_string(APT_PERIODIC).unwrap_or_default();
                let mut text = start.clone();
                for key in [
                    "APT::Periodic::Update-Package-Lists",
                    "APT::Periodic::Unattended-Upgrade",
                ] {
                    text = conf::set_key(&text, conf::Syntax::Space, None, key, "\"1\";");
                }
                if fx.edit_or_create(APT_PERIODIC, text.as_bytes(), 0o644)? {
                    changes.push(Change {
                        checks: vec![id.clone()],
                        description: format!(
                            "enabled daily package lists and unattended upgrades in {APT_PERIODIC}"
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    for (file, (content, checks, set)) in &files {
        if fx.edit_or_create(file, content.as_bytes(), 0o644)? {
            changes.push(Change {
                checks: checks.clone(),
                description: format!("set {} in {file}", set.join(", ")),
            });
        }
    }
    if !sudo.is_empty() {
        apply_sudo(fx, &sudo, changes)?;
    }
    Ok(())
}

/// Write the sudoers drop-in (mode 0440). `/etc/sudoers` is never edited;
/// the drop-in is validated by parsing it back before and after writing.
fn apply_sudo(
    fx: &mut Fixer<'_>,
    options: &BTreeMap<String, Vec<String>>,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let mut lines: BTreeSet<String> = fx
        .fs
        .read_to_string(SUDOERS_DROPIN)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim_start().starts_with("Defaults"))
        .map(str::to_string)
        .collect();
    for o in options.keys() {
        lines.insert(format!("Defaults {o}"));
    }
    let mut content = HEADER.to_string();
    for l in &lines {
        content.push_str(l);
        content.push('\n');
    }
    let invalid = |text: &str| {
        let parsed = text::sudoers_defaults(text);
        let bad_line = text.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && !l.starts_with("Defaults ")
        });
        bad_line || options.keys().any(|o| !parsed.contains(o))
    };
    if invalid(&content) {
        return Err(Error::io(
            SUDOERS_DROPIN,
            std::io::Error::other("generated sudoers drop-in does not parse back"),
        ));
    }
    if fx.write_file(SUDOERS_DROPIN, content.as_bytes(), 0o440)? {
        if !fx.dry_run {
            let back = fx.fs.read_to_string(SUDOERS_DROPIN)?;
            if back != content || invalid(&back) {
                return Err(Error::io(
                    SUDOERS_DROPIN,
                    std::io::Error::other("sudoers drop-in read back differs"),
                ));
            }
        }
        changes.push(Change {
            checks: options.values().flatten().cloned().collect(),
            description: format!(
                "set {} in {SUDOERS_DROPIN} (mode 0440)",
                options
                    .keys()
                    .map(|o| format!("Defaults {o}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(())
}

fn apply_attrs(
    fx: &mut Fixer<'_>,
    id: &str,
    a: &FixAction,
    changes: &mut Vec<Change>,
) -> Result<()> {
    match a {
        FixAction::Chmod { path, mode } => {
            fx.record_attrs(path)?;
            if !fx.dry_run {
                let host = fx.fs.resolve(path, true)?;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| Error::io(&host, e))?;
            }
            changes.push(Change {
                checks: vec![id.to_string()],
                description: format!("chmod {mode:04o} {path}"),
            });
        }
        FixAction::Chown { path, uid, gid } => {
            fx.record_attrs(path)?;
            if !fx.dry_run {
                let host = fx.fs.resolve(path, true)?;
                std::os::unix::fs::chown(&host, Some(*uid), Some(*gid))
                    .map_err(|e| Error::io(&host, e))?;
            }
            changes.push(Change {
                checks: vec![id.to_string()],
                description: format!("chown {uid}:{gid} {path}"),
            });
        }
        _ => {}
    }
    Ok(())
}

/// Restore every journaled state (newest first) and remove the journal.
pub fn rollback(root: &Path) -> Result<Journal> {
    let fs = RootFs::open(root)?;
    let host = fs.resolve(JOURNAL_PATH, false)?;
    let bytes = std::fs::read(&host).map_err(|e| Error::Journal {
        path: host.clone(),
        reason: format!("cannot read: {e} (nothing to roll back?)"),
    })?;
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| Error::Journal {
        path: host.clone(),
        reason: e.to_string(),
    })?;
    for e in journal.entries.iter().rev() {
        restore(&fs, e)?;
    }
    std::fs::remove_file(&host).map_err(|e| Error::io(&host, e))?;
    // Remove the journal's own directories when empty.
    for dir in ["/var/lib/palisade/harden", "/var/lib/palisade"] {
        if let Ok(h) = fs.resolve(dir, false) {
            let _ = std::fs::remove_dir(h);
        }
    }
    Ok(journal)
}

fn restore(fs: &RootFs, e: &Entry) -> Result<()> {
    match e.kind {
        EntryKind::LiveSysctl => {
            if let (true, Some(v)) = (fs.is_live(), &e.value) {
                let proc = format!("/proc/sys/{}", e.path.replace('.', "/"));
                std::fs::write(&proc, v).map_err(|err| Error::io(proc, err))?;
            }
        }
        EntryKind::Dir => {
            let host = fs.resolve(&e.path, false)?;
            // Only removed when empty: never delete something added later.
            let _ = std::fs::remove_dir(host);
        }
        EntryKind::File if !e.existed => {
            let host = fs.resolve(&e.path, false)?;
            match std::fs::remove_file(&host) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(host, err)),
            }
        }
        EntryKind::File => {
            let content =
                e.content_hex
                    .as_deref()
                    .and_then(unhex)
                    .ok_or_else(|| Error::Journal {
                        path: e.path.clone().into(),
                        reason: "bad content_hex".to_string(),
                    })?;
            let host = fs.resolve(&e.path, true)?;
            std::fs::write(&host, content).map_err(|err| Error::io(&host, err))?;
            set_attrs(&host, e)?;
        }
        EntryKind::Attrs => {
            let host = fs.resolve(&e.path, true)?;
            set_attrs(&host, e)?;
        }
    }
    Ok(())
}

fn set_attrs(host: &Path, e: &Entry) -> Result<()> {
    if e.uid.is_some() || e.gid.is_some() {
        // Best effort when unprivileged: restoring to the same ids is a no-op.
        if let Err(err) = std::os::unix::fs::chown(host, e.uid, e.gid) {
            let meta = std::fs::metadata(host).map_err(|x| Error::io(host, x))?;
            if Some(meta.uid()) != e.uid || Some(meta.gid()) != e.gid {
                return Err(Error::io(host, err));
            }
        }
    }
    if let Some(mode) = e.mode {
        std::fs::set_permissions(host, std::fs::Permissions::from_mode(mode))
            .map_err(|err| Error::io(host, err))?;
    }
    Ok(())
}

/// Names of all profiles (for the CLI's help).
pub fn profiles() -> &'static [&'static str] {
    catalogue::PROFILES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = b"\x00\xffabc\n";
        assert_eq!(unhex(&hex(b)).unwrap(), b);
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }

    #[test]
    fn include_detection() {
        assert!(include_first(
            "# c\n\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 22\n"
        ));
        assert!(!include_first(
            "Port 22\nInclude /etc/ssh/sshd_config.d/*.conf\n"
        ));
        assert!(!include_first(""));
    }

    #[test]
    fn dropin_merge_overrides_and_keeps() {
        let mut new = BTreeMap::new();
        new.insert("MaxAuthTries".to_string(), "4".to_string());
        let out = merged_dropin(
            Some("# x\nmaxauthtries 6\nLogLevel VERBOSE\n".into()),
            &new,
            " ",
            |l| sshd::split_line(l).map(|(k, _)| k),
        );
        assert!(out.contains("MaxAuthTries 4\n"));
        assert!(out.contains("LogLevel VERBOSE\n"));
        assert!(!out.contains("maxauthtries 6"));
    }
}
