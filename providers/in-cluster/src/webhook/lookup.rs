//! What the pool webhook reads across objects, each time with a fresh LIST: a cache that
//! lags could let through the very overlap or deletion the rule is there to stop.

use ipam_engine::Pool;
use ipam_kube_support::webhook::Denial;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::addresses::address_in_pool;
use crate::api::capi::IPAddress;
use crate::api::{GlobalInClusterIPPool, InClusterIPPool};
use crate::pool_key::PoolKey;
use crate::pool_object::PoolObject;

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
    let namespaced: Api<InClusterIPPool> = match &pool.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut compared = compiled(namespaced, pool).await?;
    compared.extend(compiled(Api::<GlobalInClusterIPPool>::all(client.clone()), pool).await?);
    Ok(compared)
}

async fn compiled<P: PoolObject>(
    api: Api<P>,
    except: &PoolKey,
) -> Result<Vec<(PoolKey, Pool)>, Denial> {
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
            (key != *except).then(|| other.compile().ok().map(|pool| (key, pool)))?
        })
        .collect())
}
