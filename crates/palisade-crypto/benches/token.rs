//! Access-token cost: `TokenKeys::verify` of a valid EdDSA (Ed25519) JWT
//! shaped like the server's access token, with `sign` for reference. See
//! bench/auth.sh and bench/auth-results.md.

// Benchmark setup has no caller to report to: a keyring or token that cannot
// be made is a broken benchmark, so failing loudly here is the right outcome.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_crypto::Keyring;
use palisade_crypto::token::{TimeClaims, TokenKeys};
use serde::{Deserialize, Serialize};

/// Same fields as the server's access-token claims.
#[derive(Debug, Serialize, Deserialize)]
struct Access {
    iss: String,
    sub: String,
    aud: String,
    tid: String,
    sid: String,
    iat: i64,
    exp: i64,
    jti: String,
    amr: Vec<String>,
}

impl TimeClaims for Access {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

const NOW: i64 = 1_800_000_000;

fn token(c: &mut Criterion) {
    let ring = Keyring::generate().expect("keyring");
    let keys = TokenKeys::from_keyring(&ring).expect("token keys");
    let claims = Access {
        iss: keys.issuer().to_owned(),
        sub: "0123456789ab".into(),
        aud: "api".into(),
        tid: "ba9876543210".into(),
        sid: "0a1b2c3d4e5f".into(),
        iat: NOW,
        exp: NOW + 900,
        jti: "f5e4d3c2b1a0".into(),
        amr: vec!["pwd".into()],
    };
    let signed = keys.sign(&claims).expect("sign");
    keys.verify::<Access>(&signed, "api", NOW + 1)
        .expect("the benchmark token must verify");

    let mut g = c.benchmark_group("token");
    g.bench_function("verify", |b| {
        b.iter(|| keys.verify::<Access>(black_box(&signed), black_box("api"), NOW + 1))
    });
    g.bench_function("sign", |b| b.iter(|| keys.sign(black_box(&claims))));
    g.finish();
}

criterion_group!(benches, token);
criterion_main!(benches);
