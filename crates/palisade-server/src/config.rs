//! One typed configuration: defaults → TOML file → `PALISADE_*` environment
//! → command-line flags, merged field by field and validated into
//! [`ServeConfig`].
//!
//! Secrets (the database URL, which may carry a password; the keyring) can
//! come from a file (`*_file`, a mounted Secret); setting a secret both
//! directly and by file is an error. Secrets print as `***`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::ServerError;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default bootstrap admin email.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// Every setting, each optional: one layer of configuration.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ConfigLayer {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address.
    pub listen: Option<String>,
    /// Extra DNS names or IPs for the generated server certificate.
    pub hostnames: Option<Vec<String>>,
    /// Operator certificate chain (PEM) for the FQDN.
    pub tls_cert: Option<PathBuf>,
    /// Operator private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Bootstrap admin email.
    pub admin_email: Option<String>,
    /// PostgreSQL URL (secret).
    #[serde(default, deserialize_with = "de_secret")]
    pub database_url: Option<SecretString>,
    /// File holding the PostgreSQL URL.
    pub database_url_file: Option<PathBuf>,
    /// Keyring file (default `DATA_DIR/keyring`).
    pub keyring_file: Option<PathBuf>,
    /// Keyring JSON itself (secret; from `PALISADE_KEYRING`).
    #[serde(skip)]
    pub keyring: Option<SecretString>,
    /// Log format: `json` or `text`.
    pub log_format: Option<String>,
    /// Log filter, e.g. `info` or `palisade=debug`.
    pub log_level: Option<String>,
    /// Access-token lifetime, seconds (60–3600, default 900).
    pub access_token_ttl: Option<i64>,
    /// Session idle timeout, seconds (60–86400, default 1800).
    pub session_idle_timeout: Option<i64>,
    /// Session absolute timeout, seconds (300–2592000, default 43200).
    pub session_absolute_timeout: Option<i64>,
    /// Failed logins per (account, client) before delays start (1–100, default 5).
    pub login_free_attempts: Option<i64>,
    /// Longest delay after repeated failures, seconds (1–86400, default 900).
    pub login_max_delay: Option<i64>,
    /// Requests per minute per client IP on `/v1/auth/*` (1–1000000, default 60).
    pub auth_requests_per_minute: Option<i64>,
    /// Requests per minute per client address, every route (1–10000000,
    /// default 6000).
    pub requests_per_minute_per_ip: Option<i64>,
    /// Requests per minute per tenant, authenticated routes (1–10000000,
    /// default 30000).
    pub requests_per_minute_per_tenant: Option<i64>,
    /// Days audit events are kept before they are archived and removed
    /// (0 = forever, the default; at most 36500).
    pub audit_retention_days: Option<i64>,
    /// Where retention writes sealed archives (default `DATA_DIR/audit-archive`).
    pub audit_archive_dir: Option<PathBuf>,
    /// Lanes (interleaved hash chains) of the audit log of each tenant
    /// created from now on (1–64; default 8 on PostgreSQL, 1 on SQLite).
    pub audit_lanes: Option<i64>,
    /// A copy of every event as JSON lines for a SIEM: `file:PATH`,
    /// `syslog` (the local socket), `syslog:SOCKET` or `syslog+udp://HOST:PORT`.
    pub audit_stream: Option<String>,
    /// The tenant bus: nats-server URL, `tls://HOST:PORT` (unset: no bus).
    pub bus_url: Option<String>,
    /// CA certificate (PEM) that verifies nats-server (default: the
    /// installation's internal CA).
    pub bus_ca: Option<PathBuf>,
    /// Lifetime of cluster credentials' user JWTs, seconds (300–86400,
    /// default 3600); agents renew them.
    pub bus_credentials_ttl: Option<i64>,
    /// A cluster is `connected` while its last heartbeat is younger than
    /// this, seconds (5–3600, default 60).
    pub bus_heartbeat_timeout: Option<i64>,
}

