//! Cluster API's IPAddressClaim and IPAddress, shared with the other backends: the types
//! live in `ipam-kube-support` and are re-exported here so existing paths keep working.

pub use ipam_kube_support::capi::*;
