//! dpkg status database, APT package lists and Debian version ordering.
//!
//! Holds [`Packages`] (installed packages from `var/lib/dpkg/status`: a
//! package is installed when its `Status` is `install ok installed`), the
//! deb822 stanza reader shared with APT `*_Packages` lists, and
//! [`compare_versions`], Debian's version ordering (epoch, upstream,
//! revision; `~` sorts before everything, letters before non-letters).

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Installed packages: name → version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packages {
    /// Package name → installed version.
    pub installed: BTreeMap<String, String>,
}

impl Packages {
    /// True when the package is installed.
    pub fn has(&self, name: &str) -> bool {
        self.installed.contains_key(name)
    }
}

/// Split deb822 text into stanzas of (field lower-case → value).
/// Continuation lines are appended to the previous field.
pub fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = last.as_ref().and_then(|k| cur.get_mut(k)) {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            cur.insert(k.clone(), v.trim().to_string());
            last = Some(k);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parse a dpkg `status` file.
pub fn parse_status(text: &str) -> Packages {
    let mut p = Packages::default();
    for s in stanzas(text) {
        let (Some(name), Some(status)) = (s.get("package"), s.get("status")) else {
            continue;
        };
        let words: Vec<&str> = status.split_whitespace().collect();
        if words.as_slice() == ["install", "ok", "installed"] {
            p.installed
                .insert(name.clone(), s.get("version").cloned().unwrap_or_default());
        }
    }
    p
}

/// Parse an APT `Packages` list into name → highest version listed.
pub fn parse_packages_list(text: &str) -> BTreeMap<String, String> {
    parse_packages_list_filtered(text, |_| true)
}

/// Like [`parse_packages_list`], keeping only names `keep` accepts. A
/// line scanner that reads only `Package:` and `Version:` (lists are
/// megabytes; building a map per stanza would dominate a scan).
pub fn parse_packages_list_filtered(
    text: &str,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut name: Option<&str> = None;
    let mut version: Option<&str> = None;
    let mut flush = |name: &mut Option<&str>, version: &mut Option<&str>| {
        if let (Some(n), Some(v)) = (name.take(), version.take())
            && keep(n)
        {
            match out.get(n) {
                Some(old) if compare_versions(old, v) != Ordering::Less => {}
                _ => {
                    out.insert(n.to_string(), v.to_string());
                }
            }
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut name, &mut version);
        } else if let Some(v) = line.strip_prefix("Package:") {
            // A missing blank line must not merge two stanzas.
            flush(&mut name, &mut version);
            name = Some(v.trim());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = Some(v.trim());
        }
    }
    flush(&mut name, &mut version);
    out
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
            (e.parse().unwrap_or(u64::MAX), r)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up, rev),
        None => (epoch, rest, ""),
    }
}

fn char_order(c: Option<char>) -> i64 {
    match c {
        Some('~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i64::from(u32::from(c)),
        Some(c) => i64::from(u32::from(c)) + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let mut a = a.chars().peekable();
    let mut b = b.chars().peekable();
    loop {
        // Non-digit prefix, compared character by character.
        loop {
            let ca = a.peek().copied().filter(|c| !c.is_ascii_digit());
            let cb = b.peek().copied().filter(|c| !c.is_ascii_digit());
            if ca.is_none() && cb.is_none() {
                break;
            }
            let ord = char_order(ca).cmp(&char_order(cb));
            if ord != Ordering::Equal {
                return ord;
            }
            if ca.is_some() {
                a.next();
            }
            if cb.is_some() {
                b.next();
            }
        }
        // Digit run, compared numerically (leading zeros ignored).
        let mut da = String::new();
        while let Some(c) = a.peek().copied().filter(char::is_ascii_digit) {
            da.push(c);
            a.next();
        }
        let mut db = String::new();
        while let Some(c) = b.peek().copied().filter(char::is_ascii_digit) {
            db.push(c);
            b.next();
        }
        let da = da.trim_start_matches('0');
        let db = db.trim_start_matches('0');
        let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if ord != Ordering::Equal {
            return ord;
        }
        if a.peek().is_none() && b.peek().is_none() {
            return Ordering::Equal;
        }
    }
}

/// Compare two Debian version strings.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn status_only_counts_installed() {
        let text = "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2+deb12u3\n\
                    Description: x\n more\n\nPackage: telnet\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                    Package: cron\nStatus: install ok installed\nVersion: 3.0pl1-162\n";
        let p = parse_status(text);
        assert!(p.has("openssh-server"));
        assert!(p.has("cron"));
        assert!(!p.has("telnet"));
        assert_eq!(p.installed["openssh-server"], "1:9.2p1-2+deb12u3");
    }

    #[test]
    fn version_order() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1:1.0", "2.0", Greater),
            ("1.0-1", "1.0-2", Less),
            ("1.0a", "1.0", Greater),
            ("1.0+deb12u1", "1.0", Greater),
            ("9.2p1-2+deb12u3", "9.2p1-2+deb12u5", Less),
            ("1.10", "1.9", Greater),
            ("1.001", "1.1", Equal),
            ("1.0~~", "1.0~", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn packages_list_keeps_highest() {
        let l = parse_packages_list(
            "Package: a\nVersion: 1.0\n\nPackage: a\nVersion: 1.2\n\nPackage: a\nVersion: 1.1\n",
        );
        assert_eq!(l["a"], "1.2");
        let f = parse_packages_list_filtered(
            "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\nPackage: c\n",
            |n| n != "a",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f["b"], "2");
    }

    proptest! {
        #[test]
        fn arbitrary_status_never_panics(s in "\\PC*") {
            let _ = parse_status(&s);
            let _ = parse_packages_list(&s);
        }

        #[test]
        fn compare_is_antisymmetric(a in "[0-9a-z.+~:-]{0,12}", b in "[0-9a-z.+~:-]{0,12}") {
            prop_assert_eq!(compare_versions(&a, &b), compare_versions(&b, &a).reverse());
        }
    }
}
