//! What the claim controller decides for an IPAddressClaim, as pure functions of what it
//! fetched: the claim, its Cluster, its pool, and what the ledger and the address cache say.
//! The controller ([`crate::claim_controller`]) fetches, asks these, and carries out the
//! answer; every `Ready` reason a claim of this backend can show comes from here.

use std::net::IpAddr;
use std::time::Duration;

use ipam_kube_support::address_metadata::{self, copied_labels};
use ipam_kube_support::capi_cluster::{self, ClusterState};
use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::conditions::READY;
use ipam_kube_support::finalizers;
use ipam_kube_support::pool_gate::{self, PoolFacts};
use kube::ResourceExt;

use crate::addresses::address_holder;
use crate::api::GROUP;
use crate::api::allocation::ClaimIdentity;
use crate::api::capi::keys::{ADDRESS_FINALIZER, CLAIM_FINALIZER};
use crate::api::capi::{IPAddress, IPAddressClaim, IPAddressSpec, LocalReference};
use crate::claim_pool::{ClaimPool, pool_key};
use crate::ledger::{Reservation, ReserveError};
use crate::metal3;
use crate::pool_key::PoolKey;

/// How long a claim on an exhausted Metal3 pool waits at most before looking again: that
/// pool's addresses are also released by the IPClaim controller, whose releases this
/// controller hears of only through address deletions, which may precede the ledger's.
const METAL3_EXHAUSTED_RETRY: Duration = Duration::from_secs(10);

/// What a claim needs next, before the ledger is asked.
#[derive(Debug, PartialEq)]
pub enum Admission<'p> {
    /// Nothing is handed out now; show this.
    Show(Outcome),
    /// Persist the claim's finalizer first, then decide again on the patched claim.
    AddFinalizer,
    /// The pool may hand out an address to the claim.
    Allocate(&'p ClaimPool),
}

/// `seen_through`: this process wrote the claim's finalizer and address already, so a claim
/// without the finalizer is an older copy, and the newer one is on its way.
pub fn admit<'p>(
    claim: &IPAddressClaim,
    cluster: &ClusterState,
    pool: Option<&'p ClaimPool>,
    seen_through: bool,
) -> Admission<'p> {
    let ns = claim.namespace().unwrap_or_default();
    if let Some(held) = capi_cluster::hold(cluster, &ns) {
        return Admission::Show(held);
    }
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return match seen_through {
            true => Admission::Show(Outcome::quiet()),
            false => Admission::AddFinalizer,
        };
    }
    let key = pool_key(claim);
    let facts = pool.map(|p| PoolFacts {
        meta: &p.meta,
        protected_by: p.protected_by,
    });
    if let Some(closed) = pool_gate::check(&key.to_string(), "spec.poolRef.name", facts) {
        return Admission::Show(closed);
    }
    let pool = pool.expect("the gate lets no missing pool through");
    if let Err(e) = &pool.compiled {
        let message = format!("{key} is invalid: {e}");
        return Admission::Show(Outcome::waiting("PoolNotReady", message).warn("InvalidPool"));
    }
    Admission::Allocate(pool)
}

/// What the ledger and the address cache say of a claim the pool may serve.
#[derive(Debug)]
pub enum Holding<'a> {
    /// Done already: nothing to write.
    Settled,
    /// An IPAddress named after the claim exists: adopt it as it is (its spec is immutable,
    /// and `clusterctl move` re-creates it before the claim is reconciled again).
    Adopt(&'a IPAddress),
    /// Take an address, the one `requested` if the pool honours the request.
    Reserve { requested: Option<String> },
}

/// `held`: the address the ledger's book gives the claim; `stored`: the IPAddress named
/// after it in the cache; `settled`: the address this process last wrote for it.
pub fn holding<'a>(
    claim: &IPAddressClaim,
    pool: &ClaimPool,
    held: Option<IpAddr>,
    stored: Option<&'a IPAddress>,
    settled: Option<IpAddr>,
) -> Holding<'a> {
    let me = identity(claim);
    // The book, the IPAddress (when cached yet) and the claim agree (or this process wrote
    // the claim's status and the copy seen here is older than that write).
    if let Some(address) = held
        && stored.is_none_or(|a| a.spec.address == address.to_string() && address_holder(a) == me)
        && (shows_allocated(claim) || settled == Some(address))
    {
        return Holding::Settled;
    }
    if let Some(existing) = stored {
        return Holding::Adopt(existing);
    }
    // Metal3 honours the `ipAddress` annotation on IPAddressClaims too.
    let requested = pool
        .metal3
        .then(|| claim.annotations().get(metal3::api::IP_ADDRESS_ANNOTATION))
        .flatten()
        .cloned();
    Holding::Reserve { requested }
}

