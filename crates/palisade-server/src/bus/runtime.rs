//! The bus runtime: one system-account connection that pushes account JWTs
//! from the outbox (every account at start, then whatever is pending, each
//! push checked, failures retried with bounded back-off), and per tenant one
//! connection as Palisade's server user that serves the tenant's agents
//! (heartbeats, job results, renewals) and publishes jobs until they end.
//!
//! Nothing here trusts an agent's message beyond its account: the subject,
//! the three UID headers and the body are checked (`check_incoming`), the
//! tenant is the connection's, and a result or renewal is matched against
//! the cluster named by the subject.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::{Client, Event};
use futures_util::StreamExt;
use palisade_bus::client::{SharedCredentials, connect_options};
use palisade_bus::protocol::{
    self, Ack, Heartbeat, JobResult, MessageContext, RenewAnswer, RenewRequest,
};
use palisade_bus::subjects::{self, Direction, DownKind, Kind, UpKind};
use palisade_bus::{Revocations, push_account_jwt};
use palisade_core::audit::AuditContext;
use palisade_core::{Clock, Uid};
use palisade_store::{AgentPresence, BusAccount, HeartbeatSeen, JobOutcome, Store, StoreError};

use super::Bus;
use super::limit::{ClusterBudget, LogGate};

/// How long one push request may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Lifetime of Palisade's own user JWTs; renewed at half-life.
const OWN_TTL_S: i64 = 3600;
/// How often the loop runs without being woken.
const TICK: Duration = Duration::from_secs(2);
/// A sent job without a result is sent again after this long (ms).
const RESEND_AFTER_MS: i64 = 10_000;
/// Longest back-off between failed pushes of one account.
const MAX_BACKOFF_MS: i64 = 60_000;
/// At most one log line per tenant this often for refused agent messages.
const REFUSAL_LOG_EVERY_MS: i64 = 1_000;
/// Reconnect attempts of a tenant connection before its client gives up
/// (about 32 s of back-off); the runtime then opens a new one if the tenant
/// is still live and the bus is up.
const TENANT_RECONNECTS: usize = 8;

/// Starts the runtime in the background; an agent silent for longer than
/// `heartbeat_timeout_ms` is disconnected, and its next heartbeat is a new
/// connection (audited).
pub fn spawn(
    bus: Arc<Bus>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ca: PathBuf,
    heartbeat_timeout_ms: i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rt = Runtime {
            bus,
            store,
            clock,
            ca,
            heartbeat_timeout_ms,
            tenants: HashMap::new(),
            backoff: HashMap::new(),
        };
        rt.run().await;
    })
}

struct TenantConn {
    client: Client,
    creds: SharedCredentials,
    renew_at: i64,
    task: tokio::task::JoinHandle<()>,
    life: Arc<ConnLife>,
}

impl Drop for TenantConn {
    fn drop(&mut self) {
        // The client library keeps reconnecting while any attempt is left,
        // even with every handle dropped (a deleted tenant's account then
        // refuses each attempt): spend what is left without waiting.
        self.life.closed.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// Shared by a tenant connection's entry and its client library: whether
/// Palisade still wants the connection. Dropped when both let go, which
/// the log records (`bus: tenant connection closed`).
struct ConnLife {
    closed: AtomicBool,
    tenant: Uid,
}

impl ConnLife {
    fn new(tenant: Uid) -> Arc<Self> {
        Arc::new(ConnLife {
            closed: AtomicBool::new(false),
            tenant,
        })
    }

    /// The wait before reconnect attempt `attempts`: none once closed.
    fn reconnect_delay(&self, attempts: usize) -> Duration {
        if self.closed.load(Ordering::Relaxed) {
            Duration::ZERO
        } else {
            palisade_bus::client::reconnect_delay(attempts)
        }
    }
}

impl Drop for ConnLife {
    fn drop(&mut self) {
        tracing::info!(tenant = %self.tenant, "bus: tenant connection closed");
    }
}

struct Runtime {
    bus: Arc<Bus>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ca: PathBuf,
    heartbeat_timeout_ms: i64,
    tenants: HashMap<Uid, TenantConn>,
    /// tenant → (failures, next attempt ms)
    backoff: HashMap<Uid, (u32, i64)>,
}

fn event_callback(
    bus: Arc<Bus>,
    what: &'static str,
    system: bool,
) -> impl Fn(Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>
+ Send
+ Sync
+ 'static {
    move |event: Event| {
        let bus = Arc::clone(&bus);
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>> =
            Box::pin(async move {
                match event {
                    Event::SlowConsumer(sid) => {
                        bus.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            connection = what,
                            sid,
                            "bus slow consumer: messages were dropped"
                        );
                    }
                    Event::Connected => {
                        if system {
                            bus.stats.connected.store(true, Ordering::Relaxed);
                        }
                        tracing::info!(connection = what, "bus connected");
                    }
                    Event::Disconnected => {
                        if system {
                            bus.stats.connected.store(false, Ordering::Relaxed);
                        }
                        tracing::warn!(connection = what, "bus disconnected");
                    }
                    other => tracing::info!(connection = what, event = %other, "bus event"),
                }
            });
        fut
    }
}

impl Runtime {
    fn now_s(&self) -> i64 {
        self.clock.now_ms().div_euclid(1000)
    }

