//! The audit log end to end over HTTPS against the real server: the event
//! each authentication step and mutation writes (actor, session, request,
//! client, target, outcome), `GET /v1/audit` (filters, paging, scope,
//! refusals), fail-closed writes, the SIEM stream, retention with sealed
//! archives, and that no secret ever reaches an event.
//!
//! Store-level tampering is covered by the conformance suite of
//! `palisade-store`; the command-line verifier by `palisade`'s tests.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use palisade_client::{Client, ClientError, Method};
use palisade_core::audit::{ActorKind, AuditEvent, Outcome};
use palisade_core::clock::ManualClock;
use palisade_core::{Clock, SystemClock, Uid};
use palisade_proto::audit::{AuditEventView, AuditPageView};
use palisade_proto::auth::{
    ApiKeyCreated, LoginResponse, PageOf, RecoveryCodes, TotpEnrolment, UserView, UserWithPassword,
};
use palisade_server::ServeConfig;
use palisade_server::audit::{AuditConfig, StreamTarget};
use palisade_store::testing::OneShot;
use palisade_store::{AuditFilter, AuditOrder, AuditPage, LogHead, NewUser, Store};
use palisade_testkit::TestServer;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::Row;

const ADMIN: &str = "admin@localhost";
const GOOD: &str = "lantern orchard quietly 7 rivers";
const GOOD2: &str = "copper meadow sings at dusk 42";
const UA: &str = "audit-test/1.0 (e2e)";

// ---------------------------------------------------------------- helpers

