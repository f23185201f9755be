//! Validated field types of request bodies and query strings. Each checks
//! its value while it is deserialized, so a bad value never reaches a
//! handler and the error names the field (through the extractor) without
//! echoing the value:
//!
//! - [`Name`]: a resource name, a DNS label of 1–63 characters;
//! - [`DisplayName`]: free text of 1–200 characters;
//! - [`Description`]: free text of 0–1000 characters;
//! - [`Email`]: an email address of at most 254 bytes.
//!
//! Free text and emails are screened for SQL injection and cross-site
//! scripting (`palisade_core::screen`); a refused value's error message
//! starts with [`SUSPICIOUS`], which the extractors turn into
//! `400 suspicious_input`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Prefix of the deserialization error of a screened-out value.
pub const SUSPICIOUS: &str = "suspicious input";

/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 1000;
/// Longest email address, in characters.
pub const EMAIL_MAX_CHARS: usize = 254;

/// Schema pattern of a description: no control character but tab, line
/// feed and carriage return (the screen refuses the others, see
/// `palisade_core::screen::check`).
pub const DESCRIPTION_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";

/// Schema pattern of a display name: as [`DESCRIPTION_PATTERN`], with at
/// least one character that is not whitespace. The whitespace class spells
/// out Unicode's `White_Space` (what `str::trim` removes) instead of `\s`,
/// whose meaning differs between regex engines.
pub const DISPLAY_NAME_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";

/// Schema pattern of an email address: one `@` between two non-empty
/// parts without whitespace or control characters (what
/// `palisade_core::model::validate_email` checks).
pub const EMAIL_PATTERN: &str = r"^[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$";

/// Schema description of screened free text.
const SCREENED_TEXT: &str = "Free text (any script, punctuation and emoji), screened for SQL injection and cross-site scripting: a value that looks like either is refused with 400 suspicious_input, naming the field.";

fn screened<E: serde::de::Error>(value: &str) -> Result<(), E> {
    palisade_core::screen::check(value)
        .map_err(|f| E::custom(format!("{SUSPICIOUS} ({})", f.threat())))
}

fn chars_within<E: serde::de::Error>(value: &str, min: usize, max: usize) -> Result<(), E> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(E::custom(format!("must be {min} to {max} characters")));
    }
    Ok(())
}

macro_rules! string_type {
    ($(#[$doc:meta])* $name:ident, schema: $schema:tt, |$v:ident| $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` as deserialization would.
            pub fn parse(value: &str) -> Result<Self, String> {
                let $v: &str = value;
                let checked: Result<(), serde::de::value::Error> = $check;
                checked.map_err(|e| e.to_string())?;
                Ok($name(value.to_owned()))
            }
            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The value, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                concat!("palisade_proto::fields::", stringify!($name)).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                let $v: &str = &value;
                $check?;
                Ok($name(value))
            }
        }
    };
}

string_type!(
    /// A resource name: a DNS label of 1–63 lowercase letters, digits and
    /// `-`, starting with a letter (safe in URLs, subjects and Kubernetes).
    Name,
    schema: {
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "pattern": palisade_core::schema::NAME_PATTERN,
        "description": "A DNS label: 1 to 63 lowercase letters, digits and '-', starting with a letter, not ending with '-'.",
    },
    |v| palisade_core::model::validate_name("name", v)
        .map_err(|e| serde::de::Error::custom(reason_of(&e.to_string())))
);

string_type!(
    /// A display name: 1–200 characters of screened free text.
    DisplayName,
    schema: {
        "type": "string",
        "minLength": 1,
        "maxLength": DISPLAY_NAME_MAX,
        "pattern": DISPLAY_NAME_PATTERN,
        "description": SCREENED_TEXT,
    },
    |v| {
        let r: Result<(), _> = chars_within(v, 1, DISPLAY_NAME_MAX);
        r.and_then(|()| {
            if v.trim().is_empty() {
                Err(serde::de::Error::custom("must not be blank"))
            } else {
                screened(v)
            }
        })
    }
);

string_type!(
    /// A description: 0–1000 characters of screened free text.
    Description,
    schema: {
        "type": "string",
        "maxLength": DESCRIPTION_MAX,
        "pattern": DESCRIPTION_PATTERN,
        "description": SCREENED_TEXT,
    },
    |v| {
        let r: Result<(), _> = chars_within(v, 0, DESCRIPTION_MAX);
        r.and_then(|()| screened(v))
    }
);

