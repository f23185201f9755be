//! Compares OWASP's equivalent Argon2id settings on this machine, in one run:
//! for each (m, t) with p = 1, the single-verify time on one thread and the
//! throughput of `--threads` verifies running at once.
//!
//! The question it answers: does a smaller memory cost scale better across
//! cores (less pressure on shared caches and memory bandwidth) at the same
//! single-hash cost? Besides wall time it reads each thread's own CPU time
//! (`/proc/thread-self/schedstat`, nanoseconds on the CPU), so that time
//! lost to other processes of a shared machine does not count as cost: a
//! setting that scales badly shows as more CPU per verify when the threads
//! run together than alone. The threads that run at once are long-lived
//! (started once, like the server's hashing pool), so their allocator state
//! is a server thread's, not a fresh thread's. (That clock advances in scheduler ticks, so CPU
//! time is read around whole batches, never around a single verify.) Verification goes through the server's code path
//! (`palisade_crypto::password::verify_password`, with a pepper); the stored
//! hashes for the other settings are made with the same Argon2id instance
//! configuration. The sets are visited round-robin, starting one later each
//! round, so slow phases of a noisy machine spread over all of them. Every
//! loop is bounded. Usage:
//!
//! ```text
//! argon2params [--rounds 5] [--iters 12] [--threads 2]
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use palisade_crypto::Key32;
use palisade_crypto::password::{HashMemory, verify_password, verify_password_in};
use secrecy::SecretString;

/// OWASP Password Storage Cheat Sheet, Argon2id: equivalent settings, p = 1.
const SETS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];
const PASSWORD: &str = "bench-Password-7f3a9c1e-correct-horse";

type Res<T> = Result<T, String>;

