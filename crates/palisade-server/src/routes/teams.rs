//! `/v1/teams`: teams of users, and their members. Adding a member gives
//! them every role bound to the team, so it needs those permissions
//! (no escalation through teams).

use axum::extract::{Path, State};
use palisade_core::model::Team;
use palisade_core::rbac::{Subject, check_team_membership};
use palisade_proto::auth::PageOf;
use palisade_proto::resources::{
    CreateTeamRequest, DescriptionRequest, TeamMemberRequest, TeamMembersView, TeamView,
};
use palisade_store::{BindingFilter, PageRequest};

use super::{Caller, Paging, escalation, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

fn view(t: &Team) -> TeamView {
    TeamView {
        uid: t.uid.to_string(),
        name: t.name.clone(),
        description: t.description.clone(),
        created_at: t.created_at,
    }
}

/// `GET /v1/teams`.
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<TeamView>>, ApiError> {
    let page = state
        .store
        .list_teams(c.principal.tenant, q.page()?)
        .await?;
    Ok(Json(PageOf {
        items: page.items.iter().map(view).collect(),
        next: page.next.map(|u| u.to_string()),
    }))
}

/// `POST /v1/teams`.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateTeamRequest>,
) -> Result<Created<TeamView>, ApiError> {
    let tenant = c.principal.tenant;
    let description = body.description.as_ref().map(|d| d.as_str()).unwrap_or("");
    let mut tx = state.store.write(tenant).await?;
    let team = tx
        .create_team(tenant, body.name.as_str(), description)
        .await?;
    tx.commit(
        c.principal
            .entry("team.create")
            .target("team", team.uid)
            .detail("name", team.name.clone()),
    )
    .await?;
    Ok(Created(view(&team)))
}

/// `GET /v1/teams/{uid}`.
pub async fn get(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<TeamView>, ApiError> {
    let uid = path_uid(&uid)?;
    Ok(Json(view(
        &state.store.get_team(c.principal.tenant, uid).await?,
    )))
}

/// `PATCH /v1/teams/{uid}`.
pub async fn update(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
    ValidJson(body): ValidJson<DescriptionRequest>,
) -> Result<Json<TeamView>, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    let team = tx
        .set_team_description(tenant, uid, body.description.as_str())
        .await?;
    tx.commit(
        c.principal
            .entry("team.update")
            .target("team", uid)
            .detail("changed", "description"),
    )
    .await?;
    Ok(Json(view(&team)))
}

/// `DELETE /v1/teams/{uid}`: the team, its memberships and its bindings.
pub async fn delete(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.delete_team(tenant, uid).await?;
    tx.commit(c.principal.entry("team.delete").target("team", uid))
        .await?;
    Ok(NoContent)
}

/// `GET /v1/teams/{uid}/members`: paginated like every collection (the
/// store hands over the members in UID order; the page is cut here).
pub async fn members(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<TeamMembersView>, ApiError> {
    let uid = path_uid(&uid)?;
    let page = q.page()?;
    let members = state.store.team_members(c.principal.tenant, uid).await?;
    let size = page.size() as usize;
    let mut rest = members
        .into_iter()
        .filter(|m| page.after.is_none_or(|a| *m > a));
    let items: Vec<String> = rest.by_ref().take(size).map(|u| u.to_string()).collect();
    let next = match rest.next() {
        Some(_) => items.last().cloned(),
        None => None,
    };
    Ok(Json(TeamMembersView { items, next }))
}

/// `POST /v1/teams/{uid}/members`.
pub async fn add_member(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
    ValidJson(body): ValidJson<TeamMemberRequest>,
) -> Result<NoContent, ApiError> {
    let team = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    state.store.get_team(tenant, team).await?;
    // Everything bound to the team must be grantable by the caller.
    let mut bound = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 500,
    };
    for _ in 0..100 {
        let got = state
            .store
            .list_bindings(
                tenant,
                BindingFilter {
                    subject: Some(Subject::Team(team)),
                    ..BindingFilter::default()
                },
                page,
            )
            .await?;
        for b in &got.items {
            let perms = match b.binding.role {
                palisade_core::rbac::RoleRef::Builtin(r) => r.permissions(),
                palisade_core::rbac::RoleRef::Custom(r) => {
                    state.store.get_role(tenant, r).await?.permissions
                }
            };
            bound.push((perms, b.binding.scope));
        }
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    check_team_membership(&c.grants, bound).map_err(escalation)?;
    let mut tx = state.store.write(tenant).await?;
    tx.add_team_member(tenant, team, body.user_uid).await?;
    tx.commit(
        c.principal
            .entry("team.update")
            .target("team", team)
            .detail("memberAdded", body.user_uid.to_string()),
    )
    .await?;
    Ok(NoContent)
}

/// `DELETE /v1/teams/{uid}/members/{userUid}`.
pub async fn remove_member(
    State(state): State<AppState>,
    c: Caller,
    Path((team, user)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    let team = path_uid(&team)?;
    let user = path_uid(&user)?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.remove_team_member(tenant, team, user).await?;
    tx.commit(
        c.principal
            .entry("team.update")
            .target("team", team)
            .detail("memberRemoved", user.to_string()),
    )
    .await?;
    Ok(NoContent)
}