fn int(vars: &BTreeMap<String, String>, key: &str) -> Result<Option<i64>, ServerError> {
    match vars.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ServerError::Config(format!("{key} must be a whole number"))),
    }
}

fn bounded(
    name: &str,
    value: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ServerError> {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(ServerError::Config(format!(
            "{name} is {v}; it must be between {min} and {max}"
        )));
    }
    Ok(v)
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

impl ConfigLayer {
    /// Parses a TOML configuration file.
    pub fn from_toml_file(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ServerError::Config(format!(
                "cannot read configuration file {}: {e}",
                path.display()
            ))
        })?;
        toml::from_str(&text).map_err(|e| {
            // toml's message quotes the offending line, which could hold a
            // secret: keep only the location and the first line.
            let msg = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_owned();
            let span = e
                .span()
                .map(|s| {
                    let line = text
                        .get(..s.start)
                        .map(|t| t.matches('\n').count() + 1)
                        .unwrap_or(1);
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            ServerError::Config(format!("{}{span}: {msg}", path.display()))
        })
    }

    /// Reads `PALISADE_*` variables from `vars`.
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Self, ServerError> {
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        Ok(ConfigLayer {
            data_dir: get("PALISADE_DATA_DIR").map(PathBuf::from),
            listen: get("PALISADE_LISTEN"),
            hostnames: get("PALISADE_HOSTNAMES").map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            tls_cert: get("PALISADE_TLS_CERT").map(PathBuf::from),
            tls_key: get("PALISADE_TLS_KEY").map(PathBuf::from),
            admin_email: get("PALISADE_ADMIN_EMAIL"),
            database_url: get("PALISADE_DATABASE_URL").map(SecretString::from),
            database_url_file: get("PALISADE_DATABASE_URL_FILE").map(PathBuf::from),
            keyring_file: get("PALISADE_KEYRING_FILE").map(PathBuf::from),
            keyring: get("PALISADE_KEYRING").map(SecretString::from),
            log_format: get("PALISADE_LOG_FORMAT"),
            log_level: get("PALISADE_LOG_LEVEL"),
            access_token_ttl: int(vars, "PALISADE_ACCESS_TOKEN_TTL")?,
            session_idle_timeout: int(vars, "PALISADE_SESSION_IDLE_TIMEOUT")?,
            session_absolute_timeout: int(vars, "PALISADE_SESSION_ABSOLUTE_TIMEOUT")?,
            login_free_attempts: int(vars, "PALISADE_LOGIN_FREE_ATTEMPTS")?,
            login_max_delay: int(vars, "PALISADE_LOGIN_MAX_DELAY")?,
            auth_requests_per_minute: int(vars, "PALISADE_AUTH_REQUESTS_PER_MINUTE")?,
            requests_per_minute_per_ip: int(vars, "PALISADE_REQUESTS_PER_MINUTE_PER_IP")?,
            requests_per_minute_per_tenant: int(vars, "PALISADE_REQUESTS_PER_MINUTE_PER_TENANT")?,
            audit_retention_days: int(vars, "PALISADE_AUDIT_RETENTION_DAYS")?,
            audit_archive_dir: get("PALISADE_AUDIT_ARCHIVE_DIR").map(PathBuf::from),
            audit_lanes: int(vars, "PALISADE_AUDIT_LANES")?,
            audit_stream: get("PALISADE_AUDIT_STREAM"),
            bus_url: get("PALISADE_BUS_URL"),
            bus_ca: get("PALISADE_BUS_CA").map(PathBuf::from),
            bus_credentials_ttl: int(vars, "PALISADE_BUS_CREDENTIALS_TTL")?,
            bus_heartbeat_timeout: int(vars, "PALISADE_BUS_HEARTBEAT_TIMEOUT")?,
        })
    }

    /// `self` overrides `lower` field by field.
    pub fn over(self, lower: ConfigLayer) -> ConfigLayer {
        ConfigLayer {
            data_dir: self.data_dir.or(lower.data_dir),
            listen: self.listen.or(lower.listen),
            hostnames: self.hostnames.or(lower.hostnames),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            admin_email: self.admin_email.or(lower.admin_email),
            database_url: self.database_url.or(lower.database_url),
            database_url_file: self.database_url_file.or(lower.database_url_file),
            keyring_file: self.keyring_file.or(lower.keyring_file),
            keyring: self.keyring.or(lower.keyring),
            log_format: self.log_format.or(lower.log_format),
            log_level: self.log_level.or(lower.log_level),
            access_token_ttl: self.access_token_ttl.or(lower.access_token_ttl),
            session_idle_timeout: self.session_idle_timeout.or(lower.session_idle_timeout),
            session_absolute_timeout: self
                .session_absolute_timeout
                .or(lower.session_absolute_timeout),
            login_free_attempts: self.login_free_attempts.or(lower.login_free_attempts),
            login_max_delay: self.login_max_delay.or(lower.login_max_delay),
            auth_requests_per_minute: self
                .auth_requests_per_minute
                .or(lower.auth_requests_per_minute),
            requests_per_minute_per_ip: self
                .requests_per_minute_per_ip
                .or(lower.requests_per_minute_per_ip),
            requests_per_minute_per_tenant: self
                .requests_per_minute_per_tenant
                .or(lower.requests_per_minute_per_tenant),
            audit_retention_days: self.audit_retention_days.or(lower.audit_retention_days),
            audit_archive_dir: self.audit_archive_dir.or(lower.audit_archive_dir),
            audit_lanes: self.audit_lanes.or(lower.audit_lanes),
            audit_stream: self.audit_stream.or(lower.audit_stream),
            bus_url: self.bus_url.or(lower.bus_url),
            bus_ca: self.bus_ca.or(lower.bus_ca),
            bus_credentials_ttl: self.bus_credentials_ttl.or(lower.bus_credentials_ttl),
            bus_heartbeat_timeout: self.bus_heartbeat_timeout.or(lower.bus_heartbeat_timeout),
        }
    }
}

/// Where the database lives.
#[derive(Clone)]
pub enum DatabaseConfig {
    /// `DATA_DIR/palisade.db`.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(SecretString),
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseConfig::Sqlite(p) => write!(f, "sqlite {}", p.display()),
            DatabaseConfig::Postgres(_) => f.write_str("postgres ***"),
        }
    }
}

