//! The audit log in the server: the request context of events, the
//! optional SIEM stream, sealed archives and the retention task.
//!
//! The events themselves are written by the store, inside the transaction
//! of the change they record (see `palisade_store::WriteTx`). This module
//! never writes an event on its own except through the store.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use palisade_core::Uid;
use palisade_core::audit::{AuditContext, AuditEvent};
use palisade_crypto::audit::{self as chain, AuditSigner, AuditVerifier};
use palisade_proto::audit::AuditEventView;
use palisade_store::{AuditSink, Store};
use sha2::{Digest, Sha256};

use crate::ServerError;

/// Default archive folder inside the data directory.
pub const ARCHIVE_DIR: &str = "audit-archive";
/// Events archived per file at most.
pub const ARCHIVE_BATCH: u32 = 10_000;
/// Events waiting for the stream writer at most; beyond, events are counted
/// as dropped from the stream (never from the database).
pub const STREAM_QUEUE: usize = 10_000;

/// Audit settings of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Days events are kept; 0 keeps them forever.
    pub retention_days: u32,
    /// Where sealed archives go.
    pub archive_dir: PathBuf,
    /// Where a copy of each event is streamed, if anywhere.
    pub stream: Option<StreamTarget>,
    /// Lanes of the log of each tenant created from now on (`None`: the
    /// database's default, see `palisade_store::POSTGRES_LANES`).
    pub lanes: Option<u32>,
}

/// Where the SIEM stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamTarget {
    /// JSON lines appended to a file (mode 0600).
    File(PathBuf),
    /// RFC 5424 syslog messages to a local datagram socket.
    Syslog(PathBuf),
    /// RFC 5424 syslog messages over UDP.
    SyslogUdp(SocketAddr),
}

impl StreamTarget {
    /// Parses `file:PATH`, `syslog`, `syslog:SOCKET` or `syslog+udp://IP:PORT`.
    pub fn parse(text: &str) -> Result<Self, ServerError> {
        let bad = |why: &str| {
            ServerError::Config(format!(
                "audit_stream {text:?}: {why} (expected file:PATH, syslog, syslog:SOCKET or syslog+udp://IP:PORT)"
            ))
        };
        if text == "syslog" {
            return Ok(StreamTarget::Syslog(PathBuf::from("/dev/log")));
        }
        if let Some(rest) = text.strip_prefix("syslog+udp://") {
            let addr: SocketAddr = rest
                .parse()
                .map_err(|_| bad("the address is not IP:PORT"))?;
            if addr.port() == 0 {
                return Err(bad("the port must not be 0"));
            }
            return Ok(StreamTarget::SyslogUdp(addr));
        }
        if let Some(rest) = text.strip_prefix("syslog:") {
            if rest.is_empty() {
                return Err(bad("the socket path is empty"));
            }
            return Ok(StreamTarget::Syslog(PathBuf::from(rest)));
        }
        if let Some(rest) = text.strip_prefix("file:") {
            if rest.is_empty() {
                return Err(bad("the file path is empty"));
            }
            return Ok(StreamTarget::File(PathBuf::from(rest)));
        }
        Err(bad("unknown kind of stream"))
    }
}

/// The request's side of an event: request UID, client address and user
/// agent, with an anonymous actor (authentication fills the actor in).
pub fn request_context(parts: &Parts) -> AuditContext {
    let request_uid = crate::error::REQUEST_UID
        .try_with(|u| Uid::parse(u).ok())
        .ok()
        .flatten();
    let client_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    AuditContext::anonymous(request_uid, client_ip, user_agent)
}

/// Extractor of [`request_context`] for unauthenticated routes.
#[derive(Debug, Clone)]
pub struct RequestContext(pub AuditContext);

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestContext(request_context(parts)))
    }
}

