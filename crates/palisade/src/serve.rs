//! `palisade serve` and `palisade config check`.

use std::process::ExitCode;
use std::sync::Arc;

use palisade_core::SystemClock;
use palisade_server::config::{DatabaseConfig, KeyringConfig};
use secrecy::ExposeSecret;

use crate::cli::ServerArgs;

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve()?;
    crate::logging::init(cfg.log_json, &cfg.log_level);
    let data_dir = cfg.data_dir.clone();
    let running = palisade_server::start(cfg, Arc::new(SystemClock)).await?;
    println!("Palisade is serving https://{}", running.local_addr);
    if let Some(ca) = &running.ca_cert {
        println!("CA certificate: {}", ca.display());
    }
    if let Some(pw) = &running.admin_password {
        println!(
            "Bootstrap admin one-time password: {}\n  (also in {}; it must be changed at first login; this is the only time it is shown)",
            pw.expose_secret(),
            data_dir
                .join(palisade_server::bootstrap::INITIAL_PASSWORD_FILE)
                .display()
        );
    }
    tracing::info!(address = %running.local_addr, "serving");
    running.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Validates the configuration and prints the effective settings (secrets as ***).
pub fn check(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.resolve()?;
    println!("configuration is valid");
    println!("data_dir    = {}", cfg.data_dir.display());
    println!("listen      = {}", cfg.listen);
    println!("hostnames   = {:?}", cfg.hostnames);
    match &cfg.tls_import {
        Some((c, k)) => println!("tls         = imported {} / {}", c.display(), k.display()),
        None => println!(
            "tls         = internal CA in {}",
            cfg.data_dir.join("tls").display()
        ),
    }
    println!("admin_email = {}", cfg.admin_email);
    match &cfg.database {
        DatabaseConfig::Sqlite(p) => println!("database    = sqlite {}", p.display()),
        DatabaseConfig::Postgres(_) => println!("database    = postgres ***"),
    }
    match &cfg.keyring {
        KeyringConfig::File { path, .. } => println!("keyring     = file {}", path.display()),
        KeyringConfig::Inline(_) => println!("keyring     = PALISADE_KEYRING ***"),
    }
    println!(
        "log         = {} {}",
        if cfg.log_json { "json" } else { "text" },
        cfg.log_level
    );
    let a = &cfg.auth;
    println!(
        "auth        = access token {} s, session idle {} s / absolute {} s, delays after {} failures up to {} s, {} auth requests/min per address",
        a.access_token_ttl_s,
        a.session_idle_timeout_s,
        a.session_absolute_timeout_s,
        a.login_free_attempts,
        a.login_max_delay_s,
        a.auth_requests_per_minute
    );
    match &cfg.bus {
        Some(b) => println!(
            "bus         = {} (CA {}), credentials {} s, heartbeat timeout {} s",
            b.url,
            b.ca.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "internal".into()),
            b.credentials_ttl_s,
            cfg.bus_heartbeat_timeout_ms / 1000
        ),
        None => println!("bus         = off"),
    }
    Ok(ExitCode::SUCCESS)
}
