//! The API document (OpenAPI 3.1), generated from the route table and the
//! handlers' own types.
//!
//! Nothing here is written by hand per route. Each route of
//! [`crate::routes::table`] carries a [`DocFn`] taken from its handler's
//! signature ([`Documented`]): the body type of [`ValidJson`], the query
//! type of [`ValidQuery`], and the success type and status of the return
//! type ([`Json`] 200, [`Created`] 201, [`NoContent`] 204). Schemas come from
//! `schemars` derives on the wire types (`palisade-proto`), which read the
//! same serde attributes the types are (de)serialized with, so optional
//! fields, renamed fields and `deny_unknown_fields`
//! (`additionalProperties: false`) cannot drift from the code. The error
//! responses follow from the route's declaration: who may call it, its
//! parameters, whether it changes state. A handler whose extractor or
//! return type has no documentation does not compile.
//!
//! The document is committed as `docs/openapi.json`; a test fails when it
//! differs from what this module generates (`PALISADE_UPDATE_OPENAPI=1`
//! rewrites it) or when it and the router disagree on a route.
//!
//! This module must not change what a route does: it only describes.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use palisade_core::rbac::Level;
use palisade_proto::ErrorBody;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::audit::RequestContext;
use crate::auth::principal::Principal;
use crate::gateway::{Access, Caller, RouteSpec};
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

/// What a handler's types say about its operation.
#[derive(Debug, Default)]
pub struct Operation {
    /// Schema of the JSON request body.
    pub body: Option<Value>,
    /// Inline object schema of the query string's parameters.
    pub query: Option<Value>,
    /// Success status and its body schema (none for 204).
    pub success: Option<(u16, Option<Value>)>,
    /// Error statuses the extractors and the return type can give.
    pub errors: BTreeSet<u16>,
}

/// Fills an [`Operation`] from a handler's types.
pub type DocFn = fn(&mut Operation, &mut SchemaGenerator);

/// An extractor's part of the document.
pub trait DocInput {
    /// Adds what the extractor reads and how it can refuse.
    fn document(op: &mut Operation, g: &mut SchemaGenerator);
}

/// A return type's part of the document.
pub trait DocOutput {
    /// Adds the success response (and errors, for a `Result`).
    fn document(op: &mut Operation, g: &mut SchemaGenerator);
}

/// A handler whose extractors `T` and return type are documented.
pub trait Documented<T> {
    /// Fills the operation.
    fn document(op: &mut Operation, g: &mut SchemaGenerator);
}

macro_rules! documented {
    ($($e:ident),*) => {
        impl<F, Fut, R, $($e,)*> Documented<($($e,)*)> for F
        where
            F: FnOnce($($e,)*) -> Fut,
            Fut: Future<Output = R>,
            R: DocOutput,
            $($e: DocInput,)*
        {
            fn document(op: &mut Operation, g: &mut SchemaGenerator) {
                $(<$e as DocInput>::document(op, g);)*
                R::document(op, g);
            }
        }
    };
}

documented!();
documented!(E1);
documented!(E1, E2);
documented!(E1, E2, E3);
documented!(E1, E2, E3, E4);
documented!(E1, E2, E3, E4, E5);
documented!(E1, E2, E3, E4, E5, E6);

/// The [`DocFn`] of a handler (used by the route table).
pub fn doc_of<T, H: Documented<T>>(_handler: &H) -> DocFn {
    H::document
}

impl<S> DocInput for State<S> {
    fn document(_: &mut Operation, _: &mut SchemaGenerator) {}
}

impl DocInput for Caller {
    fn document(_: &mut Operation, _: &mut SchemaGenerator) {}
}

impl DocInput for Principal {
    fn document(_: &mut Operation, _: &mut SchemaGenerator) {}
}

impl DocInput for RequestContext {
    fn document(_: &mut Operation, _: &mut SchemaGenerator) {}
}

/// Path parameters are documented from the route's template (every one is
/// a UID); a malformed one is 400, an unknown one 404.
impl<T> DocInput for Path<T> {
    fn document(op: &mut Operation, _: &mut SchemaGenerator) {
        op.errors.extend([400, 404]);
    }
}