fn code(e: &ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, body } => (*status, body.code.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

/// The request UID an error answer names (its body's `requestUid`).
fn err_rid(e: &ClientError) -> String {
    match e {
        ClientError::Api { body, .. } => {
            assert!(Uid::parse(&body.request_uid).is_ok(), "{body:?}");
            body.request_uid.clone()
        }
        other => panic!("expected an API error, got {other}"),
    }
}

/// A call answering 2xx: its body and its `X-Request-Uid`.
async fn ok<T: serde::de::DeserializeOwned>(
    c: &Client,
    m: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (T, String) {
    let a = c
        .call::<Value, T>(m.clone(), path, token, body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{m} {path}: {e}"));
    (
        a.body,
        a.request_uid.expect("X-Request-Uid on every answer"),
    )
}

/// A call answering an API error.
async fn fails(
    c: &Client,
    m: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> ClientError {
    match c
        .call::<Value, Value>(m.clone(), path, token, body.as_ref())
        .await
    {
        Ok(a) => panic!("{m} {path} answered {} {:?}", a.status, a.body),
        Err(e) => e,
    }
}

async fn login(c: &Client, tenant: &str, email: &str, pw: &str) -> (LoginResponse, String) {
    ok(
        c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": tenant, "email": email, "password": pw})),
    )
    .await
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn sid_of(access_token: &str) -> Uid {
    Uid::parse(claims(access_token)["sid"].as_str().unwrap()).unwrap()
}

/// A server on a manual clock, generous auth rate limits, adjusted by `adjust`.
async fn server_with(adjust: impl FnOnce(&mut ServeConfig)) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = TestServer::start_with_clock(clock.clone(), |c| {
        c.auth.auth_requests_per_minute = 100_000;
        adjust(c);
    })
    .await
    .unwrap();
    (s, clock)
}

/// The server's client, sending a recognisable user agent.
fn ua_client(s: &TestServer) -> Client {
    s.client.clone().with_user_agent(UA).unwrap()
}

/// A client from another loopback address (another "machine"), with the user agent.
fn ua_client_from(s: &TestServer, ip: &str) -> Client {
    s.client_from(ip.parse().unwrap())
        .unwrap()
        .with_user_agent(UA)
        .unwrap()
}

/// Sets the admin's password (from the one-time one) and logs in.
async fn admin_session(s: &TestServer, c: &Client) -> LoginResponse {
    let otp = s.admin_password().unwrap();
    c.change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    login(c, "system", ADMIN, GOOD).await.0
}

async fn system_uid(s: &TestServer) -> Uid {
    s.running.store.tenant_by_name("system").await.unwrap().uid
}

async fn admin_uid(s: &TestServer) -> Uid {
    let t = system_uid(s).await;
    s.running
        .store
        .user_by_email(t, ADMIN)
        .await
        .unwrap()
        .user
        .uid
}

/// Every event of `tenant`'s log, oldest first, straight from the store.
async fn log_of(s: &TestServer, tenant: Uid) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    let mut page = AuditPage {
        after: None,
        limit: 1000,
        order: AuditOrder::OldestFirst,
    };
    for _ in 0..1000 {
        let got = s
            .running
            .store
            .list_audit(tenant, &AuditFilter::default(), page)
            .await
            .unwrap();
        out.extend(got.items);
        match got.next {
            Some(n) => page.after = Some(n),
            None => return out,
        }
    }
    panic!("log of {tenant} does not end");
}

/// The signed heads of every lane of every log, by tenant and lane.
async fn heads(s: &TestServer) -> Vec<LogHead> {
    s.running.store.audit_heads().await.unwrap()
}

/// Every event of every log.
async fn all_events(s: &TestServer) -> Vec<AuditEvent> {
    // One head per lane of each log.
    let mut tenants: Vec<Uid> = heads(s).await.iter().map(|h| h.tenant_uid).collect();
    tenants.dedup();
    let mut out = Vec::new();
    for t in tenants {
        out.extend(log_of(s, t).await);
    }
    out
}

/// Every log verifies.
async fn assert_verifies(s: &TestServer) {
    let reports = s.running.store.verify_audit(None).await.unwrap();
    assert!(!reports.is_empty());
    for r in reports {
        assert!(
            r.problem.is_none(),
            "log of {}: {:?}",
            r.tenant_uid,
            r.problem
        );
    }
}

/// What one request's event must say: by default an anonymous success
/// from 127.0.0.1 with no target.
struct Expect {
    action: &'static str,
    kind: ActorKind,
    actor: Option<Uid>,
    session: Option<Uid>,
    api_key: Option<Uid>,
    ip: &'static str,
    target: Option<(&'static str, String)>,
    outcome: Outcome,
}

fn expect(action: &'static str) -> Expect {
    Expect {
        action,
        kind: ActorKind::Anonymous,
        actor: None,
        session: None,
        api_key: None,
        ip: "127.0.0.1",
        target: None,
        outcome: Outcome::Success,
    }
}

impl Expect {
    /// Acted as `user` (with no session unless [`Expect::session`]).
    fn user(mut self, user: Uid) -> Self {
        self.kind = ActorKind::User;
        self.actor = Some(user);
        self
    }
    fn session(mut self, session: Uid) -> Self {
        self.session = Some(session);
        self
    }
    /// Acted with `key` of `owner`.
    fn key(mut self, owner: Uid, key: Uid) -> Self {
        self.kind = ActorKind::ApiKey;
        self.actor = Some(owner);
        self.api_key = Some(key);
        self
    }
    fn ip(mut self, ip: &'static str) -> Self {
        self.ip = ip;
        self
    }
    fn target(mut self, kind: &'static str, uid: impl ToString) -> Self {
        self.target = Some((kind, uid.to_string()));
        self
    }
    fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

/// The one event (across every log) of request `rid`, checked against `x`.
async fn one_event(s: &TestServer, rid: &str, x: Expect) -> AuditEvent {
    let found: Vec<AuditEvent> = all_events(s)
        .await
        .into_iter()
        .filter(|e| e.request_uid.map(|u| u.to_string()).as_deref() == Some(rid))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "request {rid} ({}) must write exactly one event: {found:#?}",
        x.action
    );
    let e = found.into_iter().next().unwrap();
    let what = format!("{} of request {rid}: {e:#?}", x.action);
    assert_eq!(e.action, x.action, "{what}");
    assert_eq!(e.actor_kind, x.kind, "actor kind, {what}");
    assert_eq!(e.actor_uid, x.actor, "actor, {what}");
    assert_eq!(e.session_uid, x.session, "session, {what}");
    assert_eq!(e.api_key_uid, x.api_key, "API key, {what}");
    assert_eq!(e.client_ip.as_deref(), Some(x.ip), "client IP, {what}");
    assert_eq!(e.user_agent.as_deref(), Some(UA), "user agent, {what}");
    assert_eq!(
        (e.target_type.as_deref(), e.target_uid.clone()),
        match &x.target {
            Some((kind, uid)) => (Some(*kind), Some(uid.clone())),
            None => (None, None),
        },
        "target, {what}"
    );
    assert_eq!(e.outcome, x.outcome, "outcome, {what}");
    e
}

/// No event carries request `rid`.
async fn no_event(s: &TestServer, rid: &str) {
    let n = all_events(s)
        .await
        .iter()
        .filter(|e| e.request_uid.map(|u| u.to_string()).as_deref() == Some(rid))
        .count();
    assert_eq!(n, 0, "request {rid} must write no event");
}

fn email_hash(s: &TestServer, tenant: &str, email: &str) -> String {
    let keyring = s.running.store.keys().get();
    palisade_crypto::blind::keyed_hash(
        keyring.hash_salt(),
        &[
            b"audit-email",
            tenant.as_bytes(),
            palisade_core::model::normalize_email(email).as_bytes(),
        ],
    )
}

fn details(e: &AuditEvent) -> Value {
    e.details_json()
}

// ------------------------------------------------- authentication events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_auth_step_writes_one_event_with_actor_session_request_and_client() {
    let (s, clock) = server_with(|_| {}).await;
    let c = ua_client(&s);
    let system = system_uid(&s).await;
    let admin = admin_uid(&s).await;

    // The one-time password: a login that asks for a password change.
    let otp = s.admin_password().unwrap();
    let (r, rid) = login(&c, "system", ADMIN, &otp).await;
    assert_eq!(r.password_change_required, Some(true));
    let e = one_event(
        &s,
        &rid,
        expect("auth.login").user(admin).target("user", admin),
    )
    .await;
    assert_eq!(e.tenant_uid, system);
    assert_eq!(details(&e)["next"], "password-change");

    // Password change.
    let a = c
        .change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    let e = one_event(
        &s,
        a.request_uid.as_deref().unwrap(),
        expect("auth.password-change")
            .user(admin)
            .target("user", admin),
    )
    .await;
    assert_eq!(details(&e)["sessionsRevoked"], 0);

    // Login: the event names the new session, as actor context and target.
    let (first, rid) = login(&c, "system", ADMIN, GOOD).await;
    let sid = sid_of(first.access_token.as_deref().unwrap());
    let e = one_event(
        &s,
        &rid,
        expect("auth.login")
            .user(admin)
            .session(sid)
            .target("session", sid),
    )
    .await;
    assert_eq!(details(&e)["amr"], "pwd");

    // Refresh, then reuse of the spent refresh token.
    let (next, rid) = ok::<LoginResponse>(
        &c,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": first.refresh_token})),
    )
    .await;
    assert_eq!(sid_of(next.access_token.as_deref().unwrap()), sid);
    one_event(
        &s,
        &rid,
        expect("auth.refresh")
            .user(admin)
            .session(sid)
            .target("session", sid),
    )
    .await;
    let err = fails(
        &c,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": first.refresh_token})),
    )
    .await;
    assert_eq!(code(&err), (401, "refresh_token_reused".into()));
    let e = one_event(
        &s,
        &err_rid(&err),
        expect("auth.refresh-reuse")
            .user(admin)
            .session(sid)
            .target("session", sid)
            .outcome(Outcome::Denied),
    )
    .await;
    assert_eq!(details(&e)["sessionRevoked"], true);
    // An unknown refresh token changes nothing and names no account: no event.
    let err = fails(
        &c,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": format!("prt.{system}.{}", "A".repeat(43))})),
    )
    .await;
    assert_eq!(code(&err).1, "refresh_token_invalid");
    no_event(&s, &err_rid(&err)).await;

    // Logout.
    let (second, _) = login(&c, "system", ADMIN, GOOD).await;
    let at = second.access_token.unwrap();
    let sid2 = sid_of(&at);
    let ((), rid) = ok(&c, Method::POST, "/v1/auth/logout", Some(&at), None).await;
    one_event(
        &s,
        &rid,
        expect("auth.logout")
            .user(admin)
            .session(sid2)
            .target("session", sid2),
    )
    .await;

    // Failed logins from another client: unknown tenant, unknown email,
    // wrong password. Each is one anonymous failure carrying the keyed hash
    // of the attempted email, never the email.
    let other = ua_client_from(&s, "127.0.0.7");
    for (tenant, email, pw) in [
        ("no-such-tenant", "someone.canary@example.org", GOOD),
        ("system", "ghost.canary@example.org", GOOD),
        ("system", ADMIN, "wrong password entirely 1"),
    ] {
        let err = fails(
            &other,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"tenant": tenant, "email": email, "password": pw})),
        )
        .await;
        assert_eq!(code(&err), (401, "invalid_credentials".into()));
        let e = one_event(
            &s,
            &err_rid(&err),
            expect("auth.login")
                .ip("127.0.0.7")
                .outcome(Outcome::Failure),
        )
        .await;
        // An unknown tenant's attempt goes to the platform's log.
        assert_eq!(e.tenant_uid, system, "{tenant}");
        let d = details(&e);
        assert_eq!(d["reason"], "invalid_credentials");
        assert_eq!(d["failures"], 1);
        assert_eq!(d["emailHash"], email_hash(&s, tenant, email), "{email}");
        if tenant == "system" {
            assert_eq!(d["tenantName"], "system");
        } else {
            assert!(d.get("tenantName").is_none(), "{d}");
            assert!(
                d["tenantHash"].as_str().is_some_and(|h| h.len() >= 32),
                "{d}"
            );
        }
        let text = format!("{e:?}");
        assert!(
            !text.contains(email),
            "the attempted email is never stored: {text}"
        );
        assert!(!text.contains(pw), "the attempted password is never stored");
        assert!(
            !text.contains("no-such-tenant"),
            "nor an unknown tenant's name"
        );
    }
    // The same attempted email always gives the same hash (correlatable).
    assert_eq!(
        email_hash(&s, "system", "Ghost.Canary@Example.org"),
        email_hash(&s, "system", "ghost.canary@example.org")
    );

    // Lockout: the free attempts fail, the next one starts a lockout.
    let attacker = ua_client_from(&s, "127.0.0.8");
    let mut last = None;
    for i in 1..=6 {
        let err = fails(
            &attacker,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(
                json!({"tenant": "system", "email": ADMIN, "password": format!("guess {i} guess")}),
            ),
        )
        .await;
        assert_eq!(code(&err), (401, "invalid_credentials".into()));
        last = Some((i, err_rid(&err)));
        if i < 6 {
            let e = one_event(
                &s,
                &err_rid(&err),
                expect("auth.login")
                    .ip("127.0.0.8")
                    .outcome(Outcome::Failure),
            )
            .await;
            assert_eq!(details(&e)["failures"], i);
        }
    }
    let (_, rid) = last.unwrap();
    let e = one_event(
        &s,
        &rid,
        expect("auth.lockout")
            .ip("127.0.0.8")
            .outcome(Outcome::Denied),
    )
    .await;
    let d = details(&e);
    assert_eq!(d["failedAction"], "auth.login");
    assert_eq!(d["failures"], 6);
    assert_eq!(d["emailHash"], email_hash(&s, "system", ADMIN));
    assert!(d["blockedUntil"].as_i64().unwrap() > clock.now_ms());
    let err = fails(
        &attacker,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": "system", "email": ADMIN, "password": GOOD})),
    )
    .await;
    assert_eq!(code(&err), (429, "login_throttled".into()));

    // API keys: creation, use (at most one event a minute per key),
    // refused uses of an existing key.
    let (third, _) = login(&c, "system", ADMIN, GOOD).await;
    let at = third.access_token.unwrap();
    let sid3 = sid_of(&at);
    let (made, rid) = ok::<ApiKeyCreated>(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "robot", "expiresInDays": 30})),
    )
    .await;
    let key_uid = Uid::parse(&made.api_key.uid).unwrap();
    one_event(
        &s,
        &rid,
        expect("apikey.create")
            .user(admin)
            .session(sid3)
            .target("apikey", key_uid),
    )
    .await;
    let key_use = expect("auth.apikey")
        .key(admin, key_uid)
        .target("apikey", key_uid);
    let (_, rid) = ok::<UserView>(&c, Method::GET, "/v1/me", Some(&made.key), None).await;
    one_event(&s, &rid, key_use).await;
    let (_, rid) = ok::<UserView>(&c, Method::GET, "/v1/me", Some(&made.key), None).await;
    no_event(&s, &rid).await;
    clock.advance(61_000);
    let (_, rid) = ok::<UserView>(&c, Method::GET, "/v1/me", Some(&made.key), None).await;
    one_event(
        &s,
        &rid,
        expect("auth.apikey")
            .key(admin, key_uid)
            .target("apikey", key_uid),
    )
    .await;
    // A mutation made with the key names the key and its owner.
    let (other_key, rid) = ok::<ApiKeyCreated>(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&made.key),
        Some(json!({"name": "made by robot"})),
    )
    .await;
    one_event(
        &s,
        &rid,
        expect("apikey.create")
            .key(admin, key_uid)
            .target("apikey", other_key.api_key.uid.clone()),
    )
    .await;
    // A wrong secret for the real key.
    let mut forged = made.key.clone();
    let last_char = forged.pop().unwrap();
    forged.push(if last_char == 'A' { 'B' } else { 'A' });
    let err = fails(&c, Method::GET, "/v1/me", Some(&forged), None).await;
    assert_eq!(code(&err), (401, "api_key_invalid".into()));
    let e = one_event(
        &s,
        &err_rid(&err),
        expect("auth.apikey")
            .key(admin, key_uid)
            .target("apikey", key_uid)
            .outcome(Outcome::Failure),
    )
    .await;
    assert_eq!(details(&e)["reason"], "api_key_invalid");
    // Revocation, then a use of the revoked key.
    let ((), rid) = ok(
        &c,
        Method::DELETE,
        &format!("/v1/apikeys/{key_uid}"),
        Some(&at),
        None,
    )
    .await;
    one_event(
        &s,
        &rid,
        expect("apikey.delete")
            .user(admin)
            .session(sid3)
            .target("apikey", key_uid),
    )
    .await;
    let err = fails(&c, Method::GET, "/v1/me", Some(&made.key), None).await;
    assert_eq!(code(&err), (401, "api_key_revoked".into()));
    let e = one_event(
        &s,
        &err_rid(&err),
        expect("auth.apikey")
            .key(admin, key_uid)
            .target("apikey", key_uid)
            .outcome(Outcome::Failure),
    )
    .await;
    assert_eq!(details(&e)["reason"], "api_key_revoked");

    // A member on a tenant-admin route: one denied event naming the member
    // and the route (the action's name belongs to the RBAC work).
    let (bob, rid) = ok::<UserWithPassword>(
        &c,
        Method::POST,
        "/v1/users",
        Some(&at),
        Some(json!({"email": "bob@example.com", "displayName": "Bob"})),
    )
    .await;
    let bob_uid = Uid::parse(&bob.user.uid).unwrap();
    one_event(
        &s,
        &rid,
        expect("user.create")
            .user(admin)
            .session(sid3)
            .target("user", bob_uid),
    )
    .await;
    c.change_password("system", "bob@example.com", &bob.initial_password, GOOD2)
        .await
        .unwrap();
    let (bob_login, _) = login(&c, "system", "bob@example.com", GOOD2).await;
    let bob_at = bob_login.access_token.unwrap();
    let bob_sid = sid_of(&bob_at);
    for path in ["/v1/users", "/v1/audit"] {
        let err = fails(&c, Method::GET, path, Some(&bob_at), None).await;
        assert_eq!(code(&err), (403, "permission_denied".into()), "{path}");
        let rid = err_rid(&err);
        let e = all_events(&s)
            .await
            .into_iter()
            .filter(|e| e.request_uid.map(|u| u.to_string()) == Some(rid.clone()))
            .collect::<Vec<_>>();
        assert_eq!(e.len(), 1, "{path}: {e:#?}");
        let e = &e[0];
        assert_eq!(e.outcome, Outcome::Denied);
        assert_eq!(e.actor_kind, ActorKind::User);
        assert_eq!(e.actor_uid, Some(bob_uid));
        assert_eq!(e.session_uid, Some(bob_sid));
        assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.user_agent.as_deref(), Some(UA));
        assert_eq!(e.tenant_uid, system);
    }

    // TOTP: enrolment and confirmation are mutations of the user; a login
    // then asks for the second factor; a wrong code and a right one are
    // each one auth.mfa event.
    let (enrol, rid) =
        ok::<TotpEnrolment>(&c, Method::POST, "/v1/me/mfa/totp", Some(&at), None).await;
    one_event(
        &s,
        &rid,
        expect("mfa.enrol")
            .user(admin)
            .session(sid3)
            .target("user", admin),
    )
    .await;
    let secret = palisade_crypto::TotpSecret::from_base32(&enrol.secret).unwrap();
    let code_now = || palisade_crypto::totp::code_at(&secret, clock.now_ms() / 1000).unwrap();
    let (_, rid) = ok::<RecoveryCodes>(
        &c,
        Method::POST,
        "/v1/me/mfa/totp/confirm",
        Some(&at),
        Some(json!({"code": code_now()})),
    )
    .await;
    one_event(
        &s,
        &rid,
        expect("mfa.confirm")
            .user(admin)
            .session(sid3)
            .target("user", admin),
    )
    .await;
    clock.advance(30_000);
    let (challenge, rid) = login(&c, "system", ADMIN, GOOD).await;
    assert_eq!(challenge.mfa_required, Some(true));
    let e = one_event(
        &s,
        &rid,
        expect("auth.login").user(admin).target("user", admin),
    )
    .await;
    assert_eq!(details(&e)["next"], "mfa");
    let mfa_token = challenge.mfa_token.unwrap();
    let wrong = if code_now() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let err = fails(
        &c,
        Method::POST,
        "/v1/auth/mfa",
        None,
        Some(json!({"mfaToken": mfa_token, "code": wrong})),
    )
    .await;
    assert_eq!(code(&err), (401, "mfa_invalid".into()));
    let e = one_event(
        &s,
        &err_rid(&err),
        expect("auth.mfa")
            .user(admin)
            .target("user", admin)
            .outcome(Outcome::Failure),
    )
    .await;
    assert_eq!(details(&e)["reason"], "mfa_invalid");
    let (tokens, rid) = ok::<LoginResponse>(
        &c,
        Method::POST,
        "/v1/auth/mfa",
        None,
        Some(json!({"mfaToken": mfa_token, "code": code_now()})),
    )
    .await;
    let sid4 = sid_of(tokens.access_token.as_deref().unwrap());
    let e = one_event(
        &s,
        &rid,
        expect("auth.mfa")
            .user(admin)
            .session(sid4)
            .target("session", sid4),
    )
    .await;
    assert_eq!(details(&e)["method"], "otp");

    // Control characters in a user agent never reach an event; long ones
    // are bounded.
    let long_ua = format!("ua-{}", "x".repeat(400));
    let odd = s
        .client
        .clone()
        .with_user_agent(&format!("evil\tagent {long_ua}"))
        .unwrap();
    let (_, rid) = login(&odd, "system", "bob@example.com", GOOD2).await;
    let e = all_events(&s)
        .await
        .into_iter()
        .find(|e| e.request_uid.map(|u| u.to_string()) == Some(rid.clone()))
        .unwrap();
    let agent = e.user_agent.unwrap();
    assert!(agent.starts_with("evilagent ua-x"), "{agent}");
    assert_eq!(
        agent.chars().count(),
        palisade_core::audit::MAX_USER_AGENT_CHARS
    );

    assert_verifies(&s).await;
}

