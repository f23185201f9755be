//! The router and its layers: request UID, access log, security headers,
//! body limit, and the health endpoints. `app(state)` builds the router so
//! tests can drive it without a socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use palisade_core::{Clock, Uid};
use palisade_proto::{Health, REQUEST_UID_HEADER, codes};
use palisade_store::Store;

use crate::error::{ApiError, REQUEST_UID};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Authentication.
    pub auth: Arc<crate::auth::AuthState>,
    /// The platform tenant (`system`): its log records platform-wide events
    /// such as attempts on unknown tenants.
    pub platform_tenant: Uid,
}

/// The full router with every layer.
pub fn app(state: AppState) -> Router {
    use crate::routes::{apikeys, audit, auth, mfa, settings, users};
    let auth_routes = Router::new()
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/mfa", post(auth::mfa))
        .route("/v1/auth/refresh", post(auth::refresh))
        .route("/v1/auth/password", post(auth::change_password))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::rate_limit,
        ));
    Router::new()
        .merge(auth_routes)
        .route("/v1/auth/logout", post(auth::logout))
        .route("/.well-known/jwks.json", get(auth::jwks))
        .route("/v1/me", get(users::me))
        .route("/v1/me/mfa/totp", post(mfa::enrol))
        .route("/v1/me/mfa/totp/confirm", post(mfa::confirm))
        .route("/v1/me/mfa/totp/disable", post(mfa::disable))
        .route("/v1/users", get(users::list).post(users::create))
        .route("/v1/users/{uid}", get(users::get).delete(users::delete))
        .route("/v1/users/{uid}/disable", post(users::disable))
        .route("/v1/users/{uid}/enable", post(users::enable))
        .route(
            "/v1/users/{uid}/reset-password",
            post(users::reset_password),
        )
        .route(
            "/v1/users/{uid}/sessions/revoke",
            post(users::revoke_sessions),
        )
        .route("/v1/users/{uid}/unlock", post(users::unlock))
        .route("/v1/apikeys", get(apikeys::list).post(apikeys::create))
        .route("/v1/apikeys/{uid}", delete(apikeys::revoke))
        .route(
            "/v1/settings/password-policy",
            get(settings::get_password_policy).put(settings::put_password_policy),
        )
        .route(
            "/v1/settings/mfa",
            get(settings::get_mfa).put(settings::put_mfa),
        )
        .route("/v1/audit", get(audit::list))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(request_uid))
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(Health {
            status: "ready".into(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database not answering");
            Err(not_ready())
        }
        Err(_) => Err(not_ready()),
    }
}

fn not_ready() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::NOT_READY,
        "the database is not answering",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

/// Gives every request a fresh 48-bit UID (never taken from the client),
/// returns it in `X-Request-Uid`, and writes one access-log line.
async fn request_uid(req: Request, next: Next) -> Response {
    let uid = Uid::generate()
        .map(|u| u.to_string())
        .unwrap_or_else(|_| "000000000000".to_owned());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let mut resp = REQUEST_UID.scope(uid.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&uid) {
        resp.headers_mut()
            .insert(HeaderName::from_static(REQUEST_UID_HEADER), v);
    }
    tracing::info!(
        request_uid = %uid,
        method = %method,
        route = %route,
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// Security headers on every response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    resp.into_response()
}
