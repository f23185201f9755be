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
    ($(#[$doc:meta])* $name:ident, |$v:ident| $check:expr) => {
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
    |v| palisade_core::model::validate_name("name", v)
        .map_err(|e| serde::de::Error::custom(reason_of(&e.to_string())))
);

string_type!(
    /// A display name: 1–200 characters of screened free text.
    DisplayName,
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
    |v| {
        let r: Result<(), _> = chars_within(v, 0, DESCRIPTION_MAX);
        r.and_then(|()| screened(v))
    }
);

string_type!(
    /// An email address (the login ID within a tenant), screened.
    Email,
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