// ------------------------------------------------------------- the API

/// Every event of the caller's log through the API, oldest first.
async fn api_log(c: &Client, token: &str, query: &str) -> Vec<AuditEventView> {
    let mut out = Vec::new();
    let mut after = String::new();
    for _ in 0..1000 {
        let (page, _) = ok::<AuditPageView>(
            c,
            Method::GET,
            &format!("/v1/audit?order=asc&limit=1000{query}{after}"),
            Some(token),
            None,
        )
        .await;
        out.extend(page.items);
        match page.next {
            Some(n) => after = format!("&after={n}"),
            None => return out,
        }
    }
    panic!("the log does not end");
}

/// Follows `next` from `path` (with `?`), `limit` per page; returns the
/// events in the order received and checks each page's size.
async fn paged(c: &Client, token: &str, path: &str, limit: usize) -> Vec<AuditEventView> {
    let mut out = Vec::new();
    let mut after = String::new();
    for _ in 0..1000 {
        let (page, _) = ok::<AuditPageView>(
            c,
            Method::GET,
            &format!("{path}&limit={limit}{after}"),
            Some(token),
            None,
        )
        .await;
        assert!(page.items.len() <= limit);
        let done = page.next.is_none();
        if !done {
            assert_eq!(page.items.len(), limit, "only the last page is short");
            assert_eq!(
                page.next.as_deref(),
                page.items.last().map(|e| e.seq.to_string()).as_deref(),
                "the cursor is the last seq of the page"
            );
        }
        out.extend(page.items);
        match page.next {
            Some(n) => after = format!("&after={n}"),
            None => return out,
        }
    }
    panic!("paging does not end");
}

