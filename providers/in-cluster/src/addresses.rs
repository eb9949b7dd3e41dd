//! The Cluster API IPAddresses of a pool, and the claim each was written for, as the ledger
//! knows claims.

use kube::ResourceExt;
use kube::runtime::reflector::Store;

use crate::api::GROUP;
use crate::api::allocation::ClaimIdentity;
use crate::api::capi::IPAddress;
use crate::pool_key::PoolKey;
use crate::stores;

/// The pool's IPAddresses as (address, holder), for recording addresses this operator did not
/// hand out (an earlier provider, or `clusterctl move`).
pub fn existing_addresses(
    store: &Store<IPAddress>,
    pool: &PoolKey,
) -> Vec<(String, ClaimIdentity)> {
    stores::filter(store, |a| address_in_pool(a, pool))
        .into_iter()
        .map(|a| (a.spec.address.clone(), address_holder(&a)))
        .collect()
}

/// A prefix pool's IPAddresses as (address/prefix, holder): the ledger keeps every block an
/// allocation of another length touches.
pub fn existing_prefixes(store: &Store<IPAddress>, pool: &PoolKey) -> Vec<(String, ClaimIdentity)> {
    stores::filter(store, |a| address_in_pool(a, pool))
        .into_iter()
        .map(|a| {
            (
                format!("{}/{}", a.spec.address, a.spec.prefix),
                address_holder(&a),
            )
        })
        .collect()
}

/// The claim an IPAddress was written for, as the ledger knows it.
pub fn address_holder(address: &IPAddress) -> ClaimIdentity {
    ClaimIdentity {
        api_group: GROUP.into(),
        kind: "IPAddressClaim".into(),
        namespace: address.namespace().unwrap_or_default(),
        name: address.spec.claim_ref.name.clone(),
        uid: owner_uid(address).unwrap_or_default(),
    }
}

pub fn address_in_pool(address: &IPAddress, pool: &PoolKey) -> bool {
    let r = &address.spec.pool_ref;
    r.api_group == pool.group
        && r.kind == pool.kind
        && r.name == pool.name
        && (pool.namespace.is_none() || address.namespace() == pool.namespace)
}

fn owner_uid(address: &IPAddress) -> Option<String> {
    address
        .owner_references()
        .iter()
        .find(|o| o.kind == "IPAddressClaim" && o.name == address.spec.claim_ref.name)
        .map(|o| o.uid.clone())
}