    async fn connect_system(&self) -> Option<(Client, SharedCredentials)> {
        let creds = match self
            .bus
            .operator()
            .system_user_credentials(self.now_s(), OWN_TTL_S)
        {
            Ok(c) => SharedCredentials::new(c),
            Err(e) => {
                tracing::error!(error = %e, "bus: cannot mint the system user's credentials");
                return None;
            }
        };
        let opts = connect_options(
            creds.clone(),
            &self.ca,
            palisade_bus::operator::PUSHER_INBOX_PREFIX,
        )
        .event_callback(event_callback(Arc::clone(&self.bus), "system", true));
        match opts.connect(self.bus.config.url.as_str()).await {
            Ok(c) => {
                self.bus.stats.connected.store(true, Ordering::Relaxed);
                Some((c, creds))
            }
            Err(e) => {
                tracing::warn!(error = %e, url = %self.bus.config.url, "bus: cannot connect as the system user");
                None
            }
        }
    }

    async fn run(&mut self) {
        let mut attempt = 0usize;
        let (system, system_creds) = loop {
            if let Some(c) = self.connect_system().await {
                break c;
            }
            attempt += 1;
            let delay = palisade_bus::client::reconnect_delay(attempt + 1);
            tokio::time::sleep(delay.max(Duration::from_millis(250))).await;
        };
        let mut system_renew_at = self.now_s() + OWN_TTL_S / 2;
        // Reconcile: every account once at start, applied or not.
        match self.store.bus_accounts().await {
            Ok(accounts) => {
                for a in accounts {
                    self.push(&system, &a).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "bus: cannot read account state"),
        }
        loop {
            if self.now_s() >= system_renew_at {
                match self
                    .bus
                    .operator()
                    .system_user_credentials(self.now_s(), OWN_TTL_S)
                {
                    Ok(c) => {
                        system_creds.replace(c);
                        system_renew_at = self.now_s() + OWN_TTL_S / 2;
                    }
                    Err(e) => tracing::error!(error = %e, "bus: cannot renew the system user"),
                }
            }
            self.round(&system).await;
            self.sweep().await;
            let _ = tokio::time::timeout(TICK, self.bus.wake.notified()).await;
        }
    }

    /// Records the agents silent for longer than the heartbeat timeout as
    /// disconnected (one audit event each).
    async fn sweep(&self) {
        match self
            .store
            .bus_sweep_disconnected(self.clock.now_ms(), self.heartbeat_timeout_ms)
            .await
        {
            Ok(events) => {
                for e in events {
                    tracing::info!(
                        tenant = %e.tenant_uid,
                        cluster = e.target_uid.as_deref().unwrap_or("-"),
                        audit_seq = e.seq,
                        "bus: agent disconnected"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "bus: cannot record disconnected agents"),
        }
    }

    /// One pass: pending pushes, tenant connections, jobs to send.
    async fn round(&mut self, system: &Client) {
        let accounts = match self.store.bus_accounts().await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "bus: cannot read account state");
                return;
            }
        };
        let now_ms = self.clock.now_ms();
        for a in &accounts {
            if a.pending() {
                let due = self.backoff.get(&a.tenant_uid).map(|b| b.1).unwrap_or(0);
                if now_ms >= due {
                    self.push(system, a).await;
                }
            }
        }
        // Server-user connections for live tenants; none for deleted ones.
        let live: Vec<&BusAccount> = accounts.iter().filter(|a| !a.deleted).collect();
        self.tenants
            .retain(|t, _| live.iter().any(|a| a.tenant_uid == *t));
        for a in live {
            if a.applied == 0 {
                continue;
            }
            self.ensure_tenant(a).await;
            self.send_jobs(a.tenant_uid).await;
        }
    }

