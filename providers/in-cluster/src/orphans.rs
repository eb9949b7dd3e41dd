//! IPAddresses whose IPAddressClaim is gone: freed by the pool controller.
//!
//! The claim finalizer is persisted before an address is taken, yet the API server can still
//! delete a claim whose finalizer is being added at that very moment (a DELETE that read the
//! claim without it); the claim controller then never sees it again. The garbage collector
//! does not delete such an IPAddress: the pool, its other owner, still exists, so it only
//! strips the dangling claim reference (or, were the claim its only owner, marks it for a
//! deletion our finalizer holds). Either change brings the pool controller here.

use std::net::IpAddr;

use ipam_kube_support::capi::IPAddress;
use ipam_kube_support::capi::keys::ADDRESS_FINALIZER;
use ipam_kube_support::finalizers;
use kube::{Api, Client, ResourceExt};

use crate::addresses::address_holder;
use crate::api::AddressAllocation;
use crate::api::allocation::allocation_name;
use crate::holders;
use crate::ledger::Ledger;
use crate::pool_key::PoolKey;

/// An address whose claim may be gone: no claim owner reference left, or marked for deletion.
pub fn suspect(address: &IPAddress) -> bool {
    address.metadata.deletion_timestamp.is_some()
        || !address
            .owner_references()
            .iter()
            .any(|o| o.kind == "IPAddressClaim")
}

/// Frees the `suspects` (IPAddresses of `pool`) whose claim no longer exists, checked live.
/// Returns how many were freed.
pub async fn free(
    client: &Client,
    ledger: &Ledger,
    pool: &PoolKey,
    suspects: &[&IPAddress],
) -> Result<usize, kube::Error> {
    let mut freed = 0;
    for address in suspects {
        // Who took the address is in its allocation record, even when the IPAddress lost its
        // claim reference.
        let mut holder = address_holder(address);
        if let Ok(ip) = address.spec.address.parse::<IpAddr>()
            && let Some(record) = Api::<AddressAllocation>::all(client.clone())
                .get_opt(&allocation_name(pool, ip))
                .await?
            && record.spec.pool == pool.identity()
            && record.spec.claim.name == holder.name
            && record.spec.claim.namespace == holder.namespace
        {
            holder = record.spec.claim;
        }
        if holder.uid.is_empty() {
            // Never tied to a claim this operator saw (written by hand, or restored by
            // `clusterctl move` before its claim): it waits for its claim to adopt it.
            continue;
        }
        if holders::lives(client, &holder).await? {
            // The claim lives (an address adopted after `clusterctl move`, say): its own
            // reconcile decides.
            continue;
        }
        tracing::info!(%pool, address = %address.spec.address, claim = %holder.name, "freeing an address whose claim is gone");
        let addresses = Api::<IPAddress>::namespaced(client.clone(), &holder.namespace);
        finalizers::remove_and_delete(&addresses, *address, ADDRESS_FINALIZER).await?;
        ledger.release(pool, &holder).await?;
        freed += 1;
    }
    Ok(freed)
}
