//! `sshd_config` parser producing the *effective* server configuration.
//!
//! Holds [`SshdConfig`]: the result `sshd -T` would print for the default
//! connection (no `-C` connection spec), computed without running sshd:
//!
//! * keywords are case-insensitive; for ordinary keywords the first value
//!   wins; list keywords (`AllowUsers`, `DenyUsers`, `AllowGroups`,
//!   `DenyGroups`, `HostKey`, `AcceptEnv`, …) accumulate;
//! * `Include` takes globs, relative paths are relative to `/etc/ssh`, files
//!   of one glob are read in lexical order, nesting is bounded;
//! * `Match` blocks do not apply to the default connection, so their lines
//!   are skipped until the next `Match` or the end of the file that opened
//!   the block (the including file's state is restored after an `Include`,
//!   as OpenSSH does);
//! * `Ciphers`, `MACs` and `KexAlgorithms` accept the `+`, `-` and `^`
//!   modifiers against the compiled-in defaults;
//! * everything not set falls back to [`DEFAULTS`], the compiled-in values
//!   of Debian 12's OpenSSH 9.2p1.
//!
//! Parsing never panics; unreadable included files are reported in
//! [`SshdConfig::problems`].

use std::collections::BTreeMap;

use crate::rootfs::RootFs;

/// Compiled-in defaults of OpenSSH 9.2p1 as built for Debian 12, as printed
/// by `sshd -T` with an empty configuration (keyword lower-cased, value as
/// `sshd -T` prints it). Debian's *shipped* `sshd_config` overrides some of
/// these (`UsePAM yes`, `KbdInteractiveAuthentication no`,
/// `X11Forwarding yes`, `PrintMotd no`), which the parser sees as ordinary
/// settings.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("port", "22"),
    ("permitrootlogin", "without-password"),
    ("permitemptypasswords", "no"),
    ("maxauthtries", "6"),
    ("maxsessions", "10"),
    ("maxstartups", "10:30:100"),
    ("logingracetime", "120"),
    ("clientaliveinterval", "0"),
    ("clientalivecountmax", "3"),
    ("hostbasedauthentication", "no"),
    ("ignorerhosts", "yes"),
    ("permituserenvironment", "no"),
    ("usepam", "no"),
    ("loglevel", "INFO"),
    ("banner", "none"),
    ("x11forwarding", "no"),
    ("allowtcpforwarding", "yes"),
    ("allowagentforwarding", "yes"),
    ("allowstreamlocalforwarding", "yes"),
    ("disableforwarding", "no"),
    ("gssapiauthentication", "no"),
    ("kerberosauthentication", "no"),
    ("passwordauthentication", "yes"),
    ("kbdinteractiveauthentication", "yes"),
    ("pubkeyauthentication", "yes"),
    ("permittunnel", "no"),
    ("strictmodes", "yes"),
    ("compression", "yes"),
    ("usedns", "no"),
    ("printmotd", "yes"),
    (
        "ciphers",
        "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,\
aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    ),
    (
        "macs",
        "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,\
hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,\
umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    ),
    (
        "kexalgorithms",
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,\
ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,\
diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,\
diffie-hellman-group18-sha512,diffie-hellman-group14-sha256",
    ),
];

/// Keywords whose values accumulate over every occurrence.
const LIST_KEYWORDS: &[&str] = &[
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "hostkey",
    "acceptenv",
    "setenv",
    "subsystem",
    "listenaddress",
    "port",
];

/// Keywords accepting `+`/`-`/`^` modifiers on the default list.
const ALGO_KEYWORDS: &[&str] = &["ciphers", "macs", "kexalgorithms"];

/// Maximum `Include` nesting (OpenSSH uses 16).
const MAX_DEPTH: usize = 16;

/// Effective sshd configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdConfig {
    /// keyword (lower case) → value(s) as written (first wins, or all for
    /// list keywords); defaults not included.
    pub explicit: BTreeMap<String, Vec<String>>,
    /// Where each explicit keyword was first set (`file:line`).
    pub origin: BTreeMap<String, String>,
    /// Files read, in order.
    pub files: Vec<String>,
    /// Problems met (unreadable include, bad line), as text.
    pub problems: Vec<String>,
    /// True when the main file was missing.
    pub missing: bool,
}

