//! The metadata every backend gives a Cluster API IPAddress: owner references to its claim
//! (controller) and its pool, the labels copied from the claim, the protecting finalizer;
//! and the adoption of an IPAddress that exists already, whose spec is immutable.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::capi::keys::{ADDRESS_FINALIZER, CLUSTER_NAME_LABEL};
use crate::capi::{IPAddress, IPAddressClaim};
use crate::finalizers;

/// Label that confines a controller to the objects carrying it (`--watch-filter`); an
/// IPAddress carries its claim's, so the same controller sees it.
pub const WATCH_FILTER_LABEL: &str = "cluster.x-k8s.io/watch-filter";

/// The claim's labels an IPAddress carries too.
pub fn copied_labels(claim: &IPAddressClaim) -> BTreeMap<String, String> {
    claim
        .labels()
        .iter()
        .filter(|(k, _)| k.as_str() == CLUSTER_NAME_LABEL || k.as_str() == WATCH_FILTER_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The claim as controller (deleting the claim deletes the address) and the pool as a
/// blocking, non-controller owner, as the contract asks.
pub fn owner_references(
    claim: &IPAddressClaim,
    pool: Option<OwnerReference>,
) -> Vec<OwnerReference> {
    let mut owners = vec![OwnerReference {
        api_version: IPAddressClaim::api_version(&()).into(),
        kind: IPAddressClaim::kind(&()).into(),
        name: claim.name_any(),
        uid: claim.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }];
    if let Some(mut owner) = pool {
        owner.controller = Some(false);
        owner.block_owner_deletion = Some(true);
        owners.push(owner);
    }
    owners
}

/// Gives an existing IPAddress (restored by `clusterctl move`, or written by an earlier pass)
/// the owners, labels and finalizer it lacks, keeping whatever else it has and never touching
/// its spec. Guarded by its resourceVersion.
pub async fn adopt(
    client: &kube::Client,
    existing: &IPAddress,
    mut owners: Vec<OwnerReference>,
    labels: BTreeMap<String, String>,
) -> kube::Result<()> {
    let has_owners = owners
        .iter()
        .all(|w| existing.owner_references().iter().any(|o| o.uid == w.uid));
    let has_labels = labels
        .iter()
        .all(|(k, v)| existing.labels().get(k) == Some(v));
    if has_owners && has_labels && finalizers::has(existing, ADDRESS_FINALIZER) {
        return Ok(());
    }
    for owner in existing.owner_references() {
        if !owners.iter().any(|w| w.uid == owner.uid) {
            owners.push(owner.clone());
        }
    }
    let mut finalizers = existing.finalizers().to_vec();
    if !finalizers.iter().any(|f| f == ADDRESS_FINALIZER) {
        finalizers.push(ADDRESS_FINALIZER.into());
    }
    let patch = json!({"metadata": {
        "resourceVersion": existing.resource_version(),
        "labels": labels,
        "finalizers": finalizers,
        "ownerReferences": owners,
    }});
    Api::<IPAddress>::namespaced(client.clone(), &existing.namespace().unwrap_or_default())
        .patch(
            &existing.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ())
}
