//! Signed tokens: EdDSA (Ed25519) JWTs with the installation's JWT keys,
//! the JWKS that publishes their public halves, and the hashing of opaque
//! bearer secrets (refresh tokens, API keys).
//!
//! Verification accepts only `alg: EdDSA` with a known `kid`, checks
//! signature, issuer and audience with `jsonwebtoken`, and checks time
//! claims against the caller's clock (never the library's), so expiry is
//! testable without sleeping. Every failure has its own [`TokenError`].

use std::collections::BTreeMap;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::{CryptoError, Keyring};

/// Allowed clock skew for `iat`/`nbf` in the future, seconds.
pub const SKEW_S: i64 = 60;

/// Why a token was refused. Each maps to its own API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts with JSON header and claims.
    #[error("token is malformed")]
    Malformed,
    /// `alg` is not EdDSA (includes `none` and HMAC algorithms).
    #[error("token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// `kid` is missing or names no key of this installation.
    #[error("token key id is unknown")]
    UnknownKid,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `iat` or `nbf` is in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iss` is not this installation.
    #[error("token issuer is not this installation")]
    WrongIssuer,
    /// `aud` is not what the endpoint accepts (e.g. an MFA challenge token used as an access token).
    #[error("token audience is wrong")]
    WrongAudience,
}

/// Time claims every token carries.
pub trait TimeClaims {
    /// Issued at (s).
    fn iat(&self) -> i64;
    /// Expires at (s).
    fn exp(&self) -> i64;
}

struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Vec<u8>,
}

/// Signs and verifies JWTs with the keyring's Ed25519 keys.
pub struct TokenKeys {
    issuer: String,
    current: u32,
    keys: BTreeMap<u32, SigningKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from the keyring; the issuer names the installation.
    pub fn from_keyring(keyring: &Keyring) -> Result<Self, CryptoError> {
        let mut keys = BTreeMap::new();
        for (version, seed) in keyring.jwt_keys() {
            let pair = Ed25519KeyPair::from_seed_unchecked(seed.expose()).map_err(|_| {
                CryptoError::KeyringFormat("a JWT key is not a valid Ed25519 seed".into())
            })?;
            let pkcs8 = pair
                .to_pkcs8v1()
                .map_err(|_| CryptoError::KeyringFormat("cannot encode a JWT key".into()))?;
            let public = pair.public_key().as_ref().to_vec();
            keys.insert(
                *version,
                SigningKey {
                    encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
                    decoding: DecodingKey::from_ed_der(&public),
                    public,
                },
            );
        }
        Ok(TokenKeys {
            issuer: issuer_for(keyring),
            current: keyring.current_jwt().0,
            keys,
        })
    }

    /// The `iss` of tokens of this installation.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` with the current key (`kid` = its version).
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, CryptoError> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or_else(|| CryptoError::KeyringFormat("no current JWT key".into()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.current.to_string());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| CryptoError::KeyringFormat(format!("signing a token failed: {e}")))
    }

    /// Verifies a token for `audience` at `now_s` and returns its claims.
    pub fn verify<C: DeserializeOwned + TimeClaims>(
        &self,
        token: &str,
        audience: &str,
        now_s: i64,
    ) -> Result<C, TokenError> {
        let header_b64 = token.split('.').next().ok_or(TokenError::Malformed)?;
        if token.split('.').count() != 3 || token.len() > 8192 {
            return Err(TokenError::Malformed);
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Value =
            serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("EdDSA") {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let key = header
            .get("kid")
            .and_then(|k| k.as_str())
            .and_then(|k| k.parse::<u32>().ok())
            .and_then(|v| self.keys.get(&v))
            .ok_or(TokenError::UnknownKid)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[audience]);
        // Signature, issuer and audience first (on a generic map), then the
        // claims' shape: a token of another kind fails on its audience.
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::InvalidSignature => TokenError::BadSignature,
                    K::InvalidIssuer => TokenError::WrongIssuer,
                    K::InvalidAudience => TokenError::WrongAudience,
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                        TokenError::AlgorithmNotAllowed
                    }
                    K::ExpiredSignature => TokenError::Expired,
                    K::ImmatureSignature => TokenError::NotYetValid,
                    _ => TokenError::Malformed,
                }
            })?;
        let claims: C = serde_json::from_value(data.claims).map_err(|_| TokenError::Malformed)?;
        if claims.exp() <= now_s {
            return Err(TokenError::Expired);
        }
        if claims.iat() > now_s + SKEW_S {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    /// The JSON Web Key Set publishing every JWT public key.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|(kid, k)| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(&k.public),
                    "kid": kid.to_string(),
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// The issuer string of an installation.
pub fn issuer_for(keyring: &Keyring) -> String {
    format!("palisade:{}", keyring.installation_uid())
}

/// SHA-256 of an opaque high-entropy bearer secret, hex. Such secrets have
/// 256 bits of entropy, so a fast hash is enough (no brute force possible);
/// a slow hash would only slow down every request.
pub fn hash_bearer_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh 256-bit secret as base64url.
pub fn random_secret() -> Result<zeroize::Zeroizing<String>, CryptoError> {
    let mut b = zeroize::Zeroizing::new([0u8; 32]);
    crate::secret::fill_random(b.as_mut())?;
    Ok(zeroize::Zeroizing::new(URL_SAFE_NO_PAD.encode(b.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize)]
    struct C {
        iss: String,
        sub: String,
        aud: String,
        iat: i64,
        exp: i64,
    }
    impl TimeClaims for C {
        fn iat(&self) -> i64 {
            self.iat
        }
        fn exp(&self) -> i64 {
            self.exp
        }
    }

    fn claims(k: &TokenKeys, iat: i64, exp: i64) -> C {
        C {
            iss: k.issuer().into(),
            sub: "000000000001".into(),
            aud: "api".into(),
            iat,
            exp,
        }
    }

    fn forge(header: &str, payload: &C) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
        format!("{h}.{p}.")
    }

    #[test]
    fn sign_verify_and_every_refusal() {
        let ring = Keyring::generate().unwrap();
        let k = TokenKeys::from_keyring(&ring).unwrap();
        let t = k.sign(&claims(&k, 1000, 1900)).unwrap();
        let ok: C = k.verify(&t, "api", 1500).unwrap();
        assert_eq!(ok.sub, "000000000001");
        assert_eq!(
            k.verify::<C>(&t, "api", 1900).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            k.verify::<C>(&t, "api", 900).unwrap_err(),
            TokenError::NotYetValid
        );
        assert_eq!(
            k.verify::<C>(&t, "mfa", 1500).unwrap_err(),
            TokenError::WrongAudience
        );
        // Tampered signature: one byte of the decoded signature flipped (the
        // last base64 character may carry only padding bits, so edit bytes).
        let (head, sig) = t.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[10] ^= 0x01;
        let bad = format!("{head}.{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(
            k.verify::<C>(&bad, "api", 1500).unwrap_err(),
            TokenError::BadSignature
        );
        // Tampered claims with the original signature.
        let parts: Vec<&str> = t.split('.').collect();
        let mut c = claims(&k, 1000, 99_999);
        c.sub = "000000000002".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert_eq!(
            k.verify::<C>(&forged, "api", 1500).unwrap_err(),
            TokenError::BadSignature
        );
        // alg none, HS256, unknown kid, missing kid.
        let c = claims(&k, 1000, 1900);
        assert_eq!(
            k.verify::<C>(&forge(r#"{"alg":"none","kid":"1"}"#, &c), "api", 1500)
                .unwrap_err(),
            TokenError::AlgorithmNotAllowed
        );
        assert_eq!(
            k.verify::<C>(&forge(r#"{"alg":"HS256","kid":"1"}"#, &c), "api", 1500)
                .unwrap_err(),
            TokenError::AlgorithmNotAllowed
        );
        assert_eq!(
            k.verify::<C>(&forge(r#"{"alg":"EdDSA","kid":"9"}"#, &c), "api", 1500)
                .unwrap_err(),
            TokenError::UnknownKid
        );
        assert_eq!(
            k.verify::<C>(&forge(r#"{"alg":"EdDSA"}"#, &c), "api", 1500)
                .unwrap_err(),
            TokenError::UnknownKid
        );
        // Another installation's token: its kid "1" exists here but the
        // signature (and issuer) do not match.
        let other = TokenKeys::from_keyring(&Keyring::generate().unwrap()).unwrap();
        let foreign = other.sign(&claims(&other, 1000, 1900)).unwrap();
        assert_eq!(
            k.verify::<C>(&foreign, "api", 1500).unwrap_err(),
            TokenError::BadSignature
        );
        for junk in ["", "a.b", "a.b.c.d", "!!!.x.y", "e30.e30.e30"] {
            assert!(k.verify::<C>(junk, "api", 1500).is_err(), "{junk}");
        }
    }

    #[test]
    fn wrong_issuer_with_valid_signature() {
        let ring = Keyring::generate().unwrap();
        let k = TokenKeys::from_keyring(&ring).unwrap();
        let mut c = claims(&k, 1000, 1900);
        c.iss = "someone-else".into();
        let t = k.sign(&c).unwrap();
        assert_eq!(
            k.verify::<C>(&t, "api", 1500).unwrap_err(),
            TokenError::WrongIssuer
        );
    }

    #[test]
    fn jwks_publishes_the_public_key() {
        let k = TokenKeys::from_keyring(&Keyring::generate().unwrap()).unwrap();
        let jwks = k.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["kid"], "1");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
    }
}
