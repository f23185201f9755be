//! The keyed blind index used to find a user by email without decrypting.
//!
//! `HMAC-SHA256(hash_salt, tenant_uid ‖ 0x00 ‖ lowercase(trim(email)))`, hex.
//! Without the hash salt the index cannot be computed, so a stolen database
//! does not allow confirming a guessed email address.

use hmac::{Hmac, KeyInit, Mac};
use palisade_core::Uid;
use palisade_core::model::normalize_email;
use sha2::Sha256;

use crate::Key32;

/// The blind index of `email` within `tenant`, as 64 lowercase hex characters.
pub fn email_index(hash_salt: &Key32, tenant: Uid, email: &str) -> String {
    keyed_hash(
        hash_salt,
        &[
            tenant.to_string().as_bytes(),
            normalize_email(email).as_bytes(),
        ],
    )
}

/// HMAC-SHA-256 under `key` over the parts joined with a 0x00 separator, hex.
/// Parts must not contain NUL (UIDs and normalised text do not).
pub fn keyed_hash(key: &Key32, parts: &[&[u8]]) -> String {
    // HMAC accepts keys of any length; a 32-byte key cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()) else {
        return String::new();
    };
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_space_insensitive_and_tenant_bound() {
        let k = Key32::from_bytes([7; 32]);
        let t1 = Uid::from_u64(1);
        let t2 = Uid::from_u64(2);
        let a = email_index(&k, t1, "Alice@Example.com ");
        assert_eq!(a, email_index(&k, t1, "alice@example.com"));
        assert_ne!(a, email_index(&k, t2, "alice@example.com"));
        assert_ne!(
            a,
            email_index(&Key32::from_bytes([8; 32]), t1, "alice@example.com")
        );
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256(key = 32 × 0x07, "000000000001" ‖ 0x00 ‖ "alice@example.com"),
        // computed independently with Python's hmac module.
        let k = Key32::from_bytes([7; 32]);
        assert_eq!(
            email_index(&k, Uid::from_u64(1), "alice@example.com"),
            include_str!("../tests/vectors/blind_index.txt").trim()
        );
    }
}