/// Where the keyring comes from.
#[derive(Clone)]
pub enum KeyringConfig {
    /// A file (created on first start when it is the default path).
    File {
        /// Path.
        path: PathBuf,
        /// True when it is `DATA_DIR/keyring` (may be generated).
        default: bool,
    },
    /// JSON handed over in `PALISADE_KEYRING`.
    Inline(SecretString),
}

impl std::fmt::Debug for KeyringConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyringConfig::File { path, .. } => write!(f, "file {}", path.display()),
            KeyringConfig::Inline(_) => f.write_str("environment ***"),
        }
    }
}

/// The validated configuration `palisade serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTPS listen address.
    pub listen: SocketAddr,
    /// Extra names for the generated certificate.
    pub hostnames: Vec<String>,
    /// Operator certificate and key, when imported.
    pub tls_import: Option<(PathBuf, PathBuf)>,
    /// Bootstrap admin email.
    pub admin_email: String,
    /// Database.
    pub database: DatabaseConfig,
    /// Keyring source.
    pub keyring: KeyringConfig,
    /// `json` (default) or `text`.
    pub log_json: bool,
    /// Log filter.
    pub log_level: String,
    /// Authentication tunables.
    pub auth: crate::auth::AuthConfig,
    /// Audit retention and streaming.
    pub audit: crate::audit::AuditConfig,
    /// Rate limits of the whole API.
    pub gateway: GatewayConfig,
    /// The tenant bus, when configured.
    pub bus: Option<crate::bus::BusConfig>,
    /// Heartbeat timeout (ms) for `connected` in cluster views.
    pub bus_heartbeat_timeout_ms: i64,
}

