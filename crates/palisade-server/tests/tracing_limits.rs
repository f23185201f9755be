//! Request tracing, security headers and rate limits, over HTTPS against the
//! real server.
//!
//! The server's JSON log lines are captured as `palisade serve` writes them
//! (`palisade_testkit::capture_logs`); each request's access-log line must
//! carry its request UID (the same as `X-Request-Uid` and an error body's
//! `requestUid`), its tenant, session and user, the route template, status
//! and latency, and for a rejection its code and reason — and no line may
//! carry a request value (password, token, one-time password, payload).

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use base64::Engine;
use palisade_client::Method;
use serde_json::{Value, json};
use support::{GOOD, Resp, call, send};

/// The session UID inside an access token.
fn session_of(token: &str) -> String {
    let claims = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

fn is_uid(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_traces_every_request_and_never_logs_a_value() {
    let logs = palisade_testkit::capture_logs().unwrap();
    let (s, root) = support::server().await;
    let c = &s.client;
    let (acme, admin_uid, admin) = support::tenant(c, &root, "acme").await;
    let created = call(
        c,
        Method::POST,
        "/v1/users",
        Some(&admin),
        Some(&json!({"email": "viewer@acme.test", "displayName": "Viewer"})),
    )
    .await
    .ok();
    let one_time = created.str("initialPassword");
    let viewer_uid = created.body["user"]["uid"].as_str().unwrap().to_owned();
    c.change_password("acme", "viewer@acme.test", &one_time, GOOD)
        .await
        .unwrap();
    let tokens = c
        .login("acme", "viewer@acme.test", GOOD)
        .await
        .unwrap()
        .body;
    let viewer = tokens.access_token.clone().unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    support::bind(c, &admin, &viewer_uid, "tenant-viewer", None).await;
    let canary_credentials = "AKIA-canary-credentials-9f2b";
    let project = call(
        c,
        Method::POST,
        "/v1/projects",
        Some(&admin),
        Some(&json!({"name": "web"})),
    )
    .await
    .ok()
    .str("uid");
    call(
        c,
        Method::POST,
        &format!("/v1/projects/{project}/cloudaccounts"),
        Some(&admin),
        Some(&json!({"name": "aws", "provider": "aws", "credentials": canary_credentials})),
    )
    .await
    .ok();
    let payload = "x' OR '1'='1' -- canary";

    // Each case: the call, and what its access-log line must say.
    struct Case {
        what: &'static str,
        r: Resp,
        route: String,
        status: u16,
        who: Option<(String, String, String)>,
        code: Option<&'static str>,
    }
    let me = |token: &str, who: (String, String, String)| {
        let token = token.to_owned();
        async move {
            let r = call(c, Method::GET, "/v1/me", Some(&token), None).await;
            (r, who)
        }
    };
    let viewer_who = (acme.clone(), session_of(&viewer), viewer_uid.clone());
    let admin_who = (acme.clone(), session_of(&admin), admin_uid.clone());
    let mut cases = Vec::new();
    let (r, who) = me(&viewer, viewer_who.clone()).await;
    cases.push(Case {
        what: "an allowed read",
        r,
        route: "/v1/me".into(),
        status: 200,
        who: Some(who),
        code: None,
    });
    cases.push(Case {
        what: "a route with a parameter",
        r: call(
            c,
            Method::GET,
            &format!("/v1/users/{viewer_uid}"),
            Some(&admin),
            None,
        )
        .await,
        route: "/v1/users/{uid}".into(),
        status: 200,
        who: Some(admin_who.clone()),
        code: None,
    });
    cases.push(Case {
        what: "a denial",
        r: call(
            c,
            Method::POST,
            "/v1/teams",
            Some(&viewer),
            Some(&json!({"name": "ops"})),
        )
        .await,
        route: "/v1/teams".into(),
        status: 403,
        who: Some(viewer_who.clone()),
        code: Some("permission_denied"),
    });
    cases.push(Case {
        what: "a screened value",
        r: call(
            c,
            Method::POST,
            "/v1/teams",
            Some(&admin),
            Some(&json!({"name": "ops", "description": payload})),
        )
        .await,
        route: "/v1/teams".into(),
        status: 400,
        who: Some(admin_who.clone()),
        code: Some("suspicious_input"),
    });
    cases.push(Case {
        what: "a hidden project",
        r: call(
            c,
            Method::GET,
            "/v1/projects/0123456789ab",
            Some(&viewer),
            None,
        )
        .await,
        route: "/v1/projects/{projectUid}".into(),
        status: 404,
        who: Some(viewer_who.clone()),
        code: Some("not_found"),
    });
    cases.push(Case {
        what: "no credentials",
        r: call(c, Method::GET, "/v1/users", None, None).await,
        route: "/v1/users".into(),
        status: 401,
        who: None,
        code: Some("token_missing"),
    });
    cases.push(Case {
        what: "a forged token",
        r: call(
            c,
            Method::GET,
            "/v1/users",
            Some("eyJhbGciOiJub25lIn0.e30."),
            None,
        )
        .await,
        route: "/v1/users".into(),
        status: 401,
        who: None,
        code: Some("token_algorithm_not_allowed"),
    });
    cases.push(Case {
        what: "a login with a wrong password",
        r: call(
            c,
            Method::POST,
            "/v1/auth/login",
            None,
            Some(&json!({"tenant": "acme", "email": "viewer@acme.test", "password": "wrong horse battery"})),
        )
        .await,
        route: "/v1/auth/login".into(),
        status: 401,
        who: None,
        code: Some("invalid_credentials"),
    });
    cases.push(Case {
        what: "a refresh",
        r: call(
            c,
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(&json!({"refreshToken": refresh})),
        )
        .await,
        route: "/v1/auth/refresh".into(),
        status: 200,
        who: None,
        code: None,
    });
    cases.push(Case {
        what: "an unknown route",
        r: call(c, Method::GET, "/v1/nothing-here", Some(&viewer), None).await,
        route: "unmatched".into(),
        status: 404,
        who: None,
        code: Some("not_found"),
    });

    // Lines are written when the answer leaves the server: wait for them.
    let mut problems = Vec::new();
    for case in &cases {
        let uid = &case.r.request_uid;
        assert!(is_uid(uid), "{}: X-Request-Uid {uid:?}", case.what);
        assert_eq!(
            case.r.status,
            case.status,
            "{}: {}",
            case.what,
            case.r.text()
        );
        if case.status >= 400 {
            assert_eq!(case.r.body["requestUid"], json!(uid), "{}", case.what);
        }
        let mut lines = Vec::new();
        for _ in 0..100 {
            lines = logs.request(uid);
            if !lines.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if lines.len() != 1 {
            problems.push(format!(
                "{}: {} access lines for {uid}",
                case.what,
                lines.len()
            ));
            continue;
        }
        let l = &lines[0];
        let field = |k: &str| l[k].as_str().unwrap_or("").to_owned();
        let mut expect = vec![
            ("route", case.route.clone()),
            ("status", case.status.to_string()),
        ];
        match &case.who {
            Some((tenant, session, user)) => {
                expect.push(("tenant_uid", tenant.clone()));
                expect.push(("session_uid", session.clone()));
                expect.push(("user_uid", user.clone()));
            }
            None => {
                for k in ["tenant_uid", "session_uid", "user_uid"] {
                    if !field(k).is_empty() {
                        problems.push(format!("{}: {k} set without a caller: {l}", case.what));
                    }
                }
            }
        }
        for (k, want) in expect {
            let got = match &l[k] {
                Value::Number(n) => n.to_string(),
                v => v.as_str().unwrap_or("").to_owned(),
            };
            if got != want {
                problems.push(format!(
                    "{}: {k} is {got:?}, expected {want:?}: {l}",
                    case.what
                ));
            }
        }
        if !l["latency_ms"].as_f64().is_some_and(|v| v >= 0.0) {
            problems.push(format!("{}: no latency: {l}", case.what));
        }
        for k in ["level", "timestamp", "method", "client_ip"] {
            if l.get(k).is_none() {
                problems.push(format!("{}: no {k}: {l}", case.what));
            }
        }
        match case.code {
            Some(code) => {
                if field("code") != code || field("reason").is_empty() {
                    problems.push(format!("{}: code/reason missing: {l}", case.what));
                }
                // The reason is the answer's message: never the value.
                if field("reason") != case.r.body["message"].as_str().unwrap_or("-") {
                    problems.push(format!("{}: reason is not the message: {l}", case.what));
                }
            }
            None => {
                if l.get("code").is_some() || l.get("reason").is_some() {
                    problems.push(format!("{}: rejection fields on a success: {l}", case.what));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A screened field is named in the reason.
    let screened = &logs.request(&cases[3].r.request_uid)[0];
    assert!(
        screened["reason"]
            .as_str()
            .unwrap()
            .starts_with("description: suspicious input"),
        "{screened}"
    );

    // The audit event of a change carries the request's UID too.
    let r = call(
        c,
        Method::POST,
        "/v1/teams",
        Some(&admin),
        Some(&json!({"name": "traced"})),
    )
    .await
    .ok();
    let team = r.str("uid");
    let events = call(
        c,
        Method::GET,
        &format!("/v1/audit?action=team.create&target={team}"),
        Some(&admin),
        None,
    )
    .await
    .ok();
    assert_eq!(events.body["items"][0]["requestUid"], json!(r.request_uid));

    // No request value ever reaches a log line.
    let text = logs.text();
    assert!(text.lines().count() > cases.len());
    let refreshed = cases[8].r.str("refreshToken");
    for (what, secret) in [
        ("the password", GOOD),
        ("a wrong password", "wrong horse battery"),
        ("a one-time password", one_time.as_str()),
        ("an access token", viewer.as_str()),
        (
            "an access token's signature",
            viewer.rsplit('.').next().unwrap(),
        ),
        ("a refresh token", refresh.as_str()),
        ("a rotated refresh token", refreshed.as_str()),
        ("cloud credentials", canary_credentials),
        ("a screened payload", payload),
        ("a forged token", "eyJhbGciOiJub25lIn0"),
    ] {
        assert!(!text.contains(secret), "{what} is in the log");
    }
    s.stop().await.unwrap();
}

/// Checks the security headers of one answer.
fn headers(r: &Resp, what: &str) {
    let h = |k: &str| r.raw.header(k).unwrap_or("").to_owned();
    assert_eq!(
        h("strict-transport-security"),
        "max-age=63072000; includeSubDomains",
        "{what}"
    );
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    let csp = h("content-security-policy");
    for directive in ["default-src 'none'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{what}: CSP {csp:?}");
    }
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cache-control"), "no-store", "{what}");
    assert!(is_uid(&h("x-request-uid")), "{what}");
    if !r.raw.body.is_empty() {
        assert_eq!(h("content-type"), "application/json", "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_every_response_and_per_ip_limit() {
    let (s, root) = support::server_with(|c| c.gateway.per_ip_per_minute = 60).await;
    let c = &s.client;
    let mut seen = Vec::new();
    let mut record = |r: Resp, status: u16, what: &str| {
        assert_eq!(r.status, status, "{what}: {}", r.text());
        headers(&r, what);
        seen.push(status);
    };
    record(
        call(c, Method::GET, "/healthz", None, None).await,
        200,
        "health",
    );
    record(
        call(c, Method::GET, "/v1/me", Some(&root), None).await,
        200,
        "authenticated",
    );
    record(
        call(
            c,
            Method::POST,
            "/v1/teams",
            Some(&root),
            Some(&json!({"name": "headers"})),
        )
        .await,
        201,
        "created",
    );
    record(
        call(
            c,
            Method::DELETE,
            "/v1/apikeys/0123456789ab",
            Some(&root),
            None,
        )
        .await,
        404,
        "no such key",
    );
    record(
        call(c, Method::GET, "/v1/users", None, None).await,
        401,
        "no token",
    );
    record(
        call(c, Method::GET, "/v1/users/NOT-A-UID", Some(&root), None).await,
        400,
        "bad UID",
    );
    record(
        call(c, Method::GET, "/nowhere", None, None).await,
        404,
        "unknown route",
    );
    record(
        call(c, Method::DELETE, "/healthz", None, None).await,
        405,
        "wrong method",
    );
    record(
        send(
            c,
            Method::POST,
            "/v1/teams",
            Some(&root),
            Some(("text/plain", b"x".to_vec())),
        )
        .await,
        415,
        "wrong content type",
    );
    record(
        send(
            c,
            Method::POST,
            "/v1/teams",
            Some(&root),
            Some(("application/json", vec![b' '; 70_000])),
        )
        .await,
        413,
        "too large",
    );
    // A tenant-viewer is refused a change.
    let (uid, viewer) = support::user(c, &root, "system", "viewer@localhost").await;
    support::bind(c, &root, &uid, "tenant-viewer", None).await;
    record(
        call(
            c,
            Method::POST,
            "/v1/teams",
            Some(&viewer),
            Some(&json!({"name": "nope"})),
        )
        .await,
        403,
        "denied",
    );

    // Per client address: 60 a minute, then 429 with Retry-After; another
    // address is not affected.
    let mut limited = None;
    for _ in 0..200 {
        let r = call(c, Method::GET, "/healthz", None, None).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
    }
    let r = limited.expect("no 429 within 200 requests at 60 a minute");
    assert_eq!(r.code(), "rate_limited");
    let retry: u64 = r.raw.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    record(r, 429, "rate limited");
    // Authenticated routes are limited by address too (one request may
    // slip through as the budget refills, one a second).
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            call(c, Method::GET, "/v1/me", Some(&root), None)
                .await
                .status,
        );
    }
    assert!(codes.contains(&429), "{codes:?}");
    let other = s
        .client_from(std::net::IpAddr::from([127, 0, 0, 2]))
        .unwrap();
    let r = call(&other, Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200, "another client address is not limited");
    let r = call(&other, Method::GET, "/v1/me", Some(&root), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(seen.len() >= 12);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_tenant_limit_answers_429_and_spares_other_tenants() {
    let logs = palisade_testkit::capture_logs().unwrap();
    let (s, root) = support::server_with(|c| c.gateway.per_tenant_per_minute = 30).await;
    let c = &s.client;
    let (acme, _, acme_admin) = support::tenant(c, &root, "acme").await;
    let (_, _, globex_admin) = support::tenant(c, &root, "globex").await;
    let (_, acme_user) = support::user(c, &acme_admin, "acme", "second@acme.test").await;
    let mut limited = None;
    for _ in 0..100 {
        let r = call(c, Method::GET, "/v1/me", Some(&acme_admin), None).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = limited.expect("no 429 within 100 requests at 30 a minute");
    assert_eq!(r.code(), "rate_limited");
    headers(&r, "tenant limit");
    // Every user of the tenant shares its budget (one request may slip
    // through as it refills, one every two seconds)…
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            call(c, Method::GET, "/v1/me", Some(&acme_user), None)
                .await
                .status,
        );
    }
    assert!(codes.contains(&429), "{codes:?}");
    let retry: u64 = r.raw.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // The rejection is logged with its tenant, code and reason.
    let mut line = Vec::new();
    for _ in 0..100 {
        line = logs.request(&r.request_uid);
        if !line.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(line.len(), 1);
    assert_eq!(line[0]["tenant_uid"], json!(acme));
    assert_eq!(line[0]["code"], json!("rate_limited"));
    assert_eq!(line[0]["status"], json!(429));
    assert!(line[0]["reason"].as_str().unwrap().contains("tenant"));
    // …and other tenants have their own.
    for token in [&globex_admin, &root] {
        let r = call(c, Method::GET, "/v1/me", Some(token), None).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Public routes are not charged to a tenant.
    let r = call(c, Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_with_reads_never_starve_the_store() {
    // Handlers once read through the connection pool while their write
    // transaction held SQLite's write lock: with a few such requests at
    // once, every connection waited for the lock and the holder for a
    // connection, until timeouts ended it with 5xx. Second-factor checks,
    // logins and refreshes run here side by side with other writes.
    let (s, root) = support::server().await;
    let c = &s.client;
    let mut callers = Vec::new();
    for i in 0..8 {
        let email = format!("c{i}@localhost");
        let (_, token) = support::user(c, &root, "system", &email).await;
        let refresh = c
            .login("system", &email, GOOD)
            .await
            .unwrap()
            .body
            .refresh_token
            .unwrap();
        callers.push((email, token, refresh));
    }
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (email, token, refresh)) in callers.into_iter().enumerate() {
        let c = c.clone();
        let root = root.clone();
        tasks.spawn(async move {
            let mut statuses = Vec::new();
            let mut refresh = refresh;
            let r = call(&c, Method::POST, "/v1/me/mfa/totp", Some(&token), None).await;
            statuses.push(r.status);
            for round in 0..4 {
                for path in ["/v1/me/mfa/totp/confirm", "/v1/me/mfa/totp/disable"] {
                    let r = call(
                        &c,
                        Method::POST,
                        path,
                        Some(&token),
                        Some(&json!({"code": "000000"})),
                    )
                    .await;
                    statuses.push(r.status);
                }
                let r = call(
                    &c,
                    Method::POST,
                    "/v1/auth/refresh",
                    None,
                    Some(&json!({"refreshToken": refresh})),
                )
                .await;
                statuses.push(r.status);
                if r.status == 200 {
                    refresh = r.str("refreshToken");
                }
                let r = call(
                    &c,
                    Method::POST,
                    "/v1/teams",
                    Some(&root),
                    Some(&json!({"name": format!("t{i}-{round}")})),
                )
                .await;
                statuses.push(r.status);
                let r = call(
                    &c,
                    Method::POST,
                    "/v1/auth/login",
                    None,
                    Some(&json!({"tenant": "system", "email": email, "password": GOOD})),
                )
                .await;
                statuses.push(r.status);
            }
            statuses
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    assert!(all.iter().all(|s| *s < 500), "{all:?}");
    assert!(
        all.iter().filter(|s| **s == 201).count() >= 8 * 4,
        "{all:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    s.stop().await.unwrap();
}
