//! Test harness: boots a real Palisade server on an ephemeral loopback port
//! with a fresh data directory, and hands out a client that trusts only the
//! server's generated CA.
#![warn(missing_docs)]

use std::sync::Arc;

use palisade_client::Client;
use palisade_core::SystemClock;
use palisade_server::{Running, ServeConfig};

/// A running server with its own temporary data directory.
pub struct TestServer {
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The server.
    pub running: Running,
    /// A client trusting the server's CA.
    pub client: Client,
    /// `https://127.0.0.1:PORT`.
    pub base_url: String,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server on the embedded SQLite default.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the default test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> anyhow::Result<Self> {
        Self::start_with_clock(Arc::new(SystemClock), adjust).await
    }

    /// Starts a server on `clock` (a `ManualClock` lets tests move time).
    pub async fn start_with_clock(
        clock: Arc<dyn palisade_core::Clock>,
        adjust: impl FnOnce(&mut ServeConfig),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let mut cfg = ServeConfig::for_data_dir(&data);
        adjust(&mut cfg);
        let running = palisade_server::start(cfg, clock).await?;
        let ca_path = running
            .ca_cert
            .clone()
            .ok_or_else(|| anyhow::anyhow!("server has no internal CA"))?;
        let base_url = format!("https://localhost:{}", running.local_addr.port());
        let client = Client::new(&base_url, &std::fs::read(ca_path)?)?;
        Ok(TestServer {
            dir,
            running,
            client,
            base_url,
        })
    }

    /// Path of the server's CA certificate.
    pub fn ca_path(&self) -> std::path::PathBuf {
        self.dir.path().join("data/tls/ca.pem")
    }

    /// A client connecting from another loopback address (another "client").
    pub fn client_from(&self, local: std::net::IpAddr) -> anyhow::Result<Client> {
        Ok(Client::new_from(
            &self.base_url,
            &std::fs::read(self.ca_path())?,
            local,
        )?)
    }

    /// The bootstrap admin's one-time password.
    pub fn admin_password(&self) -> anyhow::Result<String> {
        use secrecy::ExposeSecret;
        self.running
            .admin_password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .ok_or_else(|| anyhow::anyhow!("no bootstrap password on this start"))
    }

    /// The installation keyring (for tests that forge tokens).
    pub fn keyring(&self) -> anyhow::Result<palisade_crypto::Keyring> {
        Ok(palisade_crypto::Keyring::load_file(
            &self.dir.path().join("data/keyring"),
        )?)
    }

    /// Stops the server gracefully.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.shutdown().await?;
        Ok(())
    }
}
