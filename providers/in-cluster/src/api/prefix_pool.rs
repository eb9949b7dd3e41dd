//! InClusterPrefixPool (namespaced) and GlobalInClusterPrefixPool (cluster-scoped): pools of
//! sub-prefixes, schema-compatible with the in-cluster provider v1.1. Each claim is to get one
//! block of `allocationPrefixLength`, lowest free first (`ipam_engine::PrefixAllocator`).
//! IPv4 prefixes are taken too, which upstream refuses.
//!
//! Served by the pool controller (status counted in blocks, deletion protection), the claim
//! controller (an IPAddress per claim: the block's first address and its length) and the
//! admission webhook (`crate::webhook::prefix`).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// The prefix pool definition shared by both kinds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrefixPoolSpec {
    /// The network-aligned CIDRs blocks are cut from (e.g. `fd00::/48`, or `10.0.0.0/24`),
    /// each no longer than `allocationPrefixLength`, all of one family.
    pub prefixes: Vec<String>,

    /// The length of each block handed out (64: /64s). Immutable.
    #[serde(default = "default_length")]
    #[schemars(range(min = 1, max = 128))]
    pub allocation_prefix_length: i32,

    /// The gateway written to each IPAddress. Informational: it keeps no block from being
    /// handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,

    /// IPs, CIDRs or `first-last` ranges no block handed out may touch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_prefixes: Vec<String>,
}

impl Default for PrefixPoolSpec {
    fn default() -> Self {
        PrefixPoolSpec {
            prefixes: Vec::new(),
            allocation_prefix_length: default_length(),
            gateway: None,
            excluded_prefixes: Vec::new(),
        }
    }
}

fn default_length() -> i32 {
    ipam_engine::DEFAULT_ALLOCATION_PREFIX_LENGTH as i32
}

/// The prefix pool kinds, as a pool reference names them.
pub const KINDS: [&str; 2] = ["InClusterPrefixPool", "GlobalInClusterPrefixPool"];

/// Whether a pool reference's group and kind name a prefix pool.
pub fn is_prefix_kind(group: &str, kind: &str) -> bool {
    group == super::GROUP && KINDS.contains(&kind)
}

impl PrefixPoolSpec {
    /// The spec as the engine reads it.
    pub fn engine(&self) -> ipam_engine::PrefixSpec {
        ipam_engine::PrefixSpec {
            prefixes: self.prefixes.clone(),
            allocation_prefix_length: i64::from(self.allocation_prefix_length),
            gateway: self.gateway.clone(),
            excluded_prefixes: self.excluded_prefixes.clone(),
        }
    }
}

super::kinds::pool_kinds! {
    version: "v1alpha2",
    pool: PrefixPoolSpec,
    namespaced: "InClusterPrefixPool" => InClusterPrefixPoolSpec,
    global: "GlobalInClusterPrefixPool" => GlobalInClusterPrefixPoolSpec,
    flags: [],
    columns: [
        printcolumn(name = "Prefixes", type_ = "string", json_path = ".spec.prefixes",
            description = "List of prefixes to allocate sub-prefixes from"),
    ],
    namespaced_columns: [],
    counts: [
        "Count of allocatable sub-prefixes in the pool",
        "Count of unallocated sub-prefixes in the pool",
        "Count of allocated sub-prefixes in the pool",
    ],
}
