//! The plain-HTTP endpoints, on controller-runtime's ports: `/metrics` (default :8080),
//! `/healthz` and `/readyz` (default :8081). Port 0 disables a listener.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ipam_kube_support::{metrics, readiness};

/// Flags of the metrics and probe endpoints.
#[derive(clap::Args, Debug, Clone)]
pub struct EndpointArgs {
    /// HTTP port of `/metrics` (Prometheus text format); 0 disables it.
    #[arg(long, env = "IPAM_METRICS_PORT", default_value_t = 8080)]
    pub metrics_port: u16,
    /// HTTP port of `/healthz` and `/readyz`; 0 disables them.
    #[arg(long, env = "IPAM_HEALTH_PORT", default_value_t = 8081)]
    pub health_port: u16,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for {what}: {source} (choose another port, or 0 to disable it)")]
pub struct BindError {
    what: &'static str,
    addr: SocketAddr,
    source: std::io::Error,
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

/// Binds both ports, so that a taken port stops the operator at start; the returned future
/// serves them until `shutdown`.
pub async fn start(
    args: &EndpointArgs,
    shutdown: impl Future<Output = ()> + Clone + Send + 'static,
) -> Result<impl Future<Output = ()> + Send + 'static, BindError> {
    let mut servers = Vec::new();
    for (what, port, router) in [
        ("/metrics", args.metrics_port, metrics_router()),
        ("/healthz and /readyz", args.health_port, health_router()),
    ] {
        if port == 0 {
            tracing::info!("{what} disabled (port 0)");
            continue;
        }
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| BindError { what, addr, source })?;
        tracing::info!(%addr, "serving {what}");
        let shutdown = shutdown.clone();
        servers.push(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "{what} server stopped");
            }
        });
    }
    Ok(async move {
        futures::future::join_all(servers).await;
    })
}
