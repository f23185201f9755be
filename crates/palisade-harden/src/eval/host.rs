//! Evaluators of the host items added for breadth: mounts, key/value
//! settings (PAM password quality, faillock, login.defs, journald,
//! rsyslog, auditd), PAM modules and password hashing, audit rules, login
//! banners, AppArmor profile modes and the GRUB password.
//!
//! Like the rest of [`crate::eval`], these only read through
//! [`crate::rootfs::RootFs`] (and `/proc`, `/sys` when the root is the
//! running system) and never write.

use crate::catalogue::{AuditReq, SettingFix, SshRule};
use crate::parse::{apparmor, audit, conf, fstab, pam, systemd, text};
use crate::report::Status;

use super::{Context, FixAction, Outcome, expand, ssh_rule};

/// Unit files that may hold `tmp.mount`, in precedence order.
const TMP_MOUNT_UNITS: &[&str] = &[
    "/etc/systemd/system/tmp.mount",
    "/usr/lib/systemd/system/tmp.mount",
    "/lib/systemd/system/tmp.mount",
    "/usr/share/systemd/tmp.mount",
];

/// Options and origin of the mount at `path`, if it is a separate mount.
fn find_mount(
    ctx: &Context<'_>,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<(Vec<String>, String)> {
    if ctx.fs.is_live()
        && let Ok(t) = std::fs::read_to_string("/proc/self/mounts")
    {
        // The running system is the truth when scanning `/`.
        return fstab::parse(&t)
            .0
            .into_iter()
            .rev()
            .find(|e| e.target == path)
            .map(|e| (e.options, "running system (/proc/self/mounts)".to_string()));
    }
    match ctx.fs.read_to_string("/etc/fstab") {
        Ok(t) => {
            let (entries, bad) = fstab::parse(&t);
            problems.extend(bad.into_iter().map(|b| format!("/etc/fstab {b}")));
            if let Some(e) = entries
                .into_iter()
                .rev()
                .find(|e| e.target == path && e.fstype != "swap")
            {
                return Some((e.options, format!("/etc/fstab:{}", e.line)));
            }
        }
        Err(e) if ctx.fs.exists("/etc/fstab") => problems.push(e.to_string()),
        Err(_) => {}
    }
    if path == "/tmp" && systemd::unit_state(ctx.fs, "tmp.mount") == systemd::UnitState::Enabled {
        let opts = TMP_MOUNT_UNITS
            .iter()
            .find_map(|u| ctx.fs.read_to_string(u).ok())
            .and_then(|t| fstab::unit_options(&t))
            .unwrap_or_default();
        return Some((opts, "tmp.mount (enabled)".to_string()));
    }
    if path == "/dev/shm"
        && ctx
            .installed(&["systemd".to_string()])
            .is_ok_and(|f| !f.is_empty())
    {
        return Some((
            vec!["rw".to_string(), "nosuid".to_string(), "nodev".to_string()],
            "systemd's built-in /dev/shm mount".to_string(),
        ));
    }
    None
}

pub(super) fn mount(ctx: &Context<'_>, path: &str, options: &[String]) -> Outcome {
    let path = fstab::normalize(path);
    let mut problems = Vec::new();
    let found = find_mount(ctx, &path, &mut problems);
    match (found, options.is_empty()) {
        (None, true) => Outcome::fail(format!("{path} is not a separate mount")),
        (None, false) => Outcome::na(format!("{path} is not a separate mount")),
        (Some((_, src)), true) => Outcome::pass(format!("{path} is mounted separately ({src})")),
        (Some((opts, src)), false) => {
            let missing: Vec<&str> = options
                .iter()
                .filter(|o| !opts.contains(o))
                .map(String::as_str)
                .collect();
            let o = if missing.is_empty() {
                Outcome::pass(format!("{path} has {} ({src})", options.join(",")))
            } else {
                Outcome::fail(format!("{path} lacks {} ({src})", missing.join(",")))
            };
            o.with_evidence(vec![format!("{path}: {}", opts.join(","))])
        }
    }
    .caveat(&problems)
}

/// Arguments of [`setting`] (the `setting` evaluator's fields).
pub(super) struct SettingSpec<'a> {
    pub files: &'a [String],
    pub syntax: conf::Syntax,
    pub section: Option<&'a str>,
    pub key: &'a str,
    pub rule: &'a SshRule,
    pub default: Option<&'a str>,
    pub packages: &'a [String],
    pub fix: Option<&'a SettingFix>,
}

