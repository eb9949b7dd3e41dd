//! Kubernetes helpers that more than one controller needs, kept in one place below them all.

pub mod conditions;
pub mod finalizers;
pub mod status;
pub mod webhook;
