//! The admission and conversion webhook of `ipam-operator run`: its flags, its certificate,
//! its listener, and where the pool CRDs' conversion webhook points.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipam_kube_support::webhook::tls_policy::TlsPolicy;
use ipam_kube_support::webhook::{self, tls};
use kube::Client;

/// Flags of the admission webhook.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// HTTPS port of the validating admission webhook; 0 disables it.
    #[arg(long, env = "IPAM_WEBHOOK_PORT", default_value_t = 9443)]
    pub webhook_port: u16,
    /// Directory with the webhook's certificate and key (tls.crt and tls.key, as a
    /// kubernetes.io/tls Secret mounts them). Where they are missing, a CA and a certificate for --webhook-host are
    /// generated and written there, with ca.crt for the webhook configuration's caBundle.
    #[arg(
        long,
        env = "IPAM_WEBHOOK_CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    pub webhook_cert_dir: PathBuf,
    /// Name of the certificate file in --webhook-cert-dir.
    #[arg(long, env = "IPAM_WEBHOOK_CERT_NAME", default_value = tls::CERT_FILE)]
    pub webhook_cert_name: String,
    /// Name of the private key file in --webhook-cert-dir.
    #[arg(long, env = "IPAM_WEBHOOK_KEY_NAME", default_value = tls::KEY_FILE)]
    pub webhook_key_name: String,
    /// Names (DNS names or IP addresses) a generated certificate is valid for: how the API
    /// server reaches the webhook. Repeat the flag or separate with commas.
    #[arg(
        long,
        env = "IPAM_WEBHOOK_HOST",
        value_delimiter = ',',
        default_values_t = ["127.0.0.1".to_string(), "localhost".to_string()]
    )]
    pub webhook_host: Vec<String>,
    /// At start, point the conversion webhook of the CRDs served in two versions (the v1alpha1
    /// and v1alpha2 pools) at this Service, NAMESPACE/NAME (port 443), with the webhook's CA
    /// (ca.crt of --webhook-cert-dir) as caBundle. Unset, the CRDs are left as installed.
    #[arg(long, env = "IPAM_CONVERSION_SERVICE", value_parser = parse_service, conflicts_with = "conversion_url")]
    pub conversion_service: Option<(String, String)>,
    /// As --conversion-service, for a webhook the API server reaches by URL
    /// (`https://127.0.0.1:9443`, a local API server); `/convert` is appended.
    #[arg(long, env = "IPAM_CONVERSION_URL")]
    pub conversion_url: Option<String>,
}

fn parse_service(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not NAMESPACE/NAME of a Service, e.g. ipam-system/ipam-operator-webhook"
        )),
    }
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
    #[error(
        "cannot fill the conversion webhook's caBundle: {path} is missing or unreadable ({source}); mount a Secret with ca.crt, or leave --conversion-service and --conversion-url unset and fill the CRDs' spec.conversion otherwise"
    )]
    NoCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot point the conversion webhook of CustomResourceDefinition {crd} at this operator: {source} (the operator needs get and patch on it; or leave --conversion-service and --conversion-url unset)"
    )]
    Conversion { crd: String, source: kube::Error },
}

/// Loads (or generates) the certificate and binds the port, so that either failure stops
/// the operator at start; the returned future serves until `shutdown` resolves. `None`
/// when the webhook is disabled.
pub async fn start(
    args: &WebhookArgs,
    tls_policy: &TlsPolicy,
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
    let files = tls::CertFiles {
        cert: args.webhook_cert_name.clone(),
        key: args.webhook_key_name.clone(),
    };
    let (serving, generated) =
        tls::load_or_generate(dir, &files, &args.webhook_host).map_err(certificate)?;
    if generated {
        tracing::warn!(
            dir = %dir.display(),
            names = ?args.webhook_host,
            "no {} and {}: generated a CA and a webhook certificate; the webhook \
             configuration's caBundle must hold {}",
            files.cert,
            files.key,
            dir.join(tls::CA_FILE).display()
        );
    }
    let config = tls::server_config(&serving, tls_policy).map_err(certificate)?;
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
    tracing::info!(%addr, "serving the admission and conversion webhook");
    if let Some(target) = conversion_target(args) {
        let path = dir.join(tls::CA_FILE);
        let ca = std::fs::read(&path).map_err(|source| WebhookError::NoCa { path, source })?;
        point_conversion(&client, &target, &ca).await?;
    }
    let app = ipam_in_cluster::webhook::router(client);
    Ok(Some(webhook::serve(
        listener,
        config,
        webhook::admission(app),
        shutdown,
    )))
}

