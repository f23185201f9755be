//! What Palisade mints as the NATS operator: the operator JWT, the system
//! account and its pusher user, one account per tenant (live or deleted),
//! cluster users and Palisade's own user in each tenant account.
//!
//! The trust chain nats-server enforces:
//!
//! ```text
//! operator identity ──self-signs── operator JWT (strict_signing_key_usage,
//!    │                                            signing_keys = [operator signing])
//! operator signing ──signs── system account JWT, tenant account JWTs
//! system account signing ──signs── pusher user
//! tenant cluster-scope key ──signs── cluster users   (template: that cluster's subjects)
//! tenant server-scope key  ──signs── Palisade's user (template: all clusters of the tenant)
//! ```
//!
//! With `strict_signing_key_usage`, nats-server 2.9.10 accepts account JWTs
//! only from the operator's signing keys and users only from an account's
//! signing keys — never from the account identity key — so every user in a
//! tenant account is issued by a *scoped* key and gets exactly that key's
//! template: a bug in minting cannot widen a cluster's rights (a scoped user
//! JWT that carries permissions of its own is refused outright).
//!
//! This module only builds and signs claims; it must not read the clock
//! (`now` is a parameter, Unix seconds) and must not talk to a server.

use std::collections::BTreeMap;

use palisade_core::Uid;

use crate::jwt::{
    self, Account, AccountClaims, AccountLimits, ClaimType, Claims, JWT_VERSION, NO_LIMIT,
    Operator, Permission, ResponsePermission, ScopeKind, SigningKey, User, UserPermissionLimits,
    UserScope,
};
use crate::keys::{KeyKind, NatsKey, OperatorKeys, TenantKeys, verify_public_key};
use crate::{BusError, Credentials, subjects};

/// Longest lifetime of any user JWT Palisade issues, seconds (one day).
pub const MAX_USER_TTL_SECS: i64 = 86_400;

/// Default lifetime of cluster credentials, seconds: short, the agent renews.
pub const DEFAULT_CLUSTER_TTL_SECS: i64 = 3_600;

/// How long Palisade's user may answer a request it received, nanoseconds.
const SERVER_RESPONSE_TTL_NANOS: i64 = 60_000_000_000;

/// Name written into the operator JWT.
pub const OPERATOR_NAME: &str = "palisade";

/// Name written into the system account JWT.
pub const SYSTEM_ACCOUNT_NAME: &str = "SYS";

/// Subjects the pusher user may publish to in the system account.
pub const PUSHER_PUBLISH: [&str; 4] = [
    "$SYS.REQ.CLAIMS.UPDATE",
    "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP",
    "$SYS.REQ.ACCOUNT.*.INFO",
    "$SYS.REQ.ACCOUNT.*.CONNZ",
];

/// Inbox prefix of the pusher's connection (its only subscription rights).
pub const PUSHER_INBOX_PREFIX: &str = "_INBOX.pusher";

/// Tag prefix carrying the tenant UID in cluster user JWTs (so the agent
/// knows its tenant from its credentials alone).
pub const TENANT_TAG_PREFIX: &str = "palisade-tenant:";

/// Who a cluster credential belongs to, read from its user JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// The tenant (from the `palisade-tenant:` tag).
    pub tenant: Uid,
    /// The cluster (the JWT's name).
    pub cluster: Uid,
}

impl ClusterIdentity {
    /// Reads the identity of cluster credentials: the name must be a
    /// cluster UID and exactly one tag must carry the tenant UID.
    pub fn of(creds: &Credentials) -> Result<Self, BusError> {
        let claims = creds.claims()?;
        let cluster = Uid::parse(&claims.name)
            .map_err(|_| BusError::InvalidClaim("user JWT name is not a cluster UID"))?;
        let mut tenants = claims
            .nats
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix(TENANT_TAG_PREFIX));
        let (Some(tenant), None) = (tenants.next(), tenants.next()) else {
            return Err(BusError::InvalidClaim(
                "user JWT does not carry exactly one tenant tag",
            ));
        };
        let tenant =
            Uid::parse(tenant).map_err(|_| BusError::InvalidClaim("tenant tag is not a UID"))?;
        Ok(ClusterIdentity { tenant, cluster })
    }
}

