//! NATS JWT v2 claims (operator, account, user): encoding, signing with
//! nkeys, decoding and signature verification.
//!
//! The format follows nats-io/jwt v2.3.0 (the version nats-server 2.9.10 is
//! built with): `base64url(header) . base64url(claims) . base64url(sig)`,
//! no padding, header `{"typ":"JWT","alg":"ed25519-nkey"}`, the Ed25519
//! signature over the first two parts made with the issuer's nkey, and
//! `jti` = base32 (no padding) of SHA-512/256 over the standard claims
//! (`aud exp iat iss name nbf sub`) with `jti` left out — as
//! `ClaimsData.hash()` computes it. Field names are the Go library's JSON
//! tags.
//!
//! Only the fields Palisade emits exist here; decoding refuses unknown
//! fields (`deny_unknown_fields`), so a JWT with imports, exports,
//! JetStream limits or anything else we never mint does not decode. The
//! decoder is for our own JWTs (tests, and checking what nats-server holds
//! after a push); it never trusts an issuer by itself: callers compare the
//! issuer with the key they expect.
//!
//! This module must not read the clock: every function that stamps or
//! checks a time takes `now` (Unix seconds).

use std::collections::BTreeMap;

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512_256};

use crate::BusError;
use crate::keys::{KeyKind, NatsKey};

/// Largest JWT the decoder reads (nats-server's default `max_payload`).
pub const MAX_JWT_LEN: usize = 1024 * 1024;

/// Claim format version written into every JWT (`nats.version`).
pub const JWT_VERSION: u8 = 2;

/// The one header Palisade writes.
const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// "No limit" in NATS limits.
pub const NO_LIMIT: i64 = -1;

/// The claim type carried in `nats.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimType {
    /// An operator JWT (self-signed by the operator identity).
    Operator,
    /// An account JWT (signed by an operator signing key).
    Account,
    /// A user JWT (signed by an account signing key).
    User,
}

impl ClaimType {
    fn as_str(self) -> &'static str {
        match self {
            ClaimType::Operator => "operator",
            ClaimType::Account => "account",
            ClaimType::User => "user",
        }
    }

    /// The key kind that may issue claims of this type in Palisade's
    /// hierarchy.
    fn issuer_kind(self) -> KeyKind {
        match self {
            ClaimType::Operator | ClaimType::Account => KeyKind::Operator,
            ClaimType::User => KeyKind::Account,
        }
    }

    /// The key kind of the subject.
    fn subject_kind(self) -> KeyKind {
        match self {
            ClaimType::Operator => KeyKind::Operator,
            ClaimType::Account => KeyKind::Account,
            ClaimType::User => KeyKind::User,
        }
    }
}

/// The payload of a `nats` claim section: knows its claim type.
pub trait NatsClaim: Serialize + DeserializeOwned {
    /// The claim type this section belongs to.
    const TYPE: ClaimType;
    /// The type the section carries (to check after decoding).
    fn claim_type(&self) -> ClaimType;
}

/// A JWT's claims: the registered fields and the NATS section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims<N> {
    /// Audience (unused by Palisade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expiry, Unix seconds; absent means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Claim hash, set when encoding.
    #[serde(default)]
    pub jti: String,
    /// Issued-at, Unix seconds, set when encoding. Revocations compare it.
    #[serde(default)]
    pub iat: i64,
    /// Issuer public key, set when encoding.
    #[serde(default)]
    pub iss: String,
    /// Name (Palisade writes UIDs, never personal data).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Not-before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Subject public key.
    pub sub: String,
    /// The NATS section.
    pub nats: N,
}

impl<N> Claims<N> {
    /// Claims with subject `sub`, name `name` and NATS section `nats`; the
    /// issuer, issue time and hash are set by [`encode`].
    pub fn new(sub: impl Into<String>, name: impl Into<String>, nats: N) -> Self {
        Claims {
            aud: None,
            exp: None,
            jti: String::new(),
            iat: 0,
            iss: String::new(),
            name: name.into(),
            nbf: None,
            sub: sub.into(),
            nats,
        }
    }

