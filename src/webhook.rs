//! The admission webhook of `ipam-operator run`: its flags, its certificate, its listener.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipam_kube_support::webhook::{self, tls};
use kube::Client;

/// Flags of the admission webhook.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// HTTPS port of the validating admission webhook; 0 disables it.
    #[arg(long, env = "IPAM_WEBHOOK_PORT", default_value_t = 9443)]
    pub webhook_port: u16,
    /// Directory with the webhook's tls.crt and tls.key, as a kubernetes.io/tls Secret
    /// mounts them. Where they are missing, a CA and a certificate for --webhook-host are
    /// generated and written there, with ca.crt for the webhook configuration's caBundle.
    #[arg(
        long,
        env = "IPAM_WEBHOOK_CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    pub webhook_cert_dir: PathBuf,
    /// Names (DNS names or IP addresses) a generated certificate is valid for: how the API
    /// server reaches the webhook. Repeat the flag or separate with commas.
    #[arg(
        long,
        env = "IPAM_WEBHOOK_HOST",
        value_delimiter = ',',
        default_values_t = ["127.0.0.1".to_string(), "localhost".to_string()]
    )]
    pub webhook_host: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook certificate in {dir}: {source}")]
    Certificate { dir: PathBuf, source: tls::TlsError },
    #[error(
        "cannot listen on {addr} for the admission webhook: {source} (choose another --webhook-port, or 0 to disable it)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Loads (or generates) the certificate and binds the port, so that either failure stops
/// the operator at start; the returned future serves until `shutdown` resolves. `None`
/// when the webhook is disabled.
pub async fn start(
    args: &WebhookArgs,
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<impl Future<Output = ()> + Send + 'static>, WebhookError> {
    if args.webhook_port == 0 {
        tracing::info!("admission webhook disabled (--webhook-port 0)");
        return Ok(None);
    }
    let dir = &args.webhook_cert_dir;
    let certificate = |source| WebhookError::Certificate {
        dir: dir.clone(),
        source,
    };
    let (serving, generated) =
        tls::load_or_generate(dir, &args.webhook_host).map_err(certificate)?;
    if generated {
        tracing::warn!(
            dir = %dir.display(),
            names = ?args.webhook_host,
            "no tls.crt and tls.key: generated a CA and a webhook certificate; the webhook \
             configuration's caBundle must hold {}",
            dir.join(tls::CA_FILE).display()
        );
    }
    let config = tls::server_config(&serving).map_err(certificate)?;
    match webhook::expiry::not_after(&serving.cert) {
        Some(at) => ipam_kube_support::metrics::get()
            .serving
            .certificate_expires(if generated { "generated" } else { "mounted" }, at),
        None => tracing::warn!(
            dir = %dir.display(),
            "cannot read the webhook certificate's expiry; ipam_webhook_certificate_expiry_timestamp_seconds is left out"
        ),
    }
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.webhook_port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebhookError::Bind { addr, source })?;
    tracing::info!(%addr, "serving the admission webhook");
    let app = ipam_in_cluster::webhook::router(client);
    Ok(Some(webhook::serve(listener, config, app, shutdown)))
}