fn uids(events: &[AuditEventView]) -> Vec<String> {
    events.iter().map(|e| e.uid.clone()).collect()
}

/// A tenant with a tenant admin whose password is `GOOD` (made on the store,
/// as `palisade admin` would).
async fn tenant_with_admin(s: &TestServer, name: &str, email: &str) -> Uid {
    let store = &*s.running.store;
    let t = store.create_tenant(name).await.unwrap();
    let pool = palisade_server::auth::hashpool::HashPool::start(
        std::num::NonZeroUsize::MIN,
        1,
        palisade_server::auth::hashpool::Priority::Inherit,
    )
    .unwrap();
    let hash = pool
        .hash(store.keys().get(), SecretString::from(GOOD))
        .await
        .unwrap();
    let u = store
        .create_user(
            t.uid,
            NewUser {
                email: email.into(),
                display_name: "Admin".into(),
                password_hash: Some(hash),
                must_change_password: false,
            },
        )
        .await
        .unwrap();
    store
        .create_binding(
            t.uid,
            palisade_core::rbac::Subject::User(u.uid),
            palisade_core::rbac::RoleRef::Builtin(palisade_core::rbac::BuiltinRole::TenantAdmin),
            palisade_core::rbac::Scope::Tenant,
        )
        .await
        .unwrap();
    t.uid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_api_filters_pages_and_stays_in_the_callers_tenant() {
    let (s, clock) = server_with(|_| {}).await;
    let c = ua_client(&s);
    let system = system_uid(&s).await;
    let admin = admin_uid(&s).await;
    let at = admin_session(&s, &c).await.access_token.unwrap();

    // Events at known times: keys made at t1, two revoked at t2, a failed
    // login and a member at t3.
    clock.advance(10_000);
    let t1 = clock.now_ms();
    let mut keys = Vec::new();
    for i in 0..5 {
        let (k, _) = ok::<ApiKeyCreated>(
            &c,
            Method::POST,
            "/v1/apikeys",
            Some(&at),
            Some(json!({"name": format!("k{i}")})),
        )
        .await;
        keys.push(k.api_key.uid);
    }
    clock.advance(10_000);
    let t2 = clock.now_ms();
    for k in &keys[..2] {
        let ((), _) = ok(
            &c,
            Method::DELETE,
            &format!("/v1/apikeys/{k}"),
            Some(&at),
            None,
        )
        .await;
    }
    clock.advance(10_000);
    let t3 = clock.now_ms();
    let err = fails(
        &c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": "system", "email": ADMIN, "password": "not the password"})),
    )
    .await;
    assert_eq!(code(&err).0, 401);
    let (bob, _) = ok::<UserWithPassword>(
        &c,
        Method::POST,
        "/v1/users",
        Some(&at),
        Some(json!({"email": "bob@example.com", "displayName": "Bob"})),
    )
    .await;

    // The whole log through the API equals the store's, in order.
    let all = api_log(&c, &at, "").await;
    let stored = log_of(&s, system).await;
    assert_eq!(
        uids(&all),
        stored.iter().map(|e| e.uid.to_string()).collect::<Vec<_>>()
    );
    assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert!(all.iter().all(|e| e.tenant_uid == system.to_string()));
    assert_eq!(all[0].seq, 1);
    assert_eq!(all[0].action, "tenant.create");

    // Each filter answers exactly what filtering the whole log gives.
    let check = |query: String, keep: Box<dyn Fn(&AuditEventView) -> bool>| {
        let c = c.clone();
        let at = at.clone();
        let expected: Vec<String> = all
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.uid.clone())
            .collect();
        async move {
            let got = api_log(&c, &at, &query).await;
            assert!(!expected.is_empty(), "{query}: the test needs matches");
            assert_eq!(uids(&got), expected, "{query}");
        }
    };
    check(
        "&action=apikey.create".into(),
        Box::new(|e: &AuditEventView| e.action == "apikey.create"),
    )
    .await;
    check(
        "&action=apikey.".into(),
        Box::new(|e: &AuditEventView| e.action.starts_with("apikey.")),
    )
    .await;
    check(
        "&action=auth.".into(),
        Box::new(|e: &AuditEventView| e.action.starts_with("auth.")),
    )
    .await;
    check(
        format!("&actor={admin}"),
        Box::new(move |e: &AuditEventView| {
            e.actor_uid.as_deref() == Some(admin.to_string().as_str())
        }),
    )
    .await;
    let k0 = keys[0].clone();
    check(
        format!("&target={k0}"),
        Box::new(move |e: &AuditEventView| e.target_uid.as_deref() == Some(k0.as_str())),
    )
    .await;
    check(
        "&outcome=failure".into(),
        Box::new(|e: &AuditEventView| e.outcome == "failure"),
    )
    .await;
    check(
        "&outcome=success".into(),
        Box::new(|e: &AuditEventView| e.outcome == "success"),
    )
    .await;
    check(
        format!("&from={t2}&to={t3}"),
        Box::new(move |e: &AuditEventView| e.at >= t2 && e.at < t3),
    )
    .await;
    check(
        format!("&from={t3}"),
        Box::new(move |e: &AuditEventView| e.at >= t3),
    )
    .await;
    check(
        format!("&to={t1}"),
        Box::new(move |e: &AuditEventView| e.at < t1),
    )
    .await;
    check(
        format!("&action=apikey.&from={t1}&to={t2}&outcome=success&actor={admin}"),
        Box::new(move |e: &AuditEventView| {
            e.action.starts_with("apikey.") && e.at >= t1 && e.at < t2
        }),
    )
    .await;
    // Exact actions do not match as prefixes; nothing matches an unknown one.
    let none = api_log(&c, &at, "&action=apikey.creat").await;
    assert!(none.is_empty());
    assert_eq!(api_log(&c, &at, "&action=user.create").await.len(), 2);
    assert!(
        api_log(&c, &at, "&action=user.create")
            .await
            .iter()
            .any(|e| e.target_uid.as_deref() == Some(bob.user.uid.as_str()))
    );

    // Paging, both orders, with and without a filter: every event once, in order.
    let desc: Vec<String> = all.iter().rev().map(|e| e.uid.clone()).collect();
    assert_eq!(uids(&paged(&c, &at, "/v1/audit?order=desc", 3).await), desc);
    assert_eq!(
        uids(&paged(&c, &at, "/v1/audit?order=asc", 4).await),
        uids(&all)
    );
    let keys_desc: Vec<String> = all
        .iter()
        .rev()
        .filter(|e| e.action.starts_with("apikey."))
        .map(|e| e.uid.clone())
        .collect();
    assert_eq!(
        uids(&paged(&c, &at, "/v1/audit?action=apikey.", 2).await),
        keys_desc,
        "newest first by default"
    );
    assert_eq!(
        uids(&paged(&c, &at, "/v1/audit?action=apikey.&order=asc", 2).await),
        keys_desc.iter().rev().cloned().collect::<Vec<_>>()
    );
    // The default page is 100 events, newest first.
    let (page, _) = ok::<AuditPageView>(&c, Method::GET, "/v1/audit", Some(&at), None).await;
    assert_eq!(page.items[0].uid, desc[0]);
    assert!(page.items.windows(2).all(|w| w[0].seq > w[1].seq));

    // Bad parameters: 400 invalid_request in the one error shape.
    for bad in [
        "bogus=1",
        "actor=ABCDEF012345",
        "actor=12345",
        "target=not-a-uid",
        "tenant=zz",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "outcome=ok",
        "order=up",
        "from=-1",
        "to=yesterday",
        "after=-5",
        "action=User.Create",
        "action=",
    ] {
        let err = fails(
            &c,
            Method::GET,
            &format!("/v1/audit?{bad}"),
            Some(&at),
            None,
        )
        .await;
        match &err {
            ClientError::Api { status, body } => {
                assert_eq!(
                    (*status, body.code.as_str()),
                    (400, "invalid_request"),
                    "{bad}"
                );
                assert!(!body.message.is_empty(), "{bad}");
                assert!(Uid::parse(&body.request_uid).is_ok(), "{bad}");
                // The message names the parameter, never echoes its value.
                let (name, value) = bad.split_once('=').unwrap();
                assert!(body.message.contains(name), "{bad}: {}", body.message);
                if value.len() > 2 {
                    assert!(!body.message.contains(value), "{bad}: {}", body.message);
                }
            }
            other => panic!("{bad}: {other}"),
        }
    }

    // Another tenant: its admin sees its own log, and a foreign tenant's
    // log is as missing as an unknown one; the platform admin may name it.
    let globex = tenant_with_admin(&s, "globex", "root@globex.test").await;
    let g_at = login(&c, "globex", "root@globex.test", GOOD)
        .await
        .0
        .access_token
        .unwrap();
    let own = api_log(&c, &g_at, "").await;
    assert!(own.iter().all(|e| e.tenant_uid == globex.to_string()));
    assert_eq!(own[0].action, "tenant.create");
    assert!(own.iter().any(|e| e.action == "auth.login"));
    let err = fails(
        &c,
        Method::GET,
        &format!("/v1/audit?tenant={system}"),
        Some(&g_at),
        None,
    )
    .await;
    assert_eq!(code(&err), (404, "not_found".into()));
    let unknown = Uid::from_u64(0xabc);
    let err2 = fails(
        &c,
        Method::GET,
        &format!("/v1/audit?tenant={unknown}"),
        Some(&g_at),
        None,
    )
    .await;
    match (&err, &err2) {
        (ClientError::Api { body: a, .. }, ClientError::Api { body: b, .. }) => {
            assert_eq!(
                (&a.code, &a.message),
                (&b.code, &b.message),
                "indistinguishable"
            );
        }
        _ => unreachable!(),
    }
    // Naming its own tenant is fine.
    let (mine, _) = ok::<AuditPageView>(
        &c,
        Method::GET,
        &format!("/v1/audit?tenant={globex}&order=asc"),
        Some(&g_at),
        None,
    )
    .await;
    assert_eq!(uids(&mine.items), uids(&own));
    let theirs = api_log(&c, &at, &format!("&tenant={globex}")).await;
    assert_eq!(uids(&theirs), uids(&api_log(&c, &g_at, "").await));

    // A member gets 403.
    c.change_password("system", "bob@example.com", &bob.initial_password, GOOD2)
        .await
        .unwrap();
    let bob_at = login(&c, "system", "bob@example.com", GOOD2)
        .await
        .0
        .access_token
        .unwrap();
    let err = fails(&c, Method::GET, "/v1/audit", Some(&bob_at), None).await;
    assert_eq!(code(&err), (403, "permission_denied".into()));
    assert_verifies(&s).await;
}

