//! `ipam.cluster.x-k8s.io/v1alpha1` InClusterIPPool and GlobalInClusterIPPool: the first
//! shape of the pools, still served (deprecated, never stored) so that manifests written for
//! it keep working. The API server stores v1alpha2 and asks the operator's conversion webhook
//! (`crate::conversion`) to translate each way.
//!
//! The fields are upstream's: a Go string left empty means "unset", so they are plain strings
//! that are left out when empty, as Go's `omitempty` writes them.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::pool::PoolStatus;

/// The v1alpha1 pool definition shared by both kinds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PoolSpecV1alpha1 {
    /// Addresses that can be handed out: single IPs, CIDRs or `first-last` ranges. May be
    /// omitted when `subnet`, or `start` and `end`, are set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,

    /// The subnet to hand addresses out of. Without `start` and `end`, every address of it
    /// but the first and the last.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = kube::core::Rule::new("isCIDR(self)").message("subnet must be a CIDR such as 10.0.0.0/24"))]
    pub subnet: String,

    /// The first address of the range to hand out (the subnet's second one when unset).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = kube::core::Rule::new("isIP(self)").message("start must be an IP address"))]
    pub start: String,

    /// The last address of the range to hand out (the subnet's last but one when unset).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = kube::core::Rule::new("isIP(self)").message("end must be an IP address"))]
    pub end: String,

    /// The subnet length written to each IPAddress; the subnet's when unset.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 128))]
    pub prefix: i32,

    /// The gateway written to each IPAddress. Never handed out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1alpha1",
    kind = "InClusterIPPool",
    namespaced,
    status = "PoolStatus",
    category = "cluster-api",
    deprecated,
    label("clusterctl.cluster.x-k8s.io/move-hierarchy", ""),
    label("cluster.x-k8s.io/v1beta1", "v1alpha2"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha2"),
    printcolumn(
        name = "Subnet",
        type_ = "string",
        json_path = ".spec.subnet",
        description = "Subnet to allocate IPs from"
    ),
    printcolumn(
        name = "First",
        type_ = "string",
        json_path = ".spec.start",
        description = "First address of the range to allocate from"
    ),
    printcolumn(
        name = "Last",
        type_ = "string",
        json_path = ".spec.end",
        description = "Last address of the range to allocate from"
    ),
    printcolumn(
        name = "Addresses",
        type_ = "string",
        json_path = ".spec.addresses",
        description = "List of addresses, within the subnet, to allocate from"
    ),
    printcolumn(
        name = "Total",
        type_ = "integer",
        json_path = ".status.ipAddresses.total",
        description = "Count of IPs configured for the pool"
    ),
    printcolumn(
        name = "Free",
        type_ = "integer",
        json_path = ".status.ipAddresses.free",
        description = "Count of unallocated IPs in the pool"
    ),
    printcolumn(
        name = "Used",
        type_ = "integer",
        json_path = ".status.ipAddresses.used",
        description = "Count of allocated IPs in the pool"
    )
)]
pub struct InClusterIPPoolSpec {
    #[serde(flatten)]
    pub pool: PoolSpecV1alpha1,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1alpha1",
    kind = "GlobalInClusterIPPool",
    status = "PoolStatus",
    category = "cluster-api",
    deprecated,
    label("clusterctl.cluster.x-k8s.io/move-hierarchy", ""),
    label("cluster.x-k8s.io/v1beta1", "v1alpha2"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha2"),
    printcolumn(
        name = "Subnet",
        type_ = "string",
        json_path = ".spec.subnet",
        description = "Subnet to allocate IPs from"
    ),
    printcolumn(
        name = "First",
        type_ = "string",
        json_path = ".spec.start",
        description = "First address of the range to allocate from"
    ),
    printcolumn(
        name = "Last",
        type_ = "string",
        json_path = ".spec.end",
        description = "Last address of the range to allocate from"
    ),
    printcolumn(
        name = "Total",
        type_ = "integer",
        json_path = ".status.ipAddresses.total",
        description = "Count of IPs configured for the pool"
    ),
    printcolumn(
        name = "Free",
        type_ = "integer",
        json_path = ".status.ipAddresses.free",
        description = "Count of unallocated IPs in the pool"
    ),
    printcolumn(
        name = "Used",
        type_ = "integer",
        json_path = ".status.ipAddresses.used",
        description = "Count of allocated IPs in the pool"
    )
)]
pub struct GlobalInClusterIPPoolSpec {
    #[serde(flatten)]
    pub pool: PoolSpecV1alpha1,
}
