//! The operator process: connect, check that what it serves is installed, serve until told
//! to stop.

use futures::future::OptionFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::Reporter;
use kube::{Api, Client};

use crate::runtime::controllers::Controllers;

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
    #[arg(long, env = "IPAM_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Name this instance reports in events (defaults to the host name).
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// As Metal3's IPAM manager: reconciles in flight for its kinds (IPPool, IPClaim);
    /// --concurrency when unset.
    #[arg(long, env = "IPAM_IPPOOL_CONCURRENCY")]
    pub ippool_concurrency: Option<u16>,
    #[command(flatten)]
    pub webhook: crate::webhook::WebhookArgs,
    #[command(flatten)]
    pub tls: crate::runtime::tls_flags::TlsArgs,
    /// Backends and API faces to run, comma-separated.
    #[arg(
        long,
        env = "IPAM_CONTROLLERS",
        value_enum,
        value_delimiter = ',',
        default_value = crate::runtime::controllers::ALL
    )]
    pub controllers: Vec<crate::runtime::controllers::Controllers>,
    #[command(flatten)]
    pub endpoints: crate::runtime::endpoints::EndpointArgs,
    #[command(flatten)]
    pub leader: crate::runtime::leader::LeaderArgs,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "IPAM_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::runtime::logging::LogFormat,
    /// As Kubernetes components (klog's `--v`): 0–1 logs at info, 2–4 at debug, 5 and more
    /// at trace. RUST_LOG, when set, decides instead.
    #[arg(long = "v", value_name = "LEVEL")]
    pub verbosity: Option<u8>,
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
    #[error(
        "--controllers metal3 needs in-cluster as well: Metal3's IPPools are served by the in-cluster backend"
    )]
    Metal3WithoutInCluster,
    #[error(transparent)]
    Tls(#[from] ipam_kube_support::webhook::tls_policy::TlsPolicyError),
    #[error(transparent)]
    Webhook(#[from] crate::webhook::WebhookError),
    #[error(transparent)]
    Endpoint(#[from] crate::runtime::endpoints::BindError),
    #[error(transparent)]
    Leader(#[from] crate::runtime::leader::LeaderError),
    #[error(transparent)]
    LeaseLost(#[from] crate::runtime::gate::LeaseLost),
}

pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let enabled = |c| args.controllers.contains(&c);
    if enabled(Controllers::Metal3) && !enabled(Controllers::InCluster) {
        return Err(RunError::Metal3WithoutInCluster);
    }
    let tls_policy = args.tls.policy()?;
    let metrics = ipam_kube_support::metrics::get();
    metrics
        .serving
        .build(env!("CARGO_PKG_VERSION"), env!("IPAM_COMMIT"));
    metrics.serving.leading(false);
    let client = client().await?;
    let version = client
        .apiserver_version()
        .await
        .map_err(RunError::Connect)?;
    tracing::info!(server = %version.git_version, "connected to the API server");
    require_crds(&client).await?;
    tracing::info!("every CustomResourceDefinition is installed; serving until SIGTERM or SIGINT");
    let config = ipam_in_cluster::Config {
        scope: ipam_in_cluster::config::Scope {
            namespace: args.namespace,
            watch_filter: args.watch_filter,
        },
        concurrency: args.concurrency,
        metal3: enabled(Controllers::Metal3),
        metal3_concurrency: args.ippool_concurrency,
    };
    let instance = args.instance.or_else(|| std::env::var("HOSTNAME").ok());
    let elector = crate::runtime::leader::elector(&args.leader, &client, instance.as_deref())?;
    let reporter = Reporter {
        controller: "ipam-operator".into(),
        instance,
    };
    // One signal stops the controllers and the webhook alike.
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown_signal()));
    let webhook =
        crate::webhook::start(&args.webhook, &tls_policy, client.clone(), shutdown.clone()).await?;
    let webhook = async move {
        if let Some(serve) = webhook {
            serve.await;
        }
    };
    let endpoints = crate::runtime::endpoints::start(
        &args.endpoints,
        &tls_policy,
        client.clone(),
        shutdown.clone(),
    )
    .await?;
    // The k0rdent layer reaches backends only through this registry, which holds the enabled
    // ones: a claim naming another gets a condition saying so, and no pool kind the
    // operator may not read (its RBAC follows the same switches) is watched.
    let mut providers = crate::k0rdent::Providers::default();
    if enabled(Controllers::InCluster) {
        providers = providers.with(ipam_in_cluster::k0rdent_provider::provider());
    }
    if enabled(Controllers::Infoblox) {
        providers = providers.with(ipam_infoblox::k0rdent_provider::provider());
    }
    let k0rdent = enabled(Controllers::K0rdent).then(|| {
        crate::k0rdent::run(
            client.clone(),
            providers,
            config.namespace.clone(),
            shutdown.clone(),
        )
    });
    // The Infoblox backend reads Secrets that name no namespace in the operator's own.
    let infoblox_config = ipam_infoblox::Config {
        scope: config.scope.clone(),
        secret_namespace: std::env::var("POD_NAMESPACE")
            .ok()
            .or_else(|| config.namespace.clone())
            .unwrap_or_else(|| "default".into()),
        concurrency: args.concurrency,
        ..Default::default()
    };
    let infoblox = enabled(Controllers::Infoblox).then(|| {
        ipam_infoblox::run(
            client.clone(),
            infoblox_config,
            reporter.clone(),
            shutdown.clone(),
        )
    });
    let in_cluster = enabled(Controllers::InCluster)
        .then(|| ipam_in_cluster::run(client, config, reporter, shutdown.clone()));
    let controllers = async move {
        // A switched-off controller set is a future that is done at once.
        futures::join!(
            OptionFuture::from(in_cluster),
            OptionFuture::from(infoblox),
            OptionFuture::from(k0rdent)
        );
    };
    let controllers = crate::runtime::gate::lead(elector, shutdown, controllers);
    // A lost lease ends the process at once; otherwise everything stops on the signal.
    let servers = futures::future::join(webhook, endpoints);
    match futures::future::select(std::pin::pin!(controllers), std::pin::pin!(servers)).await {
        futures::future::Either::Left((done, servers)) => {
            done?;
            servers.await;
        }
        futures::future::Either::Right((_, controllers)) => controllers.await?,
    }
    tracing::info!("stopped");
    Ok(())
}

/// The client every controller shares, with the layer that counts its API requests.
async fn client() -> Result<Client, RunError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| RunError::Connect(kube::Error::InferConfig(e)))?;
    Ok(kube::client::ClientBuilder::try_from(config)
        .map_err(RunError::Connect)?
        .with_layer(&ipam_kube_support::metrics::KubeApiLayer)
        .build())
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
