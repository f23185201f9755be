//! Every NATS key Palisade uses, derived from one 32-byte bus master secret.
//!
//! Why derivation and not stored keys: the keyring holds one secret; each
//! stateless `palisade serve` replica computes the same operator, system
//! account and per-tenant keys from it, so there is no per-tenant key table
//! to store, back up, encrypt or keep consistent between replicas, and a new
//! tenant needs no write before its account exists. The price: the master
//! secret is as valuable as all derived keys together, and rotating it
//! changes every account identity (a migration, not a routine operation).
//! Per-tenant signing keys carry a *version* so one tenant's signing keys can
//! be rotated alone.
//!
//! Derivation is HKDF-SHA256 (RFC 5869) with a fixed salt and one distinct,
//! versioned label per key; the 32 output bytes are the Ed25519 seed of an
//! nkey of the right kind. Labels never repeat across key roles (checked by
//! a test), and tenant labels contain the tenant UID in fixed-width hex, so
//! no two tenants, roles or versions share a key.
//!
//! This module must not print, log or serialize a seed: [`BusMasterSecret`]
//! and [`NatsKey`] zeroize on drop and their `Debug` shows public data only.

use hkdf::Hkdf;
use nkeys::{KeyPair, KeyPairType};
use palisade_core::Uid;
use secrecy::SecretString;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::BusError;

/// HKDF salt: fixes the domain of every derivation in this module.
const SALT: &[u8] = b"palisade-bus key derivation v1";

/// The one secret all bus keys derive from. Held by the installation keyring;
/// zeroized on drop; never printed.
pub struct BusMasterSecret(Zeroizing<[u8; 32]>);

impl BusMasterSecret {
    /// Wraps existing secret bytes (from the keyring).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        BusMasterSecret(Zeroizing::new(bytes))
    }

    /// Wraps secret bytes already held in a zeroizing buffer (no copy left
    /// behind).
    pub fn from_zeroizing(bytes: Zeroizing<[u8; 32]>) -> Self {
        BusMasterSecret(bytes)
    }

    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, BusError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut())?;
        Ok(BusMasterSecret(bytes))
    }

    /// The raw bytes, for the keyring to store; keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn derive_seed(&self, label: &str) -> Result<Zeroizing<[u8; 32]>, BusError> {
        let hk = Hkdf::<Sha256>::new(Some(SALT), self.0.as_ref());
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(label.as_bytes(), okm.as_mut())
            .map_err(|_| BusError::KeyDerivation("HKDF output length"))?;
        Ok(okm)
    }

    fn derive_key(&self, label: &str, kind: KeyKind) -> Result<NatsKey, BusError> {
        let seed = self.derive_seed(label)?;
        NatsKey::from_raw_seed(kind, &seed)
    }
}

impl std::fmt::Debug for BusMasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusMasterSecret(***)")
    }
}

/// Fills `buf` from the operating system's CSPRNG.
fn fill_random(buf: &mut [u8]) -> Result<(), BusError> {
    use rand::TryRng;
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|_| BusError::Random)
}

/// The kind of an nkey (the first letter of its public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `O…`: operator identity and operator signing keys.
    Operator,
    /// `A…`: account identity and account signing keys.
    Account,
    /// `U…`: users.
    User,
}

impl KeyKind {
    fn nkeys_type(self) -> KeyPairType {
        match self {
            KeyKind::Operator => KeyPairType::Operator,
            KeyKind::Account => KeyPairType::Account,
            KeyKind::User => KeyPairType::User,
        }
    }

    /// The first character of public keys of this kind.
    pub fn public_prefix(self) -> char {
        match self {
            KeyKind::Operator => 'O',
            KeyKind::Account => 'A',
            KeyKind::User => 'U',
        }
    }

    /// The kind a public key string claims by its first letter (the
    /// checksum is verified separately by [`verify_public_key`]).
    pub fn of_public_key(public_key: &str) -> Option<KeyKind> {
        match public_key.as_bytes().first() {
            Some(b'O') => Some(KeyKind::Operator),
            Some(b'A') => Some(KeyKind::Account),
            Some(b'U') => Some(KeyKind::User),
            _ => None,
        }
    }
}

/// Checks that `public_key` is a well-formed nkey public key (base32,
/// checksum) of `kind`.
pub fn verify_public_key(public_key: &str, kind: KeyKind) -> Result<(), BusError> {
    if KeyKind::of_public_key(public_key) != Some(kind) {
        return Err(BusError::InvalidKey("wrong key kind (prefix)"));
    }
    KeyPair::from_public_key(public_key)?;
    Ok(())
}

