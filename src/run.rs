//! The operator process: connect, check that what it serves is installed, serve until told
//! to stop.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::Reporter;
use kube::{Api, Client};

/// Flags of `ipam-operator run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Serve only claims and namespaced pools of this namespace (all namespaces when unset).
    #[arg(long, env = "IPAM_NAMESPACE")]
    pub namespace: Option<String>,
    /// Serve only objects labelled cluster.x-k8s.io/watch-filter=<value>, as Cluster API
    /// providers' --watch-filter does.
    #[arg(long, env = "IPAM_WATCH_FILTER")]
    pub watch_filter: Option<String>,
    /// Reconciles in flight per controller.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Name this instance reports in events (defaults to the host name).
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    #[command(flatten)]
    pub webhook: crate::webhook::WebhookArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API server: {0}")]
    Connect(#[source] kube::Error),
    #[error(
        "CustomResourceDefinition {name} is not installed: install crds/ (or the Helm chart) first"
    )]
    CrdMissing { name: String },
    #[error("cannot read CustomResourceDefinition {name}: {source}")]
    CrdRead { name: String, source: kube::Error },
    #[error(transparent)]
    Webhook(#[from] crate::webhook::WebhookError),
}

pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Connect)?;
    let version = client
        .apiserver_version()
        .await
        .map_err(RunError::Connect)?;
    tracing::info!(server = %version.git_version, "connected to the API server");
    require_crds(&client).await?;
    tracing::info!("every CustomResourceDefinition is installed; serving until SIGTERM or SIGINT");
    let config = ipam_in_cluster::Config {
        namespace: args.namespace,
        watch_filter: args.watch_filter,
        concurrency: args.concurrency,
    };
    let reporter = Reporter {
        controller: "ipam-operator".into(),
        instance: args.instance.or_else(|| std::env::var("HOSTNAME").ok()),
    };
    // One signal stops the controllers and the webhook alike.
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown_signal()));
    let webhook = crate::webhook::start(&args.webhook, client.clone(), shutdown.clone()).await?;
    let webhook = async move {
        if let Some(serve) = webhook {
            serve.await;
        }
    };
    let controllers = ipam_in_cluster::run(client, config, reporter, shutdown);
    futures::join!(controllers, webhook);
    tracing::info!("stopped");
    Ok(())
}

/// A missing CRD would otherwise show up later as watch errors that never name it.
async fn require_crds(client: &Client) -> Result<(), RunError> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in crate::crds::all() {
        let name = crd.metadata.name.unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(RunError::CrdMissing { name }),
            Err(source) => return Err(RunError::CrdRead { name, source }),
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
