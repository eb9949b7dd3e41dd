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
pub async fn machine(client: &Client, claim: &IPAddressClaim) -> Option<String> {
    let ns = claim.namespace().unwrap_or_default();
    let mut owners = claim.owner_references().to_vec();
    for _ in 0..MAX_OWNER_DEPTH {
        let owner = owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or(owners.first())?
            .clone();
        if owner.kind == "Machine" && owner.api_version.starts_with("cluster.x-k8s.io/") {
            return Some(owner.name);
        }
        let (group, version) = owner
            .api_version
            .split_once('/')
            .unwrap_or(("", owner.api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &owner.kind);
        let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
        let object = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource)
            .get_opt(&owner.name)
            .await
            .ok()??;
        owners = object.owner_references().to_vec();
    }
    None
}
