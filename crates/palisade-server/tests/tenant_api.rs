//! The tenant API end to end over HTTPS: every collection paginated, cloud
//! credentials write-only, new tenants whose first admin must change the
//! one-time password, escalation refused (roles, bindings, teams, project
//! scope, more powerful users), tenant scope taken from the caller only,
//! and the permissions explanation for oneself and others.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::collections::BTreeSet;

use palisade_client::{Client, Method};
use palisade_store::Store;
use serde_json::{Value, json};
use support::{GOOD, Resp, all_pages, bind, call, unique};

async fn post(c: &Client, token: &str, path: &str, body: Value) -> Resp {
    call(c, Method::POST, path, Some(token), Some(&body)).await
}

async fn get(c: &Client, token: &str, path: &str) -> Resp {
    call(c, Method::GET, path, Some(token), None).await
}

fn uids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => s.clone(),
            v => v["uid"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Pages through `path` 2 at a time: every item once, in UID order, the
/// expected number of pages; bad cursors and sizes refused.
async fn paged(c: &Client, token: &str, path: &str, expected: usize) -> Vec<String> {
    let (items, pages) = all_pages(c, token, path, 2).await;
    let got = uids(&items);
    assert_eq!(got.len(), expected, "{path}: {got:?}");
    assert_eq!(pages, expected.div_ceil(2).max(1), "{path}");
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, got, "{path}: not in UID order, or repeated");
    let (all, one) = all_pages(c, token, path, 500).await;
    assert_eq!((uids(&all), one), (got.clone(), 1), "{path} in one page");
    let sep = if path.contains('?') { '&' } else { '?' };
    for bad in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "after=XYZ",
        "after=",
        "colour=red",
    ] {
        let r = get(c, token, &format!("{path}{sep}{bad}")).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{path}?{bad}"
        );
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_collection_is_paginated() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (_, admin_uid, admin) = support::tenant(c, &root, "acme").await;
    let n = 5;
    let team = post(c, &admin, "/v1/teams", json!({"name": "all"}))
        .await
        .ok()
        .str("uid");
    let p = post(c, &admin, "/v1/projects", json!({"name": "web"}))
        .await
        .ok()
        .str("uid");
    let mut users = vec![admin_uid.clone()];
    for i in 0..n {
        let r = post(
            c,
            &admin,
            "/v1/users",
            json!({"email": format!("u{i}@acme.test"), "displayName": "U"}),
        )
        .await
        .ok();
        let uid = r.body["user"]["uid"].as_str().unwrap().to_owned();
        call(
            c,
            Method::POST,
            &format!("/v1/teams/{team}/members"),
            Some(&admin),
            Some(&json!({"userUid": uid})),
        )
        .await
        .ok();
        bind(c, &admin, &uid, "project-viewer", None).await;
        bind(c, &admin, &uid, "project-editor", Some(&p)).await;
        users.push(uid);
    }
    for i in 0..n {
        post(c, &admin, "/v1/teams", json!({"name": format!("t{i}")}))
            .await
            .ok();
        post(
            c,
            &admin,
            "/v1/roles",
            json!({"name": format!("r{i}"), "permissions": ["cluster.get"]}),
        )
        .await
        .ok();
        post(c, &admin, "/v1/projects", json!({"name": format!("p{i}")}))
            .await
            .ok();
        post(
            c,
            &admin,
            &format!("/v1/projects/{p}/cloudaccounts"),
            json!({"name": format!("a{i}"), "provider": "aws", "credentials": "x"}),
        )
        .await
        .ok();
        post(
            c,
            &admin,
            &format!("/v1/projects/{p}/clusters"),
            json!({"name": format!("c{i}")}),
        )
        .await
        .ok();
        post(c, &admin, "/v1/apikeys", json!({"name": format!("k{i}")}))
            .await
            .ok();
        support::tenant(c, &root, &format!("other{i}")).await;
    }
    let got_users = paged(c, &admin, "/v1/users", n + 1).await;
    users.sort();
    assert_eq!(got_users, users);
    let members = paged(c, &admin, &format!("/v1/teams/{team}/members"), n).await;
    assert!(members.iter().all(|m| users.contains(m)));
    paged(c, &admin, "/v1/teams", n + 1).await;
    paged(c, &admin, "/v1/rolebindings", 2 * n + 1).await;
    paged(c, &admin, &format!("/v1/projects/{p}/rolebindings"), n).await;
    paged(c, &admin, "/v1/projects", n + 1).await;
    paged(c, &admin, &format!("/v1/projects/{p}/cloudaccounts"), n).await;
    paged(c, &admin, &format!("/v1/projects/{p}/clusters"), n).await;
    paged(c, &admin, "/v1/apikeys", n).await;
    // system, acme and the five others.
    paged(c, &root, "/v1/tenants", n + 2).await;

    // Roles: the six built-in roles lead the first page, then the tenant's
    // own, paged by UID.
    let (items, pages) = {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let url = match &after {
                None => "/v1/roles?limit=2".to_owned(),
                Some(a) => format!("/v1/roles?limit=2&after={a}"),
            };
            let r = get(c, &admin, &url).await.ok();
            let page = r.body["items"].as_array().unwrap().clone();
            let custom = page
                .iter()
                .filter(|r| !r["builtin"].as_bool().unwrap())
                .count();
            assert!(custom <= 2, "{url}");
            assert_eq!(page.len() - custom, if pages == 1 { 6 } else { 0 });
            items.extend(page);
            match r.body["next"].as_str() {
                Some(n) => after = Some(n.to_owned()),
                None => break,
            }
            assert!(pages < 10);
        }
        (items, pages)
    };
    assert_eq!(items.len(), 6 + n);
    assert_eq!(pages, 3);

    // The audit log pages by sequence number.
    let (events, pages) = all_pages(c, &admin, "/v1/audit", 7).await;
    assert!(events.len() > 30 && pages > 4, "{} events", events.len());
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_credentials_are_write_only() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (tenant, _, admin) = support::tenant(c, &root, "acme").await;
    let p = post(c, &admin, "/v1/projects", json!({"name": "web"}))
        .await
        .ok()
        .str("uid");
    let canary = r#"{"accessKeyId":"AKIACANARY7","secretAccessKey":"wJalr/CANARY+9x"}"#;
    let created = post(
        c,
        &admin,
        &format!("/v1/projects/{p}/cloudaccounts"),
        json!({"name": "aws-main", "provider": "aws", "credentials": canary}),
    )
    .await
    .ok();
    let acc = created.str("uid");
    let mut seen = vec![created];
    seen.push(
        get(c, &admin, &format!("/v1/projects/{p}/cloudaccounts/{acc}"))
            .await
            .ok(),
    );
    seen.push(
        get(c, &admin, &format!("/v1/projects/{p}/cloudaccounts"))
            .await
            .ok(),
    );
    let cluster = post(
        c,
        &admin,
        &format!("/v1/projects/{p}/clusters"),
        json!({"name": "prod", "cloudAccountUid": acc}),
    )
    .await
    .ok();
    assert_eq!(cluster.str("cloudAccountUid"), acc);
    seen.push(cluster);
    seen.push(
        get(c, &admin, &format!("/v1/projects/{p}/clusters"))
            .await
            .ok(),
    );
    seen.push(get(c, &admin, "/v1/audit?limit=1000").await.ok());
    for r in &seen {
        let text = r.text();
        for part in [canary, "AKIACANARY7", "CANARY+9x", "secretAccessKey"] {
            assert!(!text.contains(part), "{part} shown: {text}");
        }
        assert!(r.body.get("credentials").is_none());
    }
    assert_eq!(seen[1].str("name"), "aws-main");
    assert_eq!(seen[1].str("provider"), "aws");
    // Stored, sealed, and openable by the server for provisioning only.
    let opened = s
        .running
        .store
        .cloud_account_credentials(
            palisade_core::Uid::parse(&tenant).unwrap(),
            palisade_core::Uid::parse(&acc).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), canary);
    // Empty and oversized credentials are refused, naming the field only.
    for bad in [String::new(), "x".repeat(16 * 1024 + 1)] {
        let r = post(
            c,
            &admin,
            &format!("/v1/projects/{p}/cloudaccounts"),
            json!({"name": "bad", "provider": "aws", "credentials": bad}),
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{}",
            r.text()
        );
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("credentials")
        );
    }
    // An account a cluster uses cannot go; once the cluster is gone it can.
    let r = call(
        c,
        Method::DELETE,
        &format!("/v1/projects/{p}/cloudaccounts/{acc}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tenants_admin_must_change_the_one_time_password() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let r = post(
        c,
        &root,
        "/v1/tenants",
        json!({"name": "initech", "adminEmail": "bill@initech.test"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let uid = r.str("uid");
    assert!(palisade_core::Uid::parse(&uid).is_ok(), "{uid}");
    assert_eq!(r.str("name"), "initech");
    let otp = r.str("adminInitialPassword");
    assert!(otp.len() >= 16, "a strong one-time password");
    // The one-time password opens nothing but the password change.
    let l = c
        .login("initech", "bill@initech.test", &otp)
        .await
        .unwrap()
        .body;
    assert_eq!(l.password_change_required, Some(true));
    assert!(l.access_token.is_none() && l.refresh_token.is_none());
    let e = c
        .change_password("initech", "bill@initech.test", "not it", GOOD)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_credentials"), "{e}");
    c.change_password("initech", "bill@initech.test", &otp, GOOD)
        .await
        .unwrap();
    assert!(c.login("initech", "bill@initech.test", &otp).await.is_err());
    let admin = support::login(c, "initech", "bill@initech.test", GOOD).await;
    let me = get(c, &admin, "/v1/me").await.ok();
    assert_eq!(me.str("email"), "bill@initech.test");
    assert!(!me.body["mustChangePassword"].as_bool().unwrap());
    // A tenant admin of the new tenant: everything in it, nothing beyond.
    let perms = get(
        c,
        &admin,
        &format!("/v1/users/{}/permissions", me.str("uid")),
    )
    .await
    .ok();
    let held: BTreeSet<&str> = perms.body["effective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["role"], json!("tenant-admin"));
            assert_ne!(e["scope"], json!("platform"));
            e["permission"].as_str().unwrap()
        })
        .collect();
    assert!(held.contains("user.create") && held.contains("cluster.create"));
    assert!(!held.iter().any(|p| p.starts_with("tenant.")), "{held:?}");
    for path in ["/v1/tenants".to_owned(), format!("/v1/tenants/{uid}")] {
        let r = get(c, &admin, &path).await;
        assert_eq!((r.status, r.code()), (403, "permission_denied"), "{path}");
    }
    let r = post(
        c,
        &admin,
        "/v1/tenants",
        json!({"name": "sneaky", "adminEmail": "a@b.test"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "permission_denied"));
    // Names are unique; the platform tenant cannot be deleted.
    let r = post(
        c,
        &root,
        "/v1/tenants",
        json!({"name": "initech", "adminEmail": "x@y.test"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "conflict"), "{}", r.text());
    let system = s.running.store.tenant_by_name("system").await.unwrap().uid;
    let r = call(
        c,
        Method::DELETE,
        &format!("/v1/tenants/{system}"),
        Some(&root),
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text());
    // Listed for the platform admin; deleting it ends its admin's access.
    let list = get(c, &root, "/v1/tenants").await.ok();
    assert!(uids(list.body["items"].as_array().unwrap()).contains(&uid));
    call(
        c,
        Method::DELETE,
        &format!("/v1/tenants/{uid}"),
        Some(&root),
        None,
    )
    .await
    .ok();
    let r = get(c, &admin, "/v1/me").await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = get(c, &root, &format!("/v1/tenants/{uid}")).await;
    assert_eq!(r.status, 404);
    s.stop().await.unwrap();
}

/// A user of `tenant` holding a new custom role with `permissions` at
/// tenant scope; returns the user's UID and token.
async fn with_role(
    c: &Client,
    admin: &str,
    tenant: &str,
    permissions: &[&str],
) -> (String, String) {
    let n = unique();
    let role = format!("custom{n}");
    post(
        c,
        admin,
        "/v1/roles",
        json!({"name": role, "permissions": permissions}),
    )
    .await
    .ok();
    let (uid, token) = support::user(c, admin, tenant, &format!("c{n}@{tenant}.test")).await;
    bind(c, admin, &uid, &role, None).await;
    (uid, token)
}

fn refused(r: &Resp, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (403, "permission_denied"),
        "{what}: {}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_is_refused() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (_, admin_uid, admin) = support::tenant(c, &root, "acme").await;
    let p1 = post(c, &admin, "/v1/projects", json!({"name": "one"}))
        .await
        .ok()
        .str("uid");
    let p2 = post(c, &admin, "/v1/projects", json!({"name": "two"}))
        .await
        .ok()
        .str("uid");
    let (plain, _) = support::user(c, &admin, "acme", "plain@acme.test").await;
    let (bare, _) = support::user(c, &admin, "acme", "bare@acme.test").await;

    // Custom roles carry only what their maker holds.
    let (_, maker) = with_role(
        c,
        &admin,
        "acme",
        &[
            "role.create",
            "role.update",
            "role.list",
            "cluster.get",
            "cluster.list",
        ],
    )
    .await;
    let ok = post(
        c,
        &maker,
        "/v1/roles",
        json!({"name": "reader", "permissions": ["cluster.get"]}),
    )
    .await
    .ok()
    .str("uid");
    let r = post(
        c,
        &maker,
        "/v1/roles",
        json!({"name": "deleter", "permissions": ["cluster.get", "user.delete"]}),
    )
    .await;
    refused(&r, "a role with a permission the maker lacks");
    assert!(r.text().contains("user.delete"), "{}", r.text());
    let r = call(
        c,
        Method::PATCH,
        &format!("/v1/roles/{ok}"),
        Some(&maker),
        Some(&json!({"permissions": ["cluster.get", "user.delete"]})),
    )
    .await;
    refused(&r, "widening a role beyond the maker");
    call(
        c,
        Method::PATCH,
        &format!("/v1/roles/{ok}"),
        Some(&maker),
        Some(&json!({"permissions": ["cluster.list"]})),
    )
    .await
    .ok();
    let r = post(
        c,
        &admin,
        "/v1/roles",
        json!({"name": "platformish", "permissions": ["tenant.list"]}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_request"),
        "platform permissions in a custom role"
    );

    // Bindings confer only what the binder holds where they bind.
    let (_, binder) = with_role(
        c,
        &admin,
        "acme",
        &[
            "rolebinding.create",
            "project.get",
            "cloudaccount.list",
            "cloudaccount.get",
            "cluster.list",
            "cluster.get",
            "user.create",
        ],
    )
    .await;
    let body = |role: &str| json!({"subjectKind": "user", "subjectUid": plain, "role": role});
    post(c, &binder, "/v1/rolebindings", body("project-viewer"))
        .await
        .ok();
    for role in [
        "tenant-admin",
        "project-editor",
        "platform-admin",
        "tenant-viewer",
    ] {
        refused(
            &post(c, &binder, "/v1/rolebindings", body(role)).await,
            role,
        );
    }
    let r = post(c, &binder, "/v1/rolebindings", body("no-such-role")).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_request"),
        "unknown role: {}",
        r.text()
    );
    // …also when a user is created with a role.
    let r = post(
        c,
        &binder,
        "/v1/users",
        json!({"email": "n@acme.test", "displayName": "N", "role": "tenant-admin"}),
    )
    .await;
    refused(&r, "a new user with a role the creator lacks");
    let r = post(
        c,
        &binder,
        "/v1/users",
        json!({"email": "n@acme.test", "displayName": "N", "role": "project-viewer"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Adding to a team gives its roles: only what the adder holds.
    let (_, teamer) = with_role(c, &admin, "acme", &["team.update", "team.get"]).await;
    let admins = post(c, &admin, "/v1/teams", json!({"name": "admins"}))
        .await
        .ok()
        .str("uid");
    let viewers = post(c, &admin, "/v1/teams", json!({"name": "viewers"}))
        .await
        .ok()
        .str("uid");
    let empty = post(c, &admin, "/v1/teams", json!({"name": "empty"}))
        .await
        .ok()
        .str("uid");
    post(
        c,
        &admin,
        "/v1/rolebindings",
        json!({"subjectKind": "team", "subjectUid": admins, "role": "tenant-admin"}),
    )
    .await
    .ok();
    post(
        c,
        &admin,
        &format!("/v1/projects/{p1}/rolebindings"),
        json!({"subjectKind": "team", "subjectUid": viewers, "role": "project-viewer"}),
    )
    .await
    .ok();
    let member = json!({"userUid": plain});
    refused(
        &post(
            c,
            &teamer,
            &format!("/v1/teams/{admins}/members"),
            member.clone(),
        )
        .await,
        "team bound to tenant-admin",
    );
    refused(
        &post(
            c,
            &teamer,
            &format!("/v1/teams/{viewers}/members"),
            member.clone(),
        )
        .await,
        "team bound at a project",
    );
    let r = post(
        c,
        &teamer,
        &format!("/v1/teams/{empty}/members"),
        member.clone(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    // The admin may add to any team.
    let r = post(
        c,
        &admin,
        &format!("/v1/teams/{viewers}/members"),
        member.clone(),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());

    // A project admin manages their own project's bindings, nothing else.
    let (padmin_uid, padmin) = support::user(c, &admin, "acme", "padmin@acme.test").await;
    bind(c, &admin, &padmin_uid, "project-admin", Some(&p1)).await;
    let b = post(
        c,
        &padmin,
        &format!("/v1/projects/{p1}/rolebindings"),
        body("project-editor"),
    )
    .await;
    assert_eq!(b.status, 201, "{}", b.text());
    assert_eq!(b.str("projectUid"), p1);
    let r = post(
        c,
        &padmin,
        &format!("/v1/projects/{p2}/rolebindings"),
        body("project-viewer"),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "not_found"),
        "another project is invisible"
    );
    let mut other = body("project-viewer");
    other["projectUid"] = json!(p2);
    let r = post(
        c,
        &padmin,
        &format!("/v1/projects/{p1}/rolebindings"),
        other.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_request"),
        "{}",
        r.text()
    );
    refused(
        &post(c, &padmin, "/v1/rolebindings", other).await,
        "tenant-wide bindings",
    );
    // A tenant-wide binding, or one at another project, cannot be removed
    // through this project.
    let at_p2 = post(
        c,
        &admin,
        &format!("/v1/projects/{p2}/rolebindings"),
        body("project-viewer"),
    )
    .await
    .ok()
    .str("uid");
    let tenant_wide = get(c, &admin, "/v1/rolebindings?limit=500").await.ok();
    let tenant_wide = tenant_wide.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["projectUid"].is_null() && b["subjectUid"] == json!(plain))
        .unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    for uid in [&at_p2, &tenant_wide] {
        let r = call(
            c,
            Method::DELETE,
            &format!("/v1/projects/{p1}/rolebindings/{uid}"),
            Some(&padmin),
            None,
        )
        .await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text());
    }
    let r = call(
        c,
        Method::DELETE,
        &format!("/v1/projects/{p1}/rolebindings/{}", b.str("uid")),
        Some(&padmin),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());

    // Nobody acts on a more powerful user's standing or credentials.
    let (_, uadmin) = with_role(
        c,
        &admin,
        "acme",
        &[
            "user.list",
            "user.get",
            "user.update",
            "user.delete",
            "user.reset-password",
            "user.revoke-sessions",
        ],
    )
    .await;
    let target = format!("/v1/users/{admin_uid}");
    for (m, path, body) in [
        (
            Method::PATCH,
            target.clone(),
            Some(json!({"displayName": "Pwned"})),
        ),
        (Method::POST, format!("{target}/disable"), None),
        (Method::POST, format!("{target}/enable"), None),
        (Method::POST, format!("{target}/reset-password"), None),
        (Method::POST, format!("{target}/sessions/revoke"), None),
        (Method::DELETE, target.clone(), None),
    ] {
        let r = call(c, m.clone(), &path, Some(&uadmin), body.as_ref()).await;
        refused(&r, &format!("{m} {path} on a tenant admin"));
    }
    // The admin is untouched and still works.
    let me = get(c, &admin, "/v1/me").await.ok();
    assert_eq!(me.str("status"), "active");
    assert_ne!(me.str("displayName"), "Pwned");
    // On a user they cover, all of it works.
    let on = format!("/v1/users/{bare}");
    call(
        c,
        Method::PATCH,
        &on,
        Some(&uadmin),
        Some(&json!({"displayName": "Renamed"})),
    )
    .await
    .ok();
    let reset = call(
        c,
        Method::POST,
        &format!("{on}/reset-password"),
        Some(&uadmin),
        None,
    )
    .await
    .ok();
    assert!(reset.str("initialPassword").len() >= 16);
    call(
        c,
        Method::POST,
        &format!("{on}/sessions/revoke"),
        Some(&uadmin),
        None,
    )
    .await
    .ok();
    call(
        c,
        Method::POST,
        &format!("{on}/disable"),
        Some(&uadmin),
        None,
    )
    .await
    .ok();
    call(
        c,
        Method::POST,
        &format!("{on}/enable"),
        Some(&uadmin),
        None,
    )
    .await
    .ok();
    // …but not on themselves.
    let (self_uid, self_token) = with_role(c, &admin, "acme", &["user.delete", "user.get"]).await;
    let r = call(
        c,
        Method::DELETE,
        &format!("/v1/users/{self_uid}"),
        Some(&self_token),
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text());
    // Someone else's API key is not theirs to revoke.
    let key = post(c, &admin, "/v1/apikeys", json!({"name": "admin key"}))
        .await
        .ok();
    let key = key.body["apiKey"]["uid"].as_str().unwrap().to_owned();
    let r = call(
        c,
        Method::DELETE,
        &format!("/v1/apikeys/{key}"),
        Some(&uadmin),
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_scope_comes_from_the_caller_only() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (_, _, acme) = support::tenant(c, &root, "acme").await;
    let (globex, globex_admin_uid, globex_admin) = support::tenant(c, &root, "globex").await;
    let gp = post(c, &globex_admin, "/v1/projects", json!({"name": "secret"}))
        .await
        .ok()
        .str("uid");
    let ga = post(
        c,
        &globex_admin,
        &format!("/v1/projects/{gp}/cloudaccounts"),
        json!({"name": "aws", "provider": "aws", "credentials": "x"}),
    )
    .await
    .ok()
    .str("uid");
    let gt = post(c, &globex_admin, "/v1/teams", json!({"name": "ops"}))
        .await
        .ok()
        .str("uid");
    let p = post(c, &acme, "/v1/projects", json!({"name": "web"}))
        .await
        .ok()
        .str("uid");
    // A foreign UID in a body is no object of the caller's tenant.
    for (path, body) in [
        (
            "/v1/rolebindings".to_owned(),
            json!({"subjectKind": "user", "subjectUid": globex_admin_uid, "role": "project-viewer"}),
        ),
        (
            "/v1/rolebindings".to_owned(),
            json!({"subjectKind": "team", "subjectUid": gt, "role": "project-viewer"}),
        ),
        (
            "/v1/rolebindings".to_owned(),
            json!({"subjectKind": "user", "subjectUid": globex_admin_uid, "role": "project-viewer", "projectUid": gp}),
        ),
        (
            format!("/v1/projects/{p}/clusters"),
            json!({"name": "c", "cloudAccountUid": ga}),
        ),
    ] {
        let r = post(c, &acme, &path, body).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_request"),
            "{path}: {}",
            r.text()
        );
    }
    let r = post(
        c,
        &acme,
        &format!("/v1/teams/{gt}/members"),
        json!({"userUid": globex_admin_uid}),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text());
    // A tenant named in a body or query is refused or ignored, never used.
    let r = post(
        c,
        &acme,
        "/v1/projects",
        json!({"name": "x", "tenantUid": globex}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    let r = get(c, &acme, &format!("/v1/audit?tenant={globex}")).await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text());
    // …while a platform admin may read any tenant's audit log.
    let r = get(c, &root, &format!("/v1/audit?tenant={globex}"))
        .await
        .ok();
    assert!(!r.body["items"].as_array().unwrap().is_empty());
    // Nothing of globex was touched.
    let r = get(c, &globex_admin, &format!("/v1/teams/{gt}/members"))
        .await
        .ok();
    assert!(r.body["items"].as_array().unwrap().is_empty());
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_explained_for_oneself_and_others() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (_, _, admin) = support::tenant(c, &root, "acme").await;
    let (_, _, globex) = support::tenant(c, &root, "globex").await;
    let globex_me = get(c, &globex, "/v1/me").await.ok().str("uid");
    let p1 = post(c, &admin, "/v1/projects", json!({"name": "one"}))
        .await
        .ok()
        .str("uid");
    let (pv, pv_token) = support::user(c, &admin, "acme", "pv@acme.test").await;
    bind(c, &admin, &pv, "project-viewer", Some(&p1)).await;
    let (tv, tv_token) = support::user(c, &admin, "acme", "tv@acme.test").await;
    bind(c, &admin, &tv, "tenant-viewer", None).await;

    // Oneself, at project scope: each permission with where and why.
    let mine = get(c, &pv_token, &format!("/v1/users/{pv}/permissions"))
        .await
        .ok();
    assert_eq!(mine.str("userUid"), pv);
    let eff = mine.body["effective"].as_array().unwrap();
    let held: BTreeSet<&str> = eff
        .iter()
        .map(|e| e["permission"].as_str().unwrap())
        .collect();
    assert_eq!(
        held,
        BTreeSet::from([
            "project.get",
            "cloudaccount.list",
            "cloudaccount.get",
            "cluster.list",
            "cluster.get"
        ])
    );
    for e in eff {
        assert_eq!(
            (e["scope"].as_str(), e["projectUid"].as_str()),
            (Some("project"), Some(p1.as_str()))
        );
        assert_eq!(e["role"], json!("project-viewer"));
        assert!(e["viaTeamUid"].is_null());
        assert!(!e["description"].as_str().unwrap().is_empty());
    }
    assert!(mine.body["ignored"].as_array().unwrap().is_empty());
    // Someone else's needs rolebinding.list.
    refused(
        &get(c, &pv_token, &format!("/v1/users/{tv}/permissions")).await,
        "project viewer on another",
    );
    let theirs = get(c, &tv_token, &format!("/v1/users/{pv}/permissions"))
        .await
        .ok();
    assert_eq!(theirs.body["effective"], mine.body["effective"]);
    // Another tenant's user does not exist here.
    let r = get(c, &admin, &format!("/v1/users/{globex_me}/permissions")).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));

    // Through a team, a custom role, and bindings that confer less than the
    // role carries.
    let team = post(c, &admin, "/v1/teams", json!({"name": "ops"}))
        .await
        .ok()
        .str("uid");
    post(
        c,
        &admin,
        "/v1/roles",
        json!({"name": "auditor", "permissions": ["audit.list", "cluster.get"]}),
    )
    .await
    .ok();
    post(
        c,
        &admin,
        "/v1/rolebindings",
        json!({"subjectKind": "team", "subjectUid": team, "role": "auditor"}),
    )
    .await
    .ok();
    post(
        c,
        &admin,
        &format!("/v1/teams/{team}/members"),
        json!({"userUid": pv}),
    )
    .await
    .ok();
    bind(c, &admin, &pv, "tenant-admin", Some(&p1)).await;
    bind(c, &admin, &pv, "platform-admin", None).await;
    let all = get(c, &admin, &format!("/v1/users/{pv}/permissions"))
        .await
        .ok();
    let eff = all.body["effective"].as_array().unwrap();
    let audit = eff
        .iter()
        .find(|e| e["permission"] == json!("audit.list") && e["role"] == json!("auditor"))
        .unwrap();
    assert_eq!(audit["viaTeamUid"], json!(team));
    assert_eq!(audit["scope"], json!("tenant"));
    // platform-admin outside `system` confers no platform permission, and
    // tenant-admin at a project confers only its project permissions.
    assert!(
        !eff.iter()
            .any(|e| e["permission"].as_str().unwrap().starts_with("tenant."))
    );
    let ignored = all.body["ignored"].as_array().unwrap();
    let why = |perm: &str, role: &str| {
        ignored
            .iter()
            .find(|i| i["permission"] == json!(perm) && i["role"] == json!(role))
            .unwrap_or_else(|| panic!("{perm} of {role} not explained: {ignored:?}"))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(why("tenant.create", "platform-admin").contains("platform tenant"));
    assert!(why("user.delete", "tenant-admin").contains("project scope"));
    assert!(
        !ignored
            .iter()
            .any(|i| i["permission"] == json!("cluster.create")
                && i["role"] == json!("tenant-admin"))
    );
    s.stop().await.unwrap();
}

/// The bus routes check what they are sent before they look for the bus: a
/// malformed job is 400 naming the field, a missing cluster 404, and only a
/// well-formed request on an existing cluster meets 503 `bus_unavailable`
/// on a server without `--bus`. Nothing is created by a refused request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_routes_check_their_input_before_the_bus() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let (_, _, admin) = support::tenant(c, &root, "acme").await;
    let p = post(c, &admin, "/v1/projects", json!({"name": "web"}))
        .await
        .ok()
        .str("uid");
    let cl = post(
        c,
        &admin,
        &format!("/v1/projects/{p}/clusters"),
        json!({"name": "edge"}),
    )
    .await
    .ok()
    .str("uid");
    let jobs = format!("/v1/projects/{p}/clusters/{cl}/jobs");
    let long = "a".repeat(65);
    for (body, field) in [
        (json!({"kind": "ping", "profile": "cis"}), "profile"),
        (json!({"kind": "harden-scan"}), "profile"),
        (json!({"kind": "harden-scan", "profile": "CIS"}), "profile"),
        (json!({"kind": "harden-scan", "profile": ""}), "profile"),
        (json!({"kind": "harden-scan", "profile": long}), "profile"),
        (
            json!({"kind": "harden-scan", "profile": "cis level1"}),
            "profile",
        ),
        (json!({"kind": "reboot"}), "kind"),
        (json!({"kind": 7}), "kind"),
        (json!({}), "kind"),
        (json!({"kind": "ping", "priority": 1}), "priority"),
    ] {
        let r = post(c, &admin, &jobs, body.clone()).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{body}");
        assert!(r.str("message").contains(field), "{body}: {}", r.text());
    }
    // Well-formed: the server has no bus.
    for body in [
        json!({"kind": "ping"}),
        json!({"kind": "ping", "profile": null}),
        json!({"kind": "harden-scan", "profile": "cis-level_1"}),
    ] {
        let r = post(c, &admin, &jobs, body.clone()).await;
        assert_eq!((r.status, r.code()), (503, "bus_unavailable"), "{body}");
    }
    let creds = format!("/v1/projects/{p}/clusters/{cl}/credentials");
    let r = post(c, &admin, &creds, json!({})).await;
    assert_eq!((r.status, r.code()), (503, "bus_unavailable"));
    // A cluster that does not exist (or a malformed UID) is never 503.
    let missing = "0123456789ab";
    for path in [
        format!("/v1/projects/{p}/clusters/{missing}/jobs"),
        format!("/v1/projects/{p}/clusters/{missing}/credentials"),
    ] {
        let r = post(c, &admin, &path, json!({"kind": "ping"})).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{path}");
        let bad = path.replace(missing, "XYZ");
        let r = post(c, &admin, &bad, json!({"kind": "ping"})).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{bad}");
    }
    // Nothing was written: the store holds no job for the cluster.
    let store = &s.running.store;
    let tenant = store.tenant_by_name("acme").await.unwrap().uid;
    let listed = palisade_store::BusStore::list_jobs(
        &**store,
        tenant,
        p.parse().unwrap(),
        cl.parse().unwrap(),
        palisade_store::PageRequest::default(),
    )
    .await
    .unwrap();
    assert!(listed.items.is_empty());
    s.stop().await.unwrap();
}
