//! The audit log's cryptography: the per-tenant hash chain and the signed
//! statements ("heads" and "checkpoints") that pin it.
//!
//! - Each tenant's log starts from a genesis value bound to the tenant.
//! - Event *n* has `hash_n = SHA-256("palisade-audit-chain-v1" ‖ hash_{n-1} ‖
//!   canonical(event_n))`; editing, removing or reordering an event breaks
//!   every later link.
//! - A log may be split into `lanes` interleaved chains, so that writers of
//!   one tenant do not wait for each other: lane *L* of *N* holds the events
//!   numbered *L*+1, *L*+1+*N*, *L*+1+2*N*…, each linked to the one *N*
//!   before it, starting from the lane's own genesis value.
//! - A signed statement says "lane L of the log of tenant T at installation
//!   I, which has N lanes, ends at event `seq` whose hash is `hash`, as of
//!   time `at`", signed with the installation's audit key (Ed25519). The
//!   store keeps one for the head of each lane (re-signed on every append,
//!   so cutting events off the end is detected) and issues checkpoints at
//!   intervals. A log of one lane signs the original (v1) statement, so
//!   logs written before lanes existed verify unchanged.
//!
//! Nothing here touches a database.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use palisade_core::Uid;
use sha2::{Digest, Sha256};

use crate::{CryptoError, Keyring};

/// A SHA-256 value of the chain.
pub type ChainHash = [u8; 32];

/// The value a tenant's log (its lane 0) starts from.
pub fn genesis(tenant: Uid) -> ChainHash {
    let mut h = Sha256::new();
    h.update(b"palisade-audit-genesis-v1");
    h.update(tenant.to_string().as_bytes());
    h.finalize().into()
}

/// The value lane `lane` of a tenant's log starts from (lane 0: [`genesis`]).
pub fn lane_genesis(tenant: Uid, lane: u32) -> ChainHash {
    if lane == 0 {
        return genesis(tenant);
    }
    let mut h = Sha256::new();
    h.update(b"palisade-audit-lane-genesis-v1");
    h.update(tenant.to_string().as_bytes());
    h.update(lane.to_be_bytes());
    h.finalize().into()
}

/// The next link: the hash of an event whose canonical form is `canonical`
/// following an event (or genesis) whose hash is `prev`.
pub fn link(prev: &ChainHash, canonical: &[u8]) -> ChainHash {
    let mut h = Sha256::new();
    h.update(b"palisade-audit-chain-v1");
    h.update(prev);
    h.update(canonical);
    h.finalize().into()
}

/// Lowercase hex of a chain hash.
pub fn to_hex(hash: &ChainHash) -> String {
    hex::encode(hash)
}

/// Parses the hex form of a chain hash.
pub fn from_hex(text: &str) -> Option<ChainHash> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// A signed statement about a lane of a log: it ends at event `seq`, whose
/// hash is `hash` (the lane is the one `seq` falls in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStatement {
    /// Tenant of the log.
    pub tenant: Uid,
    /// How many lanes the log has (1: one chain).
    pub lanes: u32,
    /// Number of the lane's last event (empty: the lane's number + 1 − `lanes`).
    pub seq: i64,
    /// Hash of the last event (genesis when empty).
    pub hash: ChainHash,
    /// When the statement was made (ms).
    pub at: i64,
}

impl LogStatement {
    fn message(&self, installation: Uid) -> Vec<u8> {
        let mut m = Vec::with_capacity(100);
        if self.lanes <= 1 {
            m.extend_from_slice(b"palisade-audit-statement-v1");
        } else {
            m.extend_from_slice(b"palisade-audit-statement-v2");
        }
        m.extend_from_slice(installation.to_string().as_bytes());
        m.extend_from_slice(self.tenant.to_string().as_bytes());
        if self.lanes > 1 {
            m.extend_from_slice(&self.lanes.to_be_bytes());
        }
        m.extend_from_slice(&self.seq.to_be_bytes());
        m.extend_from_slice(&self.hash);
        m.extend_from_slice(&self.at.to_be_bytes());
        m
    }
}

fn archive_message(installation: Uid, digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(b"palisade-audit-archive-v1");
    m.extend_from_slice(installation.to_string().as_bytes());
    m.extend_from_slice(digest);
    m
}

