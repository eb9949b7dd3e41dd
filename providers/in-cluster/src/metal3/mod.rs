//! The Metal3 face: `ipam.metal3.io/v1alpha1` IPPool, IPClaim and IPAddress, served from the
//! same engine and the same ledger as the in-cluster pools, so Metal3 IPClaims and Cluster
//! API IPAddressClaims on one IPPool never share an address.

pub mod addresses;
pub mod api;
pub mod claim_controller;
mod claim_decision;
pub mod orphans;
pub mod pool;
pub mod pool_controller;
