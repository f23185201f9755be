//! Tenant bus state: each tenant's NATS account (an outbox of account JWT
//! revisions to push), each cluster's credentials and agent liveness, and
//! the jobs sent to agents.
//!
//! The account row is an outbox: every change that alters the tenant's
//! account JWT (a revocation, the tenant's deletion) bumps `revision` in the
//! same transaction as the change; the bus runtime pushes the JWT and then
//! records the revision as `applied`. A deleted tenant's row stays, marked
//! `deleted`, until its tombstone is applied.
//!
//! Operational updates (heartbeats, pushes applied, jobs sent, results) are
//! not audit events: they go through [`BusStore`] directly. Changes a person
//! makes (issuing credentials, creating a job) go through
//! [`crate::WriteTx`] with their audit event. Scan reports describe hosts:
//! they are sealed with the tenant's data key.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use palisade_core::Uid;
use palisade_core::audit::{AuditContext, AuditEntry, AuditEvent};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sealer::Sealer;
use crate::sql::{Backend, Scope, SqlStore, cursor, page_of, parse_uid, to_u32};
use crate::tx::SqlTx;
use crate::{Page, PageRequest, Result, StoreError};

/// Largest stored report (sealed JSON text), bytes.
pub const MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;
/// Largest stored error text of a job, bytes.
pub const MAX_JOB_ERROR_BYTES: usize = 4096;

/// A tenant's NATS account state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusAccount {
    /// The tenant.
    pub tenant_uid: Uid,
    /// Version of the tenant's derived signing keys.
    pub signing_version: u32,
    /// Revision of the account JWT to push.
    pub revision: i64,
    /// Last revision the running nats-server confirmed (0: none).
    pub applied: i64,
    /// Revoked user public keys → revoked-before time (Unix seconds), as in
    /// `palisade_bus::Revocations`.
    pub revocations: BTreeMap<String, i64>,
    /// The tenant was deleted: push a tombstone, then forget the row.
    pub deleted: bool,
}

impl BusAccount {
    /// Whether the running nats-server lags behind this row.
    pub fn pending(&self) -> bool {
        self.applied < self.revision
    }
}

/// A cluster's bus state: current credentials and what its agent reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBus {
    /// The cluster.
    pub cluster_uid: Uid,
    /// Its tenant.
    pub tenant_uid: Uid,
    /// Public key of the current credentials (none issued yet: `None`).
    pub user_key: Option<String>,
    /// When they were issued (Unix seconds).
    pub issued_at: Option<i64>,
    /// When they expire (Unix seconds).
    pub expires_at: Option<i64>,
    /// Last heartbeat (ms since the epoch).
    pub last_seen: Option<i64>,
    /// Agent version from the last heartbeat.
    pub agent_version: Option<String>,
    /// Agent hostname from the last heartbeat.
    pub hostname: Option<String>,
}

/// A heartbeat as the bus runtime received it.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatSeen<'a> {
    /// When it arrived (ms since the epoch).
    pub at_ms: i64,
    /// The agent's version.
    pub agent_version: &'a str,
    /// The host the agent runs on.
    pub hostname: &'a str,
    /// Silence longer than this (ms) makes the next heartbeat a new
    /// connection (the heartbeat timeout).
    pub gap_ms: i64,
    /// The message's request UID (for the audit event).
    pub request_uid: Uid,
}

/// What a heartbeat said about the cluster's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentPresence {
    /// The agent that was already connected.
    Continued,
    /// An agent connected: the cluster's first heartbeat, the first after a
    /// silence longer than the timeout, or one from another host or agent
    /// version. Recorded in the tenant's audit log (`cluster.agent.connect`)
    /// in the heartbeat's transaction.
    Connected(Box<AuditEvent>),
}

/// What a job asks of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// Liveness of the job path.
    Ping,
    /// `harden scan` with a profile.
    HardenScan {
        /// Profile name.
        profile: String,
    },
}

