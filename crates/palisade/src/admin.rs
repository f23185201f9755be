//! `palisade admin user …`: user lifecycle straight on the database, for
//! operators with the keyring (first admin of a new tenant, locked-out
//! admins). The API offers the same to tenant admins.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use palisade_core::SystemClock;
use palisade_core::audit::{AuditContext, AuditEntry};
use palisade_core::model::UserStatus;
use palisade_core::rbac::{RoleName, RoleRef, Scope, Subject};
use palisade_store::{KeyringHandle, NewUser, SqlStore, Store};
use secrecy::ExposeSecret;

use crate::cli::{ServerArgs, UserArgs, UserCommand};

pub async fn open(server: &ServerArgs) -> anyhow::Result<SqlStore> {
    let cfg = server.resolve()?;
    let (keyring, source) = palisade_server::bootstrap::configured_keyring(&cfg)?;
    Ok(palisade_server::bootstrap::open_store(
        &cfg,
        KeyringHandle::new(keyring, source),
        Arc::new(SystemClock),
    )
    .await?)
}

async fn find(
    store: &SqlStore,
    who: &UserArgs,
) -> anyhow::Result<(palisade_core::Uid, palisade_core::model::User)> {
    let tenant = store
        .tenant_by_name(&who.tenant)
        .await
        .with_context(|| format!("tenant {:?}", who.tenant))?;
    let user = store
        .user_by_email(tenant.uid, &who.email)
        .await
        .with_context(|| format!("user {:?} in tenant {:?}", who.email, who.tenant))?
        .user;
    Ok((tenant.uid, user))
}

/// The audit event of an operator's command on the server's host.
pub fn cli_entry(action: &str) -> AuditEntry {
    AuditContext::system().entry(action).detail("via", "cli")
}

/// Hashes a one-time password on a one-thread pool at the caller's priority
/// (a one-shot tool must not wait behind every other process of the host).
async fn hash(store: &SqlStore, pw: &secrecy::SecretString) -> anyhow::Result<String> {
    use palisade_server::auth::hashpool::{HashPool, Priority};
    let pool = HashPool::start(std::num::NonZeroUsize::MIN, 1, Priority::Inherit)?;
    Ok(pool.hash(store.keys().get(), pw.clone()).await?)
}

/// The roles bound directly to a user, as `role` or `role@project`.
async fn roles_of(
    store: &SqlStore,
    tenant: palisade_core::Uid,
    user: palisade_core::Uid,
) -> anyhow::Result<Vec<String>> {
    let page = store
        .list_bindings(
            tenant,
            palisade_store::BindingFilter {
                subject: Some(Subject::User(user)),
                ..Default::default()
            },
            palisade_store::PageRequest {
                after: None,
                limit: 500,
            },
        )
        .await?;
    let mut out = Vec::new();
    for b in &page.items {
        let name = match b.binding.role {
            RoleRef::Builtin(r) => r.name().to_owned(),
            RoleRef::Custom(u) => store.get_role(tenant, u).await?.name,
        };
        out.push(match b.binding.scope {
            Scope::Tenant => name,
            Scope::Project(p) => format!("{name}@{p}"),
        });
    }
    Ok(out)
}

