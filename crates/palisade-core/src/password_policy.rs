//! Password policy of a tenant: the rules a new password must satisfy, and
//! password expiry.
//!
//! The default follows NIST SP 800-63B §5.1.1.2: at least 12 characters
//! (NIST's floor is 8), at most 128 by default and never less than 64 allowed,
//! every printable Unicode character and spaces allowed, no composition rules,
//! no forced rotation, and rejection of passwords that are common, made up of
//! the user's own details, or easy to guess. Composition rules (character
//! classes), expiry and history are available for tenants whose compliance
//! regime demands them.
//!
//! How a candidate is judged ([`PasswordPolicy::check`]), in this order, each
//! failure a [`PolicyViolation`] with a stable API code:
//!
//! 1. Length in Unicode code points after NFKC normalisation (so a
//!    full-width or ligature spelling counts like its plain form).
//! 2. Required character classes, if any (Unicode-aware: `É` is uppercase,
//!    `٣` a digit; a "symbol" is anything that is neither a letter nor a
//!    digit, including spaces and emoji).
//! 3. Common: the lowercased password, or the password with its trailing
//!    digits, symbols and spaces stripped (`Password123!` → `password`), is in
//!    the embedded list of 30,000 common passwords.
//! 4. User information: once the user's words (email, its parts, display name,
//!    tenant name; parts of 3 or more characters) are removed, fewer than 4
//!    letters remain (`AliceSmith2024!` for Alice Smith).
//! 5. Strength: the `zxcvbn` score (0–4), with the user's words as user inputs,
//!    must reach `min_strength`.
//!
//! The embedded list, `data/common-passwords.txt`, is the password frequency
//! list shipped in the MIT-licensed `zxcvbn` crate 3.1.1 (`src/frequency_lists.rs`,
//! constant `PASSWORDS`; originally Dropbox zxcvbn's list drawn from the
//! public-domain Xato 10-million-password corpus). It was written by:
//!
//! ```sh
//! f=$(ls -d ~/.cargo/registry/src/*/zxcvbn-3.1.1)/src/frequency_lists.rs
//! { cat header.txt   # the '#' comment lines at the top of the file
//!   sed -n 's/^const PASSWORDS: &str = "\(.*\)";$/\1/p' "$f" | tr ',' '\n' | tr 'A-Z' 'a-z'
//! } > crates/palisade-core/data/common-passwords.txt
//! ```
//!
//! This module is pure: no I/O, no clock (times are parameters), and it never
//! stores, logs or echoes a password; violation messages are user-facing and
//! contain only the policy's numbers. Checking history (no reuse of the last N
//! passwords) needs the stored hashes, so it is the caller's job; this module
//! only carries the setting.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::CoreError;

/// The embedded common-password list (see the module docs for its origin).
const COMMON_PASSWORDS_TXT: &str = include_str!("../data/common-passwords.txt");

/// Milliseconds per day, for expiry.
const MS_PER_DAY: i64 = 86_400_000;

/// Context words shorter than this (in code points) are ignored.
const MIN_CONTEXT_WORD: usize = 3;

/// A password made of the user's words plus fewer letters than this is refused.
const MIN_OWN_LETTERS: usize = 4;

