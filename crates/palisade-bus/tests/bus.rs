//! palisade-bus against a real nats-server 2.9 started with the generated
//! configuration on a loopback port (TLS from a throwaway CA): tenant and
//! cluster isolation, refused credentials, plaintext refusal, live pushes of
//! new tenants, revocations and deletions, and the push check itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, Subscriber};
use futures_util::StreamExt;
use palisade_bus::client::{SharedCredentials, connect_options};
use palisade_bus::jwt::{self, ClaimType, Claims, JWT_VERSION, Permission, User};
use palisade_bus::operator::{ClusterIdentity, REVOKE_ALL};
use palisade_bus::protocol::{self, Heartbeat, MessageContext};
use palisade_bus::subjects::{self, Direction, DownKind, SERVER_INBOX_PREFIX, UpKind};
use palisade_bus::testing::{Events, TestNats, now, round_trip};
use palisade_bus::{
    Applied, BusError, BusMasterSecret, Credentials, OperatorKeys, Revocations, TenantKeys,
    TenantLimits, push_account_jwt,
};
use palisade_core::Uid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(5);

fn provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn tenant(nats: &TestNats, uid: u64) -> TenantKeys {
    TenantKeys::derive(&nats.master, Uid::from_u64(uid), 1).unwrap()
}

async fn push_live(nats: &TestNats, pusher: &Client, t: &TenantKeys, rev: &Revocations) -> Applied {
    let token = nats
        .operator
        .tenant_account_jwt(t, &TenantLimits::default(), rev, now())
        .unwrap();
    let report = push_account_jwt(pusher, &token, T).await.unwrap();
    assert_eq!(report.account, t.account_public_key());
    report.applied
}

async fn cluster(nats: &TestNats, t: &TenantKeys, c: Uid) -> (Client, Events, Credentials) {
    let creds = t.issue_cluster_credentials(c, now(), 300).unwrap();
    let again = Credentials::parse(&creds.to_file_text()).unwrap();
    let (client, events) = nats
        .connect(creds, &subjects::cluster_inbox_prefix(c))
        .await
        .unwrap_or_else(|e| panic!("cluster {c} connect: {e}\n{}", nats.log()));
    (client, events, again)
}

async fn server_user(nats: &TestNats, t: &TenantKeys) -> (Client, Events) {
    let creds = t.server_user_credentials(now(), 300).unwrap();
    nats.connect(creds, SERVER_INBOX_PREFIX)
        .await
        .unwrap_or_else(|e| panic!("server user connect: {e}\n{}", nats.log()))
}

/// Round trip for a cluster user (a request on its own `up` subject that
/// nobody listens to yet).
async fn sync_cluster(c: &Client, id: Uid) {
    round_trip(c, format!("{}.{id}.up.sync", subjects::PREFIX)).await;
}

/// Round trip for a server user (a request to a cluster that does not
/// exist).
async fn sync_server(c: &Client) {
    round_trip(c, format!("{}.000000000000.down.sync", subjects::PREFIX)).await;
}

/// Receives until `expected` messages arrived (waiting up to 5 s for
/// them), then until `quiet` passes without another, to catch extras.
async fn drain(sub: &mut Subscriber, expected: usize, quiet: Duration) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + T;
    while tokio::time::Instant::now() < deadline {
        let wait = if got.len() < expected {
            deadline - tokio::time::Instant::now()
        } else {
            quiet
        };
        match tokio::time::timeout(wait, sub.next()).await {
            Ok(Some(m)) => got.push((m.subject.to_string(), m.payload.to_vec())),
            _ => break,
        }
    }
    got
}

fn heartbeat() -> Vec<u8> {
    protocol::encode(&Heartbeat {
        agent_version: "test".into(),
        hostname: "node".into(),
        time: now(),
    })
    .unwrap()
}

async fn expect_refused(nats: &TestNats, creds: Credentials, what: &str) {
    match nats.connect(creds, "_INBOX.x").await {
        Ok(_) => panic!("{what}: connected, expected a refusal"),
        Err(e) => assert_eq!(
            e.kind(),
            ConnectErrorKind::AuthorizationViolation,
            "{what}: {e}"
        ),
    }
}

