//! Envelope encryption throughput, tenant-key unwrap cost and blind-index
//! cost. Compare with `openssl speed -evp chacha20-poly1305` on the same
//! machine (see BENCHMARKS.md and bench/crypto.sh).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::Uid;
use palisade_crypto::{Aad, Envelope, Key32, email_index};

const AAD: Aad<'static> = Aad {
    tenant: "0123456789ab",
    table: "cloud_accounts",
    column: "credentials",
    row: "ba9876543210",
};

fn envelope(c: &mut Criterion) {
    let key = Key32::from_bytes([7; 32]);
    let mut g = c.benchmark_group("envelope");
    for size in [64usize, 1024, 16 * 1024] {
        let pt = vec![0x5au8; size];
        let sealed = Envelope::seal(&key, 1, &AAD, &pt).unwrap_or_default();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("seal", size), &pt, |b, pt| {
            b.iter(|| Envelope::seal(&key, 1, black_box(&AAD), black_box(pt)))
        });
        g.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| {
            b.iter(|| Envelope::open(|_| Some(&key), black_box(&AAD), black_box(s)))
        });
    }
    g.finish();
}

fn unwrap_key(c: &mut Criterion) {
    // Unwrapping a tenant data key: open a 32-byte envelope under the root key.
    let root = Key32::from_bytes([9; 32]);
    let aad = Aad {
        tenant: "0123456789ab",
        table: "tenant_keys",
        column: "wrapped_key",
        row: "1",
    };
    let wrapped = Envelope::seal(&root, 1, &aad, &[1u8; 32]).unwrap_or_default();
    c.bench_function("unwrap_tenant_key", |b| {
        b.iter(|| {
            Envelope::open(|_| Some(&root), black_box(&aad), black_box(&wrapped))
                .ok()
                .and_then(|k| Key32::from_slice(&k))
        })
    });
    let salt = Key32::from_bytes([3; 32]);
    let tenant = Uid::from_u64(0x0123_4567_89ab);
    c.bench_function("email_blind_index", |b| {
        b.iter(|| email_index(black_box(&salt), tenant, black_box("someone@example.com")))
    });
}

criterion_group!(benches, envelope, unwrap_key);
criterion_main!(benches);
