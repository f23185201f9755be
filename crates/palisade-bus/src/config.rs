//! A complete nats-server 2.9 configuration for Palisade's operator mode:
//! listen address, TLS required for every client (no plaintext), the
//! operator JWT inline, the system account, the `full` account resolver with
//! only the system account preloaded (tenant accounts are pushed live), and
//! bounded payloads and write deadlines.
//!
//! Every string value is written double-quoted with nats-server's escapes
//! (`\"`, `\\`, `\t`, `\n`, `\r`, `\xXX`), so a path with a quote, a `$`,
//! a `#` or a newline cannot end the value, start a comment, reference a
//! variable or add a key. Paths must be absolute (nats-server would resolve
//! relative ones against its working directory).
//!
//! This module builds text; it must not write files or start processes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::BusError;
use crate::jwt::{self, AccountClaims, OperatorClaims};
use crate::keys::{KeyKind, OperatorKeys, verify_public_key};

/// Default largest message payload, bytes (nats-server's own default).
pub const DEFAULT_MAX_PAYLOAD: u32 = 1024 * 1024;

/// TLS material of the nats-server (from Palisade's internal CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The CA certificate (PEM) clients verify the server with.
    pub ca_file: PathBuf,
}

/// Everything [`nats_server_config`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigParams {
    /// Listen host (IP address or name).
    pub host: String,
    /// Listen port (1–65535).
    pub port: u16,
    /// The operator JWT (inlined).
    pub operator_jwt: String,
    /// The system account's public key.
    pub system_account: String,
    /// The system account's JWT (the only preloaded account).
    pub system_account_jwt: String,
    /// Directory of the `full` resolver (account JWTs pushed live).
    pub resolver_dir: PathBuf,
    /// Whether `$SYS.REQ.CLAIMS.DELETE` may delete accounts. Palisade
    /// deletes tenants with a tombstone JWT instead, so the default is off.
    pub allow_delete: bool,
    /// How often resolver directories of clustered servers synchronise,
    /// seconds.
    pub resolver_interval_secs: u32,
    /// How long a server waits when fetching an unknown account from its
    /// peers, milliseconds.
    pub resolver_timeout_ms: u32,
    /// TLS files.
    pub tls: TlsFiles,
    /// Seconds a client has to finish the TLS handshake.
    pub tls_timeout_secs: u32,
    /// Largest message payload, bytes.
    pub max_payload: u32,
    /// Seconds a write to a client may block before it is a slow consumer.
    pub write_deadline_secs: u32,
}

impl ConfigParams {
    /// Parameters for this operator with defaults for the tunables:
    /// resolver sync every 2 minutes, fetch timeout 1.9 s, TLS handshake
    /// 2 s, 1 MiB payloads, 10 s write deadline, account deletion off.
    pub fn for_operator(
        keys: &OperatorKeys,
        now: i64,
        host: impl Into<String>,
        port: u16,
        resolver_dir: PathBuf,
        tls: TlsFiles,
    ) -> Result<Self, BusError> {
        Ok(ConfigParams {
            host: host.into(),
            port,
            operator_jwt: keys.operator_jwt(now)?,
            system_account: keys.system_account.public_key().to_owned(),
            system_account_jwt: keys.system_account_jwt(now)?,
            resolver_dir,
            allow_delete: false,
            resolver_interval_secs: 120,
            resolver_timeout_ms: 1_900,
            tls,
            tls_timeout_secs: 2,
            max_payload: DEFAULT_MAX_PAYLOAD,
            write_deadline_secs: 10,
        })
    }

