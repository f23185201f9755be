//! Route handlers, grouped by resource. Handlers are thin: extract the
//! validated body and the principal, call the store or the auth module, map
//! the answer.

pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod mfa;
pub mod settings;
pub mod users;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use palisade_core::model::User;
use palisade_proto::auth::UserView;

/// The client address of a request (unspecified when there is no socket,
/// as in router tests).
pub fn client_ip(ext: &Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The API view of a user.
pub fn user_view(u: &User) -> UserView {
    UserView {
        uid: u.uid.to_string(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        status: u.status.as_str().to_owned(),
        role: u.role.as_str().to_owned(),
        must_change_password: u.must_change_password,
        created_at: u.created_at,
    }
}
