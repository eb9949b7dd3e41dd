//! Cluster API's IPAddressClaim and IPAddress (`ipam.cluster.x-k8s.io/v1beta2`), used by every
//! backend.
//!
//! Cluster API installs these CRDs; the types here carry no schema of their own. A v1beta1
//! object is read through the API server, which converts it to v1beta2.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// A typed reference to a pool, without namespace: a namespaced pool is always in the
/// claim's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct PoolReference {
    #[serde(default)]
    pub api_group: String,
    pub kind: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalReference {
    pub name: String,
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "IPAddressClaim",
    namespaced,
    status = "IPAddressClaimStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressClaimSpec {
    /// The Cluster the claim belongs to; the `cluster.x-k8s.io/cluster-name` label is the
    /// older way to say the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    pub pool_ref: PoolReference,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressClaimStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_ref: Option<LocalReference>,
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "IPAddress",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressSpec {
    pub claim_ref: LocalReference,
    pub pool_ref: PoolReference,
    pub address: String,
    pub prefix: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// Labels, annotations and finalizers of the contract and of the in-cluster provider.
pub mod keys {
    pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
    pub const PAUSED_ANNOTATION: &str = "cluster.x-k8s.io/paused";
    pub const CLAIM_FINALIZER: &str = "ipam.cluster.x-k8s.io/ReleaseAddress";
    pub const ADDRESS_FINALIZER: &str = "ipam.cluster.x-k8s.io/ProtectAddress";
    pub const POOL_FINALIZER: &str = "ipam.cluster.x-k8s.io/ProtectPool";
    pub const SKIP_DELETE_VALIDATION_ANNOTATION: &str =
        "ipam.cluster.x-k8s.io/skip-validate-delete-webhook";
    pub const DELETE_FOR_MOVE_ANNOTATION: &str = "clusterctl.cluster.x-k8s.io/delete-for-move";
}