    async fn push(&mut self, system: &Client, a: &BusAccount) {
        let now = self.now_s();
        let token = match self.account_jwt(a, now) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(tenant = %a.tenant_uid, error = %e, "bus: cannot build the account JWT");
                return;
            }
        };
        match push_account_jwt(system, &token, PUSH_TIMEOUT).await {
            Ok(report) => {
                self.bus
                    .stats
                    .pushes_applied
                    .fetch_add(1, Ordering::Relaxed);
                self.backoff.remove(&a.tenant_uid);
                tracing::info!(tenant = %a.tenant_uid, revision = a.revision, applied = ?report.applied, deleted = a.deleted, "bus: account JWT pushed");
                if let Err(e) = self.store.bus_applied(a.tenant_uid, a.revision).await {
                    tracing::error!(tenant = %a.tenant_uid, error = %e, "bus: cannot record the push");
                }
            }
            Err(e) => {
                self.bus.stats.push_failures.fetch_add(1, Ordering::Relaxed);
                let entry = self.backoff.entry(a.tenant_uid).or_insert((0, 0));
                entry.0 = entry.0.saturating_add(1);
                let delay = (500i64 << entry.0.min(7)).min(MAX_BACKOFF_MS);
                entry.1 = self.clock.now_ms().saturating_add(delay);
                tracing::warn!(tenant = %a.tenant_uid, error = %e, retry_in_ms = delay, "bus: account push failed; will retry");
            }
        }
    }

    fn account_jwt(&self, a: &BusAccount, now: i64) -> Result<String, crate::ServerError> {
        let keys = self.bus.tenant_keys(a.tenant_uid, a.signing_version)?;
        let op = self.bus.operator();
        let bus_err = |e: palisade_bus::BusError| crate::ServerError::Bus(e.to_string());
        if a.deleted {
            return op.tenant_tombstone_jwt(&keys, now).map_err(bus_err);
        }
        let mut revocations = Revocations::from_entries(a.revocations.clone()).map_err(bus_err)?;
        // Entries older than any user JWT still valid are no longer needed.
        revocations.prune(now);
        op.tenant_account_jwt(&keys, &self.bus.limits, &revocations, now)
            .map_err(bus_err)
    }

    async fn ensure_tenant(&mut self, a: &BusAccount) {
        let tenant = a.tenant_uid;
        let now = self.now_s();
        if let Some(conn) = self.tenants.get(&tenant) {
            if now < conn.renew_at && !conn.task.is_finished() {
                return;
            }
            if !conn.task.is_finished()
                && let Ok(keys) = self.bus.tenant_keys(tenant, a.signing_version)
                && let Ok(c) = keys.server_user_credentials(now, OWN_TTL_S)
            {
                conn.creds.replace(c);
                if let Some(conn) = self.tenants.get_mut(&tenant) {
                    conn.renew_at = now + OWN_TTL_S / 2;
                }
                return;
            }
            self.tenants.remove(&tenant);
        }
        // While the system connection is down, so is the bus for tenants:
        // their connections are opened again once it is back.
        if !self.bus.is_connected() {
            return;
        }
        let keys = match self.bus.tenant_keys(tenant, a.signing_version) {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(%tenant, error = %e, "bus: cannot derive tenant keys");
                return;
            }
        };
        let creds = match keys.server_user_credentials(now, OWN_TTL_S) {
            Ok(c) => SharedCredentials::new(c),
            Err(e) => {
                tracing::error!(%tenant, error = %e, "bus: cannot mint the server user");
                return;
            }
        };
        let life = ConnLife::new(tenant);
        let delays = Arc::clone(&life);
        let opts = connect_options(creds.clone(), &self.ca, subjects::SERVER_INBOX_PREFIX)
            .event_callback(event_callback(Arc::clone(&self.bus), "tenant", false))
            .max_reconnects(TENANT_RECONNECTS)
            .reconnect_delay_callback(move |attempts| delays.reconnect_delay(attempts));
        let client = match opts.connect(self.bus.config.url.as_str()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "bus: cannot connect as the tenant's server user");
                return;
            }
        };
        let sub = match client.subscribe(subjects::ALL_UP).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "bus: cannot subscribe to the tenant's agents");
                return;
            }
        };
        let handler = Handler {
            bus: Arc::clone(&self.bus),
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            client: client.clone(),
            tenant,
            signing_version: a.signing_version,
            heartbeat_timeout_ms: self.heartbeat_timeout_ms,
            refusals_logged: std::sync::Mutex::new(LogGate::new(REFUSAL_LOG_EVERY_MS)),
        };
        let task = tokio::spawn(handler.serve(sub));
        self.tenants.insert(
            tenant,
            TenantConn {
                client,
                creds,
                renew_at: now + OWN_TTL_S / 2,
                task,
                life,
            },
        );
        tracing::info!(%tenant, "bus: tenant connection opened");
    }

    async fn send_jobs(&self, tenant: Uid) {
        let Some(conn) = self.tenants.get(&tenant) else {
            return;
        };
        let now = self.clock.now_ms();
        // Claimed and marked sent in one statement: with several replicas,
        // one of them publishes a job, again only after RESEND_AFTER_MS.
        let jobs = match self
            .store
            .claim_jobs(tenant, now.saturating_sub(RESEND_AFTER_MS), now, 100)
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(%tenant, error = %e, "bus: cannot claim jobs");
                return;
            }
        };
        for job in jobs {
            let kind = match &job.kind {
                palisade_store::JobKind::Ping => protocol::JobKind::Ping {},
                palisade_store::JobKind::HardenScan { profile } => protocol::JobKind::HardenScan {
                    profile: profile.clone(),
                },
            };
            let msg = protocol::Job {
                job_uid: job.uid,
                kind,
            };
            let body = match protocol::encode(&msg) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(%tenant, job = %job.uid, error = %e, "bus: cannot encode a job");
                    continue;
                }
            };
            let ctx = MessageContext {
                request: Uid::generate().unwrap_or(job.uid),
                tenant,
                cluster: job.cluster_uid,
            };
            let subject = subjects::down(job.cluster_uid, DownKind::Job);
            if let Err(e) = conn
                .client
                .publish_with_headers(subject, ctx.headers(), body.into())
                .await
            {
                tracing::warn!(%tenant, job = %job.uid, error = %e, "bus: cannot publish a job; it is claimable again after the resend interval");
            }
        }
        let _ = conn.client.flush().await;
    }
}

