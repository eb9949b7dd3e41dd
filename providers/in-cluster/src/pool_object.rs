//! What the controllers need of the in-cluster pool kinds, so one code path serves them all:
//! [`PoolObject`] for every kind (the pool controller), [`AddressPool`] for the pools of
//! single addresses and [`PrefixPoolObject`] for the pools of sub-prefixes.

use ipam_engine::{InClusterSpec, Pool, PrefixPool, SpecError};
use kube::{Resource, ResourceExt};

use crate::api::{
    GROUP, GlobalInClusterIPPool, GlobalInClusterPrefixPool, InClusterIPPool, InClusterPrefixPool,
    PoolSpec, PoolStatus, PrefixPoolSpec,
};
use crate::compiled::Compiled;
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
    /// Whether objects of the kind live in a namespace.
    const NAMESPACED: bool;
    fn pool_status(&self) -> Option<&PoolStatus>;

    /// The API for objects of this kind in `namespace` (ignored for cluster-scoped kinds).
    fn api(client: &kube::Client, namespace: Option<&str>) -> kube::Api<Self>;

    fn key(&self) -> PoolKey {
        match self.namespace() {
            Some(ns) => PoolKey::namespaced(GROUP, Self::KIND, &ns, &self.name_any()),
            None => PoolKey::global(GROUP, Self::KIND, &self.name_any()),
        }
    }

    /// What the pool hands out, compiled, or the reasons its spec is unusable.
    fn compiled(&self) -> Result<Compiled, SpecError>;
}

/// A pool of single addresses: InClusterIPPool, GlobalInClusterIPPool.
pub trait AddressPool: PoolObject {
    fn pool_spec(&self) -> &PoolSpec;

    /// The pool compiled by the engine, or the reasons its spec is unusable.
    fn compile(&self) -> Result<Pool, SpecError> {
        Pool::in_cluster(&engine_spec(self.pool_spec()))
    }
}

/// A pool of sub-prefixes: InClusterPrefixPool, GlobalInClusterPrefixPool.
pub trait PrefixPoolObject: PoolObject {
    fn prefix_spec(&self) -> &PrefixPoolSpec;

    /// The pool compiled by the engine, or the reasons its spec is unusable.
    fn compile(&self) -> Result<PrefixPool, SpecError> {
        PrefixPool::from_spec(&self.prefix_spec().engine())
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

/// Implements the traits of one kind: `addresses` or `prefixes`, namespaced or not.
macro_rules! pool_object {
    ($kind:ident, addresses, $namespaced:tt) => {
        pool_object!(@common $kind, $namespaced, AddressPool::compile);
        impl AddressPool for $kind {
            fn pool_spec(&self) -> &PoolSpec {
                &self.spec.pool
            }
        }
    };
    ($kind:ident, prefixes, $namespaced:tt) => {
        pool_object!(@common $kind, $namespaced, PrefixPoolObject::compile);
        impl PrefixPoolObject for $kind {
            fn prefix_spec(&self) -> &PrefixPoolSpec {
                &self.spec.pool
            }
        }
    };
    (@api true) => {
        fn api(client: &kube::Client, namespace: Option<&str>) -> kube::Api<Self> {
            kube::Api::namespaced(client.clone(), namespace.unwrap_or("default"))
        }
    };
    (@api false) => {
        fn api(client: &kube::Client, _: Option<&str>) -> kube::Api<Self> {
            kube::Api::all(client.clone())
        }
    };
    (@common $kind:ident, $namespaced:tt, $compile:path) => {
        impl PoolObject for $kind {
            const KIND: &'static str = stringify!($kind);
            const NAMESPACED: bool = $namespaced;
            pool_object!(@api $namespaced);
            fn pool_status(&self) -> Option<&PoolStatus> {
                self.status.as_ref()
            }
            fn compiled(&self) -> Result<Compiled, SpecError> {
                $compile(self).map(Into::into)
            }
        }
    };
}

pool_object!(InClusterIPPool, addresses, true);
pool_object!(GlobalInClusterIPPool, addresses, false);
pool_object!(InClusterPrefixPool, prefixes, true);
pool_object!(GlobalInClusterPrefixPool, prefixes, false);
