//! What an IPClaim shows when it gets no address, or once it has one: pure functions of the
//! pool, the ledger's answer and the addresses found, in upstream's words for
//! `status.errorMessage` beside the condition. The shared pool gate
//! ([`ipam_kube_support::pool_gate`]) decides the rest (PoolNotFound, PoolNotReady, a paused
//! pool), asked through [`pool_closed`].

use std::fmt::Display;
use std::time::Duration;

use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::pool_gate::{self, PoolFacts};
use kube::{Resource, ResourceExt};

use crate::claim_decision::AddressObject;
pub use crate::claim_decision::{adopted, allocated, unusable};
use crate::ledger::ReserveError;
use crate::metal3::api::{IPAddress, IPClaim, IPPool, POOL_FINALIZER};
use crate::pool_key::PoolKey;

/// How often a claim that found its pool exhausted looks again, at most, besides the
/// releases and pool changes that wake it at once.
pub const EXHAUSTED_RETRY: Duration = Duration::from_secs(10);

/// The shared pool gate, for an IPPool: `None` when it may hand out an address. Unlike
/// upstream, a pool being deleted hands nothing out, so its deletion can finish.
pub fn pool_closed(key: &PoolKey, pool: Option<&IPPool>) -> Option<Outcome> {
    let facts = pool.map(|p| PoolFacts {
        meta: p.meta(),
        protected_by: Some(POOL_FINALIZER),
    });
    pool_gate::check(&key.to_string(), "spec.pool.name", facts)
}

/// Not Ready for `reason`, with upstream's `errorMessage`.
fn failed(reason: &'static str, upstream: impl Into<String>, message: String) -> Outcome {
    Outcome::waiting(reason, message).with_error_message(upstream)
}

/// `AllocationFailed`, the same words in `errorMessage` and the condition.
fn allocation_failed(message: String) -> Outcome {
    failed("AllocationFailed", message.clone(), message)
}

/// The pool's spec is unusable: an address handed out before it turned invalid stays the
/// claim's, and nothing is written; a claim without one is told why.
pub fn invalid_pool(claim: &IPClaim, key: &PoolKey, error: &impl Display) -> Outcome {
    if claim.status.as_ref().is_some_and(|s| s.address.is_some()) {
        return Outcome::quiet();
    }
    allocation_failed(format!("{key} is invalid: {error}"))
}

/// The ledger gave the claim nothing (its API errors are not decisions: they fail the pass).
pub fn not_reserved(key: &PoolKey, error: &ReserveError) -> Outcome {
    match error {
        ReserveError::Exhausted { .. } => {
            failed("PoolExhausted", "Exhausted IP Pools", error.to_string())
                .retry_after(EXHAUSTED_RETRY)
        }
        ReserveError::Refused { source, .. } => failed(
            "AllocationFailed",
            source.upstream_message(),
            format!("{key}: {source}"),
        ),
        ReserveError::Taken { .. } => failed(
            "AllocationFailed",
            "Requested IP not available",
            error.to_string(),
        )
        .retry_after(EXHAUSTED_RETRY),
        ReserveError::Api { .. } => allocation_failed(error.to_string()),
    }
}

/// The IPAddress name the claim's address would have is another claim's (an object the
/// ledger does not know: another pool with the same namePrefix).
pub fn name_taken(existing: &IPAddress) -> Outcome {
    let message = format!(
        "IPAddress {}/{} already exists for claim {}",
        existing.namespace().unwrap_or_default(),
        existing.name_any(),
        existing.spec.claim.name.as_deref().unwrap_or_default()
    );
    failed(
        "AllocationFailed",
        "Failed to create associated IPAddress object",
        message,
    )
    .retry_after(EXHAUSTED_RETRY)
}

/// Metal3's IPAddress, named by its name alone (upstream's words), failing a claim in
/// upstream's `errorMessage` too.
impl AddressObject for IPAddress {
    fn described(&self) -> String {
        self.name_any()
    }

    fn address(&self) -> &str {
        &self.spec.address
    }

