//! The kinds this backend serves (`ipam.cluster.x-k8s.io/v1alpha1`, telekom-compatible).

pub mod instance;
pub mod pool;

pub use instance::{CaBundleRef, InfobloxInstance, InstanceSpec, InstanceStatus, SecretRef};
pub use pool::{
    InfobloxIPPool, InfobloxIPPoolSpec, InfobloxPoolStatus, Reservation, Subnet, Views,
};

pub const GROUP: &str = "ipam.cluster.x-k8s.io";