/// Per-tenant limits written into the tenant's account JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    /// Client connections in the account (clusters plus Palisade replicas).
    pub max_connections: i64,
    /// Subscriptions in the account.
    pub max_subscriptions: i64,
    /// Largest message payload, bytes.
    pub max_payload: i64,
    /// Subscriptions of one cluster user.
    pub max_subscriptions_per_cluster: i64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            max_connections: 256,
            max_subscriptions: 4_096,
            max_payload: 1024 * 1024,
            max_subscriptions_per_cluster: 16,
        }
    }
}

impl TenantLimits {
    /// Refuses limits that would lock the tenant out (zero) or are absurd.
    /// Zero connections is what a deleted tenant gets, through
    /// [`OperatorKeys::tenant_tombstone_jwt`], never through limits.
    pub fn validate(&self) -> Result<(), BusError> {
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(BusError::InvalidClaim(
                "max_connections must be 1..=1000000",
            ));
        }
        if !(1..=10_000_000).contains(&self.max_subscriptions) {
            return Err(BusError::InvalidClaim(
                "max_subscriptions must be 1..=10000000",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_payload) {
            return Err(BusError::InvalidClaim("max_payload must be 1 KiB..=64 MiB"));
        }
        if !(2..=1_000).contains(&self.max_subscriptions_per_cluster) {
            return Err(BusError::InvalidClaim(
                "max_subscriptions_per_cluster must be 2..=1000",
            ));
        }
        Ok(())
    }
}

/// Revoked users of one account: user public key (or `*` for all users)
/// → Unix time; every user JWT issued at or before that time is refused,
/// and connected users are disconnected when the account JWT is pushed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations(BTreeMap<String, i64>);

/// The key that revokes every user of an account.
pub const REVOKE_ALL: &str = "*";

impl Revocations {
    /// No revocations.
    pub fn new() -> Self {
        Revocations::default()
    }

    /// Revokes every JWT of `user_public_key` issued at or before `at`.
    /// A later existing revocation is kept (revocations never move back).
    pub fn revoke_user(&mut self, user_public_key: &str, at: i64) -> Result<(), BusError> {
        verify_public_key(user_public_key, KeyKind::User)?;
        self.insert(user_public_key.to_owned(), at);
        Ok(())
    }

    /// Revokes every user JWT of the account issued at or before `at`.
    pub fn revoke_all(&mut self, at: i64) {
        self.insert(REVOKE_ALL.to_owned(), at);
    }

    fn insert(&mut self, key: String, at: i64) {
        let e = self.0.entry(key).or_insert(at);
        if *e < at {
            *e = at;
        }
    }

    /// Drops entries that no longer matter at `now`: every JWT they revoke
    /// was issued at or before their time and so expired at most
    /// [`MAX_USER_TTL_SECS`] later. Keeps account JWTs small.
    pub fn prune(&mut self, now: i64) {
        self.0
            .retain(|_, at| at.saturating_add(MAX_USER_TTL_SECS) >= now);
    }

    /// Whether a JWT of `user_public_key` issued at `iat` is revoked, with
    /// nats-server's rule.
    pub fn is_revoked(&self, user_public_key: &str, iat: i64) -> bool {
        let hit = |k: &str| self.0.get(k).is_some_and(|at| *at >= iat);
        hit(REVOKE_ALL) || hit(user_public_key)
    }

    /// The entries.
    pub fn entries(&self) -> &BTreeMap<String, i64> {
        &self.0
    }

