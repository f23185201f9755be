//! Known-answer tests: envelopes must match vectors computed independently
//! with libsodium (see `vectors/make_envelope_vectors.py`).

// Test code: failing loudly on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_crypto::{Aad, Envelope, Key32};

#[derive(serde::Deserialize)]
struct Vector {
    key: String,
    nonce: String,
    version: u32,
    tenant: String,
    table: String,
    column: String,
    row: String,
    plaintext: String,
    envelope: String,
}

#[test]
fn envelopes_match_libsodium_vectors() {
    let vectors: Vec<Vector> = serde_json::from_str(include_str!("vectors/envelope.json")).unwrap();
    assert!(vectors.len() >= 4);
    for v in vectors {
        let key = Key32::from_slice(&hex::decode(&v.key).unwrap()).unwrap();
        let nonce: [u8; 24] = hex::decode(&v.nonce).unwrap().try_into().unwrap();
        let pt = hex::decode(&v.plaintext).unwrap();
        let aad = Aad {
            tenant: &v.tenant,
            table: &v.table,
            column: &v.column,
            row: &v.row,
        };
        let sealed = Envelope::seal_with_nonce(&key, v.version, &aad, &pt, &nonce).unwrap();
        assert_eq!(sealed, v.envelope, "seal of {}.{}", v.table, v.column);
        let opened =
            Envelope::open(|ver| (ver == v.version).then_some(&key), &aad, &v.envelope).unwrap();
        assert_eq!(&opened[..], &pt[..]);
    }
}
