//! What the controllers need of either pool kind, so one code path serves both.

use ipam_engine::{InClusterSpec, Pool, SpecError};
use kube::{Resource, ResourceExt};

use crate::api::{GROUP, GlobalInClusterIPPool, InClusterIPPool, PoolSpec, PoolStatus};
use crate::pool_key::PoolKey;

pub trait PoolObject:
    Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    fn pool_spec(&self) -> &PoolSpec;
    fn pool_status(&self) -> Option<&PoolStatus>;
    /// The API for objects of this kind in `namespace` (ignored for cluster-scoped kinds).
    fn api(client: &kube::Client, namespace: Option<&str>) -> kube::Api<Self>;

    fn key(&self) -> PoolKey {
        match self.namespace() {
            Some(ns) => PoolKey::namespaced(GROUP, Self::KIND, &ns, &self.name_any()),
            None => PoolKey::global(GROUP, Self::KIND, &self.name_any()),
        }
    }

    /// The pool compiled by the engine, or the reasons its spec is unusable.
    fn compile(&self) -> Result<Pool, SpecError> {
        Pool::in_cluster(&engine_spec(self.pool_spec()))
    }
}

pub fn engine_spec(spec: &PoolSpec) -> InClusterSpec {
    InClusterSpec {
        addresses: spec.addresses.clone(),
        prefix: i64::from(spec.prefix),
        gateway: spec.gateway.clone(),
        excluded_addresses: spec.excluded_addresses.clone(),
        allocate_reserved_ip_addresses: spec.allocate_reserved_ip_addresses,
        address_reuse_grace_period_seconds: spec.address_reuse_grace_period_seconds.map(i64::from),
    }
}

impl PoolObject for InClusterIPPool {
    const KIND: &'static str = "InClusterIPPool";
    fn pool_spec(&self) -> &PoolSpec {
        &self.spec.pool
    }
    fn pool_status(&self) -> Option<&PoolStatus> {
        self.status.as_ref()
    }
    fn api(client: &kube::Client, namespace: Option<&str>) -> kube::Api<Self> {
        kube::Api::namespaced(client.clone(), namespace.unwrap_or("default"))
    }
}

impl PoolObject for GlobalInClusterIPPool {
    const KIND: &'static str = "GlobalInClusterIPPool";
    fn pool_spec(&self) -> &PoolSpec {
        &self.spec.pool
    }
    fn pool_status(&self) -> Option<&PoolStatus> {
        self.status.as_ref()
    }
    fn api(client: &kube::Client, _: Option<&str>) -> kube::Api<Self> {
        kube::Api::all(client.clone())
    }
}
