//! The kinds this backend reads and writes.
//!
//! - `ipam.cluster.x-k8s.io/v1alpha2` InClusterIPPool and GlobalInClusterIPPool: served here,
//!   schema-compatible with cluster-api-ipam-provider-in-cluster.
//!   Their v1alpha1 shape (`v1alpha1.rs`) is served too, converted by `crate::conversion`.
//! - `ipam.cluster.x-k8s.io/v1alpha2` InClusterPrefixPool and GlobalInClusterPrefixPool
//!   (`prefix_pool.rs`): pools of sub-prefixes.
//! - `ipam.cluster.x-k8s.io/v1beta2` IPAddressClaim and IPAddress: owned by Cluster API;
//!   this crate only reads and writes them.
//! - AddressAllocation: this operator's own record that makes an address impossible to hand
//!   out twice (see `allocation.rs`).

pub mod allocation;
pub mod capi;
mod kinds;
pub mod pool;
pub mod prefix_pool;
pub mod v1alpha1;

pub use allocation::{AddressAllocation, AddressAllocationSpec};
pub use capi::{IPAddress, IPAddressClaim, IPAddressClaimSpec, IPAddressSpec, PoolReference};
pub use pool::{GlobalInClusterIPPool, InClusterIPPool, PoolSpec, PoolStatus};
pub use prefix_pool::{GlobalInClusterPrefixPool, InClusterPrefixPool, PrefixPoolSpec};

/// The group of the in-cluster pool kinds, and of Cluster API's IPAM kinds.
pub const GROUP: &str = "ipam.cluster.x-k8s.io";
