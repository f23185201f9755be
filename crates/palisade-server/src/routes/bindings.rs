//! Role bindings: tenant-wide at `/v1/rolebindings` (`rolebinding.*`), and
//! one project's at `/v1/projects/{projectUid}/rolebindings`
//! (`projectbinding.*`, so project admins manage their own project's
//! bindings and nothing else). Nobody can bind a role carrying permissions
//! they do not hold at that scope.

use axum::extract::{Path, State};
use palisade_core::Uid;
use palisade_core::model::RoleBinding;
use palisade_core::rbac::{RoleRef, Scope, Subject, check_grantable};
use palisade_proto::auth::PageOf;
use palisade_proto::resources::{BindingView, CreateBindingRequest, SubjectKind};
use palisade_store::BindingFilter;

use super::users::resolve_role;
use super::{Caller, Paging, escalation, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

async fn view(state: &AppState, b: &RoleBinding) -> Result<BindingView, ApiError> {
    let (kind, subject) = match b.binding.subject {
        Subject::User(u) => (SubjectKind::User, u),
        Subject::Team(t) => (SubjectKind::Team, t),
    };
    let (role, role_uid) = match b.binding.role {
        RoleRef::Builtin(r) => (r.name().to_owned(), None),
        RoleRef::Custom(u) => (
            state.store.get_role(b.tenant_uid, u).await?.name,
            Some(u.to_string()),
        ),
    };
    Ok(BindingView {
        uid: b.binding.uid.to_string(),
        subject_kind: kind,
        subject_uid: subject.to_string(),
        role,
        role_uid,
        project_uid: match b.binding.scope {
            Scope::Tenant => None,
            Scope::Project(p) => Some(p.to_string()),
        },
        created_at: b.created_at,
    })
}

async fn page_view(
    state: &AppState,
    page: palisade_store::Page<RoleBinding>,
) -> Result<PageOf<BindingView>, ApiError> {
    let mut items = Vec::with_capacity(page.items.len());
    for b in &page.items {
        items.push(view(state, b).await?);
    }
    Ok(PageOf {
        items,
        next: page.next.map(|u| u.to_string()),
    })
}

async fn bind(
    state: &AppState,
    c: &Caller,
    body: CreateBindingRequest,
    scope: Scope,
    action: &str,
) -> Result<Created<BindingView>, ApiError> {
    let tenant = c.principal.tenant;
    let (role, perms, label) = resolve_role(state, tenant, &body.role).await?;
    check_grantable(&c.grants, perms, scope).map_err(escalation)?;
    let subject = match body.subject_kind {
        SubjectKind::User => Subject::User(body.subject_uid),
        SubjectKind::Team => Subject::Team(body.subject_uid),
    };
    let mut tx = state.store.write(tenant).await?;
    let b = tx.create_binding(tenant, subject, role, scope).await?;
    let entry = c
        .principal
        .entry(action)
        .target("rolebinding", b.binding.uid)
        .detail("role", label)
        .detail("subject", body.subject_uid.to_string());
    let entry = match scope {
        Scope::Project(p) => entry.detail("project", p.to_string()),
        Scope::Tenant => entry,
    };
    tx.commit(entry).await?;
    Ok(Created(view(state, &b).await?))
}

/// `GET /v1/rolebindings`.
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<BindingView>>, ApiError> {
    let page = state
        .store
        .list_bindings(c.principal.tenant, BindingFilter::default(), q.page()?)
        .await?;
    Ok(Json(page_view(&state, page).await?))
}

/// `POST /v1/rolebindings`: at tenant scope, or at `projectUid`'s.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateBindingRequest>,
) -> Result<Created<BindingView>, ApiError> {
    let scope = match body.project_uid {
        None => Scope::Tenant,
        Some(p) => Scope::Project(p),
    };
    bind(&state, &c, body, scope, "rolebinding.create").await
}

/// `GET /v1/rolebindings/{uid}`.
pub async fn get(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<BindingView>, ApiError> {
    let uid = path_uid(&uid)?;
    let b = state.store.get_binding(c.principal.tenant, uid).await?;
    Ok(Json(view(&state, &b).await?))
}

async fn unbind(
    state: &AppState,
    c: &Caller,
    uid: Uid,
    project: Option<Uid>,
    action: &str,
) -> Result<NoContent, ApiError> {
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    let b = tx.delete_binding(tenant, uid, project).await?;
    let role = match b.role {
        RoleRef::Builtin(r) => r.name().to_owned(),
        RoleRef::Custom(u) => u.to_string(),
    };
    tx.commit(
        c.principal
            .entry(action)
            .target("rolebinding", uid)
            .detail("role", role),
    )
    .await?;
    Ok(NoContent)
}

/// `DELETE /v1/rolebindings/{uid}`.
pub async fn delete(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    unbind(&state, &c, uid, None, "rolebinding.delete").await
}

/// `GET /v1/projects/{projectUid}/rolebindings`.
pub async fn project_list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<BindingView>>, ApiError> {
    let project = c.require_project(&state).await?.uid;
    let page = state
        .store
        .list_bindings(
            c.principal.tenant,
            BindingFilter {
                project: Some(project),
                ..BindingFilter::default()
            },
            q.page()?,
        )
        .await?;
    Ok(Json(page_view(&state, page).await?))
}

/// `POST /v1/projects/{projectUid}/rolebindings`: always at this project's
/// scope (a `projectUid` in the body must name this project).
pub async fn project_create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateBindingRequest>,
) -> Result<Created<BindingView>, ApiError> {
    let project = c.require_project(&state).await?.uid;
    if body.project_uid.is_some_and(|p| p != project) {
        // A rule between body and path the document cannot state: 422.
        return Err(ApiError::unprocessable(
            "projectUid, when given, must be the project of the path",
        ));
    }
    bind(
        &state,
        &c,
        body,
        Scope::Project(project),
        "projectbinding.create",
    )
    .await
}

/// `DELETE /v1/projects/{projectUid}/rolebindings/{uid}`.
pub async fn project_delete(
    State(state): State<AppState>,
    c: Caller,
    Path((_, uid)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let project = c.project_uid()?;
    unbind(&state, &c, uid, Some(project), "projectbinding.delete").await
}
