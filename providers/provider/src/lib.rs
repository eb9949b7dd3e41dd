//! The Provider trait: how the k0rdent orchestration layer asks a backend for the pools of a
//! ClusterIPAM, without knowing which backend it is.
//!
//! It lives below both the orchestration layer and the backends, so a backend implements it
//! without importing the orchestration, and a new backend is one more implementation and
//! one more entry in the registry the binary builds, with no controller code changed.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde::{Deserialize, Serialize};

/// One address space a claim asks for, as written in the claim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkRequest {
    /// The provider-data and Helm-values key: `ipPool` for the node network, as k0rdent
    /// templates expect, then `clusterNetworkIPPool` and `externalNetworkIPPool`.
    pub key: &'static str,
    /// The pool's name; the node network's pool is named like the claim.
    pub pool_name: String,
    pub cidr: Option<String>,
    /// IPs, `a-b` ranges and CIDRs.
    pub ip_addresses: Vec<String>,
    pub gateway: Option<String>,
    pub prefix: Option<i32>,
    /// Addresses the pool must be able to hand out for the claim to be usable.
    pub addresses_needed: u64,
}

/// Who the pools are for.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRef {
    pub namespace: String,
    pub name: String,
    /// Owner reference that ties each pool to the claim, so pools go with their claim.
    pub owner: OwnerReference,
    /// Backend-specific settings from the claim's annotations (e.g. which Infoblox
    /// instance to use), keyed by annotation name.
    pub annotations: BTreeMap<String, String>,
}

/// A pool reference in the shape vSphere templates consume (`addressesFromPools` entries):
/// a TypedLocalObjectReference with the API group only, never the version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRef {
    pub api_group: String,
    pub kind: String,
    pub name: String,
}

/// Where one network's pool stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolState {
    pub pool: PoolRef,
    /// True when the pool exists, is ready and can hand out `addresses_needed`.
    pub usable: bool,
    /// CamelCase reason for the state, e.g. `PoolReady`, `PoolNotReady`,
    /// `InsufficientAddresses`.
    pub reason: &'static str,
    /// What a person can act on.
    pub message: String,
}

/// What happened to a pool that is no longer wanted (a provider switch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Retired {
    /// Deleted, or never existed.
    Gone,
    /// Kept: addresses of it are still in use. The message says which.
    InUse(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// The claim cannot be served as written; the message names the field and the fix.
    #[error("{0}")]
    Invalid(String),
}

/// One backend. Each method is idempotent: it is called on every reconcile.
pub trait Provider: Send + Sync {
    /// The claim's `provider` value that selects this backend.
    fn name(&self) -> &'static str;

    /// The kind of the pools this backend creates, so the orchestration layer can watch them
    /// (a pool becoming ready binds its claim at once, without polling).
    fn pool_resource(&self) -> kube::core::ApiResource;

    /// Creates or updates the pool for `network` and reports whether it is usable.
    fn ensure_pool<'a>(
        &'a self,
        client: &'a kube::Client,
        claim: &'a ClaimRef,
        network: &'a NetworkRequest,
    ) -> BoxFuture<'a, Result<PoolState, ProviderError>>;

    /// Deletes this backend's pool named `pool_name` for the claim, unless its addresses are
    /// still in use.
    fn retire_pool<'a>(
        &'a self,
        client: &'a kube::Client,
        claim: &'a ClaimRef,
        pool_name: &'a str,
    ) -> BoxFuture<'a, Result<Retired, ProviderError>>;
}

/// A backend given by its name, the kind of its pools and its two operations: every backend
/// is one of these, so none repeats the plumbing of the trait.
pub struct Backend {
    pub name: &'static str,
    pub pool_resource: fn() -> kube::core::ApiResource,
    pub ensure_pool: for<'a> fn(
        &'a kube::Client,
        &'a ClaimRef,
        &'a NetworkRequest,
    ) -> BoxFuture<'a, Result<PoolState, ProviderError>>,
    pub retire_pool: for<'a> fn(
        &'a kube::Client,
        &'a ClaimRef,
        &'a str,
    ) -> BoxFuture<'a, Result<Retired, ProviderError>>,
}

impl Provider for Backend {
    fn name(&self) -> &'static str {
        self.name
    }

    fn pool_resource(&self) -> kube::core::ApiResource {
        (self.pool_resource)()
    }

    fn ensure_pool<'a>(
        &'a self,
        client: &'a kube::Client,
        claim: &'a ClaimRef,
        network: &'a NetworkRequest,
    ) -> BoxFuture<'a, Result<PoolState, ProviderError>> {
        (self.ensure_pool)(client, claim, network)
    }

    fn retire_pool<'a>(
        &'a self,
        client: &'a kube::Client,
        claim: &'a ClaimRef,
        pool_name: &'a str,
    ) -> BoxFuture<'a, Result<Retired, ProviderError>> {
        (self.retire_pool)(client, claim, pool_name)
    }
}