    /// Refuses claims that are expired or not yet valid at `now` (Unix
    /// seconds), with nats-server's comparison (`now > exp` is expired).
    pub fn check_time(&self, now: i64) -> Result<(), BusError> {
        if let Some(exp) = self.exp
            && exp > 0
            && now > exp
        {
            return Err(BusError::JwtExpired);
        }
        if let Some(nbf) = self.nbf
            && nbf > 0
            && nbf > now
        {
            return Err(BusError::JwtNotYetValid);
        }
        Ok(())
    }
}

/// The standard claims in the Go library's field order, `jti` omitted: the
/// input of the `jti` hash.
#[derive(Serialize)]
struct HashInput<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "is_zero")]
    iat: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub: &'a str,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn claims_hash<N>(c: &Claims<N>) -> Result<String, BusError> {
    let input = HashInput {
        aud: c.aud.as_deref(),
        exp: c.exp,
        iat: c.iat,
        iss: &c.iss,
        name: &c.name,
        nbf: c.nbf,
        sub: &c.sub,
    };
    let json = serde_json::to_vec(&input).map_err(|_| BusError::JwtMalformed("claims"))?;
    Ok(BASE32_NOPAD.encode(&Sha512_256::digest(&json)))
}

/// Operator section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Operator signing keys (public). Account JWTs must be signed by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// The system account's public key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    /// When true, nats-server accepts accounts signed only by operator
    /// signing keys and users signed only by account signing keys (never by
    /// the identity keys).
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict_signing_key_usage: bool,
    /// Always [`ClaimType::Operator`].
    #[serde(rename = "type")]
    pub claim_type: ClaimType,
    /// Always [`JWT_VERSION`].
    pub version: u8,
}

impl NatsClaim for Operator {
    const TYPE: ClaimType = ClaimType::Operator;
    fn claim_type(&self) -> ClaimType {
        self.claim_type
    }
}

/// Account limits, all written explicitly (`-1` = unlimited). A zero here
/// is a real zero: `conn: 0` admits no connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLimits {
    /// Maximum subscriptions in the account.
    pub subs: i64,
    /// Maximum bytes (not enforced by nats-server 2.9 for core NATS).
    pub data: i64,
    /// Maximum message payload, bytes.
    pub payload: i64,
    /// Maximum imports.
    pub imports: i64,
    /// Maximum exports.
    pub exports: i64,
    /// Whether exports may contain wildcards.
    #[serde(default)]
    pub wildcards: bool,
    /// Refuse bearer-token user JWTs (users must prove key possession).
    #[serde(default)]
    pub disallow_bearer: bool,
    /// Maximum client connections.
    pub conn: i64,
    /// Maximum leaf-node connections.
    pub leaf: i64,
}

/// Allow/deny subject lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// Subjects allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Subjects denied (win over allow).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl Permission {
    fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// Permission to answer requests received on allowed subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsePermission {
    /// Responses allowed per request.
    pub max: i64,
    /// How long after the request, nanoseconds (Go `time.Duration`).
    pub ttl: i64,
}

/// Permissions and limits of a user, or of a scoped signing key's template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPermissionLimits {
    /// Publish permissions.
    #[serde(default, rename = "pub", skip_serializing_if = "Permission::is_empty")]
    pub publish: Permission,
    /// Subscribe permissions.
    #[serde(default, rename = "sub", skip_serializing_if = "Permission::is_empty")]
    pub subscribe: Permission,
    /// Response permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
    /// Maximum subscriptions of the user (0 in a scoped user's own JWT).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub subs: i64,
    /// Maximum bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data: i64,
    /// Maximum payload.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub payload: i64,
    /// Whether the JWT alone authenticates (no nonce signature). Palisade
    /// never sets it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bearer_token: bool,
}

impl UserPermissionLimits {
    /// True when nothing is set: what nats-server requires of a user JWT
    /// issued by a scoped signing key.
    pub fn is_empty(&self) -> bool {
        *self == UserPermissionLimits::default()
    }
}

/// The scope kind of a scoped signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeKind {
    /// `user_scope`: users issued by the key get the template's permissions.
    #[serde(rename = "user_scope")]
    UserScope,
}

/// A scoped signing key: users it signs carry no permissions of their own;
/// nats-server applies `template` (with `{{name()}}` etc. substituted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserScope {
    /// Always [`ScopeKind::UserScope`].
    pub kind: ScopeKind,
    /// The signing key's public key.
    pub key: String,
    /// A label for the role.
    #[serde(default)]
    pub role: String,
    /// Permissions and limits given to every user the key signs.
    pub template: UserPermissionLimits,
}

