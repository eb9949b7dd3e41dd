//! Kubernetes helpers that more than one controller needs, kept in one place below them all.

pub mod address_metadata;
pub mod capi;
pub mod capi_cluster;
pub mod claim_outcome;
pub mod claim_status;
pub mod conditions;
pub mod drive;
pub mod events;
pub mod finalizers;
pub mod metrics;
pub mod pool_gate;
pub mod readiness;
pub mod reconcile_error;
pub mod scope;
pub mod status;
pub mod webhook;