impl<T: JsonSchema> DocInput for ValidJson<T> {
    fn document(op: &mut Operation, g: &mut SchemaGenerator) {
        op.body = Some(g.subschema_for::<T>().to_value());
        op.errors.extend([400, 413, 415]);
    }
}

impl<T: JsonSchema> DocInput for ValidQuery<T> {
    fn document(op: &mut Operation, g: &mut SchemaGenerator) {
        op.query = Some(T::json_schema(g).to_value());
        op.errors.insert(400);
    }
}

impl<T: JsonSchema> DocOutput for Json<T> {
    fn document(op: &mut Operation, g: &mut SchemaGenerator) {
        op.success = Some((200, Some(g.subschema_for::<T>().to_value())));
    }
}

impl<T: JsonSchema> DocOutput for Created<T> {
    fn document(op: &mut Operation, g: &mut SchemaGenerator) {
        op.success = Some((201, Some(g.subschema_for::<T>().to_value())));
    }
}

impl DocOutput for NoContent {
    fn document(op: &mut Operation, _: &mut SchemaGenerator) {
        op.success = Some((204, None));
    }
}

impl<R: DocOutput> DocOutput for Result<R, ApiError> {
    fn document(op: &mut Operation, g: &mut SchemaGenerator) {
        R::document(op, g);
        op.errors.insert(500);
    }
}

/// The served document: generated once, sent as HTML-safe JSON.
#[derive(Debug, Clone, Copy)]
pub struct Served;

impl IntoResponse for Served {
    fn into_response(self) -> Response {
        static BYTES: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
        match BYTES
            .get_or_init(|| crate::json::to_html_safe_vec(&document()).map_err(|e| e.to_string()))
        {
            Ok(bytes) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes.clone(),
            )
                .into_response(),
            Err(e) => ApiError::internal(format!("encoding the API document: {e}")).into_response(),
        }
    }
}

impl DocOutput for Served {
    fn document(op: &mut Operation, _: &mut SchemaGenerator) {
        op.success = Some((
            200,
            Some(json!({"type": "object", "required": ["openapi", "info", "paths"]})),
        ));
    }
}

/// What each error status means, with the codes it carries.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "The request is invalid (`invalid_request`, naming the field) or a free-text field looks like SQL injection or cross-site scripting (`suspicious_input`, naming the field; nothing was stored).",
    ),
    (
        401,
        "Unauthorized",
        "Not authenticated: no, malformed, expired or revoked credential (`token_*`, `api_key_*`, `session_*`, `user_*`), or wrong login details (`invalid_credentials`, `mfa_invalid`, `refresh_token_*`).",
    ),
    (
        403,
        "Forbidden",
        "Authenticated but not allowed: the route's permission is not held here (`permission_denied`), MFA enrolment is required first (`mfa_enrollment_required`), the account is disabled (`account_disabled`), a TOTP or recovery code is wrong (`mfa_invalid`), or the action is refused by rule (`forbidden`).",
    ),
    (
        404,
        "NotFound",
        "No such resource in the caller's tenant (`not_found`); another tenant's resource, or a project the caller cannot see, is answered the same way.",
    ),
    (
        409,
        "Conflict",
        "The change conflicts with the current state (`conflict`, `mfa_already_enrolled`, `mfa_not_enrolled`): a name in use, a resource still referenced.",
    ),
    (
        413,
        "PayloadTooLarge",
        "The body is larger than 64 KiB (`payload_too_large`).",
    ),
    (
        415,
        "UnsupportedMediaType",
        "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`).",
    ),
    (
        422,
        "Unprocessable",
        "The request fits this document but breaks a rule it cannot state (`invalid_request`, saying which): it names an object that does not exist in the tenant (a subject, role, project or cloud account), or its fields contradict each other or the path (a password policy whose `maxLength` is below its `minLength`, a binding's `projectUid` that is not the path's project).",
    ),
    (
        429,
        "TooManyRequests",
        "A rate limit per client address or per tenant, or a login/MFA throttle, was reached (`rate_limited`, `login_throttled`, `mfa_throttled`); `Retry-After` says when to retry.",
    ),
    (
        500,
        "InternalError",
        "Something failed inside the server (`internal_error`); the message is generic, quote the request UID to the operator.",
    ),
    (
        503,
        "Unavailable",
        "A dependency is not answering (`not_ready`), a change was not made because its audit record could not be written (`audit_unavailable`) or because the embedded database stayed busy with other changes (`database_busy`, with `Retry-After`), or the tenant bus is not configured on this server (`bus_unavailable`); retry later.",
    ),
];

