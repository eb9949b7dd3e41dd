//! ClusterIPAM: the result of a claim, named like it and owned by it.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::cluster_ipam_claim::IpamProviderName;

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "k0rdent.mirantis.com",
    version = "v1beta1",
    kind = "ClusterIPAM",
    namespaced,
    status = "ClusterIPAMStatus",
    printcolumn(name = "phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(oldSelf.clusterIPAMClaimRef) || oldSelf.clusterIPAMClaimRef == '' || (has(self.clusterIPAMClaimRef) && self.clusterIPAMClaimRef == oldSelf.clusterIPAMClaimRef)"
).message("Claim reference is immutable once set"))]
#[serde(rename_all = "camelCase")]
pub struct ClusterIPAMSpec {
    /// The backend the claim asked for when this was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<IpamProviderName>,

    /// The claim this ClusterIPAM belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "clusterIPAMClaimRef")]
    pub cluster_ipam_claim_ref: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ClusterIPAMPhase {
    Pending,
    Bound,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIPAMStatus {
    /// `Bound` once every requested network is usable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ClusterIPAMPhase>,

    /// One entry per requested network: the node network is `ipPool`, as in kcm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_data: Vec<ClusterIPAMProviderData>,

    /// Conditions, one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// What a template needs to use one network: in kcm's shape, `config` is a typed local
/// object reference to the pool (`apiGroup`, `kind`, `name`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
pub struct ClusterIPAMProviderData {
    pub name: String,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::any_json")]
    pub config: Option<serde_json::Value>,

    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
}
