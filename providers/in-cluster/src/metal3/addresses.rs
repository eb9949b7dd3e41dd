//! The addresses of an IPPool, of both kinds: Metal3 IPAddresses (for IPClaims) and Cluster
//! API IPAddresses (for IPAddressClaims whose poolRef is the IPPool).

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::runtime::reflector::Store;

use crate::addresses::address_holder;
use crate::api::allocation::ClaimIdentity;
use crate::api::capi;
use crate::metal3::api::{GROUP, IPAddress};
use crate::pool_key::PoolKey;
use crate::stores;

pub fn metal3_in_pool(address: &IPAddress, pool: &PoolKey) -> bool {
    address.namespace() == pool.namespace && address.spec.pool.name.as_deref() == Some(&pool.name)
}

/// Group and kind are checked, unlike upstream, so another provider's pool of the same name
/// is never mistaken for this one.
pub fn capi_in_pool(address: &capi::IPAddress, pool: &PoolKey) -> bool {
    let r = &address.spec.pool_ref;
    r.api_group == GROUP
        && r.kind == pool.kind
        && r.name == pool.name
        && address.namespace() == pool.namespace
}

pub fn metal3_holder(address: &IPAddress) -> ClaimIdentity {
    let uid = address
        .owner_references()
        .iter()
        .find(|o| o.kind == "IPClaim" && Some(&o.name) == address.spec.claim.name.as_ref())
        .map(|o| o.uid.clone())
        .or_else(|| address.spec.claim.uid.clone())
        .unwrap_or_default();
    ClaimIdentity {
        api_group: GROUP.into(),
        kind: "IPClaim".into(),
        namespace: address.namespace().unwrap_or_default(),
        name: address.spec.claim.name.clone().unwrap_or_default(),
        uid,
    }
}

/// Both kinds' addresses of `pool` as (address, holder), for the ledger to record addresses
/// it did not hand out (an earlier Metal3 deployment, or `clusterctl move`).
pub fn existing(
    pool: &PoolKey,
    metal3: &Store<IPAddress>,
    capi: &Store<capi::IPAddress>,
) -> Vec<(String, ClaimIdentity)> {
    let mut all: Vec<_> = stores::filter(metal3, |a| metal3_in_pool(a, pool))
        .into_iter()
        .map(|a| (a.spec.address.clone(), metal3_holder(&a)))
        .collect();
    all.extend(
        stores::filter(capi, |a| capi_in_pool(a, pool))
            .into_iter()
            .map(|a| (a.spec.address.clone(), address_holder(&a))),
    );
    all
}

/// `status.indexes`: claim name → address, over both kinds.
pub fn indexes(existing: &[(String, ClaimIdentity)]) -> BTreeMap<String, String> {
    existing
        .iter()
        .map(|(address, claim)| (claim.name.clone(), address.clone()))
        .collect()
}