    /// Rebuilds from stored entries, checking every key.
    pub fn from_entries(entries: BTreeMap<String, i64>) -> Result<Self, BusError> {
        for k in entries.keys() {
            if k != REVOKE_ALL {
                verify_public_key(k, KeyKind::User)?;
            }
        }
        Ok(Revocations(entries))
    }
}

fn check_ttl(ttl: i64) -> Result<(), BusError> {
    if !(1..=MAX_USER_TTL_SECS).contains(&ttl) {
        return Err(BusError::InvalidClaim(
            "user lifetime must be 1 s ..= 86400 s",
        ));
    }
    Ok(())
}

fn unlimited_account() -> AccountLimits {
    AccountLimits {
        subs: NO_LIMIT,
        data: NO_LIMIT,
        payload: NO_LIMIT,
        imports: NO_LIMIT,
        exports: NO_LIMIT,
        wildcards: true,
        disallow_bearer: true,
        conn: NO_LIMIT,
        leaf: NO_LIMIT,
    }
}

fn empty_user(issuer_account: &str) -> User {
    User {
        publish: Permission::default(),
        subscribe: Permission::default(),
        resp: None,
        subs: 0,
        data: 0,
        payload: 0,
        bearer_token: false,
        issuer_account: issuer_account.to_owned(),
        tags: vec![],
        claim_type: ClaimType::User,
        version: JWT_VERSION,
    }
}

/// The template of the tenant's cluster-scoped signing key.
pub fn cluster_template(limits: &TenantLimits) -> UserPermissionLimits {
    UserPermissionLimits {
        publish: Permission {
            allow: subjects::cluster_template_publish(),
            deny: vec![],
        },
        subscribe: Permission {
            allow: subjects::cluster_template_subscribe(),
            deny: vec![],
        },
        resp: None,
        subs: limits.max_subscriptions_per_cluster,
        data: NO_LIMIT,
        payload: limits.max_payload,
        bearer_token: false,
    }
}

/// The template of the tenant's server-scoped signing key.
pub fn server_template(limits: &TenantLimits) -> UserPermissionLimits {
    UserPermissionLimits {
        publish: Permission {
            allow: subjects::server_template_publish(),
            deny: vec![],
        },
        subscribe: Permission {
            allow: subjects::server_template_subscribe(),
            deny: vec![],
        },
        resp: Some(ResponsePermission {
            max: 1,
            ttl: SERVER_RESPONSE_TTL_NANOS,
        }),
        subs: NO_LIMIT,
        data: NO_LIMIT,
        payload: limits.max_payload,
        bearer_token: false,
    }
}

impl OperatorKeys {
    /// The operator JWT (self-signed, no expiry): names the operator
    /// signing key and the system account and sets
    /// `strict_signing_key_usage`.
    pub fn operator_jwt(&self, now: i64) -> Result<String, BusError> {
        let mut c = Claims::new(
            self.identity.public_key(),
            OPERATOR_NAME,
            Operator {
                signing_keys: vec![self.signing.public_key().to_owned()],
                system_account: self.system_account.public_key().to_owned(),
                strict_signing_key_usage: true,
                claim_type: ClaimType::Operator,
                version: JWT_VERSION,
            },
        );
        jwt::encode(&mut c, &self.identity, now)
    }

    /// The system account JWT, signed by the operator signing key. Its only
    /// signing key is the system signing key (which issues the pusher).
    pub fn system_account_jwt(&self, now: i64) -> Result<String, BusError> {
        let mut c = Claims::new(
            self.system_account.public_key(),
            SYSTEM_ACCOUNT_NAME,
            Account {
                limits: unlimited_account(),
                signing_keys: vec![SigningKey::Plain(
                    self.system_signing.public_key().to_owned(),
                )],
                revocations: BTreeMap::new(),
                claim_type: ClaimType::Account,
                version: JWT_VERSION,
            },
        );
        jwt::encode(&mut c, &self.signing, now)
    }