/// The common-password list as a set of lowercase entries.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_TXT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// A tenant's password rules. The default is the NIST SP 800-63B profile.
///
/// Its JSON Schema carries each field's own bounds; the one rule across
/// fields, `maxLength` not below `minLength`, is checked on arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Minimum length in code points after NFKC; 8 to 128, default 12.
    #[serde(deserialize_with = "crate::integer::integer")]
    #[schemars(with = "u32", range(min = 8, max = 128))]
    pub min_length: u32,
    /// Maximum length in code points after NFKC; at least 64 and at least
    /// `min_length`, at most 1024; default 128.
    #[serde(deserialize_with = "crate::integer::integer")]
    #[schemars(with = "u32", range(min = 64, max = 1024))]
    pub max_length: u32,
    /// Require an uppercase letter (compliance add-on; default off).
    pub require_uppercase: bool,
    /// Require a lowercase letter (compliance add-on; default off).
    pub require_lowercase: bool,
    /// Require a digit (compliance add-on; default off).
    pub require_digit: bool,
    /// Require a character that is neither a letter nor a digit (compliance
    /// add-on; default off). Spaces count.
    pub require_symbol: bool,
    /// Days after which a password expires and can only be changed; 1 to
    /// 3650, default none (no forced rotation).
    #[serde(default, deserialize_with = "crate::integer::optional_integer")]
    #[schemars(with = "Option<u32>", range(min = 1, max = 3650))]
    pub expiry_days: Option<u32>,
    /// Number of previous passwords that may not be reused (checked by the
    /// caller against stored hashes); 0 to 24, default 0.
    #[serde(deserialize_with = "crate::integer::integer")]
    #[schemars(with = "u32", range(min = 0, max = 24))]
    pub history: u32,
    /// Minimum `zxcvbn` score, 0 (no check) to 4; default 3.
    #[serde(deserialize_with = "crate::integer::integer")]
    #[schemars(with = "u8", range(min = 0, max = 4))]
    pub min_strength: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 12,
            max_length: 128,
            require_uppercase: false,
            require_lowercase: false,
            require_digit: false,
            require_symbol: false,
            expiry_days: None,
            history: 0,
            min_strength: 3,
        }
    }
}

/// Why a candidate password was refused. `Display` is a user-facing message
/// that never contains the password; [`PolicyViolation::code`] is the stable
/// API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Fewer code points than the policy's minimum.
    #[error("the password must be at least {min} characters long")]
    TooShort {
        /// The policy's minimum length.
        min: u32,
    },
    /// More code points than the policy's maximum.
    #[error("the password must be at most {max} characters long")]
    TooLong {
        /// The policy's maximum length.
        max: u32,
    },
    /// No uppercase letter, and the policy requires one.
    #[error("the password must contain an uppercase letter")]
    MissingUppercase,
    /// No lowercase letter, and the policy requires one.
    #[error("the password must contain a lowercase letter")]
    MissingLowercase,
    /// No digit, and the policy requires one.
    #[error("the password must contain a digit")]
    MissingDigit,
    /// No symbol (a character that is neither a letter nor a digit, such as
    /// punctuation or a space), and the policy requires one.
    #[error("the password must contain a symbol, punctuation mark or space")]
    MissingSymbol,
    /// The password, or its stem without trailing digits and symbols, is in
    /// the list of common passwords.
    #[error(
        "this password is too common: it appears in lists of frequently used passwords; choose another"
    )]
    Common,
    /// The password is made up of the user's email, name or tenant name.
    #[error("the password must not be made up of your email address, name or organisation name")]
    ContainsUserInfo,
    /// The strength estimate is below the policy's minimum.
    #[error(
        "the password is too easy to guess (strength {score} of 4, at least {required} required){}",
        suggestion_suffix(.suggestion.as_deref())
    )]
    TooWeak {
        /// The estimated strength, 0 to 4.
        score: u8,
        /// The policy's minimum strength.
        required: u8,
        /// Advice from the estimator (English), if any.
        suggestion: Option<String>,
    },
}

/// `": <suggestion>"` or nothing, for the `TooWeak` message.
fn suggestion_suffix(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) if !s.is_empty() => format!(": {s}"),
        _ => String::new(),
    }
}

impl PolicyViolation {
    /// The stable snake_case API error code: `password_too_short`,
    /// `password_too_long`, `password_missing_uppercase`,
    /// `password_missing_lowercase`, `password_missing_digit`,
    /// `password_missing_symbol`, `password_common`,
    /// `password_contains_user_info`, `password_too_weak`.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyViolation::TooShort { .. } => "password_too_short",
            PolicyViolation::TooLong { .. } => "password_too_long",
            PolicyViolation::MissingUppercase => "password_missing_uppercase",
            PolicyViolation::MissingLowercase => "password_missing_lowercase",
            PolicyViolation::MissingDigit => "password_missing_digit",
            PolicyViolation::MissingSymbol => "password_missing_symbol",
            PolicyViolation::Common => "password_common",
            PolicyViolation::ContainsUserInfo => "password_contains_user_info",
            PolicyViolation::TooWeak { .. } => "password_too_weak",
        }
    }
}

