//! The k0rdent IPAM orchestration: ClusterDeployment → ClusterIPAMClaim → ClusterIPAM →
//! Provider. Backends are reached only through the [`ipam_provider::Provider`] trait.

pub mod claim_controller;
pub mod deployment_controller;
pub mod flux;
pub mod helm_values;
pub mod ipam_controller;
pub mod networks;
pub mod pool_cache;
pub mod registry;
pub mod template_controller;
pub mod template_status;

use std::sync::Arc;

use ipam_kube_support::drive::drive;
use ipam_kube_support::reconcile_error::RETRY;

pub use registry::Providers;

use self::{
    claim_controller as claim, deployment_controller as deployment, ipam_controller as ipam,
    template_controller as template,
};

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
    let claim_ctx = Arc::new(claim::Context {
        client: client.clone(),
    });
    let ipam_ctx = Arc::new(ipam::Context {
        client: client.clone(),
        providers,
        pools: Default::default(),
    });
    let template_ctx = Arc::new(template::Context {
        client: client.clone(),
    });
    let cd_ctx = Arc::new(deployment::Context { client });
    // Each controller module gives its controller, field manager and reconcile alike.
    macro_rules! run {
        ($controller:ident, $ctx:ident) => {
            drive(
                $controller::controller(&$ctx, ns),
                $controller::MANAGER,
                $controller::reconcile,
                $ctx,
                RETRY,
                signal(),
            )
        };
    }
    let claims = run!(claim, claim_ctx);
    let ipams = run!(ipam, ipam_ctx);
    let templates = run!(template, template_ctx);
    let deployments = run!(deployment, cd_ctx);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    futures::join!(claims, ipams, templates, deployments);
}
