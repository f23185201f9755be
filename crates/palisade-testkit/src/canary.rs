//! The canary check over a whole test run: no password, token, refresh
//! token, API key, TOTP secret, recovery code or cloud credential that any
//! test sent or received may appear in clear in any server's logs or
//! database files.
//!
//! With `PALISADE_CANARY_DIR` set (CI sets it), [`crate::TestServer`] keeps
//! every data directory under `DIR/servers/`, every server log line goes to
//! `DIR/logs/<pid>.jsonl` too, and the test clients record each secret they
//! handle in `DIR/secrets/<pid>.txt`. After the run, the `canary-scan`
//! binary of this crate looks for every recorded secret in every other file
//! under `DIR`. Files that hold a secret by design are skipped (see
//! [`skipped`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use palisade_client::Client;

/// Keys of JSON bodies whose string values are secrets.
pub const SECRET_KEYS: &[&str] = &[
    "password",
    "currentPassword",
    "newPassword",
    "accessToken",
    "refreshToken",
    "mfaToken",
    "key",
    "secret",
    "otpauthUri",
    "initialPassword",
    "adminInitialPassword",
    "recoveryCode",
    "recoveryCodes",
    "credentials",
];

/// Secrets shorter than this are not recorded (they would match by chance).
pub const MIN_SECRET_LEN: usize = 8;

/// The canary directory of this run, if any.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("PALISADE_CANARY_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn append(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(bytes);
    }
}

/// The secret values in a JSON body (see [`SECRET_KEYS`]).
pub fn secrets_in(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map {
                if SECRET_KEYS.contains(&k.as_str()) {
                    collect_strings(val, out);
                } else {
                    secrets_in(val, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| secrets_in(i, out)),
        _ => {}
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.len() >= MIN_SECRET_LEN => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// `client`, recording the secrets it handles when the canary is on.
pub fn recording(client: Client) -> Client {
    let Some(root) = dir() else {
        return client;
    };
    let file = root
        .join("secrets")
        .join(format!("{}.txt", std::process::id()));
    let lock = Arc::new(Mutex::new(()));
    client.with_recorder(Arc::new(move |v: &serde_json::Value| {
        let mut found = Vec::new();
        secrets_in(v, &mut found);
        if found.is_empty() {
            return;
        }
        let _guard = lock.lock();
        let mut text = String::new();
        for s in found {
            // One per line; a secret with a line break is recorded by line.
            for line in s.lines().filter(|l| l.len() >= MIN_SECRET_LEN) {
                text.push_str(line);
                text.push('\n');
            }
        }
        append(&file, text.as_bytes());
    }))
}

static LOG_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sends this process's server log lines to `DIR/logs/<pid>.jsonl` too.
pub fn tee_logs(root: &Path) -> anyhow::Result<()> {
    LOG_FILE.get_or_init(|| {
        Some(
            root.join("logs")
                .join(format!("{}.jsonl", std::process::id())),
        )
    });
    // The log subscriber is the capture's; installing it is idempotent.
    crate::capture_logs().map(|_| ())
}

/// Appends log bytes to the canary log file, when teeing is on.
pub(crate) fn log_line(bytes: &[u8]) {
    if let Some(Some(path)) = LOG_FILE.get() {
        append(path, bytes);
    }
}

/// Copies a data directory (and other files, such as a server's log) of a
/// test that ran `palisade` itself into `DIR/servers/` for the scan, when
/// the canary is on.
pub fn keep(data_dir: &Path, extra: &[&Path]) {
    let Some(root) = dir() else {
        return;
    };
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let to = root
        .join("servers")
        .join(format!("bin-{}-{n}", std::process::id()));
    copy_tree(data_dir, &to.join("data"));
    for f in extra {
        if let Some(name) = f.file_name() {
            let _ = std::fs::create_dir_all(&to);
            let _ = std::fs::copy(f, to.join(name));
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let _ = std::fs::create_dir_all(to);
    for e in entries.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        match e.file_type() {
            Ok(t) if t.is_dir() => copy_tree(&src, &dst),
            Ok(t) if t.is_file() => {
                let _ = std::fs::copy(&src, &dst);
            }
            _ => {}
        }
    }
}

/// Files that hold a secret by design: the bootstrap password file, the
/// keyring, and NATS credential files handed to agents.
pub fn skipped(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("initial-admin-password" | "keyring")
    ) || path.extension().and_then(|e| e.to_str()) == Some("creds")
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_secret_fields_at_any_depth() {
        let v = serde_json::json!({
            "user": {"uid": "000000000001"},
            "initialPassword": "abcdefghijkl",
            "items": [{"key": "pak.x.y.zzzzzzzz"}],
            "recoveryCodes": ["aaaa-bbbb-cccc", "short"],
            "code": "123456"
        });
        let mut out = Vec::new();
        super::secrets_in(&v, &mut out);
        out.sort();
        assert_eq!(out, ["aaaa-bbbb-cccc", "abcdefghijkl", "pak.x.y.zzzzzzzz"]);
    }
}
