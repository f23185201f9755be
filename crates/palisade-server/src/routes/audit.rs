//! `GET /v1/audit`: the caller's tenant's audit log, filtered and paged.
//! Platform administrators (`tenant.get` on the platform) may name another
//! tenant's log, including the kept log of a deleted tenant.

use axum::extract::State;
use palisade_core::Uid;
use palisade_core::audit::Outcome;
use palisade_proto::audit::AuditPageView;
use palisade_store::{AuditFilter, AuditOrder, AuditPage};
use serde::Deserialize;

use crate::ApiError;
use crate::app::AppState;
use crate::gateway::Caller;
use crate::json::{Json, ValidQuery};

/// Query parameters of `GET /v1/audit`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Another tenant's log (platform administrators only).
    #[schemars(with = "Option<Uid>")]
    pub tenant: Option<String>,
    /// Events at or after this time (ms since the epoch).
    #[schemars(range(min = 0))]
    pub from: Option<i64>,
    /// Events before this time (ms).
    #[schemars(range(min = 0))]
    pub to: Option<i64>,
    /// Events of this acting user (UID).
    #[schemars(with = "Option<Uid>")]
    pub actor: Option<String>,
    /// Events of this action (`user.create`), or under a prefix ending in `.` (`user.`).
    #[schemars(length(min = 1, max = 64), pattern(r"^[a-z0-9.-]+$"))]
    pub action: Option<String>,
    /// Events on this object (UID).
    #[schemars(with = "Option<Uid>")]
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    #[schemars(extend("enum" = ["success", "failure", "denied", null]))]
    pub outcome: Option<String>,
    /// Cursor: the `next` of the previous page.
    #[schemars(range(min = 0))]
    pub after: Option<i64>,
    /// Page size, 1–1000 (default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// `desc` (newest first, default) or `asc`.
    #[schemars(extend("enum" = ["desc", "asc", null]))]
    pub order: Option<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// Validates the query into a filter and a page.
pub fn parse(q: &AuditQuery) -> Result<(AuditFilter, AuditPage), ApiError> {
    let uid = |name: &str, v: &Option<String>| {
        v.as_deref().map(Uid::parse).transpose().map_err(|_| {
            ApiError::invalid(format!(
                "{name} must be a UID (12 lowercase hex characters)"
            ))
        })
    };
    if q.from.is_some_and(|t| t < 0) || q.to.is_some_and(|t| t < 0) {
        return Err(ApiError::invalid(
            "from and to are times in ms since the epoch",
        ));
    }
    if let Some(a) = &q.action
        && !is_name(a)
    {
        return Err(ApiError::invalid(
            "action must be 1 to 64 characters of lowercase letters, digits, '.' and '-'",
        ));
    }
    let target = uid("target", &q.target)?.map(|u| u.to_string());
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            Outcome::parse(o)
                .ok_or_else(|| ApiError::invalid("outcome must be success, failure or denied"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let order = match q.order.as_deref() {
        None | Some("desc") => AuditOrder::NewestFirst,
        Some("asc") => AuditOrder::OldestFirst,
        Some(_) => return Err(ApiError::invalid("order must be asc or desc")),
    };
    if q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid(
            "after must be the next value of a previous page",
        ));
    }
    Ok((
        AuditFilter {
            from: q.from,
            to: q.to,
            actor_uid: uid("actor", &q.actor)?,
            action: q.action.clone(),
            target_uid: target,
            outcome,
        },
        AuditPage {
            after: q.after,
            limit,
            order,
        },
    ))
}

/// `GET /v1/audit`.
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> Result<Json<AuditPageView>, ApiError> {
    let (filter, page) = parse(&q)?;
    let p = &c.principal;
    let tenant = match q.tenant.as_deref() {
        None => p.tenant,
        Some(t) => {
            let t = Uid::parse(t).map_err(|_| {
                ApiError::invalid("tenant must be a UID (12 lowercase hex characters)")
            })?;
            // Another tenant's log is as invisible as a missing one.
            let platform = c.may(
                palisade_core::rbac::Permission::TenantGet,
                palisade_core::rbac::Target::Platform,
            );
            if t != p.tenant && !platform {
                return Err(ApiError::not_found());
            }
            t
        }
    };
    let got = state.store.list_audit(tenant, &filter, page).await?;
    Ok(Json(AuditPageView {
        items: got.items.iter().map(crate::audit::view).collect(),
        next: got.next.map(|n| n.to_string()),
    }))
}
