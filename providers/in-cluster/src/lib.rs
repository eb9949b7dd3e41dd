//! The in-cluster backend: pools kept in the cluster (InClusterIPPool,
//! GlobalInClusterIPPool), served to Cluster API IPAddressClaims.
//!
//! Usable on its own: [`run`] needs only a `kube::Client`.

pub mod api;
pub mod claim_controller;
pub mod config;
pub mod ledger;
pub mod pool_controller;
pub mod pool_key;
pub mod pool_object;
pub mod stores;
pub mod webhook;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, CustomResourceExt};

pub use config::Config;

use crate::api::{AddressAllocation, GlobalInClusterIPPool, InClusterIPPool};

/// The CRDs this backend serves.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        InClusterIPPool::crd(),
        GlobalInClusterIPPool::crd(),
        AddressAllocation::crd(),
    ]
}

/// Runs the claim and pool controllers until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: Config,
    reporter: Reporter,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let ledger = ledger::Ledger::new(client.clone());
    let (notifier, released) = claim_controller::release_channel();
    let parts = claim_controller::Parts {
        client: client.clone(),
        ledger: ledger.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        clusters: claim_controller::discover_clusters(&client).await,
    };

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let claim_run = claim_controller::run(parts, &config, released, notifier, signal());
    let pool_run = pool_controller::run(
        client.clone(),
        ledger.clone(),
        &config,
        config.api::<InClusterIPPool>(&client),
        signal(),
    );
    // A namespace-scoped instance sees only its namespace's IPAddresses, too few to count a
    // global pool or to decide it is unused; it still allocates from global pools safely,
    // since the ledger reads the cluster-wide allocation records.
    let global_run = config.namespace.is_none().then(|| {
        pool_controller::run(
            client.clone(),
            ledger,
            &config,
            Api::<GlobalInClusterIPPool>::all(client.clone()),
            signal(),
        )
    });
    let global_run = async move {
        if let Some(run) = global_run {
            run.await;
        }
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    futures::join!(claim_run, pool_run, global_run);
}
