//! The in-cluster backend: pools kept in the cluster (InClusterIPPool,
//! GlobalInClusterIPPool, and their prefix twins InClusterPrefixPool,
//! GlobalInClusterPrefixPool), served to Cluster API IPAddressClaims.
//!
//! Usable on its own: [`run`] needs only a `kube::Client`.

pub mod addresses;
pub mod api;
pub mod claim_controller;
pub(crate) mod claim_decision;
pub mod claim_pool;
pub mod compiled;
pub mod config;
pub mod conversion;
pub mod holders;
pub mod k0rdent_provider;
pub mod ledger;
pub mod metal3;
pub mod orphans;
pub mod pacer;
pub mod pool_controller;
mod pool_deletion;
pub mod pool_key;
pub mod pool_object;
pub mod settled;
pub mod stale_records;
pub mod stores;
pub mod webhook;

use futures::future::OptionFuture;
use ipam_kube_support::drive::Shutdown;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, CustomResourceExt};

pub use config::Config;

use crate::api::{
    AddressAllocation, GlobalInClusterIPPool, GlobalInClusterPrefixPool, InClusterIPPool,
    InClusterPrefixPool,
};

/// The CRDs this backend serves.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        served_in_both_versions(
            InClusterIPPool::crd(),
            api::v1alpha1::InClusterIPPool::crd(),
        ),
        served_in_both_versions(
            GlobalInClusterIPPool::crd(),
            api::v1alpha1::GlobalInClusterIPPool::crd(),
        ),
        api::InClusterPrefixPool::crd(),
        api::GlobalInClusterPrefixPool::crd(),
        AddressAllocation::crd(),
        metal3::api::IPPool::crd(),
        metal3::api::IPClaim::crd(),
        metal3::api::IPAddress::crd(),
    ]
}

/// Where the API server finds the conversion webhook unless told otherwise: the Service of a
/// chart installed as `ipam-operator` in `ipam-system`. The operator rewrites it at start
/// when given `--conversion-service` or `--conversion-url` (see `conversion_config`).
pub const DEFAULT_CONVERSION_SERVICE: (&str, &str) = ("ipam-system", "ipam-operator-webhook");

/// One CRD serving v1alpha2 (stored) and v1alpha1 (deprecated), converted by the operator's
/// webhook.
fn served_in_both_versions(
    v1alpha2: CustomResourceDefinition,
    v1alpha1: CustomResourceDefinition,
) -> CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceConversion, ServiceReference, WebhookClientConfig, WebhookConversion,
    };
    let mut crd = kube::core::crd::merge_crds(vec![v1alpha2, v1alpha1], "v1alpha2")
        .expect("the two versions of a pool kind agree on group, kind and scope");
    let (namespace, name) = DEFAULT_CONVERSION_SERVICE;
    crd.spec.conversion = Some(CustomResourceConversion {
        strategy: "Webhook".into(),
        webhook: Some(WebhookConversion {
            client_config: Some(WebhookClientConfig {
                service: Some(ServiceReference {
                    namespace: namespace.into(),
                    name: name.into(),
                    path: Some(webhook::CONVERT_PATH.into()),
                    port: Some(443),
                }),
                ..Default::default()
            }),
            conversion_review_versions: vec!["v1".into()],
        }),
    });
    crd
}

/// Runs the claim and pool controllers until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: Config,
    reporter: Reporter,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    // Not ready until the controllers below exist and have registered their caches.
    let building = ipam_kube_support::readiness::pending("in-cluster controllers");
    let ledger = ledger::Ledger::new(client.clone());
    let caches = stores::Caches::default();
    // Claims waiting on a pool hear of its releases through these: the Cluster API claims
    // and Metal3's IPClaims.
    let (notifier, released) = claim_controller::release_channel();
    let (m3_notifier, m3_released) = claim_controller::release_channel();
    let clusters = ipam_kube_support::capi_cluster::discover(&client).await;
    let recorder = Recorder::new(client.clone(), reporter);
    let parts = claim_controller::Parts {
        client: client.clone(),
        ledger: ledger.clone(),
        recorder: recorder.clone(),
        clusters: clusters.clone(),
    };

    let shutdown = Shutdown::on(shutdown);
    let pool_parts = || pool_controller::Parts {
        client: client.clone(),
        ledger: ledger.clone(),
        recorder: recorder.clone(),
        released: notifier.clone(),
    };
    let pool_run = pool_controller::run(
        pool_parts(),
        &config,
        &caches,
        config.api::<InClusterIPPool>(&client),
        shutdown.signal(),
    );
    let prefix_run = pool_controller::run(
        pool_parts(),
        &config,
        &caches,
        config.api::<InClusterPrefixPool>(&client),
        shutdown.signal(),
    );
    // A namespace-scoped instance sees only its namespace's IPAddresses, too few to count a
    // global pool or to decide it is unused; it still allocates from global pools safely,
    // since the ledger reads the cluster-wide allocation records.
    let global_run = config.namespace.is_none().then(|| {
        let addresses = pool_controller::run(
            pool_parts(),
            &config,
            &caches,
            Api::<GlobalInClusterIPPool>::all(client.clone()),
            shutdown.signal(),
        );
        let prefixes = pool_controller::run(
            pool_parts(),
            &config,
            &caches,
            Api::<GlobalInClusterPrefixPool>::all(client.clone()),
            shutdown.signal(),
        );
        futures::future::join(addresses, prefixes)
    });
    let metal3_run = config.metal3.then(|| {
        let pools = metal3::pool_controller::run(
            client.clone(),
            ledger.clone(),
            vec![notifier.clone(), m3_notifier.clone()],
            &config,
            &caches,
            clusters.clone(),
            shutdown.clone(),
        );
        let claims = metal3::claim_controller::run(
            client.clone(),
            ledger.clone(),
            &config,
            &caches,
            m3_released,
            m3_notifier,
            shutdown.clone(),
        );
        futures::future::join(claims, pools)
    });
    let claim_run = claim_controller::run(
        parts,
        &config,
        &caches,
        released,
        notifier,
        shutdown.clone(),
    );
    // Every controller has subscribed to the kinds it reads: the shared watches may start.
    caches.start();
    // A switched-off controller is a future that is done at once.
    let (global_run, metal3_run) = (
        OptionFuture::from(global_run),
        OptionFuture::from(metal3_run),
    );
    drop(building);
    futures::join!(claim_run, pool_run, prefix_run, global_run, metal3_run);
}
