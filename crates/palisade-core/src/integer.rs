//! Integers as JSON Schema reads them: a JSON number with a zero fractional
//! part (`227.0`) is the integer 227, so the API accepts every value its
//! document calls an integer. For `#[serde(deserialize_with = ...)]` on
//! integer fields of request bodies.
//!
//! Only the spelling is relaxed: a fraction (`1.5`), a value out of the
//! field's range, a string or a boolean is still refused, and an error
//! never quotes the value.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};

struct Integer<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64> + TryFrom<i64>> Visitor<'de> for Integer<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer in the field's range")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Other("an integer"), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Other("an integer"), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // 2^63 and 2^64 are exact in f64; within them the cast is exact too.
        const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
        const U64_END: f64 = 18_446_744_073_709_551_616.0;
        if !v.is_finite() || v.fract() != 0.0 || !(I64_MIN..U64_END).contains(&v) {
            return Err(E::invalid_type(Unexpected::Other("a fraction"), &self));
        }
        if v >= 0.0 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            self.visit_u64(v as u64)
        } else {
            #[allow(clippy::cast_possible_truncation)]
            self.visit_i64(v as i64)
        }
    }
}

/// An integer, also when written with a zero fraction.
pub fn integer<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    d.deserialize_any(Integer(PhantomData))
}

struct Optional<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64> + TryFrom<i64>> Visitor<'de> for Optional<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        integer(d).map(Some)
    }
}

/// An optional integer (`null` is none), also when written with a zero
/// fraction. Pair with `#[serde(default)]` so a missing field is none.
pub fn optional_integer<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    d.deserialize_option(Optional(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct T {
        #[serde(deserialize_with = "super::integer")]
        n: u32,
        #[serde(default, deserialize_with = "super::optional_integer")]
        o: Option<u8>,
    }

    fn de(s: &str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn zero_fractions_are_integers_and_nothing_else_changes() {
        assert_eq!(de(r#"{"n": 227}"#).unwrap(), T { n: 227, o: None });
        assert_eq!(
            de(r#"{"n": 227.0, "o": 4.0}"#).unwrap(),
            T { n: 227, o: Some(4) }
        );
        assert_eq!(
            de(r#"{"n": 2.27e2, "o": null}"#).unwrap(),
            T { n: 227, o: None }
        );
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": -1.0}"#,
            r#"{"n": 4294967296}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "7"}"#,
            r#"{"n": true}"#,
            r#"{"n": 1, "o": 256}"#,
            r#"{"n": 1, "o": 0.5}"#,
        ] {
            let e = de(bad).unwrap_err();
            assert!(
                !e.contains("1.5") && !e.contains("4294967296"),
                "{bad}: {e}"
            );
        }
    }
}
