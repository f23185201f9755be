//! Test harness: boots a real Palisade server on an ephemeral loopback port
//! with a fresh data directory, and hands out a client that trusts only the
//! server's generated CA.
#![warn(missing_docs)]

use std::sync::{Arc, Mutex, OnceLock};

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
        let canary = canary::dir();
        let dir = match &canary {
            // Kept after the test, for the canary scan of the whole run.
            Some(root) => {
                let servers = root.join("servers");
                std::fs::create_dir_all(&servers)?;
                let mut d = tempfile::Builder::new().tempdir_in(&servers)?;
                d.disable_cleanup(true);
                canary::tee_logs(root)?;
                d
            }
            None => tempfile::tempdir()?,
        };
        let data = dir.path().join("data");
        let mut cfg = ServeConfig::for_data_dir(&data);
        adjust(&mut cfg);
        let running = palisade_server::start(cfg, clock).await?;
        let ca_path = running
            .ca_cert
            .clone()
            .ok_or_else(|| anyhow::anyhow!("server has no internal CA"))?;
        let base_url = format!("https://localhost:{}", running.local_addr.port());
        let client = canary::recording(Client::new(&base_url, &std::fs::read(ca_path)?)?);
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
        Ok(canary::recording(Client::new_from(
            &self.base_url,
            &std::fs::read(self.ca_path())?,
            local,
        )?))
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

pub mod canary;

/// The server's log lines, captured in memory (see [`capture_logs`]).
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// Everything logged so far, as text.
    pub fn text(&self) -> String {
        let bytes = match self.buf.lock() {
            Ok(b) => b.clone(),
            Err(p) => p.into_inner().clone(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every line logged so far that is a JSON object.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// The access-log lines (`"message": "request"`) of one request UID.
    pub fn request(&self, request_uid: &str) -> Vec<serde_json::Value> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l.get("message").and_then(|m| m.as_str()) == Some("request")
                    && l.get("request_uid").and_then(|u| u.as_str()) == Some(request_uid)
            })
            .collect()
    }
}

/// A writer appending to the capture buffer.
#[derive(Debug)]
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut b) => b.extend_from_slice(data),
            Err(p) => p.into_inner().extend_from_slice(data),
        }
        canary::log_line(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(Arc::clone(&self.buf))
    }
}

/// Captures the JSON log lines of every server in this process, as
/// `palisade serve` writes them (`palisade_server::logging`, level `info`).
///
/// The subscriber is process-wide, so the first call installs it and later
/// calls return the same capture; tests running in one process share it and
/// should pick their lines by request UID ([`LogCapture::request`]). Call it
/// before starting the server. Fails when another subscriber was installed
/// first.
pub fn capture_logs() -> anyhow::Result<LogCapture> {
    static CAPTURE: OnceLock<Option<LogCapture>> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            palisade_server::logging::install(true, "info", capture.clone()).then_some(capture)
        })
        .clone()
        .ok_or_else(|| anyhow::anyhow!("another log subscriber is installed in this process"))
}
