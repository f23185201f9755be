//! Test support (feature `testing`): a private nats-server started with the
//! configuration [`nats_server_config`] writes, on a free loopback port,
//! with TLS from a throwaway CA, killed on drop. Not part of the stable API.
//!
//! The binary is `PALISADE_NATS_SERVER`, else `/usr/sbin/nats-server`, else
//! `nats-server` on `PATH`. When none exists the caller skips (after a
//! printed reason) — unless `PALISADE_REQUIRE_SERVICES=1`, when
//! [`TestNats::start`] panics so CI cannot skip silently. With
//! `PALISADE_NATS_TRACE` set, the server logs every protocol line
//! ([`TestNats::log`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use palisade_core::Clock;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::io::AsyncReadExt;

use crate::client::{SharedCredentials, connect_options};
use crate::config::{ConfigParams, TlsFiles, nats_server_config};
use crate::operator::PUSHER_INBOX_PREFIX;
use crate::{BusError, BusMasterSecret, Credentials, OperatorKeys};

/// True when CI demands that service-backed tests run.
pub fn services_required() -> bool {
    std::env::var("PALISADE_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// The wall clock in Unix seconds (nats-server checks JWT times against
/// its own clock, so tests mint with the real time).
pub fn now() -> i64 {
    palisade_core::SystemClock.now_ms() / 1000
}

/// Path of the nats-server binary, if there is one.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PALISADE_NATS_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.is_file() {
        return Some(sbin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    })
}

/// Writes a throwaway CA and a server certificate for `localhost` and
/// `127.0.0.1` (ECDSA P-256) into `dir`.
pub fn write_test_tls(dir: &Path) -> Result<TlsFiles, BusError> {
    let err = |_| BusError::Config("test TLS material");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "Palisade bus test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "localhost");
    p.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().map_err(err)?),
        SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &issuer).map_err(err)?;
    let files = TlsFiles {
        cert_file: dir.join("nats.pem"),
        key_file: dir.join("nats-key.pem"),
        ca_file: dir.join("ca.pem"),
    };
    let io = |_| BusError::Config("writing test TLS material");
    std::fs::write(&files.cert_file, cert.pem()).map_err(io)?;
    std::fs::write(&files.key_file, key.serialize_pem()).map_err(io)?;
    std::fs::write(&files.ca_file, ca_cert.pem()).map_err(io)?;
    Ok(files)
}

/// Server events of one connection, as text, for assertions.
#[derive(Clone, Default, Debug)]
pub struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    /// Adds an event callback recording into these events.
    pub fn attach(&self, opts: ConnectOptions) -> ConnectOptions {
        let sink = self.clone();
        opts.event_callback(move |e: Event| {
            let sink = sink.clone();
            async move { sink.push(e.to_string()) }
        })
    }

    /// Waits up to `timeout` until at least `n` events read exactly `text`
    /// (e.g. `connected`, which `disconnected` also contains).
    pub async fn wait_exact(&self, text: &str, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.all().iter().filter(|e| e.as_str() == text).count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything recorded so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn push(&self, e: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(e);
        }
    }

    /// Waits up to `timeout` for an event containing `needle`
    /// (case-insensitive).
    pub async fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let needle = needle.to_ascii_lowercase();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self
                .all()
                .iter()
                .any(|e| e.to_ascii_lowercase().contains(&needle))
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `timeout` until at least `n` events contain `needle`.
    pub async fn wait_count(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.count(needle) >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Number of events containing `needle` (case-insensitive).
    pub fn count(&self, needle: &str) -> usize {
        let needle = needle.to_ascii_lowercase();
        self.all()
            .iter()
            .filter(|e| e.to_ascii_lowercase().contains(&needle))
            .count()
    }
}

/// A round trip through the server on `client`: a request to `subject`
/// (which the client may publish to and nobody subscribes to) answered by
/// the server's no-responders status. Everything the client sent before
/// (subscriptions included) has then been processed. async-nats `flush`
/// only empties the client's write buffer, which is not enough for a test
/// that subscribes on one connection and publishes on another. The client
/// must not hold another subscription matching its own reply subjects (the
/// server sends the status to the first one it finds).
#[allow(clippy::panic)]
pub async fn round_trip(client: &Client, subject: String) {
    match tokio::time::timeout(Duration::from_secs(5), client.request(subject, "".into())).await {
        Err(_) => panic!("round trip timed out"),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            if e.kind() != async_nats::RequestErrorKind::NoResponders {
                panic!("round trip failed: {e}");
            }
        }
    }
}

/// A running private nats-server in Palisade's operator mode.
pub struct TestNats {
    /// The bus master secret of this test installation.
    pub master: BusMasterSecret,
    /// Its operator keys.
    pub operator: OperatorKeys,
    /// The loopback port.
    pub port: u16,
    /// `tls://127.0.0.1:<port>`.
    pub url: String,
    /// The CA clients must trust.
    pub ca_file: PathBuf,
    /// The configuration file the server runs with.
    pub config_file: PathBuf,
    /// The TLS files.
    pub tls: TlsFiles,
    child: Child,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestNats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNats").field("url", &self.url).finish()
    }
}

