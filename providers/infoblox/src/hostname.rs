//! The host record name of a claim (infoblox-wapi.md §1.3), which with the network view is
//! the key that finds a reservation again after a crash, and at release.

use ipam_kube_support::capi::IPAddressClaim;
use kube::core::{DynamicObject, GroupVersionKind};
use kube::{Api, Client, ResourceExt};

/// Where the name is kept once resolved, so release works after the Machine is gone.
pub const HOSTNAME_ANNOTATION: &str = "ipam.cluster.x-k8s.io/hostname";

const MAX_OWNER_DEPTH: usize = 5;

/// The name already recorded on the claim, if any.
pub fn recorded(claim: &IPAddressClaim) -> Option<String> {
    claim
        .annotations()
        .get(HOSTNAME_ANNOTATION)
        .filter(|n| !n.is_empty())
        .cloned()
}

/// The name: the claim's name without a DNS zone; with one, `machine` (the claim's Cluster API
/// Machine, [`machine`]), else the claim's name, plus `.<zone>`.
pub fn resolve(claim: &IPAddressClaim, zone: Option<&str>, machine: Option<&str>) -> String {
    let Some(zone) = zone else {
        return claim.name_any();
    };
    let base = machine.map_or_else(|| claim.name_any(), String::from);
    format!("{base}.{}", zone.trim_end_matches('.'))
}

/// The name of the Cluster API Machine found through the claim's owner references (depth ≤ 5).
/// `Ok(None)` when there is none: no owner leads to a Machine, or an owner on the way no
/// longer exists (or its kind is not served). An error when the API server could not be asked:
/// the caller retries, as `None` would be recorded for good as "the claim's alone".
pub async fn machine(
    client: &Client,
    claim: &IPAddressClaim,
) -> Result<Option<String>, kube::Error> {
    let ns = claim.namespace().unwrap_or_default();
    let mut owners = claim.owner_references().to_vec();
    for _ in 0..MAX_OWNER_DEPTH {
        let Some(owner) = owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or(owners.first())
            .cloned()
        else {
            return Ok(None);
        };
        if owner.kind == "Machine" && owner.api_version.starts_with("cluster.x-k8s.io/") {
            return Ok(Some(owner.name));
        }
        let (group, version) = owner
            .api_version
            .split_once('/')
            .unwrap_or(("", owner.api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &owner.kind);
        let resource = match kube::discovery::pinned_kind(client, &gvk).await {
            Ok((resource, _)) => resource,
            Err(e) if not_served(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(object) = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource)
            .get_opt(&owner.name)
            .await?
        else {
            return Ok(None);
        };
        owners = object.owner_references().to_vec();
    }
    Ok(None)
}

/// Whether discovery says the owner's kind is not served (its group or kind is not
/// installed), which no retry changes, as opposed to failing to ask.
fn not_served(e: &kube::Error) -> bool {
    use kube::error::DiscoveryError;
    match e {
        kube::Error::Api(s) => s.code == 404,
        kube::Error::Discovery(d) => matches!(
            d,
            DiscoveryError::MissingKind(_)
                | DiscoveryError::MissingApiGroup(_)
                | DiscoveryError::MissingResource(_)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim_owned_by(api_version: &str, kind: &str) -> IPAddressClaim {
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
            "metadata": {"name": "c", "namespace": "ns", "ownerReferences": [
                {"apiVersion": api_version, "kind": kind, "name": "m1", "uid": "u", "controller": true}]},
            "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p"}}
        }))
        .unwrap()
    }

    /// A client whose API server refuses every connection.
    fn unreachable() -> Client {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        Client::try_from(config).unwrap()
    }

    #[tokio::test]
    async fn a_lookup_that_cannot_ask_is_an_error_not_no_machine() {
        let client = unreachable();
        let direct = claim_owned_by("cluster.x-k8s.io/v1beta2", "Machine");
        assert_eq!(
            machine(&client, &direct).await.unwrap().as_deref(),
            Some("m1")
        );
        let via = claim_owned_by("infrastructure.cluster.x-k8s.io/v1beta1", "Metal3Machine");
        assert!(machine(&client, &via).await.is_err());
    }
}
