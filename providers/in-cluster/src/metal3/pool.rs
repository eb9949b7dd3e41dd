//! What the controllers need of an IPPool: its key in the ledger and its compiled form.

use ipam_engine::{AllocationStrategy, Metal3Entry, Metal3Spec, Pool, SpecError};
use kube::ResourceExt;

use crate::metal3::api::{GROUP, IPPool, IPPoolSpec};
use crate::pool_key::PoolKey;

/// The kinds of claim an IPPool serves, as they appear in the ledger's claim identities.
pub const CLAIM_KINDS: [&str; 2] = ["IPClaim", "IPAddressClaim"];

pub fn key(namespace: &str, name: &str) -> PoolKey {
    PoolKey::namespaced(GROUP, "IPPool", namespace, name)
}

pub fn pool_key(pool: &IPPool) -> PoolKey {
    key(&pool.namespace().unwrap_or_default(), &pool.name_any())
}

/// The pool compiled by the engine. Pre-allocations are keyed by claim name alone upstream,
/// for IPClaims and IPAddressClaims alike; the ledger knows claims by kind-qualified keys,
/// so each name is given under both kinds' keys.
pub fn compile(pool: &IPPool) -> Result<Pool, SpecError> {
    let ns = pool.namespace().unwrap_or_default();
    let mut spec = engine_spec(&pool.spec);
    spec.pre_allocations = pool
        .spec
        .pre_allocations
        .iter()
        .flat_map(|(name, address)| {
            let ns = &ns;
            CLAIM_KINDS
                .iter()
                .map(move |kind| (format!("{kind}/{ns}/{name}"), address.clone()))
        })
        .collect();
    Pool::metal3(&spec)
}

/// The spec as the engine reads it, pre-allocations keyed by claim name (for the webhook).
pub fn engine_spec(spec: &IPPoolSpec) -> Metal3Spec {
    Metal3Spec {
        name_prefix: spec.name_prefix.clone(),
        pools: spec
            .pools
            .iter()
            .map(|p| Metal3Entry {
                start: p.start.clone(),
                end: p.end.clone(),
                subnet: p.subnet.clone(),
                prefix: i64::from(p.prefix),
                gateway: p.gateway.clone(),
                dns_servers: p.dns_servers.clone(),
            })
            .collect(),
        prefix: i64::from(spec.prefix),
        gateway: spec.gateway.clone(),
        dns_servers: spec.dns_servers.clone(),
        pre_allocations: spec.pre_allocations.clone(),
        allocation_strategy: match spec.allocation_strategy.as_deref() {
            Some("random") => AllocationStrategy::Random,
            _ => AllocationStrategy::Sequential,
        },
    }
}