/// The API's view of an event.
pub fn view(e: &AuditEvent) -> AuditEventView {
    let uid = |u: Option<Uid>| u.map(|u| u.to_string());
    AuditEventView {
        uid: e.uid.to_string(),
        tenant_uid: e.tenant_uid.to_string(),
        seq: e.seq,
        at: e.at,
        actor_kind: e.actor_kind.as_str().to_owned(),
        actor_uid: uid(e.actor_uid),
        api_key_uid: uid(e.api_key_uid),
        session_uid: uid(e.session_uid),
        request_uid: uid(e.request_uid),
        client_ip: e.client_ip.clone(),
        user_agent: e.user_agent.clone(),
        action: e.action.clone(),
        target_type: e.target_type.clone(),
        target_uid: e.target_uid.clone(),
        outcome: e.outcome.as_str().to_owned(),
        details: e.details_json(),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}

/// The SIEM stream: committed events are queued (never blocking a request)
/// and written by one task. The database stays the record: an event the
/// queue cannot take is counted and logged, and the change stands.
#[derive(Debug)]
pub struct StreamSink {
    queue: tokio::sync::mpsc::Sender<AuditEvent>,
    dropped: AtomicU64,
}

impl StreamSink {
    /// Events the stream could not take so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl AuditSink for StreamSink {
    fn publish(&self, event: &AuditEvent) {
        if self.queue.try_send(event.clone()).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(
                    dropped = n,
                    "audit stream is not keeping up; events stay in the database"
                );
            }
        }
    }
}

enum Writer {
    File(std::fs::File),
    Datagram(tokio::net::UnixDatagram, PathBuf),
    Udp(tokio::net::UdpSocket, SocketAddr),
}

/// Opens the stream's destination and starts its writer task.
pub async fn start_stream(target: &StreamTarget) -> Result<Arc<StreamSink>, ServerError> {
    let writer = match target {
        StreamTarget::File(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    ServerError::Config(format!(
                        "audit_stream: cannot open {} for appending: {e}",
                        path.display()
                    ))
                })?;
            Writer::File(f)
        }
        StreamTarget::Syslog(path) => {
            let sock = tokio::net::UnixDatagram::unbound().map_err(|e| {
                ServerError::Config(format!("audit_stream: cannot create a socket: {e}"))
            })?;
            Writer::Datagram(sock, path.clone())
        }
        StreamTarget::SyslogUdp(addr) => {
            let local: SocketAddr = if addr.is_ipv4() {
                SocketAddr::from(([0, 0, 0, 0], 0))
            } else {
                SocketAddr::from(([0u16; 8], 0))
            };
            let sock = tokio::net::UdpSocket::bind(local).await.map_err(|e| {
                ServerError::Config(format!("audit_stream: cannot create a socket: {e}"))
            })?;
            Writer::Udp(sock, *addr)
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<AuditEvent>(STREAM_QUEUE);
    tokio::spawn(async move {
        let mut writer = writer;
        let mut failures = 0u64;
        while let Some(event) = rx.recv().await {
            let json = serde_json::to_string(&view(&event)).unwrap_or_default();
            let result = match &mut writer {
                Writer::File(f) => {
                    let mut line = json.into_bytes();
                    line.push(b'\n');
                    f.write_all(&line)
                }
                Writer::Datagram(sock, path) => sock
                    .send_to(syslog_line(&event, &json).as_bytes(), &*path)
                    .await
                    .map(|_| ()),
                Writer::Udp(sock, addr) => sock
                    .send_to(syslog_line(&event, &json).as_bytes(), *addr)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = result {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(1000) {
                    tracing::warn!(error = %e, failures, "audit stream write failed; events stay in the database");
                }
            }
        }
    });
    Ok(Arc::new(StreamSink {
        queue: tx,
        dropped: AtomicU64::new(0),
    }))
}

/// An RFC 5424 message: facility authpriv (10), severity notice for
/// successes and warning otherwise, MSGID the action, the event as JSON.
fn syslog_line(e: &AuditEvent, json: &str) -> String {
    let severity = match e.outcome {
        palisade_core::audit::Outcome::Success => 5,
        _ => 4,
    };
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".to_owned());
    let msgid: String = e
        .action
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    format!(
        "<{}>1 {ts} - palisade {} {} - {json}",
        10 * 8 + severity,
        std::process::id(),
        if msgid.is_empty() { "-" } else { &msgid }
    )
}

/// Header line of a sealed archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveHeader {
    /// Always `palisade-audit-archive`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// Installation the events come from.
    pub installation_uid: String,
    /// Tenant of the log.
    pub tenant_uid: String,
    /// Lanes of the log (1: one chain, left out of the line). An archive
    /// holds events of one lane, each `lanes` after the one before.
    #[serde(default = "one_lane", skip_serializing_if = "is_one_lane")]
    pub lanes: u32,
    /// First event's number.
    pub from_seq: i64,
    /// Last event's number.
    pub to_seq: i64,
    /// Hash before the first event.
    pub prev_hash: String,
    /// Last event's hash.
    pub last_hash: String,
    /// When the archive was written (ms).
    pub created_at: i64,
}