/// An nkey with its seed. Zeroized on drop (nkeys keeps the seed in an
/// `ed25519_dalek::SigningKey`, which zeroizes itself); `Debug` prints the
/// public key only.
pub struct NatsKey {
    kp: KeyPair,
    kind: KeyKind,
    public: String,
}

impl NatsKey {
    fn from_raw_seed(kind: KeyKind, seed: &Zeroizing<[u8; 32]>) -> Result<Self, BusError> {
        // nkeys takes the seed by value: that stack copy is not wiped (the
        // signing key nkeys keeps is, through ed25519-dalek's zeroize).
        let kp = KeyPair::new_from_raw(kind.nkeys_type(), **seed)
            .map_err(|_| BusError::KeyDerivation("nkeys refused the derived seed"))?;
        let public = kp.public_key();
        Ok(NatsKey { kp, kind, public })
    }

    /// A fresh random key of `kind` from the OS CSPRNG (cluster users get
    /// random keys: they are never re-derived, only their JWTs are).
    pub fn generate(kind: KeyKind) -> Result<Self, BusError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        fill_random(seed.as_mut())?;
        NatsKey::from_raw_seed(kind, &seed)
    }

    /// Reads an encoded seed (`S…`), refusing one of another kind.
    pub fn from_seed(seed: &str, kind: KeyKind) -> Result<Self, BusError> {
        let kp = KeyPair::from_seed(seed.trim())?;
        let public = kp.public_key();
        if KeyKind::of_public_key(&public) != Some(kind) {
            return Err(BusError::InvalidKey("seed of the wrong key kind"));
        }
        Ok(NatsKey { kp, kind, public })
    }

    /// The encoded public key (`O…`, `A…` or `U…`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Signs `data` (an Ed25519 signature, 64 bytes).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, BusError> {
        self.kp.sign(data).map_err(|_| BusError::Signing)
    }

    /// The encoded seed (`S…`), for a credentials file. Secret.
    pub(crate) fn seed(&self) -> Result<SecretString, BusError> {
        let s = Zeroizing::new(self.kp.seed()?);
        Ok(SecretString::from(s.as_str()))
    }
}

impl std::fmt::Debug for NatsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsKey")
            .field("kind", &self.kind)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Label of one derived key. Kept in one function so the test can check
/// that no two roles share a label.
fn label(role: Role<'_>) -> String {
    match role {
        Role::OperatorIdentity => "palisade-bus/v1/operator/identity".to_owned(),
        Role::OperatorSigning => "palisade-bus/v1/operator/signing".to_owned(),
        Role::SystemAccountIdentity => "palisade-bus/v1/system-account/identity".to_owned(),
        Role::SystemAccountSigning => "palisade-bus/v1/system-account/signing".to_owned(),
        Role::SystemUser => "palisade-bus/v1/system-account/user/pusher".to_owned(),
        Role::TenantAccountIdentity(t) => format!("palisade-bus/v1/tenant/{t}/account/identity"),
        Role::TenantClusterScope(t, v) => {
            format!("palisade-bus/v1/tenant/{t}/key-version/{v}/signing/cluster-scope")
        }
        Role::TenantServerScope(t, v) => {
            format!("palisade-bus/v1/tenant/{t}/key-version/{v}/signing/server-scope")
        }
        Role::TenantServerUser(t, v) => {
            format!("palisade-bus/v1/tenant/{t}/key-version/{v}/user/server")
        }
    }
}

