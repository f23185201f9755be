//! The agent's options and run loop.
//!
//! One task owns the connection state: it heartbeats, receives jobs and
//! acks on the cluster's `down` subjects, republishes unacknowledged
//! results with bounded back-off, schedules credential renewal and stops
//! on the shutdown signal. Jobs run in their own tasks (scans on the
//! blocking pool, one at a time) and hand their result back after storing
//! it in the [`Spool`]. Logs carry UIDs and subjects, never the seed or a
//! JWT. This module must not mint credentials or decide what a job means
//! beyond [`jobs`].

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Event, HeaderMap, Message};
use futures_util::StreamExt;
use palisade_bus::client::{SharedCredentials, connect_options_with_roots};
use palisade_bus::protocol::{
    self, Ack, Heartbeat, Job, MessageContext, RenewAnswer, RenewRequest,
};
use palisade_bus::subjects::{self, Direction, DownKind, Kind, UpKind};
use palisade_bus::{ClusterIdentity, Credentials};
use palisade_core::{Clock, Uid};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::spool::{Spool, SpoolEntry};
use crate::{AgentError, files, jobs};

/// Shortest heartbeat interval accepted.
pub const MIN_HEARTBEAT: Duration = Duration::from_secs(1);
/// Longest heartbeat interval accepted.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);
/// First pause before a result is republished without an Ack.
pub const RESULT_RETRY_FIRST: Duration = Duration::from_secs(2);
/// Longest pause between republications of a result.
pub const RESULT_RETRY_MAX: Duration = Duration::from_secs(60);
/// How long a renewal request waits for its answer.
pub const RENEW_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for running jobs to store their results.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Job UIDs remembered for deduplication.
const SEEN_JOBS: usize = 4096;
/// Jobs running or queued at once; more are answered with a failed result.
pub const MAX_RUNNING_JOBS: usize = 64;
/// Buffered messages of the `down` subscription (jobs and acks are small).
const SUBSCRIPTION_CAPACITY: usize = 4096;

/// What `palisade agent` was asked to do, validated by [`AgentOptions::new`].
#[derive(Clone)]
pub struct AgentOptions {
    /// The credentials file (renewed in place).
    pub creds_file: PathBuf,
    /// `tls://HOST:PORT`.
    pub server: String,
    /// CA certificate (PEM) to verify the server; `None`: system roots.
    pub ca_file: Option<PathBuf>,
    /// Where unacknowledged results are kept.
    pub spool_dir: PathBuf,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Root directory that `hardenScan` jobs scan (`/`).
    pub scan_root: PathBuf,
    /// The wall clock (JWT times, heartbeats).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AgentOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentOptions")
            .field("creds_file", &self.creds_file)
            .field("server", &self.server)
            .field("ca_file", &self.ca_file)
            .field("spool_dir", &self.spool_dir)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl AgentOptions {
    /// Validates the options: the server URL must be `tls://` (the bus is
    /// TLS only), the heartbeat 1 s..=1 h. The spool defaults to
    /// `agent-spool/` next to the credentials file.
    pub fn new(
        creds_file: PathBuf,
        server: String,
        ca_file: Option<PathBuf>,
        spool_dir: Option<PathBuf>,
        heartbeat: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        check_server_url(&server)?;
        if !(MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(&heartbeat) {
            return Err(AgentError::Options(
                "the heartbeat interval must be 1..=3600 seconds".into(),
            ));
        }
        let spool_dir = match spool_dir {
            Some(d) => d,
            None => default_spool_dir(&creds_file),
        };
        Ok(AgentOptions {
            creds_file,
            server,
            ca_file,
            spool_dir,
            heartbeat,
            scan_root: PathBuf::from("/"),
            clock,
        })
    }
}

/// `agent-spool/` in the directory of the credentials file.
pub fn default_spool_dir(creds_file: &Path) -> PathBuf {
    match creds_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join("agent-spool"),
        _ => PathBuf::from("agent-spool"),
    }
}

/// Refuses every URL that is not `tls://HOST:PORT` (one server).
pub fn check_server_url(url: &str) -> Result<(), AgentError> {
    let Some(rest) = url.strip_prefix("tls://") else {
        let scheme = url.split_once("://").map_or("(none)", |(s, _)| s);
        return Err(AgentError::Options(format!(
            "refusing server URL scheme {scheme:?}: the bus is TLS only, use tls://HOST:PORT"
        )));
    };
    let valid = !rest.is_empty()
        && !rest.contains(['/', '@', ',', '?', '#'])
        && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
        && rest
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
    if !valid {
        return Err(AgentError::Options(
            "the server URL must be tls://HOST:PORT".into(),
        ));
    }
    Ok(())
}

fn now_secs(clock: &dyn Clock) -> i64 {
    clock.now_ms().div_euclid(1000)
}

/// The host name for heartbeats (kernel host name, bounded and printable).
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let h: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(253)
        .collect();
    if h.is_empty() { "unknown".into() } else { h }
}