/// An account signing key: plain (a public key) or scoped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SigningKey {
    /// A plain signing key: users it signs carry their own permissions.
    Plain(String),
    /// A scoped signing key.
    Scoped(UserScope),
}

impl SigningKey {
    /// The signing key's public key.
    pub fn public_key(&self) -> &str {
        match self {
            SigningKey::Plain(k) => k,
            SigningKey::Scoped(s) => &s.key,
        }
    }
}

/// Account section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Limits (explicit).
    pub limits: AccountLimits,
    /// Signing keys allowed to issue users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<SigningKey>,
    /// Revoked users: user public key (or `*` for all) → Unix time; a user
    /// JWT issued at or before that time is refused and disconnected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    /// Always [`ClaimType::Account`].
    #[serde(rename = "type")]
    pub claim_type: ClaimType,
    /// Always [`JWT_VERSION`].
    pub version: u8,
}

impl NatsClaim for Account {
    const TYPE: ClaimType = ClaimType::Account;
    fn claim_type(&self) -> ClaimType {
        self.claim_type
    }
}

/// User section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Publish permissions (must be empty when a scoped key signs).
    #[serde(default, rename = "pub", skip_serializing_if = "Permission::is_empty")]
    pub publish: Permission,
    /// Subscribe permissions (must be empty when a scoped key signs).
    #[serde(default, rename = "sub", skip_serializing_if = "Permission::is_empty")]
    pub subscribe: Permission,
    /// Response permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
    /// Maximum subscriptions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub subs: i64,
    /// Maximum bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data: i64,
    /// Maximum payload.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub payload: i64,
    /// Bearer token (never set by Palisade).
    #[serde(default, skip_serializing_if = "is_false")]
    pub bearer_token: bool,
    /// The account the signing key belongs to (set when a signing key, not
    /// the account identity, issues the user).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer_account: String,
    /// Tags (lowercase `key:value` strings). Not permissions: nats-server
    /// allows them on users of scoped signing keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Always [`ClaimType::User`].
    #[serde(rename = "type")]
    pub claim_type: ClaimType,
    /// Always [`JWT_VERSION`].
    pub version: u8,
}

impl User {
    /// The permission-and-limit part, to check that a scoped user carries
    /// none.
    pub fn permission_limits(&self) -> UserPermissionLimits {
        UserPermissionLimits {
            publish: self.publish.clone(),
            subscribe: self.subscribe.clone(),
            resp: self.resp,
            subs: self.subs,
            data: self.data,
            payload: self.payload,
            bearer_token: self.bearer_token,
        }
    }
}

impl NatsClaim for User {
    const TYPE: ClaimType = ClaimType::User;
    fn claim_type(&self) -> ClaimType {
        self.claim_type
    }
}

/// Operator claims.
pub type OperatorClaims = Claims<Operator>;
/// Account claims.
pub type AccountClaims = Claims<Account>;
/// User claims.
pub type UserClaims = Claims<User>;

/// Signs `claims` with `signer` at `now` (Unix seconds): sets `iss`, `iat`
/// and `jti`, and returns the encoded JWT. Refuses a signer or subject of
/// the wrong key kind for the claim type.
pub fn encode<N: NatsClaim>(
    claims: &mut Claims<N>,
    signer: &NatsKey,
    now: i64,
) -> Result<String, BusError> {
    if claims.nats.claim_type() != N::TYPE {
        return Err(BusError::InvalidClaim("nats.type does not match the claim"));
    }
    if signer.kind() != N::TYPE.issuer_kind() {
        return Err(BusError::JwtIssuer("signer of the wrong key kind"));
    }
    if KeyKind::of_public_key(&claims.sub) != Some(N::TYPE.subject_kind()) {
        return Err(BusError::InvalidClaim("subject of the wrong key kind"));
    }
    claims.iss = signer.public_key().to_owned();
    claims.iat = now;
    claims.jti = String::new();
    claims.jti = claims_hash(claims)?;
    let payload = serde_json::to_vec(claims).map_err(|_| BusError::JwtMalformed("claims"))?;
    let mut token = BASE64URL_NOPAD.encode(HEADER.as_bytes());
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&payload));
    let sig = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&sig));
    if token.len() > MAX_JWT_LEN {
        return Err(BusError::InvalidClaim(
            "JWT larger than the decoder's bound",
        ));
    }
    Ok(token)
}