/// A refused policy field, named as in the JSON document.
fn invalid(field: &'static str, reason: &'static str) -> CoreError {
    CoreError::InvalidName { field, reason }
}

impl PasswordPolicy {
    /// Rejects an inconsistent or out-of-bounds policy with a specific message naming the field.
    ///
    /// Fields are named as in the JSON document (`minLength`, …); the error is
    /// [`CoreError::InvalidName`], whose message reads
    /// `invalid <field>: <reason>`.
    pub fn validate(&self) -> Result<(), CoreError> {
        if !(8..=128).contains(&self.min_length) {
            return Err(invalid("minLength", "must be between 8 and 128"));
        }
        if self.max_length < 64 {
            return Err(invalid(
                "maxLength",
                "must be at least 64 (NIST SP 800-63B)",
            ));
        }
        if self.max_length > 1024 {
            return Err(invalid("maxLength", "must be at most 1024"));
        }
        if self.max_length < self.min_length {
            return Err(invalid("maxLength", "must not be less than minLength"));
        }
        if let Some(days) = self.expiry_days
            && !(1..=3650).contains(&days)
        {
            return Err(invalid(
                "expiryDays",
                "must be between 1 and 3650, or null for no expiry",
            ));
        }
        if self.history > 24 {
            return Err(invalid("history", "must be between 0 and 24"));
        }
        if self.min_strength > 4 {
            return Err(invalid("minStrength", "must be between 0 and 4"));
        }
        Ok(())
    }

    /// Checks a candidate password; `context` holds user-specific words (email, its local part, display name, tenant name) that must not make up the password.
    ///
    /// The rules and their order are in the module docs. Work is bounded:
    /// normalisation stops after `max_length + 1` code points, and the
    /// strength estimator looks at the first 100.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), PolicyViolation> {
        let Some(normalised) = nfkc_bounded(password, self.max_length) else {
            return Err(PolicyViolation::TooLong {
                max: self.max_length,
            });
        };
        let length = normalised.chars().count();
        if u32::try_from(length).map_or(true, |l| l < self.min_length) {
            return Err(PolicyViolation::TooShort {
                min: self.min_length,
            });
        }

        if self.require_uppercase && !normalised.chars().any(char::is_uppercase) {
            return Err(PolicyViolation::MissingUppercase);
        }
        if self.require_lowercase && !normalised.chars().any(char::is_lowercase) {
            return Err(PolicyViolation::MissingLowercase);
        }
        if self.require_digit && !normalised.chars().any(char::is_numeric) {
            return Err(PolicyViolation::MissingDigit);
        }
        if self.require_symbol && !normalised.chars().any(|c| !c.is_alphanumeric()) {
            return Err(PolicyViolation::MissingSymbol);
        }

        let lower = Zeroizing::new(normalised.to_lowercase());
        if is_common(&lower) {
            return Err(PolicyViolation::Common);
        }

        let words = context_words(context);
        if made_of_user_info(&lower, &words) {
            return Err(PolicyViolation::ContainsUserInfo);
        }

        if self.min_strength > 0 {
            let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
            let estimate = zxcvbn::zxcvbn(&normalised, &inputs);
            let score = u8::from(estimate.score());
            if score < self.min_strength {
                return Err(PolicyViolation::TooWeak {
                    score,
                    required: self.min_strength,
                    suggestion: Some(advice(estimate.feedback())),
                });
            }
        }
        Ok(())
    }

    /// True when a password set at `changed_at_ms` has expired at `now_ms` under this policy.
    ///
    /// Expired means at least `expiry_days` × 24 h have passed. Without
    /// `expiry_days` nothing expires; a change time in the future (clock
    /// moved back) does not expire.
    pub fn is_expired(&self, changed_at_ms: i64, now_ms: i64) -> bool {
        let Some(days) = self.expiry_days else {
            return false;
        };
        let lifetime = i64::from(days).saturating_mul(MS_PER_DAY);
        now_ms.saturating_sub(changed_at_ms) >= lifetime
    }
}

