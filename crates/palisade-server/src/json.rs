//! JSON in and out. [`ValidJson`]: the body extractor every route uses —
//! strict content type, size and nesting limits, unknown fields rejected (by
//! the types), validated and screened fields (`palisade_proto::fields`), and
//! every rejection in the API's error shape naming the field, never its
//! value. [`ValidQuery`]: the same for query strings. [`Json`]: responses,
//! with `<`, `>`, `&` and `'` escaped so no stored text is ever reflected as
//! markup, even by a client that ignores the content type.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use palisade_proto::codes;
use serde::de::DeserializeOwned;

use crate::ApiError;
use crate::app::MAX_BODY_BYTES;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
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
        let bytes = read_body(req).await?;
        parse_body(&bytes).map(ValidJson)
    }
}

/// Parses a JSON body as `T` with the gateway's rules: at most
/// [`MAX_DEPTH`] levels of nesting, no trailing data, and every refusal in
/// the error shape naming the field (`suspicious_input` for screened text,
/// `invalid_request` otherwise) without ever showing a value. Content type
/// and size are the extractor's checks.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is a JSON object: serde would also read a struct from an
    // array of its fields in order, which no client means to send.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    if nesting(bytes) > MAX_DEPTH {
        return Err(ApiError::invalid(format!(
            "the body is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // The path and serde's reason, never the offending value.
        let path = shown(e.path().to_string(), "a field");
        let inner = e.inner();
        let reason = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "the body is not valid JSON".to_owned()
            }
            _ => sanitize(&inner.to_string()),
        };
        field_error(&path, reason)
    })?;
    de.end().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            "trailing characters after the JSON body",
        )
    })?;
    Ok(value)
}

/// Past the body limit, how much more is read and dropped so the client,
/// still sending, gets the 413 rather than a reset connection.
pub const DRAIN_LIMIT: usize = 1024 * 1024;

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        "the body is larger than 64 KiB",
    )
}

/// The body, at most [`MAX_BODY_BYTES`]. A larger one is read on and dropped
/// up to [`DRAIN_LIMIT`] (or refused at once when its declared length is
/// beyond that), then answered 413.
async fn read_body(req: Request) -> Result<Vec<u8>, ApiError> {
    use http_body_util::BodyExt;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(too_large());
    }
    let mut body = req.into_body();
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::invalid("the body could not be read"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(buf)
}

/// Deepest nesting of objects and arrays accepted in a body.
pub const MAX_DEPTH: usize = 16;

/// How deeply `bytes` nests objects and arrays (outside strings); counting
/// stops once past the limit.
fn nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
                if max > MAX_DEPTH {
                    return max;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A path into the request (`a.b[0]`, `query parameter after`) as an
/// error may show it: only when every key looks like a field name, since
/// an unknown key may be any text; otherwise `instead`.
fn shown(path: String, instead: &str) -> String {
    let plain = path.strip_prefix("query parameter ").unwrap_or(&path);
    if plain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b))
    {
        path
    } else {
        instead.to_owned()
    }
}

