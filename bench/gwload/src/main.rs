//! Load generator for the gateway benchmark: the same authenticated read
//! against the secured application and against the bare handler, in
//! interleaved rounds (secured then bare, then bare then secured, …) so both
//! see the same machine state. Prints one line per round and a summary:
//! median throughput per variant, p50/p99 latency over all requests, and the
//! ratio secured / bare. Every loop is bounded in time and count.
//!
//! ```text
//! gwload --config JSON_FILE [--rounds 6] [--secs 5] [--workers 16]
//! ```

use std::time::{Duration, Instant};

use palisade_client::{Client, Method};

const MAX_REQUESTS: usize = 2_000_000;

struct Run {
    count: usize,
    errors: usize,
    lat_us: Vec<u32>,
    secs: f64,
}

async fn run(client: &Client, path: &str, token: &str, workers: usize, secs: u64) -> Run {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let c = client.clone();
        let p = path.to_owned();
        let t = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(65_536);
            let mut errors = 0usize;
            while Instant::now() < deadline && lat.len() < MAX_REQUESTS {
                let t0 = Instant::now();
                let r = c
                    .call::<(), serde_json::Value>(Method::GET, &p, Some(&t), None)
                    .await;
                let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                match r {
                    Ok(_) => lat.push(us),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut out = Run {
        count: 0,
        errors: 0,
        lat_us: Vec::new(),
        secs: 0.0,
    };
    for t in tasks {
        if let Ok((lat, errors)) = t.await {
            out.count += lat.len();
            out.errors += errors;
            out.lat_us.extend(lat);
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    out
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut config, mut rounds, mut secs, mut workers) = (String::new(), 6usize, 5u64, 16usize);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--config" => config = value,
            "--rounds" => rounds = value.parse().unwrap_or(6).clamp(1, 40),
            "--secs" => secs = value.parse().unwrap_or(5).clamp(1, 60),
            "--workers" => workers = value.parse().unwrap_or(16).clamp(1, 512),
            other => {
                eprintln!("unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("config file"))
            .expect("config JSON");
    let s = |k: &str| cfg[k].as_str().expect(k).to_owned();
    let ca = std::fs::read(s("ca")).expect("CA file");
    let secured = Client::new(&s("secured"), &ca).expect("client");
    let bare = Client::new(&s("bare"), &ca).expect("client");
    let (path, token) = (s("path"), s("token"));
    // Warm both (connections, caches, code paths).
    let _ = run(&secured, &path, &token, workers, 1).await;
    let _ = run(&bare, &path, &token, workers, 1).await;
    let (mut tput_s, mut tput_b) = (Vec::new(), Vec::new());
    let (mut lat_s, mut lat_b) = (Vec::new(), Vec::new());
    let (mut err_s, mut err_b) = (0, 0);
    println!("round  variant  requests  errors  req/s     p50 ms  p99 ms");
    for r in 0..rounds {
        let order: [(&str, &Client); 2] = if r % 2 == 0 {
            [("secured", &secured), ("bare", &bare)]
        } else {
            [("bare", &bare), ("secured", &secured)]
        };
        for (name, client) in order {
            let mut got = run(client, &path, &token, workers, secs).await;
            got.lat_us.sort_unstable();
            let rps = got.count as f64 / got.secs;
            println!(
                "{:>5}  {:<7}  {:>8}  {:>6}  {:>8.0}  {:>6.2}  {:>6.2}",
                r + 1,
                name,
                got.count,
                got.errors,
                rps,
                pct(&got.lat_us, 0.50),
                pct(&got.lat_us, 0.99)
            );
            if name == "secured" {
                tput_s.push(rps);
                err_s += got.errors;
                lat_s.extend(got.lat_us);
            } else {
                tput_b.push(rps);
                err_b += got.errors;
                lat_b.extend(got.lat_us);
            }
        }
    }
    lat_s.sort_unstable();
    lat_b.sort_unstable();
    let (ms, mb) = (median(&mut tput_s), median(&mut tput_b));
    println!();
    println!("| variant | median req/s over {rounds} rounds | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|");
    println!(
        "| secured (authn + authz + validation + limits + log) | {ms:.0} | {:.2} | {:.2} | {err_s} |",
        pct(&lat_s, 0.5),
        pct(&lat_s, 0.99)
    );
    println!(
        "| bare (same handler, no security layer) | {mb:.0} | {:.2} | {:.2} | {err_b} |",
        pct(&lat_b, 0.5),
        pct(&lat_b, 0.99)
    );
    println!();
    println!(
        "ratio secured / bare = {:.3} (target >= 0.85)",
        if mb > 0.0 { ms / mb } else { 0.0 }
    );
}
