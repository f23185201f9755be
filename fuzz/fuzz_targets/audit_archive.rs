#![no_main]
//! Sealed audit archives, as `palisade audit verify --archive FILE` reads
//! them. The first byte picks the mode: even, the rest is checked as given
//! (a file from anywhere never verifies: nobody else holds the key); odd,
//! the rest is sealed here with the installation's key first, so the
//! header, event and chain checks behind the seal are reached too.
use std::sync::OnceLock;

use palisade_crypto::audit::AuditSigner;
use sha2::{Digest, Sha256};

fn signer() -> &'static AuditSigner {
    static SIGNER: OnceLock<AuditSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let keyring = palisade_crypto::Keyring::generate().expect("keyring");
        AuditSigner::from_keyring(&keyring).expect("signer")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let s = signer();
    let verifier = s.verifier();
    if mode % 2 == 0 {
        assert!(palisade_server::audit::verify_archive(text, &verifier).is_err());
        return;
    }
    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    let seal = serde_json::json!({
        "seal": {"sha256": hex::encode(digest), "signature": s.sign_archive(&digest)}
    });
    let sealed = format!("{text}{seal}\n");
    if let Ok(summary) = palisade_server::audit::verify_archive(&sealed, &verifier) {
        // What verifies is internally consistent.
        let h = &summary.header;
        let span = i128::from(h.to_seq) - i128::from(h.from_seq) + 1;
        assert_eq!(i128::from(summary.events), span);
    }
});