// ------------------------------------------------------------ fail-closed

async fn inject_failure(s: &TestServer) {
    sqlx::query(
        "CREATE TRIGGER inject BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END",
    )
    .execute(s.running.store.pool())
    .await
    .unwrap();
}

async fn remove_failure(s: &TestServer) {
    sqlx::query("DROP TRIGGER inject")
        .execute(s.running.store.pool())
        .await
        .unwrap();
}

fn assert_audit_unavailable(e: &ClientError, what: &str) {
    match e {
        ClientError::Api { status, body } => {
            assert_eq!(
                (*status, body.code.as_str()),
                (503, "audit_unavailable"),
                "{what}"
            );
            assert!(
                body.message.contains("not made") && body.message.contains("audit"),
                "{what}: {}",
                body.message
            );
            assert!(
                !body.message.contains("injected"),
                "the database's reason stays in the log: {}",
                body.message
            );
            assert!(Uid::parse(&body.request_uid).is_ok());
        }
        other => panic!("{what}: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_event_cannot_be_written_is_refused_and_absent() {
    let (s, clock) = server_with(|_| {}).await;
    let c = ua_client(&s);
    let system = system_uid(&s).await;
    let at = admin_session(&s, &c).await.access_token.unwrap();
    let (key, _) = ok::<ApiKeyCreated>(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "before"})),
    )
    .await;
    clock.advance(61_000);
    let before = log_of(&s, system).await;

    inject_failure(&s).await;
    // Mutations: each refused with the one error shape, none made.
    let e = fails(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "during"})),
    )
    .await;
    assert_audit_unavailable(&e, "create an API key");
    let e = fails(
        &c,
        Method::POST,
        "/v1/users",
        Some(&at),
        Some(json!({"email": "carol@example.com", "displayName": "Carol"})),
    )
    .await;
    assert_audit_unavailable(&e, "create a user");
    let e = fails(
        &c,
        Method::PUT,
        "/v1/settings/mfa",
        Some(&at),
        Some(json!({"required": true})),
    )
    .await;
    assert_audit_unavailable(&e, "require MFA");
    let e = fails(
        &c,
        Method::DELETE,
        &format!("/v1/apikeys/{}", key.api_key.uid),
        Some(&at),
        None,
    )
    .await;
    assert_audit_unavailable(&e, "revoke an API key");
    // Authentication events too: a login (no session) and a failed login
    // (no failure counted), and a use of the key.
    let e = fails(
        &c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": "system", "email": ADMIN, "password": GOOD})),
    )
    .await;
    assert_audit_unavailable(&e, "log in");
    let e = fails(
        &c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": "system", "email": ADMIN, "password": "wrong wrong wrong"})),
    )
    .await;
    assert_audit_unavailable(&e, "fail to log in");
    let e = fails(&c, Method::GET, "/v1/me", Some(&key.key), None).await;
    assert_audit_unavailable(&e, "use an API key");
    // Reads still work, and show nothing changed.
    let (keys, _) = ok::<PageOf<Value>>(&c, Method::GET, "/v1/apikeys", Some(&at), None).await;
    assert_eq!(keys.items.len(), 1);
    assert!(keys.items[0]["revokedAt"].is_null(), "{:?}", keys.items[0]);
    let (users, _) = ok::<PageOf<UserView>>(&c, Method::GET, "/v1/users", Some(&at), None).await;
    assert_eq!(users.items.len(), 1);
    let (mfa, _) = ok::<Value>(&c, Method::GET, "/v1/settings/mfa", Some(&at), None).await;
    assert_eq!(mfa["required"], false);
    assert_eq!(log_of(&s, system).await, before, "no event was written");

    remove_failure(&s).await;
    // The same changes now work, each with its event; the key's use that
    // could not be recorded is recorded now.
    let (_, rid) = ok::<UserView>(&c, Method::GET, "/v1/me", Some(&key.key), None).await;
    let used: Vec<_> = log_of(&s, system)
        .await
        .into_iter()
        .filter(|e| e.request_uid.map(|u| u.to_string()) == Some(rid.clone()))
        .collect();
    assert_eq!(used.len(), 1, "the first recorded use of the key");
    assert_eq!(used[0].action, "auth.apikey");
    let (_, _) = ok::<ApiKeyCreated>(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "after"})),
    )
    .await;
    let (_, _) = ok::<Value>(
        &c,
        Method::PUT,
        "/v1/settings/mfa",
        Some(&at),
        Some(json!({"required": false})),
    )
    .await;
    // The refused failed login was not counted either: the next one is the first.
    let err = fails(
        &c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": "system", "email": ADMIN, "password": "wrong wrong wrong"})),
    )
    .await;
    let failed = log_of(&s, system)
        .await
        .into_iter()
        .find(|e| e.request_uid.map(|u| u.to_string()) == Some(err_rid(&err)))
        .unwrap();
    assert_eq!(details(&failed)["failures"], 1);
    login(&c, "system", ADMIN, GOOD).await;
    assert_verifies(&s).await;
}