/// Signs log statements with the installation's audit key.
pub struct AuditSigner {
    installation: Uid,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("installation", &self.installation)
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// The signer of this keyring's installation.
    pub fn from_keyring(keyring: &Keyring) -> Result<Self, CryptoError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(keyring.audit_key().expose()).map_err(|_| {
                CryptoError::KeyringFormat("the audit key is not a valid Ed25519 seed".into())
            })?;
        Ok(AuditSigner {
            installation: keyring.installation_uid(),
            pair,
        })
    }

    /// Base64 signature of `statement`.
    pub fn sign(&self, statement: &LogStatement) -> String {
        let sig = self.pair.sign(&statement.message(self.installation));
        STANDARD.encode(sig.as_ref())
    }

    /// Base64 signature sealing an archive whose SHA-256 is `digest`.
    pub fn sign_archive(&self, digest: &[u8; 32]) -> String {
        let sig = self.pair.sign(&archive_message(self.installation, digest));
        STANDARD.encode(sig.as_ref())
    }

    /// The matching verifier.
    pub fn verifier(&self) -> AuditVerifier {
        AuditVerifier {
            installation: self.installation,
            public: self.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// Checks log statements; needs only the audit key's public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerifier {
    installation: Uid,
    public: Vec<u8>,
}

impl AuditVerifier {
    /// A verifier for `installation` with the Ed25519 public key `public`.
    pub fn new(installation: Uid, public: Vec<u8>) -> Self {
        AuditVerifier {
            installation,
            public,
        }
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// True when `signature` (base64) seals an archive whose SHA-256 is `digest`.
    pub fn verify_archive(&self, digest: &[u8; 32], signature: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &self.public)
            .verify(&archive_message(self.installation, digest), &sig)
            .is_ok()
    }

    /// True when `signature` (base64) signs `statement` with this key.
    pub fn verify(&self, statement: &LogStatement, signature: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &self.public)
            .verify(&statement.message(self.installation), &sig)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_depend_on_everything() {
        let g = genesis(Uid::from_u64(1));
        assert_ne!(g, genesis(Uid::from_u64(2)));
        let a = link(&g, b"event");
        assert_ne!(a, link(&g, b"event!"));
        assert_ne!(a, link(&genesis(Uid::from_u64(2)), b"event"));
        assert_eq!(from_hex(&to_hex(&a)), Some(a));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("00"), None);
        // Lanes start apart, and lane 0 where a log of one lane starts.
        let t = Uid::from_u64(1);
        assert_eq!(lane_genesis(t, 0), g);
        assert_ne!(lane_genesis(t, 1), g);
        assert_ne!(lane_genesis(t, 1), lane_genesis(t, 2));
        assert_ne!(lane_genesis(t, 1), lane_genesis(Uid::from_u64(2), 1));
    }

    #[test]
    fn statements_verify_only_as_signed() {
        let keyring = Keyring::generate().unwrap();
        let signer = AuditSigner::from_keyring(&keyring).unwrap();
        let s = LogStatement {
            tenant: Uid::from_u64(7),
            lanes: 1,
            seq: 42,
            hash: genesis(Uid::from_u64(7)),
            at: 1_700_000_000_000,
        };
        let sig = signer.sign(&s);
        let v = signer.verifier();
        assert!(v.verify(&s, &sig));
        for changed in [
            LogStatement { seq: 41, ..s },
            LogStatement {
                tenant: Uid::from_u64(8),
                ..s
            },
            LogStatement { at: s.at + 1, ..s },
            LogStatement { lanes: 4, ..s },
            LogStatement {
                hash: link(&s.hash, b"x"),
                ..s
            },
        ] {
            assert!(!v.verify(&changed, &sig));
        }
        assert!(!v.verify(&s, "not base64!"));
        // Archive seals are a separate domain: a statement signature never
        // verifies as a seal.
        let digest = [7u8; 32];
        let seal = signer.sign_archive(&digest);
        assert!(v.verify_archive(&digest, &seal));
        assert!(!v.verify_archive(&[8u8; 32], &seal));
        assert!(!v.verify_archive(&digest, &sig));
        // A statement about a log of several lanes is its own: the count is
        // signed, and neither form verifies as the other.
        let laned = LogStatement { lanes: 4, ..s };
        let laned_sig = signer.sign(&laned);
        assert!(v.verify(&laned, &laned_sig));
        assert!(!v.verify(&LogStatement { lanes: 8, ..s }, &laned_sig));
        assert!(!v.verify(&s, &laned_sig));
        // Another installation's key does not verify it.
        let other = AuditSigner::from_keyring(&Keyring::generate().unwrap()).unwrap();
        assert!(!other.verifier().verify(&s, &sig));
    }
}