/// The NFKC form of `password`, or `None` when it has more than `max` code
/// points (normalisation stops there, bounding the work on huge inputs).
fn nfkc_bounded(password: &str, max: u32) -> Option<Zeroizing<String>> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut out = Zeroizing::new(String::with_capacity(
        password.len().min(max.saturating_mul(4)),
    ));
    for (count, c) in password.nfkc().enumerate() {
        if count >= max {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// True when `lower` (lowercased, normalised), or its stem without trailing
/// non-letters, is a common password.
fn is_common(lower: &str) -> bool {
    if COMMON_PASSWORDS.contains(lower) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    !stem.is_empty() && stem.len() < lower.len() && COMMON_PASSWORDS.contains(stem)
}

/// The user's words: each context string normalised and lowercased, and its
/// parts split at non-alphanumeric characters; only those of at least
/// [`MIN_CONTEXT_WORD`] code points; longest first, without duplicates.
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        let w = w.trim();
        if w.chars().count() >= MIN_CONTEXT_WORD && !words.iter().any(|x| x == w) {
            words.push(w.to_string());
        }
    };
    for item in context {
        let item: String = item.nfkc().collect::<String>().to_lowercase();
        add(&item);
        for part in item.split(|c: char| !c.is_alphanumeric()) {
            add(part);
        }
    }
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    words
}

/// True when, after removing every occurrence of the user's words from
/// `lower`, fewer than [`MIN_OWN_LETTERS`] letters remain.
fn made_of_user_info(lower: &str, words: &[String]) -> bool {
    let mut rest = Zeroizing::new(lower.to_string());
    let mut removed = false;
    for w in words {
        if rest.contains(w.as_str()) {
            // A separator keeps fragments on either side from joining up.
            *rest = rest.replace(w.as_str(), " ");
            removed = true;
        }
    }
    removed && rest.chars().filter(|c| c.is_alphabetic()).count() < MIN_OWN_LETTERS
}

