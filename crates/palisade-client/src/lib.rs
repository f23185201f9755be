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

pub use reqwest::Method;

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

/// A response as received: status, headers and body bytes.
#[derive(Debug)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A root store holding exactly the certificates in `ca_pem`.
fn roots_from_pem(ca_pem: &[u8]) -> Result<rustls::RootCertStore, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.map_err(|e| ClientError::Ca(e.to_string()))?)
            .map_err(|e| ClientError::Ca(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ClientError::Ca("no PEM certificate found".into()));
    }
    Ok(roots)
}

/// Sees every JSON body a client sends or receives (tests use it to list
/// the secrets a test run handled; see `palisade-testkit`).
pub type Recorder = Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

/// A Palisade API client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    user_agent: Option<reqwest::header::HeaderValue>,
    recorder: Option<Recorder>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("recording", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base_url` (e.g. `https://127.0.0.1:8443`) trusting only
    /// the CA certificates in `ca_pem`.
    pub fn new(base_url: &str, ca_pem: &[u8]) -> Result<Self, ClientError> {
        Self::build(base_url, roots_from_pem(ca_pem)?, None)
    }

    /// A client with an explicit root store (an empty one trusts nothing).
    pub fn with_roots(base_url: &str, roots: rustls::RootCertStore) -> Result<Self, ClientError> {
        Self::build(base_url, roots, None)
    }

    /// Like [`Client::new`], connecting from a given local address (tests
    /// use other loopback addresses to act as other clients).
    pub fn new_from(
        base_url: &str,
        ca_pem: &[u8],
        local: std::net::IpAddr,
    ) -> Result<Self, ClientError> {
        Self::build(base_url, roots_from_pem(ca_pem)?, Some(local))
    }

    fn build(
        base_url: &str,
        roots: rustls::RootCertStore,
        local: Option<std::net::IpAddr>,
    ) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ClientError::Ca(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .local_address(local)
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            user_agent: None,
            recorder: None,
        })
    }

    /// The same client handing every JSON body it sends or receives to
    /// `recorder` (for tests).
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    fn record<T: serde::Serialize + ?Sized>(&self, value: &T) {
        if let Some(r) = &self.recorder
            && let Ok(v) = serde_json::to_value(value)
        {
            r(&v);
        }
    }

    /// The same client sending `User-Agent: ua` on every request (the
    /// server records it, bounded, in audit events).
    pub fn with_user_agent(mut self, ua: &str) -> Result<Self, ClientError> {
        let value = reqwest::header::HeaderValue::from_str(ua)
            .map_err(|_| ClientError::Unexpected("the user agent is not a header value".into()))?;
        self.user_agent = Some(value);
        Ok(self)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.user_agent {
            Some(ua) => req.header(reqwest::header::USER_AGENT, ua.clone()),
            None => req,
        }
    }

    /// `GET path` decoded as `T`, or the API error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        let resp = self.request(reqwest::Method::GET, path).send().await?;
        let answer = self.decode_raw(resp).await?;
        self.finish(answer)
    }

    /// Any call: `method path`, with an optional bearer token and JSON body.
    /// An empty answer (204) decodes as JSON `null` (use `()` or `Option`).
    pub async fn call<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<Answer<T>, ClientError> {
        let mut req = self.request(method, path);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            self.record(b);
            req = req.json(b);
        }
        let answer = self.decode_raw(req.send().await?).await?;
        self.finish(answer)
    }

    /// Any call with a raw body and content type, answered raw: for tests of
    /// the gateway itself (wrong content types, oversized or malformed
    /// bodies, headers). The status is never turned into an error here.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<RawAnswer, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((content_type, bytes)) = body {
            if self.recorder.is_some()
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            {
                self.record(&v);
            }
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        if self.recorder.is_some()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
        {
            self.record(&v);
        }
        Ok(RawAnswer {
            status,
            headers,
            body,
        })
    }

    /// `POST /v1/auth/login`.
    pub async fn login(
        &self,
        tenant: &str,
        email: &str,
        password: &str,
    ) -> Result<Answer<palisade_proto::auth::LoginResponse>, ClientError> {
        let body = palisade_proto::auth::LoginRequest {
            tenant: tenant.into(),
            email: email.into(),
            password: password.into(),
        };
        self.call(reqwest::Method::POST, "/v1/auth/login", None, Some(&body))
            .await
    }

    /// `POST /v1/auth/password`.
    pub async fn change_password(
        &self,
        tenant: &str,
        email: &str,
        current: &str,
        new: &str,
    ) -> Result<Answer<()>, ClientError> {
        let body = palisade_proto::auth::PasswordChangeRequest {
            tenant: tenant.into(),
            email: email.into(),
            current_password: current.into(),
            new_password: new.into(),
        };
        self.call(
            reqwest::Method::POST,
            "/v1/auth/password",
            None,
            Some(&body),
        )
        .await
    }

    /// `POST /v1/auth/refresh`.
    pub async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<Answer<palisade_proto::auth::LoginResponse>, ClientError> {
        let body = palisade_proto::auth::RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        self.call(reqwest::Method::POST, "/v1/auth/refresh", None, Some(&body))
            .await
    }

    /// Reads a response: status, request UID, body bytes.
    async fn decode_raw(
        &self,
        resp: reqwest::Response,
    ) -> Result<(u16, Option<String>, Vec<u8>), ClientError> {
        let status = resp.status().as_u16();
        let request_uid = resp
            .headers()
            .get(REQUEST_UID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await?.to_vec();
        if self.recorder.is_some()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            self.record(&v);
        }
        Ok((status, request_uid, bytes))
    }

    /// Turns a read response into the decoded body or the API error.
    fn finish<T: DeserializeOwned>(
        &self,
        (status, request_uid, bytes): (u16, Option<String>, Vec<u8>),
    ) -> Result<Answer<T>, ClientError> {
        if (200..300).contains(&status) {
            let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            let body = serde_json::from_slice(bytes)
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