    /// Credentials of Palisade's pusher in the system account: may publish
    /// only the claim update, lookup, account-info and connz requests and
    /// subscribe only to its inbox (connect with
    /// [`PUSHER_INBOX_PREFIX`] as custom inbox prefix).
    pub fn system_user_credentials(&self, now: i64, ttl: i64) -> Result<Credentials, BusError> {
        check_ttl(ttl)?;
        let mut user = empty_user(self.system_account.public_key());
        user.publish.allow = PUSHER_PUBLISH.iter().map(|s| (*s).to_owned()).collect();
        user.subscribe.allow = vec![format!("{PUSHER_INBOX_PREFIX}.>")];
        user.subs = NO_LIMIT;
        user.data = NO_LIMIT;
        user.payload = NO_LIMIT;
        let mut c = Claims::new(self.system_user.public_key(), "palisade-pusher", user);
        c.exp = Some(now.saturating_add(ttl));
        let token = jwt::encode(&mut c, &self.system_signing, now)?;
        Credentials::new(token, &self.system_user)
    }

    /// A live tenant's account JWT: explicit limits, no imports or exports,
    /// bearer tokens refused, the two scoped signing keys, and the given
    /// revocations.
    pub fn tenant_account_jwt(
        &self,
        tenant: &TenantKeys,
        limits: &TenantLimits,
        revocations: &Revocations,
        now: i64,
    ) -> Result<String, BusError> {
        limits.validate()?;
        let mut c = Claims::new(
            tenant.account_public_key(),
            tenant.tenant().to_string(),
            Account {
                limits: AccountLimits {
                    subs: limits.max_subscriptions,
                    data: NO_LIMIT,
                    payload: limits.max_payload,
                    imports: 0,
                    exports: 0,
                    wildcards: false,
                    disallow_bearer: true,
                    conn: limits.max_connections,
                    leaf: 0,
                },
                signing_keys: vec![
                    SigningKey::Scoped(UserScope {
                        kind: ScopeKind::UserScope,
                        key: tenant.cluster_scope.public_key().to_owned(),
                        role: "cluster".to_owned(),
                        template: cluster_template(limits),
                    }),
                    SigningKey::Scoped(UserScope {
                        kind: ScopeKind::UserScope,
                        key: tenant.server_scope.public_key().to_owned(),
                        role: "server".to_owned(),
                        template: server_template(limits),
                    }),
                ],
                revocations: revocations.entries().clone(),
                claim_type: ClaimType::Account,
                version: JWT_VERSION,
            },
        );
        jwt::encode(&mut c, &self.signing, now)
    }

    /// The account JWT of a deleted tenant (a tombstone): every limit zero
    /// (no connection, subscription or payload), no signing key (no user
    /// can be verified), and every user revoked as of `now`. Pushing it
    /// disconnects the tenant's users and refuses reconnects; being newer
    /// than the live JWT, it also wins when nats-servers synchronise their
    /// resolver directories.
    pub fn tenant_tombstone_jwt(&self, tenant: &TenantKeys, now: i64) -> Result<String, BusError> {
        let mut revocations = BTreeMap::new();
        revocations.insert(REVOKE_ALL.to_owned(), now);
        let mut c = Claims::new(
            tenant.account_public_key(),
            tenant.tenant().to_string(),
            Account {
                limits: AccountLimits {
                    subs: 0,
                    data: 0,
                    payload: 0,
                    imports: 0,
                    exports: 0,
                    wildcards: false,
                    disallow_bearer: true,
                    conn: 0,
                    leaf: 0,
                },
                signing_keys: vec![],
                revocations,
                claim_type: ClaimType::Account,
                version: JWT_VERSION,
            },
        );
        jwt::encode(&mut c, &self.signing, now)
    }

