//! `palisade admin user …`: user lifecycle straight on the database, for
//! operators with the keyring (first admin of a new tenant, locked-out
//! admins). The API offers the same to tenant admins.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use palisade_core::SystemClock;
use palisade_core::model::{UserRole, UserStatus};
use palisade_store::{IdentityStore, KeyringHandle, NewUser, SqlStore, Store};
use secrecy::ExposeSecret;

use crate::cli::{ServerArgs, UserArgs, UserCommand};

async fn open(server: &ServerArgs) -> anyhow::Result<SqlStore> {
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

/// Hashes a one-time password on a one-thread pool at the caller's priority
/// (a one-shot tool must not wait behind every other process of the host).
async fn hash(store: &SqlStore, pw: &secrecy::SecretString) -> anyhow::Result<String> {
    use palisade_server::auth::hashpool::{HashPool, Priority};
    let pool = HashPool::start(std::num::NonZeroUsize::MIN, 1, Priority::Inherit)?;
    Ok(pool.hash(store.keys().get(), pw.clone()).await?)
}

/// Runs one `admin user` command.
pub async fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Create { who, name, role } => {
            let role = UserRole::parse(&role).context("role must be tenant-admin or member")?;
            let store = open(&who.server).await?;
            let tenant = store
                .tenant_by_name(&who.tenant)
                .await
                .with_context(|| format!("tenant {:?}", who.tenant))?;
            let pw = palisade_server::bootstrap::one_time_password()?;
            let user = store
                .create_user(
                    tenant.uid,
                    NewUser {
                        email: who.email.clone(),
                        display_name: name,
                        password_hash: Some(hash(&store, &pw).await?),
                        must_change_password: true,
                        role,
                    },
                )
                .await?;
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
            println!("{:<12}  {:<8}  {:<12}  email", "uid", "status", "role");
            loop {
                let got = store.list_users(t.uid, page).await?;
                for u in &got.items {
                    println!(
                        "{:<12}  {:<8}  {:<12}  {}",
                        u.uid,
                        u.status.as_str(),
                        u.role.as_str(),
                        u.email
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
            store
                .set_user_status(t, u.uid, UserStatus::Disabled)
                .await?;
            let n = store.revoke_user_sessions(t, u.uid, "disabled").await?;
            println!("disabled {}; {n} sessions ended", u.email);
        }
        UserCommand::Enable(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            store.set_user_status(t, u.uid, UserStatus::Active).await?;
            println!("enabled {}", u.email);
        }
        UserCommand::Delete(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            store.delete_user(t, u.uid).await?;
            println!("deleted {}", u.email);
        }
        UserCommand::ResetPassword(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let pw = palisade_server::bootstrap::one_time_password()?;
            store
                .set_password(t, u.uid, &hash(&store, &pw).await?, true)
                .await?;
            let n = store
                .revoke_user_sessions(t, u.uid, "password_reset")
                .await?;
            println!("password of {} reset; {n} sessions ended", u.email);
            println!("one-time password: {}", pw.expose_secret());
            println!("  (shown once; it must be changed at next login)");
        }
        UserCommand::RevokeSessions(who) => {
            let store = open(&who.server).await?;
            let (t, u) = find(&store, &who).await?;
            let n = store.revoke_user_sessions(t, u.uid, "admin").await?;
            println!("{n} sessions of {} ended", u.email);
        }
        UserCommand::Unlock(who) => {
            let store = open(&who.server).await?;
            let (_, u) = find(&store, &who).await?;
            let salt = store.keys().get();
            let a = palisade_server::auth::throttle::account_key(
                salt.hash_salt(),
                &who.tenant,
                &who.email,
            );
            let m = palisade_server::auth::throttle::mfa_key(salt.hash_salt(), u.uid);
            let n =
                store.throttle_clear_account(&a).await? + store.throttle_clear_account(&m).await?;
            println!("cleared {n} failure counters of {}", u.email);
        }
    }
    Ok(ExitCode::SUCCESS)
}