pub(super) fn setting(ctx: &Context<'_>, s: &SettingSpec<'_>) -> Outcome {
    if !s.packages.is_empty() {
        match ctx.installed(s.packages) {
            Err(e) => return Outcome::error(e),
            Ok(f) if f.is_empty() => {
                return Outcome::na(format!("{} not installed", s.packages.join(" or ")));
            }
            Ok(_) => {}
        }
    }
    let (paths, mut problems) = expand(ctx.fs, s.files);
    let paths = read_order(paths);
    let mut found = None;
    let mut evidence = Vec::new();
    let mut setters: Vec<String> = Vec::new();
    for p in &paths {
        match ctx.fs.read_to_string(p) {
            Ok(t) => {
                if let Some(v) = conf::last(&t, s.syntax, s.section, s.key) {
                    evidence.push(format!("{} {v} ({p})", s.key));
                    setters.push(p.clone());
                    found = Some((v, format!("set in {p}")));
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let (value, origin) = match (found, s.default) {
        (Some(f), _) => f,
        (None, Some(d)) => (d.to_string(), "default".to_string()),
        (None, None) => (String::new(), "not set".to_string()),
    };
    let (ok, why) = if origin == "not set" {
        (
            false,
            format!("{} not set in {}", s.key, s.files.join(", ")),
        )
    } else {
        ssh_rule(&value, s.rule)
    };
    let mut o = if ok {
        Outcome::pass(format!("{} {value} ({origin})", s.key))
    } else if origin == "not set" {
        Outcome::fail(why)
    } else {
        Outcome::fail(format!("{} {value} ({origin}): {why}", s.key))
    };
    o.evidence = evidence;
    if !ok && let Some(f) = s.fix {
        // The drop-in, plus every file read after it that sets the key
        // (it would override the drop-in): those are set to the same value.
        let mut targets = vec![f.file.clone()];
        targets.extend(setters.into_iter().filter(|p| read_after(p, &f.file)));
        for file in targets {
            o.fixes.push(FixAction::SetConf {
                file,
                syntax: s.syntax,
                section: s.section.map(str::to_string),
                key: s.key.to_string(),
                value: f.value.clone(),
            });
        }
    }
    o.caveat(&problems)
}

fn split_path(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

/// The order programs with drop-in directories read files: files outside
/// `*.d` directories first (as listed), then drop-ins by file name across
/// all `*.d` directories; of two drop-ins with the same name the one in the
/// directory listed later (`/etc` after `/usr/lib`) replaces the other, as
/// systemd does.
fn read_order(paths: Vec<String>) -> Vec<String> {
    let (mut main, mut dropins): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for p in paths {
        if split_path(&p).0.ends_with(".d") {
            dropins.retain(|d| split_path(d).1 != split_path(&p).1);
            dropins.push(p);
        } else {
            main.push(p);
        }
    }
    dropins.sort_by(|a, b| split_path(a).1.cmp(split_path(b).1));
    main.extend(dropins);
    main
}

/// True when `other` is a drop-in read after `ours`: both in `*.d`
/// directories (or the same directory) and its file name sorts later, as
/// pwquality and systemd order drop-ins.
fn read_after(other: &str, ours: &str) -> bool {
    let split = |p: &str| -> (String, String) {
        match p.rsplit_once('/') {
            Some((d, n)) => (d.to_string(), n.to_string()),
            None => (String::new(), p.to_string()),
        }
    };
    let (od, on) = split(other);
    let (d, n) = split(ours);
    other != ours && (od == d || (od.ends_with(".d") && d.ends_with(".d"))) && on > n
}

/// Rules of a PAM file and the files it `@include`s (one level).
fn pam_rules(ctx: &Context<'_>, file: &str) -> Result<Vec<pam::PamLine>, String> {
    let t = ctx.fs.read_to_string(file).map_err(|e| e.to_string())?;
    let (mut rules, includes) = pam::parse(&t);
    for inc in includes {
        let path = if inc.starts_with('/') {
            inc
        } else {
            format!("/etc/pam.d/{inc}")
        };
        if let Ok(t) = ctx.fs.read_to_string(&path) {
            rules.extend(pam::parse(&t).0);
        }
    }
    Ok(rules)
}

pub(super) fn pam_module(ctx: &Context<'_>, file: &str, module: &str) -> Outcome {
    if !ctx.fs.exists("/etc/pam.d") {
        return Outcome::na("no PAM configuration (/etc/pam.d) in this root");
    }
    match pam_rules(ctx, file) {
        Err(e) => Outcome::fail(format!("{file} unreadable: {e}")),
        Ok(rules) => match rules.iter().find(|r| r.module_name() == module) {
            Some(r) => Outcome::pass(format!("{file}: {} {} {module}", r.kind, r.control)),
            None => Outcome::fail(format!("{module} is not used in {file}")),
        },
    }
}

/// Hash methods acceptable to the benchmark.
const GOOD_HASHES: &[&str] = &["yescrypt", "sha512"];
/// pam_unix arguments that select another method.
const OTHER_HASHES: &[&str] = &["md5", "bigcrypt", "sha256", "blowfish", "gost_yescrypt"];

pub(super) fn password_hash(ctx: &Context<'_>) -> Outcome {
    let file = "/etc/pam.d/common-password";
    let pam_arg = pam_rules(ctx, file).ok().and_then(|rules| {
        rules
            .into_iter()
            .filter(|r| r.kind == "password" && r.module_name() == "pam_unix.so")
            .find_map(|r| {
                r.args.into_iter().find(|a| {
                    GOOD_HASHES.contains(&a.as_str()) || OTHER_HASHES.contains(&a.as_str())
                })
            })
    });
    if let Some(a) = pam_arg {
        return if GOOD_HASHES.contains(&a.as_str()) {
            Outcome::pass(format!("pam_unix.so {a} in {file}"))
        } else {
            Outcome::fail(format!(
                "pam_unix.so {a} in {file}: want yescrypt or sha512"
            ))
        };
    }
    match ctx.fs.read_to_string("/etc/login.defs") {
        Ok(t) => match conf::last(&t, conf::Syntax::Space, None, "ENCRYPT_METHOD") {
            Some(m) if GOOD_HASHES.iter().any(|g| g.eq_ignore_ascii_case(&m)) => {
                Outcome::pass(format!("ENCRYPT_METHOD {m} in /etc/login.defs"))
            }
            Some(m) => Outcome::fail(format!(
                "ENCRYPT_METHOD {m} in /etc/login.defs: want YESCRYPT or SHA512"
            )),
            None => Outcome::fail(
                "no hash method in pam_unix.so and no ENCRYPT_METHOD in /etc/login.defs",
            ),
        },
        Err(_) if !ctx.fs.exists("/etc/pam.d") => {
            Outcome::na("no PAM configuration and no /etc/login.defs")
        }
        Err(e) => Outcome::fail(format!("/etc/login.defs unreadable: {e}")),
    }
}

pub(super) fn audit_rules(ctx: &Context<'_>, reqs: &[AuditReq]) -> Outcome {
    let patterns = [
        "/etc/audit/rules.d/*.rules".to_string(),
        "/etc/audit/audit.rules".to_string(),
    ];
    let (paths, mut problems) = expand(ctx.fs, &patterns);
    let mut rules = Vec::new();
    for p in &paths {
        match ctx.fs.read_to_string(p) {
            Ok(t) => rules.extend(audit::parse(&t)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let mut missing = Vec::new();
    for r in reqs {
        if let Some(w) = &r.watch
            && !audit::covers_watch(&rules, w, &r.perms)
        {
            missing.push(format!("-w {w} -p {}", r.perms));
        }
        if !r.syscalls.is_empty() {
            let arch = r.arch.as_deref().unwrap_or("b64");
            let m = audit::missing_syscalls(&rules, arch, &r.syscalls);
            if !m.is_empty() {
                missing.push(format!("-a always,exit -F arch={arch} -S {}", m.join(",")));
            }
        }
    }
    let o = if missing.is_empty() {
        Outcome::pass(format!(
            "{} rule(s) in {} file(s) cover it",
            rules.len(),
            paths.len()
        ))
    } else {
        Outcome::fail(format!("missing audit rules: {}", missing.join("; ")))
    };
    o.with_evidence(paths).caveat(&problems)
}

pub(super) fn banner(ctx: &Context<'_>, path: &str, missing: &str) -> Outcome {
    let os_id = ctx
        .fs
        .read_to_string("/etc/os-release")
        .or_else(|_| ctx.fs.read_to_string("/usr/lib/os-release"))
        .ok()
        .and_then(|t| text::shell_var(&t, "ID"));
    match ctx.fs.read_to_string(path) {
        Ok(t) => {
            let bad = conf::banner_problems(&t, os_id.as_deref());
            if bad.is_empty() {
                Outcome::pass(format!("{path} reveals no system information"))
            } else {
                let mut o = Outcome::fail(format!("{path} {}", bad.join(", ")));
                o.fixes.push(FixAction::Banner {
                    path: path.to_string(),
                });
                o
            }
        }
        Err(_) if !ctx.fs.exists(path) => match missing {
            "fail" => {
                let mut o = Outcome::fail(format!("{path} missing"));
                o.fixes.push(FixAction::Banner {
                    path: path.to_string(),
                });
                o
            }
            _ => Outcome::pass(format!("{path} absent")),
        },
        Err(e) => Outcome::error(e.to_string()),
    }
}

pub(super) fn apparmor_profiles(ctx: &Context<'_>, allow_complain: bool) -> Outcome {
    match ctx.installed(&["apparmor".to_string()]) {
        Err(e) => return Outcome::error(e),
        Ok(f) if f.is_empty() => return Outcome::fail("apparmor is not installed"),
        Ok(_) => {}
    }
    let dir = "/etc/apparmor.d";
    let mut profiles: Vec<(String, apparmor::Mode)> = Vec::new();
    let mut problems = Vec::new();
    for p in ctx.fs.list_dir(dir).unwrap_or_default() {
        let name = p.rsplit('/').next().unwrap_or_default().to_string();
        if name.starts_with('.') || name.contains(".dpkg-") || name.ends_with('~') {
            continue;
        }
        if !ctx.fs.symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let disabled = ctx
            .fs
            .symlink_metadata(&format!("{dir}/disable/{name}"))
            .is_ok();
        let forced = ctx
            .fs
            .symlink_metadata(&format!("{dir}/force-complain/{name}"))
            .is_ok();
        match ctx.fs.read_to_string(&p) {
            Ok(t) => {
                for (header, mode) in apparmor::profile_modes(&t) {
                    let mode = if disabled {
                        apparmor::Mode::Other
                    } else if forced && mode == apparmor::Mode::Enforce {
                        apparmor::Mode::Complain
                    } else {
                        mode
                    };
                    let label = if disabled {
                        format!("{name}: {header} (disabled)")
                    } else {
                        format!("{name}: {header}")
                    };
                    profiles.push((label, mode));
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if ctx.fs.is_live()
        && let Ok(t) = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
    {
        profiles.extend(
            apparmor::parse_loaded(&t)
                .into_iter()
                .map(|(n, m)| (format!("loaded: {n}"), m)),
        );
    }
    if profiles.is_empty() {
        return Outcome::fail(format!("no AppArmor profiles in {dir}")).caveat(&problems);
    }
    let bad: Vec<String> = profiles
        .iter()
        .filter(|(_, m)| match m {
            apparmor::Mode::Enforce => false,
            apparmor::Mode::Complain => !allow_complain,
            apparmor::Mode::Other => true,
        })
        .map(|(n, m)| format!("{n} ({m:?})").to_lowercase())
        .collect();
    let want = if allow_complain {
        "enforce or complain"
    } else {
        "enforce"
    };
    let mut o = if bad.is_empty() {
        Outcome::pass(format!("{} profile(s), all in {want} mode", profiles.len()))
    } else {
        Outcome::fail(format!(
            "{} of {} profile(s) not in {want} mode",
            bad.len(),
            profiles.len()
        ))
    };
    o.evidence = bad.into_iter().take(super::MAX_EVIDENCE).collect();
    o.caveat(&problems)
}

pub(super) fn grub_password(ctx: &Context<'_>) -> Outcome {
    let Some(cfg) = ["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"]
        .into_iter()
        .find(|p| ctx.fs.exists(p))
    else {
        return Outcome::na("no grub.cfg in this root");
    };
    match ctx.fs.read_to_string(cfg) {
        Ok(t) => match conf::grub_password(&t) {
            (true, true) => Outcome::pass(format!("superusers and password_pbkdf2 set in {cfg}")),
            (su, pw) => {
                let mut why = Vec::new();
                if !su {
                    why.push("no `set superusers=`");
                }
                if !pw {
                    why.push("no `password_pbkdf2`");
                }
                Outcome::fail(format!("{cfg}: {}", why.join(", ")))
            }
        },
        Err(e) => Outcome::new(Status::Error, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{read_after, read_order};

    #[test]
    fn systemd_drop_in_order() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let got = read_order(v(&[
            "/etc/systemd/journald.conf",
            "/usr/lib/systemd/journald.conf.d/10-a.conf",
            "/usr/lib/systemd/journald.conf.d/70-b.conf",
            "/etc/systemd/journald.conf.d/10-a.conf",
            "/etc/systemd/journald.conf.d/50-c.conf",
        ]));
        assert_eq!(
            got,
            v(&[
                "/etc/systemd/journald.conf",
                "/etc/systemd/journald.conf.d/10-a.conf",
                "/etc/systemd/journald.conf.d/50-c.conf",
                "/usr/lib/systemd/journald.conf.d/70-b.conf",
            ])
        );
    }

    #[test]
    fn drop_in_order() {
        let ours = "/etc/security/pwquality.conf.d/60-palisade.conf";
        assert!(read_after(
            "/etc/security/pwquality.conf.d/90-late.conf",
            ours
        ));
        assert!(!read_after(
            "/etc/security/pwquality.conf.d/50-site.conf",
            ours
        ));
        assert!(!read_after("/etc/security/pwquality.conf", ours));
        assert!(!read_after(ours, ours));
        let j = "/etc/systemd/journald.conf.d/60-palisade.conf";
        assert!(read_after(
            "/usr/lib/systemd/journald.conf.d/99-vendor.conf",
            j
        ));
        assert!(!read_after("/etc/systemd/journald.conf", j));
    }
}
