//! Tenant bus benchmark (issue 7), run by `bench/bus.sh`.
//!
//! 1. Throughput agent→server, TLS against plain, side by side: two private
//!    nats-servers from the same generated operator configuration, one as
//!    generated (TLS required) and one with the TLS block removed (for the
//!    benchmark only), the same tenant account pushed to both. A cluster
//!    user publishes JobResult-sized messages with the three UID headers on
//!    its `up` subject; the tenant's server user subscribes and counts.
//!    Interleaved rounds, medians, ratio, messages lost, slow consumers.
//! 2. 1,000 tenant accounts pushed live to a third server (full resolver):
//!    push time per account, nats-server RSS before and after, and TLS
//!    connect times of cluster users spread over the accounts.
//!
//! Usage: `bus_bench [MESSAGES_PER_ROUND] [ROUNDS_PER_SIDE] [ACCOUNTS] [CONNECTS]`
//! (defaults 100000 8 1000 1000: one cluster connected per account, so every
//! account is loaded in the server when its RSS is read the last time).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::Client;
use futures_util::StreamExt;
use palisade_bus::client::{SharedCredentials, connect_options};
use palisade_bus::protocol::{self, JobResult, JobStatus, MessageContext};
use palisade_bus::subjects::{self, SERVER_INBOX_PREFIX, UpKind};
use palisade_bus::testing::{Events, TestNats, nats_server_binary, now, round_trip};
use palisade_bus::{Revocations, TenantKeys, TenantLimits, push_account_jwt};
use palisade_core::Uid;

type Res<T> = Result<T, Box<dyn Error>>;

const T: Duration = Duration::from_secs(10);