/// Pause before republication `attempt` (1-based) of an unacknowledged
/// result: 2 s doubling, capped at [`RESULT_RETRY_MAX`].
pub fn result_retry_delay(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    RESULT_RETRY_FIRST
        .saturating_mul(1u32 << exp)
        .min(RESULT_RETRY_MAX)
}

/// When to renew credentials issued at `iat` expiring at `exp`: at two
/// thirds of their lifetime. `None` for credentials that never expire.
pub fn renew_at(iat: i64, exp: Option<i64>) -> Option<i64> {
    let exp = exp?;
    let life = exp.saturating_sub(iat).max(0);
    Some(iat.saturating_add(life.saturating_mul(2) / 3))
}

struct Pending {
    entry: SpoolEntry,
    payload: Vec<u8>,
    attempts: u32,
    next_at: Instant,
}

enum RenewOutcome {
    Renewed(Credentials),
    Refused(String),
    Failed(String),
}

/// Bounded memory of job UIDs already taken.
#[derive(Default)]
struct Seen {
    set: HashSet<Uid>,
    order: VecDeque<Uid>,
}

impl Seen {
    /// True when `uid` is new (and remembers it).
    fn insert(&mut self, uid: Uid) -> bool {
        if !self.set.insert(uid) {
            return false;
        }
        self.order.push_back(uid);
        if self.order.len() > SEEN_JOBS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

struct Agent {
    opts: AgentOptions,
    client: Client,
    id: ClusterIdentity,
    shared: SharedCredentials,
    spool: Arc<Spool>,
    pending: BTreeMap<Uid, Pending>,
    seen: Seen,
    expires_at: Option<i64>,
    refused: Option<String>,
    hostname: String,
}

/// Runs the agent until `shutdown` completes (then stops taking jobs,
/// lets running jobs store their results, flushes and returns `Ok`) or
/// until a fatal error: unreadable or expired credentials, an unusable
/// spool directory.
pub async fn run(opts: AgentOptions, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    check_server_url(&opts.server)?;
    let creds = files::read_credentials(&opts.creds_file)?;
    let id = ClusterIdentity::of(&creds).map_err(|source| AgentError::Creds {
        path: opts.creds_file.clone(),
        source,
    })?;
    let claims = creds.claims()?;
    let now = now_secs(opts.clock.as_ref());
    if let Some(exp) = claims.exp
        && exp <= now
    {
        return Err(AgentError::Expired {
            expired_at: exp,
            refused: None,
        });
    }
    let spool = Arc::new(Spool::open(&opts.spool_dir)?);
    let spooled = {
        let s = Arc::clone(&spool);
        tokio::task::spawn_blocking(move || s.load())
            .await
            .map_err(|e| AgentError::Nats(format!("spool task: {e}")))??
    };
    tracing::info!(
        tenant = %id.tenant, cluster = %id.cluster, server = %opts.server,
        spooled = spooled.len(), expires_at = ?claims.exp,
        "palisade agent starting"
    );

    let shared = SharedCredentials::new(creds);
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<Event>();
    let connect = connect_options_with_roots(
        shared.clone(),
        opts.ca_file.as_deref(),
        &subjects::cluster_inbox_prefix(id.cluster),
    )
    .event_callback(move |event| {
        let tx = event_tx.clone();
        async move {
            let _ = tx.send(event);
        }
    })
    .retry_on_initial_connect()
    .max_reconnects(None)
    .ignore_discovered_servers()
    .subscription_capacity(SUBSCRIPTION_CAPACITY);
    let client = connect
        .connect(opts.server.as_str())
        .await
        .map_err(|e| AgentError::Nats(format!("connecting: {e}")))?;
    let mut down = client
        .subscribe(subjects::cluster_down_wildcard(id.cluster))
        .await
        .map_err(|e| AgentError::Nats(format!("subscribing to the down subjects: {e}")))?;

    let mut agent = Agent {
        opts,
        client,
        id,
        shared,
        spool,
        pending: BTreeMap::new(),
        seen: Seen::default(),
        expires_at: claims.exp,
        refused: None,
        hostname: hostname(),
    };
    let start = Instant::now();
    for entry in spooled {
        agent.seen.insert(entry.result.job_uid);
        agent.add_pending(entry, start);
    }

    let (done_tx, mut done_rx) = mpsc::channel::<SpoolEntry>(64);
    let (renew_tx, mut renew_rx) = mpsc::channel::<RenewOutcome>(1);
    let scans = Arc::new(Semaphore::new(1));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut heartbeat = tokio::time::interval(agent.opts.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry = tokio::time::interval(Duration::from_millis(250));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renew_due = agent.renew_deadline(claims.iat);
    let mut renewing = false;
    let mut renew_failures: u32 = 0;
    tokio::pin!(shutdown);

    let outcome = loop {
        let expiry = agent.expiry_deadline();
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            _ = heartbeat.tick() => agent.heartbeat().await,
            _ = retry.tick() => agent.republish_due().await,
            Some(event) = event_rx.recv() => {
                let connected = matches!(event, Event::Connected);
                agent.on_event(event);
                if connected {
                    // Say so at once rather than at the next tick.
                    agent.heartbeat().await;
                    agent.republish_due().await;
                }
            }
            msg = down.next() => match msg {
                Some(m) => agent.on_message(m, &mut running, &done_tx, &scans).await,
                None => break Err(AgentError::Nats("the subscription to the down subjects ended".into())),
            },
            Some(entry) = done_rx.recv() => {
                let now = Instant::now();
                agent.add_pending(entry, now);
                agent.republish_due().await;
            }
            () = sleep_until_opt(renew_due), if !renewing => {
                renewing = true;
                agent.start_renewal(renew_tx.clone());
            }
            Some(outcome) = renew_rx.recv() => {
                renewing = false;
                renew_due = agent.on_renewal(outcome, &mut renew_failures).await;
            }
            () = sleep_until_opt(expiry) => {
                break Err(AgentError::Expired {
                    expired_at: agent.expires_at.unwrap_or_default(),
                    refused: agent.refused.clone(),
                });
            }
            Some(res) = running.join_next(), if !running.is_empty() => {
                if let Err(e) = res {
                    tracing::error!(error = %e, "a job task failed");
                }
            }
        }
    };

    // Stop taking jobs, let running ones store their results, flush.
    if let Err(e) = down.unsubscribe().await {
        tracing::warn!(error = %e, "unsubscribing from the down subjects failed");
    }
    if !running.is_empty() {
        tracing::info!(
            jobs = running.len(),
            "waiting for running jobs to store their results"
        );
        let wait = async {
            while let Some(res) = running.join_next().await {
                if let Err(e) = res {
                    tracing::error!(error = %e, "a job task failed");
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, wait).await.is_err() {
            tracing::warn!(
                "jobs still running at shutdown were abandoned; they did not produce results"
            );
            running.abort_all();
        }
    }
    while let Ok(entry) = done_rx.try_recv() {
        agent.add_pending(entry, Instant::now());
    }
    agent.republish_due().await;
    // A flush cannot complete without a connection (e.g. credentials revoked
    // or nats-server down): skip it rather than wait out the timeout; what
    // was not acknowledged stays in the spool either way.
    if agent.client.connection_state() != async_nats::connection::State::Connected {
        tracing::info!("not connected at shutdown: nothing to flush");
    } else if tokio::time::timeout(Duration::from_secs(5), agent.client.flush())
        .await
        .is_err()
    {
        tracing::warn!("flushing the connection timed out");
    }
    tracing::info!(
        unacknowledged = agent.pending.len(),
        "palisade agent stopped; unacknowledged results stay in the spool"
    );
    outcome
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Agent {
    fn connected(&self) -> bool {
        matches!(
            self.client.connection_state(),
            async_nats::connection::State::Connected
        )
    }

    fn ctx(&self, request: Uid) -> MessageContext {
        MessageContext {
            request,
            tenant: self.id.tenant,
            cluster: self.id.cluster,
        }
    }

    /// A tokio deadline for Unix second `at`.
    fn deadline(&self, at: i64) -> Instant {
        let now = now_secs(self.opts.clock.as_ref());
        let secs = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
        Instant::now() + Duration::from_secs(secs.min(10 * 365 * 86_400))
    }

    fn renew_deadline(&self, iat: i64) -> Option<Instant> {
        renew_at(iat, self.expires_at).map(|at| self.deadline(at))
    }

    fn expiry_deadline(&self) -> Option<Instant> {
        self.expires_at.map(|at| self.deadline(at))
    }

    fn on_event(&mut self, event: Event) {
        let (tenant, cluster) = (self.id.tenant, self.id.cluster);
        match event {
            Event::Connected => {
                tracing::info!(%tenant, %cluster, "connected to the bus");
                // Republish everything unacknowledged at once.
                let now = Instant::now();
                for p in self.pending.values_mut() {
                    p.next_at = now;
                }
            }
            Event::Disconnected => {
                tracing::warn!(%tenant, %cluster, "disconnected from the bus; reconnecting with back-off");
            }
            Event::SlowConsumer(sid) => tracing::error!(
                %tenant, %cluster, subscription = sid,
                "slow consumer: the client dropped messages for this subscription"
            ),
            Event::ServerError(e) => {
                tracing::error!(%tenant, %cluster, error = %e, "error from nats-server");
            }
            Event::ClientError(e) => {
                tracing::error!(%tenant, %cluster, error = %e, "NATS client error");
            }
            Event::LameDuckMode => {
                tracing::warn!(%tenant, %cluster, "nats-server entered lame duck mode");
            }
            Event::Draining => tracing::info!(%tenant, %cluster, "connection draining"),
            Event::Closed => tracing::error!(%tenant, %cluster, "connection closed"),
        }
    }

    async fn heartbeat(&self) {
        if !self.connected() {
            return;
        }
        let hb = Heartbeat {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            hostname: self.hostname.clone(),
            time: now_secs(self.opts.clock.as_ref()).max(0),
        };
        let body = match protocol::encode(&hb) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "encoding a heartbeat failed");
                return;
            }
        };
        let Ok(request) = Uid::generate() else {
            tracing::error!("no randomness for a request UID");
            return;
        };
        let subject = subjects::up(self.id.cluster, UpKind::Heartbeat);
        if let Err(e) = self
            .client
            .publish_with_headers(subject, self.ctx(request).headers(), body.into())
            .await
        {
            tracing::warn!(error = %e, "publishing a heartbeat failed");
        }
    }

    fn add_pending(&mut self, entry: SpoolEntry, now: Instant) {
        let payload = match protocol::encode(&entry.result) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(message = %entry.result.message_uid, error = %e, "a result cannot be encoded; dropping it");
                return;
            }
        };
        self.pending.insert(
            entry.result.message_uid,
            Pending {
                entry,
                payload,
                attempts: 0,
                next_at: now,
            },
        );
    }

