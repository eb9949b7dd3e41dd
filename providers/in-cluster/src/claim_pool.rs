//! The pools a Cluster API claim of this backend can name, and the one place that tells their
//! kinds apart: which claims are served, where each kind is cached, and what the claim
//! controller reads of a pool whatever its kind, and which of its changes wake claims. A new
//! kind of pool is one more arm in [`serves`], [`pool_key`], [`PoolCaches::find`] and
//! [`watch`].

use ipam_engine::Pool;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::allocation::ClaimIdentity;
use crate::api::capi::keys::POOL_FINALIZER;
use crate::api::capi::{IPAddress, IPAddressClaim};
use crate::api::{GROUP, GlobalInClusterIPPool, InClusterIPPool, PoolReference, PoolSpec};
use crate::config::Config;
use crate::metal3;
use crate::pool_key::PoolKey;
use crate::pool_object::PoolObject;
use crate::stores;

/// Whether this controller serves the claim: the in-cluster pools, and Metal3's IPPool when
/// the Metal3 face runs.
pub fn serves(claim: &IPAddressClaim, metal3: bool) -> bool {
    let pool = &claim.spec.pool_ref;
    (pool.api_group == GROUP
        && (pool.kind == InClusterIPPool::KIND || pool.kind == GlobalInClusterIPPool::KIND))
        || (metal3 && is_metal3(pool))
}

fn is_metal3(pool: &PoolReference) -> bool {
    pool.api_group == metal3::api::GROUP && pool.kind == metal3::api::IPPool::kind(&())
}

pub fn pool_key(claim: &IPAddressClaim) -> PoolKey {
    let pool = &claim.spec.pool_ref;
    let ns = claim.namespace().unwrap_or_default();
    if is_metal3(pool) {
        metal3::pool::key(&ns, &pool.name)
    } else if pool.kind == GlobalInClusterIPPool::KIND {
        PoolKey::global(GROUP, &pool.kind, &pool.name)
    } else {
        PoolKey::namespaced(GROUP, &pool.kind, &ns, &pool.name)
    }
}

/// A claim's pool as the claim controller reads it, whatever its kind.
#[derive(Debug, PartialEq)]
pub struct ClaimPool {
    pub key: PoolKey,
    pub meta: ObjectMeta,
    /// The finalizer its pool controller protects it with; `None` where no controller of
    /// this process does (global pools, when the operator serves one namespace).
    pub protected_by: Option<&'static str>,
    /// The in-cluster spec; a Metal3 pool has none (its attributes come per entry).
    pub spec: Option<PoolSpec>,
    /// The pool compiled by the engine, or why its spec is unusable.
    pub compiled: Result<Pool, String>,
    pub owner: Option<OwnerReference>,
    /// A Metal3 IPPool: its IPClaims draw from it too.
    pub metal3: bool,
}

/// The caches of every pool kind a claim can name.
pub struct PoolCaches {
    pub pools: Store<InClusterIPPool>,
    pub global_pools: Store<GlobalInClusterIPPool>,
    /// Only with the Metal3 face: without it, the operator may not read Metal3's kinds.
    pub metal3: Option<Metal3Caches>,
    /// Whether this process runs the global pools' controller (it serves every namespace),
    /// which puts their finalizer on them.
    pub global_pools_protected: bool,
}

/// Metal3's pools and addresses: Cluster API claims may draw from an IPPool, beside the
/// IPClaims that Metal3 serves from it.
pub struct Metal3Caches {
    pub pools: Store<metal3::api::IPPool>,
    pub addresses: Store<metal3::api::IPAddress>,
}

impl PoolCaches {
    /// The claim's pool, if it is cached.
    pub fn find(&self, claim: &IPAddressClaim) -> Option<ClaimPool> {
        let key = pool_key(claim);
        if is_metal3(&claim.spec.pool_ref) {
            let ns = key.namespace.clone().unwrap_or_default();
            let pool = self
                .metal3
                .as_ref()?
                .pools
                .get(&ObjectRef::new(&key.name).within(&ns))?;
            let compiled = metal3::pool::compile(&pool);
            let protected_by = Some(metal3::api::POOL_FINALIZER);
            return Some(view(key, pool.as_ref(), protected_by, None, compiled));
        }
        match key.namespace.clone() {
            None => {
                let pool = self.global_pools.get(&ObjectRef::new(&key.name))?;
                let protected_by = self.global_pools_protected.then_some(POOL_FINALIZER);
                Some(in_cluster(key, pool.as_ref(), protected_by))
            }
            Some(ns) => {
                let pool = self.pools.get(&ObjectRef::new(&key.name).within(&ns))?;
                Some(in_cluster(key, pool.as_ref(), Some(POOL_FINALIZER)))
            }
        }
    }