/// Runs one `admin user` command.
pub async fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Create { who, name, role } => {
            let store = open(&who.server).await?;
            let tenant = store
                .tenant_by_name(&who.tenant)
                .await
                .with_context(|| format!("tenant {:?}", who.tenant))?;
            let role = match role.as_deref() {
                None => None,
                Some(name) => Some(match RoleName::parse(name).context(
                    "--role must be a built-in role (e.g. tenant-admin) or a role name of the tenant",
                )? {
                    RoleName::Builtin(b) => (RoleRef::Builtin(b), b.name().to_owned()),
                    RoleName::Custom(n) => {
                        let r = store
                            .role_by_name(tenant.uid, &n)
                            .await
                            .with_context(|| format!("role {n:?} of tenant {:?}", who.tenant))?;
                        (RoleRef::Custom(r.uid), r.name)
                    }
                }),
            };
            let pw = palisade_server::bootstrap::one_time_password()?;
            let password_hash = Some(hash(&store, &pw).await?);
            let mut tx = store.write(tenant.uid).await?;
            let user = tx
                .create_user(
                    tenant.uid,
                    NewUser {
                        email: who.email.clone(),
                        display_name: name,
                        password_hash,
                        must_change_password: true,
                    },
                )
                .await?;
            let mut entry = cli_entry("user.create").target("user", user.uid);
            if let Some((role, label)) = role {
                tx.create_binding(tenant.uid, Subject::User(user.uid), role, Scope::Tenant)
                    .await?;
                entry = entry.detail("role", label);
            }
            tx.commit(entry).await?;
            println!(
                "created user {} ({}) in tenant {}",
                user.uid, user.email, who.tenant
            );
            println!("one-time password: {}", pw.expose_secret());
            println!("  (shown once; it must be changed at first login)");
        }
        UserCommand::List { server, tenant } => {
            let store = open(&server).await?;
            let t = store
                .tenant_by_name(&tenant)
                .await
                .with_context(|| format!("tenant {tenant:?}"))?;
            let mut page = palisade_store::PageRequest {
                after: None,
                limit: 500,
            };
            println!("{:<12}  {:<8}  {:<32}  roles", "uid", "status", "email");
            loop {
                let got = store.list_users(t.uid, page).await?;
                for u in &got.items {
                    let roles = roles_of(&store, t.uid, u.uid).await?;
                    println!(
                        "{:<12}  {:<8}  {:<32}  {}",
                        u.uid,
                        u.status.as_str(),
                        u.email,
                        if roles.is_empty() {
                            "-".to_owned()
                        } else {
                            roles.join(", ")
                        }
                    );
                }
                match got.next {
                    Some(n) => page.after = Some(n),
                    None => break,
                }
            }
        }
        UserCommand::Disable(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let mut tx = store.write(t).await?;
            tx.set_user_status(t, u.uid, UserStatus::Disabled).await?;
            let n = tx.revoke_user_sessions(t, u.uid, "disabled").await?;
            tx.commit(
                cli_entry("user.update")
                    .target("user", u.uid)
                    .detail("status", "disabled")
                    .detail("sessionsRevoked", n),
            )
            .await?;
            println!("disabled {}; {n} sessions ended", u.email);
        }
        UserCommand::Enable(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let mut tx = store.write(t).await?;
            tx.set_user_status(t, u.uid, UserStatus::Active).await?;
            tx.commit(
                cli_entry("user.update")
                    .target("user", u.uid)
                    .detail("status", "active"),
            )
            .await?;
            println!("enabled {}", u.email);
        }
        UserCommand::Delete(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let mut tx = store.write(t).await?;
            tx.delete_user(t, u.uid).await?;
            tx.commit(cli_entry("user.delete").target("user", u.uid))
                .await?;
            println!("deleted {}", u.email);
        }
        UserCommand::ResetPassword(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let pw = palisade_server::bootstrap::one_time_password()?;
            let new_hash = hash(&store, &pw).await?;
            let mut tx = store.write(t).await?;
            tx.set_password(t, u.uid, &new_hash, true).await?;
            let n = tx.revoke_user_sessions(t, u.uid, "password_reset").await?;
            tx.commit(
                cli_entry("user.reset-password")
                    .target("user", u.uid)
                    .detail("sessionsRevoked", n),
            )
            .await?;
            println!("password of {} reset; {n} sessions ended", u.email);
            println!("one-time password: {}", pw.expose_secret());
            println!("  (shown once; it must be changed at next login)");
        }
        UserCommand::RevokeSessions(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let mut tx = store.write(t).await?;
            let n = tx.revoke_user_sessions(t, u.uid, "admin").await?;
            tx.commit(
                cli_entry("user.revoke-sessions")
                    .target("user", u.uid)
                    .detail("sessionsRevoked", n),
            )
            .await?;
            println!("{n} sessions of {} ended", u.email);
        }
        UserCommand::Unlock(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let salt = store.keys().get();
            let a = palisade_server::auth::throttle::account_key(
                salt.hash_salt(),
                &who.tenant,
                &who.email,
            );
            let m = palisade_server::auth::throttle::mfa_key(salt.hash_salt(), u.uid);
            let mut tx = store.write(t).await?;
            let n = tx.throttle_clear_account(&a).await? + tx.throttle_clear_account(&m).await?;
            tx.commit(
                cli_entry("user.unlock")
                    .target("user", u.uid)
                    .detail("countersCleared", n),
            )
            .await?;
            println!("cleared {n} failure counters of {}", u.email);
        }
    }
    Ok(ExitCode::SUCCESS)
}