fn one_lane() -> u32 {
    1
}

fn is_one_lane(lanes: &u32) -> bool {
    *lanes == 1
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SealLine {
    seal: Seal,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Seal {
    sha256: String,
    signature: String,
}

/// Writes `events` (contiguous, oldest first, of one log) to a sealed
/// archive file in `dir/<tenant>/`: a header line, one line per event as
/// stored (so the chain can be re-checked), and a seal line with the
/// SHA-256 of everything before it signed by the audit key. The file
/// appears complete or not at all (written aside, synced, renamed).
pub fn write_archive(
    dir: &Path,
    signer: &AuditSigner,
    installation: Uid,
    lanes: u32,
    events: &[AuditEvent],
    now: i64,
) -> Result<PathBuf, ServerError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err(ServerError::DataDir("no events to archive".into()));
    };
    let io = |what: &str, e: std::io::Error| ServerError::DataDir(format!("{what}: {e}"));
    let tenant_dir = dir.join(first.tenant_uid.to_string());
    create_private_dir(dir).map_err(|e| io("creating the audit archive folder", e))?;
    create_private_dir(&tenant_dir).map_err(|e| io("creating the audit archive folder", e))?;
    let header = ArchiveHeader {
        format: "palisade-audit-archive".into(),
        version: 1,
        installation_uid: installation.to_string(),
        tenant_uid: first.tenant_uid.to_string(),
        lanes,
        from_seq: first.seq,
        to_seq: last.seq,
        prev_hash: first.prev_hash.clone(),
        last_hash: last.hash.clone(),
        created_at: now,
    };
    let mut body = Vec::with_capacity(events.len() * 512);
    let line = |v: &dyn erased::Json, out: &mut Vec<u8>| -> Result<(), ServerError> {
        out.extend_from_slice(
            v.json()
                .map_err(|e| ServerError::DataDir(format!("encoding the archive: {e}")))?
                .as_bytes(),
        );
        out.push(b'\n');
        Ok(())
    };
    line(&header, &mut body)?;
    for e in events {
        line(e, &mut body)?;
    }
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let seal = SealLine {
        seal: Seal {
            sha256: hex::encode(digest),
            signature: signer.sign_archive(&digest),
        },
    };
    line(&seal, &mut body)?;
    let name = format!("{:012}-{:012}.jsonl", first.seq, last.seq);
    let path = tenant_dir.join(&name);
    let tmp = tenant_dir.join(format!(".{name}.tmp"));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("writing the audit archive", e))?;
        f.write_all(&body)
            .and_then(|()| f.sync_all())
            .map_err(|e| io("writing the audit archive", e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| io("writing the audit archive", e))?;
    std::fs::File::open(&tenant_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing the audit archive folder", e))?;
    Ok(path)
}

mod erased {
    /// Object-safe JSON encoding for the archive writer's lines.
    pub trait Json {
        fn json(&self) -> serde_json::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a sealed archive holds, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Its header.
    pub header: ArchiveHeader,
    /// Events in it.
    pub events: u64,
}

/// Verifies a sealed archive: the seal's digest and signature, the header,
/// and the chain of every event in it. The error names the first problem.
pub fn verify_archive(text: &str, verifier: &AuditVerifier) -> Result<ArchiveSummary, String> {
    // Exactly as written: the seal line last, ended by one newline, in its
    // written form — so that no byte of the file can change unnoticed.
    let (Some(sealed), Some(body_end)) = (
        text.strip_suffix('\n'),
        text.strip_suffix('\n')
            .and_then(|t| t.rfind('\n'))
            .map(|i| i + 1),
    ) else {
        return Err("the archive has no seal line".into());
    };
    let (body, seal_text) = sealed.split_at(body_end);
    let seal: SealLine =
        serde_json::from_str(seal_text).map_err(|_| "the last line is not a seal".to_owned())?;
    if serde_json::to_string(&seal).ok().as_deref() != Some(seal_text) {
        return Err("the seal line is not as it was written (it was modified)".into());
    }
    let digest: [u8; 32] = Sha256::digest(body.as_bytes()).into();
    if hex::encode(digest) != seal.seal.sha256 {
        return Err("the archive's content does not match its seal (it was modified)".into());
    }
    if !verifier.verify_archive(&digest, &seal.seal.signature) {
        return Err("the seal's signature is invalid (forged, or another installation's)".into());
    }
    let mut lines = body.lines();
    let header: ArchiveHeader = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| "the first line is not an archive header".to_owned())?;
    if header.format != "palisade-audit-archive" || header.version != 1 {
        return Err("unknown archive format".into());
    }
    if header.from_seq < 1
        || header.to_seq < header.from_seq
        || !(1..=palisade_store::MAX_LANES).contains(&header.lanes)
    {
        return Err("the header's range of events is invalid".into());
    }
    let stride = i64::from(header.lanes);
    let mut prev = chain::from_hex(&header.prev_hash)
        .ok_or_else(|| "the header's previous hash is malformed".to_owned())?;
    let mut expected = header.from_seq;
    let mut count = 0u64;
    for line in lines {
        let e: AuditEvent = serde_json::from_str(line)
            .map_err(|_| format!("event #{expected} is not a readable event"))?;
        if e.seq != expected || e.tenant_uid.to_string() != header.tenant_uid {
            return Err(format!(
                "event #{expected} is missing or out of place (found #{})",
                e.seq
            ));
        }
        let hash = chain::link(&prev, &e.canonical_bytes());
        if chain::to_hex(&prev) != e.prev_hash || chain::to_hex(&hash) != e.hash {
            return Err(format!("event #{} ({}) does not verify", e.seq, e.uid));
        }
        prev = hash;
        expected = expected
            .checked_add(stride)
            .ok_or_else(|| "the archive's event numbers overflow".to_owned())?;
        count += 1;
    }
    if expected - stride != header.to_seq || chain::to_hex(&prev) != header.last_hash {
        return Err("the archive's events do not end where its header says".into());
    }
    Ok(ArchiveSummary {
        header,
        events: count,
    })
}

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Archives written.
    pub archives: Vec<PathBuf>,
    /// Events removed from the database.
    pub removed: u64,
}