// ------------------------------------------------------------ SIEM stream

/// A short flow of mutations and authentication events (success and failure).
async fn some_activity(s: &TestServer, c: &Client) {
    let at = admin_session(s, c).await.access_token.unwrap();
    let (k, _) = ok::<ApiKeyCreated>(
        c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "siem"})),
    )
    .await;
    let ((), _) = ok(
        c,
        Method::DELETE,
        &format!("/v1/apikeys/{}", k.api_key.uid),
        Some(&at),
        None,
    )
    .await;
    let err = fails(
        c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"tenant": "system", "email": ADMIN, "password": "not it at all"})),
    )
    .await;
    assert_eq!(code(&err).0, 401);
    let ((), _) = ok(c, Method::POST, "/v1/auth/logout", Some(&at), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siem_file_stream_gets_one_json_line_per_committed_event() {
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("audit.jsonl");
    let target = path.clone();
    let (s, _) = server_with(move |c| c.audit.stream = Some(StreamTarget::File(target))).await;
    // Events committed before the server started (bootstrap) are not streamed.
    let before: BTreeSet<String> = all_events(&s)
        .await
        .iter()
        .map(|e| e.uid.to_string())
        .collect();
    assert!(!before.is_empty());
    let c = ua_client(&s);
    some_activity(&s, &c).await;
    let committed: Vec<AuditEvent> = all_events(&s)
        .await
        .into_iter()
        .filter(|e| !before.contains(&e.uid.to_string()))
        .collect();
    assert!(committed.len() >= 6, "{committed:#?}");
    // The writer runs apart from requests: wait (bounded) for it.
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.len() >= committed.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let streamed: BTreeMap<String, AuditEventView> = lines
        .iter()
        .map(|l| {
            let v: AuditEventView = serde_json::from_str(l).unwrap();
            (v.uid.clone(), v)
        })
        .collect();
    assert_eq!(lines.len(), committed.len(), "one line per event");
    assert_eq!(streamed.len(), lines.len(), "no event twice");
    for e in &committed {
        let line = streamed
            .get(&e.uid.to_string())
            .unwrap_or_else(|| panic!("event {} ({}) not streamed", e.seq, e.action));
        assert_eq!(line, &palisade_server::audit::view(e), "streamed as stored");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(s.running.audit_stream.as_ref().unwrap().dropped(), 0);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siem_udp_syslog_stream_gets_rfc5424_messages() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let addr = sock.local_addr().unwrap();
    let (s, _) = server_with(move |c| c.audit.stream = Some(StreamTarget::SyslogUdp(addr))).await;
    let before: BTreeSet<String> = all_events(&s)
        .await
        .iter()
        .map(|e| e.uid.to_string())
        .collect();
    let c = ua_client(&s);
    some_activity(&s, &c).await;
    let committed: BTreeMap<String, AuditEvent> = all_events(&s)
        .await
        .into_iter()
        .filter(|e| !before.contains(&e.uid.to_string()))
        .map(|e| (e.uid.to_string(), e))
        .collect();
    let mut got = BTreeMap::new();
    let mut buf = vec![0u8; 65_536];
    while got.len() < committed.len() {
        let n = sock.recv(&mut buf).unwrap_or_else(|e| {
            panic!("{} of {} messages arrived: {e}", got.len(), committed.len())
        });
        let msg = String::from_utf8(buf[..n].to_vec()).unwrap();
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG (RFC 5424 §6).
        let (pri, rest) = msg
            .strip_prefix('<')
            .and_then(|m| m.split_once(">1 "))
            .unwrap_or_else(|| panic!("not RFC 5424: {msg}"));
        let pri: u8 = pri.parse().unwrap();
        let fields: Vec<&str> = rest.splitn(7, ' ').collect();
        assert_eq!(fields.len(), 7, "{msg}");
        let (ts, host, app, procid, msgid, sd, body) = (
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6],
        );
        assert!(
            ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "timestamp {ts}"
        );
        assert_eq!((host, app, sd), ("-", "palisade", "-"), "{msg}");
        assert!(procid.parse::<u32>().is_ok(), "{msg}");
        let view: AuditEventView = serde_json::from_str(body).unwrap();
        let e = committed
            .get(&view.uid)
            .unwrap_or_else(|| panic!("unknown event {}", view.uid));
        assert_eq!(view, palisade_server::audit::view(e));
        assert_eq!(msgid, e.action);
        // Facility authpriv (10); notice for successes, warning otherwise.
        let severity = if e.outcome == Outcome::Success { 5 } else { 4 };
        assert_eq!(pri, 10 * 8 + severity, "{msg}");
        assert!(got.insert(view.uid.clone(), pri).is_none(), "twice: {msg}");
    }
    assert!(
        got.values().any(|p| *p == 84),
        "a failure was streamed as a warning"
    );
    s.stop().await.unwrap();
}

/// `audit_lanes` gives new logs that many lanes (the system tenant's log is
/// made at the first start); events are numbered 1, 2, 3… and each links
/// to the event `lanes` before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lanes_setting_gives_new_logs_that_many_chains() {
    let (s, _clock) = server_with(|c| c.audit.lanes = Some(3)).await;
    let c = ua_client(&s);
    some_activity(&s, &c).await;
    let system = system_uid(&s).await;
    let lanes: Vec<(u32, u32)> = heads(&s)
        .await
        .iter()
        .filter(|h| h.tenant_uid == system)
        .map(|h| (h.lane, h.lanes))
        .collect();
    assert_eq!(lanes, vec![(0, 3), (1, 3), (2, 3)]);
    let events = log_of(&s, system).await;
    assert!(events.len() >= 4, "{}", events.len());
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    for (i, e) in events.iter().enumerate() {
        let before = i.checked_sub(3).map(|j| events[j].hash.clone());
        let genesis = palisade_crypto::audit::to_hex(&palisade_crypto::audit::lane_genesis(
            system,
            u32::try_from(i % 3).unwrap(),
        ));
        assert_eq!(e.prev_hash, before.unwrap_or(genesis), "#{}", e.seq);
    }
    assert_verifies(&s).await;
    s.stop().await.unwrap();
}

