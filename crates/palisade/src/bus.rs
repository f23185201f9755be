//! `palisade bus config`: writes the nats-server configuration for the
//! tenant bus — the operator and system account from the keyring's bus
//! master secret, a TLS certificate for the listen host from the internal
//! CA, and the `full` resolver that Palisade pushes tenant accounts to.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use palisade_bus::OperatorKeys;
use palisade_bus::config::{ConfigParams, TlsFiles, nats_server_config};
use palisade_server::config::ConfigLayer;

use crate::cli::BusConfigArgs;

fn split_listen(listen: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = listen
        .rsplit_once(':')
        .with_context(|| format!("--listen {listen:?} is not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("--listen {listen:?}: the port must be 1-65535"))?;
    let ok = host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !ok {
        bail!("--listen {listen:?}: the host is not a DNS name or an IP address");
    }
    Ok((host.to_owned(), port))
}

/// Runs `palisade bus config`.
pub fn config(args: BusConfigArgs) -> anyhow::Result<ExitCode> {
    palisade_server::install_crypto_provider();
    let (host, port) = split_listen(&args.listen)?;
    let env: std::collections::BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PALISADE_"))
        .collect();
    let flags = ConfigLayer {
        data_dir: args.data_dir.clone(),
        keyring_file: args.keyring_file.clone(),
        ..ConfigLayer::default()
    };
    let cfg = palisade_server::ServeConfig::from_layer(flags.over(ConfigLayer::from_env(&env)?))?;
    let (keyring, source) = palisade_server::bootstrap::configured_keyring(&cfg)
        .context("the installation's keyring (start `palisade serve` once first)")?;
    let handle = palisade_store::KeyringHandle::new(keyring, source.clone());
    palisade_server::bootstrap::ensure_bus_secret(&handle, &source)?;
    let master = palisade_server::bus::bus_master(&handle.get())?;
    let operator = OperatorKeys::derive(&master).map_err(|e| anyhow::anyhow!("{e}"))?;

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("nats").join("nats-server.conf"));
    let dir = match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    make_private_dir(&dir)?;
    let resolver_dir = dir.join("jwt");
    make_private_dir(&resolver_dir)?;
    let now = palisade_core::Clock::now_ms(&palisade_core::SystemClock).div_euclid(1000);
    // The CA exists once `serve` ran; make sure of it without changing the
    // server certificate's names.
    let tls = palisade_server::tls::ensure_internal_pki(&cfg.data_dir, &cfg.hostnames, now)?;
    let cert_file = dir.join("nats-server.pem");
    let key_file = dir.join("nats-server-key.pem");
    palisade_server::tls::issue_server_cert_for(&cfg.data_dir, &host, now, &cert_file, &key_file)?;
    let params = ConfigParams::for_operator(
        &operator,
        now,
        host.clone(),
        port,
        resolver_dir,
        TlsFiles {
            cert_file,
            key_file,
            ca_file: tls.ca_cert.clone(),
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = nats_server_config(&params).map_err(|e| anyhow::anyhow!("{e}"))?;
    palisade_crypto::keyring::write_private_file(&out, text.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    println!("nats-server configuration written to {}", out.display());
    println!("start it with:   nats-server -c {}", out.display());
    println!(
        "then run:        palisade serve --bus tls://{}:{port} (the bus CA is the internal CA, {})",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        },
        tls.ca_cert.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_host_and_port() {
        assert_eq!(
            split_listen("127.0.0.1:4443").unwrap(),
            ("127.0.0.1".into(), 4443)
        );
        assert_eq!(split_listen("[::1]:7422").unwrap(), ("::1".into(), 7422));
        assert_eq!(split_listen("nats.example.org:4222").unwrap().1, 4222);
        for bad in ["127.0.0.1", "host:0", "host:x", ":4222", "a b:1"] {
            assert!(split_listen(bad).is_err(), "{bad}");
        }
    }
}