impl JobKind {
    /// The stored kind name (`ping`, `harden-scan`).
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Ping => "ping",
            JobKind::HardenScan { .. } => "harden-scan",
        }
    }

    fn profile(&self) -> Option<&str> {
        match self {
            JobKind::Ping => None,
            JobKind::HardenScan { profile } => Some(profile),
        }
    }

    /// Whether `p` is a well-formed scan profile name: 1 to 64 lowercase
    /// letters, digits, `-` and `_`.
    pub fn is_valid_profile(p: &str) -> bool {
        (1..=64).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Created, not yet published.
    Pending,
    /// Published at least once; re-sent until a result arrives.
    Sent,
    /// The agent reported success.
    Succeeded,
    /// The agent reported failure.
    Failed,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Sent => "sent",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => JobStatus::Pending,
            "sent" => JobStatus::Sent,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("job status {other:?}"))),
        })
    }

    /// Whether the job has ended.
    pub fn is_done(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// A job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job.
    pub uid: Uid,
    /// Its tenant.
    pub tenant_uid: Uid,
    /// Its project.
    pub project_uid: Uid,
    /// The cluster it runs on.
    pub cluster_uid: Uid,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub status: JobStatus,
    /// Created (ms).
    pub created_at: i64,
    /// Last published (ms).
    pub sent_at: Option<i64>,
    /// Ended (ms).
    pub finished_at: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The report, JSON text (only when asked for; opened from its seal).
    pub report: Option<String>,
}

/// A result reported by an agent.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// The result message's UID (deduplication).
    pub message_uid: Uid,
    /// Succeeded (`true`) or failed.
    pub succeeded: bool,
    /// The report as JSON text (success).
    pub report: Option<String>,
    /// The error (failure).
    pub error: Option<String>,
}

/// What storing a result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultStored {
    /// Stored now.
    Stored,
    /// The same message was stored before (acknowledge again, store nothing).
    Duplicate,
    /// The job had already ended with another result; ignored.
    AlreadyDone,
}

