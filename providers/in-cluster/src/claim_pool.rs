//! The pools a Cluster API claim of this backend can name, and the one place that tells their
//! kinds apart: which claims are served, where each kind is cached, and what the claim
//! controller reads of a pool whatever its kind, and which of its changes wake claims. A new
//! kind of pool is one more arm in [`serves`], [`pool_key`], [`PoolCaches::find`] and
//! [`watch`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::runtime::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::allocation::ClaimIdentity;
use crate::api::capi::keys::POOL_FINALIZER;
use crate::api::capi::{IPAddress, IPAddressClaim};
use crate::api::prefix_pool::is_prefix_kind;
use crate::api::{
    GROUP, GlobalInClusterIPPool, GlobalInClusterPrefixPool, InClusterIPPool, InClusterPrefixPool,
    PoolReference, PoolSpec, PrefixPoolSpec,
};
use crate::compiled::Compiled;
use crate::config::Config;
use crate::metal3;
use crate::pool_key::PoolKey;
use crate::pool_object::{AddressPool, PoolObject, PrefixPoolObject};
use crate::stores;

/// Whether this controller serves the claim: the in-cluster pools of addresses and of
/// prefixes, and Metal3's IPPool when the Metal3 face runs.
pub fn serves(claim: &IPAddressClaim, metal3: bool) -> bool {
    let pool = &claim.spec.pool_ref;
    (pool.api_group == GROUP
        && (pool.kind == InClusterIPPool::KIND || pool.kind == GlobalInClusterIPPool::KIND))
        || is_prefix_kind(&pool.api_group, &pool.kind)
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
    } else if pool.kind == GlobalInClusterIPPool::KIND
        || pool.kind == GlobalInClusterPrefixPool::KIND
    {
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
    /// The spec of a pool of addresses; a Metal3 pool has none (its attributes come per
    /// entry), nor has a prefix pool.
    pub spec: Option<PoolSpec>,
    /// The spec of a prefix pool.
    pub prefixes: Option<PrefixPoolSpec>,
    /// The pool compiled by the engine, or why its spec is unusable.
    pub compiled: Result<Compiled, String>,
    pub owner: Option<OwnerReference>,
    /// A Metal3 IPPool: its IPClaims draw from it too.
    pub metal3: bool,
}

/// The caches of every pool kind a claim can name.
pub struct PoolCaches {
    pub pools: Store<InClusterIPPool>,
    pub global_pools: Store<GlobalInClusterIPPool>,
    pub prefix_pools: Store<InClusterPrefixPool>,
    pub global_prefix_pools: Store<GlobalInClusterPrefixPool>,
    /// Only with the Metal3 face: without it, the operator may not read Metal3's kinds.
    pub metal3: Option<Metal3Caches>,
    /// Whether this process runs the global pools' controllers (it serves every namespace),
    /// which put their finalizer on them.
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
            let compiled = metal3::pool::compile(&pool).map(Compiled::from);
            let protected_by = Some(metal3::api::POOL_FINALIZER);
            let view = view(key, pool.as_ref(), protected_by, compiled);
            return Some(ClaimPool {
                metal3: true,
                ..view
            });
        }
        let global = self.global_pools_protected.then_some(POOL_FINALIZER);
        let local = Some(POOL_FINALIZER);
        let ns = key.namespace.clone().unwrap_or_default();
        let name = key.name.clone();
        Some(match claim.spec.pool_ref.kind.as_str() {
            InClusterPrefixPool::KIND => {
                let pool = self.prefix_pools.get(&ObjectRef::new(&name).within(&ns))?;
                prefixes(key, pool.as_ref(), local)
            }
            GlobalInClusterPrefixPool::KIND => {
                let pool = self.global_prefix_pools.get(&ObjectRef::new(&name))?;
                prefixes(key, pool.as_ref(), global)
            }
            GlobalInClusterIPPool::KIND => {
                let pool = self.global_pools.get(&ObjectRef::new(&name))?;
                in_cluster(key, pool.as_ref(), global)
            }
            _ => {
                let pool = self.pools.get(&ObjectRef::new(&name).within(&ns))?;
                in_cluster(key, pool.as_ref(), local)
            }
        })
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
            _ if pool.prefixes.is_some() => {
                crate::addresses::existing_prefixes(addresses, &pool.key)
            }
            _ => crate::addresses::existing_addresses(addresses, &pool.key),
        }
    }
}

fn in_cluster<P: AddressPool>(
    key: PoolKey,
    pool: &P,
    protected_by: Option<&'static str>,
) -> ClaimPool {
    ClaimPool {
        spec: Some(pool.pool_spec().clone()),
        ..view(key, pool, protected_by, pool.compiled())
    }
}

fn prefixes<P: PrefixPoolObject>(
    key: PoolKey,
    pool: &P,
    protected_by: Option<&'static str>,
) -> ClaimPool {
    ClaimPool {
        prefixes: Some(pool.prefix_spec().clone()),
        ..view(key, pool, protected_by, pool.compiled())
    }
}

/// What every kind shows the claim controller; the kind's own parts are added by the caller.
fn view<K: Resource<DynamicType = ()>, E: std::fmt::Display>(
    key: PoolKey,
    pool: &K,
    protected_by: Option<&'static str>,
    compiled: Result<Compiled, E>,
) -> ClaimPool {
    ClaimPool {
        metal3: false,
        key,
        meta: pool.meta().clone(),
        protected_by,
        spec: None,
        prefixes: None,
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
    let (prefix_pools, prefix_changes) =
        caches.reflect(config.api::<InClusterPrefixPool>(client), config.watcher());
    let all_global_prefixes = Api::<GlobalInClusterPrefixPool>::all(client.clone());
    let (global_prefix_pools, global_prefix_changes) =
        caches.reflect(all_global_prefixes, config.watcher());
    let mut ready = vec![
        caches.ready::<InClusterIPPool>(),
        caches.ready::<GlobalInClusterIPPool>(),
        caches.ready::<InClusterPrefixPool>(),
        caches.ready::<GlobalInClusterPrefixPool>(),
    ];
    let (on_pool, on_global) = (waiting.clone(), waiting.clone());
    let (on_prefixes, on_global_prefixes) = (waiting.clone(), waiting.clone());
    let mut controller = controller
        .watches_stream(pool_changes, move |p: InClusterIPPool| on_pool(p.key()))
        .watches_stream(global_changes, move |p: GlobalInClusterIPPool| {
            on_global(p.key())
        })
        .watches_stream(prefix_changes, move |p: InClusterPrefixPool| {
            on_prefixes(p.key())
        })
        .watches_stream(
            global_prefix_changes,
            move |p: GlobalInClusterPrefixPool| on_global_prefixes(p.key()),
        );
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
        prefix_pools,
        global_prefix_pools,
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