/// What the claim shows when the ledger gave it nothing (its API errors are not decisions:
/// they fail the reconcile).
pub fn not_reserved(pool: &ClaimPool, error: &ReserveError) -> Outcome {
    match error {
        ReserveError::Exhausted { .. } => {
            let exhausted =
                Outcome::waiting("PoolExhausted", error.to_string()).warn("PoolExhausted");
            // Otherwise a release in the pool brings the claim back (pool watch).
            match pool.metal3 {
                true => exhausted.retry_after(METAL3_EXHAUSTED_RETRY),
                false => exhausted,
            }
        }
        _ => Outcome::waiting("AllocationFailed", error.to_string()),
    }
}

/// The IPAddress that hands `reservation` to the claim, named after it.
pub fn address_object(
    claim: &IPAddressClaim,
    pool: &ClaimPool,
    reservation: &Reservation,
) -> IPAddress {
    let attributes = &reservation.attributes;
    IPAddress {
        metadata: kube::api::ObjectMeta {
            name: Some(claim.name_any()),
            namespace: claim.namespace(),
            labels: Some(copied_labels(claim)),
            finalizers: Some(vec![ADDRESS_FINALIZER.to_string()]),
            owner_references: Some(address_metadata::owner_references(
                claim,
                pool.owner.clone(),
            )),
            ..Default::default()
        },
        spec: IPAddressSpec {
            claim_ref: LocalReference {
                name: claim.name_any(),
            },
            pool_ref: claim.spec.pool_ref.clone(),
            address: reservation.address.to_string(),
            // Metal3 pools hand out the prefix and gateway of the entry the address is from,
            // prefix pools the block's length and the pool's gateway.
            prefix: pool
                .spec
                .as_ref()
                .map_or(i32::from(attributes.prefix), |s| s.prefix),
            gateway: match (&pool.spec, &pool.prefixes) {
                (Some(spec), _) => spec.gateway.clone().filter(|g| !g.is_empty()),
                (None, Some(spec)) => spec.gateway.clone().filter(|g| !g.is_empty()),
                (None, None) => attributes.gateway.map(|g| g.to_string()),
            },
        },
    }
}

pub fn allocated(address_name: &str, address: IpAddr, key: &PoolKey) -> Outcome {
    Outcome::allocated(address_name, format!("{address} allocated from {key}"))
}

/// An address object of either face (Cluster API's IPAddress, Metal3's), as the words of
/// an adoption need it.
pub trait AddressObject: ResourceExt {
    /// How messages name it.
    fn described(&self) -> String;
    /// The address it holds, as written.
    fn address(&self) -> &str;
    /// What a claim shows when it cannot have the object, in the face's words.
    fn failed(message: String) -> Outcome;
}

impl AddressObject for IPAddress {
    fn described(&self) -> String {
        format!(
            "{}/{}",
            self.namespace().unwrap_or_default(),
            self.name_any()
        )
    }

    fn address(&self) -> &str {
        &self.spec.address
    }

    fn failed(message: String) -> Outcome {
        Outcome::waiting("AllocationFailed", message)
    }
}

/// Why the claim cannot have an address object found for it whose address does not parse.
pub fn unusable<A: AddressObject>(existing: &A) -> Outcome {
    let (object, address) = (existing.described(), existing.address());
    A::failed(format!(
        "IPAddress {object} holds {address:?}, which is no IP address"
    ))
}

/// What the claim shows once the ledger answered its adoption of `existing`: `other` is the
/// claim the pool had given the address to already, if any.
pub fn adopted<A: AddressObject>(
    existing: &A,
    address: IpAddr,
    key: &PoolKey,
    other: Option<ClaimIdentity>,
) -> Outcome {
    match other {
        None => allocated(&existing.name_any(), address, key),
        Some(other) => A::failed(format!(
            "IPAddress {} holds {address}, which {key} already gave to {other}",
            existing.described()
        )),
    }
}