    async fn republish_due(&mut self) {
        if self.pending.is_empty() || !self.connected() {
            return;
        }
        let now = Instant::now();
        let subject = subjects::up(self.id.cluster, UpKind::Result);
        let mut failures = 0usize;
        for (uid, p) in self.pending.iter_mut() {
            if p.next_at > now {
                continue;
            }
            p.attempts = p.attempts.saturating_add(1);
            p.next_at = now + result_retry_delay(p.attempts);
            let headers = MessageContext {
                request: p.entry.request_uid,
                tenant: self.id.tenant,
                cluster: self.id.cluster,
            }
            .headers();
            match self
                .client
                .publish_with_headers(subject.clone(), headers, p.payload.clone().into())
                .await
            {
                Ok(()) => {
                    tracing::debug!(message = %uid, job = %p.entry.result.job_uid, attempt = p.attempts, "result published")
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(message = %uid, error = %e, "publishing a result failed; will retry");
                }
            }
            if p.attempts > 1 && p.attempts.is_power_of_two() {
                tracing::info!(message = %uid, job = %p.entry.result.job_uid, attempt = p.attempts, "result still unacknowledged; republished");
            }
        }
        if failures > 0 {
            tracing::warn!(failures, "some results could not be published");
        }
    }

    async fn on_message(
        &mut self,
        m: Message,
        running: &mut JoinSet<()>,
        done: &mpsc::Sender<SpoolEntry>,
        scans: &Arc<Semaphore>,
    ) {
        let (s, ctx) = match protocol::check_incoming(
            m.subject.as_str(),
            m.headers.as_ref(),
            self.id.tenant,
            Direction::Down,
        ) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(subject = %m.subject, error = %e, "ignoring a message that fails the header checks");
                return;
            }
        };
        if s.cluster != self.id.cluster {
            tracing::warn!(subject = %m.subject, "ignoring a message for another cluster");
            return;
        }
        match s.kind {
            Kind::Down(DownKind::Ack) => match protocol::decode::<Ack>(&m.payload) {
                Ok(ack) => self.on_ack(ack, ctx.request).await,
                Err(e) => {
                    tracing::warn!(request = %ctx.request, error = %e, "ignoring a malformed ack")
                }
            },
            Kind::Down(DownKind::Job) => match protocol::decode::<Job>(&m.payload) {
                Ok(job) => self.on_job(job, ctx.request, running, done, scans),
                Err(e) => {
                    tracing::warn!(request = %ctx.request, error = %e, "ignoring a malformed job")
                }
            },
            Kind::Up(_) => {}
        }
    }

    async fn on_ack(&mut self, ack: Ack, request: Uid) {
        let Some(p) = self.pending.remove(&ack.message_uid) else {
            tracing::debug!(message = %ack.message_uid, %request, "ack for no pending result");
            return;
        };
        tracing::info!(message = %ack.message_uid, job = %p.entry.result.job_uid, %request, attempts = p.attempts, "result acknowledged");
        let spool = Arc::clone(&self.spool);
        let uid = ack.message_uid;
        match tokio::task::spawn_blocking(move || spool.remove(uid)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(message = %uid, error = %e, "removing an acknowledged result from the spool failed")
            }
            Err(e) => tracing::error!(message = %uid, error = %e, "spool task failed"),
        }
    }

    fn on_job(
        &mut self,
        job: Job,
        request: Uid,
        running: &mut JoinSet<()>,
        done: &mpsc::Sender<SpoolEntry>,
        scans: &Arc<Semaphore>,
    ) {
        if !self.seen.insert(job.job_uid) {
            tracing::info!(job = %job.job_uid, %request, "duplicate job ignored");
            return;
        }
        let message_uid = match Uid::generate() {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(job = %job.job_uid, error = %e, "no randomness for a message UID; job not run");
                return;
            }
        };
        let kind = match &job.kind {
            protocol::JobKind::Ping {} => "ping",
            protocol::JobKind::HardenScan { .. } => "hardenScan",
        };
        tracing::info!(job = %job.job_uid, %request, kind, "job received");
        let spool = Arc::clone(&self.spool);
        let done = done.clone();
        let scans = Arc::clone(scans);
        let root = self.opts.scan_root.clone();
        let busy = running.len() >= MAX_RUNNING_JOBS;
        running.spawn(async move {
            let _permit = match &job.kind {
                protocol::JobKind::HardenScan { .. } => scans.acquire_owned().await.ok(),
                protocol::JobKind::Ping {} => None,
            };
            let result = if busy {
                jobs::failed(
                    message_uid,
                    job.job_uid,
                    "the agent is busy (64 jobs running or queued); send the job again later",
                )
            } else {
                jobs::run(&job, message_uid, &root).await
            };
            tracing::info!(job = %job.job_uid, message = %message_uid, status = ?result.status, "job finished");
            let entry = SpoolEntry::new(request, result);
            let to_store = entry.clone();
            match tokio::task::spawn_blocking(move || spool.store(&to_store)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(job = %job.job_uid, message = %message_uid, error = %e,
                    "storing the result in the spool failed; it is published but lost if the agent restarts before the ack"),
                Err(e) => tracing::error!(job = %job.job_uid, error = %e, "spool task failed"),
            }
            if done.send(entry).await.is_err() {
                tracing::warn!(job = %job.job_uid, "agent stopping; the result stays in the spool");
            }
        });
    }

    fn start_renewal(&self, tx: mpsc::Sender<RenewOutcome>) {
        let client = self.client.clone();
        let creds = self.shared.current();
        let id = self.id;
        let path = self.opts.creds_file.clone();
        let clock = Arc::clone(&self.opts.clock);
        let request = Uid::generate().unwrap_or(Uid::from_u64(0));
        let headers: HeaderMap = self.ctx(request).headers();
        tracing::info!(%request, "renewing the credentials");
        tokio::spawn(async move {
            let outcome = renew(&client, &creds, id, headers, &path, clock.as_ref()).await;
            let _ = tx.send(outcome).await;
        });
    }

    /// Applies a renewal outcome; returns when to try again.
    async fn on_renewal(&mut self, outcome: RenewOutcome, failures: &mut u32) -> Option<Instant> {
        match outcome {
            RenewOutcome::Renewed(creds) => {
                *failures = 0;
                let (iat, exp) = match creds.claims() {
                    Ok(c) => (c.iat, c.exp),
                    Err(_) => (now_secs(self.opts.clock.as_ref()), self.expires_at),
                };
                self.expires_at = exp;
                self.refused = None;
                self.shared.replace(creds);
                tracing::info!(expires_at = ?exp, file = %self.opts.creds_file.display(), "credentials renewed and written");
                self.renew_deadline(iat)
            }
            RenewOutcome::Refused(code) => {
                tracing::error!(
                    code = %code, expires_at = ?self.expires_at,
                    "Palisade refused to renew the credentials; the agent stops when they expire \
                     unless new credentials are installed"
                );
                self.refused = Some(code);
                *failures = failures.saturating_add(1);
                Some(Instant::now() + self.renew_retry(*failures))
            }
            RenewOutcome::Failed(why) => {
                *failures = failures.saturating_add(1);
                let wait = self.renew_retry(*failures);
                tracing::warn!(error = %why, retry_in_secs = wait.as_secs(), "renewing the credentials failed; will retry");
                Some(Instant::now() + wait)
            }
        }
    }

    /// 1 s doubling up to 60 s, and never later than a third of the time
    /// left (so several tries fit before expiry).
    fn renew_retry(&self, failures: u32) -> Duration {
        let backoff = Duration::from_secs(1u64 << failures.saturating_sub(1).min(6))
            .min(Duration::from_secs(60));
        let Some(exp) = self.expires_at else {
            return backoff;
        };
        let left = exp
            .saturating_sub(now_secs(self.opts.clock.as_ref()))
            .max(0);
        let third = Duration::from_secs(u64::try_from(left / 3).unwrap_or(0));
        backoff.min(third).max(Duration::from_secs(1))
    }
}

