//! Which claims hold which addresses at one Infoblox location, as their IPAddresses say: what
//! decides whether an unmarked record may be taken over ([`crate::reserve_plan`]), and which
//! addresses of a record a claim may neither adopt nor free ([`taken`]).
//!
//! Only IPAddresses of InfobloxIPPools on the same InfobloxInstance and network view count:
//! another grid, or another network view, may hand out the same address independently. One
//! whose pool is gone counts too, since nothing tells where its address was reserved.

use std::collections::BTreeMap;

use ipam_kube_support::capi::IPAddress;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::api::{GROUP, InfobloxIPPool, InstanceSpec};
use crate::reserve_plan::Holder;

/// The holders of addresses in network view `network_view` of the InfobloxInstance
/// `instance` (whose spec, `spec`, gives pools their default view).
pub async fn load(
    client: &Client,
    namespace: &str,
    instance: &str,
    spec: &InstanceSpec,
    network_view: &str,
) -> Result<Vec<Holder>, kube::Error> {
    let pools: BTreeMap<(String, String), bool> = list::<InfobloxIPPool>(client, namespace)
        .await?
        .into_iter()
        .map(|p| {
            let here =
                p.spec.instance.name == instance && p.spec.views(spec).network_view == network_view;
            ((p.namespace().unwrap_or_default(), p.name_any()), here)
        })
        .collect();
    Ok(list::<IPAddress>(client, namespace)
        .await?
        .into_iter()
        .filter(|a| {
            let pool = &a.spec.pool_ref;
            let key = (a.namespace().unwrap_or_default(), pool.name.clone());
            pool.api_group == GROUP
                && pool.kind == InfobloxIPPool::kind(&())
                && pools.get(&key).copied().unwrap_or(true)
        })
        .map(|a| Holder {
            claim: format!(
                "{}/{}",
                a.namespace().unwrap_or_default(),
                a.spec.claim_ref.name
            ),
            address: a.spec.address,
        })
        .collect())
}

/// The addresses `holders` hold for claims other than `claim` (`<namespace>/<name>`): none of
/// them is the claim's to adopt or to free, whatever the record's mark says. Every other
/// claim counts, not only the claim's Machine's: a record marked as the claim's can still hold
/// an address another claim's IPAddress has (marked before that claim took it, or by hand).
pub fn taken(holders: &[Holder], claim: &str) -> Vec<String> {
    holders
        .iter()
        .filter(|h| h.claim != claim)
        .map(|h| h.address.clone())
        .collect()
}

/// Every `K` this process may list: in all namespaces, else (an operator allowed one
/// namespace only) in `namespace`.
async fn list<K>(client: &Client, namespace: &str) -> Result<Vec<K>, kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned,
{
    let all = ListParams::default();
    match Api::<K>::all(client.clone()).list(&all).await {
        Ok(l) => Ok(l.items),
        Err(kube::Error::Api(e)) if e.code == 403 => {
            Ok(Api::<K>::namespaced(client.clone(), namespace)
                .list(&all)
                .await?
                .items)
        }
        Err(e) => Err(e),
    }
}
