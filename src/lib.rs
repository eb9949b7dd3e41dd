//! ipam-operator: static IP addresses for Cluster API and k0rdent ClusterDeployments.
//!
//! This crate is the orchestration layer (the k0rdent kinds and their controllers). The
//! address engine and the backends live in crates below it, and never import it.

pub mod api;
pub mod crds;
pub mod k0rdent;
pub mod run;
pub mod runtime;
pub mod webhook;