/// Serves one tenant's agents.
struct Handler {
    bus: Arc<Bus>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    client: Client,
    tenant: Uid,
    signing_version: u32,
    heartbeat_timeout_ms: i64,
    /// At most one log line per interval for refused messages.
    refusals_logged: std::sync::Mutex<LogGate>,
}

impl Handler {
    async fn serve(self, mut sub: async_nats::Subscriber) {
        let mut budget = ClusterBudget::default();
        while let Some(msg) = sub.next().await {
            let checked = protocol::check_incoming(
                msg.subject.as_str(),
                msg.headers.as_ref(),
                self.tenant,
                Direction::Up,
            );
            let (subject, ctx) = match checked {
                Ok(x) => x,
                Err(e) => {
                    self.refuse(&e.to_string());
                    continue;
                }
            };
            if !budget.take(ctx.cluster, self.clock.now_ms()) {
                // Results are retried by the agent until acknowledged, so
                // refusing one here delays it; it is never lost.
                self.refuse("over the cluster's message budget");
                continue;
            }
            let outcome = match subject.kind {
                Kind::Up(UpKind::Heartbeat) => self.heartbeat(&ctx, &msg.payload).await,
                Kind::Up(UpKind::Result) => self.result(&ctx, &msg.payload).await,
                Kind::Up(UpKind::Renew) => {
                    self.renew(
                        &subject,
                        &ctx,
                        msg.reply.as_ref().map(|r| r.as_str()),
                        &msg.payload,
                    )
                    .await
                }
                Kind::Down(_) => Err("a down subject on the up subscription".to_owned()),
            };
            if let Err(e) = outcome {
                self.refuse(&e);
            }
        }
    }

    /// Counts a refused message and logs it, at most one line per
    /// interval (the line says how many were not logged since the last).
    fn refuse(&self, why: &str) {
        self.bus
            .stats
            .refused_messages
            .fetch_add(1, Ordering::Relaxed);
        let admitted = match self.refusals_logged.lock() {
            Ok(mut g) => g.admit(self.clock.now_ms()),
            Err(p) => p.into_inner().admit(self.clock.now_ms()),
        };
        if let Some(not_logged) = admitted {
            tracing::warn!(
                tenant = %self.tenant,
                reason = why,
                refused_not_logged = not_logged,
                "bus: agent message refused"
            );
        }
    }

