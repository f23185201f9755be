//! `palisade keys rotate-root`.
//!
//! 1. Write a keyring holding the old and a new root version (new current).
//!    Running servers reload it when they meet a wrap they cannot open.
//! 2. Re-wrap every tenant key with the new root, in batches (online).
//! 3. Write the keyring without the old root version, and re-wrap anything a
//!    server still wrapped with the old one in the meantime.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use palisade_core::SystemClock;
use palisade_store::{KeyringHandle, KeyringSource, Store};

use crate::cli::RotateArgs;

pub async fn rotate_root(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.server.resolve()?;
    let (old, source) = palisade_server::bootstrap::configured_keyring(&cfg)?;
    let path = match source {
        KeyringSource::File(p) => Some(p),
        KeyringSource::Fixed => None,
    };
    let target = match (&path, &args.out) {
        (Some(p), None) => p.clone(),
        (None, Some(out)) => out.clone(),
        (Some(_), Some(_)) => bail!("--out is only for a keyring given in PALISADE_KEYRING"),
        (None, None) => bail!(
            "the keyring comes from PALISADE_KEYRING: pass --out FILE to write the rotated keyring, then update the Secret"
        ),
    };
    // Open with the old keyring first: refuses a keyring that does not belong here.
    let keys = KeyringHandle::new(old.clone(), KeyringSource::Fixed);
    let store =
        palisade_server::bootstrap::open_store(&cfg, keys.clone(), Arc::new(SystemClock)).await?;
    let system = store
        .tenant_by_name(palisade_core::model::SYSTEM_TENANT)
        .await?
        .uid;
    let entry = || crate::admin::cli_entry("keys.rotate-root").tenant(system);
    let rotated = old.with_new_root()?;
    rotated.write_file(&target)?;
    keys.set(rotated.clone());
    let report = store.rotate_root(entry()).await?;
    let (current, _) = rotated.current_root();
    let pruned = rotated.without_roots_before(current);
    pruned.write_file(&target)?;
    // A server that wrapped a new tenant key with the old root between the
    // loop and the prune is caught here; this process still holds the old root.
    let late = store.rotate_root(entry()).await?;
    keys.set(pruned);
    store.verify_keyring().await?;
    store.close().await;
    println!(
        "root key rotated to version {current}: {} tenant keys re-wrapped{}; keyring written to {}",
        report.rewrapped + late.rewrapped,
        if late.rewrapped > 0 {
            " (including late wraps)"
        } else {
            ""
        },
        target.display()
    );
    Ok(ExitCode::SUCCESS)
}