fn free_port() -> Option<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    l.local_addr().ok().map(|a| a.port())
}

/// Waits until the server on `port` sends its INFO line.
async fn wait_ready(port: u16, child: &mut Child, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if let Ok(Ok(mut s)) = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            let mut buf = [0u8; 5];
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf)).await
                && &buf == b"INFO "
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

impl TestNats {
    /// Starts a server with a fresh random master secret. `None` (after
    /// printing why) when no nats-server is installed and services are not
    /// required.
    #[allow(clippy::panic)]
    pub async fn start() -> Option<TestNats> {
        let master = match BusMasterSecret::generate() {
            Ok(m) => m,
            Err(e) => panic!("no randomness: {e}"),
        };
        Self::start_with(master).await
    }

    /// Starts a server for the given master secret.
    #[allow(clippy::panic)]
    pub async fn start_with(master: BusMasterSecret) -> Option<TestNats> {
        let Some(bin) = nats_server_binary() else {
            if services_required() {
                panic!("PALISADE_REQUIRE_SERVICES=1 but no nats-server binary was found");
            }
            eprintln!("skipping NATS test: no nats-server binary (install Debian's nats-server)");
            return None;
        };
        let result = Self::try_start(&bin, master).await;
        match result {
            Ok(t) => Some(t),
            Err(e) => panic!("starting nats-server failed: {e}"),
        }
    }

    async fn try_start(bin: &Path, master: BusMasterSecret) -> Result<TestNats, String> {
        let operator = OperatorKeys::derive(&master).map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let tls = write_test_tls(dir.path()).map_err(|e| e.to_string())?;
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = free_port().ok_or("no free port")?;
            let mut params = ConfigParams::for_operator(
                &operator,
                now(),
                "127.0.0.1",
                port,
                dir.path().join("jwt"),
                tls.clone(),
            )
            .map_err(|e| e.to_string())?;
            // A single server has no peer to fetch unknown accounts from:
            // answer for them quickly.
            params.resolver_timeout_ms = 500;
            let text = nats_server_config(&params).map_err(|e| e.to_string())?;
            let config_file = dir.path().join("nats.conf");
            std::fs::write(&config_file, text).map_err(|e| e.to_string())?;
            let log = dir.path().join("nats.log");
            let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(bin);
            cmd.arg("-c").arg(&config_file);
            if std::env::var_os("PALISADE_NATS_TRACE").is_some() {
                cmd.arg("-DV");
            }
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
            if wait_ready(port, &mut child, Duration::from_secs(10)).await {
                return Ok(TestNats {
                    master,
                    operator,
                    port,
                    url: format!("tls://127.0.0.1:{port}"),
                    ca_file: tls.ca_file.clone(),
                    config_file,
                    tls,
                    child,
                    dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        Err(format!(
            "nats-server did not become ready; its log:\n{last}"
        ))
    }

    /// Stops the server (SIGKILL), keeping its directory: pushed accounts
    /// stay in the resolver directory for [`TestNats::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port with the same
    /// configuration (after [`TestNats::stop`]).
    pub async fn restart(&mut self) -> Result<(), String> {
        let bin = nats_server_binary().ok_or("no nats-server binary")?;
        for _attempt in 0..20 {
            let log = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(self.dir.path().join("nats.log"))
                .map_err(|e| e.to_string())?;
            let mut child = Command::new(&bin)
                .arg("-c")
                .arg(&self.config_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
            if wait_ready(self.port, &mut child, Duration::from_secs(5)).await {
                self.child = child;
                return Ok(());
            }
            let _ = child.kill();
            let _ = child.wait();
            // The port may still be held by the old process's sockets.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(format!("nats-server did not come back:\n{}", self.log()))
    }

    /// The scratch directory (config, TLS files, resolver directory, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// Connection options for `creds` against this server, recording
    /// server events into the returned [`Events`]; no reconnects (tests
    /// observe disconnections instead of retrying through them).
    pub fn options(&self, creds: Credentials, inbox_prefix: &str) -> (ConnectOptions, Events) {
        let events = Events::default();
        let opts = events.attach(
            connect_options(SharedCredentials::new(creds), &self.ca_file, inbox_prefix)
                .connection_timeout(Duration::from_secs(3))
                .max_reconnects(Some(1)),
        );
        (opts, events)
    }

    /// Connects with `creds`.
    pub async fn connect(
        &self,
        creds: Credentials,
        inbox_prefix: &str,
    ) -> Result<(Client, Events), async_nats::ConnectError> {
        let (opts, events) = self.options(creds, inbox_prefix);
        let client = opts.connect(&self.url).await?;
        Ok((client, events))
    }

    /// Connects Palisade's pusher (system account).
    #[allow(clippy::panic)]
    pub async fn pusher(&self) -> Client {
        let creds = match self.operator.system_user_credentials(now(), 600) {
            Ok(c) => c,
            Err(e) => panic!("pusher credentials: {e}"),
        };
        match self.connect(creds, PUSHER_INBOX_PREFIX).await {
            Ok((c, _)) => c,
            Err(e) => panic!("pusher connect failed: {e}\n{}", self.log()),
        }
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
