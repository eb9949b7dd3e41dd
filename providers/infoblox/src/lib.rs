//! The Infoblox backend: Cluster API IPAddressClaims whose pool is an InfobloxIPPool get an
//! address reserved in Infoblox (a host record made with `func:nextavailableip`).
//!
//! Usable on its own: [`run`] needs only a `kube::Client`.

pub mod api;
pub mod claim_controller;
mod claim_release;
mod claim_steps;
pub mod config;
pub mod connect;
pub mod holders;
pub mod hostname;
pub mod instance_controller;
pub mod k0rdent_provider;
pub mod location;
pub mod name_lock;
pub mod orphan_release;
pub mod owner;
pub mod pool_controller;
pub mod release_plan;
pub mod report;
mod reserve;
pub mod reserve_plan;
pub mod sharing;
mod target;
pub mod wapi;

use ipam_kube_support::drive::Shutdown;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, CustomResourceExt};

pub use config::Config;

use crate::api::{InfobloxIPPool, InfobloxInstance};

/// The CRDs this backend serves.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![InfobloxInstance::crd(), InfobloxIPPool::crd()]
}

/// Runs the instance, pool and claim controllers until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: Config,
    reporter: Reporter,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    // Not ready until all three controllers exist and have registered their caches: the
    // claim controller is built only after the Cluster kind's discovery answers.
    let building = ipam_kube_support::readiness::pending("infoblox controllers");
    wapi::client::install_crypto_provider();
    let recorder = Recorder::new(client.clone(), reporter);
    let shutdown = Shutdown::on(shutdown);
    let instances = instance_controller::run(client.clone(), &config, shutdown.clone());
    let pools = pool_controller::run(client.clone(), &config, shutdown.clone());
    let clusters = ipam_kube_support::capi_cluster::discover(&client).await;
    let claims = claim_controller::run(client, &config, recorder, clusters, shutdown.clone());
    drop(building);
    futures::join!(instances, pools, claims);
}