    async fn heartbeat(&self, ctx: &MessageContext, body: &[u8]) -> Result<(), String> {
        let hb: Heartbeat = protocol::decode(body).map_err(|e| e.to_string())?;
        let seen = HeartbeatSeen {
            at_ms: self.clock.now_ms(),
            agent_version: &hb.agent_version,
            hostname: &hb.hostname,
            gap_ms: self.heartbeat_timeout_ms,
            request_uid: ctx.request,
        };
        match self
            .store
            .bus_heartbeat(self.tenant, ctx.cluster, seen)
            .await
        {
            Ok(AgentPresence::Continued) => Ok(()),
            Ok(AgentPresence::Connected(event)) => {
                tracing::info!(
                    tenant = %self.tenant,
                    cluster = %ctx.cluster,
                    hostname = %hb.hostname,
                    agent_version = %hb.agent_version,
                    audit_seq = event.seq,
                    "bus: agent connected"
                );
                Ok(())
            }
            Err(StoreError::NotFound) => Err("heartbeat of an unknown cluster".to_owned()),
            Err(e) => {
                tracing::error!(tenant = %self.tenant, error = %e, "bus: cannot store a heartbeat");
                Ok(())
            }
        }
    }

    async fn result(&self, ctx: &MessageContext, body: &[u8]) -> Result<(), String> {
        let r: JobResult = protocol::decode(body).map_err(|e| e.to_string())?;
        let report = match &r.report {
            Some(v) => Some(serde_json::to_string(v).map_err(|e| e.to_string())?),
            None => None,
        };
        let outcome = JobOutcome {
            message_uid: r.message_uid,
            succeeded: matches!(r.status, protocol::JobStatus::Succeeded),
            report,
            error: r.error.clone(),
        };
        match self
            .store
            .store_job_result(self.tenant, ctx.cluster, r.job_uid, outcome)
            .await
        {
            // Stored now, stored before, or a job that is gone: either way
            // the agent may stop retrying.
            Ok(stored) => {
                tracing::info!(tenant = %self.tenant, cluster = %ctx.cluster, job = %r.job_uid, ?stored, "bus: job result");
            }
            Err(StoreError::NotFound) => {
                self.refuse("result for a job this cluster does not have");
            }
            Err(StoreError::Invalid(m)) => return Err(m),
            Err(e) => {
                // Not acknowledged: the agent retries.
                tracing::error!(tenant = %self.tenant, error = %e, "bus: cannot store a job result");
                return Ok(());
            }
        }
        let ack = protocol::encode(&Ack {
            message_uid: r.message_uid,
        })
        .map_err(|e| e.to_string())?;
        let subject = subjects::down(ctx.cluster, DownKind::Ack);
        self.client
            .publish_with_headers(subject, ctx.headers(), ack.into())
            .await
            .map_err(|e| e.to_string())?;
        let _ = self.client.flush().await;
        Ok(())
    }

    async fn renew(
        &self,
        subject: &palisade_bus::subjects::BusSubject,
        ctx: &MessageContext,
        reply: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let reply = protocol::check_reply(subject, reply).map_err(|e| e.to_string())?;
        let req: RenewRequest = protocol::decode(body).map_err(|e| e.to_string())?;
        let answer = self.renewal(ctx.cluster, &req.public_key).await;
        let body = protocol::encode(&answer).map_err(|e| e.to_string())?;
        self.client
            .publish_with_headers(reply.to_owned(), ctx.headers(), body.into())
            .await
            .map_err(|e| e.to_string())?;
        let _ = self.client.flush().await;
        Ok(())
    }

    async fn renewal(&self, cluster: Uid, key: &str) -> RenewAnswer {
        let refused = |code: &str| RenewAnswer::Refused {
            code: code.to_owned(),
        };
        let current = match self.store.cluster_bus(self.tenant, cluster).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return refused("cluster_deleted"),
            Err(_) => return refused("unavailable"),
        };
        if current.user_key.as_deref() != Some(key) {
            return refused("unknown_key");
        }
        let now = self.clock.now_ms().div_euclid(1000);
        let ttl = self.bus.config.credentials_ttl_s;
        let Ok(keys) = self.bus.tenant_keys(self.tenant, self.signing_version) else {
            return refused("unavailable");
        };
        let Ok(jwt) = keys.cluster_user_jwt(cluster, key, now, ttl) else {
            return refused("unavailable");
        };
        let expires_at = now.saturating_add(ttl);
        let done = async {
            let mut tx = self.store.write(self.tenant).await?;
            tx.renew_cluster_credentials(self.tenant, cluster, key, expires_at)
                .await?;
            tx.commit(
                AuditContext::system()
                    .entry("cluster.credentials-renew")
                    .tenant(self.tenant)
                    .target("cluster", cluster)
                    .detail("userPublicKey", key.to_owned()),
            )
            .await
        }
        .await;
        match done {
            Ok(_) => RenewAnswer::Renewed { jwt, expires_at },
            Err(StoreError::NotFound) => refused("unknown_key"),
            Err(e) => {
                tracing::error!(tenant = %self.tenant, error = %e, "bus: cannot record a renewal");
                refused("unavailable")
            }
        }
    }
}
