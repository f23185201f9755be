//! NATS credentials files: a user JWT and the user's nkey seed in the
//! standard decorated layout that `nsc` writes and async-nats
//! `ConnectOptions::credentials` reads:
//!
//! ```text
//! -----BEGIN NATS USER JWT-----
//! eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ...
//! ------END NATS USER JWT------
//!
//! ************************* IMPORTANT *************************
//! NKEY Seed printed below can be used to sign and prove identity.
//! NKEYs are sensitive and should be treated as secrets.
//!
//! -----BEGIN USER NKEY SEED-----
//! SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM
//! ------END USER NKEY SEED------
//!
//! *************************************************************
//! ```
//!
//! The parser is stricter than the Go and Rust clients' regular
//! expressions: exactly one JWT block and one seed block, each holding one
//! line, the JWT a user JWT whose subject is the seed's public key. It says
//! precisely what is wrong and never echoes the content. This module must
//! not write files or log; the seed stays in secret types.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::BusError;
use crate::jwt::{self, UserClaims};
use crate::keys::{KeyKind, NatsKey};

/// Largest credentials file accepted.
pub const MAX_CREDS_LEN: usize = 64 * 1024;

const JWT_BEGIN: &str = "-----BEGIN NATS USER JWT-----";
const JWT_END: &str = "------END NATS USER JWT------";
const SEED_BEGIN: &str = "-----BEGIN USER NKEY SEED-----";
const SEED_END: &str = "------END USER NKEY SEED------";

/// A user JWT with its seed. `Debug` shows the JWT's subject only.
pub struct Credentials {
    jwt: String,
    seed: SecretString,
    public_key: String,
}

impl Credentials {
    /// Pairs a user JWT with its key. Refuses a JWT whose subject is not
    /// that key (the signature is verified by decoding; trust in the issuer
    /// is nats-server's decision).
    pub fn new(jwt: String, key: &NatsKey) -> Result<Self, BusError> {
        if key.kind() != KeyKind::User {
            return Err(BusError::Creds("the key is not a user key"));
        }
        let claims: UserClaims = jwt::decode(&jwt)?;
        if claims.sub != key.public_key() {
            return Err(BusError::Creds(
                "the JWT's subject is not the seed's public key",
            ));
        }
        Ok(Credentials {
            jwt,
            seed: key.seed()?,
            public_key: key.public_key().to_owned(),
        })
    }

    /// The user JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The user's public key (the JWT's subject).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The user's key pair, e.g. to sign a server nonce in an async-nats
    /// auth callback.
    pub fn key(&self) -> Result<NatsKey, BusError> {
        NatsKey::from_seed(self.seed.expose_secret(), KeyKind::User)
    }

    /// The decoded user claims (expiry, name, issuer).
    pub fn claims(&self) -> Result<UserClaims, BusError> {
        jwt::decode(&self.jwt)
    }

    /// The file text, in the standard layout. Secret: it holds the seed.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.jwt.len() + 512));
        s.push_str(JWT_BEGIN);
        s.push('\n');
        s.push_str(&self.jwt);
        s.push('\n');
        s.push_str(JWT_END);
        s.push_str("\n\n");
        s.push_str("************************* IMPORTANT *************************\n");
        s.push_str("NKEY Seed printed below can be used to sign and prove identity.\n");
        s.push_str("NKEYs are sensitive and should be treated as secrets.\n\n");
        s.push_str(SEED_BEGIN);
        s.push('\n');
        s.push_str(self.seed.expose_secret());
        s.push('\n');
        s.push_str(SEED_END);
        s.push_str("\n\n*************************************************************\n");
        s
    }

    /// Parses a credentials file (see the module documentation).
    pub fn parse(text: &str) -> Result<Self, BusError> {
        if text.len() > MAX_CREDS_LEN {
            return Err(BusError::Creds("larger than 64 KiB"));
        }
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let jwt = block(&lines, JWT_BEGIN, JWT_END, "JWT")?;
        let seed = Zeroizing::new(block(&lines, SEED_BEGIN, SEED_END, "seed")?.to_owned());
        if !seed.starts_with("SU") {
            return Err(BusError::Creds("the seed is not a user seed (SU…)"));
        }
        let key = NatsKey::from_seed(&seed, KeyKind::User)
            .map_err(|_| BusError::Creds("the seed is not a valid nkey seed"))?;
        let claims: UserClaims = match jwt::decode(jwt) {
            Ok(c) => c,
            Err(BusError::JwtClaimType { .. }) => {
                return Err(BusError::Creds("the JWT is not a user JWT"));
            }
            Err(BusError::JwtSignature) => {
                return Err(BusError::Creds("the JWT's signature does not verify"));
            }
            Err(_) => return Err(BusError::Creds("the JWT is not a valid NATS JWT")),
        };
        if claims.sub != key.public_key() {
            return Err(BusError::Creds(
                "the JWT's subject is not the seed's public key",
            ));
        }
        Ok(Credentials {
            jwt: jwt.to_owned(),
            seed: SecretString::from(seed.as_str()),
            public_key: key.public_key().to_owned(),
        })
    }
}