async fn renew(
    client: &Client,
    creds: &Credentials,
    id: ClusterIdentity,
    headers: HeaderMap,
    path: &Path,
    clock: &dyn Clock,
) -> RenewOutcome {
    let body = match protocol::encode(&RenewRequest {
        public_key: creds.public_key().to_owned(),
    }) {
        Ok(b) => b,
        Err(e) => return RenewOutcome::Failed(e.to_string()),
    };
    let subject = subjects::up(id.cluster, UpKind::Renew);
    let answer = match tokio::time::timeout(
        RENEW_TIMEOUT,
        client.request_with_headers(subject, headers, body.into()),
    )
    .await
    {
        Err(_) => return RenewOutcome::Failed("no answer within 10 s".into()),
        Ok(Err(e)) => return RenewOutcome::Failed(format!("request failed: {e}")),
        Ok(Ok(m)) => m,
    };
    match protocol::decode::<RenewAnswer>(&answer.payload) {
        Err(e) => RenewOutcome::Failed(format!("unreadable answer: {e}")),
        Ok(RenewAnswer::Refused { code }) => RenewOutcome::Refused(code),
        Ok(RenewAnswer::Renewed { jwt, .. }) => match accept_renewal(creds, id, jwt, clock) {
            Err(e) => RenewOutcome::Failed(e.to_string()),
            Ok(new) => {
                let text = new.to_file_text();
                let p = path.to_path_buf();
                let bytes = zeroize::Zeroizing::new(text.as_bytes().to_vec());
                match tokio::task::spawn_blocking(move || files::write_atomic(&p, &bytes)).await {
                    Ok(Ok(())) => RenewOutcome::Renewed(new),
                    Ok(Err(e)) => {
                        // Use the new JWT anyway: the old one expires.
                        tracing::error!(error = %e, "writing the renewed credentials file failed; using them in memory only");
                        RenewOutcome::Renewed(new)
                    }
                    Err(e) => RenewOutcome::Failed(format!("write task: {e}")),
                }
            }
        },
    }
}