/// One retention pass: for every log, events older than the retention
/// period are written to sealed archives, then removed in a transaction
/// that pins the cut with a signed checkpoint and records `audit.prune`.
pub async fn retention_pass(
    store: &dyn Store,
    cfg: &AuditConfig,
    signer: &AuditSigner,
    installation: Uid,
    now: i64,
) -> Result<RetentionReport, ServerError> {
    let mut report = RetentionReport::default();
    if cfg.retention_days == 0 {
        return Ok(report);
    }
    let cutoff = now - i64::from(cfg.retention_days) * 86_400_000;
    // Lane by lane: an archive holds a contiguous run of one lane's chain.
    for head in store.audit_heads().await? {
        let tenant = head.tenant_uid;
        // Bounded: at most 100 archives per lane and pass.
        for _ in 0..100 {
            let events = store.audit_expired(&head, cutoff, ARCHIVE_BATCH).await?;
            let Some(last) = events.last() else { break };
            let path = write_archive(
                &cfg.archive_dir,
                signer,
                installation,
                head.lanes,
                &events,
                now,
            )?;
            let mut tx = store.write(tenant).await?;
            let removed = tx.prune_audit(tenant, last.seq, &last.hash).await?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            tx.commit(
                AuditContext::system()
                    .entry("audit.prune")
                    .target("audit-log", tenant)
                    .detail("archive", name)
                    .detail("fromSeq", events.first().map(|e| e.seq).unwrap_or(0))
                    .detail("toSeq", last.seq)
                    .detail("removed", removed),
            )
            .await?;
            report.removed += removed;
            report.archives.push(path);
            if events.len() < ARCHIVE_BATCH as usize {
                break;
            }
        }
    }
    Ok(report)
}

