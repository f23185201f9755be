//! Health, readiness and the API document.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use palisade_proto::{BusHealth, Health, codes};

use crate::ApiError;
use crate::app::AppState;
use crate::json::Json;

/// `GET /healthz`.
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        bus: None,
    })
}

/// `GET /readyz`: the database answers within 2 s.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(Health {
            status: "ready".into(),
            bus: state.bus.as_ref().map(|b| {
                let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                BusHealth {
                    connected: b.is_connected(),
                    pushes_applied: n(&b.stats.pushes_applied),
                    push_failures: n(&b.stats.push_failures),
                    slow_consumers: n(&b.stats.slow_consumers),
                    refused_messages: n(&b.stats.refused_messages),
                }
            }),
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

/// `GET /v1/openapi.json`.
pub async fn openapi() -> crate::openapi::Served {
    crate::openapi::Served
}
