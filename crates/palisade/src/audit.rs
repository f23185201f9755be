//! `palisade audit list|export|verify`: the audit log straight from the
//! database (needs the keyring), for operators and auditors on the host.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use palisade_core::Uid;
use palisade_core::audit::Outcome;
use palisade_store::{AuditFilter, AuditOrder, AuditPage, SqlStore, Store};

use crate::cli::{AuditCommand, AuditSelect};

/// Runs one `audit` command.
pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::List(args) => {
            let json = output_json(&args.output)?;
            if !(1..=1000).contains(&args.limit) {
                bail!("--limit must be between 1 and 1000");
            }
            let store = crate::admin::open(&args.select.server).await?;
            let (tenant, filter) = select(&store, &args.select).await?;
            let page = store
                .list_audit(
                    tenant,
                    &filter,
                    AuditPage {
                        after: None,
                        limit: args.limit,
                        order: AuditOrder::NewestFirst,
                    },
                )
                .await?;
            let mut out = std::io::stdout().lock();
            if !json {
                writeln!(
                    out,
                    "{:>6}  {:<24}  {:<8}  {:<12}  {:<24}  {:<8}  target",
                    "seq", "time (UTC)", "actor", "actor uid", "action", "outcome"
                )?;
            }
            for e in &page.items {
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&palisade_server::audit::view(e))?
                    )?;
                } else {
                    writeln!(
                        out,
                        "{:>6}  {:<24}  {:<8}  {:<12}  {:<24}  {:<8}  {} {}",
                        e.seq,
                        rfc3339(e.at),
                        e.actor_kind.as_str(),
                        e.actor_uid
                            .map(|u| u.to_string())
                            .unwrap_or_else(|| "-".into()),
                        e.action,
                        e.outcome.as_str(),
                        e.target_type.as_deref().unwrap_or("-"),
                        e.target_uid.as_deref().unwrap_or("")
                    )?;
                }
            }
            store.close().await;
        }
        AuditCommand::Export(args) => {
            let store = crate::admin::open(&args.select.server).await?;
            let (tenant, filter) = select(&store, &args.select).await?;
            let mut sink: Box<dyn Write> = match &args.out {
                None => Box::new(std::io::stdout().lock()),
                Some(path) => {
                    use std::os::unix::fs::OpenOptionsExt;
                    Box::new(std::io::BufWriter::new(
                        std::fs::OpenOptions::new()
                            .create_new(true)
                            .write(true)
                            .mode(0o600)
                            .open(path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    ))
                }
            };
            let mut page = AuditPage {
                after: None,
                limit: 1000,
                order: AuditOrder::OldestFirst,
            };
            let mut n = 0u64;
            loop {
                let got = store.list_audit(tenant, &filter, page).await?;
                for e in &got.items {
                    writeln!(
                        sink,
                        "{}",
                        serde_json::to_string(&palisade_server::audit::view(e))?
                    )?;
                    n += 1;
                }
                match got.next {
                    Some(next) => page.after = Some(next),
                    None => break,
                }
            }
            sink.flush()?;
            store.close().await;
            if args.out.is_some() {
                eprintln!("exported {n} events");
            }
        }
        AuditCommand::Verify(args) => {
            let json = output_json(&args.output)?;
            if !args.archives.is_empty() {
                return verify_archives(&args, json).await;
            }
            let store = crate::admin::open(&args.server).await?;
            let tenant = match &args.tenant {
                None => None,
                Some(t) => Some(tenant_uid(&store, t).await?),
            };
            let reports = match store.verify_audit(tenant).await {
                Err(palisade_store::StoreError::NotFound) => {
                    bail!(
                        "there is no audit log of tenant {:?}",
                        args.tenant.unwrap_or_default()
                    )
                }
                other => other?,
            };
            store.close().await;
            let mut bad = 0;
            let mut out = std::io::stdout().lock();
            for r in &reports {
                if r.problem.is_some() {
                    bad += 1;
                }
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({
                            "tenantUid": r.tenant_uid.to_string(),
                            "events": r.events,
                            "checkpoints": r.checkpoints,
                            "firstSeq": r.first_seq,
                            "headSeq": r.head_seq,
                            "lanes": r.lanes,
                            "ok": r.problem.is_none(),
                            "problem": r.problem.as_ref().map(|p| p.to_string()),
                        })
                    )?;
                } else {
                    match &r.problem {
                        None => writeln!(
                            out,
                            "tenant {}: ok — {} events (#{}–#{}){}, {} checkpoints",
                            r.tenant_uid,
                            r.events,
                            r.first_seq.unwrap_or(0),
                            r.head_seq,
                            if r.lanes > 1 {
                                format!(" in {} lanes", r.lanes)
                            } else {
                                String::new()
                            },
                            r.checkpoints
                        )?,
                        Some(p) => writeln!(out, "tenant {}: TAMPERED — {p}", r.tenant_uid)?,
                    }
                }
            }
            if !json {
                writeln!(
                    out,
                    "{} of {} logs verified{}",
                    reports.len() - bad,
                    reports.len(),
                    if bad > 0 { "; see above" } else { "" }
                )?;
            }
            return Ok(if bad > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify_archives(
    args: &crate::cli::AuditVerifyArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = args.server.resolve()?;
    let (keyring, _) = palisade_server::bootstrap::configured_keyring(&cfg)?;
    let verifier = palisade_crypto::audit::AuditSigner::from_keyring(&keyring)?.verifier();
    let mut bad = 0;
    let mut out = std::io::stdout().lock();
    for path in &args.archives {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let result = palisade_server::audit::verify_archive(&text, &verifier);
        if result.is_err() {
            bad += 1;
        }
        if json {
            writeln!(
                out,
                "{}",
                match &result {
                    Ok(s) => serde_json::json!({"archive": path.display().to_string(), "ok": true,
                        "tenantUid": s.header.tenant_uid, "fromSeq": s.header.from_seq,
                        "toSeq": s.header.to_seq, "events": s.events}),
                    Err(e) =>
                        serde_json::json!({"archive": path.display().to_string(), "ok": false, "problem": e}),
                }
            )?;
        } else {
            match &result {
                Ok(s) => writeln!(
                    out,
                    "{}: ok — tenant {}, events #{}–#{} ({}), sealed",
                    path.display(),
                    s.header.tenant_uid,
                    s.header.from_seq,
                    s.header.to_seq,
                    s.events
                )?,
                Err(e) => writeln!(out, "{}: TAMPERED — {e}", path.display())?,
            }
        }
    }
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn output_json(output: &str) -> anyhow::Result<bool> {
    match output {
        "table" => Ok(false),
        "json" => Ok(true),
        other => bail!("--output {other:?} is not table or json"),
    }
}

/// A tenant name, or a UID (which may name a deleted tenant's kept log).
async fn tenant_uid(store: &SqlStore, text: &str) -> anyhow::Result<Uid> {
    if let Ok(uid) = Uid::parse(text) {
        return Ok(uid);
    }
    Ok(store
        .tenant_by_name(text)
        .await
        .with_context(|| format!("tenant {text:?}"))?
        .uid)
}

async fn select(store: &SqlStore, s: &AuditSelect) -> anyhow::Result<(Uid, AuditFilter)> {
    let tenant = tenant_uid(
        store,
        s.tenant
            .as_deref()
            .unwrap_or(palisade_core::model::SYSTEM_TENANT),
    )
    .await?;
    let uid = |name: &str, v: &Option<String>| -> anyhow::Result<Option<Uid>> {
        v.as_deref()
            .map(|t| {
                Uid::parse(t).with_context(|| {
                    format!("--{name} must be a UID (12 lowercase hex characters)")
                })
            })
            .transpose()
    };
    let filter = AuditFilter {
        from: s.from.as_deref().map(|t| time_ms("from", t)).transpose()?,
        to: s.to.as_deref().map(|t| time_ms("to", t)).transpose()?,
        actor_uid: uid("actor", &s.actor)?,
        action: s.action.clone(),
        target_uid: uid("target", &s.target)?.map(|u| u.to_string()),
        outcome: s
            .outcome
            .as_deref()
            .map(|o| Outcome::parse(o).context("--outcome must be success, failure or denied"))
            .transpose()?,
    };
    Ok((tenant, filter))
}

/// ms since the epoch, or RFC 3339.
fn time_ms(name: &str, text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        if ms < 0 {
            bail!("--{name} must not be negative");
        }
        return Ok(ms);
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!(
                "--{name} is neither ms since the epoch nor an RFC 3339 time (2026-12-01T10:00:00Z)"
            )
        })?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
