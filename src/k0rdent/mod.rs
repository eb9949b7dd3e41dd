//! The k0rdent IPAM orchestration: ClusterDeployment → ClusterIPAMClaim → ClusterIPAM →
//! Provider. Backends are reached only through the [`ipam_provider::Provider`] trait.

pub mod claim_controller;
pub mod deployment_controller;
pub mod flux;
pub mod helm_values;
pub mod ipam_controller;
pub mod networks;
pub mod registry;
pub mod template_controller;
pub mod template_status;

use std::sync::Arc;

pub use registry::Providers;

/// Runs the four k0rdent controllers until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    providers: Providers,
    namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let ns = namespace.as_deref();
    let claims = claim_controller::run(
        Arc::new(claim_controller::Context {
            client: client.clone(),
        }),
        ns,
        signal(),
    );
    let ipams = ipam_controller::run(
        Arc::new(ipam_controller::Context {
            client: client.clone(),
            providers,
        }),
        ns,
        signal(),
    );
    let templates = template_controller::run(
        Arc::new(template_controller::Context {
            client: client.clone(),
        }),
        ns,
        signal(),
    );
    let deployments = deployment_controller::run(
        Arc::new(deployment_controller::Context { client }),
        ns,
        signal(),
    );
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    futures::join!(claims, ipams, templates, deployments);
}
