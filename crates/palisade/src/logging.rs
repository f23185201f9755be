//! Log set-up: JSON lines (default) or text on stderr.

/// Installs the global subscriber.
pub fn init(json: bool, filter: &str) {
    palisade_server::logging::install(json, filter, std::io::stderr);
}
