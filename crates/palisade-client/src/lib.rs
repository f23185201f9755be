//! Typed HTTPS client for the Palisade API, used by the CLI and the tests.
//!
//! It trusts exactly the CA it is given (the installation's internal CA or
//! the operator's), never the system store implicitly, and speaks TLS 1.2+.
#![warn(missing_docs)]

use std::sync::Arc;

use palisade_proto::{ErrorBody, Health, REQUEST_UID_HEADER};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;

/// Errors from the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The CA certificate could not be parsed or used.
    #[error("CA certificate: {0}")]
    Ca(String),
    /// Transport failure (connection, TLS handshake, timeout).
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an API error.
    #[error("{status}: {} ({}) request {}", body.message, body.code, body.request_uid)]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ErrorBody,
    },
    /// The server answered with something that is not the API's shape.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

/// A response's status, request UID and decoded body.
#[derive(Debug)]
pub struct Answer<T> {
    /// HTTP status.
    pub status: u16,
    /// The `X-Request-Uid` header.
    pub request_uid: Option<String>,
    /// Decoded body.
    pub body: T,
}

/// A Palisade API client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client for `base_url` (e.g. `https://127.0.0.1:8443`) trusting only
    /// the CA certificates in `ca_pem`.
    pub fn new(base_url: &str, ca_pem: &[u8]) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| ClientError::Ca(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Ca(e.to_string()))?;
            n += 1;
        }
        if n == 0 {
            return Err(ClientError::Ca("no PEM certificate found".into()));
        }
        Self::with_roots(base_url, roots)
    }

    /// A client with an explicit root store (an empty one trusts nothing).
    pub fn with_roots(base_url: &str, roots: rustls::RootCertStore) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ClientError::Ca(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// `GET path` decoded as `T`, or the API error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        Self::decode(resp).await
    }

    async fn decode<T: DeserializeOwned>(
        resp: reqwest::Response,
    ) -> Result<Answer<T>, ClientError> {
        let status = resp.status().as_u16();
        let request_uid = resp
            .headers()
            .get(REQUEST_UID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await?;
        if (200..300).contains(&status) {
            let body = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Unexpected(format!("{status}: {e}")))?;
            return Ok(Answer {
                status,
                request_uid,
                body,
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected(format!(
                "{status} with a body that is not an API error"
            ))),
        }
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> Result<Answer<Health>, ClientError> {
        self.get("/healthz").await
    }

    /// `GET /readyz`.
    pub async fn readyz(&self) -> Result<Answer<Health>, ClientError> {
        self.get("/readyz").await
    }
}
