//! Load generator for Palisade's authentication benchmarks.
//!
//! Against a running `palisade serve` (HTTPS on loopback, bootstrap admin not
//! yet used) it measures, per round and side by side:
//!
//! 1. the single Argon2id verify time in this process (release build, same
//!    parameters and the same verify as the server's hashing threads, with
//!    kept working memory), and login throughput with `--workers`
//!    concurrent logins, against the ideal `cores / hash time`;
//! 2. p50/p99 of an authenticated read (`GET /v1/me`) with no load;
//! 3. p50/p99 of the same read while the login flood runs.
//!
//! With `--server-pid` it also accounts for where the CPU went during each
//! phase, from `/proc` (Linux): the server's password-hashing threads
//! (`palisade-hash-*`), the rest of the server, this load generator, other
//! processes of the machine, and idle time. That splits a login's server CPU
//! into Argon2 and the rest, and shows what limits throughput on a small or
//! shared machine.
//!
//! It prints one line per round and a markdown table of medians. Every loop is
//! bounded in count and in time. Usage:
//!
//! ```text
//! authload --url https://127.0.0.1:PORT --ca ca.pem --password-file initial-admin-password \
//!          [--server-pid PID] [--rounds 3] [--flood-secs 10] [--workers 8] [--idle-reads 400] \
//!          [--hash-iters 15] [--cores N]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use palisade_client::Client;
use palisade_crypto::Key32;
use palisade_crypto::password::{HashMemory, hash_password, verify_password_in};
use reqwest::Method;
use secrecy::SecretString;

const TENANT: &str = "system";
const EMAIL: &str = "admin@localhost";
const NEW_PASSWORD: &str = "bench-Password-7f3a9c1e-correct-horse";
/// Hard cap on requests of any one loop, whatever the time bound.
const MAX_REQUESTS: usize = 200_000;
/// Pause between two reads of the latency probe.
const READ_GAP: Duration = Duration::from_millis(5);

type Res<T> = Result<T, String>;

