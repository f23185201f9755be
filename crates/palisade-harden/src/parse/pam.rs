//! PAM configuration lines (`/etc/pam.d/*`).
//!
//! Holds [`PamLine`] and [`parse`]. Reads the four-field format
//! (`type control module args…`, with `[…]` controls that contain blanks
//! and `@include`); never judges compliance.

/// One PAM rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamLine {
    /// `auth`, `account`, `password` or `session` (a leading `-` removed).
    pub kind: String,
    /// Control (`required`, `[success=1 default=ignore]`).
    pub control: String,
    /// Module path or name (`pam_unix.so`).
    pub module: String,
    /// Module arguments.
    pub args: Vec<String>,
}

impl PamLine {
    /// Module file name without directories (`pam_unix.so`).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }
}

/// Parse a PAM file's text: rules and `@include` targets.
pub fn parse(text: &str) -> (Vec<PamLine>, Vec<String>) {
    let mut rules = Vec::new();
    let mut includes = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(inc) = line.strip_prefix("@include") {
            includes.push(inc.trim().to_string());
            continue;
        }
        let mut rest = line;
        let mut field = || -> Option<String> {
            rest = rest.trim_start();
            if rest.starts_with('[') {
                let end = rest.find(']').map_or(rest.len(), |e| e + 1);
                let (f, r) = rest.split_at(end);
                rest = r;
                Some(f.to_string())
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let (f, r) = rest.split_at(end);
                rest = r;
                (!f.is_empty()).then(|| f.to_string())
            }
        };
        let (Some(kind), Some(control), Some(module)) = (field(), field(), field()) else {
            continue;
        };
        let args = rest.split_whitespace().map(str::to_string).collect();
        rules.push(PamLine {
            kind: kind.trim_start_matches('-').to_string(),
            control,
            module,
            args,
        });
    }
    (rules, includes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn debian_common_password() {
        let t = "# here\npassword\trequisite\t\t\tpam_pwquality.so retry=3\n\
                 password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt\n\
                 -auth optional /lib/x86_64-linux-gnu/security/pam_faillock.so\n@include common-auth\n";
        let (r, inc) = parse(t);
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].control, "[success=1 default=ignore]");
        assert_eq!(r[1].module, "pam_unix.so");
        assert!(r[1].args.contains(&"yescrypt".to_string()));
        assert_eq!(r[2].kind, "auth");
        assert_eq!(r[2].module_name(), "pam_faillock.so");
        assert_eq!(inc, ["common-auth"]);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }
    }
}