string_type!(
    /// An email address (the login ID within a tenant), screened.
    Email,
    schema: {
        "type": "string",
        "minLength": 3,
        "maxLength": EMAIL_MAX_CHARS,
        "pattern": EMAIL_PATTERN,
        "description": "An email address, local@domain: at most 254 characters, no whitespace or control characters; screened like free text.",
    },
    |v| palisade_core::model::validate_email(v)
        .map_err(|e| serde::de::Error::custom(reason_of(&e.to_string())))
        .and_then(|()| screened(v))
);

/// `"name must be …"` → `"must be …"` (the extractor names the field).
fn reason_of(message: &str) -> String {
    match message.split_once(": ") {
        Some((_, reason)) => reason.to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // The documented email pattern (plus the byte bound) is exactly
        // the shape check of validate_email; screening comes on top.
        #[test]
        fn email_pattern_is_validate_email(
            s in "[a-z@. \\t\\x00-\\x1f\\x7f-\\u{9f}\\u{a0}\\u{2028}é]{0,12}|\\PC{0,16}@\\PC{0,16}"
        ) {
            let re = regex::Regex::new(EMAIL_PATTERN).unwrap();
            prop_assert_eq!(
                re.is_match(&s) && s.chars().count() <= EMAIL_MAX_CHARS,
                palisade_core::model::validate_email(&s).is_ok(),
                "{:?}", s
            );
        }

        // The documented patterns are the validators' rules short of
        // libinjection: blank and control characters.
        #[test]
        fn text_patterns_are_the_validators(
            s in "[ \\t\\n\\r\\x00\\x0b\\x1f\\x7f\\u{85}\\u{9f}\\u{a0}\\u{3000}\\u{2028}aé]{0,6}"
        ) {
            let display = regex::Regex::new(DISPLAY_NAME_PATTERN).unwrap();
            let description = regex::Regex::new(DESCRIPTION_PATTERN).unwrap();
            prop_assert_eq!(display.is_match(&s), DisplayName::parse(&s).is_ok(), "{:?}", s);
            prop_assert_eq!(description.is_match(&s), Description::parse(&s).is_ok(), "{:?}", s);
        }
    }

    #[test]
    fn schemas_carry_the_bounds() {
        let s = schemars::schema_for!(DisplayName);
        assert_eq!(
            s.get("maxLength"),
            Some(&serde_json::json!(DISPLAY_NAME_MAX))
        );
        let s = schemars::schema_for!(Name);
        assert_eq!(
            s.get("pattern").and_then(|p| p.as_str()),
            Some(palisade_core::schema::NAME_PATTERN)
        );
        let s = schemars::schema_for!(Description);
        assert_eq!(
            s.get("maxLength"),
            Some(&serde_json::json!(DESCRIPTION_MAX))
        );
        assert!(s.get("minLength").is_none());
    }

    fn de<T: for<'de> Deserialize<'de>>(v: &str) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::from(v)).map_err(|e| e.to_string())
    }

    #[test]
    fn bounds_and_screening() {
        assert!(de::<Name>("prod-eu-1").is_ok());
        assert!(de::<Name>("Prod").unwrap_err().contains("lowercase"));
        assert!(de::<DisplayName>("O'Reilly").is_ok());
        assert!(de::<DisplayName>("東京の開発チーム 🚀").is_ok());
        assert!(de::<DisplayName>("").is_err());
        assert!(de::<DisplayName>("   ").unwrap_err().contains("blank"));
        assert!(de::<DisplayName>(&"é".repeat(200)).is_ok());
        assert!(de::<DisplayName>(&"é".repeat(201)).is_err());
        assert!(de::<Description>("").is_ok());
        let e = de::<Description>("x' OR 1=1 --").unwrap_err();
        assert!(e.starts_with(SUSPICIOUS), "{e}");
        assert!(!e.contains("OR 1=1"), "never echoes the value: {e}");
        let e = de::<DisplayName>("<script>alert(1)</script>").unwrap_err();
        assert!(e.starts_with(SUSPICIOUS), "{e}");
        assert!(de::<Email>("o'reilly@example.com").is_ok());
        assert!(de::<Email>("not-an-email").is_err());
        assert_eq!(Name::parse("web").unwrap().as_str(), "web");
    }
}
