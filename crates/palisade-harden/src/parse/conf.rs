//! Key/value configuration files: `key = value` (pwquality.conf,
//! faillock.conf, auditd.conf), `KEY value` (login.defs, rsyslog legacy
//! directives) and INI-style `Key=value` in a `[Section]` (journald.conf).
//!
//! Holds [`Syntax`], [`parse`] and [`set_key`] (the edit `fix` applies).
//! Only reads and rewrites text; never judges compliance.

use serde::{Deserialize, Serialize};

/// How a file writes its assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Syntax {
    /// `key = value` (blanks optional); a bare `key` has the value `""`.
    Equals,
    /// `KEY value` separated by blanks.
    Space,
}

/// One assignment: key, value, 1-based line.
pub type Assignment = (String, String, usize);

fn split(line: &str, syntax: Syntax) -> Option<(String, String)> {
    match syntax {
        Syntax::Equals => match line.split_once('=') {
            Some((k, v)) => Some((k.trim().to_string(), v.trim().to_string())),
            None => Some((line.trim().to_string(), String::new())),
        },
        Syntax::Space => {
            let mut it = line.splitn(2, char::is_whitespace);
            let k = it.next()?.trim();
            Some((
                k.to_string(),
                it.next().unwrap_or_default().trim().to_string(),
            ))
        }
    }
    .filter(|(k, _)| !k.is_empty())
}

fn is_comment(line: &str) -> bool {
    line.is_empty() || line.starts_with('#') || line.starts_with(';')
}

/// Assignments of a file's text, in order. With `section`, only lines
/// inside `[section]` count (journald.conf's `[Journal]`).
pub fn parse(text: &str, syntax: Syntax, section: Option<&str>) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if is_comment(line) {
            continue;
        }
        if section.is_some() && line.starts_with('[') && line.ends_with(']') {
            current = line.get(1..line.len() - 1).map(str::to_string);
            continue;
        }
        if let Some(want) = section
            && current.as_deref() != Some(want)
        {
            continue;
        }
        if let Some((k, v)) = split(line, syntax) {
            out.push((k, v, i + 1));
        }
    }
    out
}

/// Last value of `key` in the text.
pub fn last(text: &str, syntax: Syntax, section: Option<&str>, key: &str) -> Option<String> {
    parse(text, syntax, section)
        .into_iter()
        .rev()
        .find(|(k, _, _)| k == key)
        .map(|(_, v, _)| v)
}

/// Render one assignment.
pub fn render(syntax: Syntax, key: &str, value: &str) -> String {
    match syntax {
        Syntax::Equals if value.is_empty() => key.to_string(),
        Syntax::Equals => format!("{key} = {value}"),
        Syntax::Space => format!("{key} {value}"),
    }
}

/// Set `key` to `value` in a file's text: the first active assignment is
/// replaced, later ones are commented out (`# palisade-harden: …`), and
/// when there is none the line is appended (under `[section]`, added when
/// missing). Everything else is kept byte for byte.
pub fn set_key(
    text: &str,
    syntax: Syntax,
    section: Option<&str>,
    key: &str,
    value: &str,
) -> String {
    let wanted = render(syntax, key, value);
    let mut out = String::with_capacity(text.len() + wanted.len() + 16);
    let mut current: Option<String> = None;
    let mut done = false;
    let mut saw_section = section.is_none();
    let mut insert_at: Option<usize> = None;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim();
        if section.is_some() && line.starts_with('[') && line.ends_with(']') {
            if current.as_deref() == section && insert_at.is_none() {
                insert_at = Some(out.len());
            }
            current = line.get(1..line.len() - 1).map(str::to_string);
            if current.as_deref() == section {
                saw_section = true;
            }
            out.push_str(raw);
            continue;
        }
        let in_scope = section.is_none() || current.as_deref() == section;
        let hit =
            in_scope && !is_comment(line) && split(line, syntax).is_some_and(|(k, _)| k == key);
        if hit {
            if done {
                out.push_str("# palisade-harden: ");
                out.push_str(raw);
            } else {
                out.push_str(&wanted);
                out.push('\n');
                done = true;
            }
            continue;
        }
        out.push_str(raw);
    }
    if done {
        return out;
    }
    let line = format!("{wanted}\n");
    match insert_at {
        Some(at) if section.is_some() => {
            out.insert_str(at, &line);
        }
        _ => {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !saw_section && let Some(s) = section {
                out.push_str(&format!("[{s}]\n"));
            }
            out.push_str(&line);
        }
    }
    out
}