fn error_name(status: u16) -> &'static str {
    ERRORS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map(|(_, n, _)| *n)
        .unwrap_or("InternalError")
}

/// The error statuses a route can answer, from its declaration and what
/// its handler's types added.
fn error_statuses(spec: &RouteSpec, op: &Operation) -> BTreeSet<u16> {
    let mut e = op.errors.clone();
    // The per-client-address limit covers every route.
    e.insert(429);
    match spec.access {
        Access::Public => {
            // Login, MFA, refresh and password change refuse credentials.
            if spec.path.starts_with("/v1/auth/") {
                e.extend([401, 403]);
            }
        }
        Access::Enrolling | Access::SelfService | Access::Permission(_) => {
            e.extend([401, 403, 500]);
        }
    }
    if let Access::Permission(p) = spec.access
        && p.level() == Level::Project
    {
        // The project is looked up in the caller's tenant.
        e.insert(404);
    }
    if spec.path.contains('{') {
        // Path UIDs are checked (400) and looked up in the caller's tenant
        // (404), by the gate for `{projectUid}` and by the handler for the rest.
        e.extend([400, 404]);
    }
    if spec.mutates() {
        // Changes commit with their audit event, and may conflict.
        e.insert(503);
        if spec.access != Access::Public {
            e.insert(409);
            if op.body.is_some() {
                // Bodies name other objects (subjects, roles, accounts)
                // and some carry rules across fields.
                e.insert(422);
            }
        }
    }
    if spec.path == "/readyz" || spec.path.contains("/clusters/{uid}/") {
        // Readiness; the tenant bus routes without `serve --bus`.
        e.insert(503);
    }
    e
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for seg in path.split('/').filter(|s| !s.is_empty() && *s != "v1") {
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        id.push('_');
        id.extend(
            seg.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// The first path segment after `/v1` (`users`, `projects`…), or `meta`.
fn tag_of(path: &str) -> &str {
    match path.strip_prefix("/v1/") {
        Some(rest) => rest.split('/').next().unwrap_or("meta"),
        None => "meta",
    }
}

/// A schema without its `null` alternative (query parameters are absent,
/// never null).
fn non_null(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(obj) = s.as_object_mut() {
        if let Some(Value::Array(types)) = obj.get("type") {
            let kept: Vec<Value> = types
                .iter()
                .filter(|t| t.as_str() != Some("null"))
                .cloned()
                .collect();
            let ty = match kept.as_slice() {
                [one] => one.clone(),
                _ => Value::Array(kept),
            };
            obj.insert("type".into(), ty);
        }
        if let Some(Value::Array(alts)) = obj.get("anyOf") {
            let kept: Vec<Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .cloned()
                .collect();
            if let [one] = kept.as_slice() {
                let mut merged = obj.clone();
                merged.remove("anyOf");
                if let (Some(m), Some(o)) = (Some(&mut merged), one.as_object()) {
                    for (k, v) in o {
                        m.insert(k.clone(), v.clone());
                    }
                }
                return Value::Object(merged);
            }
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            let kept: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
            obj.insert("enum".into(), Value::Array(kept));
        }
    }
    s
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "A UID: 12 lowercase hex characters (anything else is 400).",
                "schema": {"$ref": "#/components/schemas/Uid"}
            })
        })
        .collect()
}

fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let mut p = non_null(prop);
            let description = p
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            let mut param = json!({
                "name": name,
                "in": "query",
                "required": required.contains(name.as_str()),
                "schema": p,
            });
            if let (Some(o), false) = (param.as_object_mut(), description.is_null()) {
                o.insert("description".into(), description);
            }
            param
        })
        .collect()
}

