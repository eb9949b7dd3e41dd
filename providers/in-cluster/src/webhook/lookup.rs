//! What the pool webhook reads across objects, each time with a fresh LIST: a cache that
//! lags could let through the very overlap or deletion the rule is there to stop.

use ipam_engine::{Pool, PrefixPool};
use ipam_kube_support::webhook::Denial;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::addresses::address_in_pool;
use crate::api::capi::IPAddress;
use crate::api::{
    GlobalInClusterIPPool, GlobalInClusterPrefixPool, InClusterIPPool, InClusterPrefixPool,
};
use crate::pool_key::PoolKey;
use crate::pool_object::{AddressPool, PoolObject, PrefixPoolObject};

/// The IPAddresses that reference `pool`: in its namespace, or anywhere for a global pool.
pub async fn addresses(client: &Client, pool: &PoolKey) -> Result<Vec<IPAddress>, Denial> {
    let api: Api<IPAddress> = match &pool.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter(|a| address_in_pool(a, pool))
            .collect()),
        // Without Cluster API's IPAddress CRD no address can reference the pool.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(e) => Err(Denial::internal(format!(
            "cannot list the IPAddresses of {pool}: {e}"
        ))),
    }
}

/// The pools `pool` must not overlap, compiled: for a namespaced pool the other pools of
/// its namespace and every global pool; for a global pool every other pool. Pools in
/// different namespaces may overlap: tenants reuse private ranges. A pool whose spec does
/// not compile hands out nothing and is left out.
pub async fn pools_compared(
    client: &Client,
    pool: &PoolKey,
) -> Result<Vec<(PoolKey, Pool)>, Denial> {
    let namespaced = in_scope::<InClusterIPPool>(client, pool);
    let mut compared = compiled(namespaced, pool, |p| p.compile().ok()).await?;
    let global = Api::<GlobalInClusterIPPool>::all(client.clone());
    compared.extend(compiled(global, pool, |p| p.compile().ok()).await?);
    Ok(compared)
}

/// The prefix pools `pool` must not overlap, compiled, by the scope rule of
/// [`pools_compared`].
pub async fn prefix_pools_compared(
    client: &Client,
    pool: &PoolKey,
) -> Result<Vec<(PoolKey, PrefixPool)>, Denial> {
    let namespaced = in_scope::<InClusterPrefixPool>(client, pool);
    let mut compared = compiled(namespaced, pool, |p| p.compile().ok()).await?;
    let global = Api::<GlobalInClusterPrefixPool>::all(client.clone());
    compared.extend(compiled(global, pool, |p| p.compile().ok()).await?);
    Ok(compared)
}

/// The namespaced pools `pool` is compared with: its namespace's, or all for a global pool.
fn in_scope<P>(client: &Client, pool: &PoolKey) -> Api<P>
where
    P: PoolObject + kube::Resource<Scope = kube::core::NamespaceResourceScope>,
{
    match &pool.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn compiled<P: PoolObject, T>(
    api: Api<P>,
    except: &PoolKey,
    compile: impl Fn(&P) -> Option<T>,
) -> Result<Vec<(PoolKey, T)>, Denial> {
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        Denial::internal(format!(
            "cannot list {}s to check {except} for overlaps: {e}",
            P::KIND
        ))
    })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|other| {
            let key = other.key();
            (key != *except).then(|| compile(&other).map(|pool| (key, pool)))?
        })
        .collect())
}
