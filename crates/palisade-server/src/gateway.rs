//! The gateway: every route is declared once, with who may call it, and
//! registered only through [`crate::routes::table`]; [`gate`] enforces the
//! declaration before the handler runs.
//!
//! For each request on a non-public route the gate:
//! 1. authenticates the bearer credential (the tenant comes from it, never
//!    from the request);
//! 2. refuses everything but MFA enrolment while enrolment is pending;
//! 3. applies the per-tenant rate limit;
//! 4. decides the route's permission with `palisade_core::rbac::decide` on
//!    the route's target — for project routes, after finding the project in
//!    the caller's tenant (missing, foreign or invisible projects are 404);
//!    a refusal is answered 403 and recorded as a denied audit event;
//! 5. hands the handler a [`Caller`], and after the handler records failed
//!    changes (4xx/5xx on a mutating method) as failure events, unless the
//!    handler recorded them itself.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use palisade_core::Uid;
use palisade_core::audit::Outcome;
use palisade_core::model::Project;
use palisade_core::rbac::{Grants, Level, Permission, Target};
use palisade_proto::codes;
use palisade_store::StoreError;

use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::{Principal, authenticate};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, keys, login, the API document).
    Public,
    /// Any authenticated caller, also while MFA enrolment is pending
    /// (enrolment itself, logout, `/v1/me`).
    Enrolling,
    /// Any authenticated caller acting on their own things; the handler
    /// narrows what it shows by the caller's permissions.
    SelfService,
    /// Callers holding this permission on the route's target.
    Permission(Permission),
}

/// One route's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path template (axum syntax, `{name}` parameters).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The audit action of its changes (and of their failures).
    pub action: &'static str,
    /// One line for the API document.
    pub summary: &'static str,
}

impl RouteSpec {
    /// True for methods that change state.
    pub fn mutates(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
    }
}

/// The authenticated, authorized caller of a gated route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// What they may do.
    pub grants: Arc<Grants>,
    /// The project the route names (`{projectUid}`). Its existence in the
    /// caller's tenant is not checked when the caller may act on it: every
    /// query of a project route filters by tenant and project, so a missing
    /// or foreign project answers 404 there (see [`Caller::require_project`]).
    pub project: Option<Uid>,
}

impl Caller {
    /// Whether the caller holds `permission` on `target`.
    pub fn may(&self, permission: Permission, target: Target) -> bool {
        self.grants.decide(permission, target).is_allowed()
    }

    /// The route's project UID (for handlers of project routes).
    pub fn project_uid(&self) -> Result<Uid, ApiError> {
        self.project
            .ok_or_else(|| ApiError::internal("a project route ran without its project"))
    }

    /// The route's project, read from the store: 404 when it does not exist
    /// in the caller's tenant (for handlers whose queries would otherwise
    /// answer an empty list).
    pub async fn require_project(&self, state: &AppState) -> Result<Project, ApiError> {
        Ok(state
            .store
            .get_project(self.principal.tenant, self.project_uid()?)
            .await?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("a handler needing a caller ran on an ungated route"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state)
            .await
            .map(|c| c.principal)
    }
}

/// Marks a response whose failure the handler recorded itself.
#[derive(Debug, Clone, Copy)]
pub struct Recorded;

/// The code and message of an error response, for the access log and the
/// failure events.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// Stable code.
    pub code: &'static str,
    /// Safe message (never a value from the request).
    pub message: String,
}

/// Fields the access log line adds once the caller is known.
#[derive(Debug, Default, Clone)]
pub struct LogFields {
    /// Tenant of the caller.
    pub tenant: Option<Uid>,
    /// Session used.
    pub session: Option<Uid>,
    /// Acting user.
    pub user: Option<Uid>,
    /// API key used.
    pub api_key: Option<Uid>,
}

/// Shared slot the gate fills for the access log.
#[derive(Debug, Clone, Default)]
pub struct LogSlot(pub Arc<Mutex<LogFields>>);

impl LogSlot {
    /// The fields now.
    pub fn get(&self) -> LogFields {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, f: LogFields) {
        match self.0.lock() {
            Ok(mut g) => *g = f,
            Err(p) => *p.into_inner() = f,
        }
    }
}

/// A keyed rate limiter (per client address, per tenant).
pub struct KeyedLimiter<K: std::hash::Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    calls: AtomicU64,
}

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

