//! The API document (OpenAPI 3.1), generated from the route table: every
//! route with its method, path parameters, who may call it and its error
//! responses in the one error shape.

use serde_json::{Map, Value, json};

use crate::gateway::Access;

/// The document served at `/v1/openapi.json`.
pub fn document() -> Value {
    let mut paths = Map::new();
    for spec in crate::routes::specs() {
        let entry = paths
            .entry(spec.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let params: Vec<Value> = spec
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": {"$ref": "#/components/schemas/Uid"}
                })
            })
            .collect();
        let (security, who) = match spec.access {
            Access::Public => (json!([]), "Public.".to_owned()),
            Access::Enrolling => (
                json!([{"bearer": []}]),
                "Any authenticated caller, also while MFA enrolment is pending.".to_owned(),
            ),
            Access::SelfService => (
                json!([{"bearer": []}]),
                "Any authenticated caller, for their own things.".to_owned(),
            ),
            Access::Permission(p) => (json!([{"bearer": []}]), format!("Needs `{p}`.")),
        };
        let mut responses = Map::new();
        responses.insert(
            "default".into(),
            json!({"$ref": "#/components/responses/Error"}),
        );
        responses.insert(
            "2XX".into(),
            json!({"description": "Success", "content": {"application/json": {}}}),
        );
        let op = json!({
            "summary": spec.summary,
            "description": who,
            "operationId": operation_id(spec.method.as_str(), spec.path),
            "parameters": params,
            "security": security,
            "responses": responses,
        });
        if let Value::Object(m) = entry {
            m.insert(spec.method.as_str().to_ascii_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Palisade API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Uid": {"type": "string", "pattern": "^[0-9a-f]{12}$"},
                "Error": {
                    "type": "object",
                    "required": ["code", "message", "requestUid"],
                    "additionalProperties": false,
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "requestUid": {"type": "string"}
                    }
                }
            },
            "responses": {
                "Error": {
                    "description": "An error in the one error shape",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            }
        }
    })
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
