//! Versioned AEAD envelopes for private fields and wrapped keys.
//!
//! Text form: `pal1.<key-version>.<base64url(nonce ‖ ciphertext ‖ tag)>`,
//! sealed with XChaCha20-Poly1305. The 192-bit nonce is drawn at random for
//! every seal: stateless replicas share keys without coordinating counters,
//! and random 192-bit nonces never collide in practice (96-bit nonces would
//! cap a key at about 2^32 seals).
//!
//! The associated data binds the envelope to where it lives — tenant, table,
//! column, row — and to the key version in its header, so a ciphertext copied
//! to another row, column or tenant fails to open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::secret::fill_random;
use crate::{CryptoError, Key32};

const PREFIX: &str = "pal1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"palisade-envelope-v1";

/// Where an envelope lives. Every field is bound into the authentication tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    /// The owning tenant's UID (or `-` for installation-wide values).
    pub tenant: &'a str,
    /// Table name.
    pub table: &'a str,
    /// Column name.
    pub column: &'a str,
    /// Row identifier (a UID, or a key version for wrapped keys).
    pub row: &'a str,
}

impl Aad<'_> {
    /// Canonical bytes: domain, then each field length-prefixed (u32 BE),
    /// then the key version (u32 BE). Length prefixes make the encoding
    /// injective: no two different contexts produce the same bytes.
    fn encode(&self, version: u32) -> Vec<u8> {
        let fields = [self.tenant, self.table, self.column, self.row];
        let mut out = Vec::with_capacity(
            AAD_DOMAIN.len() + 4 + fields.iter().map(|f| f.len() + 4).sum::<usize>(),
        );
        out.extend_from_slice(AAD_DOMAIN);
        for f in fields {
            // Fields are short identifiers; saturate rather than wrap on absurd input.
            let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out.extend_from_slice(&version.to_be_bytes());
        out
    }
}

/// Envelope operations. Stateless: keys are passed in.
#[derive(Debug)]
pub struct Envelope;

