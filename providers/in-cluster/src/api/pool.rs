//! InClusterIPPool (namespaced) and GlobalInClusterIPPool (cluster-scoped): one spec, two
//! scopes, as in the in-cluster provider.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The pool definition shared by both kinds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolSpec {
    /// The addresses to hand out: single IPs, CIDRs (host bits ignored) or `first-last`
    /// ranges. They may be non-contiguous but must lie in one subnet of `prefix`.
    pub addresses: Vec<String>,

    /// The subnet length written to each IPAddress; also decides the reserved addresses.
    #[schemars(range(min = 0, max = 128))]
    pub prefix: i32,

    /// The gateway written to each IPAddress. Never handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,

    /// Hand out the subnet's network and broadcast addresses (IPv4) or its first address (IPv6)
    /// too. The gateway stays excluded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[serde(rename = "allocateReservedIPAddresses")]
    pub allocate_reserved_ip_addresses: bool,

    /// Addresses never handed out, in the syntax of `addresses`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_addresses: Vec<String>,

    /// How long a released address stays unavailable, counted from the claim's deletion, so
    /// ARP caches forget it before another machine takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub address_reuse_grace_period_seconds: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    /// Address counts; the upstream's only status field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<AddressCounts>,

    /// Conditions, one per type: `Ready` says whether the pool can serve claims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Counts capped at the largest int64, as the upstream writes them.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct AddressCounts {
    /// Addresses the pool can hand out, after exclusions, reserved addresses and the gateway.
    pub total: i64,
    /// IPAddresses that reference the pool, out-of-range ones included.
    pub used: i64,
    /// Addresses still free to hand out.
    pub free: i64,
    /// IPAddresses of the pool whose address the pool no longer contains.
    pub out_of_range: i64,
}

/// The two pool kinds differ only in their name and scope: one definition serves both.
macro_rules! pool_kind {
    ($spec:ident, $kind:literal $(, $scope:ident)?) => {
        #[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
        #[kube(
            group = "ipam.cluster.x-k8s.io",
            version = "v1alpha2",
            kind = $kind,
            $($scope,)?
            status = "PoolStatus",
            category = "cluster-api",
            label("clusterctl.cluster.x-k8s.io/move-hierarchy", ""),
            label("cluster.x-k8s.io/v1beta1", "v1alpha2"),
            label("cluster.x-k8s.io/v1beta2", "v1alpha2"),
            printcolumn(
                name = "Addresses",
                type_ = "string",
                json_path = ".spec.addresses",
                description = "List of addresses, to allocate from"
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
        pub struct $spec {
            #[serde(flatten)]
            pub pool: PoolSpec,
        }
    };
}

pool_kind!(InClusterIPPoolSpec, "InClusterIPPool", namespaced);
pool_kind!(GlobalInClusterIPPoolSpec, "GlobalInClusterIPPool");