// -------------------------------------------------------------- retention

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_archives_then_prunes_and_the_chain_verifies_across_the_cut() {
    let (s, clock) = server_with(|c| c.audit.retention_days = 1).await;
    let c = ua_client(&s);
    let system = system_uid(&s).await;
    let at = admin_session(&s, &c).await.access_token.unwrap();
    for i in 0..3 {
        let (_, _) = ok::<ApiKeyCreated>(
            &c,
            Method::POST,
            "/v1/apikeys",
            Some(&at),
            Some(json!({"name": format!("old {i}")})),
        )
        .await;
    }
    let old = log_of(&s, system).await;
    let last_old = old.last().unwrap().seq;

    // Two days later: new events, then a retention pass.
    clock.advance(2 * 86_400_000);
    let at = login(&c, "system", ADMIN, GOOD)
        .await
        .0
        .access_token
        .unwrap();
    let (_, _) = ok::<ApiKeyCreated>(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "new"})),
    )
    .await;
    let archive_dir = tempfile::tempdir().unwrap();
    let cfg = AuditConfig {
        retention_days: 1,
        archive_dir: archive_dir.path().join("archive"),
        stream: None,
        lanes: None,
    };
    let keyring = s.keyring().unwrap();
    let signer = palisade_crypto::audit::AuditSigner::from_keyring(&keyring).unwrap();
    let verifier = signer.verifier();
    let report = palisade_server::audit::retention_pass(
        &*s.running.store,
        &cfg,
        &signer,
        keyring.installation_uid(),
        clock.now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(report.removed, old.len() as u64, "{report:?}");
    assert_eq!(report.archives.len(), 1, "one log had expired events");
    let path = &report.archives[0];
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    // The archive holds exactly the removed events, sealed.
    let text = std::fs::read_to_string(path).unwrap();
    let summary = palisade_server::audit::verify_archive(&text, &verifier).unwrap();
    assert_eq!(summary.events, old.len() as u64);
    assert_eq!(
        (summary.header.from_seq, summary.header.to_seq),
        (1, last_old)
    );
    assert_eq!(summary.header.tenant_uid, system.to_string());
    let archived: Vec<AuditEvent> = text
        .lines()
        .skip(1)
        .take(old.len())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(archived, old, "archived as stored");

    // The log verifies across the cut, which a signed checkpoint pins.
    assert_verifies(&s).await;
    let r = s.running.store.verify_audit(Some(system)).await.unwrap();
    assert_eq!(r[0].first_seq, Some(last_old + 1));
    let heads = heads(&s).await;
    let head = heads.iter().find(|h| h.tenant_uid == system).unwrap();
    assert_eq!(head.base_seq, last_old);
    assert_eq!(head.base_hash, old.last().unwrap().hash);

    // The pruning is itself recorded, by the system, naming the archive.
    let now_log = log_of(&s, system).await;
    let prune: Vec<&AuditEvent> = now_log
        .iter()
        .filter(|e| e.action == "audit.prune")
        .collect();
    assert_eq!(prune.len(), 1);
    let p = prune[0];
    assert_eq!(p.actor_kind, ActorKind::System);
    assert_eq!(p.target_uid.as_deref(), Some(system.to_string().as_str()));
    let d = details(p);
    assert_eq!(d["fromSeq"], 1);
    assert_eq!(d["toSeq"], last_old);
    assert_eq!(d["removed"], old.len());
    assert_eq!(d["archive"].as_str(), path.file_name().unwrap().to_str());

    // Old events are gone from the API; the new ones remain.
    let api = api_log(&c, &at, "").await;
    assert_eq!(api[0].seq, last_old + 1);
    let old_uids: BTreeSet<String> = old.iter().map(|e| e.uid.to_string()).collect();
    assert!(api.iter().all(|e| !old_uids.contains(&e.uid)));
    assert!(api.iter().any(|e| e.action == "apikey.create"));

    // A second pass has nothing to do; two days later a second cut still verifies.
    let again = palisade_server::audit::retention_pass(
        &*s.running.store,
        &cfg,
        &signer,
        keyring.installation_uid(),
        clock.now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(again.removed, 0);
    clock.advance(2 * 86_400_000);
    let second = palisade_server::audit::retention_pass(
        &*s.running.store,
        &cfg,
        &signer,
        keyring.installation_uid(),
        clock.now_ms(),
    )
    .await
    .unwrap();
    assert!(second.removed > 0);
    assert_verifies(&s).await;
    let text2 = std::fs::read_to_string(&second.archives[0]).unwrap();
    let s2 = palisade_server::audit::verify_archive(&text2, &verifier).unwrap();
    assert_eq!(s2.header.from_seq, last_old + 1, "the archives join up");
    assert_eq!(s2.header.prev_hash, old.last().unwrap().hash);

    // Any flipped byte in an archive is detected.
    for at_byte in [text.len() / 2, 5, text.len() - 10] {
        let mut bytes = text.clone().into_bytes();
        bytes[at_byte] ^= 0x01;
        let flipped = String::from_utf8_lossy(&bytes).into_owned();
        let err = palisade_server::audit::verify_archive(&flipped, &verifier).unwrap_err();
        assert!(!err.is_empty(), "byte {at_byte}");
    }
    let mid = palisade_server::audit::verify_archive(
        &{
            let mut b = text.clone().into_bytes();
            let i = text.find("\"action\":\"apikey.create\"").unwrap() + 12;
            b[i] ^= 0x01;
            String::from_utf8(b).unwrap()
        },
        &verifier,
    )
    .unwrap_err();
    assert!(mid.contains("modified"), "{mid}");
    // Another installation's key does not accept the seal.
    let stranger = palisade_crypto::audit::AuditSigner::from_keyring(
        &palisade_crypto::Keyring::generate().unwrap(),
    )
    .unwrap()
    .verifier();
    assert!(palisade_server::audit::verify_archive(&text, &stranger).is_err());
}

// ----------------------------------------------------------------- canary

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_email_reaches_an_audit_event() {
    let (s, clock) = server_with(|_| {}).await;
    let c = ua_client(&s);
    let mut secrets: Vec<String> = Vec::new();
    let otp = s.admin_password().unwrap();
    secrets.push(otp.clone());
    c.change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    secrets.push(GOOD.into());
    let (first, _) = login(&c, "system", ADMIN, GOOD).await;
    let at = first.access_token.clone().unwrap();
    secrets.push(at.clone());
    secrets.push(first.refresh_token.clone().unwrap());
    let (next, _) = ok::<LoginResponse>(
        &c,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": first.refresh_token})),
    )
    .await;
    secrets.push(next.access_token.clone().unwrap());
    secrets.push(next.refresh_token.clone().unwrap());
    // A reused refresh token too.
    let _ = fails(
        &c,
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": first.refresh_token})),
    )
    .await;
    let at = login(&c, "system", ADMIN, GOOD)
        .await
        .0
        .access_token
        .unwrap();
    secrets.push(at.clone());
    // API keys: the whole key and its secret part.
    let (key, _) = ok::<ApiKeyCreated>(
        &c,
        Method::POST,
        "/v1/apikeys",
        Some(&at),
        Some(json!({"name": "canary"})),
    )
    .await;
    secrets.push(key.key.clone());
    secrets.push(key.key.rsplit('.').next().unwrap().to_owned());
    let (_, _) = ok::<UserView>(&c, Method::GET, "/v1/me", Some(&key.key), None).await;
    let mut forged = key.key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let _ = fails(&c, Method::GET, "/v1/me", Some(&forged), None).await;
    secrets.push(forged.rsplit('.').next().unwrap().to_owned());
    // Users: creation, first password change, reset (a new one-time password).
    let emails = ["canary.bob@example.net", "canary.ghost@example.org"];
    let (bob, _) = ok::<UserWithPassword>(
        &c,
        Method::POST,
        "/v1/users",
        Some(&at),
        Some(json!({"email": emails[0], "displayName": "Bob Canary"})),
    )
    .await;
    secrets.push(bob.initial_password.clone());
    c.change_password("system", emails[0], &bob.initial_password, GOOD2)
        .await
        .unwrap();
    secrets.push(GOOD2.into());
    let (reset, _) = ok::<Value>(
        &c,
        Method::POST,
        &format!("/v1/users/{}/reset-password", bob.user.uid),
        Some(&at),
        None,
    )
    .await;
    secrets.push(reset["initialPassword"].as_str().unwrap().to_owned());
    // Failed logins with an unknown email and a wrong password.
    let wrong = "canary wrong password 99";
    secrets.push(wrong.into());
    for (email, pw) in [(emails[1], GOOD), (emails[0], wrong), (ADMIN, wrong)] {
        let _ = fails(
            &c,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"tenant": "system", "email": email, "password": pw})),
        )
        .await;
    }
    // TOTP: the secret, the codes, recovery codes (one used to log in, one to disable).
    let (enrol, _) =
        ok::<TotpEnrolment>(&c, Method::POST, "/v1/me/mfa/totp", Some(&at), None).await;
    secrets.push(enrol.secret.clone());
    let secret = palisade_crypto::TotpSecret::from_base32(&enrol.secret).unwrap();
    let code_now = || palisade_crypto::totp::code_at(&secret, clock.now_ms() / 1000).unwrap();
    let (rc, _) = ok::<RecoveryCodes>(
        &c,
        Method::POST,
        "/v1/me/mfa/totp/confirm",
        Some(&at),
        Some(json!({"code": code_now()})),
    )
    .await;
    secrets.extend(rc.recovery_codes.iter().cloned());
    let (challenge, _) = login(&c, "system", ADMIN, GOOD).await;
    let mfa_token = challenge.mfa_token.unwrap();
    secrets.push(mfa_token.clone());
    let (tokens, _) = ok::<LoginResponse>(
        &c,
        Method::POST,
        "/v1/auth/mfa",
        None,
        Some(json!({"mfaToken": mfa_token, "recoveryCode": rc.recovery_codes[0]})),
    )
    .await;
    secrets.push(tokens.access_token.clone().unwrap());
    secrets.push(tokens.refresh_token.clone().unwrap());
    let at2 = tokens.access_token.unwrap();
    let ((), _) = ok(
        &c,
        Method::POST,
        "/v1/me/mfa/totp/disable",
        Some(&at2),
        Some(json!({"code": rc.recovery_codes[1]})),
    )
    .await;
    let ((), _) = ok(
        &c,
        Method::DELETE,
        &format!("/v1/users/{}", bob.user.uid),
        Some(&at2),
        None,
    )
    .await;
    let ((), _) = ok(&c, Method::POST, "/v1/auth/logout", Some(&at2), None).await;

    // Every column of every event row, as the database holds it.
    let rows = sqlx::query("SELECT * FROM audit_events")
        .fetch_all(s.running.store.pool())
        .await
        .unwrap();
    assert!(rows.len() > 20, "the flow wrote {} events", rows.len());
    let mut text = String::new();
    for row in &rows {
        for i in 0..row.len() {
            if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
                text.push_str(&v);
                text.push('\n');
            }
        }
    }
    for canary in secrets
        .iter()
        .map(String::as_str)
        .chain(emails)
        .chain([ADMIN])
    {
        assert!(canary.len() >= 8, "{canary:?} is too short to be a canary");
        assert!(
            !text.contains(canary),
            "a secret or email reached the audit log: {canary:?}"
        );
        let lower = canary.to_lowercase();
        assert!(
            !text.to_lowercase().contains(&lower),
            "{canary:?} (any case)"
        );
    }
    assert_verifies(&s).await;
}