impl Envelope {
    /// Seals `plaintext` under `key` (of version `version`) for `aad`.
    pub fn seal(
        key: &Key32,
        version: u32,
        aad: &Aad<'_>,
        plaintext: &[u8],
    ) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        Self::seal_with_nonce(key, version, aad, plaintext, &nonce)
    }

    /// Seals with a caller-chosen nonce. Only for known-answer tests: reusing
    /// a nonce under one key destroys confidentiality.
    #[doc(hidden)]
    pub fn seal_with_nonce(
        key: &Key32,
        version: u32,
        aad: &Aad<'_>,
        plaintext: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<String, CryptoError> {
        let cipher = XChaCha20Poly1305::new(key.expose().into());
        let aad_bytes = aad.encode(version);
        let ct = cipher
            .encrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| CryptoError::MalformedEnvelope("plaintext too long"))?;
        let mut body = Vec::with_capacity(NONCE_LEN + ct.len());
        body.extend_from_slice(nonce);
        body.extend_from_slice(&ct);
        Ok(format!(
            "{PREFIX}.{version}.{}",
            URL_SAFE_NO_PAD.encode(&body)
        ))
    }

    /// The key version named in an envelope's header.
    pub fn key_version(text: &str) -> Result<u32, CryptoError> {
        Ok(Self::split(text)?.0)
    }

    fn split(text: &str) -> Result<(u32, &str), CryptoError> {
        let mut parts = text.splitn(3, '.');
        let (Some(prefix), Some(ver), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::MalformedEnvelope(
                "expected pal1.<version>.<data>",
            ));
        };
        if prefix != PREFIX {
            return Err(CryptoError::MalformedEnvelope("unknown envelope format"));
        }
        if ver.is_empty() || ver.len() > 10 || !ver.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoError::MalformedEnvelope("bad key version"));
        }
        let version = ver
            .parse::<u32>()
            .map_err(|_| CryptoError::MalformedEnvelope("bad key version"))?;
        Ok((version, body))
    }

    /// Opens an envelope. `key_for` maps a key version to its key.
    pub fn open<'k>(
        key_for: impl FnOnce(u32) -> Option<&'k Key32>,
        aad: &Aad<'_>,
        text: &str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (version, body) = Self::split(text)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::MalformedEnvelope("data is not base64url"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::MalformedEnvelope("too short"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| CryptoError::MalformedEnvelope("too short"))?;
        let key = key_for(version).ok_or(CryptoError::UnknownKeyVersion(version))?;
        let cipher = XChaCha20Poly1305::new(key.expose().into());
        let aad_bytes = aad.encode(version);
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &aad_bytes,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Authentication)
    }

    /// Opens an envelope holding UTF-8 text.
    pub fn open_string<'k>(
        key_for: impl FnOnce(u32) -> Option<&'k Key32>,
        aad: &Aad<'_>,
        text: &str,
    ) -> Result<Zeroizing<String>, CryptoError> {
        let bytes = Self::open(key_for, aad, text)?;
        std::str::from_utf8(&bytes)
            .map(|s| Zeroizing::new(s.to_owned()))
            .map_err(|_| CryptoError::NotUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aad<'a>(tenant: &'a str, row: &'a str) -> Aad<'a> {
        Aad {
            tenant,
            table: "users",
            column: "email",
            row,
        }
    }

    #[test]
    fn roundtrip_and_format() {
        let k = Key32::from_bytes([1; 32]);
        let env = Envelope::seal(&k, 3, &aad("t1", "r1"), b"hello").unwrap();
        assert!(env.starts_with("pal1.3."));
        assert_eq!(Envelope::key_version(&env).unwrap(), 3);
        let pt = Envelope::open(|v| (v == 3).then_some(&k), &aad("t1", "r1"), &env).unwrap();
        assert_eq!(&pt[..], b"hello");
    }

    #[test]
    fn two_seals_differ() {
        let k = Key32::from_bytes([1; 32]);
        let a = Envelope::seal(&k, 1, &aad("t", "r"), b"x").unwrap();
        let b = Envelope::seal(&k, 1, &aad("t", "r"), b"x").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn moved_ciphertext_fails() {
        let k = Key32::from_bytes([1; 32]);
        let env = Envelope::seal(&k, 1, &aad("t1", "r1"), b"secret").unwrap();
        for other in [
            aad("t2", "r1"),
            aad("t1", "r2"),
            Aad {
                column: "display_name",
                ..aad("t1", "r1")
            },
            Aad {
                table: "cloud_accounts",
                ..aad("t1", "r1")
            },
        ] {
            assert!(matches!(
                Envelope::open(|_| Some(&k), &other, &env),
                Err(CryptoError::Authentication)
            ));
        }
    }

    #[test]
    fn aad_encoding_is_injective_across_field_boundaries() {
        let a = Aad {
            tenant: "ab",
            table: "c",
            column: "d",
            row: "e",
        };
        let b = Aad {
            tenant: "a",
            table: "bc",
            column: "d",
            row: "e",
        };
        assert_ne!(a.encode(1), b.encode(1));
    }

    #[test]
    fn wrong_key_and_unknown_version_and_rewritten_header() {
        let k = Key32::from_bytes([1; 32]);
        let k2 = Key32::from_bytes([2; 32]);
        let env = Envelope::seal(&k, 1, &aad("t", "r"), b"s").unwrap();
        assert!(matches!(
            Envelope::open(|_| Some(&k2), &aad("t", "r"), &env),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            Envelope::open(|_| None, &aad("t", "r"), &env),
            Err(CryptoError::UnknownKeyVersion(1))
        ));
        // Claiming another version with the same key fails: the version is bound.
        let forged = env.replacen("pal1.1.", "pal1.2.", 1);
        assert!(matches!(
            Envelope::open(|_| Some(&k), &aad("t", "r"), &forged),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn malformed() {
        let k = Key32::from_bytes([1; 32]);
        for bad in [
            "",
            "pal1",
            "pal1.1",
            "pal2.1.AAAA",
            "pal1.x.AAAA",
            "pal1.1.AAAA",
            "pal1.1.!!!!",
            "pal1.99999999999.AAAA",
        ] {
            assert!(
                matches!(
                    Envelope::open(|_| Some(&k), &aad("t", "r"), bad),
                    Err(CryptoError::MalformedEnvelope(_))
                ),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn every_single_bit_flip_fails(pos in 0usize..400, bit in 0u8..8) {
            let k = Key32::from_bytes([9; 32]);
            let env = Envelope::seal(&k, 1, &aad("t", "r"), b"cloud-credential").unwrap();
            let (head, body) = env.split_at(7);
            let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
            let i = pos % raw.len();
            raw[i] ^= 1 << bit;
            let tampered = format!("{head}{}", URL_SAFE_NO_PAD.encode(&raw));
            prop_assert!(matches!(
                Envelope::open(|_| Some(&k), &aad("t", "r"), &tampered),
                Err(CryptoError::Authentication)
            ));
        }

        #[test]
        fn open_never_panics(s in ".{0,200}") {
            let k = Key32::from_bytes([9; 32]);
            let _ = Envelope::open(|_| Some(&k), &aad("t", "r"), &s);
        }
    }
}
