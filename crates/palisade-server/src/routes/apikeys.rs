//! `/v1/apikeys`: keys for automation. The secret is shown once and stored
//! hashed; a key acts with its owner's permissions. Everyone manages their
//! own keys; `apikey.list` and `apikey.delete` reach every key of the tenant.

use axum::extract::{Path, State};
use palisade_core::rbac::{Permission, Target};
use palisade_crypto::token::{hash_bearer_secret, random_secret};
use palisade_proto::auth::{ApiKeyCreated, ApiKeyView, CreateApiKeyRequest, PageOf};
use palisade_store::ApiKey;

use super::{Caller, Paging, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

fn view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        uid: k.uid.to_string(),
        user_uid: k.user_uid.to_string(),
        name: k.name.clone(),
        created_at: k.created_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
        last_used_at: k.last_used_at,
    }
}

/// `POST /v1/apikeys`.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateApiKeyRequest>,
) -> Result<Created<ApiKeyCreated>, ApiError> {
    let p = &c.principal;
    let name = body.name.as_str().trim();
    let expires_at = match body.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => {
            Some(state.clock.now_ms() + i64::from(d) * 86_400_000)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "expiresInDays must be between 1 and 3650",
            ));
        }
    };
    // `pak.<tenant>.<key>.<secret>`: tenant and key name the row, the
    // stored hash covers the 256-bit secret.
    let secret = random_secret().map_err(ApiError::internal)?;
    let mut tx = state.store.write(p.tenant).await?;
    let key = tx
        .create_api_key(
            p.tenant,
            p.user,
            name,
            &hash_bearer_secret(secret.as_str()),
            expires_at,
        )
        .await?;
    tx.commit(
        p.entry("apikey.create")
            .target("apikey", key.uid)
            .detail("name", name)
            .detail("expiresAt", expires_at),
    )
    .await?;
    let full = format!("pak.{}.{}.{}", p.tenant, key.uid, secret.as_str());
    Ok(Created(ApiKeyCreated {
        api_key: view(&key),
        key: full,
    }))
}

/// `GET /v1/apikeys`: own keys (tenant admins: all keys of the tenant).
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<ApiKeyView>>, ApiError> {
    let p = &c.principal;
    let owner = (!c.may(Permission::ApikeyList, Target::Tenant)).then_some(p.user);
    let page = state
        .store
        .list_api_keys(p.tenant, owner, q.page()?)
        .await?;
    Ok(Json(PageOf {
        items: page.items.iter().map(view).collect(),
        next: page.next.map(|u| u.to_string()),
    }))
}

/// `DELETE /v1/apikeys/{uid}`: revokes a key.
pub async fn revoke(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let p = &c.principal;
    let uid = path_uid(&uid)?;
    let owner = (!c.may(Permission::ApikeyDelete, Target::Tenant)).then_some(p.user);
    let mut tx = state.store.write(p.tenant).await?;
    tx.revoke_api_key(p.tenant, uid, owner).await?;
    tx.commit(p.entry("apikey.delete").target("apikey", uid))
        .await?;
    Ok(NoContent)
}