struct Args {
    url: String,
    ca: PathBuf,
    password_file: PathBuf,
    rounds: usize,
    flood_secs: u64,
    workers: usize,
    idle_reads: usize,
    hash_iters: usize,
    cores: usize,
    server_pid: Option<u32>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        url: String::new(),
        ca: PathBuf::new(),
        password_file: PathBuf::new(),
        rounds: 3,
        flood_secs: 10,
        workers: 8,
        idle_reads: 400,
        hash_iters: 15,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => a.url = value.clone(),
            "--ca" => a.ca = PathBuf::from(&value),
            "--password-file" => a.password_file = PathBuf::from(&value),
            "--rounds" => a.rounds = num()?.clamp(1, 20),
            "--flood-secs" => a.flood_secs = num()?.clamp(1, 120) as u64,
            "--workers" => a.workers = num()?.clamp(1, 256),
            "--idle-reads" => a.idle_reads = num()?.clamp(10, 100_000),
            "--hash-iters" => a.hash_iters = num()?.clamp(1, 1_000),
            "--cores" => a.cores = num()?.clamp(1, 1_024),
            "--server-pid" => {
                a.server_pid = Some(value.parse::<u32>().map_err(|e| format!("{flag}: {e}"))?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.url.is_empty() || a.ca.as_os_str().is_empty() || a.password_file.as_os_str().is_empty() {
        return Err("--url, --ca and --password-file are required".into());
    }
    Ok(a)
}

/// The `p`-quantile (0..=1) of sorted samples, nearest-rank.
fn quantile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn median_f(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s.get(n / 2).copied().unwrap_or_default(),
        n => {
            (s.get(n / 2 - 1).copied().unwrap_or_default()
                + s.get(n / 2).copied().unwrap_or_default())
                / 2.0
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Clock ticks per second of `/proc/*/stat` and `/proc/stat` (USER_HZ,
/// 100 on Linux for every common architecture).
const TICKS_PER_S: f64 = 100.0;

/// CPU time of a whole process (all its threads, live or exited), seconds.
fn process_cpu_s(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// CPU time (seconds, ns resolution) of the threads of `pid` whose name
/// starts with `prefix`.
fn threads_cpu_s(pid: &str, prefix: &str) -> Option<f64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total as f64 / 1e9)
}

/// Busy and idle CPU time of the whole machine (all cores), seconds.
fn machine_cpu_s() -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .take(8)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    let all: f64 = v.iter().sum();
    Some(((all - idle) / TICKS_PER_S, idle / TICKS_PER_S))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// CPU counters at one instant.
#[derive(Clone, Copy, Default)]
struct CpuSnap {
    at: Option<Instant>,
    generator: f64,
    server: f64,
    hashing: f64,
    busy: f64,
    idle: f64,
}

impl CpuSnap {
    fn take(server_pid: Option<u32>) -> CpuSnap {
        let pid = server_pid.map(|p| p.to_string());
        let (busy, idle) = machine_cpu_s().unwrap_or_default();
        CpuSnap {
            at: Some(Instant::now()),
            generator: process_cpu_s("self").unwrap_or_default(),
            server: pid.as_deref().and_then(process_cpu_s).unwrap_or_default(),
            hashing: pid
                .as_deref()
                .and_then(|p| threads_cpu_s(p, "palisade-hash"))
                .unwrap_or_default(),
            busy,
            idle,
        }
    }
}

/// Where the CPU went between two snapshots, in cores (CPU-seconds per
/// wall second).
#[derive(Clone, Copy, Default)]
struct CpuUse {
    wall_s: f64,
    generator: f64,
    hashing: f64,
    /// The server's other threads (runtime, database, TLS, ...).
    server_rest: f64,
    /// Everything else on the machine.
    others: f64,
    idle: f64,
}

impl CpuUse {
    fn between(a: &CpuSnap, b: &CpuSnap) -> CpuUse {
        let wall_s = match (a.at, b.at) {
            (Some(x), Some(y)) => y.duration_since(x).as_secs_f64().max(1e-3),
            _ => 1.0,
        };
        let generator = (b.generator - a.generator) / wall_s;
        let hashing = (b.hashing - a.hashing) / wall_s;
        let server = (b.server - a.server) / wall_s;
        let busy = (b.busy - a.busy) / wall_s;
        CpuUse {
            wall_s,
            generator,
            hashing,
            server_rest: (server - hashing).max(0.0),
            others: (busy - generator - server).max(0.0),
            idle: (b.idle - a.idle) / wall_s,
        }
    }
}

/// This thread's time on the CPU so far (Linux schedstat), ms.
fn thread_cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|ns| ns as f64 / 1e6)
        .unwrap_or(0.0)
}

/// Median wall time of one Argon2id verify (server parameters, a pepper,
/// matching password) over `iters` sequential runs on this thread, and the
/// mean CPU time of one (which leaves out time lost to other processes).
fn hash_time(iters: usize) -> Res<(Duration, f64)> {
    let pepper = Key32::generate().map_err(|e| e.to_string())?;
    let pw = SecretString::from(NEW_PASSWORD.to_owned());
    let stored = hash_password(&pepper, &pw).map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(iters);
    // The CPU clock advances in scheduler ticks: read it around the batch.
    let cpu_start = thread_cpu_ms();
    let mut memory = HashMemory::new();
    for _ in 0..iters {
        let t = Instant::now();
        let ok =
            verify_password_in(&mut memory, &pepper, &pw, &stored).map_err(|e| e.to_string())?;
        times.push(t.elapsed());
        if !ok {
            return Err("Argon2id verify of the right password failed".into());
        }
    }
    let cpu_ms = (thread_cpu_ms() - cpu_start) / iters.max(1) as f64;
    times.sort();
    Ok((quantile(&times, 0.5), cpu_ms))
}

async fn me(client: &Client, token: &str) -> Res<Duration> {
    let t = Instant::now();
    let answer: palisade_client::Answer<serde_json::Value> = client
        .call(Method::GET, "/v1/me", Some(token), None::<&()>)
        .await
        .map_err(|e| format!("GET /v1/me: {e}"))?;
    let took = t.elapsed();
    if answer.status != 200 {
        return Err(format!("GET /v1/me answered {}", answer.status));
    }
    Ok(took)
}

async fn login(client: &Client) -> Res<String> {
    let answer = client
        .login(TENANT, EMAIL, NEW_PASSWORD)
        .await
        .map_err(|e| format!("login: {e}"))?;
    answer
        .body
        .access_token
        .ok_or_else(|| "login gave no access token (MFA?)".to_owned())
}

/// Sequential authenticated reads until `count` reads or `deadline`.
async fn reads(
    client: &Client,
    token: &str,
    count: usize,
    deadline: Instant,
) -> Res<Vec<Duration>> {
    let mut lat = Vec::with_capacity(count.min(MAX_REQUESTS));
    for _ in 0..count.min(MAX_REQUESTS) {
        if Instant::now() >= deadline {
            break;
        }
        lat.push(me(client, token).await?);
        tokio::time::sleep(READ_GAP).await;
    }
    lat.sort();
    Ok(lat)
}

/// Verifies per second with `threads` OS threads hashing at once, outside
/// the server: what the machine gives right now to that many parallel hashes.
fn parallel_hash_rate(threads: usize, iters: usize) -> Res<f64> {
    let pepper = Key32::generate().map_err(|e| e.to_string())?;
    let pw = SecretString::from(NEW_PASSWORD.to_owned());
    let stored = hash_password(&pepper, &pw).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let done = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut memory = HashMemory::new();
                    (0..iters)
                        .filter(|_| {
                            verify_password_in(&mut memory, &pepper, &pw, &stored).unwrap_or(false)
                        })
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<usize>()
    });
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

struct Flood {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

/// `workers` concurrent login loops for `secs` seconds.
async fn flood(client: &Client, workers: usize, secs: u64) -> Flood {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut first_error) = (0usize, 0usize, None);
            for _ in 0..MAX_REQUESTS {
                if Instant::now() >= deadline {
                    break;
                }
                match login(&c).await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            (ok, failed, first_error)
        }));
    }
    let mut f = Flood {
        ok: 0,
        failed: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        match t.await {
            Ok((ok, failed, e)) => {
                f.ok += ok;
                f.failed += failed;
                if f.first_error.is_none() {
                    f.first_error = e;
                }
            }
            Err(e) => {
                f.failed += 1;
                f.first_error.get_or_insert(e.to_string());
            }
        }
    }
    f.elapsed = start.elapsed();
    f
}

