//! Shared helpers of the server's integration tests: a server with its
//! limits out of the way, raw calls that keep status, headers and body, and
//! users, tenants and bindings made through the API.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use palisade_client::{Client, Method, RawAnswer};
use palisade_testkit::TestServer;
use serde_json::{Value, json};

/// The password every test user ends up with.
pub const GOOD: &str = "lantern orchard quietly 7 rivers";
/// The bootstrap admin of tenant `system`.
pub const ADMIN: &str = "admin@localhost";

/// A response: status, request UID, headers and body.
#[derive(Debug)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// The `X-Request-Uid` header.
    pub request_uid: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// Everything as received.
    pub raw: RawAnswer,
}

impl Resp {
    /// The error code of an error body (empty otherwise).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw.body).into_owned()
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field} in {}: {}", self.status, self.text()))
            .to_owned()
    }

    /// Panics unless the status is 2xx.
    pub fn ok(self) -> Resp {
        assert!(
            (200..300).contains(&self.status),
            "expected success, got {} {}",
            self.status,
            self.text()
        );
        self
    }
}

/// `method path` with an optional bearer token and JSON body.
pub async fn call(
    c: &Client,
    m: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let body = body.map(|b| ("application/json", serde_json::to_vec(b).unwrap()));
    send(c, m, path, token, body).await
}

/// Like [`call`] with any content type and bytes.
pub async fn send(
    c: &Client,
    m: Method,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Resp {
    let raw = c
        .raw(m.clone(), path, token, body)
        .await
        .unwrap_or_else(|e| panic!("{m} {path}: {e}"));
    let request_uid = raw.header("x-request-uid").unwrap_or_default().to_owned();
    let body = raw.json().unwrap_or(Value::Null);
    Resp {
        status: raw.status,
        request_uid,
        body,
        raw,
    }
}

/// A fresh suffix for unique names in one test process.
pub fn unique() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A server whose rate limits are off (tests that measure limits set
/// their own), and the bootstrap platform admin's access token.
pub async fn server_with(
    adjust: impl FnOnce(&mut palisade_server::ServeConfig),
) -> (TestServer, String) {
    let s = TestServer::start_with(|c| {
        c.auth.auth_requests_per_minute = 0;
        c.gateway.per_ip_per_minute = 0;
        c.gateway.per_tenant_per_minute = 0;
        adjust(c);
    })
    .await
    .unwrap();
    let otp = s.admin_password().unwrap();
    s.client
        .change_password("system", ADMIN, &otp, GOOD)
        .await
        .unwrap();
    let token = login(&s.client, "system", ADMIN, GOOD).await;
    (s, token)
}

/// [`server_with`] the defaults.
pub async fn server() -> (TestServer, String) {
    server_with(|_| {}).await
}

/// Logs in and returns the access token.
pub async fn login(c: &Client, tenant: &str, email: &str, password: &str) -> String {
    let r = c.login(tenant, email, password).await.unwrap().body;
    match r.access_token {
        Some(t) => t,
        None => panic!("no access token for {email}@{tenant}: {r:?}"),
    }
}

/// A tenant made by a platform admin; its first admin has changed the
/// one-time password. Returns the tenant's UID, its admin's UID and token.
pub async fn tenant(c: &Client, platform: &str, name: &str) -> (String, String, String) {
    let email = format!("admin@{name}.test");
    let r = call(
        c,
        Method::POST,
        "/v1/tenants",
        Some(platform),
        Some(&json!({"name": name, "adminEmail": email})),
    )
    .await
    .ok();
    let otp = r.str("adminInitialPassword");
    c.change_password(name, &email, &otp, GOOD).await.unwrap();
    let token = login(c, name, &email, GOOD).await;
    (r.str("uid"), r.str("adminUid"), token)
}

/// A user made by `admin` in `tenant_name`, with a real password; returns
/// the user's UID and access token.
pub async fn user(c: &Client, admin: &str, tenant_name: &str, email: &str) -> (String, String) {
    let r = call(
        c,
        Method::POST,
        "/v1/users",
        Some(admin),
        Some(&json!({"email": email, "displayName": format!("User {email}")})),
    )
    .await
    .ok();
    let uid = r.body["user"]["uid"].as_str().unwrap().to_owned();
    let otp = r.str("initialPassword");
    c.change_password(tenant_name, email, &otp, GOOD)
        .await
        .unwrap();
    let token = login(c, tenant_name, email, GOOD).await;
    (uid, token)
}

/// Binds `subject_uid` (a user) to `role` at tenant scope or a project's.
pub async fn bind(c: &Client, admin: &str, subject_uid: &str, role: &str, project: Option<&str>) {
    let mut body = json!({"subjectKind": "user", "subjectUid": subject_uid, "role": role});
    if let Some(p) = project {
        body["projectUid"] = json!(p);
    }
    call(
        c,
        Method::POST,
        "/v1/rolebindings",
        Some(admin),
        Some(&body),
    )
    .await
    .ok();
}

/// Every item of a paged collection, `limit` a page, following `next`.
/// Returns the items and the number of pages.
pub async fn all_pages(c: &Client, token: &str, path: &str, limit: u32) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut after: Option<String> = None;
    let mut items = Vec::new();
    for pages in 1..=1000 {
        let url = match &after {
            None => format!("{path}{sep}limit={limit}"),
            Some(a) => format!("{path}{sep}limit={limit}&after={a}"),
        };
        let r = call(c, Method::GET, &url, Some(token), None).await.ok();
        let got = r.body["items"].as_array().unwrap().clone();
        assert!(got.len() <= limit as usize, "{url}: page too long");
        items.extend(got);
        match r.body["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return (items, pages),
        }
    }
    panic!("{path}: more than 1000 pages");
}
