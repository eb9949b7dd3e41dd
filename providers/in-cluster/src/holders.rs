//! Whether the claim an address or a record names still exists.

use kube::{Api, Client, ResourceExt};

use crate::api::allocation::ClaimIdentity;
use crate::api::capi::IPAddressClaim;
use crate::metal3::api::IPClaim;

/// Whether this very claim (same uid, read live: a cache may not have the newest claims yet)
/// still exists. A claim of a kind this operator does not serve is taken to live: what it
/// holds is not ours to free.
pub async fn lives(client: &Client, claim: &ClaimIdentity) -> Result<bool, kube::Error> {
    let ns = &claim.namespace;
    let uid = match claim.kind.as_str() {
        "IPAddressClaim" => Api::<IPAddressClaim>::namespaced(client.clone(), ns)
            .get_opt(&claim.name)
            .await?
            .and_then(|c| c.uid()),
        "IPClaim" => Api::<IPClaim>::namespaced(client.clone(), ns)
            .get_opt(&claim.name)
            .await?
            .and_then(|c| c.uid()),
        _ => return Ok(true),
    };
    Ok(uid.as_deref() == Some(claim.uid.as_str()))
}
