//! `ValidJson<T>`: the JSON body extractor every route uses. Strict content
//! type, size limit, unknown fields rejected (by the types), and every
//! rejection in the API's error shape naming what was wrong.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use palisade_proto::codes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::PAYLOAD_TOO_LARGE,
                    "the body is too large or could not be read",
                )
            })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            // The path and serde's reason, never the offending value.
            let path = e.path().to_string();
            let inner = e.inner();
            let reason = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "the body is not valid JSON".to_owned()
                }
                _ => sanitize(&inner.to_string()),
            };
            let message = if path == "." || path.is_empty() {
                reason
            } else {
                format!("{path}: {reason}")
            };
            ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
        })?;
        de.end().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                "trailing characters after the JSON body",
            )
        })?;
        Ok(ValidJson(value))
    }
}

/// Keeps serde's reason but never the offending value: "invalid type:
/// string \"…\", expected u32" becomes "invalid type, expected u32".
fn sanitize(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or("invalid");
    for prefix in ["invalid type", "invalid value", "invalid length"] {
        if msg.starts_with(prefix) {
            return match msg.split_once(", expected ") {
                Some((_, expected)) => format!("{prefix}, expected {expected}"),
                None => prefix.to_owned(),
            };
        }
    }
    msg.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_never_echoed() {
        assert_eq!(
            super::sanitize("invalid type: string \"hunter2\", expected u32 at line 1 column 9"),
            "invalid type, expected u32"
        );
        assert_eq!(
            super::sanitize("unknown field `pasword`, expected one of `a`, `b` at line 1 column 9"),
            "unknown field `pasword`, expected one of `a`, `b`"
        );
    }
}

/// Query parameters of type `T`: unknown parameters rejected (by the type's
/// `deny_unknown_fields`), every rejection in the API's error shape, never
/// echoing a value.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ValidQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let reason = sanitize(&e.inner().to_string());
                let message = if path == "." || path.is_empty() {
                    format!("query: {reason}")
                } else {
                    format!("query parameter {path}: {reason}")
                };
                ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
            })
    }
}