    /// The addresses of `pool` that exist, as (address, holder), for the ledger to record
    /// those it did not hand out (an earlier provider, or `clusterctl move`).
    pub fn existing(
        &self,
        pool: &ClaimPool,
        addresses: &Store<IPAddress>,
    ) -> Vec<(String, ClaimIdentity)> {
        match (&self.metal3, pool.metal3) {
            (Some(m3), true) => metal3::addresses::existing(&pool.key, &m3.addresses, addresses),
            _ => crate::addresses::existing_addresses(addresses, &pool.key),
        }
    }
}

fn in_cluster<P: PoolObject>(
    key: PoolKey,
    pool: &P,
    protected_by: Option<&'static str>,
) -> ClaimPool {
    let spec = Some(pool.pool_spec().clone());
    view(key, pool, protected_by, spec, pool.compile())
}

fn view<K: Resource<DynamicType = ()>, E: std::fmt::Display>(
    key: PoolKey,
    pool: &K,
    protected_by: Option<&'static str>,
    spec: Option<PoolSpec>,
    compiled: Result<Pool, E>,
) -> ClaimPool {
    ClaimPool {
        metal3: spec.is_none(),
        key,
        meta: pool.meta().clone(),
        protected_by,
        spec,
        compiled: compiled.map_err(|e| e.to_string()),
        owner: pool.controller_owner_ref(&()),
    }
}

/// The caches of every pool kind, and `controller` reconciling the claims `waiting` on a
/// pool when it changes; with them, what the first reconcile must wait for.
pub fn watch<W>(
    controller: Controller<IPAddressClaim>,
    config: &Config,
    client: &Client,
    caches: &stores::Caches,
    waiting: W,
) -> (Controller<IPAddressClaim>, PoolCaches, Vec<stores::Ready>)
where
    W: Fn(PoolKey) -> Vec<ObjectRef<IPAddressClaim>> + Clone + Send + Sync + 'static,
{
    let (pools, pool_changes) =
        caches.reflect(config.api::<InClusterIPPool>(client), config.watcher());
    // Global pools are cluster-scoped: a namespace scope does not narrow them.
    let all_global = Api::<GlobalInClusterIPPool>::all(client.clone());
    let (global_pools, global_changes) = caches.reflect(all_global, config.watcher());
    let mut ready = vec![
        caches.ready::<InClusterIPPool>(),
        caches.ready::<GlobalInClusterIPPool>(),
    ];
    let (on_pool, on_global) = (waiting.clone(), waiting.clone());
    let mut controller = controller
        .watches_stream(pool_changes, move |p: InClusterIPPool| on_pool(p.key()))
        .watches_stream(global_changes, move |p: GlobalInClusterIPPool| {
            on_global(p.key())
        });
    let mut metal3 = None;
    if config.metal3 {
        let (watching, m3) = watch_metal3(controller, client, config, caches, waiting);
        (controller, metal3) = (watching, Some(m3));
        ready.extend([
            caches.ready::<metal3::api::IPPool>(),
            caches.ready::<metal3::api::IPAddress>(),
        ]);
    }
    let pools = PoolCaches {
        pools,
        global_pools,
        metal3,
        global_pools_protected: config.namespace.is_none(),
    };
    (controller, pools, ready)
}

/// Metal3's IPPools and addresses, watched for the Cluster API claims that draw from them.
fn watch_metal3<W>(
    controller: Controller<IPAddressClaim>,
    client: &Client,
    config: &Config,
    caches: &stores::Caches,
    waiting: W,
) -> (Controller<IPAddressClaim>, Metal3Caches)
where
    W: Fn(PoolKey) -> Vec<ObjectRef<IPAddressClaim>> + Clone + Send + Sync + 'static,
{
    let (pools, pool_changes) =
        caches.reflect(config.api::<metal3::api::IPPool>(client), config.watcher());
    let (addresses, address_changes) =
        caches.reflect_bulk(config.api::<metal3::api::IPAddress>(client));
    let on_pool = waiting.clone();
    let controller = controller
        .watches_stream(pool_changes, move |pool: metal3::api::IPPool| {
            on_pool(metal3::pool::pool_key(&pool))
        })
        // Metal3 IPClaims share IPPools with these claims: their addresses going away may
        // let a waiting claim through.
        .watches_stream(address_changes, move |address: metal3::api::IPAddress| {
            let ns = address.namespace().unwrap_or_default();
            address
                .spec
                .pool
                .name
                .as_deref()
                .filter(|_| metal3::claim_controller::going(&address))
                .map(|pool| waiting(metal3::pool::key(&ns, pool)))
                .unwrap_or_default()
        });
    (controller, Metal3Caches { pools, addresses })
}