pub fn identity(claim: &IPAddressClaim) -> ClaimIdentity {
    ClaimIdentity {
        api_group: GROUP.into(),
        kind: "IPAddressClaim".into(),
        namespace: claim.namespace().unwrap_or_default(),
        name: claim.name_any(),
        uid: claim.uid().unwrap_or_default(),
    }
}

/// Whether the claim shows an address: `Ready=True` with its `addressRef`.
fn shows_allocated(claim: &IPAddressClaim) -> bool {
    let Some(status) = claim.status.as_ref() else {
        return false;
    };
    status
        .address_ref
        .as_ref()
        .is_some_and(|r| r.name == claim.name_any())
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == READY && c.status == "True")
}

/// How long a deleted claim still holds its address: the pool's reuse grace period, counted
/// from the end of the second the claim was deleted in (`deletionTimestamp` is cut to the
/// second), so the address is held at least that long whenever the claim went. `None` once
/// it may go; a pool being deleted holds nothing.
pub fn grace_left(
    claim: &IPAddressClaim,
    pool: Option<&ClaimPool>,
    now_ms: i64,
) -> Option<Duration> {
    let pool = pool.filter(|p| p.meta.deletion_timestamp.is_none())?;
    let grace = i64::from(
        pool.spec
            .as_ref()?
            .address_reuse_grace_period_seconds
            .unwrap_or(0),
    );
    let deleted = claim
        .metadata
        .deletion_timestamp
        .as_ref()?
        .0
        .as_millisecond();
    let until = deleted + (grace + 1) * 1000;
    (grace > 0 && now_ms < until).then(|| Duration::from_millis((until - now_ms) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PoolSpec;
    use crate::pool_object::engine_spec;
    use ipam_engine::Pool;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use serde_json::json;

    const NS: &str = "ns";

    fn claim(finalized: bool) -> IPAddressClaim {
        let finalizers: Vec<&str> = if finalized {
            vec![CLAIM_FINALIZER]
        } else {
            vec![]
        };
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2",
            "kind": "IPAddressClaim",
            "metadata": {"name": "c", "namespace": NS, "uid": "u1", "finalizers": finalizers},
            "spec": {"poolRef": {"apiGroup": GROUP, "kind": "InClusterIPPool", "name": "p"}},
        }))
        .unwrap()
    }

    fn spec() -> PoolSpec {
        PoolSpec {
            addresses: vec!["10.0.0.0/30".into()],
            prefix: 24,
            gateway: Some("10.0.0.1".into()),
            ..Default::default()
        }
    }

    fn pool() -> ClaimPool {
        let spec = spec();
        ClaimPool {
            key: PoolKey::namespaced(GROUP, "InClusterIPPool", NS, "p"),
            meta: ObjectMeta {
                name: Some("p".into()),
                namespace: Some(NS.into()),
                finalizers: Some(vec![crate::api::capi::keys::POOL_FINALIZER.into()]),
                ..Default::default()
            },
            protected_by: Some(crate::api::capi::keys::POOL_FINALIZER),
            compiled: Pool::in_cluster(&engine_spec(&spec))
                .map(Into::into)
                .map_err(|e| e.to_string()),
            spec: Some(spec),
            prefixes: None,
            owner: None,
            metal3: false,
        }
    }

    fn reason(admission: Admission) -> Option<&'static str> {
        match admission {
            Admission::Show(outcome) => outcome.reason(),
            other => panic!("expected an outcome, got {other:?}"),
        }
    }

    fn address(name: &str, ip: &str, claim_uid: &str) -> IPAddress {
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2",
            "kind": "IPAddress",
            "metadata": {"name": name, "namespace": NS, "ownerReferences": [
                {"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
                 "name": "c", "uid": claim_uid}]},
            "spec": {"claimRef": {"name": "c"}, "address": ip, "prefix": 24,
                     "poolRef": {"apiGroup": GROUP, "kind": "InClusterIPPool", "name": "p"}},
        }))
        .unwrap()
    }

    #[test]
    fn cluster_not_found_and_cluster_paused_hold_the_claim() {
        let missing = ClusterState::Missing("wl".into());
        let paused = ClusterState::Paused("wl".into());
        let pool = pool();
        assert_eq!(
            reason(admit(&claim(true), &missing, Some(&pool), false)),
            Some("ClusterNotFound")
        );
        assert_eq!(
            reason(admit(&claim(true), &paused, Some(&pool), false)),
            Some("ClusterPaused")
        );
    }

    #[test]
    fn the_finalizer_comes_before_anything_else_of_the_pool() {
        // Even a missing pool: the finalizer is persisted first, then the claim says why.
        let usable = ClusterState::Usable;
        assert_eq!(
            admit(&claim(false), &usable, None, false),
            Admission::AddFinalizer
        );
        // A copy older than this process's own writes is left for the newer one.
        assert_eq!(
            admit(&claim(false), &usable, None, true),
            Admission::Show(Outcome::quiet())
        );
    }

    #[test]
    fn pool_not_found_names_the_pool() {
        let admission = admit(&claim(true), &ClusterState::Usable, None, false);
        let Admission::Show(outcome) = admission else {
            panic!("{admission:?}")
        };
        assert_eq!(outcome.reason(), Some("PoolNotFound"));
        assert!(
            outcome
                .ready
                .unwrap()
                .message
                .starts_with("InClusterIPPool ns/p does not exist")
        );
    }

    #[test]
    fn pool_not_ready_while_deleting_unprotected_or_invalid() {
        let usable = ClusterState::Usable;
        let mut deleting = pool();
        deleting.meta.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        assert_eq!(
            reason(admit(&claim(true), &usable, Some(&deleting), false)),
            Some("PoolNotReady")
        );

        let mut unprotected = pool();
        unprotected.meta.finalizers = None;
        assert_eq!(
            reason(admit(&claim(true), &usable, Some(&unprotected), false)),
            Some("PoolNotReady")
        );

        let mut invalid = pool();
        invalid.compiled = Err("addresses: bad".into());
        let Admission::Show(outcome) = admit(&claim(true), &usable, Some(&invalid), false) else {
            panic!("an invalid pool hands out nothing")
        };
        assert_eq!(outcome.reason(), Some("PoolNotReady"));
        assert_eq!(
            outcome.warning,
            Some("InvalidPool"),
            "told once as an event too"
        );
    }

    #[test]
    fn a_paused_pool_writes_nothing() {
        let mut paused = pool();
        paused.meta.annotations =
            Some([("cluster.x-k8s.io/paused".to_string(), String::new())].into());
        let admission = admit(&claim(true), &ClusterState::Usable, Some(&paused), false);
        assert_eq!(admission, Admission::Show(Outcome::quiet()));
    }

    #[test]
    fn a_usable_pool_lets_the_claim_allocate() {
        let pool = pool();
        let admission = admit(&claim(true), &ClusterState::Usable, Some(&pool), false);
        assert!(matches!(admission, Admission::Allocate(_)));
    }

    #[test]
    fn a_claim_whose_write_this_process_made_costs_nothing_more() {
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let pool = pool();
        let stored = address("c", "10.0.0.2", "u1");
        // The claim copy seen does not show the address yet, but this process wrote it.
        let decided = holding(&claim(true), &pool, Some(ip), Some(&stored), Some(ip));
        assert!(matches!(decided, Holding::Settled));
        // Without that memory, the address found is adopted (status written again).
        let decided = holding(&claim(true), &pool, Some(ip), Some(&stored), None);
        assert!(matches!(decided, Holding::Adopt(a) if a.spec == stored.spec));
    }

    #[test]
    fn a_claim_without_an_address_reserves_one() {
        let decided = holding(&claim(true), &pool(), None, None, None);
        assert!(matches!(decided, Holding::Reserve { requested: None }));
    }

    #[test]
    fn pool_exhausted_is_told_as_an_event_and_metal3_pools_retry() {
        let exhausted = ReserveError::Exhausted {
            pool: pool().key,
            counts: Default::default(),
            unit: "address".into(),
        };
        let outcome = not_reserved(&pool(), &exhausted);
        assert_eq!(outcome.reason(), Some("PoolExhausted"));
        assert_eq!(outcome.warning, Some("PoolExhausted"));
        assert_eq!(outcome.retry, None, "a release in the pool wakes the claim");
        let mut m3 = pool();
        m3.metal3 = true;
        assert_eq!(
            not_reserved(&m3, &exhausted).retry,
            Some(METAL3_EXHAUSTED_RETRY)
        );
    }

    #[test]
    fn allocation_failed_when_the_ledger_refuses_or_an_address_is_unusable() {
        let taken = ReserveError::Taken {
            pool: pool().key,
            address: "10.0.0.2".parse().unwrap(),
            holder: "other".into(),
        };
        assert_eq!(
            not_reserved(&pool(), &taken).reason(),
            Some("AllocationFailed")
        );
        let garbage = address("c", "not-an-ip", "u1");
        assert_eq!(unusable(&garbage).reason(), Some("AllocationFailed"));
        let other = ClaimIdentity {
            name: "d".into(),
            ..identity(&claim(true))
        };
        let found = address("c", "10.0.0.2", "u1");
        let ip = "10.0.0.2".parse().unwrap();
        let outcome = adopted(&found, ip, &pool().key, Some(other));
        assert_eq!(outcome.reason(), Some("AllocationFailed"));
        assert!(
            outcome
                .ready
                .unwrap()
                .message
                .contains("already gave to IPAddressClaim ns/d")
        );
    }

    #[test]
    fn allocated_references_the_address_named_after_the_claim() {
        let ip = "10.0.0.2".parse().unwrap();
        let outcome = adopted(&address("c", "10.0.0.2", "u1"), ip, &pool().key, None);
        assert_eq!(outcome.reason(), Some("Allocated"));
        assert_eq!(outcome.address.as_deref(), Some("c"));
        assert_eq!(
            outcome.ready.unwrap().message,
            "10.0.0.2 allocated from InClusterIPPool ns/p"
        );
    }

    #[test]
    fn the_address_object_carries_the_pool_prefix_and_gateway() {
        let reservation = Reservation {
            address: "10.0.0.2".parse().unwrap(),
            attributes: ipam_engine::Attributes {
                prefix: 30,
                gateway: None,
                dns_servers: Vec::new(),
            },
        };
        let object = address_object(&claim(true), &pool(), &reservation);
        assert_eq!(object.metadata.name.as_deref(), Some("c"));
        assert_eq!(object.spec.address, "10.0.0.2");
        assert_eq!(
            (object.spec.prefix, object.spec.gateway.as_deref()),
            (24, Some("10.0.0.1"))
        );
        assert_eq!(
            object.metadata.finalizers,
            Some(vec![ADDRESS_FINALIZER.to_string()])
        );
    }

    #[test]
    fn a_prefix_pools_address_object_carries_the_block_and_the_pools_gateway() {
        let reservation = Reservation {
            address: "10.40.0.16".parse().unwrap(),
            attributes: ipam_engine::Attributes {
                prefix: 28,
                gateway: None,
                dns_servers: Vec::new(),
            },
        };
        let prefixes = ClaimPool {
            spec: None,
            prefixes: Some(crate::api::PrefixPoolSpec {
                prefixes: vec!["10.40.0.0/24".into()],
                allocation_prefix_length: 28,
                gateway: Some("10.40.0.1".into()),
                excluded_prefixes: Vec::new(),
            }),
            ..pool()
        };
        let object = address_object(&claim(true), &prefixes, &reservation);
        assert_eq!(
            (
                object.spec.address.as_str(),
                object.spec.prefix,
                object.spec.gateway.as_deref()
            ),
            ("10.40.0.16", 28, Some("10.40.0.1"))
        );
    }

    #[test]
    fn a_deleted_claim_keeps_its_address_for_the_grace_period() {
        let mut deleted = claim(true);
        let at = k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap();
        deleted.metadata.deletion_timestamp = Some(Time(at));
        let mut graced = pool();
        graced
            .spec
            .as_mut()
            .unwrap()
            .address_reuse_grace_period_seconds = Some(5);
        let left = grace_left(&deleted, Some(&graced), 1_000_000 + 2_000);
        assert_eq!(left, Some(Duration::from_millis(4_000)));
        assert_eq!(grace_left(&deleted, Some(&graced), 1_000_000 + 6_000), None);
        assert_eq!(
            grace_left(&deleted, None, 1_000_000),
            None,
            "a missing pool holds nothing"
        );
        graced.meta.deletion_timestamp = Some(Time(at));
        assert_eq!(
            grace_left(&deleted, Some(&graced), 1_000_000),
            None,
            "nor one being deleted"
        );
    }
}
