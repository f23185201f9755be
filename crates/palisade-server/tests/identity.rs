//! Identity end to end over HTTPS against the real server: login, password
//! policy, refresh rotation and reuse detection, logout, expiry, revocation,
//! API keys, TOTP MFA with recovery codes, brute-force defences, bad tokens.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::sync::Arc;

use palisade_client::{Client, ClientError, Method};
use palisade_core::clock::ManualClock;
use palisade_core::{Clock, SystemClock};
use palisade_proto::auth::{
    ApiKeyCreated, LoginResponse, PageOf, RecoveryCodes, Revoked, TotpEnrolment, UserView,
    UserWithPassword,
};
use palisade_testkit::TestServer;
use serde_json::{Value, json};

const ADMIN: &str = "admin@localhost";
const GOOD: &str = "lantern orchard quietly 7 rivers";
const GOOD2: &str = "copper meadow sings at dusk 42";

fn code(e: &ClientError) -> (u16, String) {
    match e {
        ClientError::Api { status, body } => (*status, body.code.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

async fn call<T: serde::de::DeserializeOwned>(
    c: &Client,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Result<T, ClientError> {
    c.call(m, path, Some(token), body.as_ref())
        .await
        .map(|a| a.body)
}

/// Server on a manual clock; the admin has set a real password.
async fn server() -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = TestServer::start_with_clock(clock.clone(), |c| {
        c.auth.auth_requests_per_minute = 10_000;
    })
    .await
    .unwrap();
    let otp = s.admin_password().unwrap();
    s.client
        .change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    (s, clock)
}

async fn login(c: &Client, email: &str, pw: &str) -> LoginResponse {
    c.login("system", email, pw).await.unwrap().body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_admin_must_change_password_then_logs_in() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = TestServer::start_with_clock(clock, |_| {}).await.unwrap();
    let c = &s.client;
    let otp = s.admin_password().unwrap();
    let r = login(c, ADMIN, &otp).await;
    assert_eq!(r.password_change_required, Some(true));
    assert_eq!(r.reason.as_deref(), Some("initial"));
    assert!(r.access_token.is_none() && r.refresh_token.is_none());
    // Policy rejections, each with its own code.
    for (bad, expect) in [
        ("short", "password_too_short"),
        ("password1234", "password_common"),
        ("admin@localhost-admin", "password_contains_user_info"),
        ("aaaaaaaaaaaaaaaa", "password_too_weak"),
    ] {
        let e = c
            .change_password("system", ADMIN, &otp, bad)
            .await
            .unwrap_err();
        assert_eq!(code(&e), (400, expect.into()), "{bad}");
    }
    // Wrong current password.
    let e = c
        .change_password("system", ADMIN, "not-it", GOOD)
        .await
        .unwrap_err();
    assert_eq!(code(&e).1, "invalid_credentials");
    c.change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    // The one-time password no longer works; reuse of the new one is refused.
    assert_eq!(
        code(&c.login("system", ADMIN, &otp).await.unwrap_err()).1,
        "invalid_credentials"
    );
    let e = c
        .change_password("system", ADMIN, GOOD, GOOD)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "password_reused".into()));
    let r = login(c, ADMIN, GOOD).await;
    assert_eq!(r.token_type.as_deref(), Some("Bearer"));
    assert_eq!(r.expires_in, Some(900));
    let me: UserView = call(
        c,
        Method::GET,
        "/v1/me",
        r.access_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(me.email, ADMIN);
    // The bootstrap admin is the platform administrator.
    let perms: serde_json::Value = call(
        c,
        Method::GET,
        &format!("/v1/users/{}/permissions", me.uid),
        r.access_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap();
    let held: Vec<&str> = perms["effective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["permission"].as_str().unwrap())
        .collect();
    assert!(held.contains(&"tenant.create"), "{held:?}");
    assert!(held.contains(&"user.create"), "{held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenant_email_and_wrong_password_look_the_same() {
    let (s, _) = server().await;
    let c = &s.client;
    let mut seen = Vec::new();
    for (tenant, email, pw) in [
        ("nope", ADMIN, GOOD),
        ("system", "ghost@localhost", GOOD),
        ("system", ADMIN, "wrong password here"),
    ] {
        match c.login(tenant, email, pw).await.unwrap_err() {
            ClientError::Api { status, body } => seen.push((status, body.code, body.message)),
            other => panic!("{other}"),
        }
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    assert_eq!(seen[0].0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_revokes_only_that_session() {
    let (s, _) = server().await;
    let c = &s.client;
    let a = login(c, ADMIN, GOOD).await;
    let b = login(c, ADMIN, GOOD).await; // another tab
    let a2 = c
        .refresh(a.refresh_token.as_deref().unwrap())
        .await
        .unwrap()
        .body;
    assert_ne!(a2.refresh_token, a.refresh_token);
    let a2_at = a2.access_token.clone().unwrap();
    let _: UserView = call(c, Method::GET, "/v1/me", &a2_at, None).await.unwrap();
    // Presenting the used token again: reuse detected, session A revoked.
    let e = c
        .refresh(a.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "refresh_token_reused".into()));
    let e = call::<UserView>(c, Method::GET, "/v1/me", &a2_at, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "session_revoked".into()));
    let e = c
        .refresh(a2.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, 401);
    // Session B is untouched.
    let _: UserView = call(
        c,
        Method::GET,
        "/v1/me",
        b.access_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap();
    c.refresh(b.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    // Garbage refresh tokens; an empty one is not even well formed.
    assert_eq!(
        code(&c.refresh("").await.unwrap_err()),
        (400, "invalid_request".into())
    );
    for bad in ["prt.zzz.x", "prt.000000000000.short"] {
        assert_eq!(
            code(&c.refresh(bad).await.unwrap_err()).1,
            "refresh_token_invalid"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_expiry_idle_and_admin_revocation() {
    let (s, clock) = server().await;
    let c = &s.client;
    // Logout ends the session on the next request.
    let r = login(c, ADMIN, GOOD).await;
    let at = r.access_token.unwrap();
    let _: () = call(c, Method::POST, "/v1/auth/logout", &at, None)
        .await
        .unwrap();
    let e = call::<UserView>(c, Method::GET, "/v1/me", &at, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "session_revoked".into()));
    // Access tokens expire after 15 minutes; refresh still works within the idle window.
    let r = login(c, ADMIN, GOOD).await;
    clock.advance(16 * 60 * 1000);
    let e = call::<UserView>(
        c,
        Method::GET,
        "/v1/me",
        r.access_token.as_deref().unwrap(),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(code(&e), (401, "token_expired".into()));
    let r2 = c
        .refresh(r.refresh_token.as_deref().unwrap())
        .await
        .unwrap()
        .body;
    // Idle timeout: 31 minutes without use ends the session.
    clock.advance(31 * 60 * 1000);
    let e = c
        .refresh(r2.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "session_expired".into()));
    // Admin revokes all sessions of a user: they stop on the next request.
    let admin = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let created: UserWithPassword = call(
        c,
        Method::POST,
        "/v1/users",
        &admin,
        Some(json!({"email": "bob@example.com", "displayName": "Bob"})),
    )
    .await
    .unwrap();
    assert!(created.user.must_change_password);
    c.change_password(
        "system",
        "bob@example.com",
        &created.initial_password,
        GOOD2,
    )
    .await
    .unwrap();
    let bob1 = login(c, "bob@example.com", GOOD2)
        .await
        .access_token
        .unwrap();
    let bob2 = login(c, "bob@example.com", GOOD2)
        .await
        .access_token
        .unwrap();
    let path = format!("/v1/users/{}/sessions/revoke", created.user.uid);
    let rev: Revoked = call(c, Method::POST, &path, &admin, None).await.unwrap();
    assert_eq!(rev.revoked, 2);
    for t in [&bob1, &bob2] {
        let e = call::<UserView>(c, Method::GET, "/v1/me", t, None)
            .await
            .unwrap_err();
        assert_eq!(code(&e).1, "session_revoked");
    }
    // Members cannot manage users.
    let bob = login(c, "bob@example.com", GOOD2)
        .await
        .access_token
        .unwrap();
    let e = call::<PageOf<UserView>>(c, Method::GET, "/v1/users", &bob, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (403, "permission_denied".into()));
    // Disable: login refused, tokens stop. Delete: the token's user is unknown.
    let uid = &created.user.uid;
    let _: () = call(
        c,
        Method::POST,
        &format!("/v1/users/{uid}/disable"),
        &admin,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            &c.login("system", "bob@example.com", GOOD2)
                .await
                .unwrap_err()
        ),
        (403, "account_disabled".into())
    );
    let _: () = call(
        c,
        Method::POST,
        &format!("/v1/users/{uid}/enable"),
        &admin,
        None,
    )
    .await
    .unwrap();
    let bob = login(c, "bob@example.com", GOOD2)
        .await
        .access_token
        .unwrap();
    let _: () = call(c, Method::DELETE, &format!("/v1/users/{uid}"), &admin, None)
        .await
        .unwrap();
    let e = call::<UserView>(c, Method::GET, "/v1/me", &bob, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_act_as_owner_until_revoked() {
    let (s, _) = server().await;
    let c = &s.client;
    let at = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let made: ApiKeyCreated = call(
        c,
        Method::POST,
        "/v1/apikeys",
        &at,
        Some(json!({"name": "ci robot", "expiresInDays": 30})),
    )
    .await
    .unwrap();
    assert!(made.key.starts_with("pak."));
    let me: UserView = call(c, Method::GET, "/v1/me", &made.key, None)
        .await
        .unwrap();
    assert_eq!(me.email, ADMIN);
    let list: PageOf<Value> = call(c, Method::GET, "/v1/apikeys", &at, None)
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        list.items[0].get("key").is_none(),
        "the secret is never listed"
    );
    // A wrong secret for a real key id.
    let mut forged = made.key.clone();
    forged.pop();
    forged.push(if made.key.ends_with('A') { 'B' } else { 'A' });
    let e = call::<UserView>(c, Method::GET, "/v1/me", &forged, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "api_key_invalid".into()));
    let _: () = call(
        c,
        Method::DELETE,
        &format!("/v1/apikeys/{}", made.api_key.uid),
        &at,
        None,
    )
    .await
    .unwrap();
    let e = call::<UserView>(c, Method::GET, "/v1/me", &made.key, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "api_key_revoked".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrol_login_replay_and_recovery_codes() {
    let (s, clock) = server().await;
    let c = &s.client;
    let at = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let enrol: TotpEnrolment = call(c, Method::POST, "/v1/me/mfa/totp", &at, None)
        .await
        .unwrap();
    assert!(enrol.otpauth_uri.starts_with("otpauth://totp/"));
    assert!(enrol.qr_svg.contains("<svg"));
    let secret = palisade_crypto::TotpSecret::from_base32(&enrol.secret).unwrap();
    let now_s = || clock.now_ms() / 1000;
    let first = palisade_crypto::totp::code_at(&secret, now_s()).unwrap();
    let e = call::<RecoveryCodes>(
        c,
        Method::POST,
        "/v1/me/mfa/totp/confirm",
        &at,
        Some(json!({"code": "000000"})),
    )
    .await;
    if first != "000000" {
        assert_eq!(code(&e.unwrap_err()).1, "mfa_invalid");
    }
    let rc: RecoveryCodes = call(
        c,
        Method::POST,
        "/v1/me/mfa/totp/confirm",
        &at,
        Some(json!({"code": first})),
    )
    .await
    .unwrap();
    assert_eq!(rc.recovery_codes.len(), 10);
    // Login now needs the second factor.
    let r = login(c, ADMIN, GOOD).await;
    assert_eq!(r.mfa_required, Some(true));
    assert!(r.access_token.is_none());
    let token = r.mfa_token.unwrap();
    let mfa = |body: Value| async move {
        c.call::<Value, LoginResponse>(Method::POST, "/v1/auth/mfa", None, Some(&body))
            .await
    };
    // The code used to confirm cannot be used again.
    let e = mfa(json!({"mfaToken": token, "code": first}))
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "mfa_invalid".into()));
    clock.advance(30_000);
    let next = palisade_crypto::totp::code_at(&secret, now_s()).unwrap();
    let ok = mfa(json!({"mfaToken": token, "code": next}))
        .await
        .unwrap()
        .body;
    assert!(ok.access_token.is_some());
    // …and never twice.
    let e = mfa(json!({"mfaToken": token, "code": next}))
        .await
        .unwrap_err();
    assert_eq!(code(&e).1, "mfa_invalid");
    // A recovery code works once.
    let rcode = rc.recovery_codes[0].clone();
    let ok = mfa(json!({"mfaToken": token, "recoveryCode": rcode}))
        .await
        .unwrap()
        .body;
    let claims = decode_claims(ok.access_token.as_deref().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "recovery"]));
    let e = mfa(json!({"mfaToken": token, "recoveryCode": rc.recovery_codes[0]}))
        .await
        .unwrap_err();
    assert_eq!(code(&e).1, "mfa_invalid");
    // The MFA token is not an access token.
    let e = call::<UserView>(c, Method::GET, "/v1/me", &token, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "token_audience_invalid".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_mfa_requirement_forces_enrolment() {
    let (s, _) = server().await;
    let c = &s.client;
    let at = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let _: Value = call(
        c,
        Method::PUT,
        "/v1/settings/mfa",
        &at,
        Some(json!({"required": true})),
    )
    .await
    .unwrap();
    let r = login(c, ADMIN, GOOD).await;
    assert_eq!(r.mfa_enrollment_required, Some(true));
    let limited = r.access_token.unwrap();
    let e = call::<UserView>(c, Method::GET, "/v1/me", &limited, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (403, "mfa_enrollment_required".into()));
    let _: TotpEnrolment = call(c, Method::POST, "/v1/me/mfa/totp", &limited, None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_policy_rules_each_rejected_with_its_code() {
    let (s, _) = server().await;
    let c = &s.client;
    let at = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let policy: Value = call(c, Method::GET, "/v1/settings/password-policy", &at, None)
        .await
        .unwrap();
    assert_eq!(policy["minLength"], 12);
    let strict = json!({
        "minLength": 14, "maxLength": 128, "requireUppercase": true, "requireLowercase": true,
        "requireDigit": true, "requireSymbol": true, "expiryDays": 90, "history": 3, "minStrength": 3
    });
    let _: Value = call(
        c,
        Method::PUT,
        "/v1/settings/password-policy",
        &at,
        Some(strict),
    )
    .await
    .unwrap();
    let back: Value = call(c, Method::GET, "/v1/settings/password-policy", &at, None)
        .await
        .unwrap();
    assert_eq!(back["requireSymbol"], true, "{back}");
    let e = call::<Value>(
        c,
        Method::PUT,
        "/v1/settings/password-policy",
        &at,
        Some(json!({"minLength": 3})),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&e).0, 400);
    for (pw, expect) in [
        ("lantern orchard quietly", "password_missing_uppercase"),
        ("LANTERN ORCHARD QUIETLY", "password_missing_lowercase"),
        ("Lantern orchard quietly", "password_missing_digit"),
        // Spaces count as symbols (OWASP's list of special characters).
        ("LanternOrchardQuietly7", "password_missing_symbol"),
    ] {
        let e = c
            .change_password("system", ADMIN, GOOD, pw)
            .await
            .unwrap_err();
        assert_eq!(code(&e), (400, expect.into()), "{pw}");
    }
    c.change_password("system", ADMIN, GOOD, "Lantern orchard quietly 7!")
        .await
        .unwrap();
    // History (3): a recent password cannot come back, even one change later.
    c.change_password(
        "system",
        ADMIN,
        "Lantern orchard quietly 7!",
        "Copper meadow sings 42!",
    )
    .await
    .unwrap();
    let e = c
        .change_password(
            "system",
            ADMIN,
            "Copper meadow sings 42!",
            "Lantern orchard quietly 7!",
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), (400, "password_reused".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_password_can_only_be_changed() {
    let (s, clock) = server().await;
    let c = &s.client;
    let at = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let mut p: Value = call(c, Method::GET, "/v1/settings/password-policy", &at, None)
        .await
        .unwrap();
    p["expiryDays"] = json!(30);
    let _: Value = call(c, Method::PUT, "/v1/settings/password-policy", &at, Some(p))
        .await
        .unwrap();
    clock.advance(31 * 86_400_000);
    let r = login(c, ADMIN, GOOD).await;
    assert_eq!(r.password_change_required, Some(true));
    assert_eq!(r.reason.as_deref(), Some("expired"));
    c.change_password("system", ADMIN, GOOD, GOOD2)
        .await
        .unwrap();
    assert!(login(c, ADMIN, GOOD2).await.access_token.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_delays_are_per_account_and_client() {
    let (s, _) = server().await;
    let attacker = &s.client; // 127.0.0.1
    let owner = s.client_from("127.0.0.2".parse().unwrap()).unwrap();
    for _ in 0..5 {
        let e = attacker
            .login("system", ADMIN, "guess guess guess")
            .await
            .unwrap_err();
        assert_eq!(code(&e).1, "invalid_credentials");
    }
    // The sixth failure starts the delay; now even the right password waits.
    let _ = attacker.login("system", ADMIN, "guess guess guess").await;
    match attacker.login("system", ADMIN, GOOD).await.unwrap_err() {
        ClientError::Api { status, body } => {
            assert_eq!((status, body.code.as_str()), (429, "login_throttled"));
        }
        other => panic!("{other}"),
    }
    // The owner, from another address, is not locked out.
    assert!(login(&owner, ADMIN, GOOD).await.access_token.is_some());
    // An admin can clear the counters.
    let at = login(&owner, ADMIN, GOOD).await.access_token.unwrap();
    let me: UserView = call(&owner, Method::GET, "/v1/me", &at, None)
        .await
        .unwrap();
    let _: () = call(
        &owner,
        Method::POST,
        &format!("/v1/users/{}/unlock", me.uid),
        &at,
        None,
    )
    .await
    .unwrap();
    assert!(login(attacker, ADMIN, GOOD).await.access_token.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_endpoints_are_rate_limited_per_address() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = TestServer::start_with_clock(clock, |c| c.auth.auth_requests_per_minute = 3)
        .await
        .unwrap();
    let mut limited = None;
    for _ in 0..6 {
        let r = s
            .client
            .call::<Value, Value>(
                Method::POST,
                "/v1/auth/refresh",
                None,
                Some(&json!({"refreshToken": "x"})),
            )
            .await;
        if let Err(ClientError::Api { status: 429, body }) = r {
            limited = Some(body.code);
            break;
        }
    }
    assert_eq!(limited.as_deref(), Some("rate_limited"));
    // Another address still gets through.
    let other = s.client_from("127.0.0.3".parse().unwrap()).unwrap();
    let e = other.refresh("x").await.unwrap_err();
    assert_eq!(code(&e).1, "refresh_token_invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_specific_401s_never_500() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let (s, clock) = server().await;
    let c = &s.client;
    let at = login(c, ADMIN, GOOD).await.access_token.unwrap();
    let claims = decode_claims(&at);
    let keys = palisade_crypto::token::TokenKeys::from_keyring(&s.keyring().unwrap()).unwrap();
    let sign = |mut v: Value, edit: &dyn Fn(&mut Value)| {
        edit(&mut v);
        keys.sign(&v).unwrap()
    };
    let parts: Vec<&str> = at.split('.').collect();
    let unsigned = |header: &str| format!("{}.{}.", B64.encode(header), parts[1]);
    let now = clock.now_ms() / 1000;
    let cases: Vec<(String, &str)> = vec![
        (flip_signature(&at), "token_signature_invalid"),
        (
            unsigned(r#"{"alg":"none","typ":"JWT"}"#),
            "token_algorithm_not_allowed",
        ),
        (
            unsigned(r#"{"alg":"HS256","kid":"1"}"#),
            "token_algorithm_not_allowed",
        ),
        (
            unsigned(r#"{"alg":"EdDSA","kid":"77"}"#),
            "token_kid_unknown",
        ),
        (
            sign(claims.clone(), &|v| v["exp"] = json!(now - 1)),
            "token_expired",
        ),
        (
            sign(claims.clone(), &|v| v["iat"] = json!(now + 3600)),
            "token_not_yet_valid",
        ),
        (
            sign(claims.clone(), &|v| {
                v["iss"] = json!("palisade:ffffffffffff")
            }),
            "token_issuer_invalid",
        ),
        (
            sign(claims.clone(), &|v| v["aud"] = json!("something-else")),
            "token_audience_invalid",
        ),
        ("not-a-token".into(), "token_malformed"),
    ];
    for (token, expect) in cases {
        let e = call::<UserView>(c, Method::GET, "/v1/me", &token, None)
            .await
            .unwrap_err();
        assert_eq!(code(&e), (401, expect.into()), "{expect}");
    }
    let e = c
        .call::<Value, UserView>(Method::GET, "/v1/me", None, None)
        .await
        .unwrap_err();
    assert_eq!(code(&e), (401, "token_missing".into()));
    // JWKS publishes the verifying key.
    let jwks: Value = c.get("/.well-known/jwks.json").await.unwrap().body;
    assert_eq!(jwks["keys"][0]["kid"], "1");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
}

/// The same token with one signature byte changed (still valid base64url).
fn flip_signature(token: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut raw = B64.decode(sig).unwrap();
    raw[10] ^= 0x01;
    format!("{head}.{}", B64.encode(raw))
}

fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// Unknown email and wrong password cannot be told apart by the answer or
/// its timing. Interleaved samples, compared by median; bounded (3 × 25
/// logins) and with a wide margin so it does not flake under load, yet an
/// answer that skipped the password hash (≈ 10× faster) fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_email_and_wrong_password_take_the_same_time() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let s = TestServer::start_with_clock(clock, |c| {
        c.auth.auth_requests_per_minute = 1_000_000;
        c.auth.login_free_attempts = 100;
    })
    .await
    .unwrap();
    let otp = s.admin_password().unwrap();
    s.client
        .change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    let c = &s.client;
    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let cases = [
        ("system", "ghost@localhost"),
        ("system", ADMIN),
        ("no-such-tenant", ADMIN),
    ];
    for round in 0..25 {
        for (i, (tenant, email)) in cases.iter().enumerate() {
            let started = std::time::Instant::now();
            let e = c
                .login(tenant, email, &format!("wrong password {round}"))
                .await
                .unwrap_err();
            times[i].push(started.elapsed().as_secs_f64());
            assert_eq!(code(&e), (401, "invalid_credentials".into()));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let m: Vec<f64> = times.iter_mut().map(median).collect();
    let (lo, hi) = (
        m.iter().cloned().fold(f64::MAX, f64::min),
        m.iter().cloned().fold(0.0, f64::max),
    );
    assert!(
        hi / lo < 1.5,
        "median login times differ too much: unknown email {:.1} ms, wrong password {:.1} ms, unknown tenant {:.1} ms",
        m[0] * 1e3,
        m[1] * 1e3,
        m[2] * 1e3
    );
}
