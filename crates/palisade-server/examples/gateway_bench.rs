//! Bench server for the gateway benchmark (`bench/gateway.sh`): serves, on
//! two loopback ports over the same TLS configuration and store,
//!
//! - **secured**: the real application (`app`): request UID, access log,
//!   security headers, per-IP and per-tenant limits, authentication,
//!   authorization, validation;
//! - **bare**: the same handler (`routes::projects::cluster`) mounted alone,
//!   with the caller it needs injected as a constant — no security layer.
//!
//! It creates a project and a cluster and a session of the bootstrap
//! administrator, prints one JSON line (URLs, token, paths) and serves until
//! killed. Benchmark tooling only: not part of Palisade.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use palisade_core::audit::AuditContext;
use palisade_core::model::SYSTEM_TENANT;
use palisade_core::rbac::Grants;
use palisade_core::{Clock, SystemClock};
use palisade_server::app::{AppState, app};
use palisade_server::auth::principal::Principal;
use palisade_server::gateway::{Caller, KeyedLimiter, Limits};
use palisade_server::{ServeConfig, bootstrap};
use palisade_store::{NewCluster, Store};

#[tokio::main]
async fn main() {
    palisade_server::install_crypto_provider();
    // The access log, as `palisade serve` writes it (JSON lines on stderr);
    // GATEWAY_BENCH_LOG=warn leaves it out, to measure what it costs.
    let filter = std::env::var("GATEWAY_BENCH_LOG").unwrap_or_else(|_| "info".into());
    palisade_server::logging::install(true, &filter, std::io::stderr);
    let dir = std::env::args()
        .nth(1)
        .expect("usage: gateway_bench DATA_DIR");
    let mut cfg = ServeConfig::for_data_dir(std::path::Path::new(&dir));
    cfg.gateway.per_ip_per_minute = 10_000_000;
    cfg.gateway.per_tenant_per_minute = 10_000_000;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let hashes = Arc::new(palisade_server::auth::hashpool::HashPool::for_server().unwrap());
    let prepared = bootstrap::prepare(&cfg, Arc::clone(&clock), &hashes)
        .await
        .unwrap();
    let store = prepared.store.clone();
    let auth =
        palisade_server::auth::AuthState::new(store.keys().clone(), cfg.auth.clone(), hashes)
            .await
            .unwrap();
    let tenant = store.tenant_by_name(SYSTEM_TENANT).await.unwrap().uid;
    let admin = store
        .list_users(tenant, palisade_store::PageRequest::default())
        .await
        .unwrap()
        .items
        .remove(0);
    // Fixtures: a project, a cluster, a live session of the admin.
    let sys = AuditContext::system();
    let mut tx = store.write(tenant).await.unwrap();
    let project = tx.create_project(tenant, "bench", "").await.unwrap();
    let cluster = tx
        .create_cluster(
            tenant,
            project.uid,
            NewCluster {
                name: "bench".into(),
                cloud_account_uid: None,
            },
        )
        .await
        .unwrap();
    let now = clock.now_ms();
    let session = tx
        .create_session(
            tenant,
            admin.uid,
            &["pwd".to_owned()],
            now + 12 * 3600 * 1000,
            "bench-refresh-hash",
        )
        .await
        .unwrap();
    tx.commit(sys.entry("bench.setup")).await.unwrap();
    let token = auth.access_token(&session, now, false).unwrap();
    let state = AppState {
        store: store.clone(),
        clock: Arc::clone(&clock),
        auth: Arc::new(auth),
        platform_tenant: tenant,
        limits: Arc::new(Limits {
            per_ip: KeyedLimiter::new(0),
            per_tenant: KeyedLimiter::new(0),
        }),
        bus: None,
        heartbeat_timeout_ms: 60_000,
    };
    // The bare handler gets the caller the gate would have built.
    let grants = Arc::new(Grants::new(
        true,
        store.grants_of(tenant, admin.uid).await.unwrap(),
    ));
    let caller = Caller {
        principal: Principal {
            tenant,
            user: admin.uid,
            session: Some(session.uid),
            api_key: None,
            amr: vec!["pwd".into()],
            mfa_enrollment_pending: false,
            ctx: sys.as_user(admin.uid, Some(session.uid)),
        },
        grants,
        project: Some(project.uid),
    };
    let inject = move |mut req: Request, next: Next| {
        let caller = caller.clone();
        async move {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
    };
    let bare = Router::new()
        .route(
            "/v1/projects/{projectUid}/clusters/{uid}",
            get(palisade_server::routes::projects::cluster),
        )
        .layer(middleware::from_fn(inject))
        .with_state(state.clone());
    let secured = app(state);
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(prepared.tls.clone());
    let bind = |router: Router| {
        let tls = tls.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
        tokio::spawn(async move {
            server
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await
        });
        addr
    };
    let secured_addr = bind(secured);
    let bare_addr = bind(bare);
    let path = format!("/v1/projects/{}/clusters/{}", project.uid, cluster.uid);
    println!(
        "{}",
        serde_json::json!({
            "secured": format!("https://localhost:{}", secured_addr.port()),
            "bare": format!("https://localhost:{}", bare_addr.port()),
            "ca": prepared.ca_cert.as_ref().map(|p| p.display().to_string()),
            "token": token,
            "path": path,
        })
    );
    tokio::signal::ctrl_c().await.ok();
}
