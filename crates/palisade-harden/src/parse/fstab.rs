//! `fstab(5)` and `/proc/mounts` lines, and the `Options=` of a systemd
//! `.mount` unit.
//!
//! Holds [`MountEntry`], [`parse`] and [`unit_options`]. Only reads text;
//! deciding whether a mount point is compliant is [`crate::eval`]'s job.

/// One mount table line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Device or source (`UUID=…`, `tmpfs`).
    pub spec: String,
    /// Mount point, octal escapes (`\040`) decoded.
    pub target: String,
    /// Filesystem type.
    pub fstype: String,
    /// Mount options, split on commas.
    pub options: Vec<String>,
    /// 1-based line number.
    pub line: usize,
}

/// Decode the octal escapes fstab uses for blanks (`\040`, `\011`, …).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('\\') {
        out.push_str(rest.get(..pos).unwrap_or_default());
        let after = rest.get(pos + 1..).unwrap_or_default();
        let digits = after
            .get(..3)
            .filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)));
        match digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = after.get(3..).unwrap_or_default();
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parse fstab (or `/proc/mounts`) text into entries and problems
/// (malformed lines).
pub fn parse(text: &str) -> (Vec<MountEntry>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [spec, target, fstype, rest @ ..] => out.push(MountEntry {
                spec: unescape(spec),
                target: normalize(&unescape(target)),
                fstype: (*fstype).to_string(),
                options: rest
                    .first()
                    .map(|o| o.split(',').map(str::to_string).collect())
                    .unwrap_or_else(|| vec!["defaults".to_string()]),
                line: i + 1,
            }),
            _ => problems.push(format!("line {}: fewer than 3 fields", i + 1)),
        }
    }
    (out, problems)
}

/// `/var/tmp/` → `/var/tmp`; `/` stays.
pub fn normalize(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".to_string()
    } else {
        t.to_string()
    }
}

/// The `Options=` of a `.mount` unit's `[Mount]` section (last wins).
pub fn unit_options(text: &str) -> Option<Vec<String>> {
    let mut section = String::new();
    let mut found = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section != "[Mount]" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == "Options"
        {
            found = Some(v.trim().split(',').map(|o| o.trim().to_string()).collect());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fstab_lines() {
        let (e, p) = parse(
            "# c\nUUID=1 / ext4 errors=remount-ro 0 1\ntmpfs /tmp tmpfs nodev,nosuid,noexec 0 0\n/dev/sdb1 /srv/my\\040disk ext4\nbad\n",
        );
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].options, ["nodev", "nosuid", "noexec"]);
        assert_eq!(e[2].target, "/srv/my disk");
        assert_eq!(e[2].options, ["defaults"]);
        assert_eq!(p.len(), 1);
        assert_eq!(unescape("a\\0"), "a\\0");
        assert_eq!(unescape("\\777"), "\\777");
    }

    #[test]
    fn mount_unit() {
        let t =
            "[Unit]\nOptions=x\n[Mount]\nWhat=tmpfs\nOptions=mode=1777,strictatime,nosuid,nodev\n";
        assert_eq!(
            unit_options(t).unwrap(),
            ["mode=1777", "strictatime", "nosuid", "nodev"]
        );
        assert!(unit_options("[Unit]\n").is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let _ = parse(&s);
            let _ = unit_options(&s);
        }
    }
}
