//! Cost of `screen::check` per free-text value: it runs on every free-text
//! field of every request. Short and long legitimate values (the common case,
//! which runs every detector on every form), non-ASCII text (adds the NFKC
//! form), a percent-encoded value (adds the decoded form) and an attack
//! (stops at the first finding).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use palisade_core::screen;

fn bench(c: &mut Criterion) {
    let description =
        "Cluster for team-a (prod) — v1.29.3; 3x m5.large. Don't delete: it's Bob's. ";
    let cases: Vec<(&str, String)> = vec![
        ("name_ascii_16", "prod-eu-west-1 a".to_owned()),
        ("name_apostrophe", "Sinéad O'Connor".to_owned()),
        (
            "japanese_fullwidth",
            "（株）テスト：本番クラスタ「ＡＢＣ」".to_owned(),
        ),
        (
            "description_256",
            description.chars().cycle().take(256).collect(),
        ),
        (
            "description_4096",
            description.chars().cycle().take(4096).collect(),
        ),
        (
            "description_65536",
            description.chars().cycle().take(65_536).collect(),
        ),
        (
            "percent_encoded",
            "see https://example.com/a%20b?q=%3Cx%3E".to_owned(),
        ),
        (
            "attack_sqli",
            "' UNION SELECT password FROM users--".to_owned(),
        ),
        ("attack_xss", "<img src=x onerror=alert(1)>".to_owned()),
    ];
    let mut group = c.benchmark_group("screen_check");
    for (name, value) in &cases {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), value, |b, v| {
            b.iter(|| screen::check(black_box(v)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