    fn validate(&self) -> Result<(), BusError> {
        if self.host.is_empty() || self.host.len() > 253 {
            return Err(BusError::Config("host must be 1..=253 characters"));
        }
        if self.port == 0 {
            return Err(BusError::Config("port must be 1..=65535"));
        }
        let op: OperatorClaims =
            jwt::decode(&self.operator_jwt).map_err(|_| BusError::Config("operator JWT"))?;
        if !op.nats.strict_signing_key_usage {
            return Err(BusError::Config(
                "operator JWT must set strict_signing_key_usage",
            ));
        }
        verify_public_key(&self.system_account, KeyKind::Account)
            .map_err(|_| BusError::Config("system account public key"))?;
        if op.nats.system_account != self.system_account {
            return Err(BusError::Config(
                "system account differs from the operator JWT's",
            ));
        }
        let sys: AccountClaims = jwt::decode(&self.system_account_jwt)
            .map_err(|_| BusError::Config("system account JWT"))?;
        if sys.sub != self.system_account {
            return Err(BusError::Config(
                "system account JWT is for another account",
            ));
        }
        if !op.nats.signing_keys.contains(&sys.iss) {
            return Err(BusError::Config(
                "system account JWT is not signed by the operator's signing key",
            ));
        }
        for p in [
            &self.resolver_dir,
            &self.tls.cert_file,
            &self.tls.key_file,
            &self.tls.ca_file,
        ] {
            if !p.is_absolute() {
                return Err(BusError::Config("paths must be absolute"));
            }
            if p.to_str().is_none() {
                return Err(BusError::Config("paths must be UTF-8"));
            }
        }
        if !(1..=3600).contains(&self.resolver_interval_secs) {
            return Err(BusError::Config("resolver interval must be 1..=3600 s"));
        }
        if !(100..=60_000).contains(&self.resolver_timeout_ms) {
            return Err(BusError::Config("resolver timeout must be 100..=60000 ms"));
        }
        if !(1..=60).contains(&self.tls_timeout_secs) {
            return Err(BusError::Config("TLS timeout must be 1..=60 s"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_payload) {
            return Err(BusError::Config("max_payload must be 1 KiB..=64 MiB"));
        }
        if !(1..=300).contains(&self.write_deadline_secs) {
            return Err(BusError::Config("write deadline must be 1..=300 s"));
        }
        Ok(())
    }
}

/// A value as a nats-server double-quoted string.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path(p: &Path) -> String {
    // validate() has checked that every path is UTF-8.
    quote(&p.to_string_lossy())
}

/// The nats-server configuration text for `params`.
pub fn nats_server_config(params: &ConfigParams) -> Result<String, BusError> {
    params.validate()?;
    let p = params;
    let mut s = String::with_capacity(4096);
    s.push_str(
        "# nats-server configuration written by Palisade (palisade bus config).\n\
         # Operator mode: accounts come from Palisade's pushes, users from its credentials.\n\
         # Regenerate instead of editing.\n\n",
    );
    let _ = writeln!(s, "host: {}", quote(&p.host));
    let _ = writeln!(s, "port: {}", p.port);
    let _ = writeln!(s, "max_payload: {}", p.max_payload);
    let _ = writeln!(s, "write_deadline: \"{}s\"", p.write_deadline_secs);
    s.push_str("# Clients must use TLS; there is no plaintext listener.\n");
    s.push_str("allow_non_tls: false\n\n");
    s.push_str("tls {\n");
    let _ = writeln!(s, "  cert_file: {}", path(&p.tls.cert_file));
    let _ = writeln!(s, "  key_file: {}", path(&p.tls.key_file));
    let _ = writeln!(s, "  ca_file: {}", path(&p.tls.ca_file));
    let _ = writeln!(s, "  timeout: {}", p.tls_timeout_secs);
    s.push_str("  verify: false\n}\n\n");
    let _ = writeln!(s, "operator: {}", quote(&p.operator_jwt));
    let _ = writeln!(s, "system_account: {}\n", quote(&p.system_account));
    s.push_str("resolver {\n  type: full\n");
    let _ = writeln!(s, "  dir: {}", path(&p.resolver_dir));
    let _ = writeln!(s, "  allow_delete: {}", p.allow_delete);
    let _ = writeln!(s, "  interval: \"{}s\"", p.resolver_interval_secs);
    let _ = writeln!(s, "  timeout: \"{}ms\"", p.resolver_timeout_ms);
    s.push_str("}\n\n");
    s.push_str("resolver_preload {\n");
    let _ = writeln!(
        s,
        "  {}: {}",
        p.system_account,
        quote(&p.system_account_jwt)
    );
    s.push_str("}\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BusMasterSecret;
    use proptest::prelude::*;

    fn params() -> ConfigParams {
        let keys = OperatorKeys::derive(&BusMasterSecret::from_bytes([8; 32])).unwrap();
        ConfigParams::for_operator(
            &keys,
            1_800_000_000,
            "127.0.0.1",
            4443,
            PathBuf::from("/var/lib/palisade/nats/jwt"),
            TlsFiles {
                cert_file: PathBuf::from("/d/tls/nats.pem"),
                key_file: PathBuf::from("/d/tls/nats-key.pem"),
                ca_file: PathBuf::from("/d/tls/ca.pem"),
            },
        )
        .unwrap()
    }

    #[test]
    fn writes_every_required_setting() {
        let p = params();
        let text = nats_server_config(&p).unwrap();
        for needle in [
            "host: \"127.0.0.1\"\n",
            "port: 4443\n",
            "allow_non_tls: false\n",
            "tls {\n",
            "  cert_file: \"/d/tls/nats.pem\"\n",
            "  ca_file: \"/d/tls/ca.pem\"\n",
            "  verify: false\n",
            "resolver {\n  type: full\n",
            "  allow_delete: false\n",
            "max_payload: 1048576\n",
            "write_deadline: \"10s\"\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(text.contains(&format!("operator: \"{}\"", p.operator_jwt)));
        assert!(text.contains(&format!(
            "  {}: \"{}\"",
            p.system_account, p.system_account_jwt
        )));
        // Only the system account is preloaded.
        let header =
            data_encoding::BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        assert_eq!(text.matches(&header).count(), 2);
    }

