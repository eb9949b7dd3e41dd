//! The k0rdent API (`k0rdent.mirantis.com/v1beta1`) as this operator serves it.
//!
//! The schemas follow k0rdent kcm so existing manifests apply unchanged; where kcm's
//! rules can be bypassed (immutability cleared in two steps) the rules sit on the parent
//! object instead, keeping kcm's messages.

pub mod cluster_deployment;
pub mod cluster_ipam;
pub mod cluster_ipam_claim;
pub mod cluster_template;
mod schema;

pub use cluster_deployment::{
    ClusterDeployment, ClusterDeploymentSpec, ClusterDeploymentStatus, IpamClaimSource,
};
pub use cluster_ipam::{
    ClusterIPAM, ClusterIPAMPhase, ClusterIPAMProviderData, ClusterIPAMSpec, ClusterIPAMStatus,
};
pub use cluster_ipam_claim::{
    AddressSpaceSpec, ClusterIPAMClaim, ClusterIPAMClaimSpec, ClusterIPAMClaimStatus,
    IpamProviderName,
};
pub use cluster_template::{ClusterTemplate, ClusterTemplateSpec, ClusterTemplateStatus};

/// The API group of every k0rdent kind.
pub const GROUP: &str = "k0rdent.mirantis.com";
