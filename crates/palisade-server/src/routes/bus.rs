//! The tenant bus as the API shows it: cluster credentials for agents and
//! jobs on clusters. Without `serve --bus` every route here answers
//! `503 bus_unavailable`.
//!
//! Credentials are shown once, in the response that issues them: the seed
//! and the JWT never reach a log or an audit event (the event names the
//! user public key).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use palisade_proto::auth::PageOf;
use palisade_proto::codes;
use palisade_proto::resources::{ClusterCredentialsView, CreateJobRequest, JobKindName, JobView};
use palisade_store::{IssuedCredentials, Job, JobKind};

use super::{Caller, Paging, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::bus::Bus;
use crate::json::{Created, Json, ValidJson, ValidQuery};

fn bus(state: &AppState) -> Result<Arc<Bus>, ApiError> {
    state.bus.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::BUS_UNAVAILABLE,
            "the tenant bus is not configured on this server",
        )
    })
}

/// The API view of a job; `report` only when asked for and present.
pub fn job_view(j: &Job) -> JobView {
    let (kind, profile) = match &j.kind {
        JobKind::Ping => (JobKindName::Ping, None),
        JobKind::HardenScan { profile } => (JobKindName::HardenScan, Some(profile.clone())),
    };
    JobView {
        uid: j.uid.to_string(),
        project_uid: j.project_uid.to_string(),
        cluster_uid: j.cluster_uid.to_string(),
        kind,
        profile,
        status: j.status.as_str().to_owned(),
        created_at: j.created_at,
        sent_at: j.sent_at,
        finished_at: j.finished_at,
        error: j.error.clone(),
        report: j
            .report
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
    }
}

/// `POST /v1/projects/{projectUid}/clusters/{uid}/credentials`: new NATS
/// credentials for the cluster's agent; the previous key is revoked on the
/// running nats-server.
pub async fn credentials(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
) -> Result<Created<ClusterCredentialsView>, ApiError> {
    let cluster = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    // 404 before 503: what is not the caller's stays hidden.
    state.store.get_cluster(tenant, project, cluster).await?;
    let bus = bus(&state)?;
    let account = state.store.bus_account(tenant).await?;
    let keys = bus.tenant_keys(tenant, account.signing_version)?;
    let now = state.clock.now_ms().div_euclid(1000);
    let ttl = bus.config.credentials_ttl_s;
    let creds = keys
        .issue_cluster_credentials(cluster, now, ttl)
        .map_err(|e| ApiError::internal(crate::ServerError::Bus(e.to_string())))?;
    let issued = IssuedCredentials {
        user_key: creds.public_key().to_owned(),
        issued_at: now,
        expires_at: now.saturating_add(ttl),
    };
    let mut tx = state.store.write(tenant).await?;
    let previous = tx
        .set_cluster_credentials(tenant, project, cluster, &issued)
        .await?;
    let mut entry = c
        .principal
        .entry("cluster.credentials")
        .target("cluster", cluster)
        .detail("project", project.to_string())
        .detail("userPublicKey", issued.user_key.clone())
        .detail("expiresAt", issued.expires_at);
    if let Some(prev) = previous {
        entry = entry.detail("revokedUserPublicKey", prev);
    }
    tx.commit(entry).await?;
    bus.poke();
    Ok(Created(ClusterCredentialsView {
        credentials: creds.to_file_text().to_string(),
        user_public_key: issued.user_key,
        expires_at: issued.expires_at,
    }))
}

/// `POST /v1/projects/{projectUid}/clusters/{uid}/jobs`.
pub async fn create_job(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
    ValidJson(body): ValidJson<CreateJobRequest>,
) -> Result<Created<JobView>, ApiError> {
    let cluster = path_uid(&uid)?;
    state
        .store
        .get_cluster(c.principal.tenant, c.project_uid()?, cluster)
        .await?;
    // A malformed request is answered as such, with or without a bus.
    let kind = match (body.kind, body.profile) {
        (JobKindName::Ping, None) => JobKind::Ping,
        (JobKindName::Ping, Some(_)) => {
            return Err(ApiError::invalid(
                "profile: only a harden-scan job takes a profile",
            ));
        }
        (JobKindName::HardenScan, Some(profile)) if JobKind::is_valid_profile(&profile) => {
            JobKind::HardenScan { profile }
        }
        (JobKindName::HardenScan, Some(_)) => {
            return Err(ApiError::invalid(
                "profile: 1 to 64 lowercase letters, digits, - and _",
            ));
        }
        (JobKindName::HardenScan, None) => {
            return Err(ApiError::invalid(
                "profile: a harden-scan job needs a profile",
            ));
        }
    };
    let bus = bus(&state)?;
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    let job = tx.create_job(tenant, project, cluster, kind).await?;
    let mut entry = c
        .principal
        .entry("job.create")
        .target("job", job.uid)
        .detail("project", project.to_string())
        .detail("cluster", cluster.to_string())
        .detail("kind", job.kind.name());
    if let JobKind::HardenScan { profile } = &job.kind {
        entry = entry.detail("profile", profile.clone());
    }
    tx.commit(entry).await?;
    bus.poke();
    Ok(Created(job_view(&job)))
}

/// `GET /v1/projects/{projectUid}/clusters/{uid}/jobs`: without reports.
pub async fn jobs(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<JobView>>, ApiError> {
    let cluster = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    // 404 for a cluster that is not in this project, before 503.
    state.store.get_cluster(tenant, project, cluster).await?;
    bus(&state)?;
    let got = state
        .store
        .list_jobs(tenant, project, cluster, q.page()?)
        .await?;
    Ok(Json(PageOf {
        items: got.items.iter().map(job_view).collect(),
        next: got.next.map(|u| u.to_string()),
    }))
}

/// `GET /v1/projects/{projectUid}/clusters/{uid}/jobs/{jobUid}`: with the
/// report once the job ended.
pub async fn job(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid, job_uid)): Path<(String, String, String)>,
) -> Result<Json<JobView>, ApiError> {
    let cluster = path_uid(&uid)?;
    let job = path_uid(&job_uid)?;
    let j = state
        .store
        .get_job(c.principal.tenant, c.project_uid()?, cluster, job, true)
        .await?;
    bus(&state)?;
    Ok(Json(job_view(&j)))
}
