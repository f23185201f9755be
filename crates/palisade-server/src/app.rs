//! The router and its layers: request UID, access log, security headers,
//! body limit, and the health endpoints. `app(state)` builds the router so
//! tests can drive it without a socket.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use palisade_core::{Clock, Uid};
use palisade_proto::{REQUEST_UID_HEADER, codes};
use palisade_store::Store;

use crate::error::{ApiError, REQUEST_UID};
use crate::gateway::{Access, ErrorInfo, LogSlot};

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
    /// Rate limits per client address and per tenant.
    pub limits: Arc<crate::gateway::Limits>,
    /// The tenant bus (`serve --bus`); its routes answer 503 without it.
    pub bus: Option<Arc<crate::bus::Bus>>,
    /// A cluster is `connected` while its last heartbeat is this recent (ms).
    pub heartbeat_timeout_ms: i64,
}

/// The full router with every layer. Routes come only from
/// [`crate::routes::table`], each behind its [`crate::gateway::gate`].
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for route in crate::routes::table() {
        let path = route.spec.path;
        let public_auth = path.starts_with("/v1/auth/") && route.spec.access == Access::Public;
        let gate = crate::gateway::Gate {
            state: state.clone(),
            spec: Arc::new(route.spec),
        };
        let mut handler = route
            .router
            .route_layer(middleware::from_fn_with_state(gate, crate::gateway::gate));
        if public_auth {
            handler = handler.route_layer(middleware::from_fn_with_state(
                state.clone(),
                crate::routes::auth::rate_limit,
            ));
        }
        router = router.route(path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state,
            crate::gateway::limit_per_ip,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(request_uid))
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
async fn request_uid(mut req: Request, next: Next) -> Response {
    let uid = Uid::generate_per_thread().to_string();
    let slot = LogSlot::default();
    req.extensions_mut().insert(slot.clone());
    let client_ip = crate::gateway::client_ip(req.extensions());
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
    let f = slot.get();
    let (tenant, session, user, api_key) = (
        f.tenant.map(|u| u.to_string()),
        f.session.map(|u| u.to_string()),
        f.user.map(|u| u.to_string()),
        f.api_key.map(|u| u.to_string()),
    );
    fn show(u: &Option<String>) -> &str {
        u.as_deref().unwrap_or("")
    }
    let status = resp.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Rejections carry their code and reason (never a request value);
    // `None` fields are left out of the line.
    let error = resp.extensions().get::<ErrorInfo>();
    tracing::info!(
        request_uid = uid.as_str(),
        method = method.as_str(),
        route = route.as_str(),
        status,
        latency_ms,
        client_ip = %client_ip,
        tenant_uid = show(&tenant),
        session_uid = show(&session),
        user_uid = show(&user),
        api_key_uid = show(&api_key),
        code = error.map(|e| e.code),
        reason = error.map(|e| e.message.as_str()),
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