/// What `grub.cfg` sets: (`set superusers=` present, a `password_pbkdf2`
/// line present).
pub fn grub_password(text: &str) -> (bool, bool) {
    let mut su = false;
    let mut pw = false;
    for l in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(v) = l.strip_prefix("set superusers=") {
            su = !matches!(v.trim(), "" | "\"\"" | "''");
        }
        if l.starts_with("password_pbkdf2 ") && l.split_whitespace().count() >= 3 {
            pw = true;
        }
    }
    (su, pw)
}

/// Escapes and OS names a login banner must not contain (`\m`, `\r`,
/// `\s`, `\v`, and the `ID=` of os-release, case-insensitive).
pub fn banner_problems(text: &str, os_id: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for esc in ["\\m", "\\r", "\\s", "\\v"] {
        if text.contains(esc) {
            out.push(format!("contains `{esc}`"));
        }
    }
    if let Some(id) = os_id.filter(|i| !i.is_empty())
        && text.to_ascii_lowercase().contains(&id.to_ascii_lowercase())
    {
        out.push(format!("names the OS (`{id}`)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equals_and_space() {
        let t = "# minlen = 8\nminlen=14\nminclass = 4\nsilent\n";
        assert_eq!(last(t, Syntax::Equals, None, "minlen").unwrap(), "14");
        assert_eq!(last(t, Syntax::Equals, None, "silent").unwrap(), "");
        let l = "PASS_MAX_DAYS\t99999\n#PASS_MIN_DAYS 1\nPASS_MAX_DAYS 365\n";
        assert_eq!(
            last(l, Syntax::Space, None, "PASS_MAX_DAYS").unwrap(),
            "365"
        );
        assert!(last(l, Syntax::Space, None, "PASS_MIN_DAYS").is_none());
    }

    #[test]
    fn sections() {
        let t = "[Journal]\n#Storage=auto\nStorage=persistent\n[Other]\nCompress=no\n";
        assert_eq!(
            last(t, Syntax::Equals, Some("Journal"), "Storage").unwrap(),
            "persistent"
        );
        assert!(last(t, Syntax::Equals, Some("Journal"), "Compress").is_none());
    }

    #[test]
    fn set_key_replaces_comments_out_and_appends() {
        let t = "a = 1\n# a = 0\nb = 2\na = 3";
        let s = set_key(t, Syntax::Equals, None, "a", "5");
        assert_eq!(s, "a = 5\n# a = 0\nb = 2\n# palisade-harden: a = 3");
        assert_eq!(
            set_key("b = 2", Syntax::Equals, None, "a", "5"),
            "b = 2\na = 5\n"
        );
        let j = set_key(
            "[Journal]\n#Storage=auto\n[X]\n",
            Syntax::Equals,
            Some("Journal"),
            "Storage",
            "persistent",
        );
        assert_eq!(j, "[Journal]\n#Storage=auto\nStorage = persistent\n[X]\n");
        assert_eq!(
            set_key("", Syntax::Equals, Some("Journal"), "Compress", "yes"),
            "[Journal]\nCompress = yes\n"
        );
        let once = set_key("x 1\n", Syntax::Space, None, "PASS_MAX_DAYS", "365");
        assert_eq!(
            set_key(&once, Syntax::Space, None, "PASS_MAX_DAYS", "365"),
            once
        );
    }

    #[test]
    fn grub_and_banner() {
        assert_eq!(
            grub_password("set superusers=\"root\"\npassword_pbkdf2 root grub.pbkdf2.sha512.X\n"),
            (true, true)
        );
        assert_eq!(grub_password("set superusers=\"\"\n"), (false, false));
        assert_eq!(
            banner_problems("Debian GNU/Linux 12 \\n \\l", Some("debian")).len(),
            1
        );
        assert_eq!(banner_problems("\\S \\r", None).len(), 1);
        assert!(banner_problems("Authorised use only", Some("debian")).is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*", k in "[a-zA-Z_]{1,8}") {
            let _ = parse(&s, Syntax::Equals, Some("Journal"));
            let _ = parse(&s, Syntax::Space, None);
            let a = set_key(&s, Syntax::Equals, Some("Journal"), &k, "1");
            prop_assert_eq!(last(&a, Syntax::Equals, Some("Journal"), &k), Some("1".to_string()));
            let b = set_key(&s, Syntax::Space, None, &k, "1");
            prop_assert_eq!(last(&b, Syntax::Space, None, &k), Some("1".to_string()));
            let _ = grub_password(&s);
            let _ = banner_problems(&s, Some("debian"));
        }
    }
}