/// The error of a field: `suspicious_input` for screened-out free text,
/// `invalid_request` otherwise; both name the field.
fn field_error(path: &str, reason: String) -> ApiError {
    let (code, reason) = if reason.starts_with(palisade_proto::fields::SUSPICIOUS) {
        (
            codes::SUSPICIOUS_INPUT,
            format!("{reason}; nothing was stored"),
        )
    } else {
        (codes::INVALID_REQUEST, reason)
    };
    let message = if path == "." || path.is_empty() {
        reason
    } else {
        format!("{path}: {reason}")
    };
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// Keeps serde's reason but never the offending value: "invalid type:
/// string \"…\", expected u32" becomes "invalid type, expected u32", and
/// "unknown variant `…`, expected `a` or `b`" becomes "unknown variant,
/// expected `a` or `b`". An unknown field is named only when its name looks
/// like one (a key is request text too).
fn sanitize(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or("invalid");
    for prefix in [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ] {
        if msg.starts_with(prefix) {
            return match msg.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{prefix}, expected {expected}"),
                None => prefix.to_owned(),
            };
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        // The expected names are the type's own: split at the last mention.
        let (name, tail) = match rest.rsplit_once("`, expected ") {
            Some((name, expected)) => (name, format!(", expected {expected}")),
            None => match rest.strip_suffix("`, there are no fields") {
                Some(name) => (name, ", there are no fields".to_owned()),
                None => ("", String::new()),
            },
        };
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        return if plain {
            format!("unknown field `{name}`{tail}")
        } else {
            format!("unknown field{tail}")
        };
    }
    msg.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_never_reflected() {
        let v = serde_json::json!({"d": "<script>alert('x')</script> & co"});
        let text = String::from_utf8(super::to_html_safe_vec(&v).unwrap()).unwrap();
        assert!(
            !text.contains('<') && !text.contains('>') && !text.contains('\''),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the escapes decode to the same JSON");
    }

    use palisade_proto::resources::{CreateBindingRequest, CreateTeamRequest};
    use proptest::prelude::*;

    /// Whether an error message shows `v` (short or plain values may
    /// appear by coincidence, as in "user").
    fn shows(message: &str, v: &str) -> bool {
        v.chars().count() >= 6 && v.chars().any(|c| !c.is_alphanumeric()) && message.contains(v)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text in any field, or as a key, is refused without being
        /// shown, naming a field.
        #[test]
        fn refusals_never_show_the_value(v in any::<String>(), field in 0usize..6) {
            let body = match field {
                0 => serde_json::json!({"subjectKind": v, "subjectUid": "0123456789ab", "role": "project-viewer"}),
                1 => serde_json::json!({"subjectKind": "user", "subjectUid": v, "role": "project-viewer"}),
                2 => serde_json::json!({"subjectKind": "user", "subjectUid": "0123456789ab", "role": v}),
                3 => serde_json::json!({"name": v}),
                4 => serde_json::json!({"name": "ops", "description": v}),
                _ => serde_json::json!({"name": "ops", v.clone(): 1}),
            };
            let bytes = serde_json::to_vec(&body).unwrap();
            let outcome = if field < 3 {
                super::parse_body::<CreateBindingRequest>(&bytes).map(drop)
            } else {
                super::parse_body::<CreateTeamRequest>(&bytes).map(drop)
            };
            // A key that looks like a field name is named on purpose.
            let named_key = field == 5 && super::shown(v.clone(), "") == v;
            if let Err(e) = outcome {
                prop_assert!(named_key || !shows(e.message(), &v), "{}", e.message());
                prop_assert!(e.status().as_u16() == 400);
            }
        }

        /// Arbitrary bytes are answered 400 or parsed; never a panic.
        #[test]
        fn arbitrary_bytes_are_refused_or_parsed(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(e) = super::parse_body::<CreateTeamRequest>(&bytes) {
                prop_assert!(e.status().as_u16() == 400);
            }
        }
    }

    #[test]
    fn keys_that_are_not_names_are_not_shown() {
        assert_eq!(super::shown("x' OR '1'='1".into(), "a field"), "a field");
        assert_eq!(
            super::shown("query parameter <b>".into(), "a query parameter"),
            "a query parameter"
        );
        assert_eq!(
            super::shown("permissions[0]".into(), "a field"),
            "permissions[0]"
        );
        assert_eq!(
            super::shown("query parameter after".into(), "a query parameter"),
            "query parameter after"
        );
    }

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert_eq!(super::nesting(br#"{"a":[{"b":1}]}"#), 3);
        assert_eq!(super::nesting(br#"{"a":"[[[[[[\"[["}"#), 1);
        assert!(super::nesting(&b"[".repeat(100)) > super::MAX_DEPTH);
    }

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
        assert_eq!(
            super::sanitize("unknown field `<b>x', expected`, expected `a` at line 1 column 9"),
            "unknown field, expected `a`"
        );
        assert_eq!(
            super::sanitize("unknown field `colour`, there are no fields"),
            "unknown field `colour`, there are no fields"
        );
        assert_eq!(
            super::sanitize(
                "unknown variant `x'; DROP TABLE users;--, expected`, expected `user` or `team`"
            ),
            "unknown variant, expected `user` or `team`"
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
                let path = if path == "." || path.is_empty() {
                    "query".to_owned()
                } else {
                    shown(format!("query parameter {path}"), "a query parameter")
                };
                field_error(&path, reason)
            })
    }
}

/// A JSON response whose strings escape `<`, `>`, `&` and `'` as `\uXXXX`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

struct HtmlSafe;

impl serde_json::ser::Formatter for HtmlSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, b) in fragment.bytes().enumerate() {
            let esc: &[u8] = match b {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                b'&' => b"\\u0026",
                b'\'' => b"\\u0027",
                _ => continue,
            };
            writer.write_all(fragment.as_bytes().get(start..i).unwrap_or_default())?;
            writer.write_all(esc)?;
            start = i + 1;
        }
        writer.write_all(fragment.as_bytes().get(start..).unwrap_or_default())
    }
}

/// `value` as HTML-safe JSON bytes.
pub fn to_html_safe_vec<T: serde::Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, HtmlSafe);
    value.serialize(&mut ser)?;
    Ok(out)
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        match to_html_safe_vec(&self.0) {
            Ok(bytes) => (
                [(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response(),
            Err(e) => ApiError::internal(format!("encoding a response: {e}")).into_response(),
        }
    }
}

/// A `201 Created` JSON response (the API document reads the status from
/// this type).
#[derive(Debug, Clone)]
pub struct Created<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Created<T> {
    fn into_response(self) -> axum::response::Response {
        (StatusCode::CREATED, Json(self.0)).into_response()
    }
}

/// A `204 No Content` response.
#[derive(Debug, Clone, Copy)]
pub struct NoContent;

impl axum::response::IntoResponse for NoContent {
    fn into_response(self) -> axum::response::Response {
        StatusCode::NO_CONTENT.into_response()
    }
}