    #[test]
    fn quoting_escapes_what_would_break_the_file() {
        assert_eq!(quote("a\"b"), r#""a\"b""#);
        assert_eq!(quote("a\\b"), r#""a\\b""#);
        assert_eq!(quote("a\nb"), r#""a\nb""#);
        assert_eq!(quote("a\u{1}b"), r#""a\x01b""#);
        assert_eq!(quote("$x #y"), r#""$x #y""#);
        assert_eq!(quote("é"), "\"é\"");
    }

    #[test]
    fn refuses_bad_parameters() {
        let mut p = params();
        p.port = 0;
        assert!(nats_server_config(&p).is_err());
        let mut p = params();
        p.resolver_dir = PathBuf::from("relative/dir");
        assert!(matches!(
            nats_server_config(&p),
            Err(BusError::Config("paths must be absolute"))
        ));
        let mut p = params();
        p.operator_jwt = "eyJnot-a-jwt".into();
        assert!(nats_server_config(&p).is_err());
        let mut p = params();
        let other = OperatorKeys::derive(&BusMasterSecret::from_bytes([9; 32])).unwrap();
        p.system_account_jwt = other.system_account_jwt(1).unwrap();
        assert!(nats_server_config(&p).is_err());
        let mut p = params();
        p.max_payload = 10;
        assert!(nats_server_config(&p).is_err());
    }

    /// Reads a double-quoted value back with nats-server's escape rules.
    fn unquote(q: &str) -> Option<String> {
        let inner = q.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = Vec::new();
        let mut it = inner.bytes();
        while let Some(b) = it.next() {
            match b {
                b'"' => return None,
                b'\\' => match it.next()? {
                    b't' => out.push(b'\t'),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    b'x' => {
                        let h = [it.next()?, it.next()?];
                        out.push(u8::from_str_radix(std::str::from_utf8(&h).ok()?, 16).ok()?);
                    }
                    _ => return None,
                },
                b => out.push(b),
            }
        }
        String::from_utf8(out).ok()
    }

    proptest! {
        #[test]
        fn quote_round_trips_and_has_no_bare_quote_or_newline(s in "(?s).{0,64}") {
            let q = quote(&s);
            prop_assert!(!q.contains('\n'));
            prop_assert_eq!(unquote(&q), Some(s));
        }
    }
}
