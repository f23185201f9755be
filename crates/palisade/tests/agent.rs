//! The real `palisade agent` binary against a private nats-server: a ping
//! job round trip (result, ack) and a clean exit 0 on SIGTERM; a plaintext
//! URL refused before anything else.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use palisade_bus::client::{SharedCredentials, connect_options};
use palisade_bus::protocol::{
    self, Ack, Heartbeat, Job, JobKind, JobResult, JobStatus, MessageContext,
};
use palisade_bus::subjects::{self, Direction, DownKind, SERVER_INBOX_PREFIX, UpKind};
use palisade_bus::testing::{TestNats, now};
use palisade_bus::{Revocations, TenantKeys, TenantLimits, push_account_jwt};
use palisade_core::Uid;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const T: Duration = Duration::from_secs(15);

#[test]
fn plaintext_server_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["agent", "--creds"])
        .arg(dir.path().join("x.creds"))
        .args(["--server", "nats://127.0.0.1:4222"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS only"), "{err}");
}

#[tokio::test]
async fn ping_round_trip_and_clean_sigterm_exit() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let tenant_uid = Uid::from_u64(0xa7);
    let cluster = Uid::from_u64(0xc7);
    let pusher = nats.pusher().await;
    let tenant = TenantKeys::derive(&nats.master, tenant_uid, 1).unwrap();
    let token = nats
        .operator
        .tenant_account_jwt(
            &tenant,
            &TenantLimits::default(),
            &Revocations::default(),
            now(),
        )
        .unwrap();
    push_account_jwt(&pusher, &token, T).await.unwrap();
    let server = connect_options(
        SharedCredentials::new(tenant.server_user_credentials(now(), 600).unwrap()),
        &nats.ca_file,
        SERVER_INBOX_PREFIX,
    )
    .connect(nats.url.as_str())
    .await
    .unwrap();
    let mut up = server
        .subscribe(subjects::cluster_up_wildcard(cluster))
        .await
        .unwrap();
    server.flush().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("cluster.creds");
    let c = tenant
        .issue_cluster_credentials(cluster, now(), 300)
        .unwrap();
    std::fs::write(&creds, c.to_file_text().as_bytes()).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["agent", "--creds"])
        .arg(&creds)
        .args(["--server", &nats.url, "--ca"])
        .arg(&nats.ca_file)
        .args(["--heartbeat", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let agent_log = || std::fs::read_to_string(dir.path().join("agent.log")).unwrap();

    let mut next = async |kind: UpKind| -> Vec<u8> {
        loop {
            let m = tokio::time::timeout(T, up.next())
                .await
                .unwrap_or_else(|_| panic!("nothing from the agent; its log:\n{}", agent_log()))
                .unwrap();
            let (s, ctx) = protocol::check_incoming(
                m.subject.as_str(),
                m.headers.as_ref(),
                tenant_uid,
                Direction::Up,
            )
            .unwrap();
            assert_eq!(ctx.cluster, cluster);
            if s.to_subject() == subjects::up(cluster, kind) {
                return m.payload.to_vec();
            }
        }
    };
    let hb: Heartbeat = protocol::decode(&next(UpKind::Heartbeat).await).unwrap();
    assert!(!hb.hostname.is_empty());

    let send = async |kind: DownKind, body: Vec<u8>| {
        let ctx = MessageContext {
            request: Uid::generate().unwrap(),
            tenant: tenant_uid,
            cluster,
        };
        server
            .publish_with_headers(subjects::down(cluster, kind), ctx.headers(), body.into())
            .await
            .unwrap();
        server.flush().await.unwrap();
    };
    let job = Job {
        job_uid: Uid::from_u64(0x10b),
        kind: JobKind::Ping {},
    };
    send(DownKind::Job, protocol::encode(&job).unwrap()).await;
    let r: JobResult = protocol::decode(&next(UpKind::Result).await).unwrap();
    assert_eq!(r.job_uid, job.job_uid);
    assert_eq!(r.status, JobStatus::Succeeded);
    assert_eq!(r.report, Some(serde_json::json!({})));
    let spool = dir.path().join("agent-spool");
    assert!(spool.join(format!("{}.result", r.message_uid)).exists());
    send(
        DownKind::Ack,
        protocol::encode(&Ack {
            message_uid: r.message_uid,
        })
        .unwrap(),
    )
    .await;
    let deadline = std::time::Instant::now() + T;
    while spool.join(format!("{}.result", r.message_uid)).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "ack not applied:\n{}",
            agent_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + T;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("agent did not exit on SIGTERM:\n{}", agent_log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "{}", agent_log());
    let log = agent_log();
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    // Never the seed or the JWT in the log.
    assert!(!log.contains(c.jwt()));
    let text = c.to_file_text();
    let seed = text.lines().find(|l| l.starts_with("SU")).unwrap();
    assert!(!log.contains(seed));
}