impl<K: std::hash::Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` requests per minute per key, bursts up to that many
    /// (0 disables).
    pub fn new(per_minute: u32) -> Self {
        KeyedLimiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            calls: AtomicU64::new(0),
        }
    }

    /// `Ok`, or the wait in ms before this key may call again.
    pub fn check(&self, key: &K) -> Result<(), i64> {
        let Some(l) = &self.limiter else {
            return Ok(());
        };
        // Forget idle keys now and then so memory stays bounded.
        if self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(4096)
        {
            l.retain_recent();
        }
        l.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)
        })
    }
}

/// Rate limits of the whole API.
#[derive(Debug)]
pub struct Limits {
    /// Per client address, every route.
    pub per_ip: KeyedLimiter<IpAddr>,
    /// Per tenant, every authenticated route.
    pub per_tenant: KeyedLimiter<Uid>,
}

/// The client address of a request (unspecified without a socket, as in
/// router tests).
pub fn client_ip(ext: &axum::http::Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Per-client-address rate limit of every route (429 + Retry-After).
pub async fn limit_per_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = client_ip(req.extensions());
    match state.limits.per_ip.check(&ip) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            tracing::warn!(client_ip = %ip, "rate limit per client address exceeded");
            crate::auth::throttle::too_many(
                codes::RATE_LIMITED,
                "too many requests; retry later",
                wait,
            )
            .into_response()
        }
    }
}

/// State of one route's gate.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Shared state.
    pub state: AppState,
    /// The route.
    pub spec: Arc<RouteSpec>,
}

/// The gate (see the module docs).
pub async fn gate(State(g): State<Gate>, req: Request, next: Next) -> Response {
    let spec = &*g.spec;
    if spec.access == Access::Public {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let caller = match admit(&g.state, spec, &mut parts).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(caller.clone());
    let resp = next.run(Request::from_parts(parts, body)).await;
    let status = resp.status();
    if spec.mutates()
        && (status.is_client_error() || status.is_server_error())
        && resp.extensions().get::<Recorded>().is_none()
    {
        let info = resp.extensions().get::<ErrorInfo>();
        let code = info.map(|i| i.code).unwrap_or("-");
        // A failure to write is not recorded by another write.
        if code != codes::AUDIT_UNAVAILABLE && code != codes::DATABASE_BUSY {
            let entry = caller
                .principal
                .entry(spec.action)
                .outcome(Outcome::Failure)
                .detail("status", status.as_u16())
                .detail("reason", code);
            let entry = match &caller.project {
                Some(p) => entry.detail("project", p.to_string()),
                None => entry,
            };
            if let Err(e) = g.state.store.record(entry).await {
                tracing::error!(error = %e, "could not record a failed change");
            }
        }
    }
    resp
}

async fn admit(state: &AppState, spec: &RouteSpec, parts: &mut Parts) -> Result<Caller, ApiError> {
    let (principal, rows) = authenticate(parts, state).await?;
    // Known from here on: the access log names who was refused, too.
    if let Some(slot) = parts.extensions.get::<LogSlot>() {
        slot.set(LogFields {
            tenant: Some(principal.tenant),
            session: principal.session,
            user: Some(principal.user),
            api_key: principal.api_key,
        });
    }
    if principal.mfa_enrollment_pending && spec.access != Access::Enrolling {
        return Err(ApiError::forbidden(
            codes::MFA_ENROLLMENT_REQUIRED,
            "this tenant requires MFA: enrol at /v1/me/mfa/totp first",
        ));
    }
    if let Err(wait) = state.limits.per_tenant.check(&principal.tenant) {
        tracing::warn!(tenant_uid = %principal.tenant, "rate limit per tenant exceeded");
        return Err(crate::auth::throttle::too_many(
            codes::RATE_LIMITED,
            "too many requests for this tenant; retry later",
            wait,
        ));
    }
    let grants = Arc::new(Grants::new(principal.tenant == state.platform_tenant, rows));
    let Access::Permission(permission) = spec.access else {
        return Ok(Caller {
            principal,
            grants,
            project: None,
        });
    };
    let (target, project) = match permission.level() {
        Level::Platform => (Target::Platform, None),
        Level::Tenant => (Target::Tenant, None),
        Level::Project => {
            let uid = project_param(parts).await?;
            // A project the caller cannot see does not exist for them.
            if !grants
                .decide(Permission::ProjectGet, Target::Project(uid))
                .is_allowed()
            {
                return Err(ApiError::not_found());
            }
            (Target::Project(uid), Some(uid))
        }
    };
    if let Err(denial) = grants.decide(permission, target).into_result() {
        // Missing and foreign projects are 404 whatever the caller holds.
        if let Some(p) = project {
            match state.store.get_project(principal.tenant, p).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => return Err(ApiError::not_found()),
                Err(e) => return Err(e.into()),
            }
        }
        let entry = principal
            .entry(permission.as_str())
            .outcome(Outcome::Denied)
            .detail("permission", permission.as_str())
            .detail("reason", denial.code())
            .detail("route", spec.path)
            .detail("method", spec.method.as_str());
        let entry = match target {
            Target::Project(p) => entry.detail("project", p.to_string()),
            _ => entry,
        };
        state.store.record(entry).await?;
        return Err(ApiError::forbidden(
            codes::PERMISSION_DENIED,
            format!("you do not hold {permission} here"),
        ));
    }
    Ok(Caller {
        principal,
        grants,
        project,
    })
}

/// The `{projectUid}` path parameter, checked.
async fn project_param(parts: &mut Parts) -> Result<Uid, ApiError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::internal("path parameters unavailable"))?;
    let raw = params
        .iter()
        .find(|(k, _)| *k == "projectUid")
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| ApiError::internal("a project route has no {projectUid}"))?;
    Uid::parse(&raw)
        .map_err(|_| ApiError::invalid("projectUid must be a UID (12 lowercase hex characters)"))
}

/// 403 for a self-service route whose handler found the caller lacks a
/// permission for something beyond their own things.
pub fn denied(permission: Permission) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::PERMISSION_DENIED,
        format!("you do not hold {permission} here"),
    )
}