fn who_may_call(access: Access) -> String {
    match access {
        Access::Public => "Public: no credential.".to_owned(),
        Access::Enrolling => {
            "Any authenticated caller, also while MFA enrolment is pending.".to_owned()
        }
        Access::SelfService => "Any authenticated caller, for their own things; the answer is narrowed by the caller's permissions.".to_owned(),
        Access::Permission(p) => format!(
            "Needs `{p}` ({} level): {}",
            p.level().as_str(),
            p.description()
        ),
    }
}

/// The header every response carries.
fn request_uid_header() -> Value {
    json!({"$ref": "#/components/headers/X-Request-Uid"})
}

fn operation(spec: &RouteSpec, op: &Operation) -> Value {
    let mut responses = Map::new();
    match &op.success {
        Some((204, _)) | Some((_, None)) => {
            let status = op.success.as_ref().map(|s| s.0).unwrap_or(204);
            responses.insert(
                status.to_string(),
                json!({
                    "description": "Done; no body.",
                    "headers": {"X-Request-Uid": request_uid_header()}
                }),
            );
        }
        Some((status, Some(schema))) => {
            let description = if *status == 201 {
                "Created."
            } else {
                "Success."
            };
            responses.insert(
                status.to_string(),
                json!({
                    "description": description,
                    "headers": {"X-Request-Uid": request_uid_header()},
                    "content": {"application/json": {"schema": schema}}
                }),
            );
        }
        None => {}
    }
    for status in error_statuses(spec, op) {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{}", error_name(status))}),
        );
    }
    let mut parameters = path_parameters(spec.path);
    if let Some(q) = &op.query {
        parameters.extend(query_parameters(q));
    }
    let security = match spec.access {
        Access::Public => json!([]),
        _ => json!([{"bearer": []}]),
    };
    let mut o = json!({
        "operationId": operation_id(spec.method.as_str(), spec.path),
        "summary": spec.summary,
        "description": who_may_call(spec.access),
        "tags": [tag_of(spec.path)],
        "security": security,
        "responses": responses,
    });
    if let Some(m) = o.as_object_mut() {
        if !parameters.is_empty() {
            m.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(body) = &op.body {
            m.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "content": {"application/json": {"schema": body}}
                }),
            );
        }
        if let Access::Permission(p) = spec.access {
            m.insert("x-palisade-permission".into(), json!(p.as_str()));
        }
        if spec.action != "-" {
            m.insert("x-palisade-audit-action".into(), json!(spec.action));
        }
    }
    o
}

/// The generator every schema of the document comes from: JSON Schema
/// 2020-12 (OpenAPI 3.1's dialect), definitions under
/// `#/components/schemas`, describing what the server *accepts*
/// (deserialization), which is also what the typed client accepts back.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "#/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> Value {
    let mut g = generator();
    let error = g.subschema_for::<ErrorBody>().to_value();
    let mut paths = Map::new();
    for route in crate::routes::table() {
        let mut op = Operation::default();
        (route.doc)(&mut op, &mut g);
        let entry = paths
            .entry(route.spec.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(
                route.spec.method.as_str().to_ascii_lowercase(),
                operation(&route.spec, &op),
            );
        }
    }
    let mut responses = Map::new();
    for (status, name, description) in ERRORS {
        let mut headers = Map::new();
        headers.insert("X-Request-Uid".into(), request_uid_header());
        if *status == 429 {
            headers.insert(
                "Retry-After".into(),
                json!({
                    "description": "Seconds to wait before retrying.",
                    "required": true,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}
                }),
            );
        }
        responses.insert(
            (*name).to_owned(),
            json!({
                "description": format!("{status}: {description}"),
                "headers": headers,
                "content": {"application/json": {"schema": error}}
            }),
        );
    }
    let schemas = g.take_definitions(true);
    add_links(&mut paths, &schemas);
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Palisade API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The management API of Palisade. JSON in and out (camelCase); the tenant always comes from the caller's credential, never from a path or body; another tenant's resource is answered 404 like a missing one. Every response carries `X-Request-Uid` and the security headers (HSTS, nosniff, frame-deny, a restrictive CSP); every error has one shape, `{code, message, requestUid}`. Request bodies are at most 64 KiB and 16 levels deep; unknown fields are refused. Collections are paged with `after` (the previous page's `next`) and `limit`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "servers": [{"url": "/"}],
        "tags": tags(&paths),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token from `/v1/auth/login` (a short-lived EdDSA JWT) or an API key from `/v1/apikeys` (`pak.…`), as `Authorization: Bearer …`."
                }
            },
            "headers": {
                "X-Request-Uid": {
                    "description": "The request's UID (also in every error body and in the server's log).",
                    "required": true,
                    "schema": {"$ref": "#/components/schemas/Uid"}
                }
            },
            "responses": responses,
            "schemas": schemas,
        }
    })
}

