//! 48-bit random identifiers, written as 12 lowercase hex characters.
//!
//! Every object Palisade names (tenants, users, projects, sessions, requests,
//! audit events…) carries one. They reveal nothing: no time, no counter, no
//! host. Allocation retries on a collision (the store's job).

use std::fmt;
use std::str::FromStr;

use rand::{Rng, TryRng};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

/// Number of hex characters in a UID.
pub const UID_LEN: usize = 12;

/// A 48-bit identifier. Only the low 48 bits are ever set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(u64);

impl Uid {
    const MASK: u64 = (1 << 48) - 1;

    /// A fresh UID drawn from the given random source (the OS CSPRNG in production).
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Uid(rng.next_u64() & Self::MASK)
    }

    /// A fresh UID from the operating system's CSPRNG.
    ///
    /// Fails only when the OS refuses to provide randomness.
    pub fn generate() -> Result<Self, rand::rngs::SysError> {
        let mut os = rand::rngs::SysRng;
        Ok(Uid(os.try_next_u64()? & Self::MASK))
    }

    /// A fresh UID from this thread's CSPRNG (ChaCha, seeded and reseeded
    /// from the OS), without a system call: for the UID every request gets,
    /// which names the request and is not a secret.
    pub fn generate_per_thread() -> Self {
        Self::random(&mut rand::rng())
    }

    /// The UID as a number (low 48 bits).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Builds a UID from a number, keeping the low 48 bits.
    pub fn from_u64(v: u64) -> Self {
        Uid(v & Self::MASK)
    }

    /// Parses exactly 12 lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        if s.len() != UID_LEN
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(CoreError::InvalidUid);
        }
        u64::from_str_radix(s, 16)
            .map(Uid)
            .map_err(|_| CoreError::InvalidUid)
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012x}", self.0)
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({self})")
    }
}

impl FromStr for Uid {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uid::parse(s)
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Uid::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_as_twelve_lowercase_hex() {
        assert_eq!(Uid::from_u64(0xab).to_string(), "0000000000ab");
        assert_eq!(Uid::from_u64(u64::MAX).to_string(), "ffffffffffff");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "abc",
            "0000000000AB",
            "0000000000abc",
            "00000000000g",
            " 00000000000a",
            "+0000000000a",
            "ｆｆ",
        ] {
            assert_eq!(Uid::parse(bad), Err(CoreError::InvalidUid), "{bad:?}");
        }
    }

    #[test]
    fn generated_uids_differ_and_fit_48_bits() {
        let a = Uid::generate().unwrap();
        let b = Uid::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.as_u64() < 1 << 48);
        let many: std::collections::HashSet<Uid> =
            (0..1000).map(|_| Uid::generate_per_thread()).collect();
        assert_eq!(many.len(), 1000);
        assert!(many.iter().all(|u| u.as_u64() < 1 << 48));
    }

    proptest! {
        #[test]
        fn roundtrip(v in 0u64..(1 << 48)) {
            let u = Uid::from_u64(v);
            prop_assert_eq!(Uid::parse(&u.to_string()), Ok(u));
        }

        #[test]
        fn parse_never_panics(s in ".{0,20}") {
            let _ = Uid::parse(&s);
        }
    }
}