/// Operational bus state, written without audit events (see module docs).
#[async_trait]
pub trait BusStore: Send + Sync {
    /// One tenant's account state (also a deleted tenant's, until applied).
    async fn bus_account(&self, tenant: Uid) -> Result<BusAccount>;
    /// Every account row (start-up reconciliation), by tenant UID.
    async fn bus_accounts(&self) -> Result<Vec<BusAccount>>;
    /// Records that `revision` of the tenant's account JWT was applied; a
    /// deleted tenant's row is removed once its tombstone is applied.
    async fn bus_applied(&self, tenant: Uid, revision: i64) -> Result<()>;
    /// A cluster's bus state (`NotFound` when the cluster does not exist;
    /// empty state when it never had credentials).
    async fn cluster_bus(&self, tenant: Uid, cluster: Uid) -> Result<ClusterBus>;
    /// Bus state of the clusters of a project that have any.
    async fn project_cluster_bus(&self, tenant: Uid, project: Uid) -> Result<Vec<ClusterBus>>;
    /// Records a heartbeat (`NotFound` when the cluster does not exist),
    /// and an audit event when it shows an agent connecting (see
    /// [`AgentPresence`]).
    async fn bus_heartbeat(
        &self,
        tenant: Uid,
        cluster: Uid,
        seen: HeartbeatSeen<'_>,
    ) -> Result<AgentPresence>;
    /// Marks the agents silent for longer than `timeout_ms` at `now_ms` as
    /// disconnected, each with a `cluster.agent.disconnect` audit event in
    /// its tenant's log (once, whichever replica sweeps first); returns the
    /// events.
    async fn bus_sweep_disconnected(&self, now_ms: i64, timeout_ms: i64)
    -> Result<Vec<AuditEvent>>;
    /// A job, with its report when `with_report`.
    async fn get_job(
        &self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        uid: Uid,
        with_report: bool,
    ) -> Result<Job>;
    /// Jobs of a cluster, by UID, without reports.
    async fn list_jobs(
        &self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        page: PageRequest,
    ) -> Result<Page<Job>>;
    /// Claims a tenant's jobs to publish, oldest first: pending ones, and
    /// ones sent before `resend_before` (ms) still without a result. Each is
    /// marked sent at `now` in the same statement, so of several replicas
    /// asking at once only one gets a given job, and it is claimed again only
    /// once `resend_before` passes its new `sent_at`.
    async fn claim_jobs(
        &self,
        tenant: Uid,
        resend_before: i64,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Job>>;
    /// Stores a job's result once (`NotFound`: no such job on that cluster).
    async fn store_job_result(
        &self,
        tenant: Uid,
        cluster: Uid,
        job: Uid,
        outcome: JobOutcome,
    ) -> Result<ResultStored>;
}

fn account_row(row: &AnyRow) -> Result<BusAccount> {
    let revocations: String = row.try_get("revocations")?;
    let revocations: BTreeMap<String, i64> = serde_json::from_str(&revocations)
        .map_err(|_| StoreError::Corrupt("bus_accounts.revocations is not a JSON map".into()))?;
    Ok(BusAccount {
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        signing_version: to_u32(row.try_get("signing_version")?)?,
        revision: row.try_get("revision")?,
        applied: row.try_get("applied")?,
        revocations,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
    })
}

fn cluster_bus_row(row: &AnyRow) -> Result<ClusterBus> {
    Ok(ClusterBus {
        cluster_uid: parse_uid(&row.try_get::<String, _>("cluster_uid")?)?,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        user_key: row.try_get("user_key")?,
        issued_at: row.try_get("issued_at")?,
        expires_at: row.try_get("expires_at")?,
        last_seen: row.try_get("last_seen")?,
        agent_version: row.try_get("agent_version")?,
        hostname: row.try_get("hostname")?,
    })
}

fn job_row(row: &AnyRow) -> Result<Job> {
    let kind: String = row.try_get("kind")?;
    let profile: Option<String> = row.try_get("profile")?;
    let kind = match (kind.as_str(), profile) {
        ("ping", None) => JobKind::Ping,
        ("harden-scan", Some(profile)) => JobKind::HardenScan { profile },
        _ => return Err(StoreError::Corrupt(format!("job kind {kind:?}"))),
    };
    Ok(Job {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        project_uid: parse_uid(&row.try_get::<String, _>("project_uid")?)?,
        cluster_uid: parse_uid(&row.try_get::<String, _>("cluster_uid")?)?,
        kind,
        status: JobStatus::parse(&row.try_get::<String, _>("status")?)?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
        finished_at: row.try_get("finished_at")?,
        error: row.try_get("error")?,
        report: None,
    })
}

macro_rules! account_cols {
    () => {
        "tenant_uid, signing_version, revision, applied, revocations, deleted"
    };
}
macro_rules! cluster_cols {
    () => {
        "b.cluster_uid, b.tenant_uid, b.user_key, b.issued_at, b.expires_at, b.last_seen, b.agent_version, b.hostname"
    };
}

/// A job to (re)publish: pending, or sent before `$2` and still without a
/// result.
macro_rules! due {
    () => {
        "(status = 'pending' OR (status = 'sent' AND sent_at < $2))"
    };
}

macro_rules! job_cols {
    () => {
        "uid, tenant_uid, project_uid, cluster_uid, kind, profile, status, created_at, sent_at, finished_at, error"
    };
}

fn revocations_text(map: &BTreeMap<String, i64>) -> Result<String> {
    serde_json::to_string(map)
        .map_err(|_| StoreError::Invalid("revocations cannot be serialised".into()))
}

#[async_trait]
impl BusStore for SqlStore {
    async fn bus_account(&self, tenant: Uid) -> Result<BusAccount> {
        let mut tx = self.begin_read(Scope::Platform).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM bus_accounts WHERE tenant_uid = $1"
        ))
        .bind(tenant.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        account_row(&row)
    }

    async fn bus_accounts(&self) -> Result<Vec<BusAccount>> {
        let mut tx = self.begin_read(Scope::Platform).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM bus_accounts ORDER BY tenant_uid"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(account_row).collect()
    }

    async fn bus_applied(&self, tenant: Uid, revision: i64) -> Result<()> {
        let mut tx = self.begin(Scope::Platform).await?;
        sqlx::query("UPDATE bus_accounts SET applied = $1 WHERE tenant_uid = $2 AND applied < $1")
            .bind(revision)
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM bus_accounts WHERE tenant_uid = $1 AND deleted = 1 AND applied >= revision",
        )
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn cluster_bus(&self, tenant: Uid, cluster: Uid) -> Result<ClusterBus> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let row = sqlx::query("SELECT c.uid AS cluster_uid, c.tenant_uid AS tenant_uid, b.user_key, b.issued_at, b.expires_at, b.last_seen, b.agent_version, b.hostname \
             FROM clusters c LEFT JOIN bus_clusters b ON b.cluster_uid = c.uid \
             WHERE c.tenant_uid = $1 AND c.uid = $2")
        .bind(tenant.to_string())
        .bind(cluster.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        cluster_bus_row(&row)
    }