/// Where the API server reaches the conversion webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversionTarget {
    Service { namespace: String, name: String },
    Url(String),
}

fn conversion_target(args: &WebhookArgs) -> Option<ConversionTarget> {
    if let Some((namespace, name)) = &args.conversion_service {
        return Some(ConversionTarget::Service {
            namespace: namespace.clone(),
            name: name.clone(),
        });
    }
    let url = args.conversion_url.as_ref()?;
    Some(ConversionTarget::Url(format!(
        "{}{}",
        url.trim_end_matches('/'),
        ipam_in_cluster::webhook::CONVERT_PATH
    )))
}

/// The `spec.conversion` a CRD converted by this operator gets, as a merge patch: the
/// other way of reaching the webhook is nulled, so switching between them leaves no trace.
pub fn conversion_patch(target: &ConversionTarget, ca: &[u8]) -> serde_json::Value {
    use k8s_openapi::ByteString;
    let path = ipam_in_cluster::webhook::CONVERT_PATH;
    let (service, url) = match target {
        ConversionTarget::Service { namespace, name } => (
            serde_json::json!({"namespace": namespace, "name": name, "path": path, "port": 443}),
            serde_json::Value::Null,
        ),
        ConversionTarget::Url(url) => (serde_json::Value::Null, serde_json::json!(url)),
    };
    serde_json::json!({"spec": {"conversion": {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {
                "service": service,
                "url": url,
                "caBundle": ByteString(ca.to_vec()),
            },
        },
    }}})
}

/// Points every CRD this operator converts at `target`, trusting `ca`. A CRD already so
/// configured is not written: each write makes the API server restart that kind's watches.
pub async fn point_conversion(
    client: &Client,
    target: &ConversionTarget,
    ca: &[u8],
) -> Result<(), WebhookError> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, Patch, PatchParams};
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let patch = conversion_patch(target, ca);
    for crd in crate::crds::all() {
        let converted = crd
            .spec
            .conversion
            .as_ref()
            .is_some_and(|c| c.strategy == "Webhook");
        let Some(name) = crd.metadata.name.filter(|_| converted) else {
            continue;
        };
        let failed = |source| WebhookError::Conversion {
            crd: name.clone(),
            source,
        };
        let current = api.get(&name).await.map_err(failed)?;
        let current = serde_json::to_value(&current.spec.conversion).unwrap_or_default();
        if conversion_matches(&current, &patch["spec"]["conversion"]) {
            continue;
        }
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(failed)?;
        tracing::info!(crd = %name, target = ?target, "pointed the CRD's conversion webhook at this operator");
    }
    Ok(())
}

/// Whether `current` (a CRD's `spec.conversion`) already says what `wanted` (the patch's)
/// does; the patch's nulls stand for absent fields.
fn conversion_matches(current: &serde_json::Value, wanted: &serde_json::Value) -> bool {
    match wanted {
        serde_json::Value::Object(fields) => fields.iter().all(|(key, value)| {
            conversion_matches(current.get(key).unwrap_or(&serde_json::Value::Null), value)
        }),
        other => current == other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_namespace_slash_name() {
        assert_eq!(
            parse_service("ipam-system/ipam-operator-webhook"),
            Ok(("ipam-system".into(), "ipam-operator-webhook".into()))
        );
        for bad in ["ipam-operator-webhook", "/x", "x/", "a/b/c"] {
            assert!(parse_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_configured_crd_matches_its_patch_and_a_changed_one_does_not() {
        let target = ConversionTarget::Url("https://127.0.0.1:9443/convert".into());
        let patch = conversion_patch(&target, b"CA");
        let wanted = &patch["spec"]["conversion"];
        let mut current = serde_json::json!({"strategy": "Webhook", "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"url": "https://127.0.0.1:9443/convert", "caBundle": "Q0E="}}});
        assert!(conversion_matches(&current, wanted));
        current["webhook"]["clientConfig"]["caBundle"] = serde_json::json!("T0xE");
        assert!(!conversion_matches(&current, wanted));
        let service = ConversionTarget::Service {
            namespace: "ipam-system".into(),
            name: "w".into(),
        };
        let patch = conversion_patch(&service, b"CA");
        assert!(!conversion_matches(
            &serde_json::json!({"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"], "clientConfig": {
                    "url": "https://x/convert", "caBundle": "Q0E=",
                    "service": {"namespace": "ipam-system", "name": "w", "path": "/convert", "port": 443}}}}),
            &patch["spec"]["conversion"]
        ));
    }
}
