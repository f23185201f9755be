//! Password hashing: Argon2id with the installation hash salt as pepper.
//!
//! Parameters meet OWASP's recommendation (m = 19 MiB, t = 2, p = 1). The
//! pepper (Argon2's secret input) means a stolen database alone does not let
//! an attacker test password guesses offline. These calls are CPU-bound:
//! servers run them off the async runtime.

use argon2::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::{CryptoError, Key32};

/// Memory cost in KiB.
pub const M_COST: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;

fn hasher(pepper: &Key32) -> Result<Argon2<'_>, CryptoError> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| CryptoError::Password(e.to_string()))?;
    Argon2::new_with_secret(pepper.expose(), Algorithm::Argon2id, Version::V0x13, params)
        .map_err(|e| CryptoError::Password(e.to_string()))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=…`).
pub fn hash_password(pepper: &Key32, password: &SecretString) -> Result<String, CryptoError> {
    hasher(pepper)?
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Password(e.to_string()))
}

/// Checks a password against a stored PHC string. `Ok(false)` on mismatch;
/// `Err` only when the stored hash cannot be parsed.
pub fn verify_password(
    pepper: &Key32,
    password: &SecretString,
    stored: &str,
) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(stored).map_err(|e| CryptoError::Password(e.to_string()))?;
    Ok(hasher(pepper)?
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok())
}

/// True when a stored hash was made with weaker or different parameters
/// than the current ones and should be replaced after a successful login.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() != M_COST
        || params.t_cost() != T_COST
        || params.p_cost() != P_COST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_pepper() {
        let pepper = Key32::from_bytes([3; 32]);
        let pw = SecretString::from("correct horse battery staple");
        let h = hash_password(&pepper, &pw).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!h.contains("correct"));
        assert!(verify_password(&pepper, &pw, &h).unwrap());
        assert!(!verify_password(&pepper, &SecretString::from("wrong"), &h).unwrap());
        // Same password, another installation's pepper: refused.
        assert!(!verify_password(&Key32::from_bytes([4; 32]), &pw, &h).unwrap());
        assert!(!needs_rehash(&h));
        assert!(needs_rehash(
            "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
        ));
        assert!(verify_password(&pepper, &pw, "not a hash").is_err());
    }
}
