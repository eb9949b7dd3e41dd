//! ClusterIPAMClaim: a request for the address spaces a ClusterDeployment's nodes use.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Which backend serves a claim. The wire names are k0rdent's.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum IpamProviderName {
    #[serde(rename = "in-cluster")]
    InCluster,
    #[serde(rename = "ipam-infoblox")]
    Infoblox,
}

impl IpamProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            IpamProviderName::InCluster => "in-cluster",
            IpamProviderName::Infoblox => "ipam-infoblox",
        }
    }
}

impl std::fmt::Display for IpamProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The spec is shared verbatim by `ClusterDeployment.spec.ipamClaim.spec`, rules included.
///
/// kcm guards `cluster` and `clusterIPAMRef` with rules on the fields themselves, which never
/// run when a field is removed, so "clear it, then set another value" slipped through. The
/// rules here sit on the spec, where a removal is visible.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "k0rdent.mirantis.com",
    version = "v1beta1",
    kind = "ClusterIPAMClaim",
    namespaced,
    status = "ClusterIPAMClaimStatus",
    annotation("helm.sh/resource-policy", "keep"),
    printcolumn(name = "bound", type_ = "string", json_path = ".status.bound"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(oldSelf.cluster) || oldSelf.cluster == '' || (has(self.cluster) && self.cluster == oldSelf.cluster)"
).message("Cluster reference is immutable once set"))]
#[x_kube(validation = Rule::new(
    "!has(oldSelf.clusterIPAMRef) || oldSelf.clusterIPAMRef == '' || (has(self.clusterIPAMRef) && self.clusterIPAMRef == oldSelf.clusterIPAMRef)"
).message("ClusterIPAM reference is immutable once set"))]
#[serde(rename_all = "camelCase")]
pub struct ClusterIPAMClaimSpec {
    /// The backend that serves this claim: `in-cluster` or `ipam-infoblox`. May change; the
    /// claim then binds through the new backend.
    pub provider: IpamProviderName,

    /// The ClusterDeployment this claim is for. Required for a claim a deployment refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,

    /// The ClusterIPAM that carries the result; written by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "clusterIPAMRef")]
    pub cluster_ipam_ref: Option<String>,

    /// Addresses for the cluster's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_network: Option<AddressSpaceSpec>,

    /// Addresses for the cluster's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_network: Option<AddressSpaceSpec>,

    /// Addresses for the cluster's externally reachable services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_network: Option<AddressSpaceSpec>,
}

/// One address space: a CIDR, or a list of addresses, with its gateway and prefix.
///
/// Go clients of kcm write unset networks as `{}`, so an empty object means "not requested";
/// anything else must say where its addresses are.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[x_kube(validation = Rule::new(
    "(has(self.cidr) && self.cidr != '') != (has(self.ipAddresses) && size(self.ipAddresses) > 0) || (!has(self.gateway) && !has(self.prefix) && !has(self.cidr) && !has(self.ipAddresses))"
).message("cidr and ipAddresses are mutually exclusive: set exactly one of them"))]
#[serde(rename_all = "camelCase")]
pub struct AddressSpaceSpec {
    /// The gateway of the address space; never handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == '' || isIP(self)").message("gateway must be an IP address"))]
    pub gateway: Option<String>,

    /// The whole address space as a CIDR, e.g. `10.0.0.0/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == '' || isCIDR(self)").message("cidr must be a CIDR such as 10.0.0.0/24"))]
    pub cidr: Option<String>,

    /// Explicit addresses: single IPs, `a-b` ranges or CIDRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<String>>,

    /// The network prefix length of the addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 128))]
    pub prefix: Option<i32>,
}

impl AddressSpaceSpec {
    /// kcm writes unset networks as `{}`; such a network is not requested.
    pub fn is_requested(&self) -> bool {
        self.cidr.as_deref().is_some_and(|c| !c.is_empty())
            || self.ip_addresses.as_ref().is_some_and(|a| !a.is_empty())
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIPAMClaimStatus {
    /// Conditions, one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// True once every requested network has a ready pool with room for the deployment.
    #[serde(default)]
    pub bound: bool,
}