/// The one line between `begin` and `end`; errors name the block.
fn block<'a>(
    lines: &[&'a str],
    begin: &str,
    end: &str,
    what: &'static str,
) -> Result<&'a str, BusError> {
    let mut starts = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == begin)
        .map(|(i, _)| i);
    let Some(start) = starts.next() else {
        return Err(BusError::Creds(match what {
            "JWT" => "no BEGIN NATS USER JWT line",
            _ => "no BEGIN USER NKEY SEED line",
        }));
    };
    if starts.next().is_some() {
        return Err(BusError::Creds(match what {
            "JWT" => "more than one JWT block",
            _ => "more than one seed block",
        }));
    }
    let value = lines.get(start + 1).copied().unwrap_or_default();
    let closing = lines.get(start + 2).copied();
    if value.is_empty() || value.starts_with("---") {
        return Err(BusError::Creds(match what {
            "JWT" => "the JWT block is empty",
            _ => "the seed block is empty",
        }));
    }
    if closing != Some(end) {
        return Err(BusError::Creds(match what {
            "JWT" => "the JWT block is not closed by END NATS USER JWT on the next line",
            _ => "the seed block is not closed by END USER NKEY SEED on the next line",
        }));
    }
    Ok(value)
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.public_key)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{ClaimType, Claims, JWT_VERSION, Permission, User, encode};
    use proptest::prelude::*;

    fn sample() -> (Credentials, NatsKey) {
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(
            user.public_key(),
            "c",
            User {
                publish: Permission::default(),
                subscribe: Permission::default(),
                resp: None,
                subs: 0,
                data: 0,
                payload: 0,
                bearer_token: false,
                issuer_account: String::new(),
                tags: vec![],
                claim_type: ClaimType::User,
                version: JWT_VERSION,
            },
        );
        let t = encode(&mut c, &acct, 1).unwrap();
        (Credentials::new(t, &user).unwrap(), user)
    }

    #[test]
    fn round_trip_in_the_standard_layout() {
        let (c, user) = sample();
        let text = c.to_file_text();
        assert!(text.starts_with("-----BEGIN NATS USER JWT-----\n"));
        assert!(text.contains("\n------END USER NKEY SEED------\n"));
        let back = Credentials::parse(&text).unwrap();
        assert_eq!(back.jwt(), c.jwt());
        assert_eq!(back.public_key(), user.public_key());
        assert_eq!(back.key().unwrap().public_key(), user.public_key());
        // CRLF line ends are accepted.
        let crlf = text.replace('\n', "\r\n");
        assert!(Credentials::parse(&crlf).is_ok());
    }

    #[test]
    fn async_nats_accepts_the_layout() {
        let (c, _) = sample();
        let text = c.to_file_text();
        assert!(async_nats::ConnectOptions::with_credentials(&text).is_ok());
    }

    #[test]
    fn errors_are_specific_and_never_echo_the_seed() {
        let (c, _) = sample();
        let text = c.to_file_text().to_string();
        let seed_line = text
            .lines()
            .find(|l| l.starts_with("SU"))
            .unwrap()
            .to_owned();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "no BEGIN NATS USER JWT line"),
            (
                text.replace(JWT_END, "------END------"),
                "the JWT block is not closed by END NATS USER JWT on the next line",
            ),
            (
                text.replace(SEED_BEGIN, "-----BEGIN SEED-----"),
                "no BEGIN USER NKEY SEED line",
            ),
            (
                text.replace(&seed_line, &format!("SA{}", &seed_line[2..])),
                "the seed is not a user seed (SU…)",
            ),
            (
                text.replace(
                    &seed_line,
                    // Change one character of the key material: the CRC-16
                    // checksum then fails.
                    &format!(
                        "{}{}{}",
                        &seed_line[..20],
                        if &seed_line[20..21] == "A" { 'B' } else { 'A' },
                        &seed_line[21..]
                    ),
                ),
                "the seed is not a valid nkey seed",
            ),
            (format!("{text}{text}"), "more than one JWT block"),
            (
                text.replace(c.jwt(), "eyJ.e30.AA"),
                "the JWT is not a valid NATS JWT",
            ),
        ];
        for (input, want) in cases {
            match Credentials::parse(&input) {
                Err(BusError::Creds(m)) => assert_eq!(m, want),
                other => panic!("expected {want:?}, got {other:?}"),
            }
        }
        // Another user's seed with this JWT.
        let other = NatsKey::generate(KeyKind::User).unwrap();
        let other_seed = other.seed().unwrap();
        let swapped = text.replace(&seed_line, other_seed.expose_secret());
        let err = Credentials::parse(&swapped).unwrap_err();
        assert!(matches!(
            err,
            BusError::Creds("the JWT's subject is not the seed's public key")
        ));
        assert!(!err.to_string().contains(&seed_line[..10]));
        assert!(!format!("{c:?}").contains(&seed_line[..10]));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "(?s).{0,400}") {
            let _ = Credentials::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(cut in 0usize..900, junk in ".{0,10}") {
            let (c, _) = sample();
            let text = c.to_file_text().to_string();
            let cut = cut.min(text.len());
            let mut s = text.get(..cut).unwrap_or("").to_owned();
            s.push_str(&junk);
            s.push_str(text.get(cut..).unwrap_or(""));
            let _ = Credentials::parse(&s);
        }
    }
}