impl SshdConfig {
    /// The effective value of a keyword: explicit, else the compiled-in
    /// default, else `None`. List keywords are joined with spaces.
    pub fn get(&self, keyword: &str) -> Option<String> {
        let k = keyword.to_ascii_lowercase();
        if let Some(v) = self.explicit.get(&k) {
            if ALGO_KEYWORDS.contains(&k.as_str()) {
                return v.first().map(|s| apply_algo_modifier(&k, s));
            }
            return Some(v.join(" "));
        }
        DEFAULTS
            .iter()
            .find(|(d, _)| *d == k)
            .map(|(_, v)| (*v).to_string())
    }

    /// True when the keyword was set in a file (not only a default).
    pub fn is_explicit(&self, keyword: &str) -> bool {
        self.explicit.contains_key(&keyword.to_ascii_lowercase())
    }
}

fn apply_algo_modifier(keyword: &str, value: &str) -> String {
    let default = DEFAULTS
        .iter()
        .find(|(d, _)| *d == keyword)
        .map(|(_, v)| *v)
        .unwrap_or("");
    let base: Vec<&str> = default.split(',').filter(|s| !s.is_empty()).collect();
    if let Some(rest) = value.strip_prefix('+') {
        let mut out: Vec<&str> = base;
        for a in rest.split(',') {
            if !a.is_empty() && !out.contains(&a) {
                out.push(a);
            }
        }
        out.join(",")
    } else if let Some(rest) = value.strip_prefix('-') {
        let remove: Vec<glob::Pattern> = rest
            .split(',')
            .filter_map(|p| glob::Pattern::new(p).ok())
            .collect();
        base.into_iter()
            .filter(|a| !remove.iter().any(|p| p.matches(a)))
            .collect::<Vec<_>>()
            .join(",")
    } else if let Some(rest) = value.strip_prefix('^') {
        let mut out: Vec<&str> = rest.split(',').filter(|s| !s.is_empty()).collect();
        for a in base {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out.join(",")
    } else {
        value.to_string()
    }
}

/// Split one config line into keyword and arguments, honouring double
/// quotes and `keyword=value`. Returns `None` for blank and comment lines.
pub fn split_line(line: &str) -> Option<(String, Vec<String>)> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let (kw, rest) = match trimmed.find(|c: char| c.is_whitespace() || c == '=') {
        Some(i) => {
            let (k, r) = trimmed.split_at(i);
            let r = r.trim_start();
            let r = r.strip_prefix('=').unwrap_or(r);
            (k, r.trim_start())
        }
        None => (trimmed, ""),
    };
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut has_token = false;
    for c in rest.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                has_token = true;
            }
            '#' if !in_quote && !has_token => break,
            c if c.is_whitespace() && !in_quote => {
                if has_token {
                    args.push(std::mem::take(&mut cur));
                    has_token = false;
                }
            }
            c => {
                cur.push(c);
                has_token = true;
            }
        }
    }
    if has_token {
        args.push(cur);
    }
    Some((kw.to_ascii_lowercase(), args))
}

/// Parse the effective configuration from `main` (normally
/// `/etc/ssh/sshd_config`) inside the root.
pub fn load(fs: &RootFs, main: &str) -> SshdConfig {
    let mut cfg = SshdConfig::default();
    match fs.read_to_string(main) {
        Ok(text) => {
            cfg.files.push(main.to_string());
            parse_text(fs, &mut cfg, main, &text, true, 0);
        }
        Err(e) => {
            cfg.missing = true;
            cfg.problems.push(format!("{main}: {e}"));
        }
    }
    cfg
}