/// A nats-server without TLS, from the TLS server's configuration with the
/// port and resolver directory changed and the TLS block removed.
struct PlainNats {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for PlainNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Res<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn plain_config(tls_config: &str, port: u16, resolver_dir: &Path) -> Res<String> {
    let dir = resolver_dir.to_str().ok_or("resolver dir is not UTF-8")?;
    let mut out = String::new();
    let mut in_tls = false;
    let mut in_resolver = false;
    for line in tls_config.lines() {
        if in_tls {
            if line == "}" {
                in_tls = false;
            }
            continue;
        }
        if line == "tls {" {
            in_tls = true;
            continue;
        }
        if line.starts_with("allow_non_tls") || line.starts_with("# Clients must use TLS") {
            continue;
        }
        if line.starts_with("port: ") {
            out.push_str(&format!("port: {port}\n"));
            continue;
        }
        if line == "resolver {" {
            in_resolver = true;
        } else if line == "}" {
            in_resolver = false;
        }
        if in_resolver && line.trim_start().starts_with("dir: ") {
            out.push_str(&format!("  dir: {}\n", serde_json::to_string(dir)?));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

async fn start_plain(tls: &TestNats) -> Res<PlainNats> {
    let bin = nats_server_binary().ok_or("no nats-server binary")?;
    let text = std::fs::read_to_string(&tls.config_file)?;
    let dir = tls.dir().join("plain");
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, plain_config(&text, port, &dir.join("jwt"))?)?;
    let log = dir.join("nats.log");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let plain = PlainNats { child, port, log };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(plain);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!(
        "plain nats-server did not start:\n{}",
        std::fs::read_to_string(&plain.log).unwrap_or_default()
    )
    .into())
}

/// One server (TLS or plain) with the benchmark tenant's publisher and
/// subscriber connected.
struct Side {
    name: &'static str,
    publisher: Client,
    subscriber: Client,
    sub_events: Events,
    pub_events: Events,
    cluster: Uid,
}

async fn connect(
    nats: &TestNats,
    url: &str,
    tls: bool,
    creds: palisade_bus::Credentials,
    inbox: &str,
    capacity: usize,
) -> Res<(Client, Events)> {
    let events = Events::default();
    let opts = events.attach(
        connect_options(SharedCredentials::new(creds), &nats.ca_file, inbox)
            .require_tls(tls)
            .subscription_capacity(capacity)
            .max_reconnects(Some(1)),
    );
    Ok((opts.connect(url).await?, events))
}

async fn pusher_for(nats: &TestNats, url: &str, tls: bool) -> Res<Client> {
    let creds = nats.operator.system_user_credentials(now(), 600)?;
    let (c, _) = connect(
        nats,
        url,
        tls,
        creds,
        palisade_bus::operator::PUSHER_INBOX_PREFIX,
        1024,
    )
    .await?;
    Ok(c)
}

async fn side(
    name: &'static str,
    nats: &TestNats,
    url: &str,
    tls: bool,
    tenant: &TenantKeys,
    capacity: usize,
) -> Res<Side> {
    let pusher = pusher_for(nats, url, tls).await?;
    let token = nats.operator.tenant_account_jwt(
        tenant,
        &TenantLimits::default(),
        &Revocations::new(),
        now(),
    )?;
    push_account_jwt(&pusher, &token, T).await?;
    let cluster = Uid::from_u64(0xbe_c1);
    let creds = tenant.issue_cluster_credentials(cluster, now(), 3600)?;
    let (publisher, pub_events) = connect(
        nats,
        url,
        tls,
        creds,
        &subjects::cluster_inbox_prefix(cluster),
        1024,
    )
    .await?;
    let creds = tenant.server_user_credentials(now(), 3600)?;
    let (subscriber, sub_events) =
        connect(nats, url, tls, creds, SERVER_INBOX_PREFIX, capacity).await?;
    Ok(Side {
        name,
        publisher,
        subscriber,
        sub_events,
        pub_events,
        cluster,
    })
}

/// A realistic job result: a small scan report in JSON, about 1 KiB.
fn payload() -> Res<Vec<u8>> {
    let checks: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "id": format!("ssh-{i:02}"),
                "status": "pass",
                "title": "sshd option is set as the benchmark requires",
            })
        })
        .collect();
    let msg = JobResult {
        message_uid: Uid::from_u64(1),
        job_uid: Uid::from_u64(2),
        status: JobStatus::Succeeded,
        report: Some(serde_json::json!({ "profile": "level1", "checks": checks })),
        error: None,
    };
    Ok(protocol::encode(&msg)?)
}

struct Round {
    rate: f64,
    sent: usize,
    received: usize,
}

