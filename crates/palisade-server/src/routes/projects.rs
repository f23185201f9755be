//! `/v1/projects` and each project's cloud accounts and clusters. The
//! gateway has already found the route's project in the caller's tenant and
//! decided the permission; a project the caller cannot see is 404.
//! Cloud-account credentials are write-only: sealed at rest, never returned.

use axum::extract::{Path, State};
use palisade_core::model::{CloudAccount, Cluster, Project};
use palisade_core::rbac::{Permission, ProjectVisibility, visible_projects};
use palisade_proto::auth::PageOf;
use palisade_proto::resources::{
    AgentView, CloudAccountView, ClusterView, CreateCloudAccountRequest, CreateClusterRequest,
    CreateProjectRequest, DescriptionRequest, MAX_CREDENTIALS_CHARS, ProjectView,
};
use palisade_store::{ClusterBus, NewCloudAccount, NewCluster};
use secrecy::SecretString;

use super::{Caller, Paging, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

fn project_view(p: &Project) -> ProjectView {
    ProjectView {
        uid: p.uid.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        created_at: p.created_at,
    }
}

fn account_view(a: &CloudAccount) -> CloudAccountView {
    CloudAccountView {
        uid: a.uid.to_string(),
        project_uid: a.project_uid.to_string(),
        name: a.name.clone(),
        provider: a.provider.clone(),
        created_at: a.created_at,
    }
}

/// The API view of a cluster.
pub fn cluster_view(c: &Cluster) -> ClusterView {
    ClusterView {
        uid: c.uid.to_string(),
        project_uid: c.project_uid.to_string(),
        name: c.name.clone(),
        cloud_account_uid: c.cloud_account_uid.map(|u| u.to_string()),
        created_at: c.created_at,
        last_seen: None,
        connected: false,
        agent: None,
        credentials_expire_at: None,
    }
}

/// Adds what the bus knows of a cluster: its last heartbeat, whether that
/// is within `timeout_ms` of `now_ms`, the agent, the credentials' expiry.
pub fn with_bus(mut v: ClusterView, b: &ClusterBus, now_ms: i64, timeout_ms: i64) -> ClusterView {
    v.last_seen = b.last_seen;
    v.connected = b
        .last_seen
        .is_some_and(|seen| now_ms.saturating_sub(seen) <= timeout_ms);
    v.agent = match (&b.agent_version, &b.hostname) {
        (Some(version), Some(hostname)) => Some(AgentView {
            version: version.clone(),
            hostname: hostname.clone(),
        }),
        _ => None,
    };
    v.credentials_expire_at = b.expires_at;
    v
}

/// `GET /v1/projects`: every project with `project.list`; otherwise the
/// projects the caller holds `project.get` on.
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<ProjectView>>, ApiError> {
    let tenant = c.principal.tenant;
    let page = q.page()?;
    if c.may(Permission::ProjectList, palisade_core::rbac::Target::Tenant) {
        let got = state.store.list_projects(tenant, page).await?;
        return Ok(Json(PageOf {
            items: got.items.iter().map(project_view).collect(),
            next: got.next.map(|u| u.to_string()),
        }));
    }
    let visible = visible_projects(&c.grants, Permission::ProjectGet);
    let mut items = Vec::new();
    let mut next = None;
    if let ProjectVisibility::Only(set) = &visible {
        // Few projects per caller: read each, in UID order, from the cursor.
        let size = page.size() as usize;
        for uid in set.iter().filter(|u| page.after.is_none_or(|a| **u > a)) {
            if items.len() == size {
                next = items.last().map(|p: &ProjectView| p.uid.clone());
                break;
            }
            match state.store.get_project(tenant, *uid).await {
                Ok(p) => items.push(project_view(&p)),
                Err(palisade_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    } else if matches!(visible, ProjectVisibility::All) {
        let got = state.store.list_projects(tenant, page).await?;
        return Ok(Json(PageOf {
            items: got.items.iter().map(project_view).collect(),
            next: got.next.map(|u| u.to_string()),
        }));
    }
    Ok(Json(PageOf { items, next }))
}

/// `POST /v1/projects`.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateProjectRequest>,
) -> Result<Created<ProjectView>, ApiError> {
    let tenant = c.principal.tenant;
    let description = body.description.as_ref().map(|d| d.as_str()).unwrap_or("");
    let mut tx = state.store.write(tenant).await?;
    let p = tx
        .create_project(tenant, body.name.as_str(), description)
        .await?;
    tx.commit(
        c.principal
            .entry("project.create")
            .target("project", p.uid)
            .detail("name", p.name.clone()),
    )
    .await?;
    Ok(Created(project_view(&p)))
}

/// `GET /v1/projects/{projectUid}`.
pub async fn get(State(state): State<AppState>, c: Caller) -> Result<Json<ProjectView>, ApiError> {
    Ok(Json(project_view(&c.require_project(&state).await?)))
}

/// `PATCH /v1/projects/{projectUid}`.
pub async fn update(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<DescriptionRequest>,
) -> Result<Json<ProjectView>, ApiError> {
    let tenant = c.principal.tenant;
    let uid = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    let p = tx
        .set_project_description(tenant, uid, body.description.as_str())
        .await?;
    tx.commit(
        c.principal
            .entry("project.update")
            .target("project", uid)
            .detail("changed", "description"),
    )
    .await?;
    Ok(Json(project_view(&p)))
}

/// `DELETE /v1/projects/{projectUid}`: with its cloud accounts and clusters.
pub async fn delete(State(state): State<AppState>, c: Caller) -> Result<NoContent, ApiError> {
    let tenant = c.principal.tenant;
    let uid = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    tx.delete_project(tenant, uid).await?;
    tx.commit(c.principal.entry("project.delete").target("project", uid))
        .await?;
    Ok(NoContent)
}

/// `GET /v1/projects/{projectUid}/cloudaccounts`.
pub async fn accounts(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<CloudAccountView>>, ApiError> {
    let project = c.require_project(&state).await?.uid;
    let got = state
        .store
        .list_cloud_accounts(c.principal.tenant, project, q.page()?)
        .await?;
    Ok(Json(PageOf {
        items: got.items.iter().map(account_view).collect(),
        next: got.next.map(|u| u.to_string()),
    }))
}

/// `POST /v1/projects/{projectUid}/cloudaccounts`.
pub async fn create_account(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateCloudAccountRequest>,
) -> Result<Created<CloudAccountView>, ApiError> {
    if body.credentials.is_empty() || body.credentials.chars().count() > MAX_CREDENTIALS_CHARS {
        return Err(ApiError::invalid(format!(
            "credentials: must be 1 to {MAX_CREDENTIALS_CHARS} characters"
        )));
    }
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    let a = tx
        .create_cloud_account(
            tenant,
            project,
            NewCloudAccount {
                name: body.name.as_str().to_owned(),
                provider: body.provider.as_str().to_owned(),
                credentials: SecretString::from(body.credentials),
            },
        )
        .await?;
    tx.commit(
        c.principal
            .entry("cloudaccount.create")
            .target("cloudaccount", a.uid)
            .detail("project", project.to_string())
            .detail("provider", a.provider.clone()),
    )
    .await?;
    Ok(Created(account_view(&a)))
}

/// `GET /v1/projects/{projectUid}/cloudaccounts/{uid}`.
pub async fn account(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
) -> Result<Json<CloudAccountView>, ApiError> {
    let uid = path_uid(&uid)?;
    let a = state
        .store
        .get_cloud_account(c.principal.tenant, c.project_uid()?, uid)
        .await?;
    Ok(Json(account_view(&a)))
}

/// `DELETE /v1/projects/{projectUid}/cloudaccounts/{uid}`.
pub async fn delete_account(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    tx.delete_cloud_account(tenant, project, uid).await?;
    tx.commit(
        c.principal
            .entry("cloudaccount.delete")
            .target("cloudaccount", uid)
            .detail("project", project.to_string()),
    )
    .await?;
    Ok(NoContent)
}

/// `GET /v1/projects/{projectUid}/clusters`.
pub async fn clusters(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<ClusterView>>, ApiError> {
    let project = c.require_project(&state).await?.uid;
    let got = state
        .store
        .list_clusters(c.principal.tenant, project, q.page()?)
        .await?;
    let bus = state
        .store
        .project_cluster_bus(c.principal.tenant, project)
        .await?;
    let now = state.clock.now_ms();
    Ok(Json(PageOf {
        items: got
            .items
            .iter()
            .map(|cl| {
                let v = cluster_view(cl);
                match bus.iter().find(|b| b.cluster_uid == cl.uid) {
                    Some(b) => with_bus(v, b, now, state.heartbeat_timeout_ms),
                    None => v,
                }
            })
            .collect(),
        next: got.next.map(|u| u.to_string()),
    }))
}

/// `POST /v1/projects/{projectUid}/clusters`.
pub async fn create_cluster(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateClusterRequest>,
) -> Result<Created<ClusterView>, ApiError> {
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    let cl = tx
        .create_cluster(
            tenant,
            project,
            NewCluster {
                name: body.name.as_str().to_owned(),
                cloud_account_uid: body.cloud_account_uid,
            },
        )
        .await?;
    tx.commit(
        c.principal
            .entry("cluster.create")
            .target("cluster", cl.uid)
            .detail("project", project.to_string())
            .detail("name", cl.name.clone()),
    )
    .await?;
    Ok(Created(cluster_view(&cl)))
}

/// `GET /v1/projects/{projectUid}/clusters/{uid}`.
pub async fn cluster(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
) -> Result<Json<ClusterView>, ApiError> {
    let uid = path_uid(&uid)?;
    let cl = state
        .store
        .get_cluster(c.principal.tenant, c.project_uid()?, uid)
        .await?;
    let b = state.store.cluster_bus(c.principal.tenant, uid).await?;
    Ok(Json(with_bus(
        cluster_view(&cl),
        &b,
        state.clock.now_ms(),
        state.heartbeat_timeout_ms,
    )))
}

/// `DELETE /v1/projects/{projectUid}/clusters/{uid}`.
pub async fn delete_cluster(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let project = c.project_uid()?;
    let mut tx = state.store.write(tenant).await?;
    tx.delete_cluster(tenant, project, uid).await?;
    tx.commit(
        c.principal
            .entry("cluster.delete")
            .target("cluster", uid)
            .detail("project", project.to_string()),
    )
    .await?;
    Ok(NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::Uid;

    #[test]
    fn connected_only_within_the_heartbeat_timeout() {
        let c = Cluster {
            uid: Uid::from_u64(1),
            tenant_uid: Uid::from_u64(2),
            project_uid: Uid::from_u64(3),
            name: "c1".into(),
            cloud_account_uid: None,
            created_at: 0,
        };
        let mut b = ClusterBus {
            cluster_uid: c.uid,
            tenant_uid: c.tenant_uid,
            user_key: Some("UKEY".into()),
            issued_at: Some(1),
            expires_at: Some(3601),
            last_seen: None,
            agent_version: None,
            hostname: None,
        };
        let v = with_bus(cluster_view(&c), &b, 100_000, 60_000);
        assert!(!v.connected && v.last_seen.is_none() && v.agent.is_none());
        assert_eq!(v.credentials_expire_at, Some(3601));
        b.last_seen = Some(50_000);
        b.agent_version = Some("0.1.0".into());
        b.hostname = Some("node-1".into());
        let v = with_bus(cluster_view(&c), &b, 100_000, 60_000);
        assert!(v.connected);
        assert_eq!(
            v.agent.as_ref().map(|a| a.hostname.as_str()),
            Some("node-1")
        );
        let v = with_bus(cluster_view(&c), &b, 200_000, 60_000);
        assert!(!v.connected);
        assert_eq!(v.last_seen, Some(50_000));
    }
}
