//! Linux audit rules (`audit.rules`, `rules.d/*.rules`, `auditctl -l`
//! format).
//!
//! Holds [`AuditRule`], [`parse`], [`covers_watch`] and
//! [`missing_syscalls`]: a rule set covers a requirement when a watch
//! (`-w PATH -p PERMS`, or `-a always,exit -F path=PATH -F perm=PERMS`)
//! grants the permissions asked for, or when
//! syscall rules for the architecture together list every syscall asked
//! for. Never judges which requirements a benchmark has: that is data in
//! the catalogue.

use std::collections::BTreeSet;

/// One parsed rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRule {
    /// Watched path (`-w`, `-F path=`, `-F dir=`).
    pub watch: Option<String>,
    /// Permissions (`-p`, `-F perm=`).
    pub perms: String,
    /// `-a` list,action (`always,exit`), normalised to `action,list` order.
    pub action: Option<String>,
    /// `-F arch=` value.
    pub arch: Option<String>,
    /// Syscalls (`-S`, comma lists and repeats merged).
    pub syscalls: BTreeSet<String>,
}

/// Parse rules text: one rule per line; `#` comments and control lines
/// (`-D`, `-b`, `-f`, `-e`) give no rule.
pub fn parse(text: &str) -> Vec<AuditRule> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        let mut r = AuditRule::default();
        let mut i = 0usize;
        while let Some(t) = toks.get(i) {
            let next = toks.get(i + 1).copied();
            let mut used = 1usize;
            match *t {
                "-w" => {
                    r.watch = next.map(str::to_string);
                    used = 2;
                }
                "-p" => {
                    r.perms = next.unwrap_or_default().to_string();
                    used = 2;
                }
                "-a" | "-A" => {
                    r.action = next.map(|a| {
                        let mut parts: Vec<&str> = a.split(',').collect();
                        parts.sort_unstable();
                        parts.join(",")
                    });
                    used = 2;
                }
                "-S" => {
                    r.syscalls.extend(
                        next.unwrap_or_default()
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    );
                    used = 2;
                }
                "-F" => {
                    if let Some((k, v)) = next.and_then(|n| n.split_once('=')) {
                        match k {
                            "arch" => r.arch = Some(v.to_string()),
                            "path" | "dir" => r.watch = Some(v.to_string()),
                            "perm" => r.perms = v.to_string(),
                            _ => {}
                        }
                    }
                    used = 2;
                }
                _ => {}
            }
            i += used;
        }
        if r.watch.is_some() || !r.syscalls.is_empty() {
            out.push(r);
        }
    }
    out
}

/// True when `rules` contain a watch on `path` granting every permission
/// letter in `perms`.
pub fn covers_watch(rules: &[AuditRule], path: &str, perms: &str) -> bool {
    let path = path.trim_end_matches('/');
    rules.iter().any(|r| {
        r.watch.as_deref().map(|w| w.trim_end_matches('/')) == Some(path)
            && r.action.as_deref().is_none_or(|a| a == "always,exit")
            && perms.chars().all(|c| r.perms.contains(c))
    })
}

/// Syscalls of `wanted` not audited for `arch` by any `always,exit` rule.
pub fn missing_syscalls(rules: &[AuditRule], arch: &str, wanted: &[String]) -> Vec<String> {
    let have: BTreeSet<&str> = rules
        .iter()
        .filter(|r| r.action.as_deref() == Some("always,exit") && r.arch.as_deref() == Some(arch))
        .flat_map(|r| r.syscalls.iter().map(String::as_str))
        .collect();
    wanted
        .iter()
        .filter(|s| !have.contains(s.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cis_style_rules() {
        let r = parse(
            "-D\n-w /etc/sudoers -p wa -k scope\n\
             -a always,exit -F arch=b64 -S adjtimex,settimeofday -k time-change\n\
             -a exit,always -F arch=b64 -S clock_settime -F a0=0x0 -k time-change\n\
             -a always,exit -F path=/usr/bin/kmod -F perm=x -F auid>=1000 -k kernel_modules\n",
        );
        assert_eq!(r.len(), 4);
        assert!(covers_watch(&r, "/etc/sudoers", "wa"));
        assert!(!covers_watch(&r, "/etc/sudoers", "rwa"));
        assert!(covers_watch(&r, "/usr/bin/kmod", "x"));
        let want: Vec<String> = ["adjtimex", "settimeofday", "clock_settime"]
            .map(String::from)
            .to_vec();
        assert!(missing_syscalls(&r, "b64", &want).is_empty());
        assert_eq!(missing_syscalls(&r, "b32", &want).len(), 3);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let r = parse(&s);
            let _ = covers_watch(&r, "/etc/x", "wa");
            let _ = missing_syscalls(&r, "b64", &["x".to_string()]);
        }
    }
}
