//! Log set-up: one JSON object a line (the default) or text, written to a
//! writer the caller chooses (standard error for the binary, a buffer for
//! tests that read the access log).
//!
//! This module only installs the process-wide subscriber; what a line holds
//! is decided where it is logged (the access log in `crate::app`). It must
//! not add fields that carry request values.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
        builder.json().flatten_event(true).try_init().is_ok()
    } else {
        builder.try_init().is_ok()
    }
}