#[derive(Clone, Copy)]
enum Role<'a> {
    OperatorIdentity,
    OperatorSigning,
    SystemAccountIdentity,
    SystemAccountSigning,
    SystemUser,
    TenantAccountIdentity(&'a Uid),
    TenantClusterScope(&'a Uid, u32),
    TenantServerScope(&'a Uid, u32),
    TenantServerUser(&'a Uid, u32),
}

/// The installation's operator-level keys. The keys themselves stay inside
/// this crate: callers get JWTs and credentials from the minting methods in
/// [`crate::operator`], never a signing key to use as they please.
#[derive(Debug)]
pub struct OperatorKeys {
    /// Operator identity: self-signs the operator JWT and nothing else
    /// (the operator JWT sets `strict_signing_key_usage`).
    pub(crate) identity: NatsKey,
    /// Operator signing key: signs every account JWT.
    pub(crate) signing: NatsKey,
    /// The system account's identity (`$SYS`); its public key is the
    /// account's name.
    pub(crate) system_account: NatsKey,
    /// The system account's signing key: signs the pusher user.
    pub(crate) system_signing: NatsKey,
    /// Palisade's user in the system account (pushes account JWTs).
    pub(crate) system_user: NatsKey,
}

impl OperatorKeys {
    /// The operator's public key (its identity).
    pub fn operator_public_key(&self) -> &str {
        self.identity.public_key()
    }

    /// The operator signing key's public key (issuer of account JWTs).
    pub fn signing_public_key(&self) -> &str {
        self.signing.public_key()
    }

    /// The system account's public key.
    pub fn system_account_public_key(&self) -> &str {
        self.system_account.public_key()
    }

    /// Derives the operator-level keys from the master secret.
    pub fn derive(master: &BusMasterSecret) -> Result<Self, BusError> {
        Ok(OperatorKeys {
            identity: master.derive_key(&label(Role::OperatorIdentity), KeyKind::Operator)?,
            signing: master.derive_key(&label(Role::OperatorSigning), KeyKind::Operator)?,
            system_account: master
                .derive_key(&label(Role::SystemAccountIdentity), KeyKind::Account)?,
            system_signing: master
                .derive_key(&label(Role::SystemAccountSigning), KeyKind::Account)?,
            system_user: master.derive_key(&label(Role::SystemUser), KeyKind::User)?,
        })
    }
}

/// One tenant's keys at one key version.
#[derive(Debug)]
pub struct TenantKeys {
    tenant: Uid,
    version: u32,
    /// The account identity; its public key is the tenant's NATS account
    /// name. Derived from the tenant UID alone (not the version), so
    /// rotating signing keys keeps the account. Its seed signs nothing:
    /// the operator JWT's `strict_signing_key_usage` makes nats-server
    /// refuse users it signs.
    account: NatsKey,
    /// Scoped signing key for cluster users (`user_scope` template pinned
    /// to one cluster's subjects).
    pub(crate) cluster_scope: NatsKey,
    /// Scoped signing key for Palisade's own user in the account.
    pub(crate) server_scope: NatsKey,
    /// Palisade's own user in the account (derived, so every replica
    /// connects as the same user).
    pub(crate) server_user: NatsKey,
}

impl TenantKeys {
    /// Derives the keys of `tenant` at signing-key `version`.
    pub fn derive(master: &BusMasterSecret, tenant: Uid, version: u32) -> Result<Self, BusError> {
        Ok(TenantKeys {
            tenant,
            version,
            account: master.derive_key(
                &label(Role::TenantAccountIdentity(&tenant)),
                KeyKind::Account,
            )?,
            cluster_scope: master.derive_key(
                &label(Role::TenantClusterScope(&tenant, version)),
                KeyKind::Account,
            )?,
            server_scope: master.derive_key(
                &label(Role::TenantServerScope(&tenant, version)),
                KeyKind::Account,
            )?,
            server_user: master.derive_key(
                &label(Role::TenantServerUser(&tenant, version)),
                KeyKind::User,
            )?,
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> Uid {
        self.tenant
    }

    /// The signing-key version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The tenant's NATS account (public key of the account identity).
    pub fn account_public_key(&self) -> &str {
        self.account.public_key()
    }

    /// The public key of the cluster-scoped signing key.
    pub fn cluster_scope_public_key(&self) -> &str {
        self.cluster_scope.public_key()
    }

    /// The public key of Palisade's own user in the account.
    pub fn server_user_public_key(&self) -> &str {
        self.server_user.public_key()
    }

    /// The account identity key itself, for the negative test that a user
    /// it signs is refused. Not for production use: nothing may sign with it.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn account_identity_for_tests(&self) -> &NatsKey {
        &self.account
    }

    /// The cluster-scoped signing key, for negative tests that forge user
    /// JWTs with it. Not for production use: mint with
    /// [`TenantKeys::issue_cluster_credentials`].
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn cluster_scope_for_tests(&self) -> &NatsKey {
        &self.cluster_scope
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn master(b: u8) -> BusMasterSecret {
        BusMasterSecret::from_bytes([b; 32])
    }

    #[test]
    fn derivation_is_deterministic_and_kinds_are_right() {
        let a = OperatorKeys::derive(&master(1)).unwrap();
        let b = OperatorKeys::derive(&master(1)).unwrap();
        assert_eq!(a.identity.public_key(), b.identity.public_key());
        assert_eq!(a.system_user.public_key(), b.system_user.public_key());
        assert!(a.identity.public_key().starts_with('O'));
        assert!(a.signing.public_key().starts_with('O'));
        assert!(a.system_account.public_key().starts_with('A'));
        assert!(a.system_signing.public_key().starts_with('A'));
        assert!(a.system_user.public_key().starts_with('U'));
        let c = OperatorKeys::derive(&master(2)).unwrap();
        assert_ne!(a.identity.public_key(), c.identity.public_key());
    }

    #[test]
    fn every_role_gets_its_own_key() {
        let m = master(9);
        let op = OperatorKeys::derive(&m).unwrap();
        let t1 = Uid::from_u64(1);
        let t2 = Uid::from_u64(2);
        let mut seen = HashSet::new();
        for k in [
            &op.identity,
            &op.signing,
            &op.system_account,
            &op.system_signing,
            &op.system_user,
        ] {
            // Compare the raw key material (public keys of different kinds
            // would differ by prefix even for equal seeds).
            assert!(seen.insert(k.public_key()[1..].to_owned()));
        }
        for (t, v) in [(t1, 1), (t1, 2), (t2, 1)] {
            let tk = TenantKeys::derive(&m, t, v).unwrap();
            for k in [&tk.cluster_scope, &tk.server_scope, &tk.server_user] {
                assert!(seen.insert(k.public_key()[1..].to_owned()));
            }
        }
        // The account identity depends on the tenant, not the version.
        let a1 = TenantKeys::derive(&m, t1, 1).unwrap();
        let a2 = TenantKeys::derive(&m, t1, 2).unwrap();
        let b1 = TenantKeys::derive(&m, t2, 1).unwrap();
        assert_eq!(a1.account_public_key(), a2.account_public_key());
        assert_ne!(a1.account_public_key(), b1.account_public_key());
        assert_ne!(a1.cluster_scope.public_key(), a2.cluster_scope.public_key());
    }

    /// Known-answer vectors, computed independently (Python: RFC 5869 HKDF
    /// over `hmac`/`hashlib`, Ed25519 from `cryptography`, nkey base32 +
    /// CRC-16 by hand). A change here changes every installation's account
    /// names: it must be a deliberate, migrated change.
    #[test]
    fn derivation_known_answers() {
        let m = master(1);
        let op = OperatorKeys::derive(&m).unwrap();
        let t = TenantKeys::derive(&m, Uid::from_u64(0xabc), 1).unwrap();
        assert_eq!(
            op.identity.public_key(),
            "ODI7HB5UCZZWPRMFIRX7KZAKBBQR2GIJROKWAL7HLAWHZT3DV357X5DH"
        );
        assert_eq!(
            op.system_account.public_key(),
            "ADA2S35NDJH46T6QOVABVRY7HHBKI2JP5IMXHQUJKONT4CWJET2GHHXF"
        );
        assert_eq!(
            t.account_public_key(),
            "AA6ICFTEH3X7JH5KE3IQGUEXHOB3TJVTCOBBCVB3DU3PF33VCKDNGHIN"
        );
        assert_eq!(
            t.server_user.public_key(),
            "UDFG6POEBMDH2TIYRCIYPTQZZBZJ2EMDJKU467AEH5PFRRAHYGCDMQLO"
        );
    }

    #[test]
    fn labels_are_distinct() {
        let t = Uid::from_u64(0xabc);
        let labels = [
            label(Role::OperatorIdentity),
            label(Role::OperatorSigning),
            label(Role::SystemAccountIdentity),
            label(Role::SystemAccountSigning),
            label(Role::SystemUser),
            label(Role::TenantAccountIdentity(&t)),
            label(Role::TenantClusterScope(&t, 1)),
            label(Role::TenantServerScope(&t, 1)),
            label(Role::TenantServerUser(&t, 1)),
        ];
        let set: HashSet<_> = labels.iter().collect();
        assert_eq!(set.len(), labels.len());
        assert!(labels[5].contains("000000000abc"));
    }

    #[test]
    fn debug_never_shows_seeds() {
        let m = master(3);
        let op = OperatorKeys::derive(&m).unwrap();
        let seed = op.signing.seed().unwrap();
        use secrecy::ExposeSecret;
        let dbg = format!("{op:?} {m:?}");
        assert!(!dbg.contains(seed.expose_secret()));
        assert!(dbg.contains(op.signing.public_key()));
        assert!(dbg.contains("BusMasterSecret(***)"));
    }

    #[test]
    fn seeds_round_trip_and_kinds_are_enforced() {
        let k = NatsKey::generate(KeyKind::User).unwrap();
        use secrecy::ExposeSecret;
        let seed = k.seed().unwrap();
        assert!(seed.expose_secret().starts_with("SU"));
        let back = NatsKey::from_seed(seed.expose_secret(), KeyKind::User).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert!(NatsKey::from_seed(seed.expose_secret(), KeyKind::Account).is_err());
        assert!(verify_public_key(k.public_key(), KeyKind::User).is_ok());
        assert!(verify_public_key(k.public_key(), KeyKind::Account).is_err());
        let mut broken = k.public_key().to_owned();
        broken.pop();
        broken.push(if k.public_key().ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert!(verify_public_key(&broken, KeyKind::User).is_err());
    }

    #[test]
    fn generated_master_secrets_differ() {
        let a = BusMasterSecret::generate().unwrap();
        let b = BusMasterSecret::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
    }
}