async fn round(s: &Side, n: usize, body: &[u8], tenant: Uid) -> Res<Round> {
    let mut sub = s
        .subscriber
        .subscribe(subjects::up(s.cluster, UpKind::Result))
        .await?;
    // The subscription is in place on the server before the first publish.
    round_trip(
        &s.subscriber,
        format!("{}.000000000000.down.sync", subjects::PREFIX),
    )
    .await;
    let counter = tokio::spawn(async move {
        let mut got = 0usize;
        let mut last = Instant::now();
        while got < n {
            match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
                Ok(Some(_)) => {
                    got += 1;
                    last = Instant::now();
                }
                _ => break,
            }
        }
        drop(sub);
        (got, last)
    });
    let subject = subjects::up(s.cluster, UpKind::Result);
    let headers = MessageContext {
        request: Uid::from_u64(3),
        tenant,
        cluster: s.cluster,
    }
    .headers();
    let start = Instant::now();
    for _ in 0..n {
        s.publisher
            .publish_with_headers(subject.clone(), headers.clone(), body.to_vec().into())
            .await?;
    }
    s.publisher.flush().await?;
    // Everything published has been processed by the server.
    round_trip(
        &s.publisher,
        format!("{}.{}.up.sync", subjects::PREFIX, s.cluster),
    )
    .await;
    let (received, last) = counter.await?;
    let secs = last.duration_since(start).as_secs_f64();
    Ok(Round {
        rate: if secs > 0.0 {
            received as f64 / secs
        } else {
            0.0
        },
        sent: n,
        received,
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let l = v.len();
    let hi = v.get(l / 2).copied().unwrap_or(0.0);
    if l % 2 == 1 {
        hi
    } else {
        let lo = v.get((l / 2).wrapping_sub(1)).copied().unwrap_or(hi);
        (lo + hi) / 2.0
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted
        .get(i.max(1) - 1)
        .or(sorted.last())
        .copied()
        .unwrap_or(0.0)
}

fn count_in(text: &str, needle: &str) -> usize {
    text.lines()
        .filter(|l| l.to_ascii_lowercase().contains(needle))
        .count()
}

/// The /proc directory of the nats-server whose command line names `config`.
fn nats_proc(config: &Path) -> Res<PathBuf> {
    let want = config.to_str().ok_or("config path is not UTF-8")?;
    for e in std::fs::read_dir("/proc")? {
        let p = e?.path();
        let Ok(cmd) = std::fs::read(p.join("cmdline")) else {
            continue;
        };
        if cmd.split(|b| *b == 0).any(|a| a == want.as_bytes()) {
            return Ok(p);
        }
    }
    Err("nats-server process not found".into())
}

/// VmRSS of the nats-server whose command line names `config`, KiB.
fn rss_kib(config: &Path) -> Res<u64> {
    let status = std::fs::read_to_string(nats_proc(config)?.join("status"))?;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            let kib = v.trim().trim_end_matches("kB").trim().parse::<u64>()?;
            return Ok(kib);
        }
    }
    Err("no VmRSS".into())
}