struct Args {
    rounds: usize,
    iters: usize,
    threads: usize,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        rounds: 5,
        iters: 12,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--rounds" => a.rounds = num()?.clamp(1, 50),
            "--iters" => a.iters = num()?.clamp(2, 500),
            "--threads" => a.threads = num()?.clamp(1, 64),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn stored_hash(pepper: &Key32, m: u32, t: u32) -> Res<String> {
    let params = Params::new(m, t, 1, None).map_err(|e| e.to_string())?;
    let argon =
        Argon2::new_with_secret(pepper.expose(), Algorithm::Argon2id, Version::V0x13, params)
            .map_err(|e| e.to_string())?;
    argon
        .hash_password(PASSWORD.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_once(pepper: &Key32, pw: &SecretString, stored: &str) -> Res<()> {
    match verify_password(pepper, pw, stored) {
        Ok(true) => Ok(()),
        Ok(false) => Err("verify of the right password failed".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v.get(n / 2).copied().unwrap_or_default(),
        n => {
            (v.get(n / 2 - 1).copied().unwrap_or_default()
                + v.get(n / 2).copied().unwrap_or_default())
                / 2.0
        }
    }
}

/// This thread's time on the CPU so far (Linux schedstat), in ms.
fn thread_cpu_ms() -> Res<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| format!("/proc/thread-self/schedstat: {e}"))?;
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or("unreadable schedstat")?;
    Ok(ns as f64 / 1e6)
}

/// Median wall time (ms) of one call of `f` over `iters` calls, and the
/// mean CPU time (ms) of one call. The CPU clock of `/proc` advances in
/// scheduler ticks (milliseconds), so it is read around the whole batch.
fn timed(iters: usize, mut f: impl FnMut() -> Res<()>) -> Res<(f64, f64)> {
    let mut walls = Vec::with_capacity(iters);
    let c = thread_cpu_ms()?;
    for _ in 0..iters {
        let t = Instant::now();
        f()?;
        walls.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu = (thread_cpu_ms()? - c) / iters as f64;
    Ok((median(&mut walls), cpu))
}

/// The server's verify with kept memory
/// (`palisade_crypto::password::verify_password_in`): a buffer allocated on
/// first use and reused across calls. The difference to a plain verify is
/// what allocating (and page-faulting) `m` KiB per check costs.
struct Reused {
    pepper: &'static Key32,
    stored: Arc<str>,
    memory: HashMemory,
}

impl Clone for Reused {
    /// A copy with a buffer of its own (each thread keeps its own).
    fn clone(&self) -> Self {
        Reused {
            pepper: self.pepper,
            stored: Arc::clone(&self.stored),
            memory: HashMemory::new(),
        }
    }
}

impl Reused {
    fn new(pepper: &'static Key32, stored: &str) -> Res<Self> {
        Ok(Reused {
            pepper,
            stored: stored.into(),
            memory: HashMemory::new(),
        })
    }

    fn run(&mut self) -> Res<()> {
        let pw = SecretString::from(PASSWORD.to_owned());
        match verify_password_in(&mut self.memory, self.pepper, &pw, &self.stored) {
            Ok(true) => Ok(()),
            Ok(false) => Err("kept-memory verify of the right password failed".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

struct Parallel {
    /// Verifies per second, wall clock.
    rate: f64,
    /// CPU ms per verify, over all threads.
    cpu_ms: f64,
    /// CPU time of the threads ÷ (threads × wall time).
    on_cpu: f64,
}

/// What a measuring thread is asked to do.
enum Work {
    /// `iters` verifies through the server's code path (fresh memory each).
    Verify { stored: Arc<str>, iters: usize },
    /// `iters` computations of set `set` into this thread's own buffer.
    Reused {
        set: usize,
        template: Arc<Reused>,
        iters: usize,
    },
}

/// Long-lived measuring threads, like the server's hashing pool: the
/// allocator state they build up is the one a server thread has.
struct Workers {
    senders: Vec<std::sync::mpsc::Sender<(Work, std::sync::mpsc::Sender<Res<f64>>)>>,
}

impl Workers {
    fn start(threads: usize, pepper: &'static Key32, pw: SecretString) -> Workers {
        let senders = (0..threads)
            .map(|_| {
                let (tx, rx) =
                    std::sync::mpsc::channel::<(Work, std::sync::mpsc::Sender<Res<f64>>)>();
                let pw = pw.clone();
                std::thread::spawn(move || {
                    let mut buffers: HashMap<usize, Reused> = HashMap::new();
                    for (work, reply) in rx {
                        let out = (|| -> Res<f64> {
                            match work {
                                Work::Verify { stored, iters } => {
                                    let c = thread_cpu_ms()?;
                                    (0..iters)
                                        .try_for_each(|_| verify_once(pepper, &pw, &stored))?;
                                    Ok(thread_cpu_ms()? - c)
                                }
                                Work::Reused {
                                    set,
                                    template,
                                    iters,
                                } => {
                                    let mine =
                                        buffers.entry(set).or_insert_with(|| (*template).clone());
                                    let c = thread_cpu_ms()?;
                                    (0..iters).try_for_each(|_| mine.run())?;
                                    Ok(thread_cpu_ms()? - c)
                                }
                            }
                        })();
                        let _ = reply.send(out);
                    }
                });
                tx
            })
            .collect();
        Workers { senders }
    }

    /// Gives every thread `work()` at once; returns (wall s, total CPU ms).
    fn run(&self, work: impl Fn() -> Work) -> Res<(f64, f64)> {
        let (reply, replies) = std::sync::mpsc::channel();
        let start = Instant::now();
        for s in &self.senders {
            s.send((work(), reply.clone()))
                .map_err(|_| "a measuring thread is gone".to_owned())?;
        }
        drop(reply);
        let mut cpu = 0.0;
        for _ in 0..self.senders.len() {
            cpu += replies
                .recv_timeout(std::time::Duration::from_secs(600))
                .map_err(|e| format!("a measuring thread did not answer: {e}"))??;
        }
        Ok((start.elapsed().as_secs_f64(), cpu))
    }

    /// `iters` verifies on every thread at once.
    fn verify(&self, stored: &str, iters: usize) -> Res<Parallel> {
        let stored: Arc<str> = stored.into();
        let (wall, cpu) = self.run(|| Work::Verify {
            stored: Arc::clone(&stored),
            iters,
        })?;
        let threads = self.senders.len() as f64;
        let n = threads * iters as f64;
        Ok(Parallel {
            rate: n / wall,
            cpu_ms: cpu / n,
            on_cpu: cpu / 1e3 / (threads * wall),
        })
    }

    /// CPU ms per computation with every thread at once on its own buffer.
    fn reused(&self, set: usize, template: &Arc<Reused>, iters: usize) -> Res<f64> {
        let (_, cpu) = self.run(|| Work::Reused {
            set,
            template: Arc::clone(template),
            iters,
        })?;
        Ok(cpu / (self.senders.len() * iters) as f64)
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

#[derive(Clone, Default)]
struct Samples {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    reused_cpu: Vec<f64>,
    rate: Vec<f64>,
    par_cpu: Vec<f64>,
    par_reused_cpu: Vec<f64>,
    on_cpu: Vec<f64>,
}

fn run(a: Args) -> Res<()> {
    // Leaked once so the reused-memory instances can borrow it for 'static.
    let pepper: &'static Key32 = Box::leak(Box::new(Key32::generate().map_err(|e| e.to_string())?));
    let pw = SecretString::from(PASSWORD.to_owned());
    let stored: Vec<String> = SETS
        .iter()
        .map(|&(m, t)| stored_hash(pepper, m, t))
        .collect::<Res<_>>()?;
    let mut reused: Vec<Reused> = stored
        .iter()
        .map(|s| Reused::new(pepper, s))
        .collect::<Res<_>>()?;
    let templates: Vec<Arc<Reused>> = reused.iter().cloned().map(Arc::new).collect();
    let workers = Workers::start(a.threads, pepper, pw.clone());
    // Warm-up: every set once, every way, on every thread.
    for (i, (s, r)) in stored.iter().zip(reused.iter_mut()).enumerate() {
        verify_once(pepper, &pw, s)?;
        r.run()?;
        workers.verify(s, 1)?;
        if let Some(t) = templates.get(i) {
            workers.reused(i, t, 1)?;
        }
    }
    println!(
        "argon2params: {} rounds, {} verifies per measurement, {} threads; load average before {}",
        a.rounds,
        a.iters,
        a.threads,
        loadavg()
    );
    let n = SETS.len();
    let mut samples = vec![Samples::default(); n];
    let started = Instant::now();
    for r in 0..a.rounds {
        for k in 0..n {
            let i = (r + k) % n;
            let (Some(&(m, t)), Some(s), Some(re), Some(template), Some(acc)) = (
                SETS.get(i),
                stored.get(i),
                reused.get_mut(i),
                templates.get(i),
                samples.get_mut(i),
            ) else {
                continue;
            };
            let (wall, cpu) = timed(a.iters, || verify_once(pepper, &pw, s))?;
            let (_, reused_cpu) = timed(a.iters, || re.run())?;
            let p = workers.verify(s, a.iters)?;
            let par_reused_cpu = workers.reused(i, template, a.iters)?;
            println!(
                "round {}: m={m} t={t}: single {wall:.2} ms wall, {cpu:.2} ms CPU (memory reused: {reused_cpu:.2} ms CPU) | \
                 {} threads {:.1}/s, {:.2} ms CPU per verify ({:.2}x single; memory reused {par_reused_cpu:.2} ms), on CPU {:.0}% | load {}",
                r + 1,
                a.threads,
                p.rate,
                p.cpu_ms,
                p.cpu_ms / cpu,
                p.on_cpu * 100.0,
                loadavg()
            );
            acc.wall.push(wall);
            acc.cpu.push(cpu);
            acc.reused_cpu.push(reused_cpu);
            acc.rate.push(p.rate);
            acc.par_cpu.push(p.cpu_ms);
            acc.par_reused_cpu.push(par_reused_cpu);
            acc.on_cpu.push(p.on_cpu);
        }
    }
    let took = started.elapsed();
    println!();
    println!(
        "| m (KiB) | t | single verify, wall (ms) | single verify, CPU (ms) | CPU with kept memory (ms) | {th} at once: verifies/s (wall) | {th} at once: CPU per verify (ms) | same, kept memory (ms) | CPU per verify, {th} at once ÷ alone | {th} at once: share of time on CPU | {th} cores ÷ CPU per verify at once (/s) |",
        th = a.threads
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (&(m, t), acc) in SETS.iter().zip(samples.iter_mut()) {
        let cpu = median(&mut acc.cpu);
        let par_cpu = median(&mut acc.par_cpu);
        println!(
            "| {m} | {t} | {:.2} | {cpu:.2} | {:.2} | {:.1} | {par_cpu:.2} | {:.2} | {:.2} | {:.0}% | {:.1} |",
            median(&mut acc.wall),
            median(&mut acc.reused_cpu),
            median(&mut acc.rate),
            median(&mut acc.par_reused_cpu),
            par_cpu / cpu,
            median(&mut acc.on_cpu) * 100.0,
            a.threads as f64 * 1e3 / par_cpu,
        );
    }
    println!(
        "(medians of {} rounds; {:.0} s; load average after {})",
        a.rounds,
        took.as_secs_f64(),
        loadavg()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("argon2params: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("argon2params: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