/// Runs [`retention_pass`] now and then every hour, until the server stops.
pub fn spawn_retention(
    store: Arc<dyn Store>,
    cfg: AuditConfig,
    signer: Arc<AuditSigner>,
    installation: Uid,
    clock: Arc<dyn palisade_core::Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match retention_pass(&*store, &cfg, &signer, installation, clock.now_ms()).await {
                Ok(r) if r.removed > 0 => tracing::info!(
                    removed = r.removed,
                    archives = r.archives.len(),
                    "audit retention archived and removed old events"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "audit retention pass failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_targets_parse() {
        assert_eq!(
            StreamTarget::parse("file:/var/log/p.jsonl").unwrap(),
            StreamTarget::File("/var/log/p.jsonl".into())
        );
        assert_eq!(
            StreamTarget::parse("syslog").unwrap(),
            StreamTarget::Syslog("/dev/log".into())
        );
        assert_eq!(
            StreamTarget::parse("syslog+udp://127.0.0.1:514").unwrap(),
            StreamTarget::SyslogUdp("127.0.0.1:514".parse().unwrap())
        );
        for bad in ["", "file:", "syslog:", "udp://x", "syslog+udp://[::1]:0"] {
            assert!(StreamTarget::parse(bad).is_err(), "{bad}");
        }
    }

    fn events(n: i64) -> (Vec<AuditEvent>, palisade_crypto::Keyring) {
        let keyring = palisade_crypto::Keyring::generate().unwrap();
        let tenant = Uid::from_u64(9);
        let mut prev = chain::genesis(tenant);
        let mut out = Vec::new();
        for seq in 1..=n {
            let mut e = AuditEvent {
                tenant_uid: tenant,
                seq,
                uid: Uid::from_u64(100 + seq as u64),
                at: 1000 + seq,
                actor_kind: palisade_core::audit::ActorKind::System,
                actor_uid: None,
                api_key_uid: None,
                session_uid: None,
                request_uid: None,
                client_ip: None,
                user_agent: None,
                action: "project.create".into(),
                target_type: None,
                target_uid: None,
                outcome: palisade_core::audit::Outcome::Success,
                details: "{}".into(),
                prev_hash: chain::to_hex(&prev),
                hash: String::new(),
            };
            let h = chain::link(&prev, &e.canonical_bytes());
            e.hash = chain::to_hex(&h);
            prev = h;
            out.push(e);
        }
        (out, keyring)
    }

    #[test]
    fn archives_verify_and_tampering_is_named() {
        let (evs, keyring) = events(5);
        let signer = AuditSigner::from_keyring(&keyring).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_archive(dir.path(), &signer, keyring.installation_uid(), 1, &evs, 1).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let v = signer.verifier();
        let s = verify_archive(&text, &v).unwrap();
        assert_eq!((s.events, s.header.from_seq, s.header.to_seq), (5, 1, 5));
        // Any byte changed in the body breaks the seal.
        let edited = text.replacen("project.create", "project.delete", 1);
        assert!(
            verify_archive(&edited, &v)
                .unwrap_err()
                .contains("modified")
        );
        // Another installation's key does not accept the seal.
        let other = AuditSigner::from_keyring(&palisade_crypto::Keyring::generate().unwrap())
            .unwrap()
            .verifier();
        assert!(
            verify_archive(&text, &other)
                .unwrap_err()
                .contains("signature")
        );
        // A truncated file has no valid seal.
        let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(verify_archive(&cut, &v).is_err());
        assert!(verify_archive("", &v).is_err());
    }

    /// Sealed (so only the checks behind the seal can refuse it) archive
    /// text: `header` then `events`, one JSON line each.
    fn sealed(signer: &AuditSigner, header: &ArchiveHeader, events: &[AuditEvent]) -> String {
        let mut body = serde_json::to_string(header).unwrap() + "\n";
        for e in events {
            body += &(serde_json::to_string(e).unwrap() + "\n");
        }
        let digest: [u8; 32] = Sha256::digest(body.as_bytes()).into();
        let seal = SealLine {
            seal: Seal {
                sha256: hex::encode(digest),
                signature: signer.sign_archive(&digest),
            },
        };
        body + &serde_json::to_string(&seal).unwrap() + "\n"
    }

    #[test]
    fn impossible_ranges_are_refused_without_overflow() {
        let (mut evs, keyring) = events(1);
        let signer = AuditSigner::from_keyring(&keyring).unwrap();
        let v = signer.verifier();
        // One intact event numbered i64::MAX.
        let genesis = chain::genesis(evs[0].tenant_uid);
        evs[0].seq = i64::MAX;
        evs[0].hash = chain::to_hex(&chain::link(&genesis, &evs[0].canonical_bytes()));
        let header = ArchiveHeader {
            format: "palisade-audit-archive".into(),
            version: 1,
            installation_uid: keyring.installation_uid().to_string(),
            tenant_uid: evs[0].tenant_uid.to_string(),
            lanes: 1,
            from_seq: i64::MAX,
            to_seq: i64::MAX,
            prev_hash: chain::to_hex(&genesis),
            last_hash: evs[0].hash.clone(),
            created_at: 1,
        };
        let err = verify_archive(&sealed(&signer, &header, &evs), &v).unwrap_err();
        assert!(err.contains("overflow"), "{err}");
        for (from, to) in [(i64::MIN, i64::MIN), (0, 5), (3, 2), (1, i64::MIN)] {
            let h = ArchiveHeader {
                from_seq: from,
                to_seq: to,
                ..header.clone()
            };
            let err = verify_archive(&sealed(&signer, &h, &[]), &v).unwrap_err();
            assert!(err.contains("range"), "{from}..{to}: {err}");
        }
        // The helper seals what write_archive would have written.
        let (evs, _) = events(3);
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_archive(dir.path(), &signer, keyring.installation_uid(), 1, &evs, 7).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let h: ArchiveHeader = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(sealed(&signer, &h, &evs), text);
    }

    /// An archive of one lane of a log of four: events 2, 6, 10 chained
    /// from the lane's genesis. It verifies as written; the same events
    /// under a one-lane header do not.
    #[test]
    fn archives_of_a_lane_step_by_the_lane_count() {
        let (mut evs, keyring) = events(3);
        let tenant = evs[0].tenant_uid;
        let mut prev = chain::lane_genesis(tenant, 1);
        for (i, e) in evs.iter_mut().enumerate() {
            e.seq = 2 + 4 * i as i64;
            e.prev_hash = chain::to_hex(&prev);
            prev = chain::link(&prev, &e.canonical_bytes());
            e.hash = chain::to_hex(&prev);
        }
        let signer = AuditSigner::from_keyring(&keyring).unwrap();
        let v = signer.verifier();
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_archive(dir.path(), &signer, keyring.installation_uid(), 4, &evs, 1).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let summary = verify_archive(&text, &v).unwrap();
        assert_eq!(
            (
                summary.header.lanes,
                summary.header.from_seq,
                summary.header.to_seq,
                summary.events
            ),
            (4, 2, 10, 3)
        );
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_archive(dir.path(), &signer, keyring.installation_uid(), 1, &evs, 1).unwrap();
        let err = verify_archive(&std::fs::read_to_string(&path).unwrap(), &v).unwrap_err();
        assert!(err.contains("missing or out of place"), "{err}");
        // A one-lane archive's header line does not name its lanes, as
        // before lanes existed.
        let (evs, _) = events(2);
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_archive(dir.path(), &signer, keyring.installation_uid(), 1, &evs, 1).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.lines().next().unwrap().contains("lanes"), "{text}");
    }

    /// Every bit of a sealed archive, flipped alone, and every byte turned
    /// into whitespace, is noticed (the file is what was sealed, to the byte).
    #[test]
    fn every_flipped_bit_and_whitespace_byte_is_detected() {
        let (evs, keyring) = events(2);
        let signer = AuditSigner::from_keyring(&keyring).unwrap();
        let v = signer.verifier();
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_archive(dir.path(), &signer, keyring.installation_uid(), 1, &evs, 1).unwrap();
        let original = std::fs::read(&path).unwrap();
        let mut tried = 0;
        for i in 0..original.len() {
            let masks = (0..8).map(|b| 1u8 << b);
            let spaces = [b' ', b'\t', b'\r', b'\n', 0x0b, 0x0c].map(|w| original[i] ^ w);
            for mask in masks.chain(spaces).filter(|m| *m != 0) {
                let mut bytes = original.clone();
                bytes[i] ^= mask;
                if let Ok(text) = String::from_utf8(bytes) {
                    tried += 1;
                    assert!(
                        verify_archive(&text, &v).is_err(),
                        "byte {i} ({:?}) ^ {mask:#04x} went unnoticed",
                        char::from(original[i])
                    );
                }
            }
        }
        assert!(tried > original.len() * 8);
        // Appending anything, even an empty line, is noticed too.
        let text = String::from_utf8(original).unwrap();
        for tail in ["\n", " ", "{}\n"] {
            assert!(
                verify_archive(&format!("{text}{tail}"), &v).is_err(),
                "{tail:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            /// Whatever byte of a sealed archive changes, and however, the
            /// archive no longer verifies.
            #[test]
            fn any_changed_byte_is_detected(
                n in 1i64..5,
                at in any::<prop::sample::Index>(),
                mask in 1u8..=255,
            ) {
                let (evs, keyring) = events(n);
                let signer = AuditSigner::from_keyring(&keyring).unwrap();
                let dir = tempfile::tempdir().unwrap();
                let path =
                    write_archive(dir.path(), &signer, keyring.installation_uid(), 1, &evs, 1).unwrap();
                let mut bytes = std::fs::read(&path).unwrap();
                let v = signer.verifier();
                prop_assert!(verify_archive(std::str::from_utf8(&bytes).unwrap(), &v).is_ok());
                let i = at.index(bytes.len());
                bytes[i] ^= mask;
                // A change that is not UTF-8 cannot even be read as an archive.
                if let Ok(text) = String::from_utf8(bytes) {
                    prop_assert!(
                        verify_archive(&text, &v).is_err(),
                        "byte {} ^ {:#04x} went unnoticed", i, mask
                    );
                }
            }

            /// Arbitrary text never verifies and never panics.
            #[test]
            fn arbitrary_text_never_verifies(text in "(?s).{0,2000}") {
                let keyring = palisade_crypto::Keyring::generate().unwrap();
                let v = AuditSigner::from_keyring(&keyring).unwrap().verifier();
                prop_assert!(verify_archive(&text, &v).is_err());
            }

            /// Stream targets: never a panic; a file target keeps its path.
            #[test]
            fn stream_targets_parse_or_refuse(text in "(?s).{0,200}", path in "[^\\x00]{1,100}") {
                let _ = StreamTarget::parse(&text);
                prop_assert_eq!(
                    StreamTarget::parse(&format!("file:{path}")).unwrap(),
                    StreamTarget::File(PathBuf::from(&path))
                );
            }
        }
    }

    #[test]
    fn syslog_lines_are_rfc5424() {
        let (evs, _) = events(1);
        let line = syslog_line(&evs[0], "{}");
        assert!(
            line.starts_with("<85>1 1970-01-01T00:00:01.001Z - palisade "),
            "{line}"
        );
        assert!(line.ends_with(" project.create - {}"), "{line}");
    }
}
