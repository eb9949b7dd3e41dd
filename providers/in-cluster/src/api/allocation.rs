//! AddressAllocation: the record that makes one address of one pool impossible to hand out
//! twice, across workers, restarts and operator replicas.
//!
//! Its name is derived from the address and the space it is unique in (the pool's namespace,
//! or the cluster for global pools) alone, so the API server refuses a second record for the
//! same address with 409 AlreadyExists: whoever creates it first holds the address, whichever
//! pool of that space it came from. The IPAddress a claim receives is written only after its record exists.
//! Cluster-scoped, because global pools serve claims from every namespace.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use std::net::IpAddr;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::pool_key::PoolKey;

/// Label holding the pool's digest, to list one pool's records.
pub const POOL_LABEL: &str = "ipam-operator.io/pool";
/// Label holding the digest of the pool's address space, to list every record that competes
/// for the same addresses.
pub const SPACE_LABEL: &str = "ipam-operator.io/address-space";
/// Label holding the claim's uid, to find what a claim holds.
pub const CLAIM_UID_LABEL: &str = "ipam-operator.io/claim-uid";

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam-operator.io",
    version = "v1alpha1",
    kind = "AddressAllocation",
    printcolumn(name = "Address", type_ = "string", json_path = ".spec.address"),
    printcolumn(name = "Pool Kind", type_ = "string", json_path = ".spec.pool.kind"),
    printcolumn(name = "Pool", type_ = "string", json_path = ".spec.pool.name"),
    printcolumn(
        name = "Claim Namespace",
        type_ = "string",
        json_path = ".spec.claim.namespace"
    ),
    printcolumn(name = "Claim", type_ = "string", json_path = ".spec.claim.name"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AddressAllocationSpec {
    pub pool: PoolIdentity,
    pub address: String,
    pub claim: ClaimIdentity,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolIdentity {
    pub api_group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// The claim holding the address. The uid tells a claim from a later one of the same name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimIdentity {
    pub api_group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// How messages name the claim: `IPAddressClaim ns/c`.
impl std::fmt::Display for ClaimIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl ClaimIdentity {
    /// The key the engine knows this claim by: kind-qualified, so claims of different APIs on
    /// one pool never share a key.
    pub fn engine_key(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

impl AddressAllocation {
    /// The record saying that `claim` holds `address` of `pool`, named and labelled so that
    /// the API server refuses a second one and a pool's or a claim's records can be listed.
    pub fn of(pool: &PoolKey, address: IpAddr, claim: &ClaimIdentity) -> Self {
        AddressAllocation {
            metadata: kube::api::ObjectMeta {
                name: Some(allocation_name(pool, address)),
                labels: Some(
                    [
                        (POOL_LABEL.to_string(), pool.digest()),
                        (SPACE_LABEL.to_string(), pool.address_space()),
                        (CLAIM_UID_LABEL.to_string(), claim.uid.clone()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: AddressAllocationSpec {
                pool: pool.identity(),
                address: address.to_string(),
                claim: claim.clone(),
            },
        }
    }
}

/// The record's name: the digest of the pool's address space and the address in hex (IPv6
/// colons are not allowed in names). Not the pool's own digest: pools of one space must not
/// hand out the same address (see [`PoolKey::address_space`]).
pub fn allocation_name(pool: &PoolKey, address: IpAddr) -> String {
    let address = match address {
        IpAddr::V4(v4) => format!("{:08x}", u32::from(v4)),
        IpAddr::V6(v6) => format!("{:032x}", u128::from(v6)),
    };
    format!("{}-{address}", pool.address_space())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_by_address_space_and_address_and_are_valid_object_names() {
        let a = PoolKey::namespaced("ipam.cluster.x-k8s.io", "InClusterIPPool", "ns1", "pool");
        let b = PoolKey::namespaced("ipam.cluster.x-k8s.io", "InClusterIPPool", "ns2", "pool");
        let g = PoolKey::global("ipam.cluster.x-k8s.io", "GlobalInClusterIPPool", "pool");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let ip6: IpAddr = "fd00::1".parse().unwrap();
        let names = [
            allocation_name(&a, ip),
            allocation_name(&b, ip),
            allocation_name(&g, ip),
            allocation_name(&a, ip6),
        ];
        for (i, n) in names.iter().enumerate() {
            assert!(
                n.len() <= 63
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            for m in &names[i + 1..] {
                assert_ne!(n, m);
            }
        }
        assert_eq!(
            allocation_name(&a, ip),
            allocation_name(&a, "10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn pools_of_one_namespace_share_names_whatever_their_kind() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let in_cluster =
            PoolKey::namespaced("ipam.cluster.x-k8s.io", "InClusterIPPool", "ns1", "a");
        let other = PoolKey::namespaced("ipam.cluster.x-k8s.io", "InClusterIPPool", "ns1", "b");
        let metal3 = PoolKey::namespaced("ipam.metal3.io", "IPPool", "ns1", "c");
        let global_a = PoolKey::global("ipam.cluster.x-k8s.io", "GlobalInClusterIPPool", "a");
        let global_b = PoolKey::global("ipam.cluster.x-k8s.io", "GlobalInClusterIPPool", "b");
        assert_eq!(
            allocation_name(&in_cluster, ip),
            allocation_name(&other, ip)
        );
        assert_eq!(
            allocation_name(&in_cluster, ip),
            allocation_name(&metal3, ip)
        );
        assert_eq!(
            allocation_name(&global_a, ip),
            allocation_name(&global_b, ip)
        );
        assert_ne!(
            allocation_name(&in_cluster, ip),
            allocation_name(&global_a, ip)
        );
    }

    #[test]
    fn prefix_pools_share_names_among_themselves_not_with_address_pools() {
        let ip: IpAddr = "fd00::".parse().unwrap();
        let group = "ipam.cluster.x-k8s.io";
        let addresses = PoolKey::namespaced(group, "InClusterIPPool", "ns1", "a");
        let blocks = PoolKey::namespaced(group, "InClusterPrefixPool", "ns1", "b");
        let other_blocks = PoolKey::namespaced(group, "InClusterPrefixPool", "ns1", "c");
        let global_blocks = PoolKey::global(group, "GlobalInClusterPrefixPool", "g");
        let global_addresses = PoolKey::global(group, "GlobalInClusterIPPool", "g");
        assert_eq!(
            allocation_name(&blocks, ip),
            allocation_name(&other_blocks, ip)
        );
        assert_ne!(
            allocation_name(&blocks, ip),
            allocation_name(&addresses, ip)
        );
        assert_ne!(
            allocation_name(&global_blocks, ip),
            allocation_name(&global_addresses, ip)
        );
        assert_ne!(
            allocation_name(&global_blocks, ip),
            allocation_name(&blocks, ip)
        );
    }
}
