//! The Cluster API `Cluster` a claim belongs to: missing or paused Clusters hold allocation
//! (CAPI IPAM contract §5.2), and a paused one holds release (§5.3).

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client, ResourceExt};

use crate::capi::IPAddressClaim;
use crate::capi::keys::{CLUSTER_NAME_LABEL, PAUSED_ANNOTATION};
use crate::claim_outcome::Outcome;

pub enum ClusterState {
    /// No Cluster named, or the named one exists and is not paused.
    Usable,
    Missing(String),
    Paused(String),
}

/// The Cluster's name: `spec.clusterName`, else the `cluster.x-k8s.io/cluster-name` label.
pub fn cluster_name(claim: &IPAddressClaim) -> Option<String> {
    claim
        .spec
        .cluster_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            claim
                .labels()
                .get(CLUSTER_NAME_LABEL)
                .cloned()
                .filter(|n| !n.is_empty())
        })
}

/// The `Cluster` kind as served (v1beta2, else v1beta1), if its CRD is installed.
pub async fn discover(client: &Client) -> Option<ApiResource> {
    for version in ["v1beta2", "v1beta1"] {
        let gvk = GroupVersionKind::gvk("cluster.x-k8s.io", version, "Cluster");
        if let Ok((resource, _)) = kube::discovery::pinned_kind(client, &gvk).await {
            return Some(resource);
        }
    }
    None
}

/// Whether the claim's Cluster lets it allocate; `clusters` is [`discover`]'s answer.
pub async fn state(
    client: &Client,
    clusters: Option<&ApiResource>,
    claim: &IPAddressClaim,
) -> kube::Result<ClusterState> {
    let Some(name) = cluster_name(claim) else {
        return Ok(ClusterState::Usable);
    };
    let Some(resource) = clusters else {
        return Ok(ClusterState::Missing(name));
    };
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &claim.namespace().unwrap_or_default(),
        resource,
    );
    Ok(match api.get_opt(&name).await? {
        None => ClusterState::Missing(name),
        Some(cluster) => {
            let paused = cluster
                .data
                .pointer("/spec/paused")
                .and_then(|p| p.as_bool())
                .unwrap_or(false);
            if paused || cluster.annotations().contains_key(PAUSED_ANNOTATION) {
                ClusterState::Paused(name)
            } else {
                ClusterState::Usable
            }
        }
    })
}

/// What a claim shows while its Cluster holds allocation; `None` when it does not.
pub fn hold(state: &ClusterState, namespace: &str) -> Option<Outcome> {
    match state {
        ClusterState::Usable => None,
        ClusterState::Missing(name) => Some(Outcome::waiting(
            "ClusterNotFound",
            format!("waiting for Cluster {namespace}/{name} to exist"),
        )),
        ClusterState::Paused(name) => Some(Outcome::waiting(
            "ClusterPaused",
            format!("Cluster {namespace}/{name} is paused; allocation waits until it resumes"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_paused_cluster_holds_allocation_and_says_which() {
        assert_eq!(hold(&ClusterState::Usable, "ns"), None);
        let missing = hold(&ClusterState::Missing("wl".into()), "ns").unwrap();
        assert_eq!(missing.reason(), Some("ClusterNotFound"));
        assert!(missing.ready.unwrap().message.contains("ns/wl"));
        let paused = hold(&ClusterState::Paused("wl".into()), "ns").unwrap();
        assert_eq!(paused.reason(), Some("ClusterPaused"));
    }
}