    async fn project_cluster_bus(&self, tenant: Uid, project: Uid) -> Result<Vec<ClusterBus>> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            cluster_cols!(),
            " FROM bus_clusters b JOIN clusters c ON c.uid = b.cluster_uid \
             WHERE b.tenant_uid = $1 AND c.project_uid = $2 ORDER BY b.cluster_uid"
        ))
        .bind(tenant.to_string())
        .bind(project.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(cluster_bus_row).collect()
    }

    async fn bus_heartbeat(
        &self,
        tenant: Uid,
        cluster: Uid,
        seen: HeartbeatSeen<'_>,
    ) -> Result<AgentPresence> {
        let mut tx = self.write_in(Scope::Tenant(tenant)).await?;
        let project = ensure_cluster(&mut tx.tx, tenant, cluster).await?;
        // The previous heartbeat, its row locked (PostgreSQL) so that two
        // replicas receiving the same heartbeat record one connection.
        sqlx::query(
            "INSERT INTO bus_clusters (cluster_uid, tenant_uid) VALUES ($1, $2) ON CONFLICT (cluster_uid) DO NOTHING",
        )
        .bind(cluster.to_string())
        .bind(tenant.to_string())
        .execute(&mut *tx.tx)
        .await?;
        let prev = sqlx::query(
            "UPDATE bus_clusters SET last_seen = last_seen WHERE cluster_uid = $1 AND tenant_uid = $2 \
             RETURNING last_seen, agent_version, hostname, connected_since",
        )
        .bind(cluster.to_string())
        .bind(tenant.to_string())
        .fetch_one(&mut *tx.tx)
        .await?;
        let last_seen: Option<i64> = prev.try_get(0)?;
        let version: Option<String> = prev.try_get(1)?;
        let host: Option<String> = prev.try_get(2)?;
        let connected_since: Option<i64> = prev.try_get(3)?;
        let silent = last_seen.is_some_and(|t| seen.at_ms.saturating_sub(t) > seen.gap_ms);
        let reason = match last_seen {
            None => Some("first heartbeat"),
            Some(_) if silent || connected_since.is_none() => Some("after a disconnection"),
            Some(_) if host.as_deref() != Some(seen.hostname) => Some("another host"),
            Some(_) if version.as_deref() != Some(seen.agent_version) => {
                Some("another agent version")
            }
            Some(_) => None,
        };
        sqlx::query(
            "UPDATE bus_clusters SET last_seen = $1, agent_version = $2, hostname = $3, connected_since = $4 \
             WHERE cluster_uid = $5 AND tenant_uid = $6",
        )
        .bind(seen.at_ms)
        .bind(seen.agent_version.to_owned())
        .bind(seen.hostname.to_owned())
        .bind(if reason.is_some() {
            Some(seen.at_ms)
        } else {
            connected_since
        })
        .bind(cluster.to_string())
        .bind(tenant.to_string())
        .execute(&mut *tx.tx)
        .await?;
        let Some(reason) = reason else {
            tx.tx.commit().await?;
            return Ok(AgentPresence::Continued);
        };
        let mut ctx = AuditContext::system();
        ctx.request_uid = Some(seen.request_uid);
        let mut entries = Vec::new();
        if silent && connected_since.is_some() {
            // The silence was not swept yet: its disconnection first.
            entries.push(disconnection(
                &ctx,
                tenant,
                cluster,
                project,
                last_seen,
                host.as_deref(),
                version.as_deref(),
            ));
        }
        let mut entry = ctx
            .entry("cluster.agent.connect")
            .tenant(tenant)
            .target("cluster", cluster)
            .detail("project", project.to_string())
            .detail("reason", reason)
            .detail("hostname", seen.hostname)
            .detail("agentVersion", seen.agent_version);
        if let Some(t) = last_seen {
            entry = entry.detail("lastSeen", t);
        }
        if let Some(h) = host.filter(|h| h != seen.hostname) {
            entry = entry.detail("previousHostname", h);
        }
        entries.push(entry);
        let mut events = tx.commit_all(entries).await?;
        let connected = events.pop().ok_or_else(|| {
            StoreError::Corrupt("a connection was committed without its event".into())
        })?;
        Ok(AgentPresence::Connected(Box::new(connected)))
    }

    async fn bus_sweep_disconnected(
        &self,
        now_ms: i64,
        timeout_ms: i64,
    ) -> Result<Vec<AuditEvent>> {
        let before = now_ms.saturating_sub(timeout_ms);
        let mut read = self.begin_read(Scope::Platform).await?;
        let rows = sqlx::query(
            "SELECT DISTINCT tenant_uid FROM bus_clusters WHERE connected_since IS NOT NULL AND last_seen < $1",
        )
        .bind(before)
        .fetch_all(&mut *read)
        .await?;
        read.commit().await?;
        let mut out = Vec::new();
        for row in &rows {
            let tenant = parse_uid(&row.try_get::<String, _>(0)?)?;
            let mut tx = self.write_in(Scope::Tenant(tenant)).await?;
            // Only one replica flips a cluster, so only one records it.
            let gone = sqlx::query(
                "UPDATE bus_clusters SET connected_since = NULL \
                 WHERE tenant_uid = $1 AND connected_since IS NOT NULL AND last_seen < $2 \
                 RETURNING cluster_uid, last_seen, hostname, agent_version",
            )
            .bind(tenant.to_string())
            .bind(before)
            .fetch_all(&mut *tx.tx)
            .await?;
            let ctx = AuditContext::system();
            let mut entries = Vec::new();
            for g in &gone {
                let cluster = parse_uid(&g.try_get::<String, _>(0)?)?;
                let project = ensure_cluster(&mut tx.tx, tenant, cluster).await?;
                let host: Option<String> = g.try_get(2)?;
                let version: Option<String> = g.try_get(3)?;
                entries.push(disconnection(
                    &ctx,
                    tenant,
                    cluster,
                    project,
                    g.try_get(1)?,
                    host.as_deref(),
                    version.as_deref(),
                ));
            }
            out.extend(tx.commit_all(entries).await?);
        }
        Ok(out)
    }

    async fn get_job(
        &self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        uid: Uid,
        with_report: bool,
    ) -> Result<Job> {
        let mut tx = self.begin_snapshot(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(concat!("SELECT ", job_cols!(), ", report_enc FROM bus_jobs WHERE tenant_uid = $1 AND project_uid = $2 AND cluster_uid = $3 AND uid = $4"))
        .bind(tenant.to_string())
        .bind(project.to_string())
        .bind(cluster.to_string())
        .bind(uid.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let mut job = job_row(&row)?;
        let sealed: Option<String> = row.try_get("report_enc")?;
        if with_report && let Some(sealed) = sealed {
            let plain = self
                .open_field(&mut tx, tenant, "bus_jobs", "report", uid, &sealed)
                .await?;
            job.report = Some(plain.as_str().to_owned());
        }
        tx.commit().await?;
        Ok(job)
    }

    async fn list_jobs(
        &self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        page: PageRequest,
    ) -> Result<Page<Job>> {
        let limit = page.size();
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(concat!("SELECT ", job_cols!(), " FROM bus_jobs WHERE tenant_uid = $1 AND project_uid = $2 AND cluster_uid = $3 AND uid > $4 ORDER BY uid LIMIT $5"))
        .bind(tenant.to_string())
        .bind(project.to_string())
        .bind(cluster.to_string())
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows.iter().map(job_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |j| j.uid))
    }

    async fn claim_jobs(
        &self,
        tenant: Uid,
        resend_before: i64,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Job>> {
        // The runtime asks for every tenant at every tick and most ticks
        // find nothing due: a read answers those without the write lock (on
        // SQLite, the writer turn every request's write waits for).
        let mut read = self.begin_read(Scope::Tenant(tenant)).await?;
        let any_due = sqlx::query(concat!(
            "SELECT 1 FROM bus_jobs WHERE tenant_uid = $1 AND ",
            due!(),
            " LIMIT 1"
        ))
        .bind(tenant.to_string())
        .bind(resend_before)
        .fetch_optional(&mut *read)
        .await?
        .is_some();
        read.commit().await?;
        if !any_due {
            return Ok(Vec::new());
        }
        let sql = match self.backend {
            Backend::Postgres => CLAIM_POSTGRES.as_str(),
            Backend::Sqlite => CLAIM_SQLITE.as_str(),
        };
        let mut tx = self.begin(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(resend_before)
            .bind(i64::from(limit.clamp(1, 500)))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut jobs = rows.iter().map(job_row).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.created_at, j.uid));
        Ok(jobs)
    }

    async fn store_job_result(
        &self,
        tenant: Uid,
        cluster: Uid,
        job: Uid,
        outcome: JobOutcome,
    ) -> Result<ResultStored> {
        match (outcome.succeeded, &outcome.report, &outcome.error) {
            (true, Some(r), None) if r.len() <= MAX_REPORT_BYTES => {}
            (false, None, Some(e)) if e.len() <= MAX_JOB_ERROR_BYTES => {}
            _ => {
                return Err(StoreError::Invalid(
                    "a result has a report (success) or an error (failure) within bounds".into(),
                ));
            }
        }
        let mut tx = self.begin(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(
            "SELECT status, message_uid FROM bus_jobs WHERE tenant_uid = $1 AND cluster_uid = $2 AND uid = $3",
        )
        .bind(tenant.to_string())
        .bind(cluster.to_string())
        .bind(job.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let status = JobStatus::parse(&row.try_get::<String, _>(0)?)?;
        let stored_message: Option<String> = row.try_get(1)?;
        if status.is_done() {
            tx.commit().await?;
            return Ok(
                if stored_message.as_deref() == Some(outcome.message_uid.to_string().as_str()) {
                    ResultStored::Duplicate
                } else {
                    ResultStored::AlreadyDone
                },
            );
        }
        let sealed = match &outcome.report {
            Some(report) => {
                let (v, dek) = self.tenant_key(&mut tx, tenant, None).await?;
                Some(Sealer::seal(
                    &dek,
                    v,
                    tenant,
                    "bus_jobs",
                    "report",
                    job,
                    report.as_bytes(),
                )?)
            }
            None => None,
        };
        let status = if outcome.succeeded {
            JobStatus::Succeeded
        } else {
            JobStatus::Failed
        };
        sqlx::query(
            "UPDATE bus_jobs SET status = $1, finished_at = $2, error = $3, report_enc = $4, message_uid = $5 WHERE tenant_uid = $6 AND uid = $7",
        )
        .bind(status.as_str())
        .bind(self.now())
        .bind(outcome.error.clone())
        .bind(sealed)
        .bind(outcome.message_uid.to_string())
        .bind(tenant.to_string())
        .bind(job.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ResultStored::Stored)
    }
}

/// Claims a tenant's (`$1`) due jobs, oldest first, at most `$3`, marking
/// them sent at `$4`: pending ones, and ones sent before `$2` still without
/// a result. The candidates are chosen once, in a materialized CTE (a
/// `LIMIT` subquery inside `IN` may be re-run per row by PostgreSQL's
/// planner and claim more than the limit); `lock` is PostgreSQL's row
/// locking for them. The due condition is checked again on the update: a
/// PostgreSQL writer that waited on a row re-checks it against its new
/// version.
fn claim_sql(lock: &str) -> String {
    format!(
        "WITH c AS MATERIALIZED (SELECT uid FROM bus_jobs WHERE tenant_uid = $1 AND {due} \
         ORDER BY created_at, uid LIMIT $3{lock}) \
         UPDATE bus_jobs SET status = 'sent', sent_at = $4 \
         WHERE tenant_uid = $1 AND {due} AND uid IN (SELECT uid FROM c) \
         RETURNING {cols}",
        due = due!(),
        cols = job_cols!(),
    )
}
/// SQLite takes the write lock at `BEGIN IMMEDIATE`: claims never overlap.
static CLAIM_SQLITE: LazyLock<String> = LazyLock::new(|| claim_sql(""));

/// Rows another replica is claiming are skipped, not waited for.
static CLAIM_POSTGRES: LazyLock<String> = LazyLock::new(|| claim_sql(" FOR UPDATE SKIP LOCKED"));

/// The audit entry of an agent found silent.
fn disconnection(
    ctx: &AuditContext,
    tenant: Uid,
    cluster: Uid,
    project: Uid,
    last_seen: Option<i64>,
    hostname: Option<&str>,
    agent_version: Option<&str>,
) -> AuditEntry {
    let mut entry = ctx
        .entry("cluster.agent.disconnect")
        .tenant(tenant)
        .target("cluster", cluster)
        .detail("project", project.to_string())
        .detail("reason", "silent for longer than the heartbeat timeout");
    if let Some(t) = last_seen {
        entry = entry.detail("lastSeen", t);
    }
    if let Some(h) = hostname {
        entry = entry.detail("hostname", h);
    }
    if let Some(v) = agent_version {
        entry = entry.detail("agentVersion", v);
    }
    entry
}

async fn ensure_cluster(tx: &mut sqlx::AnyConnection, tenant: Uid, cluster: Uid) -> Result<Uid> {
    let row = sqlx::query("SELECT project_uid FROM clusters WHERE tenant_uid = $1 AND uid = $2")
        .bind(tenant.to_string())
        .bind(cluster.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    parse_uid(&row.try_get::<String, _>(0)?)
}

/// Adds revocations to a tenant's account and bumps its revision (inside
/// the caller's transaction).
pub(crate) async fn revoke_in(
    tx: &mut sqlx::AnyConnection,
    tenant: Uid,
    keys: &[String],
    at: i64,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let row = sqlx::query("SELECT revocations FROM bus_accounts WHERE tenant_uid = $1")
        .bind(tenant.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let mut map: BTreeMap<String, i64> = match row {
        Some(row) => serde_json::from_str(&row.try_get::<String, _>(0)?).map_err(|_| {
            StoreError::Corrupt("bus_accounts.revocations is not a JSON map".into())
        })?,
        None => BTreeMap::new(),
    };
    for k in keys {
        let e = map.entry(k.clone()).or_insert(at);
        *e = (*e).max(at);
    }
    sqlx::query(
        "INSERT INTO bus_accounts (tenant_uid, signing_version, revision, applied, revocations, deleted, updated_at) VALUES ($1, 1, 1, 0, $2, 0, $3) \
         ON CONFLICT (tenant_uid) DO UPDATE SET revocations = excluded.revocations, revision = bus_accounts.revision + 1, updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(revocations_text(&map)?)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// User keys of the clusters about to be deleted (`project`: all of a
/// project; `cluster`: one).
pub(crate) async fn cluster_keys(
    tx: &mut sqlx::AnyConnection,
    tenant: Uid,
    project: Uid,
    cluster: Option<Uid>,
) -> Result<Vec<String>> {
    let rows = match cluster {
        Some(c) => {
            sqlx::query(
                "SELECT b.user_key FROM bus_clusters b JOIN clusters c ON c.uid = b.cluster_uid WHERE b.tenant_uid = $1 AND c.project_uid = $2 AND b.cluster_uid = $3 AND b.user_key IS NOT NULL",
            )
            .bind(tenant.to_string())
            .bind(project.to_string())
            .bind(c.to_string())
            .fetch_all(&mut *tx)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT b.user_key FROM bus_clusters b JOIN clusters c ON c.uid = b.cluster_uid WHERE b.tenant_uid = $1 AND c.project_uid = $2 AND b.user_key IS NOT NULL",
            )
            .bind(tenant.to_string())
            .bind(project.to_string())
            .fetch_all(&mut *tx)
            .await?
        }
    };
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>(0)?))
        .collect()
}

impl SqlTx {
    /// The tenant's first account row (revision 1, not applied).
    pub(crate) async fn bus_account_create(&mut self, tenant: Uid) -> Result<()> {
        if !self.store.bus_schema {
            return Ok(());
        }
        let now = self.store.now();
        sqlx::query(
            "INSERT INTO bus_accounts (tenant_uid, signing_version, revision, applied, revocations, deleted, updated_at) VALUES ($1, 1, 1, 0, '{}', 0, $2)",
        )
        .bind(tenant.to_string())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks the tenant's account deleted (a tombstone to push).
    pub(crate) async fn bus_account_delete(&mut self, tenant: Uid) -> Result<()> {
        if !self.store.bus_schema {
            return Ok(());
        }
        let now = self.store.now();
        sqlx::query(
            "UPDATE bus_accounts SET deleted = 1, revision = revision + 1, updated_at = $2 WHERE tenant_uid = $1",
        )
        .bind(tenant.to_string())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        for sql in [
            "DELETE FROM bus_jobs WHERE tenant_uid = $1",
            "DELETE FROM bus_clusters WHERE tenant_uid = $1",
        ] {
            self.exec(sqlx::query(sql).bind(tenant.to_string())).await?;
        }
        Ok(())
    }

    /// Revokes the keys of clusters about to be deleted and removes their
    /// bus rows.
    pub(crate) async fn bus_clusters_delete(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Option<Uid>,
    ) -> Result<()> {
        if !self.store.bus_schema {
            return Ok(());
        }
        let keys = cluster_keys(&mut self.tx, tenant, project, cluster).await?;
        let now_s = self.store.now().div_euclid(1000);
        revoke_in(&mut self.tx, tenant, &keys, now_s).await?;
        let (t, p) = (tenant.to_string(), project.to_string());
        match cluster {
            Some(c) => {
                let c = c.to_string();
                for sql in [
                    "DELETE FROM bus_jobs WHERE tenant_uid = $1 AND project_uid = $2 AND cluster_uid = $3",
                    "DELETE FROM bus_clusters WHERE tenant_uid = $1 AND cluster_uid = $3 AND cluster_uid IN (SELECT uid FROM clusters WHERE project_uid = $2)",
                ] {
                    self.exec(sqlx::query(sql).bind(&t).bind(&p).bind(&c))
                        .await?;
                }
            }
            None => {
                for sql in [
                    "DELETE FROM bus_jobs WHERE tenant_uid = $1 AND project_uid = $2",
                    "DELETE FROM bus_clusters WHERE tenant_uid = $1 AND cluster_uid IN (SELECT uid FROM clusters WHERE project_uid = $2)",
                ] {
                    self.exec(sqlx::query(sql).bind(&t).bind(&p)).await?;
                }
            }
        }
        Ok(())
    }

    /// Records new credentials for a cluster and revokes the previous key.
    /// Returns the previous key.
    pub(crate) async fn bus_set_credentials(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        creds: &IssuedCredentials,
    ) -> Result<Option<String>> {
        self.check(tenant)?;
        let in_project = ensure_cluster(&mut self.tx, tenant, cluster).await?;
        if in_project != project {
            return Err(StoreError::NotFound);
        }
        let previous: Option<String> = sqlx::query(
            "SELECT user_key FROM bus_clusters WHERE tenant_uid = $1 AND cluster_uid = $2",
        )
        .bind(tenant.to_string())
        .bind(cluster.to_string())
        .fetch_optional(&mut *self.tx)
        .await?
        .map(|r| r.try_get::<Option<String>, _>(0))
        .transpose()?
        .flatten();
        if let Some(prev) = &previous
            && prev != &creds.user_key
        {
            // Revoked before the new credentials' issue time: a JWT for the
            // old key issued at or before then is refused.
            revoke_in(
                &mut self.tx,
                tenant,
                std::slice::from_ref(prev),
                creds.issued_at,
            )
            .await?;
        }
        sqlx::query(
            "INSERT INTO bus_clusters (cluster_uid, tenant_uid, user_key, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (cluster_uid) DO UPDATE SET user_key = excluded.user_key, issued_at = excluded.issued_at, expires_at = excluded.expires_at",
        )
        .bind(cluster.to_string())
        .bind(tenant.to_string())
        .bind(creds.user_key.clone())
        .bind(creds.issued_at)
        .bind(creds.expires_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(previous)
    }

    /// Renews the JWT of the cluster's current key: only `expires_at` moves.
    /// `NotFound` unless `user_key` is the cluster's current key.
    pub(crate) async fn bus_renew(
        &mut self,
        tenant: Uid,
        cluster: Uid,
        user_key: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.check(tenant)?;
        self.exec_one(
            sqlx::query(
                "UPDATE bus_clusters SET expires_at = $1 WHERE tenant_uid = $2 AND cluster_uid = $3 AND user_key = $4",
            )
            .bind(expires_at)
            .bind(tenant.to_string())
            .bind(cluster.to_string())
            .bind(user_key.to_owned()),
        )
        .await
    }

    /// Creates a pending job on a cluster of the project.
    pub(crate) async fn bus_job_create(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        kind: JobKind,
    ) -> Result<Job> {
        self.check(tenant)?;
        if let JobKind::HardenScan { profile } = &kind
            && !JobKind::is_valid_profile(profile)
        {
            return Err(StoreError::Invalid(
                "profile must be 1 to 64 lowercase letters, digits, - and _".into(),
            ));
        }
        let in_project = ensure_cluster(&mut self.tx, tenant, cluster).await?;
        if in_project != project {
            return Err(StoreError::NotFound);
        }
        let now = self.store.now();
        let uid = self
            .insert_fresh("job exists", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO bus_jobs (uid, tenant_uid, project_uid, cluster_uid, kind, profile, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(project.to_string())
                .bind(cluster.to_string())
                .bind(kind.name())
                .bind(kind.profile().map(str::to_owned))
                .bind(now))
            })
            .await?;
        Ok(Job {
            uid,
            tenant_uid: tenant,
            project_uid: project,
            cluster_uid: cluster,
            kind,
            status: JobStatus::Pending,
            created_at: now,
            sent_at: None,
            finished_at: None,
            error: None,
            report: None,
        })
    }
}

/// New credentials of a cluster, as recorded (never the seed or the JWT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    /// The user public key.
    pub user_key: String,
    /// Issued at (Unix seconds).
    pub issued_at: i64,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
}
