//! Command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use palisade_server::ConfigLayer;
use secrecy::SecretString;

/// Palisade: a security-first management plane for multi-tenant Kubernetes platforms.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS API server.
    Serve(ServerArgs),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the installation keyring.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Administer users directly on the database (needs the keyring).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Read, export and verify the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// CIS host and Kubernetes-node hardening: scan, fix, roll back.
    #[command(subcommand)]
    Harden(palisade_harden::cli::HardenCommand),
    /// Run the tenant cluster's agent on the Palisade bus (heartbeats,
    /// jobs, credential renewal).
    Agent(AgentArgs),
    /// The tenant bus (nats-server) Palisade operates.
    #[command(subcommand)]
    Bus(BusCommand),
}

#[derive(Debug, Subcommand)]
pub enum BusCommand {
    /// Write a complete nats-server configuration (operator mode, TLS from
    /// the internal CA, live account pushes) and say how to start it.
    Config(BusConfigArgs),
}

/// `palisade bus config`.
#[derive(Debug, Args)]
pub struct BusConfigArgs {
    /// Data directory of the installation [env: PALISADE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keyring file [default: DATA_DIR/keyring] [env: PALISADE_KEYRING_FILE; or PALISADE_KEYRING].
    #[arg(long, value_name = "FILE")]
    pub keyring_file: Option<PathBuf>,
    /// Where nats-server listens for clients, HOST:PORT (the certificate names HOST).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: String,
    /// The configuration file to write [default: DATA_DIR/nats/nats-server.conf];
    /// its certificate, key and resolver directory go beside it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `palisade agent` options.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The cluster's NATS credentials file (mode 0600; renewed in place).
    #[arg(long, value_name = "FILE")]
    pub creds: PathBuf,
    /// The bus: tls://HOST:PORT (TLS only).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// CA certificate (PEM) that signs the bus's certificate [default: the system's roots].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Directory of unacknowledged results [default: agent-spool/ next to --creds].
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Seconds between heartbeats (1–3600).
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub heartbeat: u64,
    /// Log format: json or text.
    #[arg(long, value_name = "FORMAT", default_value = "json")]
    pub log_format: String,
    /// Log filter, e.g. info or palisade_agent=debug.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file, environment, flags) without starting.
    Check(ServerArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// User lifecycle.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a one-time password to change at first login.
    Create {
        #[command(flatten)]
        who: UserArgs,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A role to bind at tenant scope (built-in, e.g. tenant-admin,
        /// or the tenant's own by name); none by default.
        #[arg(long)]
        role: Option<String>,
    },
    /// List the users of a tenant.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// Tenant name.
        #[arg(long)]
        tenant: String,
    },
    /// Refuse logins and end sessions.
    Disable(UserArgs),
    /// Allow logins again.
    Enable(UserArgs),
    /// Delete the user.
    Delete(UserArgs),
    /// Set a new one-time password (printed once) and end sessions.
    ResetPassword(UserArgs),
    /// End every session of the user.
    RevokeSessions(UserArgs),
    /// Clear the user's failed-login and MFA counters.
    Unlock(UserArgs),
}

/// Which user, and where the installation is.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Tenant name.
    #[arg(long)]
    pub tenant: String,
    /// The user's email (login ID).
    #[arg(long)]
    pub email: String,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List events of a tenant's log, newest first.
    List(AuditListArgs),
    /// Export events of a tenant's log as JSON lines, oldest first.
    Export(AuditExportArgs),
    /// Verify the hash chains, signed heads and checkpoints of every log
    /// (or of one tenant's), or sealed archive files; exits 1 and names the
    /// first bad event when something was modified, removed, reordered or
    /// truncated.
    Verify(AuditVerifyArgs),
}

