//! The HTTP side of WAPI: TLS, authentication, timeouts, error classification, and retries
//! of idempotent calls.
//!
//! Every request carries Basic auth (when configured): NIOS accepts it on every call and it
//! takes precedence over a session cookie, so an expired `ibapauth` can never fail a call.
//! Writes that allocate (POST, PUT) are sent exactly once; callers recover from an unknown
//! outcome by searching, never by resending.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{WapiError, classify};

/// How to authenticate. `Debug` never prints a secret.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// PEM client certificate followed by its private key.
    pub client_identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "client_identity_pem",
                &self.client_identity_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Everything needed to talk to one Grid Master.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub host: String,
    pub port: String,
    pub wapi_version: String,
    pub credentials: Credentials,
    /// PEM CA certificates to trust instead of the system roots.
    pub ca_bundle_pem: Option<Vec<u8>>,
    pub disable_tls_verification: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Attempts for idempotent calls (GET, DELETE), at least 1.
    pub attempts: u32,
    pub backoff: Duration,
    /// Objects per page of a search.
    pub page_size: u32,
}

/// Why a client could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the CA bundle holds no usable PEM certificate ({0}); put PEM certificates in it")]
    CaBundle(String),
    #[error(
        "the client certificate or key is not usable PEM ({0}); set clientCert and clientKey to a PEM certificate and its PKCS#8, RSA or EC key"
    )]
    Identity(String),
    #[error("cannot build the HTTPS client: {0}")]
    Build(String),
}

#[derive(Clone)]
pub struct WapiClient {
    http: reqwest::Client,
    base: String,
    endpoint: String,
    version: String,
    credentials: Credentials,
    request_timeout: Duration,
    attempts: u32,
    backoff: Duration,
    pub(super) page_size: u32,
}

impl std::fmt::Debug for WapiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WapiClient")
            .field("base", &self.base)
            .finish()
    }
}

/// Chooses ring as the process-wide rustls provider, the one kube uses, so that no TLS
/// config built later panics over two compiled-in providers (rust-operator-notes §1.2).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl WapiClient {
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(pem) = &config.ca_bundle_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ConfigError::CaBundle(e.to_string()))?;
            if certs.is_empty() {
                return Err(ConfigError::CaBundle("no CERTIFICATE block".into()));
            }
            // An explicit bundle replaces the system roots: the operator trusts what it is told.
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.disable_tls_verification {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &config.credentials.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| ConfigError::Identity(e.to_string()))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| ConfigError::Build(e.to_string()))?;
        let endpoint = format!("{}:{}", config.host, config.port);
        Ok(WapiClient {
            http,
            base: format!("https://{endpoint}/wapi/v{}/", config.wapi_version),
            endpoint,
            version: config.wapi_version.clone(),
            credentials: config.credentials.clone(),
            request_timeout: config.request_timeout,
            attempts: config.attempts.max(1),
            backoff: config.backoff,
            page_size: config.page_size.max(1),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// GET `path` with `query`; retried on transient failures.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, WapiError> {
        let value = self
            .idempotent(Method::GET, path, |r| r.query(query))
            .await?;
        self.decode(path, value)
    }

    /// POST `body` to `objtype`, once. The object comes back with `return_fields`.
    pub async fn create<T: DeserializeOwned>(
        &self,
        objtype: &str,
        body: &Value,
        return_fields: &str,
    ) -> Result<T, WapiError> {
        let value = self
            .send(
                Method::POST,
                objtype,
                self.request(Method::POST, objtype)
                    .query(&[("_return_fields", return_fields)])
                    .json(body),
            )
            .await?;
        self.decode(objtype, value)
    }

    /// PUT `body` to `reference`, once (a PUT may allocate); returns the new ref.
    pub async fn update(&self, reference: &str, body: &Value) -> Result<String, WapiError> {
        let value = self
            .send(
                Method::PUT,
                reference,
                self.request(Method::PUT, reference).json(body),
            )
            .await?;
        self.decode(reference, value)
    }

    /// DELETE `reference`; retried on transient failures. A ref that is gone counts as
    /// deleted, so a retry after a delete whose answer was lost succeeds.
    pub async fn delete(&self, reference: &str) -> Result<(), WapiError> {
        match self.idempotent(Method::DELETE, reference, |r| r).await {
            Ok(_) | Err(WapiError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn idempotent(
        &self,
        method: Method,
        path: &str,
        extra: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Value, WapiError> {
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            let request = extra(self.request(method.clone(), path));
            match self.send(method.clone(), path, request).await {
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    tracing::debug!(%method, path, attempt, error = %e, "WAPI call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if self.credentials.username.is_empty() {
            request
        } else {
            request.basic_auth(&self.credentials.username, Some(&self.credentials.password))
        }
    }

    /// Every request goes through here, counted and timed by outcome (`ipam_wapi_*`).
    async fn send(
        &self,
        method: Method,
        path: &str,
        request: RequestBuilder,
    ) -> Result<Value, WapiError> {
        let started = std::time::Instant::now();
        // The object type or function, never a reference: the label set stays small.
        let object = path.split(['/', '?']).next().unwrap_or(path);
        let operation = format!("{method} {object}");
        let result = self.exchange(method, path, request).await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(WapiError::Unreachable { .. } | WapiError::Timeout { .. }) => "transport_error",
            Err(WapiError::Server { .. }) => "server_error",
            Err(_) => "client_error",
        };
        ipam_kube_support::metrics::get().wapi_request(&operation, outcome, started.elapsed());
        result
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        request: RequestBuilder,
    ) -> Result<Value, WapiError> {
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                WapiError::Timeout {
                    endpoint: self.endpoint.clone(),
                    method: method.to_string(),
                    path: path.split('?').next().unwrap_or(path).into(),
                    secs: self.request_timeout.as_secs(),
                }
            } else {
                WapiError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    detail: error_chain(&e),
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &body, &self.endpoint, &self.version));
        }
        serde_json::from_str(&body).map_err(|e| WapiError::Server {
            status,
            text: format!("answer to {method} {path} is not JSON ({e})"),
        })
    }

    fn decode<T: DeserializeOwned>(&self, path: &str, value: Value) -> Result<T, WapiError> {
        serde_json::from_value(value).map_err(|e| WapiError::Server {
            status: 200,
            text: format!("unexpected answer shape for {path}: {e}"),
        })
    }
}

/// The causes of a transport error, outermost first, without the URL (which holds no secret
/// but repeats the endpoint the message already names).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.dedup();
    parts.join(": ")
}