#[tokio::test]
async fn generated_config_is_accepted_by_nats_server_even_with_hostile_paths() {
    provider();
    let Some(bin) = palisade_bus::testing::nats_server_binary() else {
        if palisade_bus::testing::services_required() {
            panic!("PALISADE_REQUIRE_SERVICES=1 but no nats-server");
        }
        eprintln!("skipping: no nats-server");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let weird = root.path().join("we\"ird $dir #x\\y 'q'");
    std::fs::create_dir_all(&weird).unwrap();
    let tls = palisade_bus::testing::write_test_tls(&weird).unwrap();
    let keys = OperatorKeys::derive(&BusMasterSecret::from_bytes([3; 32])).unwrap();
    let resolver = weird.join("jwt \"dir\"");
    let params = palisade_bus::config::ConfigParams::for_operator(
        &keys,
        now(),
        "127.0.0.1",
        4999,
        resolver.clone(),
        tls,
    )
    .unwrap();
    let text = palisade_bus::config::nats_server_config(&params).unwrap();
    let file = root.path().join("nats.conf");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new(&bin)
        .arg("-t")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nats-server -t refused the config:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The resolver directory was created at exactly the hostile path, so
    // the quoting kept the value intact.
    assert!(resolver.is_dir(), "{}", resolver.display());

    // Control: the same check fails on a damaged operator JWT.
    let broken = text.replacen("operator: \"eyJ", "operator: \"eyX", 1);
    std::fs::write(&file, broken).unwrap();
    let out = std::process::Command::new(&bin)
        .arg("-t")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn tenants_and_clusters_are_isolated() {
    provider();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let pusher = nats.pusher().await;
    let ta = tenant(&nats, 0xa);
    let tb = tenant(&nats, 0xb);
    // Nobody has used these accounts yet: stored, not loaded.
    assert_eq!(
        push_live(&nats, &pusher, &ta, &Revocations::new()).await,
        Applied::NotLoaded
    );
    push_live(&nats, &pusher, &tb, &Revocations::new()).await;

    let (a1_id, a2_id, b1_id) = (
        Uid::from_u64(0xa1),
        Uid::from_u64(0xa2),
        Uid::from_u64(0xb1),
    );
    let (a1, a1_ev, _) = cluster(&nats, &ta, a1_id).await;
    let (a2, a2_ev, _) = cluster(&nats, &ta, a2_id).await;
    let (b1, b1_ev, _) = cluster(&nats, &tb, b1_id).await;
    let (srv_a, srv_a_ev) = server_user(&nats, &ta).await;
    let (srv_b, _) = server_user(&nats, &tb).await;

    // A1 listens everywhere it may, and tries where it may not.
    let mut a1_down = a1
        .subscribe(subjects::cluster_down_wildcard(a1_id))
        .await
        .unwrap();
    // (Not all of `_INBOX.<a1>.>`: the server would route its
    // no-responders answers of the round trips below to this subscription.)
    let mut a1_inbox = a1
        .subscribe(format!("_INBOX.{a1_id}.listen.>"))
        .await
        .unwrap();
    let mut a1_forbidden = Vec::new();
    for s in [
        ">".to_owned(),
        "palisade.c.>".to_owned(),
        subjects::cluster_down_wildcard(a2_id),
        format!("_INBOX.{a2_id}.>"),
        subjects::cluster_up_wildcard(a2_id),
    ] {
        a1_forbidden.push(a1.subscribe(s).await.unwrap());
    }
    sync_cluster(&a1, a1_id).await;
    assert!(
        a1_ev
            .wait_count("Permissions Violation for Subscription", 5, T)
            .await,
        "{:?}",
        a1_ev.all()
    );

    let mut srv_a_up = srv_a.subscribe(subjects::ALL_UP.to_owned()).await.unwrap();
    let mut srv_b_up = srv_b.subscribe(subjects::ALL_UP.to_owned()).await.unwrap();
    sync_server(&srv_a).await;
    sync_server(&srv_b).await;

    // B's cluster and B's server user aim at A1's subjects (same names,
    // other account); A2 aims at A1's and impersonates it.
    b1.publish(subjects::down(a1_id, DownKind::Job), "from-b1".into())
        .await
        .unwrap();
    b1.publish(subjects::up(b1_id, UpKind::Heartbeat), heartbeat().into())
        .await
        .unwrap();
    srv_b
        .publish(subjects::down(a1_id, DownKind::Job), "from-srv-b".into())
        .await
        .unwrap();
    a2.publish(subjects::down(a1_id, DownKind::Job), "from-a2".into())
        .await
        .unwrap();
    a2.publish(subjects::up(a1_id, UpKind::Heartbeat), "a2-as-a1".into())
        .await
        .unwrap();
    a2.publish(
        format!("_INBOX.{a1_id}.listen.x"),
        "a2-into-a1-inbox".into(),
    )
    .await
    .unwrap();
    a2.publish(subjects::up(a2_id, UpKind::Heartbeat), heartbeat().into())
        .await
        .unwrap();
    a1.publish(subjects::up(a2_id, UpKind::Heartbeat), "a1-as-a2".into())
        .await
        .unwrap();
    a1.publish(subjects::up(a1_id, UpKind::Heartbeat), heartbeat().into())
        .await
        .unwrap();
    // Positive control: A's server user reaches A1.
    srv_a
        .publish(subjects::down(a1_id, DownKind::Job), "from-srv-a".into())
        .await
        .unwrap();
    for c in [&a1, &a2, &b1, &srv_a, &srv_b] {
        c.flush().await.unwrap();
    }

    let got = drain(&mut a1_down, 1, Duration::from_millis(300)).await;
    assert_eq!(
        got,
        vec![(subjects::down(a1_id, DownKind::Job), b"from-srv-a".to_vec())],
        "A1 must receive exactly the positive control"
    );
    assert!(
        drain(&mut a1_inbox, 0, Duration::from_millis(100))
            .await
            .is_empty()
    );
    for s in &mut a1_forbidden {
        assert!(drain(s, 0, Duration::from_millis(50)).await.is_empty());
    }

    let subjects_a: BTreeSet<String> = drain(&mut srv_a_up, 2, Duration::from_millis(300))
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        subjects_a,
        BTreeSet::from([
            subjects::up(a1_id, UpKind::Heartbeat),
            subjects::up(a2_id, UpKind::Heartbeat)
        ])
    );
    let got_b = drain(&mut srv_b_up, 1, Duration::from_millis(300)).await;
    assert_eq!(got_b.len(), 1, "{got_b:?}");
    assert_eq!(got_b[0].0, subjects::up(b1_id, UpKind::Heartbeat));

    // Every refused publish was reported through the event callback.
    assert!(a2_ev.wait_for("Permissions Violation for Publish", T).await);
    assert!(b1_ev.wait_for("Permissions Violation for Publish", T).await);
    assert!(a1_ev.wait_for("Permissions Violation for Publish", T).await);
    assert!(
        a1_ev.wait_count("Permissions Violation", 6, T).await,
        "{:?}",
        a1_ev.all()
    );
    assert!(
        a2_ev
            .wait_count("Permissions Violation for Publish", 3, T)
            .await,
        "{:?}",
        a2_ev.all()
    );
    // The server user itself stays within its template.
    srv_a
        .publish(
            subjects::up(a1_id, UpKind::Heartbeat),
            "srv-as-agent".into(),
        )
        .await
        .unwrap();
    srv_a.flush().await.unwrap();
    assert!(
        srv_a_ev
            .wait_for("Permissions Violation for Publish", T)
            .await
    );

    // Request/reply: A1 asks on its renew subject with its own inbox; A's
    // server user answers through its response permission.
    let mut renew = srv_a
        .subscribe(format!("{}.*.up.renew", subjects::PREFIX))
        .await
        .unwrap();
    sync_server(&srv_a).await;
    let responder = tokio::spawn({
        let srv_a = srv_a.clone();
        async move {
            let m = tokio::time::timeout(T, renew.next())
                .await
                .unwrap()
                .unwrap();
            let subject = palisade_bus::subjects::BusSubject::parse(&m.subject).unwrap();
            assert_eq!(subject.cluster, a1_id);
            let reply = protocol::check_reply(&subject, m.reply.as_deref())
                .unwrap()
                .to_string();
            srv_a.publish(reply, "renewed".into()).await.unwrap();
            srv_a.flush().await.unwrap();
        }
    });
    let answer = tokio::time::timeout(
        T,
        a1.request(subjects::up(a1_id, UpKind::Renew), "r".into()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&answer.payload[..], b"renewed");
    responder.await.unwrap();
}

fn forged_user(
    subject_key: &palisade_bus::NatsKey,
    signer: &palisade_bus::NatsKey,
    issuer_account: &str,
    name: &str,
    publish_all: bool,
) -> Credentials {
    let mut user = User {
        publish: Permission::default(),
        subscribe: Permission::default(),
        resp: None,
        subs: 0,
        data: 0,
        payload: 0,
        bearer_token: false,
        issuer_account: issuer_account.to_owned(),
        tags: vec![],
        claim_type: ClaimType::User,
        version: JWT_VERSION,
    };
    if publish_all {
        user.publish.allow = vec![">".into()];
        user.subscribe.allow = vec![">".into()];
        user.subs = -1;
        user.data = -1;
        user.payload = -1;
    }
    let mut c = Claims::new(subject_key.public_key(), name, user);
    c.exp = Some(now() + 300);
    let token = jwt::encode(&mut c, signer, now()).unwrap();
    Credentials::new(token, subject_key).unwrap()
}

#[tokio::test]
async fn expired_revoked_foreign_and_unscoped_credentials_are_refused() {
    provider();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let pusher = nats.pusher().await;
    let ta = tenant(&nats, 0xa);
    push_live(&nats, &pusher, &ta, &Revocations::new()).await;
    let c1 = Uid::from_u64(0xc1);

    // Control: fresh credentials work.
    let (ok, _, _) = cluster(&nats, &ta, c1).await;
    sync_cluster(&ok, c1).await;

    // Expired a minute ago.
    let expired = ta.issue_cluster_credentials(c1, now() - 120, 60).unwrap();
    expect_refused(&nats, expired, "expired").await;

    // Signed by a foreign operator's tree (its own account for this tenant).
    let foreign_master = BusMasterSecret::from_bytes([0x42; 32]);
    let foreign = TenantKeys::derive(&foreign_master, Uid::from_u64(0xa), 1).unwrap();
    let creds = foreign.issue_cluster_credentials(c1, now(), 300).unwrap();
    expect_refused(&nats, creds, "foreign account").await;

    // A foreign key claiming our tenant's account.
    let user = palisade_bus::NatsKey::generate(palisade_bus::keys::KeyKind::User).unwrap();
    let creds = forged_user(
        &user,
        foreign.cluster_scope_for_tests(),
        ta.account_public_key(),
        &c1.to_string(),
        false,
    );
    expect_refused(&nats, creds, "foreign signer").await;

    // Signed by the account identity key: refused under
    // strict_signing_key_usage even though it is the account's own key.
    let user = palisade_bus::NatsKey::generate(palisade_bus::keys::KeyKind::User).unwrap();
    let creds = forged_user(&user, ta.account_identity_for_tests(), "", "x", true);
    expect_refused(&nats, creds, "account identity signer").await;

    // Our scoped key, but the JWT carries permissions of its own (a
    // minting bug trying to widen rights): refused.
    let user = palisade_bus::NatsKey::generate(palisade_bus::keys::KeyKind::User).unwrap();
    let creds = forged_user(
        &user,
        ta.cluster_scope_for_tests(),
        ta.account_public_key(),
        &c1.to_string(),
        true,
    );
    expect_refused(&nats, creds, "scoped user with own permissions").await;

    // Revocation pushed live: the connected user is kicked, reconnecting
    // with the same credentials is refused, another cluster stays up, and
    // rotated credentials work.
    let c2 = Uid::from_u64(0xc2);
    let (victim, victim_ev, victim_creds) = cluster(&nats, &ta, c1).await;
    let (bystander, _, _) = cluster(&nats, &ta, c2).await;
    let mut rev = Revocations::new();
    rev.revoke_user(victim_creds.public_key(), now()).unwrap();
    assert_eq!(push_live(&nats, &pusher, &ta, &rev).await, Applied::Live);
    assert!(
        victim_ev.wait_for("revoked", T).await,
        "{:?}",
        victim_ev.all()
    );
    expect_refused(&nats, victim_creds, "revoked").await;
    let mut sub = bystander
        .subscribe(subjects::cluster_down_wildcard(c2))
        .await
        .unwrap();
    sync_cluster(&bystander, c2).await;
    let (srv, _) = server_user(&nats, &ta).await;
    srv.publish(subjects::down(c2, DownKind::Ack), "still-here".into())
        .await
        .unwrap();
    srv.flush().await.unwrap();
    let got = drain(&mut sub, 1, Duration::from_millis(200)).await;
    assert_eq!(got.len(), 1);
    let (rotated, _, _) = cluster(&nats, &ta, c1).await;
    sync_cluster(&rotated, c1).await;
    drop(victim);
}

#[tokio::test]
async fn plaintext_client_is_refused() {
    provider();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let pusher = nats.pusher().await;
    let ta = tenant(&nats, 0xa);
    push_live(&nats, &pusher, &ta, &Revocations::new()).await;
    let creds = ta
        .issue_cluster_credentials(Uid::from_u64(1), now(), 300)
        .unwrap();

    // A real plaintext NATS client: read INFO, send CONNECT and PING in the
    // clear. The server wants a TLS handshake and must never answer PONG.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", nats.port))
        .await
        .unwrap();
    let mut info = Vec::new();
    let mut byte = [0u8; 1];
    while !info.ends_with(b"\r\n") && info.len() < 8192 {
        tokio::time::timeout(T, s.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        info.push(byte[0]);
    }
    let info = String::from_utf8(info).unwrap();
    assert!(info.starts_with("INFO "), "{info}");
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let nonce_sig = "AA";
    let connect = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"jwt\":\"{}\",\"sig\":\"{nonce_sig}\",\"protocol\":1}}\r\nPING\r\n",
        creds.jwt()
    );
    let _ = s.write_all(connect.as_bytes()).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(T, s.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the server kept the plaintext connection open"
    );
    let rest = String::from_utf8_lossy(&rest);
    assert!(
        !rest.contains("PONG"),
        "plaintext client was answered: {rest}"
    );

    // Control: the same credentials over TLS work.
    let (c, _) = nats.connect(creds, "_INBOX.000000000001").await.unwrap();
    sync_cluster(&c, Uid::from_u64(1)).await;
}

#[tokio::test]
async fn new_tenants_are_pushed_live_checked_and_deleted() {
    provider();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let pusher = nats.pusher().await;
    let tc = tenant(&nats, 0xc);
    let c1 = Uid::from_u64(0xcc1);

    // Before the push the account does not exist: refused.
    let early = tc.issue_cluster_credentials(c1, now(), 300).unwrap();
    expect_refused(&nats, early, "before push").await;

    assert_eq!(
        push_live(&nats, &pusher, &tc, &Revocations::new()).await,
        Applied::NotLoaded
    );
    let (agent, agent_ev, agent_creds) = cluster(&nats, &tc, c1).await;
    let (srv, _) = server_user(&nats, &tc).await;
    let mut up = srv.subscribe(subjects::ALL_UP.to_owned()).await.unwrap();
    sync_server(&srv).await;
    // The agent knows who it is from its credentials alone.
    let me = ClusterIdentity::of(&agent_creds).unwrap();
    assert_eq!((me.tenant, me.cluster), (tc.tenant(), c1));
    let ctx = MessageContext {
        request: Uid::from_u64(0x77),
        tenant: me.tenant,
        cluster: me.cluster,
    };
    agent
        .publish_with_headers(
            subjects::up(c1, UpKind::Heartbeat),
            ctx.headers(),
            heartbeat().into(),
        )
        .await
        .unwrap();
    agent.flush().await.unwrap();
    let m = tokio::time::timeout(T, up.next()).await.unwrap().unwrap();
    let (subject, got_ctx) =
        protocol::check_incoming(&m.subject, m.headers.as_ref(), tc.tenant(), Direction::Up)
            .unwrap();
    assert_eq!(subject.cluster, c1);
    assert_eq!(got_ctx, ctx);
    let hb: Heartbeat = protocol::decode(&m.payload).unwrap();
    assert_eq!(hb.hostname, "node");

    // Loaded now: a second push is applied live.
    assert_eq!(
        push_live(&nats, &pusher, &tc, &Revocations::new()).await,
        Applied::Live
    );

    // The check catches a JWT the server stores but does not apply: an
    // account JWT for this tenant signed by a foreign operator.
    let foreign = OperatorKeys::derive(&BusMasterSecret::from_bytes([0x24; 32])).unwrap();
    let forged = foreign
        .tenant_account_jwt(&tc, &TenantLimits::default(), &Revocations::new(), now())
        .unwrap();
    match push_account_jwt(&pusher, &forged, T).await {
        Err(BusError::PushNotEffective(_)) => {}
        other => panic!("foreign account JWT push: {other:?}"),
    }
    // Putting the right JWT back is applied again.
    assert_eq!(
        push_live(&nats, &pusher, &tc, &Revocations::new()).await,
        Applied::Live
    );

    // Deletion: the tombstone kicks the connected agent and the server user,
    // and refuses reconnects, even with fresh credentials.
    let tomb = nats.operator.tenant_tombstone_jwt(&tc, now()).unwrap();
    let report = push_account_jwt(&pusher, &tomb, T).await.unwrap();
    assert_eq!(report.applied, Applied::Live);
    let claims = nats.operator.verify_account_jwt(&tomb).unwrap();
    assert!(claims.nats.revocations.contains_key(REVOKE_ALL));
    assert!(
        agent_ev.wait_for("disconnected", T).await,
        "{:?}",
        agent_ev.all()
    );
    let fresh = tc.issue_cluster_credentials(c1, now() + 1, 300).unwrap();
    expect_refused(&nats, fresh, "deleted tenant").await;
    let srv_creds = tc.server_user_credentials(now(), 300).unwrap();
    expect_refused(&nats, srv_creds, "deleted tenant's server user").await;
}

#[tokio::test]
async fn renewed_credentials_are_used_when_the_old_jwt_expires() {
    provider();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let pusher = nats.pusher().await;
    let ta = tenant(&nats, 0xa);
    push_live(&nats, &pusher, &ta, &Revocations::new()).await;
    let c = Uid::from_u64(0xe1);

    // Credentials that expire in 3 s, shared with the connection.
    let short = ta.issue_cluster_credentials(c, now(), 3).unwrap();
    let key = short.key().unwrap();
    let shared = SharedCredentials::new(short);
    let events = Events::default();
    let client = events
        .attach(
            connect_options(
                shared.clone(),
                &nats.ca_file,
                &subjects::cluster_inbox_prefix(c),
            )
            .max_reconnects(Some(5)),
        )
        .connect(&nats.url)
        .await
        .unwrap();

    // Renewal: a new JWT for the same key, swapped in while connected.
    let renewed = ta
        .cluster_user_jwt(c, key.public_key(), now(), 300)
        .unwrap();
    shared.replace(Credentials::new(renewed, &key).unwrap());

    // The server cuts the connection when the first JWT expires; the
    // reconnect signs in with the renewed one (second "connected").
    assert!(
        events.wait_for("expired", Duration::from_secs(8)).await,
        "{:?}",
        events.all()
    );
    assert!(
        events.wait_exact("connected", 2, T).await,
        "{:?}",
        events.all()
    );
    sync_cluster(&client, c).await;
}

#[tokio::test]
async fn slow_consumers_are_reported_not_silent() {
    provider();
    let Some(nats) = TestNats::start().await else {
        return;
    };
    let pusher = nats.pusher().await;
    let ta = tenant(&nats, 0xa);
    push_live(&nats, &pusher, &ta, &Revocations::new()).await;
    let c = Uid::from_u64(0xf1);
    let creds = ta.issue_cluster_credentials(c, now(), 300).unwrap();
    let (opts, events) = nats.options(creds, &subjects::cluster_inbox_prefix(c));
    let agent = opts
        .subscription_capacity(8)
        .connect(&nats.url)
        .await
        .unwrap();
    let mut jobs = agent
        .subscribe(subjects::cluster_down_wildcard(c))
        .await
        .unwrap();
    sync_cluster(&agent, c).await;

    // The agent does not read while the server floods it.
    let (srv, _) = server_user(&nats, &ta).await;
    for i in 0..200u32 {
        srv.publish(subjects::down(c, DownKind::Job), i.to_string().into())
            .await
            .unwrap();
    }
    srv.flush().await.unwrap();
    assert!(
        events.wait_for("slow consumer", T).await,
        "{:?}",
        events.all()
    );
    let kept = drain(&mut jobs, 1, Duration::from_millis(200)).await;
    assert!(kept.len() < 200, "nothing was dropped: {}", kept.len());
}