/// Which log and which events.
#[derive(Debug, Args)]
pub struct AuditSelect {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Tenant name, or the UID of a tenant (also of a deleted one) [default: system].
    #[arg(long)]
    pub tenant: Option<String>,
    /// Events at or after this time (RFC 3339, or ms since the epoch).
    #[arg(long)]
    pub from: Option<String>,
    /// Events before this time (RFC 3339, or ms since the epoch).
    #[arg(long)]
    pub to: Option<String>,
    /// Events of this acting user (UID).
    #[arg(long)]
    pub actor: Option<String>,
    /// Events of this action, or every action under a prefix ending in '.'.
    #[arg(long)]
    pub action: Option<String>,
    /// Events on this object (UID).
    #[arg(long)]
    pub target: Option<String>,
    /// success, failure or denied.
    #[arg(long)]
    pub outcome: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditListArgs {
    #[command(flatten)]
    pub select: AuditSelect,
    /// At most this many events (1–1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// table or json (JSON lines).
    #[arg(long, default_value = "table")]
    pub output: String,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    #[command(flatten)]
    pub select: AuditSelect,
    /// Write to this file (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this tenant's log (name or UID).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Verify these sealed archive files instead of the database.
    #[arg(long = "archive", value_name = "FILE")]
    pub archives: Vec<PathBuf>,
    /// table or json (JSON lines).
    #[arg(long, default_value = "table")]
    pub output: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new root key, re-wrap every tenant key with it (online), then
    /// drop the old root key from the keyring.
    RotateRoot(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// When the keyring comes from PALISADE_KEYRING: write the rotated
    /// keyring to this file (mode 0600) so the Secret can be updated.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Settings shared by `serve`, `config check` and `keys`. Each overrides
/// `PALISADE_*` environment variables, which override the configuration file.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// TOML configuration file [env: PALISADE_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: keyring, TLS material, SQLite database [env: PALISADE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS listen address [default: 127.0.0.1:8443] [env: PALISADE_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Extra DNS name or IP for the generated server certificate (repeatable) [env: PALISADE_HOSTNAMES, comma-separated].
    #[arg(long = "hostname", value_name = "NAME")]
    pub hostnames: Vec<String>,
    /// Operator certificate chain (PEM) to serve instead of the generated one [env: PALISADE_TLS_CERT].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert [env: PALISADE_TLS_KEY].
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Email of the bootstrap admin [default: admin@localhost] [env: PALISADE_ADMIN_EMAIL].
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// PostgreSQL URL instead of the embedded SQLite database [env: PALISADE_DATABASE_URL].
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// File holding the PostgreSQL URL [env: PALISADE_DATABASE_URL_FILE].
    #[arg(long, value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Keyring file [default: DATA_DIR/keyring] [env: PALISADE_KEYRING_FILE; or the keyring itself in PALISADE_KEYRING].
    #[arg(long, value_name = "FILE")]
    pub keyring_file: Option<PathBuf>,
    /// Log format: json or text [env: PALISADE_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or palisade_server=debug [env: PALISADE_LOG_LEVEL].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Tenant bus: nats-server URL, tls://HOST:PORT only [env: PALISADE_BUS_URL].
    #[arg(long = "bus", value_name = "URL")]
    pub bus_url: Option<String>,
    /// CA certificate (PEM) that verifies nats-server [default: the internal CA] [env: PALISADE_BUS_CA].
    #[arg(long, value_name = "FILE", requires = "bus_url")]
    pub bus_ca: Option<PathBuf>,
}

impl ServerArgs {
    /// The flags as the top configuration layer.
    pub fn layer(&self) -> ConfigLayer {
        ConfigLayer {
            data_dir: self.data_dir.clone(),
            listen: self.listen.clone(),
            hostnames: (!self.hostnames.is_empty()).then(|| self.hostnames.clone()),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            admin_email: self.admin_email.clone(),
            database_url: self.database_url.clone().map(SecretString::from),
            database_url_file: self.database_url_file.clone(),
            keyring_file: self.keyring_file.clone(),
            keyring: None,
            log_format: self.log_format.clone(),
            log_level: self.log_level.clone(),
            bus_url: self.bus_url.clone(),
            bus_ca: self.bus_ca.clone(),
            ..ConfigLayer::default()
        }
    }

    /// Flags over environment over file, validated.
    pub fn resolve(&self) -> anyhow::Result<palisade_server::ServeConfig> {
        let env: std::collections::BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("PALISADE_"))
            .collect();
        let file_path = self
            .config
            .clone()
            .or_else(|| env.get("PALISADE_CONFIG").map(PathBuf::from));
        let file = match file_path {
            Some(p) => ConfigLayer::from_toml_file(&p)?,
            None => ConfigLayer::default(),
        };
        let merged = self.layer().over(ConfigLayer::from_env(&env)?.over(file));
        Ok(palisade_server::ServeConfig::from_layer(merged)?)
    }
}