/// Where the created object's UID is in a 201 body: `/uid`, or `/x/uid`
/// when the body wraps the object in a property `x`.
fn created_uid_pointer(body: &Value, schemas: &Map<String, Value>) -> Option<String> {
    let named = |v: &Value| {
        v.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .and_then(|n| schemas.get(n))
            .cloned()
    };
    let schema = named(body)?;
    let props = schema.get("properties")?.as_object()?;
    if props.contains_key("uid") {
        return Some("/uid".to_owned());
    }
    props.iter().find_map(|(name, prop)| {
        let inner = named(prop)?;
        inner
            .get("properties")?
            .get("uid")
            .map(|_| format!("/{name}/uid"))
    })
}

/// OpenAPI links from each create (`POST` of a collection, 201) to the
/// operations on the created object (`{collection}/{param}…`): the new UID
/// fills the parameter, the collection's own parameters come from the
/// request. They let clients, and stateful testing, follow the API.
fn add_links(paths: &mut Map<String, Value>, schemas: &Map<String, Value>) {
    let mut found: Vec<(String, Value)> = Vec::new();
    for (path, item) in paths.iter() {
        let Some(body) = item.pointer("/post/responses/201/content/application~1json/schema")
        else {
            continue;
        };
        let Some(pointer) = created_uid_pointer(body, schemas) else {
            continue;
        };
        let prefix = format!("{path}/{{");
        let mut links = Map::new();
        for (other, other_item) in paths.iter() {
            let Some(rest) = other.strip_prefix(&prefix) else {
                continue;
            };
            let Some(param) = rest.split('}').next() else {
                continue;
            };
            for op in other_item.as_object().into_iter().flat_map(|m| m.values()) {
                let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                let mut parameters = Map::new();
                let mut complete = true;
                for p in op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (Some(name), Some("path")) = (
                        p.get("name").and_then(Value::as_str),
                        p.get("in").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    let source = if name == param {
                        format!("$response.body#{pointer}")
                    } else if path.contains(&format!("{{{name}}}")) {
                        format!("$request.path.{name}")
                    } else {
                        complete = false;
                        continue;
                    };
                    parameters.insert(name.to_owned(), Value::String(source));
                }
                // Only operations whose every path parameter the link fills.
                if !complete {
                    continue;
                }
                links.insert(
                    id.to_owned(),
                    json!({"operationId": id, "parameters": parameters}),
                );
            }
        }
        if !links.is_empty() {
            found.push((path.clone(), Value::Object(links)));
        }
    }
    for (path, links) in found {
        if let Some(Value::Object(r)) = paths
            .get_mut(&path)
            .and_then(|i| i.pointer_mut("/post/responses/201"))
        {
            r.insert("links".into(), links);
        }
    }
}

fn tags(paths: &Map<String, Value>) -> Value {
    let names: BTreeSet<&str> = paths.keys().map(|p| tag_of(p)).collect();
    Value::Array(names.into_iter().map(|n| json!({"name": n})).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_null_drops_the_null_alternative() {
        assert_eq!(
            non_null(&json!({"type": ["integer", "null"], "minimum": 1})),
            json!({"type": "integer", "minimum": 1})
        );
        assert_eq!(
            non_null(&json!({"anyOf": [{"$ref": "#/x"}, {"type": "null"}], "description": "d"})),
            json!({"$ref": "#/x", "description": "d"})
        );
        assert_eq!(
            non_null(&json!({"type": ["string", "null"], "enum": ["a", null]})),
            json!({"type": "string", "enum": ["a"]})
        );
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut seen = BTreeSet::new();
        for s in crate::routes::specs() {
            assert!(
                seen.insert(operation_id(s.method.as_str(), s.path)),
                "{} {}",
                s.method,
                s.path
            );
        }
    }
}
