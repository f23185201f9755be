//! `palisade agent`: runs the tenant cluster's side of the bus until
//! SIGTERM or SIGINT (then exits 0 after storing and flushing), or until
//! a fatal error (exit 1 with the reason on stderr and in the log).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade_agent::AgentOptions;
use palisade_core::clock::SystemClock;

use crate::cli::AgentArgs;

/// Runs the agent.
pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let json = match args.log_format.as_str() {
        "json" => true,
        "text" => false,
        other => anyhow::bail!("--log-format must be json or text, not {other:?}"),
    };
    crate::logging::init(json, &args.log_level);
    palisade_agent::install_crypto_provider();
    let opts = AgentOptions::new(
        args.creds,
        args.server,
        args.ca,
        args.spool,
        Duration::from_secs(args.heartbeat),
        Arc::new(SystemClock),
    )?;
    // Register the handlers before connecting, so that an early signal
    // also ends the agent cleanly.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    };
    match palisade_agent::run(opts, shutdown).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(error = %e, "palisade agent stopped on an error");
            Err(e.into())
        }
    }
}