/// Parse configuration text without a root (no `Include` support), for
/// tests and fuzzing.
pub fn parse_str(text: &str) -> SshdConfig {
    let mut cfg = SshdConfig::default();
    parse_text(None::<&RootFs>, &mut cfg, "<input>", text, true, 0);
    cfg
}

trait IncludeSource {
    fn expand(&self, pattern: &str) -> Result<Vec<String>, String>;
    fn read(&self, path: &str) -> Result<String, String>;
}

impl IncludeSource for &RootFs {
    fn expand(&self, pattern: &str) -> Result<Vec<String>, String> {
        self.glob(pattern).map_err(|e| e.to_string())
    }
    fn read(&self, path: &str) -> Result<String, String> {
        self.read_to_string(path).map_err(|e| e.to_string())
    }
}

impl IncludeSource for Option<&RootFs> {
    fn expand(&self, _pattern: &str) -> Result<Vec<String>, String> {
        Err("Include is not supported here".to_string())
    }
    fn read(&self, _path: &str) -> Result<String, String> {
        Err("Include is not supported here".to_string())
    }
}

fn parse_text(
    src: impl IncludeSource + Copy,
    cfg: &mut SshdConfig,
    file: &str,
    text: &str,
    active_at_start: bool,
    depth: usize,
) {
    let mut active = active_at_start;
    for (n, line) in text.lines().enumerate() {
        let Some((kw, args)) = split_line(line) else {
            continue;
        };
        let at = format!("{file}:{}", n + 1);
        match kw.as_str() {
            "match" => {
                // Match blocks never apply to the default connection.
                active = false;
            }
            "include" => {
                if !active {
                    continue;
                }
                if depth >= MAX_DEPTH {
                    cfg.problems
                        .push(format!("{at}: Include nested too deeply, ignored"));
                    continue;
                }
                for pat in &args {
                    let pat = if pat.starts_with('/') {
                        pat.clone()
                    } else {
                        format!("/etc/ssh/{pat}")
                    };
                    let files = match src.expand(&pat) {
                        Ok(f) => f,
                        Err(e) => {
                            cfg.problems.push(format!("{at}: Include {pat}: {e}"));
                            continue;
                        }
                    };
                    for f in files {
                        match src.read(&f) {
                            Ok(t) => {
                                cfg.files.push(f.clone());
                                parse_text(src, cfg, &f, &t, active, depth + 1);
                            }
                            Err(e) => cfg.problems.push(format!("{at}: Include {f}: {e}")),
                        }
                    }
                }
            }
            _ if !active => {}
            _ => {
                if args.is_empty() {
                    cfg.problems.push(format!("{at}: {kw} has no value"));
                    continue;
                }
                if LIST_KEYWORDS.contains(&kw.as_str()) {
                    cfg.origin.entry(kw.clone()).or_insert(at);
                    cfg.explicit.entry(kw).or_default().extend(args);
                } else if !cfg.explicit.contains_key(&kw) {
                    cfg.origin.insert(kw.clone(), at);
                    cfg.explicit.insert(kw, vec![args.join(" ")]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, RootFs) {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let host = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::fs::write(host, c).unwrap();
        }
        let fs = RootFs::open(d.path()).unwrap();
        (d, fs)
    }

    #[test]
    fn defaults_apply() {
        let c = parse_str("");
        assert_eq!(c.get("PermitRootLogin").unwrap(), "without-password");
        assert_eq!(c.get("maxauthtries").unwrap(), "6");
        assert!(c.get("nosuchthing").is_none());
    }

    #[test]
    fn first_value_wins_case_insensitive() {
        let c = parse_str("maxauthtries 3\nMaxAuthTries 10\nPERMITROOTLOGIN=no\n");
        assert_eq!(c.get("MaxAuthTries").unwrap(), "3");
        assert_eq!(c.get("permitrootlogin").unwrap(), "no");
    }

    #[test]
    fn match_blocks_do_not_apply() {
        let c = parse_str("Match User bob\n  PermitRootLogin yes\nMatch all\nX11Forwarding yes\n");
        assert_eq!(c.get("permitrootlogin").unwrap(), "without-password");
        assert_eq!(c.get("x11forwarding").unwrap(), "no");
    }

    #[test]
    fn list_keywords_accumulate() {
        let c = parse_str("AllowUsers a b\nAllowUsers c\n");
        assert_eq!(c.get("allowusers").unwrap(), "a b c");
    }

    #[test]
    fn algorithm_modifiers() {
        let c = parse_str("Ciphers -chacha20*,aes128-ctr\n");
        let v = c.get("ciphers").unwrap();
        assert!(!v.contains("chacha20"));
        assert!(!v.contains("aes128-ctr"));
        assert!(v.contains("aes256-gcm@openssh.com"));
        let c = parse_str("MACs +hmac-md5\n");
        assert!(c.get("macs").unwrap().ends_with(",hmac-md5"));
        let c = parse_str("KexAlgorithms ^curve25519-sha256\n");
        assert!(
            c.get("kexalgorithms")
                .unwrap()
                .starts_with("curve25519-sha256,")
        );
    }

    #[test]
    fn quotes_and_comments() {
        assert_eq!(
            split_line("Banner \"/etc/my banner\" # c"),
            Some(("banner".to_string(), vec!["/etc/my banner".to_string()]))
        );
        assert_eq!(split_line("   # only a comment"), None);
    }

    #[test]
    fn include_relative_glob_in_order_and_match_scope() {
        let (_d, fs) = root_with(&[
            (
                "/etc/ssh/sshd_config",
                "Include sshd_config.d/*.conf\nPermitRootLogin yes\nMaxSessions 4\n",
            ),
            (
                "/etc/ssh/sshd_config.d/10-b.conf",
                "MaxSessions 2\nMatch User x\nLogLevel DEBUG\n",
            ),
            ("/etc/ssh/sshd_config.d/00-a.conf", "PermitRootLogin no\n"),
            ("/etc/ssh/sshd_config.d/ignored.txt", "MaxAuthTries 1\n"),
        ]);
        let c = load(&fs, "/etc/ssh/sshd_config");
        assert_eq!(c.get("permitrootlogin").unwrap(), "no");
        assert_eq!(c.get("maxsessions").unwrap(), "2");
        assert_eq!(c.get("loglevel").unwrap(), "INFO");
        assert_eq!(c.get("maxauthtries").unwrap(), "6");
        assert_eq!(c.files.len(), 3);
        assert_eq!(
            c.origin.get("permitrootlogin").unwrap(),
            "/etc/ssh/sshd_config.d/00-a.conf:1"
        );
    }

    #[test]
    fn include_recursion_is_bounded() {
        let (_d, fs) = root_with(&[("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config\n")]);
        let c = load(&fs, "/etc/ssh/sshd_config");
        assert!(c.problems.iter().any(|p| p.contains("too deeply")));
    }

    #[test]
    fn missing_main_file() {
        let (_d, fs) = root_with(&[]);
        let c = load(&fs, "/etc/ssh/sshd_config");
        assert!(c.missing);
        assert_eq!(c.get("usepam").unwrap(), "no");
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let c = parse_str(&s);
            let _ = c.get("ciphers");
            let _ = c.get("macs");
        }

        #[test]
        fn arbitrary_lines_never_panic(lines in proptest::collection::vec("[A-Za-z=\"# +^,*-]{0,40}", 0..20)) {
            let c = parse_str(&lines.join("\n"));
            for k in ["ciphers", "kexalgorithms", "macs", "allowusers"] {
                let _ = c.get(k);
            }
        }
    }
}