    /// Decodes an account JWT and checks that this operator's signing key
    /// issued it (what nats-server will trust).
    pub fn verify_account_jwt(&self, token: &str) -> Result<AccountClaims, BusError> {
        let c: AccountClaims = jwt::decode(token)?;
        if c.iss != self.signing.public_key() {
            return Err(BusError::JwtIssuer(
                "not issued by this operator's signing key",
            ));
        }
        Ok(c)
    }
}

impl TenantKeys {
    /// Fresh credentials for `cluster`: a new random user key and a JWT
    /// named after the cluster UID, issued by the cluster-scoped key,
    /// expiring `ttl` seconds after `now`. Rotation is a new call followed
    /// by revoking the old public key.
    pub fn issue_cluster_credentials(
        &self,
        cluster: Uid,
        now: i64,
        ttl: i64,
    ) -> Result<Credentials, BusError> {
        let user = NatsKey::generate(KeyKind::User)?;
        let token = self.cluster_user_jwt(cluster, user.public_key(), now, ttl)?;
        Credentials::new(token, &user)
    }

    /// A JWT for an existing cluster user key (renewal: the agent keeps its
    /// seed and gets a new JWT). The JWT carries no permissions: the
    /// cluster-scoped key's template gives them, with `{{name()}}` = the
    /// cluster UID.
    pub fn cluster_user_jwt(
        &self,
        cluster: Uid,
        user_public_key: &str,
        now: i64,
        ttl: i64,
    ) -> Result<String, BusError> {
        check_ttl(ttl)?;
        verify_public_key(user_public_key, KeyKind::User)?;
        // The name is a Uid's Display: 12 lowercase hex characters, so the
        // template can only ever produce this cluster's subjects.
        let mut user = empty_user(self.account_public_key());
        user.tags = vec![format!("{TENANT_TAG_PREFIX}{}", self.tenant())];
        let mut c = Claims::new(user_public_key, cluster.to_string(), user);
        c.exp = Some(now.saturating_add(ttl));
        jwt::encode(&mut c, &self.cluster_scope, now)
    }

