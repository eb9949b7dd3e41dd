//! Metal3 IPAddresses whose IPClaim is gone: freed by the pool controller.
//!
//! The claim finalizer is persisted before any address is taken, yet the API server can still
//! delete a claim whose finalizer is being added at that very moment (a DELETE that read the
//! claim without it), and then the claim controller never sees the claim again. Upstream leaks
//! such an address forever (metal3-io/ip-address-manager#694); here the pool frees it.

use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};

use crate::holders;
use crate::ledger::Ledger;
use crate::metal3::addresses::{metal3_holder, metal3_in_pool};
use crate::metal3::api::{ADDRESS_FINALIZER, IPAddress, IPClaim};
use crate::pool_key::PoolKey;
use crate::stores;
use ipam_kube_support::finalizers;

/// Frees the pool's addresses whose claim no longer exists (checked live, not in a cache, as
/// a claim may be newer than the cache). Returns how many were freed.
pub async fn free(
    client: &Client,
    ledger: &Ledger,
    pool: &PoolKey,
    addresses: &Store<IPAddress>,
    claims: &Store<IPClaim>,
) -> Result<usize, kube::Error> {
    let ns = pool.namespace.clone().unwrap_or_default();
    let known: std::collections::HashSet<(String, String)> =
        stores::filter(claims, |c| c.namespace().as_deref() == Some(ns.as_str()))
            .iter()
            .map(|c| (c.name_any(), c.uid().unwrap_or_default()))
            .collect();
    let suspects = stores::filter(addresses, |a| {
        let holder = metal3_holder(a);
        metal3_in_pool(a, pool) && !known.contains(&(holder.name, holder.uid))
    });
    let address_api = Api::<IPAddress>::namespaced(client.clone(), &ns);
    let mut freed = 0;
    for address in suspects {
        let holder = metal3_holder(&address);
        if holders::lives(client, &holder).await? {
            continue;
        }
        tracing::info!(pool = %pool, address = %address.spec.address, claim = %holder.name,
            "freeing an address whose claim is gone");
        finalizers::remove_and_delete(&address_api, address.as_ref(), ADDRESS_FINALIZER).await?;
        ledger.release(pool, &holder).await?;
        freed += 1;
    }
    Ok(freed)
}
