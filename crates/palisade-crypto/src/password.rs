//! Password hashing: Argon2id with the installation hash salt as pepper.
//!
//! Parameters meet OWASP's recommendation (m = 19 MiB, t = 2, p = 1). The
//! pepper (Argon2's secret input) means a stolen database alone does not let
//! an attacker test password guesses offline. These calls are CPU-bound:
//! servers run them off the async runtime.
//!
//! [`verify_password_in`] is [`verify_password`] computed in a caller-kept
//! [`HashMemory`], for threads that check passwords all day: the Argon2
//! computation and the constant-time comparison are the `argon2` crate's
//! and `subtle`'s; only the buffer is kept. This module must not implement
//! any part of Argon2 itself.

use argon2::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

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

/// Largest working memory a [`HashMemory`] keeps between checks (64 MiB);
/// a stored hash that needs more gets a buffer of its own, freed after.
pub const KEEP_MAX_KIB: usize = 64 * 1024;

/// Argon2 working memory kept by one thread between password checks, so
/// that checking a password does not allocate, page-fault and zero `m` KiB
/// every time. It holds the last computation's (password-derived) blocks
/// until the next check overwrites them; it is zeroized when dropped.
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
}

impl HashMemory {
    /// An empty buffer; it grows to the first check's memory cost.
    pub fn new() -> Self {
        Self::default()
    }

    /// KiB currently held.
    pub fn kib(&self) -> usize {
        self.blocks.len()
    }
}

impl Drop for HashMemory {
    fn drop(&mut self) {
        self.blocks.iter_mut().for_each(Zeroize::zeroize);
    }
}

/// [`verify_password`] computed in `memory`: same answers (`Ok(false)` on a
/// mismatch or a hash it cannot compute, `Err` only when `stored` is not a
/// PHC string), same cost apart from the allocation it saves.
pub fn verify_password_in(
    memory: &mut HashMemory,
    pepper: &Key32,
    password: &SecretString,
    stored: &str,
) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(stored).map_err(|e| CryptoError::Password(e.to_string()))?;
    Ok(compute_matches(memory, pepper, password, &parsed).unwrap_or(false))
}

/// Recomputes `parsed` for `password` (its algorithm, version, parameters
/// and salt, with the pepper) and compares in constant time. `None` where
/// the `argon2` crate's own verify would refuse.
fn compute_matches(
    memory: &mut HashMemory,
    pepper: &Key32,
    password: &SecretString,
    parsed: &PasswordHash,
) -> Option<bool> {
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(parsed).ok()?;
    let salt = parsed.salt.as_ref()?;
    let expected = parsed.hash.as_ref()?;
    let blocks = params.block_count();
    let argon = Argon2::new_with_secret(pepper.expose(), algorithm, version, params).ok()?;
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let pw = password.expose_secret().as_bytes();
    if blocks <= KEEP_MAX_KIB {
        if memory.blocks.len() < blocks {
            memory.blocks.resize(blocks, Block::new());
        }
        let mine = memory.blocks.get_mut(..blocks)?;
        argon
            .hash_password_into_with_memory(pw, salt.as_ref(), &mut out, mine)
            .ok()?;
    } else {
        let mut own = HashMemory {
            blocks: vec![Block::new(); blocks],
        };
        argon
            .hash_password_into_with_memory(pw, salt.as_ref(), &mut out, own.blocks.as_mut_slice())
            .ok()?;
    }
    Some(crate::secret::ct_eq(&out, expected.as_bytes()))
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

    /// Small hashes of every kind the `argon2` crate reads, made by it.
    const PW: &str = "correct horse battery staple";
    const ID13: (Algorithm, Version) = (Algorithm::Argon2id, Version::V0x13);

    /// `cost` is (m KiB, t, p, output bytes).
    fn stored(
        pepper: &Key32,
        (alg, version): (Algorithm, Version),
        (m, t, p, out): (u32, u32, u32, usize),
        pw: &str,
    ) -> String {
        let params = Params::new(m, t, p, Some(out)).unwrap();
        Argon2::new_with_secret(pepper.expose(), alg, version, params)
            .unwrap()
            .hash_password(pw.as_bytes())
            .unwrap()
            .to_string()
    }

    #[test]
    fn kept_memory_answers_as_the_crate() {
        let pepper = Key32::from_bytes([3; 32]);
        let other = Key32::from_bytes([4; 32]);
        let pw = SecretString::from("correct horse battery staple");
        let wrong = SecretString::from("correct horse battery stapler");
        let mut memory = HashMemory::new();
        let server = hash_password(&pepper, &pw).unwrap();
        let mut cases = vec![server.clone()];
        for alg in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                cases.push(stored(&pepper, (alg, version), (64, 3, 2, 32), PW));
            }
        }
        // Other output lengths and memory costs, larger then smaller than
        // what the buffer holds by then.
        cases.push(stored(&pepper, ID13, (4096, 1, 1, 16), PW));
        cases.push(stored(&pepper, ID13, (8, 1, 1, 64), PW));
        for c in &cases {
            for (key, candidate) in [(&pepper, &pw), (&pepper, &wrong), (&other, &pw)] {
                assert_eq!(
                    verify_password_in(&mut memory, key, candidate, c).unwrap(),
                    verify_password(key, candidate, c).unwrap(),
                    "{c}"
                );
            }
            assert!(
                verify_password_in(&mut memory, &pepper, &pw, c).unwrap(),
                "{c}"
            );
        }
        assert_eq!(memory.kib(), M_COST as usize);
        // Tampered or odd strings: the same answers as the crate's verify.
        let mut odd = vec![
            "not a hash".to_owned(),
            server.replace("argon2id", "argon2x"),
            server.replace("v=19", "v=18"),
            server.replace("m=19456", "m=1"),
            server.rsplit_once('$').unwrap().0.to_owned(),
        ];
        let (head, tail) = server.rsplit_once('$').unwrap();
        odd.push(format!("{head}${}", &tail[..tail.len() - 4]));
        for c in &odd {
            match (
                verify_password_in(&mut memory, &pepper, &pw, c),
                verify_password(&pepper, &pw, c),
            ) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{c}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{c}: kept memory {a:?}, crate {b:?}"),
            }
        }
    }

    #[test]
    fn a_costly_hash_does_not_stay_in_memory() {
        let pepper = Key32::from_bytes([5; 32]);
        let pw = SecretString::from("correct horse battery staple");
        let big = stored(&pepper, ID13, ((KEEP_MAX_KIB + 8) as u32, 1, 1, 32), PW);
        let mut memory = HashMemory::new();
        assert!(verify_password_in(&mut memory, &pepper, &pw, &big).unwrap());
        assert_eq!(memory.kib(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Any password against any small hash: the kept-memory check and
        /// the crate's agree, whatever the buffer held before.
        #[test]
        fn kept_memory_agrees_for_any_password(
            made in "[ -~]{0,40}",
            tried in "[ -~]{0,40}",
            m in 8u32..96,
            t in 1u32..3,
        ) {
            let pepper = Key32::from_bytes([6; 32]);
            let h = stored(&pepper, ID13, (m, t, 1, 32), &made);
            let mut memory = HashMemory::new();
            for candidate in [&made, &tried] {
                let c = SecretString::from(candidate.clone());
                proptest::prop_assert_eq!(
                    verify_password_in(&mut memory, &pepper, &c, &h).unwrap(),
                    verify_password(&pepper, &c, &h).unwrap()
                );
            }
        }
    }
}