#[derive(Deserialize)]
struct Header {
    typ: String,
    alg: String,
}

/// Decodes a JWT of claim type `N` and verifies its signature against its
/// own issuer. Checks the header, the claim type and the key kinds of
/// issuer and subject; does not check times (see [`Claims::check_time`])
/// and does not decide whether the issuer is trusted (compare `iss`).
pub fn decode<N: NatsClaim>(token: &str) -> Result<Claims<N>, BusError> {
    if token.len() > MAX_JWT_LEN {
        return Err(BusError::JwtMalformed("longer than the size bound"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BusError::JwtMalformed("not three dot-separated parts"));
    };
    let header = BASE64URL_NOPAD
        .decode(h.as_bytes())
        .map_err(|_| BusError::JwtMalformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| BusError::JwtMalformed("header is not the JWT header JSON"))?;
    if !header.typ.eq_ignore_ascii_case("JWT") {
        return Err(BusError::JwtMalformed("header typ is not JWT"));
    }
    if !header.alg.eq_ignore_ascii_case("ed25519-nkey") {
        return Err(BusError::JwtMalformed("header alg is not ed25519-nkey"));
    }
    let payload = BASE64URL_NOPAD
        .decode(p.as_bytes())
        .map_err(|_| BusError::JwtMalformed("claims are not base64url"))?;
    let sig = BASE64URL_NOPAD
        .decode(s.as_bytes())
        .map_err(|_| BusError::JwtMalformed("signature is not base64url"))?;
    if sig.len() != 64 {
        return Err(BusError::JwtMalformed("signature is not 64 bytes"));
    }
    // Peek at the type first so a JWT of another type says so instead of
    // failing on its fields.
    #[derive(Deserialize)]
    struct TypePeek {
        nats: TypeOnly,
    }
    #[derive(Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type", default)]
        claim_type: Option<String>,
    }
    let peek: TypePeek = serde_json::from_slice(&payload)
        .map_err(|_| BusError::JwtMalformed("claims are not NATS claims JSON"))?;
    let found = peek.nats.claim_type.unwrap_or_default();
    if found != N::TYPE.as_str() {
        return Err(BusError::JwtClaimType {
            expected: N::TYPE.as_str(),
            found: found.chars().take(32).collect(),
        });
    }
    let claims: Claims<N> = serde_json::from_slice(&payload)
        .map_err(|_| BusError::JwtMalformed("claims do not match the expected fields"))?;
    if claims.nats.claim_type() != N::TYPE {
        return Err(BusError::JwtMalformed("nats.type mismatch"));
    }
    if KeyKind::of_public_key(&claims.iss) != Some(N::TYPE.issuer_kind()) {
        return Err(BusError::JwtIssuer("issuer of the wrong key kind"));
    }
    if KeyKind::of_public_key(&claims.sub) != Some(N::TYPE.subject_kind()) {
        return Err(BusError::JwtMalformed("subject of the wrong key kind"));
    }
    let issuer = nkeys::KeyPair::from_public_key(&claims.iss)
        .map_err(|_| BusError::JwtIssuer("issuer is not a valid public key"))?;
    let signed_len = h.len() + 1 + p.len();
    let signed = token
        .get(..signed_len)
        .ok_or(BusError::JwtMalformed("truncated"))?;
    issuer
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| BusError::JwtSignature)?;
    Ok(claims)
}