struct Round {
    hash_ms: f64,
    hash_cpu_ms: f64,
    cpu: CpuUse,
    /// Server CPU per login besides Argon2 (ms), the probe's reads taken out.
    login_rest_ms: f64,
    /// Server hashing-thread CPU per login (ms).
    login_hash_ms: f64,
    read_cpu_ms: f64,
    load: String,
    logins_per_s: f64,
    ideal_per_s: f64,
    parallel_per_s: f64,
    idle_p50: f64,
    idle_p99: f64,
    flood_p50: f64,
    flood_p99: f64,
    flood_reads: usize,
    failed: usize,
}

impl Round {
    /// Cores the ideal assumes (ideal = cores / hash time).
    fn cores(&self) -> f64 {
        self.ideal_per_s * self.hash_ms / 1e3
    }
}

async fn run(a: Args) -> Res<()> {
    let ca = std::fs::read(&a.ca).map_err(|e| format!("reading the CA: {e}"))?;
    let initial = std::fs::read_to_string(&a.password_file)
        .map_err(|e| format!("reading the initial password: {e}"))?;
    let client = Client::new(&a.url, &ca).map_err(|e| e.to_string())?;
    // A separate connection pool for the latency probe.
    let reader = Client::new(&a.url, &ca).map_err(|e| e.to_string())?;

    // First use of the bootstrap admin: change the one-time password. On a
    // second run against the same server it is already changed.
    if let Err(e) = client
        .change_password(TENANT, EMAIL, initial.trim(), NEW_PASSWORD)
        .await
    {
        eprintln!("note: password change refused ({e}); assuming it was changed already");
    }
    let token = login(&client).await?;
    me(&reader, &token).await?;

    println!(
        "authload: {} rounds, {} s flood with {} concurrent logins, {} idle reads, {} hash runs/round, cores = {}",
        a.rounds, a.flood_secs, a.workers, a.idle_reads, a.hash_iters, a.cores
    );
    let mut rounds = Vec::with_capacity(a.rounds);
    for r in 1..=a.rounds {
        // 1. Single-hash time, server idle.
        let (hash, hash_cpu_ms) = hash_time(a.hash_iters)?;
        let hash_ms = ms(hash);
        let ideal_per_s = a.cores as f64 / hash.as_secs_f64();
        let parallel_per_s = parallel_hash_rate(a.cores, a.hash_iters)?;

        // 2. Idle reads (warm-up first, not recorded).
        let far = Instant::now() + Duration::from_secs(120);
        reads(&reader, &token, 20, far).await?;
        let before_idle = CpuSnap::take(a.server_pid);
        let idle = reads(&reader, &token, a.idle_reads, far).await?;
        let idle_cpu = CpuUse::between(&before_idle, &CpuSnap::take(a.server_pid));
        // Server CPU per authenticated read, to take the probe's share out
        // of the flood's accounting.
        let read_cpu_ms = if idle.is_empty() {
            0.0
        } else {
            (idle_cpu.hashing + idle_cpu.server_rest) * idle_cpu.wall_s * 1e3 / idle.len() as f64
        };

        // 3. Login flood with the read probe running next to it; the probe
        //    starts 0.5 s in and stops 0.5 s before the flood's deadline, so
        //    it only sees the loaded server.
        let flood_fut = flood(&client, a.workers, a.flood_secs);
        let probe = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let until = Instant::now()
                + Duration::from_millis(a.flood_secs * 1000).saturating_sub(Duration::from_secs(1));
            reads(&reader, &token, MAX_REQUESTS, until).await
        };
        let before_flood = CpuSnap::take(a.server_pid);
        let (f, loaded) = tokio::join!(flood_fut, probe);
        let cpu = CpuUse::between(&before_flood, &CpuSnap::take(a.server_pid));
        let loaded = loaded?;
        if let Some(e) = &f.first_error {
            eprintln!("round {r}: {} failed logins, first: {e}", f.failed);
        }
        let logins = f.ok.max(1) as f64;
        let flood_s = cpu.wall_s;
        let round = Round {
            hash_ms,
            hash_cpu_ms,
            cpu,
            login_hash_ms: cpu.hashing * flood_s * 1e3 / logins,
            login_rest_ms: ((cpu.server_rest * flood_s * 1e3) - read_cpu_ms * loaded.len() as f64)
                .max(0.0)
                / logins,
            read_cpu_ms,
            load: loadavg(),
            logins_per_s: f.ok as f64 / f.elapsed.as_secs_f64(),
            ideal_per_s,
            parallel_per_s,
            idle_p50: ms(quantile(&idle, 0.5)),
            idle_p99: ms(quantile(&idle, 0.99)),
            flood_p50: ms(quantile(&loaded, 0.5)),
            flood_p99: ms(quantile(&loaded, 0.99)),
            flood_reads: loaded.len(),
            failed: f.failed,
        };
        println!(
            "round {r}: hash {:.1} ms | logins {:.1}/s ({} ok, {} failed) vs ideal {:.1}/s = {:.2} (parallel-hash ceiling {:.1}/s) | \
             /v1/me idle p50 {:.2} p99 {:.2} ms ({} reads) | flood p50 {:.2} p99 {:.2} ms ({} reads) = {:.2}x",
            round.hash_ms,
            round.logins_per_s,
            f.ok,
            f.failed,
            round.ideal_per_s,
            round.logins_per_s / round.ideal_per_s,
            round.parallel_per_s,
            round.idle_p50,
            round.idle_p99,
            idle.len(),
            round.flood_p50,
            round.flood_p99,
            round.flood_reads,
            round.flood_p99 / round.idle_p99
        );
        if a.server_pid.is_some() {
            let c = &round.cpu;
            println!(
                "round {r} CPU during the flood ({:.1} s), in cores of {}: server hashing threads {:.2}, rest of server {:.2}, \
                 load generator {:.2}, other processes {:.2}, idle {:.2} | per login: Argon2 {:.1} ms CPU (one verify alone: \
                 {:.1} ms CPU, {:.1} ms wall), rest of server {:.1} ms CPU | per read {:.2} ms CPU | load average {}",
                c.wall_s,
                a.cores,
                c.hashing,
                c.server_rest,
                c.generator,
                c.others,
                c.idle,
                round.login_hash_ms,
                round.hash_cpu_ms,
                round.hash_ms,
                round.login_rest_ms,
                round.read_cpu_ms,
                round.load
            );
        } else {
            println!("round {r}: load average {}", round.load);
        }
        rounds.push(round);
    }

    let col = |f: fn(&Round) -> f64| -> Vec<f64> { rounds.iter().map(f).collect() };
    let all = |f: fn(&Round) -> f64| -> String {
        col(f)
            .iter()
            .map(|v| format!("{v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hash = median_f(&col(|r| r.hash_ms));
    let lps = median_f(&col(|r| r.logins_per_s));
    let ideal = median_f(&col(|r| r.ideal_per_s));
    let tput_ratio = median_f(&col(|r| r.logins_per_s / r.ideal_per_s));
    let ip50 = median_f(&col(|r| r.idle_p50));
    let ip99 = median_f(&col(|r| r.idle_p99));
    let fp50 = median_f(&col(|r| r.flood_p50));
    let fp99 = median_f(&col(|r| r.flood_p99));
    let lat_ratio = median_f(&col(|r| r.flood_p99 / r.idle_p99));
    let failed: usize = rounds.iter().map(|r| r.failed).sum();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };

    println!();
    println!(
        "| figure | median of {} rounds | per round | target |",
        rounds.len()
    );
    println!("|---|---|---|---|");
    println!(
        "| single Argon2id verify (ms) | {hash:.1} | {} | |",
        all(|r| r.hash_ms)
    );
    println!(
        "| ideal logins/s = {} cores / hash time | {ideal:.1} | {} | |",
        a.cores,
        all(|r| r.ideal_per_s)
    );
    println!(
        "| login throughput (logins/s, {} concurrent) | {lps:.1} | {} | |",
        a.workers,
        all(|r| r.logins_per_s)
    );
    println!(
        "| throughput / ideal | {tput_ratio:.2} | {} | >= 0.9: {} |",
        all(|r| r.logins_per_s / r.ideal_per_s),
        verdict(tput_ratio >= 0.9)
    );
    println!(
        "| GET /v1/me p50, no load (ms) | {ip50:.2} | {} | |",
        all(|r| r.idle_p50)
    );
    println!(
        "| GET /v1/me p99, no load (ms) | {ip99:.2} | {} | |",
        all(|r| r.idle_p99)
    );
    println!(
        "| GET /v1/me p50, login flood (ms) | {fp50:.2} | {} | |",
        all(|r| r.flood_p50)
    );
    println!(
        "| GET /v1/me p99, login flood (ms) | {fp99:.2} | {} | |",
        all(|r| r.flood_p99)
    );
    println!(
        "| flood p99 / no-load p99 | {lat_ratio:.2} | {} | <= 3: {} |",
        all(|r| r.flood_p99 / r.idle_p99),
        verdict(lat_ratio <= 3.0)
    );
    println!("| failed logins (all rounds) | {failed} | | 0 |");
    println!(
        "| load average after each round | | {} | |",
        rounds
            .iter()
            .map(|r| r.load.split_whitespace().next().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if a.server_pid.is_none() {
        return Ok(());
    }
    println!(
        "| single verify, CPU time (ms) | {:.1} | {} | |",
        median_f(&col(|r| r.hash_cpu_ms)),
        all(|r| r.hash_cpu_ms)
    );
    println!(
        "| throughput / ({} cores / single-verify CPU time) | {:.2} | {} | |",
        a.cores,
        median_f(&col(|r| r.logins_per_s * r.hash_cpu_ms / 1e3 / r.cores())),
        all(|r| r.logins_per_s * r.hash_cpu_ms / 1e3 / r.cores())
    );
    println!(
        "| throughput / parallel-hash ceiling of the round | {:.2} | {} | |",
        median_f(&col(|r| r.logins_per_s / r.parallel_per_s)),
        all(|r| r.logins_per_s / r.parallel_per_s)
    );
    println!(
        "| flood: cores on server hashing threads | {:.2} | {} | |",
        median_f(&col(|r| r.cpu.hashing)),
        all(|r| r.cpu.hashing)
    );
    println!(
        "| flood: cores on the rest of the server | {:.2} | {} | |",
        median_f(&col(|r| r.cpu.server_rest)),
        all(|r| r.cpu.server_rest)
    );
    println!(
        "| flood: cores on the load generator | {:.2} | {} | |",
        median_f(&col(|r| r.cpu.generator)),
        all(|r| r.cpu.generator)
    );
    println!(
        "| flood: cores on other processes | {:.2} | {} | |",
        median_f(&col(|r| r.cpu.others)),
        all(|r| r.cpu.others)
    );
    println!(
        "| flood: idle cores | {:.2} | {} | |",
        median_f(&col(|r| r.cpu.idle)),
        all(|r| r.cpu.idle)
    );
    println!(
        "| per login: Argon2 CPU on the server (ms) | {:.1} | {} | |",
        median_f(&col(|r| r.login_hash_ms)),
        all(|r| r.login_hash_ms)
    );
    println!(
        "| per login: rest of the server's CPU (ms) | {:.1} | {} | |",
        median_f(&col(|r| r.login_rest_ms)),
        all(|r| r.login_rest_ms)
    );
    println!(
        "| per login: load generator CPU, its read probe included (ms) | {:.1} | {} | |",
        median_f(&col(
            |r| r.cpu.generator * r.cpu.wall_s * 1e3 / (r.logins_per_s * r.cpu.wall_s).max(1.0)
        )),
        all(|r| r.cpu.generator * r.cpu.wall_s * 1e3 / (r.logins_per_s * r.cpu.wall_s).max(1.0))
    );
    println!(
        "| per authenticated read: server CPU, no load (ms) | {:.2} | {} | |",
        median_f(&col(|r| r.read_cpu_ms)),
        all(|r| r.read_cpu_ms)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("authload: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // One client thread: the load generator must not take a core away from
    // the server more than it has to.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("authload: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authload: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
