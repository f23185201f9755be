//! Log set-up: one JSON object a line (the default) or text, written to a
//! writer the caller chooses (standard error for the binary, a buffer for
//! tests that read the access log).
//!
//! This module only installs the process-wide subscriber and shapes a line;
//! what a line holds is decided where it is logged (the access log in
//! `crate::app`). It must not add fields that carry request values.
//!
//! A JSON line is `{"timestamp", "level", <the event's fields>, "target"}`,
//! plus `"spans"` (the names of the spans the event ran in, outermost
//! first) when there are any. Every request writes one line, so the line is
//! built in one buffer by [`JsonLines`] and written with one call, rather
//! than through a general-purpose serializer field by field.

use std::fmt;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Installs the process-wide subscriber writing to `writer`, with `filter`
/// (an `EnvFilter` directive such as `info`; an invalid one falls back to
/// `info`). Returns false when a subscriber was already installed (the first
/// one stays).
pub fn install<W>(json: bool, filter: &str, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    if json {
        builder.event_format(JsonLines).try_init().is_ok()
    } else {
        builder.try_init().is_ok()
    }
}

/// The JSON line format (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Line {
            buf: Vec::with_capacity(LINE_CAPACITY),
        };
        let now = time::OffsetDateTime::now_utc();
        line.key("timestamp");
        // RFC 3339 text needs no JSON escaping; written in place.
        line.buf.push(b'"');
        let mark = line.buf.len();
        if now
            .format_into(
                &mut line.buf,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok()
        {
            line.buf.push(b'"');
        } else {
            line.buf.truncate(mark - 1);
            let _ = serde_json::to_writer(&mut line.buf, &now.unix_timestamp());
        }
        line.entry("level", event.metadata().level().as_str());
        event.record(&mut line);
        line.entry("target", event.metadata().target());
        if let Some(scope) = ctx.event_scope() {
            let names: Vec<&str> = scope.from_root().map(|s| s.name()).collect();
            line.entry("spans", &names);
        }
        line.buf.push(b'}');
        // Only JSON (valid UTF-8) was written into the buffer.
        let text = std::str::from_utf8(&line.buf).map_err(|_| fmt::Error)?;
        writer.write_str(text)?;
        writer.write_char('\n')
    }
}

/// Room for a typical line (an access-log line is about 400 bytes).
const LINE_CAPACITY: usize = 512;

/// One JSON object being built: `{"k":v,"k":v`.
struct Line {
    buf: Vec<u8>,
}

impl Line {
    /// Starts the next member: `{"key":` or `,"key":`.
    fn key(&mut self, key: &str) {
        self.buf.push(if self.buf.is_empty() { b'{' } else { b',' });
        // Field names are identifiers (`a_b`, `a.b`): no escaping needed;
        // anything else goes through the serializer.
        if key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            self.buf.push(b'"');
            self.buf.extend_from_slice(key.as_bytes());
            self.buf.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut self.buf, key);
        }
        self.buf.push(b':');
    }

    fn entry<V: Serialize + ?Sized>(&mut self, key: &str, value: &V) {
        // Writing to a Vec cannot fail; a value that cannot be serialized
        // (a non-finite float) is written as null.
        self.key(key);
        let mark = self.buf.len();
        if serde_json::to_writer(&mut self.buf, value).is_err() {
            self.buf.truncate(mark);
            self.buf.extend_from_slice(b"null");
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field.name(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field.name(), &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field.name(), &value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field.name(), &value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field.name(), &value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field.name(), &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field.name(), &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .with_writer(move || buf.clone())
            .with_ansi(false)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(sub, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn a_line_is_one_json_object_with_typed_fields() {
        let got = lines(|| {
            tracing::info!(
                request_uid = "0123456789ab",
                status = 200u16,
                delta = -3i64,
                latency_ms = 1.25f64,
                ok = true,
                shown = %"disp\"lay",
                nan = f64::NAN,
                "request"
            );
        });
        assert_eq!(got.len(), 1);
        let l = &got[0];
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["message"], "request");
        assert_eq!(l["request_uid"], "0123456789ab");
        assert_eq!(l["status"], 200);
        assert_eq!(l["delta"], -3);
        assert_eq!(l["latency_ms"], 1.25);
        assert_eq!(l["ok"], true);
        assert_eq!(l["shown"], "disp\"lay");
        assert!(l["nan"].is_null());
        assert_eq!(l["target"], module_path!());
        let ts = l["timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
            "{ts}"
        );
        assert!(l.get("spans").is_none());
    }

    #[test]
    fn keys_other_than_identifiers_are_escaped() {
        let mut line = Line { buf: Vec::new() };
        line.entry("plain_key.x", &1);
        line.entry("quote\"and\nnewline", &2);
        line.buf.push(b'}');
        let v: serde_json::Value = serde_json::from_slice(&line.buf).unwrap();
        assert_eq!(v["plain_key.x"], 1);
        assert_eq!(v["quote\"and\nnewline"], 2);
    }

    #[test]
    fn control_characters_and_newlines_cannot_split_a_line() {
        let got = lines(|| {
            tracing::warn!(reason = "a\nb\r\u{0}\u{2028}", "line\ninjection");
        });
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["reason"], "a\nb\r\u{0}\u{2028}");
        assert_eq!(got[0]["message"], "line\ninjection");
        assert_eq!(got[0]["level"], "WARN");
    }

    #[test]
    fn spans_are_named_outermost_first() {
        let got = lines(|| {
            let outer = tracing::info_span!("outer");
            let _o = outer.enter();
            let inner = tracing::info_span!("inner");
            let _i = inner.enter();
            tracing::info!("inside");
        });
        assert_eq!(got[0]["spans"], serde_json::json!(["outer", "inner"]));
    }
}