/// Rate limits of the whole API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Requests per minute per client address.
    pub per_ip_per_minute: u32,
    /// Requests per minute per tenant.
    pub per_tenant_per_minute: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            per_ip_per_minute: 6000,
            per_tenant_per_minute: 30_000,
        }
    }
}

impl ServeConfig {
    /// Validates a merged layer into a runnable configuration.
    pub fn from_layer(layer: ConfigLayer) -> Result<Self, ServerError> {
        let bad = |m: String| Err(ServerError::Config(m));
        let Some(data_dir) = layer.data_dir else {
            return bad("no data directory: pass --data-dir DIR (or set PALISADE_DATA_DIR or data_dir in the configuration file)".into());
        };
        let listen_text = layer.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = match listen_text.parse() {
            Ok(a) => a,
            Err(_) => {
                return bad(format!(
                    "listen address {listen_text:?} is not HOST:PORT with an IP address (e.g. 127.0.0.1:8443 or [::1]:8443)"
                ));
            }
        };
        let hostnames = layer.hostnames.unwrap_or_default();
        for h in &hostnames {
            let ok = h.parse::<std::net::IpAddr>().is_ok()
                || (!h.is_empty()
                    && h.len() <= 253
                    && h.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                            && !l.starts_with('-')
                            && !l.ends_with('-')
                    }));
            if !ok {
                return bad(format!("hostname {h:?} is not a DNS name or an IP address"));
            }
        }
        let tls_import = match (layer.tls_cert, layer.tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return bad("--tls-cert and --tls-key must be given together".into()),
        };
        let admin_email = layer
            .admin_email
            .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
        palisade_core::model::validate_email(&admin_email)
            .map_err(|e| ServerError::Config(format!("admin email: {e}")))?;
        let url = match (layer.database_url, layer.database_url_file) {
            (Some(_), Some(_)) => {
                return bad(
                    "set the database URL either directly or by file (database_url_file), not both"
                        .into(),
                );
            }
            (Some(u), None) => Some(u),
            (None, Some(p)) => {
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    ServerError::Config(format!(
                        "cannot read database URL file {}: {e}",
                        p.display()
                    ))
                })?;
                Some(SecretString::from(text.trim()))
            }
            (None, None) => None,
        };
        let database = match url {
            None => DatabaseConfig::Sqlite(data_dir.join("palisade.db")),
            Some(u) => {
                let s = u.expose_secret();
                if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
                    return bad("the database URL must start with postgres:// (the embedded SQLite database needs no URL)".into());
                }
                DatabaseConfig::Postgres(u)
            }
        };
        let keyring = match (layer.keyring, layer.keyring_file) {
            (Some(_), Some(_)) => {
                return bad("set the keyring either in PALISADE_KEYRING or as a file (--keyring-file), not both".into());
            }
            (Some(k), None) => KeyringConfig::Inline(k),
            (None, Some(path)) => KeyringConfig::File {
                path,
                default: false,
            },
            (None, None) => KeyringConfig::File {
                path: data_dir.join("keyring"),
                default: true,
            },
        };
        let log_json = match layer.log_format.as_deref() {
            None | Some("json") => true,
            Some("text") => false,
            Some(other) => return bad(format!("log format {other:?} is not json or text")),
        };
        let d = crate::auth::AuthConfig::default();
        let auth = crate::auth::AuthConfig {
            access_token_ttl_s: bounded(
                "access_token_ttl",
                layer.access_token_ttl,
                d.access_token_ttl_s,
                60,
                3600,
            )?,
            session_idle_timeout_s: bounded(
                "session_idle_timeout",
                layer.session_idle_timeout,
                d.session_idle_timeout_s,
                60,
                86_400,
            )?,
            session_absolute_timeout_s: bounded(
                "session_absolute_timeout",
                layer.session_absolute_timeout,
                d.session_absolute_timeout_s,
                300,
                30 * 86_400,
            )?,
            login_free_attempts: bounded(
                "login_free_attempts",
                layer.login_free_attempts,
                d.login_free_attempts,
                1,
                100,
            )?,
            login_max_delay_s: bounded(
                "login_max_delay",
                layer.login_max_delay,
                d.login_max_delay_s,
                1,
                86_400,
            )?,
            mfa_free_attempts: d.mfa_free_attempts,
            auth_requests_per_minute: u32::try_from(bounded(
                "auth_requests_per_minute",
                layer.auth_requests_per_minute,
                i64::from(d.auth_requests_per_minute),
                1,
                1_000_000,
            )?)
            .unwrap_or(d.auth_requests_per_minute),
        };
        if auth.session_absolute_timeout_s < auth.session_idle_timeout_s {
            return bad(
                "session_absolute_timeout must not be shorter than session_idle_timeout".into(),
            );
        }
        let audit = crate::audit::AuditConfig {
            retention_days: u32::try_from(bounded(
                "audit_retention_days",
                layer.audit_retention_days,
                0,
                0,
                36_500,
            )?)
            .unwrap_or(0),
            archive_dir: layer
                .audit_archive_dir
                .unwrap_or_else(|| data_dir.join(crate::audit::ARCHIVE_DIR)),
            stream: layer
                .audit_stream
                .as_deref()
                .map(crate::audit::StreamTarget::parse)
                .transpose()?,
            lanes: layer
                .audit_lanes
                .map(|n| {
                    let max = i64::from(palisade_store::MAX_LANES);
                    bounded("audit_lanes", Some(n), 1, 1, max)
                        .map(|v| u32::try_from(v).unwrap_or(1))
                })
                .transpose()?,
        };
        let gd = GatewayConfig::default();
        let rate = |name: &str, v: Option<i64>, d: u32| -> Result<u32, ServerError> {
            Ok(u32::try_from(bounded(name, v, i64::from(d), 1, 10_000_000)?).unwrap_or(d))
        };
        let gateway = GatewayConfig {
            per_ip_per_minute: rate(
                "requests_per_minute_per_ip",
                layer.requests_per_minute_per_ip,
                gd.per_ip_per_minute,
            )?,
            per_tenant_per_minute: rate(
                "requests_per_minute_per_tenant",
                layer.requests_per_minute_per_tenant,
                gd.per_tenant_per_minute,
            )?,
        };
        let bus_heartbeat_timeout_ms = bounded(
            "bus_heartbeat_timeout",
            layer.bus_heartbeat_timeout,
            crate::bus::DEFAULT_HEARTBEAT_TIMEOUT_S,
            5,
            3600,
        )? * 1000;
        let bus_credentials_ttl = bounded(
            "bus_credentials_ttl",
            layer.bus_credentials_ttl,
            palisade_bus::operator::DEFAULT_CLUSTER_TTL_SECS,
            300,
            palisade_bus::operator::MAX_USER_TTL_SECS,
        )?;
        let bus = match layer.bus_url {
            None => {
                if layer.bus_ca.is_some() {
                    return bad(
                        "bus_ca is set but bus_url is not: pass --bus tls://HOST:PORT".into(),
                    );
                }
                None
            }
            Some(url) => Some(crate::bus::BusConfig {
                url: crate::bus::parse_bus_url(&url)?,
                ca: layer.bus_ca,
                credentials_ttl_s: bus_credentials_ttl,
            }),
        };
        Ok(ServeConfig {
            bus,
            bus_heartbeat_timeout_ms,
            gateway,
            audit,
            data_dir,
            listen,
            hostnames,
            tls_import,
            admin_email,
            database,
            keyring,
            log_json,
            log_level: layer.log_level.unwrap_or_else(|| "info".to_owned()),
            auth,
        })
    }

    /// A configuration for tests and embedding: data dir, port 0, defaults.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        ServeConfig {
            data_dir: data_dir.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hostnames: Vec::new(),
            tls_import: None,
            admin_email: DEFAULT_ADMIN_EMAIL.to_owned(),
            database: DatabaseConfig::Sqlite(data_dir.join("palisade.db")),
            keyring: KeyringConfig::File {
                path: data_dir.join("keyring"),
                default: true,
            },
            log_json: true,
            log_level: "info".to_owned(),
            auth: crate::auth::AuthConfig::default(),
            audit: crate::audit::AuditConfig {
                retention_days: 0,
                archive_dir: data_dir.join(crate::audit::ARCHIVE_DIR),
                stream: None,
                lanes: None,
            },
            gateway: GatewayConfig::default(),
            bus: None,
            bus_heartbeat_timeout_ms: crate::bus::DEFAULT_HEARTBEAT_TIMEOUT_S * 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn precedence_flags_over_env_over_file() {
        let file: ConfigLayer =
            toml::from_str("data_dir = \"/f\"\nlisten = \"127.0.0.1:1\"\nadmin_email = \"f@x\"")
                .unwrap();
        let envl = ConfigLayer::from_env(&env(&[
            ("PALISADE_LISTEN", "127.0.0.1:2"),
            ("PALISADE_ADMIN_EMAIL", "e@x"),
        ]))
        .unwrap();
        let flags = ConfigLayer {
            admin_email: Some("flag@x".into()),
            ..Default::default()
        };
        let c = ServeConfig::from_layer(flags.over(envl.over(file))).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/f"));
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.admin_email, "flag@x");
    }

    #[test]
    fn unknown_toml_key_rejected_without_echoing_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "data_dir = \"/x\"\ndatabse_url = \"postgres://u:hunter2@h/db\"\n",
        )
        .unwrap();
        let err = ConfigLayer::from_toml_file(&p).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("databse_url"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn specific_errors() {
        let base = || ConfigLayer {
            data_dir: Some("/d".into()),
            ..Default::default()
        };
        let err = |l: ConfigLayer| ServeConfig::from_layer(l).unwrap_err().to_string();
        assert!(err(ConfigLayer::default()).contains("no data directory"));
        assert!(
            err(ConfigLayer {
                listen: Some("localhost:80".into()),
                ..base()
            })
            .contains("listen address")
        );
        assert!(
            err(ConfigLayer {
                tls_cert: Some("/c".into()),
                ..base()
            })
            .contains("together")
        );
        assert!(
            err(ConfigLayer {
                hostnames: Some(vec!["bad host".into()]),
                ..base()
            })
            .contains("hostname")
        );
        assert!(
            err(ConfigLayer {
                database_url: Some("mysql://x".into()),
                ..base()
            })
            .contains("postgres://")
        );
        assert!(
            err(ConfigLayer {
                database_url: Some("postgres://x".into()),
                database_url_file: Some("/f".into()),
                ..base()
            })
            .contains("not both")
        );
        assert!(
            err(ConfigLayer {
                log_format: Some("xml".into()),
                ..base()
            })
            .contains("log format")
        );
        assert!(
            err(ConfigLayer {
                audit_retention_days: Some(-1),
                ..base()
            })
            .contains("audit_retention_days")
        );
        for lanes in [0, 65, -1] {
            let e = err(ConfigLayer {
                audit_lanes: Some(lanes),
                ..base()
            });
            assert!(e.contains("audit_lanes"), "{lanes}: {e}");
        }
        for (lanes, want) in [(None, None), (Some(1), Some(1)), (Some(64), Some(64))] {
            let cfg = ServeConfig::from_layer(ConfigLayer {
                audit_lanes: lanes,
                ..base()
            })
            .unwrap();
            assert_eq!(cfg.audit.lanes, want);
        }
        for bad in [
            "",
            "file:",
            "kafka://x",
            "syslog+udp://nohost",
            "syslog+udp://h:0",
        ] {
            let e = err(ConfigLayer {
                audit_stream: Some(bad.into()),
                ..base()
            });
            assert!(e.contains("audit_stream"), "{bad}: {e}");
        }
        let dbg = format!(
            "{:?}",
            ServeConfig::from_layer(ConfigLayer {
                database_url: Some("postgres://u:hunter2@h/db".into()),
                ..base()
            })
            .unwrap()
        );
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }
}
