//! The metrics and probe endpoints, on controller-runtime's ports: `/metrics` (default :8080,
//! plain HTTP), `/healthz` and `/readyz` (default :8081). Port 0 disables a listener.
//!
//! Cluster API's flags are taken too, with their meaning: `--health-probe-bind-address`
//! places the probes; `--diagnostics-address` (and `--insecure-diagnostics`) switch
//! `/metrics` to Cluster API's way, HTTPS for authorized callers (see `diagnostics`) unless
//! insecure, at `:8443` unless another address is given.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ipam_kube_support::webhook::{self, tls, tls_policy::TlsPolicy};
use ipam_kube_support::{metrics, readiness};
use kube::Client;

use super::listen::Listen;

/// Where Cluster API managers serve `/metrics` unless told otherwise.
const DIAGNOSTICS_DEFAULT: &str = ":8443";

/// Flags of the metrics and probe endpoints.
#[derive(clap::Args, Debug, Clone)]
pub struct EndpointArgs {
    /// HTTP port of `/metrics` (Prometheus text format); 0 disables it.
    #[arg(long, env = "IPAM_METRICS_PORT", default_value_t = 8080)]
    pub metrics_port: u16,
    /// HTTP port of `/healthz` and `/readyz`; 0 disables them.
    #[arg(long, env = "IPAM_HEALTH_PORT", default_value_t = 8081)]
    pub health_port: u16,
    /// As Cluster API managers: where `/healthz` and `/readyz` listen (`:8081`); `0` turns
    /// them off. Replaces --health-port.
    #[arg(long, conflicts_with = "health_port")]
    pub health_probe_bind_address: Option<Listen>,
    /// As Cluster API managers: where `/metrics` listens (`:8443`), over HTTPS for callers
    /// the API server authorizes for `get` on it, unless --insecure-diagnostics; `0` turns
    /// it off. Replaces --metrics-port.
    #[arg(long, conflicts_with = "metrics_port")]
    pub diagnostics_address: Option<Listen>,
    /// As Cluster API managers: serve `/metrics` on --diagnostics-address over plain HTTP,
    /// to anyone (`--insecure-diagnostics=false` keeps it secure).
    #[arg(
        long,
        conflicts_with = "metrics_port",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub insecure_diagnostics: Option<bool>,
}

/// How `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListener {
    pub listen: Listen,
    /// HTTPS for authorized callers (Cluster API's diagnostics), else plain HTTP.
    pub secure: bool,
}

impl EndpointArgs {
    pub fn metrics(&self) -> MetricsListener {
        if self.diagnostics_address.is_none() && self.insecure_diagnostics.is_none() {
            return MetricsListener {
                listen: Listen::port(self.metrics_port),
                secure: false,
            };
        }
        MetricsListener {
            listen: self
                .diagnostics_address
                .unwrap_or_else(|| DIAGNOSTICS_DEFAULT.parse().expect("a valid default")),
            secure: self.insecure_diagnostics != Some(true),
        }
    }

    pub fn health(&self) -> Listen {
        self.health_probe_bind_address
            .unwrap_or(Listen::port(self.health_port))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "cannot listen on {addr} for {what}: {source} (choose another port, or 0 to disable it)"
    )]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the diagnostics certificate: {0}")]
    Certificate(#[from] tls::TlsError),
}

fn metrics_router() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                metrics::get().encode(),
            )
        }),
    )
}

fn health_router() -> Router {
    Router::new()
        // Alive as long as the process answers: a stuck controller is not fixed by a restart
        // any sooner than by its own retries.
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

async fn readyz() -> impl IntoResponse {
    match readiness::check() {
        Ok(()) => (StatusCode::OK, "ok".to_string()),
        Err(waiting) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for: {}", waiting.join(", ")),
        ),
    }
}

/// Binds both listeners, so that a taken port stops the operator at start; the returned
/// future serves them until `shutdown`.
pub async fn start(
    args: &EndpointArgs,
    tls_policy: &TlsPolicy,
    client: Client,
    shutdown: impl Future<Output = ()> + Clone + Send + 'static,
) -> Result<impl Future<Output = ()> + Send + 'static, BindError> {
    let metrics = args.metrics();
    let mut servers: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    for (what, listen, router, secure) in [
        ("/metrics", metrics.listen, metrics_router(), metrics.secure),
        (
            "/healthz and /readyz",
            args.health(),
            health_router(),
            false,
        ),
    ] {
        let Listen(Some(addr)) = listen else {
            tracing::info!("{what} disabled");
            continue;
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| BindError::Listen { what, addr, source })?;
        let shutdown = shutdown.clone();
        if secure {
            tracing::info!(%addr, "serving {what} over HTTPS to authorized callers");
            let names = ["localhost".to_string(), addr.ip().to_string()];
            let serving = tls::generate(&names)?.serving;
            let config = tls::server_config(&serving, tls_policy)?;
            let router = super::diagnostics::guarded(router, client.clone());
            servers.push(Box::pin(webhook::serve(listener, config, router, shutdown)));
            continue;
        }
        tracing::info!(%addr, "serving {what}");
        servers.push(Box::pin(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "{what} server stopped");
            }
        }));
    }
    Ok(async move {
        futures::future::join_all(servers).await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        endpoints: EndpointArgs,
    }

    fn flags(args: &[&str]) -> EndpointArgs {
        Flags::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .endpoints
    }

    fn at(text: &str) -> Listen {
        text.parse().unwrap()
    }

    #[test]
    fn without_cluster_api_flags_metrics_are_plain_on_the_metrics_port() {
        let args = flags(&["--metrics-port", "9000"]);
        assert_eq!(
            args.metrics(),
            MetricsListener {
                listen: at(":9000"),
                secure: false
            }
        );
        assert_eq!(args.health(), at(":8081"));
    }

    #[test]
    fn cluster_api_diagnostics_are_secure_unless_insecure() {
        let secure = flags(&[
            "--diagnostics-address=:8443",
            "--insecure-diagnostics=false",
        ]);
        assert_eq!(
            secure.metrics(),
            MetricsListener {
                listen: at(":8443"),
                secure: true
            }
        );
        let insecure = flags(&[
            "--diagnostics-address=127.0.0.1:8080",
            "--insecure-diagnostics",
        ]);
        assert_eq!(
            insecure.metrics(),
            MetricsListener {
                listen: at("127.0.0.1:8080"),
                secure: false
            }
        );
        // The flag alone means upstream's address.
        let default = flags(&["--insecure-diagnostics=true"]);
        assert_eq!(
            default.metrics(),
            MetricsListener {
                listen: at(":8443"),
                secure: false
            }
        );
    }

    #[test]
    fn the_probe_address_replaces_the_health_port() {
        assert_eq!(
            flags(&["--health-probe-bind-address=:9440"]).health(),
            at(":9440")
        );
        assert_eq!(
            flags(&["--health-probe-bind-address=0"]).health(),
            Listen(None)
        );
        assert!(
            Flags::try_parse_from([
                "run",
                "--health-port",
                "1",
                "--health-probe-bind-address=:2"
            ])
            .is_err(),
            "two ways of saying where the probes listen are refused"
        );
    }
}