/// The claim type a JWT says it has, without verifying anything. For
/// diagnostics only.
pub fn peek_claim_type(token: &str) -> Option<ClaimType> {
    let p = token.split('.').nth(1)?;
    let payload = BASE64URL_NOPAD.decode(p.as_bytes()).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    match v.get("nats")?.get("type")?.as_str()? {
        "operator" => Some(ClaimType::Operator),
        "account" => Some(ClaimType::Account),
        "user" => Some(ClaimType::User),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, NatsKey};
    use proptest::prelude::*;

    fn user_section() -> User {
        User {
            publish: Permission {
                allow: vec!["a.b".into()],
                deny: vec![],
            },
            subscribe: Permission::default(),
            resp: None,
            subs: -1,
            data: -1,
            payload: -1,
            bearer_token: false,
            issuer_account: String::new(),
            tags: vec![],
            claim_type: ClaimType::User,
            version: JWT_VERSION,
        }
    }

    #[test]
    fn header_is_the_nats_header() {
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(user.public_key(), "n", user_section());
        let t = encode(&mut c, &acct, 1_700_000_000).unwrap();
        let h = t.split('.').next().unwrap();
        assert_eq!(
            BASE64URL_NOPAD.decode(h.as_bytes()).unwrap(),
            br#"{"typ":"JWT","alg":"ed25519-nkey"}"#
        );
        assert!(!t.contains('='));
    }

    #[test]
    fn round_trip_and_fields() {
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(user.public_key(), "n", user_section());
        c.exp = Some(1_700_000_100);
        let t = encode(&mut c, &acct, 1_700_000_000).unwrap();
        let d: UserClaims = decode(&t).unwrap();
        assert_eq!(d, c);
        assert_eq!(d.iss, acct.public_key());
        assert_eq!(d.iat, 1_700_000_000);
        // jti: 52 base32 characters of a 32-byte hash.
        assert_eq!(d.jti.len(), 52);
        // The JSON carries the Go library's names.
        let p = t.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(p.as_bytes()).unwrap()).unwrap();
        assert_eq!(json["nats"]["pub"]["allow"][0], "a.b");
        assert_eq!(json["nats"]["type"], "user");
        assert_eq!(json["nats"]["version"], 2);
        assert_eq!(json["exp"], 1_700_000_100);
        assert!(json["nats"].get("bearer_token").is_none());
    }

    #[test]
    fn jti_matches_the_go_library_hash_input() {
        // Recompute by hand: SHA-512/256 over the Go field order without jti.
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(user.public_key(), "cluster", user_section());
        c.exp = Some(20);
        encode(&mut c, &acct, 10).unwrap();
        let manual = format!(
            r#"{{"exp":20,"iat":10,"iss":"{}","name":"cluster","sub":"{}"}}"#,
            acct.public_key(),
            user.public_key()
        );
        assert_eq!(
            c.jti,
            BASE32_NOPAD.encode(&Sha512_256::digest(manual.as_bytes()))
        );
    }

    #[test]
    fn tampering_is_detected() {
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(user.public_key(), "n", user_section());
        let t = encode(&mut c, &acct, 5).unwrap();
        // Swap the payload for one granting more, keep the signature.
        let mut wider = c.clone();
        wider.nats.publish.allow = vec![">".into()];
        let p = BASE64URL_NOPAD.encode(&serde_json::to_vec(&wider).unwrap());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], p, parts[2]);
        assert!(matches!(
            decode::<User>(&forged),
            Err(BusError::JwtSignature)
        ));
        // Claim the issuer is another key.
        let other = NatsKey::generate(KeyKind::Account).unwrap();
        let mut re = c.clone();
        re.iss = other.public_key().to_owned();
        let p = BASE64URL_NOPAD.encode(&serde_json::to_vec(&re).unwrap());
        let forged = format!("{}.{}.{}", parts[0], p, parts[2]);
        assert!(matches!(
            decode::<User>(&forged),
            Err(BusError::JwtSignature)
        ));
    }

    #[test]
    fn wrong_types_and_kinds_are_refused() {
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let op = NatsKey::generate(KeyKind::Operator).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(user.public_key(), "n", user_section());
        // An operator key may not sign a user.
        assert!(matches!(
            encode(&mut c, &op, 1),
            Err(BusError::JwtIssuer(_))
        ));
        let t = encode(&mut c, &acct, 1).unwrap();
        assert!(matches!(
            decode::<Account>(&t),
            Err(BusError::JwtClaimType { .. })
        ));
        // A user subject must be a user key.
        let mut bad = Claims::new(acct.public_key(), "n", user_section());
        assert!(encode(&mut bad, &acct, 1).is_err());
    }

    #[test]
    fn malformed_inputs_are_refused_specifically() {
        for (t, _why) in [
            ("", "empty"),
            ("a.b", "two parts"),
            ("a.b.c.d", "four parts"),
            ("!!.b.c", "header not base64"),
        ] {
            assert!(matches!(decode::<User>(t), Err(BusError::JwtMalformed(_))));
        }
        // The v1 algorithm is refused.
        let h = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519"}"#);
        assert!(matches!(
            decode::<User>(&format!("{h}.e30.AA")),
            Err(BusError::JwtMalformed("header alg is not ed25519-nkey"))
        ));
        let long = "a".repeat(MAX_JWT_LEN + 1);
        assert!(decode::<User>(&long).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let acct = NatsKey::generate(KeyKind::Account).unwrap();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        let mut c = Claims::new(user.public_key(), "n", user_section());
        c.iss = acct.public_key().to_owned();
        let mut v = serde_json::to_value(&c).unwrap();
        v["nats"]["src"] = serde_json::json!(["0.0.0.0/0"]);
        let h = BASE64URL_NOPAD.encode(HEADER.as_bytes());
        let p = BASE64URL_NOPAD.encode(&serde_json::to_vec(&v).unwrap());
        let input = format!("{h}.{p}");
        let sig = acct.sign(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", BASE64URL_NOPAD.encode(&sig));
        assert!(matches!(
            decode::<User>(&t),
            Err(BusError::JwtMalformed(
                "claims do not match the expected fields"
            ))
        ));
    }

    #[test]
    fn times_are_checked_like_nats_server() {
        let mut c = Claims::new("U", "", user_section());
        c.exp = Some(100);
        assert!(c.check_time(100).is_ok());
        assert!(matches!(c.check_time(101), Err(BusError::JwtExpired)));
        c.nbf = Some(50);
        assert!(matches!(c.check_time(49), Err(BusError::JwtNotYetValid)));
    }

    fn subject_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_>*.-]{1,40}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn encode_decode_round_trips(
            allow in proptest::collection::vec(subject_strategy(), 0..5),
            deny in proptest::collection::vec(subject_strategy(), 0..3),
            name in "[ -~]{0,40}",
            iat in 0i64..4_000_000_000,
            ttl in proptest::option::of(1i64..1_000_000),
            subs in -1i64..1000,
            revoked in proptest::collection::btree_map("[A-Z2-7]{10}", 0i64..4_000_000_000, 0..4),
        ) {
            let op = NatsKey::generate(KeyKind::Operator).unwrap();
            let acct = NatsKey::generate(KeyKind::Account).unwrap();
            let user = NatsKey::generate(KeyKind::User).unwrap();
            let mut u = Claims::new(user.public_key(), name.clone(), user_section());
            u.nats.publish.allow = allow.clone();
            u.nats.subscribe.deny = deny;
            u.nats.subs = subs;
            u.exp = ttl.map(|t| iat + t);
            let t = encode(&mut u, &acct, iat).unwrap();
            let d: UserClaims = decode(&t).unwrap();
            prop_assert_eq!(d, u);

            let mut a = Claims::new(acct.public_key(), name, Account {
                limits: AccountLimits { subs, data: -1, payload: 1024, imports: 0, exports: 0,
                    wildcards: false, disallow_bearer: true, conn: 5, leaf: 0 },
                signing_keys: vec![SigningKey::Plain(acct.public_key().to_owned()),
                    SigningKey::Scoped(UserScope { kind: ScopeKind::UserScope,
                        key: acct.public_key().to_owned(), role: "r".into(),
                        template: UserPermissionLimits { publish: Permission { allow, deny: vec![] },
                            ..UserPermissionLimits::default() } })],
                revocations: revoked,
                claim_type: ClaimType::Account,
                version: JWT_VERSION,
            });
            let t = encode(&mut a, &op, iat).unwrap();
            let d: AccountClaims = decode(&t).unwrap();
            prop_assert_eq!(d, a);
        }

        #[test]
        fn decode_never_panics(s in ".{0,300}") {
            let _ = decode::<User>(&s);
            let _ = decode::<Account>(&s);
            let _ = decode::<Operator>(&s);
            let _ = peek_claim_type(&s);
        }

        #[test]
        fn decode_never_panics_on_dotted_base64(
            a in "[A-Za-z0-9_-]{0,60}", b in "[A-Za-z0-9_-]{0,200}", c in "[A-Za-z0-9_-]{0,90}"
        ) {
            let _ = decode::<User>(&format!("{a}.{b}.{c}"));
        }
    }
}
