//! Small line-oriented formats: sudoers defaults, APT configuration and
//! firewall rule files.
//!
//! Holds the readers the "required software" checks use. Each function
//! takes text and returns what it found; none of them judges compliance.

use crate::rootfs::RootFs;

/// `Defaults` options set in a sudoers text (`use_pty`, `logfile=...`).
/// Options negated with `!` are returned with their `!`.
pub fn sudoers_defaults(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        let Some(rest) = line.strip_prefix("Defaults") else {
            continue;
        };
        // `Defaults:user`, `Defaults>runas`, … apply to a subset; only the
        // global form counts.
        if !rest.starts_with([' ', '\t']) {
            continue;
        }
        for opt in rest.split(',') {
            let opt = opt.trim();
            if !opt.is_empty() {
                out.push(opt.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    out
}

/// Read `/etc/sudoers` and the files of every `@includedir`/`#includedir`
/// (sudo skips names containing `.` or ending in `~`) and `@include`.
/// Returns (options, files read, problems).
pub fn load_sudoers(fs: &RootFs) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut opts = Vec::new();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut queue = vec!["/etc/sudoers".to_string()];
    while let Some(f) = queue.pop() {
        if files.len() > 256 {
            problems.push("too many sudoers include files".to_string());
            break;
        }
        match fs.read_to_string(&f) {
            Ok(t) => {
                opts.extend(sudoers_defaults(&t));
                for line in t.lines() {
                    let line = line.trim();
                    let dir = line
                        .strip_prefix("@includedir")
                        .or_else(|| line.strip_prefix("#includedir"));
                    let inc = line
                        .strip_prefix("@include ")
                        .or_else(|| line.strip_prefix("#include "));
                    if let Some(dir) = dir {
                        let mut list: Vec<String> = fs
                            .list_dir(dir.trim())
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|p| {
                                p.rsplit('/')
                                    .next()
                                    .is_some_and(|n| !n.contains('.') && !n.ends_with('~'))
                            })
                            .collect();
                        list.reverse();
                        queue.extend(list);
                    } else if let Some(inc) = inc {
                        queue.push(inc.trim().to_string());
                    }
                }
                files.push(f);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    (opts, files, problems)
}

/// Value of a flat APT option (`APT::Periodic::Unattended-Upgrade "1";`)
/// across `/etc/apt/apt.conf.d/*` (lexical order) and `/etc/apt/apt.conf`;
/// the last assignment wins. Nested `{ }` syntax is not interpreted.
pub fn apt_option(fs: &RootFs, key: &str) -> Option<(String, String)> {
    let mut files = fs.list_dir("/etc/apt/apt.conf.d").unwrap_or_default();
    files.push("/etc/apt/apt.conf".to_string());
    let mut found = None;
    for f in files {
        let Ok(text) = fs.read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("//") || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once(char::is_whitespace) else {
                continue;
            };
            if k.eq_ignore_ascii_case(key) {
                let v = v.trim().trim_end_matches(';').trim().trim_matches('"');
                found = Some((v.to_string(), f.clone()));
            }
        }
    }
    found
}

/// True when an nftables ruleset declares an input hook with policy drop.
pub fn nft_input_default_drop(text: &str) -> bool {
    let flat: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    flat.split("type filter").skip(1).any(|chunk| {
        let head: String = chunk.chars().take(200).collect();
        head.contains("hook input") && head.contains("policy drop")
    })
}

/// True when an iptables-save file sets `:INPUT DROP`.
pub fn iptables_input_default_drop(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim().starts_with(":INPUT DROP") || l.trim().starts_with(":INPUT REJECT"))
}

/// Value of `KEY=value` in a shell-style file (quotes removed).
pub fn shell_var(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|l| {
        let (k, v) = l.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sudo_defaults() {
        let o = sudoers_defaults(
            "Defaults\tenv_reset\nDefaults use_pty, logfile=\"/var/log/sudo.log\"\nDefaults:bob !use_pty\n",
        );
        assert!(o.contains(&"use_pty".to_string()));
        assert!(o.iter().any(|x| x.starts_with("logfile=")));
        assert!(!o.contains(&"!use_pty".to_string()));
    }

    #[test]
    fn nft_default_drop() {
        let t = "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n";
        assert!(nft_input_default_drop(t));
        assert!(!nft_input_default_drop(&t.replace("drop", "accept")));
    }

    #[test]
    fn shell_vars() {
        assert_eq!(
            shell_var(
                "A=1\nDEFAULT_INPUT_POLICY=\"DROP\"\n",
                "DEFAULT_INPUT_POLICY"
            )
            .unwrap(),
            "DROP"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let _ = sudoers_defaults(&s);
            let _ = nft_input_default_drop(&s);
            let _ = iptables_input_default_drop(&s);
            let _ = shell_var(&s, "X");
        }
    }
}