/// Checks a renewed JWT: for the same key (signature and subject), the
/// same cluster and tenant, the same issuing account, and not expired.
fn accept_renewal(
    old: &Credentials,
    id: ClusterIdentity,
    jwt: String,
    clock: &dyn Clock,
) -> Result<Credentials, AgentError> {
    let key = old.key()?;
    let new = Credentials::new(jwt, &key)
        .map_err(|_| AgentError::Renewal("not a valid JWT for this agent's key"))?;
    let new_id =
        ClusterIdentity::of(&new).map_err(|_| AgentError::Renewal("no cluster identity"))?;
    if new_id != id {
        return Err(AgentError::Renewal("for another cluster or tenant"));
    }
    let (oc, nc) = (old.claims()?, new.claims()?);
    if oc.nats.issuer_account != nc.nats.issuer_account {
        return Err(AgentError::Renewal("issued for another account"));
    }
    if nc.exp.is_some_and(|exp| exp <= now_secs(clock)) {
        return Err(AgentError::Renewal("already expired"));
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_urls_are_accepted() {
        assert!(check_server_url("tls://127.0.0.1:4222").is_ok());
        assert!(check_server_url("tls://bus.example:7422").is_ok());
        for bad in [
            "nats://127.0.0.1:4222",
            "127.0.0.1:4222",
            "ws://h:1",
            "tls://",
            "tls://h",
            "tls://h:0",
            "tls://u:p@h:1",
            "tls://h:1,tls://g:2",
            "TLS://h:1",
        ] {
            assert!(check_server_url(bad).is_err(), "{bad}");
        }
        let e = check_server_url("nats://h:1").unwrap_err().to_string();
        assert!(e.contains("TLS only"), "{e}");
    }

    #[test]
    fn retries_and_renewal_are_bounded() {
        assert_eq!(result_retry_delay(1), Duration::from_secs(2));
        assert_eq!(result_retry_delay(2), Duration::from_secs(4));
        assert_eq!(result_retry_delay(100), RESULT_RETRY_MAX);
        assert_eq!(renew_at(100, Some(400)), Some(300));
        assert_eq!(renew_at(100, None), None);
        let mut s = Seen::default();
        assert!(s.insert(Uid::from_u64(1)));
        assert!(!s.insert(Uid::from_u64(1)));
        for i in 2..(SEEN_JOBS as u64 + 10) {
            s.insert(Uid::from_u64(i));
        }
        assert!(s.set.len() <= SEEN_JOBS);
    }
}