    fn failed(message: String) -> Outcome {
        allocation_failed(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::allocation::ClaimIdentity;
    use ipam_engine::{AllocateError, Counts};
    use serde_json::json;

    fn key() -> PoolKey {
        crate::metal3::pool::key("ns", "p")
    }

    fn claim(with_address: bool) -> IPClaim {
        let status = match with_address {
            true => json!({"address": {"name": "p-10-0-0-2"}}),
            false => json!({}),
        };
        serde_json::from_value(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"pool": {"name": "p"}},
            "status": status,
        }))
        .unwrap()
    }

    fn address(ip: &str, claim: &str) -> IPAddress {
        serde_json::from_value(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress",
            "metadata": {"name": "p-10-0-0-2", "namespace": "ns"},
            "spec": {"address": ip, "pool": {"name": "p"}, "claim": {"name": claim}},
        }))
        .unwrap()
    }

    fn ippool(meta: serde_json::Value) -> IPPool {
        serde_json::from_value(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
            "metadata": meta,
            "spec": {"namePrefix": "p", "pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}], "prefix": 24},
        }))
        .unwrap()
    }

    #[test]
    fn the_pool_gate_names_spec_pool_name_and_waits_for_the_pool_finalizer() {
        let missing = pool_closed(&key(), None).unwrap();
        assert_eq!(missing.reason(), Some("PoolNotFound"));
        assert_eq!(
            missing.ready.unwrap().message,
            "IPPool ns/p does not exist; create it or fix spec.pool.name"
        );
        let unprotected = ippool(json!({"name": "p", "namespace": "ns"}));
        let outcome = pool_closed(&key(), Some(&unprotected)).unwrap();
        assert_eq!(outcome.reason(), Some("PoolNotReady"));
        let deleting = ippool(json!({"name": "p", "namespace": "ns",
            "finalizers": [POOL_FINALIZER], "deletionTimestamp": "2026-01-01T00:00:00Z"}));
        let outcome = pool_closed(&key(), Some(&deleting)).unwrap();
        assert_eq!(outcome.reason(), Some("PoolNotReady"));
        let paused = ippool(
            json!({"name": "p", "namespace": "ns", "finalizers": [POOL_FINALIZER],
            "annotations": {"cluster.x-k8s.io/paused": ""}}),
        );
        assert_eq!(pool_closed(&key(), Some(&paused)), Some(Outcome::quiet()));
        let open = ippool(json!({"name": "p", "namespace": "ns", "finalizers": [POOL_FINALIZER]}));
        assert_eq!(pool_closed(&key(), Some(&open)), None);
    }

    #[test]
    fn an_invalid_pool_fails_a_new_claim_and_leaves_an_allocated_one_alone() {
        let outcome = invalid_pool(&claim(false), &key(), &"no pools");
        assert_eq!(outcome.reason(), Some("AllocationFailed"));
        assert_eq!(
            outcome.error_message.as_deref(),
            Some("IPPool ns/p is invalid: no pools")
        );
        assert_eq!(
            invalid_pool(&claim(true), &key(), &"no pools"),
            Outcome::quiet()
        );
    }

    #[test]
    fn pool_exhausted_in_upstream_words_and_retried() {
        let error = ReserveError::Exhausted {
            pool: key(),
            counts: Counts::default(),
            unit: "address".into(),
        };
        let outcome = not_reserved(&key(), &error);
        assert_eq!(outcome.reason(), Some("PoolExhausted"));
        assert_eq!(outcome.error_message.as_deref(), Some("Exhausted IP Pools"));
        assert_eq!(outcome.retry, Some(EXHAUSTED_RETRY));
    }

    #[test]
    fn a_requested_address_held_by_another_claim_fails_and_is_retried() {
        let error = ReserveError::Taken {
            pool: key(),
            address: "10.0.0.2".parse().unwrap(),
            holder: "IPClaim ns/other".into(),
        };
        let outcome = not_reserved(&key(), &error);
        assert_eq!(outcome.reason(), Some("AllocationFailed"));
        assert_eq!(
            outcome.error_message.as_deref(),
            Some("Requested IP not available")
        );
        assert_eq!(outcome.retry, Some(EXHAUSTED_RETRY));
    }

    #[test]
    fn a_request_the_pool_refuses_fails_in_upstream_words_and_waits_for_a_change() {
        let error = ReserveError::Refused {
            pool: key(),
            source: AllocateError::RequestOutOfBounds {
                address: "192.168.9.9".parse().unwrap(),
            },
        };
        let outcome = not_reserved(&key(), &error);
        assert_eq!(outcome.reason(), Some("AllocationFailed"));
        // Upstream's words in errorMessage; the condition says which pool and why.
        assert_eq!(outcome.error_message.as_deref(), Some("Exhausted IP Pools"));
        assert_eq!(
            outcome.ready.unwrap().message,
            "IPPool ns/p: Requested IP out of bounds: 192.168.9.9 lies in no entry of the pool"
        );
        // The request is wrong, not the pool full: only a change to the claim or pool helps.
        assert_eq!(outcome.retry, None);
    }

    #[test]
    fn an_address_name_of_another_claim_fails_the_claim() {
        let outcome = name_taken(&address("10.0.0.2", "other"));
        assert_eq!(outcome.reason(), Some("AllocationFailed"));
        let message = outcome.ready.unwrap().message;
        assert_eq!(
            message,
            "IPAddress ns/p-10-0-0-2 already exists for claim other"
        );
    }

    #[test]
    fn an_address_found_is_adopted_unless_it_is_unusable_or_given_away() {
        assert_eq!(
            unusable(&address("bogus", "c")).reason(),
            Some("AllocationFailed")
        );
        let found = address("10.0.0.2", "c");
        let ip = "10.0.0.2".parse().unwrap();
        let adopted_here = adopted(&found, ip, &key(), None);
        assert_eq!(adopted_here.reason(), Some("Allocated"));
        assert_eq!(adopted_here.address.as_deref(), Some("p-10-0-0-2"));
        let other = ClaimIdentity {
            kind: "IPAddressClaim".into(),
            namespace: "ns".into(),
            name: "d".into(),
            ..Default::default()
        };
        let refused = adopted(&found, ip, &key(), Some(other));
        assert_eq!(refused.reason(), Some("AllocationFailed"));
        assert!(
            refused
                .error_message
                .unwrap()
                .ends_with("already gave to IPAddressClaim ns/d")
        );
    }
}
