//! `--controllers`: which backends and API faces this process runs (the Helm chart's
//! switches set it).

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controllers {
    /// Pools kept in the cluster (InClusterIPPool, GlobalInClusterIPPool) behind the
    /// Cluster API IPAddressClaim contract.
    InCluster,
    /// Infoblox pools (InfobloxInstance, InfobloxIPPool).
    Infoblox,
    /// k0rdent's ClusterIPAMClaim, ClusterIPAM and ClusterDeployment.
    K0rdent,
    /// Metal3's IPPool, IPClaim and IPAddress, and Cluster API claims on an IPPool; served by
    /// the in-cluster backend, so it needs `InCluster`.
    Metal3,
}

/// The default: everything.
pub const ALL: &str = "in-cluster,infoblox,k0rdent,metal3";
