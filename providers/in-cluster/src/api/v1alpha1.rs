//! `ipam.cluster.x-k8s.io/v1alpha1` InClusterIPPool and GlobalInClusterIPPool: the first
//! shape of the pools, still served (deprecated, never stored) so that manifests written for
//! it keep working. The API server stores v1alpha2 and asks the operator's conversion webhook
//! (`crate::conversion`) to translate each way.
//!
//! The fields are upstream's: a Go string left empty means "unset", so they are plain strings
//! that are left out when empty, as Go's `omitempty` writes them.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

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

// Upstream's First and Last columns read `.spec.first` and `.spec.last`, which do not exist;
// these read the fields.
super::kinds::pool_kinds! {
    version: "v1alpha1",
    pool: PoolSpecV1alpha1,
    namespaced: "InClusterIPPool" => InClusterIPPoolSpec,
    global: "GlobalInClusterIPPool" => GlobalInClusterIPPoolSpec,
    flags: [deprecated],
    columns: [
        printcolumn(name = "Subnet", type_ = "string", json_path = ".spec.subnet",
            description = "Subnet to allocate IPs from"),
        printcolumn(name = "First", type_ = "string", json_path = ".spec.start",
            description = "First address of the range to allocate from"),
        printcolumn(name = "Last", type_ = "string", json_path = ".spec.end",
            description = "Last address of the range to allocate from"),
    ],
    namespaced_columns: [
        printcolumn(name = "Addresses", type_ = "string", json_path = ".spec.addresses",
            description = "List of addresses, within the subnet, to allocate from"),
    ],
    counts: [
        "Count of IPs configured for the pool",
        "Count of unallocated IPs in the pool",
        "Count of allocated IPs in the pool",
    ],
}
