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
    });
    let template_ctx = Arc::new(template::Context {
        client: client.clone(),
    });
    let cd_ctx = Arc::new(deployment::Context { client });
    let claims = drive(
        claim::controller(&claim_ctx, ns),
        claim::MANAGER,
        claim::reconcile,
        claim_ctx,
        RETRY,
        signal(),
    );
    let ipams = drive(
        ipam::controller(&ipam_ctx, ns),
        ipam::MANAGER,
        ipam::reconcile,
        ipam_ctx,
        RETRY,
        signal(),
    );
    let templates = drive(
        template::controller(&template_ctx, ns),
        template::MANAGER,
        template::reconcile,
        template_ctx,
        RETRY,
        signal(),
    );
    let deployments = drive(
        deployment::controller(&cd_ctx, ns),
        deployment::MANAGER,
        deployment::reconcile,
        cd_ctx,
        RETRY,
        signal(),
    );
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    futures::join!(claims, ipams, templates, deployments);
}