/// The estimator's advice as one sentence or two (fixed English texts that
/// never contain the password).
fn advice(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(f) = feedback {
        if let Some(w) = f.warning() {
            parts.push(w.to_string());
        }
        parts.extend(f.suggestions().iter().map(ToString::to_string));
    }
    if parts.is_empty() {
        parts.push("Add another word or two. Uncommon words are better.".to_string());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONTEXT: &[&str] = &[
        "alice.smith@example.com",
        "alice.smith",
        "Alice Smith",
        "Acme Industries",
    ];

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_symbol: true,
            ..PasswordPolicy::default()
        }
    }

    fn violation(p: &PasswordPolicy, pw: &str) -> PolicyViolation {
        p.check(pw, CONTEXT).expect_err(pw)
    }

    #[test]
    fn default_is_the_nist_profile_and_valid() {
        let p = PasswordPolicy::default();
        assert_eq!(p.min_length, 12);
        assert_eq!(p.max_length, 128);
        assert!(!p.require_uppercase && !p.require_lowercase);
        assert!(!p.require_digit && !p.require_symbol);
        assert_eq!(p.expiry_days, None);
        assert_eq!(p.history, 0);
        assert_eq!(p.min_strength, 3);
        p.validate().unwrap();
        strict().validate().unwrap();
    }

    #[test]
    fn common_list_is_real_and_large() {
        assert!(
            COMMON_PASSWORDS.len() >= 10_000,
            "{}",
            COMMON_PASSWORDS.len()
        );
        for w in [
            "123456", "password", "qwerty", "dragon", "iloveyou", "trustno1",
        ] {
            assert!(COMMON_PASSWORDS.contains(w), "{w}");
        }
        assert!(COMMON_PASSWORDS.iter().all(|w| w.to_lowercase() == *w));
    }

    #[test]
    fn too_short_and_too_long() {
        let p = PasswordPolicy::default();
        let v = violation(&p, "Zq8#vL2!mW5");
        assert_eq!(v, PolicyViolation::TooShort { min: 12 });
        assert_eq!(v.code(), "password_too_short");
        assert_eq!(violation(&p, "").code(), "password_too_short");
        let v = violation(&p, &"correct horse ".repeat(10));
        assert_eq!(v, PolicyViolation::TooLong { max: 128 });
        assert_eq!(v.code(), "password_too_long");
        // Huge input: refused as too long without normalising all of it.
        assert_eq!(
            violation(&p, &"x".repeat(10_000_000)).code(),
            "password_too_long"
        );
    }

    #[test]
    fn length_counts_code_points_after_nfkc() {
        let p = PasswordPolicy {
            min_strength: 0,
            ..PasswordPolicy::default()
        };
        // 12 code points, 24+ bytes: long enough.
        p.check("ЖжЖжЖжЖжЖжЖж", &[]).unwrap();
        // 11 combining sequences: e + U+0301 composes to é under NFKC.
        let decomposed = "e\u{301}".repeat(11);
        assert_eq!(decomposed.chars().count(), 22);
        assert_eq!(violation(&p, &decomposed).code(), "password_too_short");
        // The ligature ﬃ is three code points after NFKC.
        p.check("ﬃﬃﬃﬃ", &[]).unwrap();
        // Exactly at the bounds.
        p.check(&"é".repeat(12), &[]).unwrap();
        p.check(&"é".repeat(128), &[]).unwrap();
        assert_eq!(violation(&p, &"é".repeat(129)).code(), "password_too_long");
    }

    #[test]
    fn character_classes() {
        let p = strict();
        let cases = [
            ("quartz vellum 42 jib!", PolicyViolation::MissingUppercase),
            ("QUARTZ VELLUM 42 JIB!", PolicyViolation::MissingLowercase),
            ("Quartz vellum forty jib!", PolicyViolation::MissingDigit),
            ("Quartzvellum42jibFox", PolicyViolation::MissingSymbol),
        ];
        for (pw, want) in cases {
            let v = violation(&p, pw);
            assert_eq!(v, want, "{pw}");
        }
        assert_eq!(
            violation(&p, "quartz vellum 42 jib!").code(),
            "password_missing_uppercase"
        );
        assert_eq!(
            violation(&p, "QUARTZ VELLUM 42 JIB!").code(),
            "password_missing_lowercase"
        );
        assert_eq!(
            violation(&p, "Quartz vellum forty jib!").code(),
            "password_missing_digit"
        );
        assert_eq!(
            violation(&p, "Quartzvellum42jibFox").code(),
            "password_missing_symbol"
        );
        p.check("Quartz vellum 42 jib!", CONTEXT).unwrap();
        // Unicode-aware: Cyrillic upper/lower, Arabic-Indic digit, space as symbol.
        p.check("Ёжик в тумане ٣ раза", CONTEXT).unwrap();
        // Classes are not required by default.
        PasswordPolicy::default()
            .check("quartz vellum jib fox", CONTEXT)
            .unwrap();
    }

    #[test]
    fn common_passwords_refused() {
        let p = PasswordPolicy::default();
        for pw in [
            "1qaz2wsx3edc",
            "1QAZ2WSX3EDC",
            "qwertyuiop123",
            "Password123!",
            "Password1234567!!",
            "iloveyou 2024 !!",
            "ＰＡＳＳＷＯＲＤ１２３４", // full-width, NFKC → PASSWORD1234
        ] {
            let v = violation(&p, pw);
            assert_eq!(v, PolicyViolation::Common, "{pw}");
            assert_eq!(v.code(), "password_common");
        }
    }

    #[test]
    fn user_info_refused() {
        let p = PasswordPolicy::default();
        for pw in [
            "alice.smith@example.com",
            "AliceSmith2024!!",
            "Alice Smith 1990-01-01",
            "acme industries!!",
            "smith-alice-acme",
            "Alice.Smith.xyz.2024",
        ] {
            let v = violation(&p, pw);
            assert_eq!(v, PolicyViolation::ContainsUserInfo, "{pw}");
            assert_eq!(v.code(), "password_contains_user_info");
        }
        // The user's name inside a real passphrase is fine.
        p.check("alice keeps seven quiet lanterns", CONTEXT)
            .unwrap();
        // The rule is about this user's words: for someone else the same
        // password is judged on its own (and passes the estimator).
        p.check("AliceSmith2024!!", &["bob@example.org", "Bob Jones"])
            .unwrap();
    }

    #[test]
    fn too_weak_refused_with_advice() {
        let p = PasswordPolicy::default();
        for pw in ["abcabcabcabcabc", "aaaaaaaaaaaaaaaa", "qwertyuiopasdfgh1"] {
            let v = violation(&p, pw);
            assert_eq!(v.code(), "password_too_weak", "{pw}: {v:?}");
            let PolicyViolation::TooWeak {
                score,
                required,
                suggestion,
            } = &v
            else {
                panic!("{v:?}");
            };
            assert!(*score < 3);
            assert_eq!(*required, 3);
            assert!(suggestion.as_deref().is_some_and(|s| !s.is_empty()));
            let msg = v.to_string();
            assert!(
                msg.starts_with("the password is too easy to guess"),
                "{msg}"
            );
        }
        // Strength 0 turns the estimator off.
        let lax = PasswordPolicy {
            min_strength: 0,
            ..PasswordPolicy::default()
        };
        lax.check("abcabcabcabcabc", CONTEXT).unwrap();
    }

    #[test]
    fn strong_passphrases_accepted_by_default() {
        let p = PasswordPolicy::default();
        for pw in [
            "correct horse battery staple",
            "Tr0ub4dor&3 is not my password anymore",
            "Съешь же ещё этих мягких французских булок",
            "東京の夜は静かで星がきれいだ",
            "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
            "שלום עולם ירושלים של זהב",
            "🦀🔐 ferris guards the palisade gate 🏰",
            "    spaces   are   fine   too    ",
            "x7$Kp!2qZ#9vLm@4",
        ] {
            p.check(pw, CONTEXT)
                .unwrap_or_else(|v| panic!("{pw:?} refused: {v:?}"));
        }
    }

    #[test]
    fn messages_never_echo_the_password() {
        let p = strict();
        let secret = "Password123!";
        for pw in [
            secret,
            "AliceSmith2024!!",
            "abcabcabcabcabc",
            "short",
            "quartz vellum 42 jib!",
        ] {
            let v = p.check(pw, CONTEXT).unwrap_err();
            let msg = v.to_string();
            assert!(!msg.to_lowercase().contains(&pw.to_lowercase()), "{msg}");
            assert!(!format!("{v:?}").contains(pw));
        }
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            PolicyViolation::TooShort { min: 1 },
            PolicyViolation::TooLong { max: 1 },
            PolicyViolation::MissingUppercase,
            PolicyViolation::MissingLowercase,
            PolicyViolation::MissingDigit,
            PolicyViolation::MissingSymbol,
            PolicyViolation::Common,
            PolicyViolation::ContainsUserInfo,
            PolicyViolation::TooWeak {
                score: 0,
                required: 3,
                suggestion: None,
            },
        ];
        let codes: HashSet<&str> = all.iter().map(PolicyViolation::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.starts_with("password_")));
        assert_eq!(
            all[8].to_string(),
            "the password is too easy to guess (strength 0 of 4, at least 3 required)"
        );
    }

    #[test]
    fn validation_bounds() {
        let ok = PasswordPolicy::default();
        let field = |p: PasswordPolicy| match p.validate() {
            Err(CoreError::InvalidName { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let with = |f: &dyn Fn(&mut PasswordPolicy)| {
            let mut p = ok.clone();
            f(&mut p);
            p
        };
        assert_eq!(field(with(&|p| p.min_length = 7)), "minLength");
        assert_eq!(field(with(&|p| p.min_length = 129)), "minLength");
        with(&|p| p.min_length = 8).validate().unwrap();
        with(&|p| p.min_length = 128).validate().unwrap();
        assert_eq!(field(with(&|p| p.max_length = 63)), "maxLength");
        assert_eq!(field(with(&|p| p.max_length = 1025)), "maxLength");
        with(&|p| p.max_length = 64).validate().unwrap();
        with(&|p| p.max_length = 1024).validate().unwrap();
        assert_eq!(
            field(with(&|p| {
                p.min_length = 100;
                p.max_length = 99;
            })),
            "maxLength"
        );
        with(&|p| {
            p.min_length = 100;
            p.max_length = 100;
        })
        .validate()
        .unwrap();
        assert_eq!(field(with(&|p| p.expiry_days = Some(0))), "expiryDays");
        assert_eq!(field(with(&|p| p.expiry_days = Some(3651))), "expiryDays");
        with(&|p| p.expiry_days = Some(1)).validate().unwrap();
        with(&|p| p.expiry_days = Some(3650)).validate().unwrap();
        assert_eq!(field(with(&|p| p.history = 25)), "history");
        with(&|p| p.history = 24).validate().unwrap();
        assert_eq!(field(with(&|p| p.min_strength = 5)), "minStrength");
        with(&|p| p.min_strength = 0).validate().unwrap();
        with(&|p| p.min_strength = 4).validate().unwrap();
        let msg = with(&|p| p.min_length = 7)
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "invalid minLength: must be between 8 and 128");
    }

    #[test]
    fn expiry_arithmetic() {
        let day = MS_PER_DAY;
        let never = PasswordPolicy::default();
        assert!(!never.is_expired(0, i64::MAX));
        let p = PasswordPolicy {
            expiry_days: Some(90),
            ..PasswordPolicy::default()
        };
        let t0 = 1_700_000_000_000;
        assert!(!p.is_expired(t0, t0));
        assert!(!p.is_expired(t0, t0 + 90 * day - 1));
        assert!(p.is_expired(t0, t0 + 90 * day));
        assert!(p.is_expired(t0, t0 + 365 * day));
        // Clock moved back: not expired.
        assert!(!p.is_expired(t0, t0 - day));
        // Extreme values saturate instead of overflowing.
        assert!(p.is_expired(i64::MIN, i64::MAX));
        assert!(!p.is_expired(i64::MAX, i64::MIN));
        let huge = PasswordPolicy {
            expiry_days: Some(u32::MAX),
            ..PasswordPolicy::default()
        };
        assert!(!huge.is_expired(0, t0));
    }

    #[test]
    fn serde_round_trip_and_unknown_fields() {
        let p = PasswordPolicy {
            expiry_days: Some(90),
            history: 5,
            ..strict()
        };
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"minLength":12,"maxLength":128,"requireUppercase":true,"requireLowercase":true,"requireDigit":true,"requireSymbol":true,"expiryDays":90,"history":5,"minStrength":3}"#
        );
        let back: PasswordPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let d = serde_json::to_string(&PasswordPolicy::default()).unwrap();
        assert!(d.contains(r#""expiryDays":null"#), "{d}");
        assert_eq!(
            serde_json::from_str::<PasswordPolicy>(&d).unwrap(),
            PasswordPolicy::default()
        );
        let extra = json.replace("\"history\":5", "\"history\":5,\"maxAgeDays\":3");
        let err = serde_json::from_str::<PasswordPolicy>(&extra).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let snake = json.replace("minLength", "min_length");
        assert!(serde_json::from_str::<PasswordPolicy>(&snake).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn check_never_panics(
            pw in ".{0,200}",
            ctx in proptest::collection::vec(".{0,40}", 0..4),
            min_strength in 0u8..=4,
            classes in any::<[bool; 4]>(),
        ) {
            let p = PasswordPolicy {
                min_strength,
                require_uppercase: classes[0],
                require_lowercase: classes[1],
                require_digit: classes[2],
                require_symbol: classes[3],
                ..PasswordPolicy::default()
            };
            let ctx: Vec<&str> = ctx.iter().map(String::as_str).collect();
            if let Err(v) = p.check(&pw, &ctx) {
                prop_assert!(v.code().starts_with("password_"));
            }
        }

        #[test]
        fn check_never_panics_on_arbitrary_policy(
            pw in "\\PC{0,40}",
            min in any::<u32>(),
            max in any::<u32>(),
            min_strength in any::<u8>(),
        ) {
            let p = PasswordPolicy {
                min_length: min,
                max_length: max % 2048,
                min_strength,
                ..PasswordPolicy::default()
            };
            let _ = p.check(&pw, &["user@example.com"]);
        }

        #[test]
        fn is_expired_never_panics(a in any::<i64>(), b in any::<i64>(), d in proptest::option::of(any::<u32>())) {
            let p = PasswordPolicy { expiry_days: d, ..PasswordPolicy::default() };
            let _ = p.is_expired(a, b);
        }
    }
}