    /// Credentials of Palisade's own user in this tenant's account (derived
    /// key, so every replica has the same user), issued by the
    /// server-scoped key. Connect with
    /// [`subjects::SERVER_INBOX_PREFIX`] as custom inbox prefix.
    pub fn server_user_credentials(&self, now: i64, ttl: i64) -> Result<Credentials, BusError> {
        check_ttl(ttl)?;
        let mut c = Claims::new(
            self.server_user.public_key(),
            "palisade-server",
            empty_user(self.account_public_key()),
        );
        c.exp = Some(now.saturating_add(ttl));
        let token = jwt::encode(&mut c, &self.server_scope, now)?;
        Credentials::new(token, &self.server_user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BusMasterSecret;
    use crate::jwt::{OperatorClaims, UserClaims};

    const NOW: i64 = 1_800_000_000;

    fn setup() -> (OperatorKeys, TenantKeys) {
        let m = BusMasterSecret::from_bytes([5; 32]);
        let op = OperatorKeys::derive(&m).unwrap();
        let t = TenantKeys::derive(&m, Uid::from_u64(0xa1), 1).unwrap();
        (op, t)
    }

    #[test]
    fn operator_jwt_is_strict_and_names_the_system_account() {
        let (op, _) = setup();
        let c: OperatorClaims = jwt::decode(&op.operator_jwt(NOW).unwrap()).unwrap();
        assert_eq!(c.iss, op.identity.public_key());
        assert_eq!(c.sub, op.identity.public_key());
        assert!(c.nats.strict_signing_key_usage);
        assert_eq!(c.nats.signing_keys, vec![op.signing.public_key()]);
        assert_eq!(c.nats.system_account, op.system_account.public_key());
        assert_eq!(c.exp, None);
    }

    /// The operator JWT for master `[1; 32]` at 1 800 000 000, whose `jti`
    /// (SHA-512/256 of the standard claims) and signature were checked
    /// independently (Python `hashlib` and `cryptography`).
    #[test]
    fn operator_jwt_known_answer() {
        let op = OperatorKeys::derive(&BusMasterSecret::from_bytes([1; 32])).unwrap();
        assert_eq!(
            op.operator_jwt(1_800_000_000).unwrap(),
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.\
             eyJqdGkiOiJYUzUyR01TUEVWWkRDQVJYVkVWM1RWUUdVT1ZUMloyR1pEQkJLVk1IQk5RT1M0TVpISFBRIiwiaWF0IjoxODAwMDAwMDAwLCJpc3MiOiJPREk3SEI1VUNaWldQUk1GSVJYN0taQUtCQlFSMkdJSlJPS1dBTDdITEFXSFpUM0RWMzU3WDVESCIsIm5hbWUiOiJwYWxpc2FkZSIsInN1YiI6Ik9ESTdIQjVVQ1paV1BSTUZJUlg3S1pBS0JCUVIyR0lKUk9LV0FMN0hMQVdIWlQzRFYzNTdYNURIIiwibmF0cyI6eyJzaWduaW5nX2tleXMiOlsiT0RJV05IT0JQUzRaSUZaS0xXMk1DWjJPVlFDWjNFSENSUUNST0FEUkRHRFVZS0szT01STEpaRzQiXSwic3lzdGVtX2FjY291bnQiOiJBREEyUzM1TkRKSDQ2VDZRT1ZBQlZSWTdISEJLSTJKUDVJTVhIUVVKS09OVDRDV0pFVDJHSEhYRiIsInN0cmljdF9zaWduaW5nX2tleV91c2FnZSI6dHJ1ZSwidHlwZSI6Im9wZXJhdG9yIiwidmVyc2lvbiI6Mn19.\
             ZLKdQ-4hO0WUjsYhGfoLDR8aX23Un7FuCuGUDNSbnv7GMPTMLV25eLSlaZXqHVF9mM5ADXfBNn4g0EGL-rmtDA"
        );
    }

    #[test]
    fn tenant_account_has_explicit_limits_and_only_scoped_keys() {
        let (op, t) = setup();
        let limits = TenantLimits::default();
        let mut rev = Revocations::new();
        let user = NatsKey::generate(KeyKind::User).unwrap();
        rev.revoke_user(user.public_key(), NOW).unwrap();
        let token = op.tenant_account_jwt(&t, &limits, &rev, NOW).unwrap();
        let c = op.verify_account_jwt(&token).unwrap();
        assert_eq!(c.sub, t.account_public_key());
        assert_eq!(c.name, "0000000000a1");
        let l = c.nats.limits;
        assert_eq!(l.conn, 256);
        assert_eq!(l.subs, 4_096);
        assert_eq!(l.payload, 1024 * 1024);
        assert_eq!((l.imports, l.exports, l.leaf), (0, 0, 0));
        assert!(l.disallow_bearer && !l.wildcards);
        assert_eq!(c.nats.signing_keys.len(), 2);
        for k in &c.nats.signing_keys {
            assert!(matches!(k, SigningKey::Scoped(_)), "{k:?}");
            assert_ne!(k.public_key(), t.account_public_key());
        }
        assert_eq!(c.nats.revocations.get(user.public_key()), Some(&NOW));
        // The JSON has every limit written out, zero included.
        let p = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&data_encoding::BASE64URL_NOPAD.decode(p.as_bytes()).unwrap())
                .unwrap();
        for f in [
            "subs", "data", "payload", "imports", "exports", "conn", "leaf",
        ] {
            assert!(json["nats"]["limits"].get(f).is_some(), "{f}");
        }
        assert_eq!(json["nats"]["signing_keys"][0]["kind"], "user_scope");
        assert_eq!(
            json["nats"]["signing_keys"][0]["template"]["pub"]["allow"][0],
            "palisade.c.{{name()}}.up.>"
        );
    }

    #[test]
    fn cluster_users_carry_no_permissions_of_their_own() {
        let (_, t) = setup();
        let creds = t
            .issue_cluster_credentials(Uid::from_u64(0xc1), NOW, 600)
            .unwrap();
        let c: UserClaims = creds.claims().unwrap();
        assert_eq!(c.name, "0000000000c1");
        assert_eq!(c.iss, t.cluster_scope.public_key());
        assert_eq!(c.nats.issuer_account, t.account_public_key());
        assert!(c.nats.permission_limits().is_empty());
        assert_eq!(c.exp, Some(NOW + 600));
        assert!(!c.nats.bearer_token);
        assert_eq!(
            ClusterIdentity::of(&creds).unwrap(),
            ClusterIdentity {
                tenant: Uid::from_u64(0xa1),
                cluster: Uid::from_u64(0xc1)
            }
        );
        assert!(ClusterIdentity::of(&t.server_user_credentials(NOW, 60).unwrap()).is_err());
        // Renewal keeps the key.
        let renewed = t
            .cluster_user_jwt(Uid::from_u64(0xc1), creds.public_key(), NOW + 300, 600)
            .unwrap();
        let r: UserClaims = jwt::decode(&renewed).unwrap();
        assert_eq!(r.sub, creds.public_key());
        assert_eq!(r.iat, NOW + 300);
    }

    #[test]
    fn lifetimes_and_limits_are_bounded() {
        let (op, t) = setup();
        let c = Uid::from_u64(1);
        assert!(t.issue_cluster_credentials(c, NOW, 0).is_err());
        assert!(
            t.issue_cluster_credentials(c, NOW, MAX_USER_TTL_SECS + 1)
                .is_err()
        );
        assert!(op.system_user_credentials(NOW, -5).is_err());
        let zero = TenantLimits {
            max_connections: 0,
            ..TenantLimits::default()
        };
        assert!(
            op.tenant_account_jwt(&t, &zero, &Revocations::new(), NOW)
                .is_err()
        );
        assert!(t.cluster_user_jwt(c, "not-a-key", NOW, 60).is_err());
        assert!(
            t.cluster_user_jwt(c, t.account_public_key(), NOW, 60)
                .is_err()
        );
    }

    #[test]
    fn tombstone_locks_everything() {
        let (op, t) = setup();
        let c = op
            .verify_account_jwt(&op.tenant_tombstone_jwt(&t, NOW).unwrap())
            .unwrap();
        assert_eq!(c.nats.limits.conn, 0);
        assert_eq!(c.nats.limits.subs, 0);
        assert_eq!(c.nats.limits.payload, 0);
        assert!(c.nats.signing_keys.is_empty());
        assert_eq!(c.nats.revocations.get("*"), Some(&NOW));
    }

    #[test]
    fn revocations_follow_nats_rules() {
        let mut r = Revocations::new();
        let u = NatsKey::generate(KeyKind::User).unwrap();
        r.revoke_user(u.public_key(), 100).unwrap();
        r.revoke_user(u.public_key(), 50).unwrap();
        assert_eq!(r.entries().get(u.public_key()), Some(&100));
        assert!(r.is_revoked(u.public_key(), 100));
        assert!(!r.is_revoked(u.public_key(), 101));
        r.revoke_all(200);
        assert!(r.is_revoked("Uanything", 150));
        r.prune(100 + MAX_USER_TTL_SECS + 1);
        assert!(r.entries().get(u.public_key()).is_none());
        assert!(r.entries().contains_key("*"));
        assert!(r.revoke_user("Abad", 1).is_err());
        let mut bad = BTreeMap::new();
        bad.insert("nope".to_owned(), 1);
        assert!(Revocations::from_entries(bad).is_err());
    }

    #[test]
    fn foreign_operator_accounts_are_not_verified() {
        let (op, t) = setup();
        let other = OperatorKeys::derive(&BusMasterSecret::from_bytes([6; 32])).unwrap();
        let token = other
            .tenant_account_jwt(&t, &TenantLimits::default(), &Revocations::new(), NOW)
            .unwrap();
        assert!(matches!(
            op.verify_account_jwt(&token),
            Err(BusError::JwtIssuer(_))
        ));
    }
}
