//! The API document is a checked artifact: `docs/openapi.json` must be what
//! the code generates (`PALISADE_UPDATE_OPENAPI=1` rewrites it), the real
//! server must serve exactly it, and it must name every route the router
//! serves and no other.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use palisade_client::{ClientError, Method};
use palisade_testkit::TestServer;
use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn pretty(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap();
    s.push('\n');
    s
}

fn committed() -> Value {
    let text = std::fs::read_to_string(committed_path())
        .expect("docs/openapi.json is missing: run `PALISADE_UPDATE_OPENAPI=1 cargo nextest run -p palisade-server --test openapi`");
    serde_json::from_str(&text).expect("docs/openapi.json is not JSON")
}

/// (method, path template) of every operation of a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            out.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn committed_document_is_the_generated_one() {
    let generated = pretty(&palisade_server::openapi::document());
    if std::env::var_os("PALISADE_UPDATE_OPENAPI").is_some() {
        // Atomically: the other tests read the file meanwhile.
        let tmp = committed_path().with_extension("json.tmp");
        std::fs::write(&tmp, &generated).unwrap();
        std::fs::rename(&tmp, committed_path()).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json differs from the document the code generates; \
         regenerate it with `PALISADE_UPDATE_OPENAPI=1 cargo nextest run -p palisade-server --test openapi` \
         and review the diff"
    );
}

#[test]
fn every_route_of_the_table_is_documented_once() {
    let doc = committed();
    let documented = operations(&doc);
    let table: Vec<(String, String)> = palisade_server::routes::specs()
        .iter()
        .map(|s| (s.method.as_str().to_owned(), s.path.to_owned()))
        .collect();
    let unique: BTreeSet<_> = table.iter().cloned().collect();
    assert_eq!(unique.len(), table.len(), "a route is declared twice");
    let missing: Vec<_> = unique.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&unique).collect();
    assert!(
        extra.is_empty(),
        "the document names routes the table does not declare: {extra:?}"
    );
}

#[test]
fn every_operation_documents_its_answers() {
    let doc = committed();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            let success: Vec<_> = responses.keys().filter(|k| k.starts_with('2')).collect();
            assert_eq!(success.len(), 1, "{at}: one success status");
            assert!(
                responses.contains_key("429"),
                "{at}: every route is rate limited"
            );
            assert!(
                !responses.contains_key("default"),
                "{at}: statuses are listed"
            );
            for (status, r) in responses {
                if !status.starts_with('2') {
                    let name = r["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                    let body = &doc["components"]["responses"][name]["content"]["application/json"]
                        ["schema"]["$ref"];
                    assert_eq!(body, "#/components/schemas/ErrorBody", "{at} {status}");
                }
            }
            let public = op["security"].as_array().unwrap().is_empty();
            assert!(
                public || responses.contains_key("401"),
                "{at}: authenticated routes document 401"
            );
            assert_eq!(
                op.get("x-palisade-permission").is_some(),
                op["description"].as_str().unwrap().starts_with("Needs `"),
                "{at}"
            );
            if let Some(body) = op.get("requestBody") {
                assert!(responses.contains_key("415"), "{at}: strict content type");
                assert!(responses.contains_key("413"), "{at}: body limit");
                let r = body["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .unwrap();
                let name = r.rsplit('/').next().unwrap();
                let schema = &doc["components"]["schemas"][name];
                assert!(
                    schema["additionalProperties"] == false,
                    "{at}: request body {name} refuses unknown fields"
                );
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    assert_eq!(p["schema"]["$ref"], "#/components/schemas/Uid", "{at}");
                    assert!(path.contains(&format!("{{{}}}", p["name"].as_str().unwrap())));
                }
            }
        }
    }
}

#[test]
fn field_bounds_are_the_validators_bounds() {
    let doc = committed();
    let s = &doc["components"]["schemas"];
    assert_eq!(s["Uid"]["pattern"], "^[0-9a-f]{12}$");
    assert_eq!(s["Name"]["maxLength"], 63);
    assert_eq!(s["DisplayName"]["maxLength"], 200);
    assert_eq!(s["DisplayName"]["minLength"], 1);
    assert_eq!(s["Description"]["maxLength"], 1000);
    assert_eq!(s["Email"]["maxLength"], 254);
    // Optional request fields are optional and nullable, as serde reads them.
    let team = &s["CreateTeamRequest"];
    assert_eq!(team["required"], serde_json::json!(["name"]));
    assert_eq!(team["additionalProperties"], false);
    // Views: skipped-when-absent fields are not required.
    let cluster = &s["ClusterView"];
    let required: Vec<&str> = cluster["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!required.contains(&"cloudAccountUid"));
    assert!(required.contains(&"uid"));
    // The permission catalogue is closed.
    let perms = s["Permission"]["enum"].as_array().unwrap();
    assert_eq!(perms.len(), palisade_core::rbac::Permission::ALL.len());
    // A job's profile goes with its kind, as the handler enforces: a ping
    // takes none (absent or null), a harden-scan needs one.
    let job = &s["CreateJobRequest"];
    assert_eq!(job["additionalProperties"], false);
    assert_eq!(job["properties"]["profile"]["maxLength"], 64);
    assert_eq!(job["properties"]["profile"]["pattern"], "^[a-z0-9_-]+$");
    let shapes = job["oneOf"].as_array().unwrap();
    assert_eq!(shapes.len(), 2);
    assert_eq!(shapes[0]["properties"]["kind"]["const"], "ping");
    assert_eq!(shapes[0]["required"], serde_json::json!(["kind"]));
    assert_eq!(shapes[0]["properties"]["profile"]["type"], "null");
    assert_eq!(shapes[1]["properties"]["kind"]["const"], "harden-scan");
    assert_eq!(
        shapes[1]["required"],
        serde_json::json!(["kind", "profile"])
    );
    assert_eq!(shapes[1]["properties"]["profile"]["type"], "string");
    // Credentials are write-only.
    assert_eq!(
        s["CreateCloudAccountRequest"]["properties"]["credentials"]["writeOnly"],
        true
    );
}

/// Fills every `{param}` of a template with a well-formed UID.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "0123456789ab"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_document_and_every_route_in_it() {
    let s = TestServer::start_with(|c| {
        c.auth.auth_requests_per_minute = 10_000;
    })
    .await
    .unwrap();
    let doc = committed();
    let served: Value = s.client.get("/v1/openapi.json").await.unwrap().body;
    assert!(
        served == doc,
        "the served document differs from docs/openapi.json"
    );
    // Every documented operation reaches a handler or its gate: never the
    // router's own "no such route" or "method not allowed".
    for (method, path) in operations(&doc) {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = s
            .client
            .call::<Value, Value>(m, &concrete(&path), None, None)
            .await;
        if let Err(ClientError::Api { status, body }) = &r {
            assert_ne!(*status, 405, "{method} {path}: not served ({body:?})");
            assert!(
                !(*status == 404 && body.message == "no such route"),
                "{method} {path}: not served"
            );
        }
    }
    // And the router serves nothing the document does not name.
    for (method, path) in [("GET", "/v1/nothing"), ("DELETE", "/v1/users")] {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = s.client.call::<Value, Value>(m, path, None, None).await;
        match r {
            Err(ClientError::Api { status, .. }) => assert!(status == 404 || status == 405),
            other => panic!("{method} {path}: {other:?}"),
        }
    }
    s.stop().await.unwrap();
}
