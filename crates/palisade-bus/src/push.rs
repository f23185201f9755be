//! Live account updates: push an account JWT to a running nats-server over
//! the system account, then check that it took effect.
//!
//! nats-server 2.9.10 with the `full` resolver answers
//! `$SYS.REQ.CLAIMS.UPDATE` with `{"data":{"code":200,…}}` once it has
//! *stored* the JWT — and it stores a JWT even when no trusted operator
//! signed it (trust is checked at use). So a 200 is not enough. After it,
//! [`push_account_jwt`] asks:
//!
//! 1. `$SYS.REQ.ACCOUNT.<id>.CLAIMS.LOOKUP` — the stored JWT must be
//!    exactly the pushed one (no newer JWT won, nothing was lost);
//! 2. `$SYS.REQ.ACCOUNT.<id>.INFO` — when the account is loaded (someone
//!    is or was connected), the JWT the server *applies* must be the pushed
//!    one. A JWT the server refused to apply (foreign signature, failed
//!    validation) leaves the old one in force and is reported as
//!    [`BusError::PushNotEffective`]. An account nobody has used yet is not
//!    loaded; the server will verify its stored JWT on first use, and the
//!    report says [`Applied::NotLoaded`].
//!
//! The update handler applies the JWT (limits, revocations, evictions)
//! before it replies, so the checks need no waiting. Revocation is a push
//! of the account JWT with the user in `revocations`; tenant deletion is a
//! push of [`OperatorKeys::tenant_tombstone_jwt`](crate::OperatorKeys::tenant_tombstone_jwt)
//! (chosen over `$SYS.REQ.CLAIMS.DELETE`: a tombstone works with
//! `allow_delete` off, disconnects users at once through the zero
//! connection limit and the `*` revocation, is verifiable with the same
//! lookup, and, being newer, wins when clustered servers synchronise their
//! resolver directories, where a deleted file can come back from a peer
//! that missed the delete).
//!
//! In a nats-server cluster every server applies the update; the request
//! returns the first answer, and the checks ask whichever server answers
//! first. This module must not mint JWTs or decide policy.

use std::time::Duration;

use async_nats::Client;
use serde::Deserialize;

use crate::BusError;
use crate::jwt::{self, AccountClaims};

/// Subject of account JWT updates.
pub const CLAIMS_UPDATE: &str = "$SYS.REQ.CLAIMS.UPDATE";

/// Subject of the stored-JWT lookup for `account`.
pub fn claims_lookup_subject(account: &str) -> String {
    format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP")
}

/// Subject of the account-info request for `account`.
pub fn account_info_subject(account: &str) -> String {
    format!("$SYS.REQ.ACCOUNT.{account}.INFO")
}

/// Whether the server applies the pushed JWT now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The account is loaded and runs with the pushed JWT.
    Live,
    /// The account is not loaded (never used since the server started);
    /// the stored JWT will be verified and applied at first use.
    NotLoaded,
}

/// What a successful push established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The account's public key.
    pub account: String,
    /// The server's message for the update (e.g. `jwt updated`).
    pub message: String,
    /// Whether the JWT is applied now.
    pub applied: Applied,
}

#[derive(Deserialize)]
struct UpdateReply {
    data: Option<UpdateData>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct UpdateData {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ApiError {
    code: i64,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct InfoReply {
    data: Option<InfoData>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct InfoData {
    #[serde(default)]
    jwt: String,
}

async fn request(
    client: &Client,
    subject: String,
    payload: Vec<u8>,
    timeout: Duration,
    what: &'static str,
) -> Result<Vec<u8>, BusError> {
    match tokio::time::timeout(timeout, client.request(subject, payload.into())).await {
        Err(_) => Err(BusError::Timeout(what)),
        Ok(Err(e)) => Err(BusError::Nats(format!("{what}: {e}"))),
        Ok(Ok(m)) => Ok(m.payload.to_vec()),
    }
}

/// Pushes an account JWT over `client` and checks that it took effect,
/// each request bounded by `timeout`.
///
/// `client` is the pusher's connection:
/// [`client::connect_options`](crate::client::connect_options) with
/// [`OperatorKeys::system_user_credentials`](crate::OperatorKeys::system_user_credentials)
/// and [`PUSHER_INBOX_PREFIX`](crate::operator::PUSHER_INBOX_PREFIX) (the
/// pusher may subscribe to nothing else, so replies to another inbox never
/// arrive and the push times out).
pub async fn push_account_jwt(
    client: &Client,
    token: &str,
    timeout: Duration,
) -> Result<PushReport, BusError> {
    let claims: AccountClaims = jwt::decode(token)?;
    let account = claims.sub;

    let reply = request(
        client,
        CLAIMS_UPDATE.to_owned(),
        token.as_bytes().to_vec(),
        timeout,
        "the claims update answer",
    )
    .await?;
    let reply: UpdateReply = serde_json::from_slice(&reply)
        .map_err(|_| BusError::ServerAnswer("claims update answer is not JSON"))?;
    let message = match (reply.data, reply.error) {
        (_, Some(e)) => {
            return Err(BusError::PushRefused {
                code: e.code,
                description: e.description.chars().take(300).collect(),
            });
        }
        (Some(d), None) if d.code == 200 => d.message,
        (Some(d), None) => {
            return Err(BusError::PushRefused {
                code: d.code,
                description: d.message.chars().take(300).collect(),
            });
        }
        (None, None) => return Err(BusError::ServerAnswer("claims update answer is empty")),
    };

    let stored = request(
        client,
        claims_lookup_subject(&account),
        Vec::new(),
        timeout,
        "the claims lookup answer",
    )
    .await?;
    if stored != token.as_bytes() {
        return Err(BusError::PushNotEffective(
            "the server stores another JWT for the account",
        ));
    }

    let info = request(
        client,
        account_info_subject(&account),
        Vec::new(),
        timeout,
        "the account info answer",
    )
    .await?;
    let info: InfoReply = serde_json::from_slice(&info)
        .map_err(|_| BusError::ServerAnswer("account info answer is not JSON"))?;
    let applied = match (info.data, info.error) {
        (Some(d), None) if d.jwt == token => Applied::Live,
        (Some(_), None) => {
            return Err(BusError::PushNotEffective(
                "the server applies another JWT for the account (the pushed one was refused)",
            ));
        }
        (_, Some(e)) if e.description.contains("does not exist") => Applied::NotLoaded,
        (_, Some(_)) => return Err(BusError::ServerAnswer("account info answered an error")),
        (None, None) => return Err(BusError::ServerAnswer("account info answer is empty")),
    };
    Ok(PushReport {
        account,
        message,
        applied,
    })
}
