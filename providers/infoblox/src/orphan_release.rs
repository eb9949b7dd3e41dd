//! Release of a claim whose InfobloxIPPool is gone. The pool carries a finalizer, so this only
//! happens when someone strips it; the reservation must still not leak. The claim's recorded
//! [`Location`] names the instance and network view, its host name finds the reservation, and
//! only the claim's own address (from its IPAddress) is freed: a host record that the v4 and
//! the v6 claim of one Machine share keeps the other claim's address, and one that another
//! claim's owner mark names is left alone ([`crate::release_plan`]). Without the IPAddress
//! (gone after an earlier pass freed the address, or never written) nothing is freed: an
//! empty search means there is nothing left, anything found is reported instead.

use ipam_kube_support::capi::IPAddressClaim;
use kube::{Api, Client};

use crate::api::InfobloxInstance;
use crate::location::Location;
use crate::release_plan::Freed;
use crate::{connect, name_lock, release_plan, sharing};

/// Frees `address` (the claim's IPAddress, when it still exists) of the reservation named
/// `host` at `location`, if it is `claim`'s or its Machine's ([`crate::owner`]) or unmarked.
pub async fn release(
    client: &Client,
    secret_namespace: &str,
    location: &Location,
    claim: &IPAddressClaim,
    host: &str,
    address: Option<&str>,
) -> Result<Freed, kube::Error> {
    let what = location.kind.describe();
    let nv = &location.network_view;
    let Some(instance) = Api::<InfobloxInstance>::all(client.clone())
        .get_opt(&location.instance)
        .await?
    else {
        return Ok(Freed::Skipped(format!(
            "the InfobloxIPPool and InfobloxInstance {} are both gone, so {what} {host} in network view {nv} could not be freed; delete it in Infoblox if it remains",
            location.instance
        )));
    };
    let failed = |e: &dyn std::fmt::Display| {
        Freed::Failed(format!(
            "cannot release {what} {host} in network view {nv} (InfobloxInstance {}; the pool is gone): {e}; retrying",
            location.instance
        ))
    };
    let wapi = match connect::client_for(client, &instance, secret_namespace).await {
        Ok(w) => w,
        Err(e) => return Ok(failed(&e)),
    };
    // A PUT replaces the address lists: no other claim of the Machine may add its address
    // between this read and that write.
    let _deciding = name_lock::lock(wapi.endpoint(), nv, host).await;
    let records = match wapi.find_reservations(location.kind, host, nv).await {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let Some(address) = address else {
        if records.is_empty() {
            return Ok(Freed::Done);
        }
        let held: Vec<&str> = records
            .iter()
            .flat_map(|r| r.addresses.iter().map(String::as_str))
            .collect();
        return Ok(Freed::Skipped(format!(
            "the InfobloxIPPool and the claim's IPAddress are gone, so which address of {what} {host} in network view {nv} (holding {}) was this claim's is unknown; none was freed, delete it in Infoblox if it is no longer used",
            held.join(", ")
        )));
    };
    let me = sharing::claimant(claim, location.kind, &[]);
    for record in &records {
        let Some(keep) = release_plan::keep(record, &me, Some(address), &[], &[]) else {
            continue;
        };
        if let Err(e) = wapi.release(record, &keep).await {
            return Ok(failed(&e));
        }
        tracing::info!(host, address, network_view = %nv, kind = what, "released in Infoblox without the pool");
    }
    Ok(Freed::Done)
}
