//! AppArmor profile modes, from profile text and from the kernel's
//! `profiles` list.
//!
//! Holds [`profile_modes`] (the top-level profiles a policy file declares
//! and whether their `flags=(…)` put them in complain mode) and
//! [`parse_loaded`] (`/sys/kernel/security/apparmor/profiles` lines,
//! `name (mode)`). Never judges compliance.

/// Mode of one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Enforced.
    Enforce,
    /// Complain (log only).
    Complain,
    /// Anything else (`unconfined`, `kill`, `prompt`, or unknown).
    Other,
}

/// Top-level profiles declared in a policy file: (header, mode).
pub fn profile_modes(text: &str) -> Vec<(String, Mode)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        if depth == 0 && line.ends_with('{') && !line.starts_with('}') {
            let header = line.trim_end_matches('{').trim().to_string();
            let flags = header
                .split_once("flags=(")
                .or_else(|| header.split_once("flags = ("))
                .map(|(_, f)| f.split(')').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            let list: Vec<&str> = flags.split([',', ' ']).map(str::trim).collect();
            let mode = if list.contains(&"complain") {
                Mode::Complain
            } else if list
                .iter()
                .any(|f| matches!(*f, "unconfined" | "kill" | "prompt"))
            {
                Mode::Other
            } else {
                Mode::Enforce
            };
            out.push((header, mode));
        }
        depth = (depth + opens).saturating_sub(closes);
    }
    out
}

/// Loaded profiles (`name (enforce)`) from the kernel list.
pub fn parse_loaded(text: &str) -> Vec<(String, Mode)> {
    text.lines()
        .filter_map(|l| {
            let (name, mode) = l.trim().rsplit_once(" (")?;
            let mode = match mode.trim_end_matches(')') {
                "enforce" => Mode::Enforce,
                "complain" => Mode::Complain,
                _ => Mode::Other,
            };
            Some((name.to_string(), mode))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn modes() {
        let t = "#include <tunables/global>\nprofile ntpd /usr/sbin/ntpd flags=(attach_disconnected,complain) {\n  /etc/x r,\n  ^hat {\n  }\n}\n/usr/bin/man {\n}\n";
        let m = profile_modes(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1, Mode::Complain);
        assert_eq!(m[1], ("/usr/bin/man".to_string(), Mode::Enforce));
        let l =
            parse_loaded("/usr/bin/man (enforce)\nnvidia_modprobe (complain)\nx (unconfined)\n");
        assert_eq!(
            l.iter().map(|x| x.1).collect::<Vec<_>>(),
            [Mode::Enforce, Mode::Complain, Mode::Other]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let _ = profile_modes(&s);
            let _ = parse_loaded(&s);
        }
    }
}
