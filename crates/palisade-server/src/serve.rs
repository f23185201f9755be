//! Running the HTTPS server: bind, serve, shut down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use palisade_core::Clock;
use palisade_store::Store;
use secrecy::SecretString;

use crate::app::{AppState, app};
use crate::bootstrap::prepare;
use crate::{ServeConfig, ServerError};

/// A running server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// The internal CA certificate, when the server certificate is generated.
    pub ca_cert: Option<PathBuf>,
    /// The bootstrap admin's one-time password, on the start that created it.
    pub admin_password: Option<SecretString>,
    /// The store (for tests and tools).
    pub store: Arc<palisade_store::SqlStore>,
    /// The SIEM stream, when configured.
    pub audit_stream: Option<Arc<crate::audit::StreamSink>>,
    handle: axum_server::Handle<SocketAddr>,
    background: Vec<tokio::task::JoinHandle<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Prepares the data directory and starts serving HTTPS.
pub async fn start(cfg: ServeConfig, clock: Arc<dyn Clock>) -> Result<Running, ServerError> {
    let hashes = Arc::new(crate::auth::hashpool::HashPool::for_server()?);
    let mut prepared = prepare(&cfg, Arc::clone(&clock), &hashes).await?;
    let audit_stream = match &cfg.audit.stream {
        Some(target) => {
            let sink = crate::audit::start_stream(target).await?;
            prepared.store = Arc::new(
                (*prepared.store)
                    .clone()
                    .with_audit_sink(Arc::clone(&sink) as Arc<dyn palisade_store::AuditSink>),
            );
            Some(sink)
        }
        None => None,
    };
    let listener = std::net::TcpListener::bind(cfg.listen).map_err(ServerError::Listen)?;
    listener
        .set_nonblocking(true)
        .map_err(ServerError::Listen)?;
    let local_addr = listener.local_addr().map_err(ServerError::Listen)?;
    let auth = crate::auth::AuthState::new(prepared.store.keys().clone(), cfg.auth.clone(), hashes)
        .await?;
    let platform_tenant = prepared
        .store
        .tenant_by_name(palisade_core::model::SYSTEM_TENANT)
        .await?
        .uid;
    let state = AppState {
        store: prepared.store.clone(),
        clock,
        auth: Arc::new(auth),
        platform_tenant,
        limits: Arc::new(crate::gateway::Limits {
            per_ip: crate::gateway::KeyedLimiter::new(cfg.gateway.per_ip_per_minute),
            per_tenant: crate::gateway::KeyedLimiter::new(cfg.gateway.per_tenant_per_minute),
        }),
        bus: None,
        heartbeat_timeout_ms: cfg.bus_heartbeat_timeout_ms,
    };
    let mut state = state;
    let mut background = Vec::new();
    if let Some(bus_cfg) = &cfg.bus {
        let bus = crate::bus::Bus::new(&prepared.store.keys().get(), bus_cfg.clone())?;
        let ca = match (&bus_cfg.ca, &prepared.ca_cert) {
            (Some(ca), _) => ca.clone(),
            (None, Some(internal)) => internal.clone(),
            (None, None) => {
                return Err(ServerError::Config(
                    "--bus-ca is required when the server certificate is imported (there is no internal CA to trust)".into(),
                ));
            }
        };
        background.push(crate::bus::runtime::spawn(
            Arc::clone(&bus),
            prepared.store.clone(),
            Arc::clone(&state.clock),
            ca,
            cfg.bus_heartbeat_timeout_ms,
        ));
        state.bus = Some(bus);
    }
    if cfg.audit.retention_days > 0 {
        let keyring = prepared.store.keys().get();
        let signer = palisade_crypto::audit::AuditSigner::from_keyring(&keyring)
            .map_err(|e| ServerError::Keyring(e.to_string()))?;
        background.push(crate::audit::spawn_retention(
            prepared.store.clone(),
            cfg.audit.clone(),
            Arc::new(signer),
            keyring.installation_uid(),
            Arc::clone(&state.clock),
        ));
    }
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(prepared.tls),
    )
    .map_err(ServerError::Listen)?
    .handle(handle.clone());
    let router = app(state);
    let task = tokio::spawn(async move {
        server
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    Ok(Running {
        local_addr,
        ca_cert: prepared.ca_cert,
        admin_password: prepared.admin_password,
        store: prepared.store,
        audit_stream,
        handle,
        background,
        task,
    })
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 10 s), closes the store.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        for task in &self.background {
            task.abort();
        }
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        let r = self.task.await;
        self.store.close().await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServerError::Listen(e)),
            Err(e) => Err(ServerError::Listen(std::io::Error::other(e))),
        }
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        signal.await;
        self.shutdown().await
    }
}
