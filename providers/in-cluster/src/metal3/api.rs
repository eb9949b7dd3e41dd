//! Metal3's kinds (`ipam.metal3.io/v1alpha1`): IPPool, IPClaim and IPAddress, schema-compatible
//! with metal3-io/ip-address-manager so its manifests (and CAPM3's IPClaims) apply unchanged.
//! Added here, and only in status: conditions on pools and claims.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "ipam.metal3.io";
pub const POOL_FINALIZER: &str = "ippool.ipam.metal3.io";
pub const CLAIM_FINALIZER: &str = "ipclaim.ipam.metal3.io";
pub const ADDRESS_FINALIZER: &str = "ipaddress.ipam.metal3.io";
/// The address a claim asks for, on an IPClaim or a CAPI IPAddressClaim.
pub const IP_ADDRESS_ANNOTATION: &str = "ipAddress";
pub const PROVIDER_LABEL: &str = "cluster.x-k8s.io/provider";
pub const PROVIDER: &str = "ipam-metal3";

/// `IPAddressStr`: an IPv4 or IPv6 address; the engine and the webhook check it fully.
fn ip_address_str(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let _ = generator;
    schemars::json_schema!({"type": "string"})
}

/// One entry of `spec.pools`: consumed fully, in order, before the next.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// The first address of the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_address_str")]
    pub start: Option<String>,
    /// The last address of the entry (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_address_str")]
    pub end: Option<String>,
    /// The subnet bounding the entry; alone, it defines the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Overrides the pool's prefix for addresses of this entry.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 128))]
    pub prefix: i32,
    /// Overrides the pool's gateway for addresses of this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_address_str")]
    pub gateway: Option<String>,
    /// Overrides the pool's DNS servers for addresses of this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam.metal3.io",
    version = "v1alpha1",
    kind = "IPPool",
    namespaced,
    status = "IPPoolStatus",
    category = "cluster-api",
    shortname = "ipp",
    shortname = "ippool",
    shortname = "m3ipp",
    shortname = "m3ippool",
    shortname = "m3ippools",
    shortname = "metal3ipp",
    shortname = "metal3ippool",
    shortname = "metal3ippools",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolSpec {
    /// The Cluster this pool belongs to: it owns the pool (for `clusterctl move`) and
    /// pausing it pauses the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Address entries, used in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
    /// `sequential` (default) or `random`; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "allocation_strategy")]
    pub allocation_strategy: Option<String>,
    /// Claim name → the address kept for that claim (IPClaim or IPAddressClaim).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pre_allocations: BTreeMap<String, String>,
    /// The default prefix of the entries.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 128))]
    pub prefix: i32,
    /// The default gateway of the entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_address_str")]
    pub gateway: Option<String>,
    /// The default DNS servers of the entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
    /// Names the IPAddress objects: `<namePrefix>-<address>`. Immutable.
    #[schemars(length(min = 1))]
    pub name_prefix: String,
}

fn allocation_strategy(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["sequential", "random"], "default": "sequential"})
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolStatus {
    /// When `indexes` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Claim name → address, rebuilt from the IPAddresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<String, String>,
    /// Added here: `Ready` (can serve claims) and `Exhausted` (no free address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam.metal3.io",
    version = "v1alpha1",
    kind = "IPClaim",
    namespaced,
    status = "IPClaimStatus",
    category = "cluster-api",
    shortname = "ipc",
    shortname = "ipclaim",
    shortname = "m3ipc",
    shortname = "m3ipclaim",
    shortname = "m3ipclaims",
    shortname = "metal3ipc",
    shortname = "metal3ipclaim",
    shortname = "metal3ipclaims",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IPClaimSpec {
    /// The IPPool to allocate from; always in the claim's namespace.
    pub pool: ObjectReference,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPClaimStatus {
    /// The IPAddress allocated to this claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ObjectReference>,
    /// Why the claim has no address, in the upstream's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Added here: `Ready`, with a reason (`Allocated`, `PoolExhausted`, `AllocationFailed`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam.metal3.io",
    version = "v1alpha1",
    kind = "IPAddress",
    namespaced,
    category = "metal3",
    shortname = "ipa",
    shortname = "ipaddress",
    shortname = "m3ipa",
    shortname = "m3ipaddress",
    shortname = "m3ipaddresses",
    shortname = "metal3ipa",
    shortname = "metal3ipaddress",
    shortname = "metal3ipaddresses",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressSpec {
    /// The IPClaim this address is for.
    pub claim: ObjectReference,
    /// The IPPool it came from.
    pub pool: ObjectReference,
    /// The address.
    #[schemars(schema_with = "ip_address_str")]
    pub address: String,
    /// The prefix length of its network.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 128))]
    pub prefix: i32,
    /// The gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_address_str")]
    pub gateway: Option<String>,
    /// The DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
}

/// The IPAddress name for `address`: `<namePrefix>-<address>`, `.` and `:` turned into `-`,
/// trailing `-` trimmed, as Metal3 names it (so existing objects are found by name).
pub fn address_name(name_prefix: &str, address: &str) -> String {
    let text = address.replace(['.', ':'], "-");
    format!("{name_prefix}-{}", text.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_metal3() {
        assert_eq!(address_name("p", "192.168.0.13"), "p-192-168-0-13");
        assert_eq!(address_name("p", "fd00::1"), "p-fd00--1");
        assert_eq!(address_name("p", "1:2:3:4::"), "p-1-2-3-4");
    }
}