/// User plus system CPU time of the process at `proc_dir`, in clock ticks
/// (fields 14 and 15 of `stat`, after the parenthesised command name).
fn cpu_ticks(proc_dir: &Path) -> Res<u64> {
    let stat = std::fs::read_to_string(proc_dir.join("stat"))?;
    let rest = stat.rsplit_once(')').ok_or("malformed stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (u, s) = (f.get(11).ok_or("no utime")?, f.get(12).ok_or("no stime")?);
    Ok(u.parse::<u64>()? + s.parse::<u64>()?)
}

/// Read and write system calls the process at `proc_dir` has made so far
/// (`syscr`, `syscw` of `io`). These count `read`/`write`/`readv`/`writev`,
/// not `recv`/`send`: they cover nats-server's socket I/O (Go uses read and
/// write) and our client's `writev` (async-nats writes vectored), not our
/// client's socket reads (Rust's standard library uses `recv`).
fn syscalls(proc_dir: &Path) -> Res<(u64, u64)> {
    let io = std::fs::read_to_string(proc_dir.join("io"))?;
    let field = |name: &str| -> Res<u64> {
        let line = io
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or("no such field in io")?;
        Ok(line.trim().parse::<u64>()?)
    };
    Ok((field("syscr:")?, field("syscw:")?))
}

/// Messages per system call, or 0 when there was none.
fn per_call(msgs: usize, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        msgs as f64 / calls as f64
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// CPU microseconds per message of `ticks` spent on `msgs` messages.
fn us_per_msg(ticks: u64, msgs: usize) -> f64 {
    ticks as f64 / TICKS_PER_S * 1e6 / msgs.max(1) as f64
}

async fn throughput(n: usize, rounds: usize) -> Res<()> {
    let Some(tls_nats) = TestNats::start().await else {
        return Err("no nats-server".into());
    };
    let plain_nats = start_plain(&tls_nats).await?;
    let plain_url = format!("nats://127.0.0.1:{}", plain_nats.port);
    let tenant_uid = Uid::from_u64(0xbe);
    let tenant = TenantKeys::derive(&tls_nats.master, tenant_uid, 1)?;
    let capacity = n + 1024;
    let tls = side("tls", &tls_nats, &tls_nats.url, true, &tenant, capacity).await?;
    let plain = side("plain", &tls_nats, &plain_url, false, &tenant, capacity).await?;
    let body = payload()?;
    let me = PathBuf::from("/proc/self");
    let tls_proc = nats_proc(&tls_nats.config_file)?;
    let plain_proc = PathBuf::from(format!("/proc/{}", plain_nats.child.id()));
    println!(
        "throughput: {n} messages per round, payload {} B (JobResult JSON) + 3 UID headers, \
         {rounds} rounds per side interleaved",
        body.len()
    );
    // Warm-up, not counted.
    round(&tls, n / 10, &body, tenant_uid).await?;
    round(&plain, n / 10, &body, tenant_uid).await?;
    let order: Vec<&Side> = (0..rounds)
        .flat_map(|i| {
            if i % 2 == 0 {
                [&tls, &plain]
            } else {
                [&plain, &tls]
            }
        })
        .collect();
    let (mut tls_rates, mut plain_rates) = (Vec::new(), Vec::new());
    let (mut tls_sent, mut tls_lost, mut plain_sent, mut plain_lost) =
        (0usize, 0usize, 0usize, 0usize);
    // CPU per message, client process (publisher and subscriber) and the
    // side's nats-server, summed over each side's rounds.
    let (mut tls_cpu, mut plain_cpu) = ((0u64, 0u64), (0u64, 0u64));
    println!(
        "| round | side | msgs/s | MiB/s | sent | received | client CPU µs/msg | nats-server CPU µs/msg | msgs per client writev | msgs per nats-server read / write call |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, s) in order.iter().enumerate() {
        let (server, rates, sent, lost, cpu) = if s.name == "tls" {
            (
                &tls_proc,
                &mut tls_rates,
                &mut tls_sent,
                &mut tls_lost,
                &mut tls_cpu,
            )
        } else {
            (
                &plain_proc,
                &mut plain_rates,
                &mut plain_sent,
                &mut plain_lost,
                &mut plain_cpu,
            )
        };
        let (c0, s0) = (cpu_ticks(&me)?, cpu_ticks(server)?);
        let (io_c0, io_s0) = (syscalls(&me)?, syscalls(server)?);
        let r = round(s, n, &body, tenant_uid).await?;
        let (dc, ds) = (cpu_ticks(&me)? - c0, cpu_ticks(server)? - s0);
        let (io_c1, io_s1) = (syscalls(&me)?, syscalls(server)?);
        cpu.0 += dc;
        cpu.1 += ds;
        *sent += r.sent;
        *lost += r.sent - r.received;
        rates.push(r.rate);
        println!(
            "| {} | {} | {:.0} | {:.1} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} |",
            i + 1,
            s.name,
            r.rate,
            r.rate * body.len() as f64 / (1024.0 * 1024.0),
            r.sent,
            r.received,
            us_per_msg(dc, r.sent),
            us_per_msg(ds, r.sent),
            per_call(r.sent, io_c1.1 - io_c0.1),
            per_call(r.sent, io_s1.0 - io_s0.0),
            per_call(r.sent, io_s1.1 - io_s0.1),
        );
    }
    let (mt, mp) = (median(&mut tls_rates), median(&mut plain_rates));
    println!(
        "median tls:   {mt:.0} msgs/s; sent {}, lost {}",
        tls_sent, tls_lost
    );
    println!(
        "median plain: {mp:.0} msgs/s; sent {}, lost {}",
        plain_sent, plain_lost
    );
    println!(
        "ratio tls/plain: {:.2}",
        if mp > 0.0 { mt / mp } else { 0.0 }
    );
    println!(
        "CPU per message (all rounds of a side): tls client {:.1} µs + nats-server {:.1} µs; \
         plain client {:.1} µs + nats-server {:.1} µs",
        us_per_msg(tls_cpu.0, tls_sent),
        us_per_msg(tls_cpu.1, tls_sent),
        us_per_msg(plain_cpu.0, plain_sent),
        us_per_msg(plain_cpu.1, plain_sent)
    );
    let plain_log = std::fs::read_to_string(&plain_nats.log).unwrap_or_default();
    println!(
        "slow consumers: client events tls {} plain {}; server log tls {} plain {}",
        tls.sub_events.count("slow consumer") + tls.pub_events.count("slow consumer"),
        plain.sub_events.count("slow consumer") + plain.pub_events.count("slow consumer"),
        count_in(&tls_nats.log(), "slow consumer"),
        count_in(&plain_log, "slow consumer"),
    );
    Ok(())
}

async fn accounts(count: u64, connects: u64) -> Res<()> {
    let Some(nats) = TestNats::start().await else {
        return Err("no nats-server".into());
    };
    let pusher = nats.pusher().await;
    let rss_before = rss_kib(&nats.config_file)?;
    let tenants: Vec<TenantKeys> = (0..count)
        .map(|i| TenantKeys::derive(&nats.master, Uid::from_u64(0x1_0000 + i), 1))
        .collect::<Result<_, _>>()?;
    let mut push_ms = Vec::with_capacity(tenants.len());
    let start = Instant::now();
    for t in &tenants {
        let token = nats.operator.tenant_account_jwt(
            t,
            &TenantLimits::default(),
            &Revocations::new(),
            now(),
        )?;
        let one = Instant::now();
        push_account_jwt(&pusher, &token, T).await?;
        push_ms.push(one.elapsed().as_secs_f64() * 1e3);
    }
    let total = start.elapsed().as_secs_f64();
    let rss_pushed = rss_kib(&nats.config_file)?;
    push_ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "accounts: pushed {count} tenant accounts (mint + push + check) in {total:.2} s: \
         {:.2} ms per account; push p50 {:.2} ms, p99 {:.2} ms",
        total * 1e3 / count as f64,
        percentile(&push_ms, 50.0),
        percentile(&push_ms, 99.0)
    );
    let step = (count / connects.max(1)).max(1);
    let mut connect_ms = Vec::new();
    let mut clients = Vec::new();
    for i in 0..connects {
        let idx = usize::try_from((i * step) % count)?;
        let t = tenants.get(idx).ok_or("tenant index")?;
        let cluster = Uid::from_u64(0x2_0000 + i);
        let creds = t.issue_cluster_credentials(cluster, now(), 600)?;
        let (opts, _) = nats.options(creds, &subjects::cluster_inbox_prefix(cluster));
        let one = Instant::now();
        let client = opts.connect(&nats.url).await?;
        // Connected means the server answered the CONNECT (auth done).
        round_trip(&client, format!("{}.{cluster}.up.sync", subjects::PREFIX)).await;
        connect_ms.push(one.elapsed().as_secs_f64() * 1e3);
        clients.push(client);
    }
    let rss_connected = rss_kib(&nats.config_file)?;
    connect_ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "connects: {connects} cluster users over {} accounts, TLS handshake + JWT auth + one \
         round trip: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        connects.min(count),
        percentile(&connect_ms, 50.0),
        percentile(&connect_ms, 99.0),
        connect_ms.last().copied().unwrap_or(0.0)
    );
    println!(
        "nats-server RSS: {rss_before} KiB with the system account only, {rss_pushed} KiB \
         after {count} pushes ({:+.1} KiB per account), {rss_connected} KiB with {connects} \
         clients connected",
        (rss_pushed as f64 - rss_before as f64) / count as f64
    );
    drop(clients);
    Ok(())
}

fn arg(i: usize, default: u64) -> Res<u64> {
    match std::env::args().nth(i) {
        Some(a) => Ok(a.parse()?),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Res<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let n = usize::try_from(arg(1, 100_000)?)?;
    let rounds = usize::try_from(arg(2, 8)?)?;
    let count = arg(3, 1_000)?;
    let connects = arg(4, 1_000)?;
    throughput(n, rounds).await?;
    accounts(count, connects).await?;
    Ok(())
}
