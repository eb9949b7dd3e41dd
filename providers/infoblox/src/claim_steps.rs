//! Where an Infoblox claim's allocation stands, and what it shows, decided from what was
//! fetched: the claim and what it records, its Cluster, its pool, its IPAddress.
//!
//! An allocation is a chain of steps in a crash-safe order, each persisted before the next
//! begins, so a pass that dies anywhere is resumed by the next one from what the claim
//! records, and never reserves a second address:
//! 1. the claim's finalizer, so a deleted claim is released;
//! 2. the host name (and whether the claim shares its Machine's record), the key that finds
//!    the reservation again after a crash and at release;
//! 3. the location (instance, network view, kind), so release goes where the reservation is
//!    even once the pool is gone or was edited;
//! 4. the reservation in Infoblox, found by name before it is ever created;
//! 5. the IPAddress, which finishes the allocation.

use std::time::Duration;

use ipam_kube_support::capi::IPAddress;
use ipam_kube_support::capi::IPAddressClaim;
use ipam_kube_support::capi::keys::{CLAIM_FINALIZER, POOL_FINALIZER};
use ipam_kube_support::capi_cluster::{self, ClusterState};
use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::finalizers;
use ipam_kube_support::pool_gate::{self, PoolFacts};
use kube::{Resource, ResourceExt};

use crate::api::InfobloxIPPool;
use crate::hostname::{self, HOSTNAME_ANNOTATION};
use crate::location::Location;
use crate::owner::Owner;
use crate::reserve_plan::Found;
use crate::sharing;
use crate::wapi::{Kind, Reservation, WapiError};

/// What a pass does next, before the pool is read.
#[derive(Debug, PartialEq)]
pub enum Start {
    Show(Outcome),
    /// Step 1: persist the finalizer; its update event brings the claim back.
    AddFinalizer,
    /// The finalizer is on: read the pool.
    ReadPool,
}

/// `retry`: how soon a claim held by its Cluster looks again (no Cluster watch here).
pub fn start(claim: &IPAddressClaim, cluster: &ClusterState, retry: Duration) -> Start {
    let ns = claim.namespace().unwrap_or_default();
    if let Some(held) = capi_cluster::hold(cluster, &ns) {
        return Start::Show(held.retry_after(retry));
    }
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return Start::AddFinalizer;
    }
    Start::ReadPool
}

/// The shared pool gate, for an InfobloxIPPool: `None` when it may hand out an address.
pub fn pool_closed(claim: &IPAddressClaim, pool: Option<&InfobloxIPPool>) -> Option<Outcome> {
    let ns = claim.namespace().unwrap_or_default();
    let described = format!("InfobloxIPPool {ns}/{}", claim.spec.pool_ref.name);
    let facts = pool.map(|p| PoolFacts {
        meta: p.meta(),
        protected_by: Some(POOL_FINALIZER),
    });
    pool_gate::check(&described, "spec.poolRef.name", facts)
}

/// What a pass does once the pool is open, from what the claim records and its IPAddress.
#[derive(Debug)]
pub enum Next<'a> {
    /// Step 2: choose the host name (the one `recorded`, if any) and the claim's sharing,
    /// and record both.
    RecordHostname { recorded: Option<String> },
    /// Allocated before reservations were marked and locations recorded (an earlier
    /// version, or the upstream provider): its IPAddress proves the record is its own, so it
    /// marks the record now, before another claim of the same host name could take it.
    MarkHeld {
        host: String,
        existing: &'a IPAddress,
    },
    /// Steps 3 to 5 under `host`.
    Reserve { host: String },
    /// Done: the IPAddress exists; adopt it as it is.
    Adopt(&'a IPAddress),
}

pub fn next<'a>(claim: &IPAddressClaim, finished: Option<&'a IPAddress>) -> Next<'a> {
    // Claims allocated before the sharing was recorded record it too, so a Machine's
    // claims agree on who owns its record.
    let shares_recorded = sharing::recorded(claim).is_some();
    match (hostname::recorded(claim), finished) {
        (None, Some(existing)) => Next::Adopt(existing),
        (Some(host), Some(existing)) if shares_recorded => match Location::recorded(claim) {
            None => Next::MarkHeld { host, existing },
            Some(_) => Next::Adopt(existing),
        },
        (Some(host), None) if shares_recorded => Next::Reserve { host },
        (recorded, _) => Next::RecordHostname { recorded },
    }
}

/// What step 3 does with the location the pool reserves at now.
#[derive(Debug, PartialEq)]
pub enum Place {
    /// Recorded already: reserve there.
    Recorded,
    /// Record `wanted`; what an earlier pass may have reserved at `free_first` (another
    /// location recorded, and no IPAddress) is freed before, or recording would leak it.
    Record { free_first: Option<Location> },
}

pub fn place(recorded: Option<Location>, wanted: &Location) -> Place {
    match recorded {
        Some(old) if &old == wanted => Place::Recorded,
        free_first => Place::Record { free_first },
    }
}

/// Why an earlier reservation at `old` could not be freed before recording `new`.
pub fn moved_and_not_freed(new: &Location, old: &Location, why: &str, retry: Duration) -> Outcome {
    Outcome::waiting(
        "ReleaseFailed",
        format!(
            "the pool now reserves in network view {} of InfobloxInstance {}; what this claim reserved in network view {} of InfobloxInstance {} is freed first: {why}",
            new.network_view, new.instance, old.network_view, old.instance
        ),
    )
    .retry_after(retry)
}

/// What a deleted claim shows while Infoblox has not confirmed its release (`why`): it keeps
/// its finalizer, so no record is left behind silently, and tries again after `retry`.
pub fn release_failed(why: String, retry: Duration) -> Outcome {
    Outcome::waiting("ReleaseFailed", why)
        .warn("ReleaseFailed")
        .retry_after(retry)
}

/// A refusal in words: the Ready reason and its message.
#[derive(Debug, PartialEq)]
pub struct Refused {
    pub reason: &'static str,
    pub message: String,
}

impl Refused {
    fn new(reason: &'static str, message: String) -> Self {
        Refused { reason, message }
    }

    /// Shown, and looked at again after `retry`: Infoblox or the instance may come round.
    pub fn retried(self, retry: Duration) -> Outcome {
        Outcome::waiting(self.reason, self.message).retry_after(retry)
    }

    /// Shown until the claim or its pool changes: only an edit fixes it.
    pub fn waits(self) -> Outcome {
        Outcome::waiting(self.reason, self.message)
    }
}

/// Where a reservation is made: the words every refusal below uses.
pub struct At<'a> {
    pub what: &'static str,
    pub host: &'a str,
    pub network_view: &'a str,
}

impl At<'_> {
    /// What, under which host name, in which network view.
    fn words(&self) -> (&'static str, &str, &str) {
        (self.what, self.host, self.network_view)
    }
}

/// Infoblox could not be asked, or refused a call.
pub fn wapi_failed(at: &At, error: &WapiError) -> Refused {
    let reason = match error {
        WapiError::Unreachable { .. } | WapiError::Timeout { .. } => "InfobloxUnreachable",
        WapiError::Unauthorized { .. } => "AuthenticationFailed",
        _ => "AllocationFailed",
    };
    let (what, host, nv) = at.words();
    Refused::new(
        reason,
        format!("cannot reserve {what} {host} in network view {nv}: {error}"),
    )
}

/// A found record's addresses cannot be checked against the IPAddresses holding them.
pub fn holders_unknown(at: &At, error: &kube::Error) -> Refused {
    let (what, host, nv) = at.words();
    Refused::new(
        "AllocationFailed",
        format!(
            "{what} {host} exists in network view {nv}, and the IPAddresses that could hold its addresses cannot be listed: {error}"
        ),
    )
}

/// The host name is another owner's.
pub fn hostname_taken(at: &At, record: &Reservation, owner: &Owner) -> Refused {
    let (what, host, nv) = at.words();
    let whose = match owner {
        Owner::Claim(_) => "claim",
        Owner::Machine(_) => "Machine's claims",
    };
    Refused::new(
        "HostnameConflict",
        format!(
            "host name {host} in network view {nv} is taken: {what} {host} ({}) belongs to {owner}; this claim allocates once that {whose} has released it, or set the annotation {HOSTNAME_ANNOTATION} on this claim to another name",
            record.addresses.join(", "),
        ),
    )
}

/// The claim's own record holds no address of the pool's subnets.
pub fn record_elsewhere(at: &At, record: &Reservation) -> Refused {
    let (what, host, nv) = at.words();
    Refused::new(
        "AllocationFailed",
        format!(
            "{what} {host} exists in network view {nv} without an address in the pool's subnets ({}); delete it in Infoblox or use another claim name",
            record.addresses.join(", ")
        ),
    )
}

/// More than one reservation has the claim's host name.
pub fn many_records(at: &At, count: usize) -> Refused {
    let (what, host, nv) = at.words();
    Refused::new(
        "AllocationFailed",
        format!(
            "{count} {what}es named {host} exist in network view {nv}; delete all but one in Infoblox"
        ),
    )
}

/// Infoblox answered a write without the address asked for.
pub fn written_without_address(at: &At, subnet: &ipnet::IpNet) -> Refused {
    let (what, host, _) = at.words();
    Refused::new(
        "AllocationFailed",
        format!("Infoblox wrote {what} {host} without a new address in {subnet}"),
    )
}

/// Every subnet of the pool is full.
pub fn exhausted(network_view: &str, full: &[String]) -> Refused {
    Refused::new(
        "PoolExhausted",
        format!(
            "no free address in network view {network_view}: subnet(s) {} are full; add a subnet to the pool or free addresses in Infoblox",
            full.join(", ")
        ),
    )
}

/// What an allocated claim shows, its IPAddress named after it.
pub fn allocated(claim: &IPAddressClaim, found: &Found, at: &At) -> Outcome {
    let (what, host, nv) = at.words();
    let Found {
        address, subnet, ..
    } = found;
    Outcome::allocated(
        claim.name_any(),
        format!(
            "{address} reserved in Infoblox as {what} {host} (network view {nv}) from {subnet}"
        ),
    )
}

/// What a claim whose IPAddress exists shows: nothing new when it shows it already (the
/// allocating pass wrote the fuller message; keep it rather than flip between two).
pub fn adopted(claim: &IPAddressClaim, existing: &IPAddress, pool: &str) -> Outcome {
    let status = claim.status.as_ref();
    let shown = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True" && c.reason == "Allocated");
    let referenced = status
        .and_then(|s| s.address_ref.as_ref())
        .is_some_and(|r| r.name == existing.name_any());
    if shown && referenced {
        return Outcome::quiet();
    }
    let ns = claim.namespace().unwrap_or_default();
    Outcome::allocated(
        existing.name_any(),
        format!(
            "{} allocated from InfobloxIPPool {ns}/{pool}",
            existing.spec.address
        ),
    )
}

/// What kind of reservation a pool makes.
pub fn kind(pool: &InfobloxIPPool) -> Kind {
    Kind::from(pool.spec.reservation.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RETRY: Duration = Duration::from_secs(5);

    fn claim(annotations: serde_json::Value, finalized: bool) -> IPAddressClaim {
        let finalizers: Vec<&str> = if finalized {
            vec![CLAIM_FINALIZER]
        } else {
            vec![]
        };
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
            "metadata": {"name": "c", "namespace": "ns", "annotations": annotations,
                         "finalizers": finalizers},
            "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io",
                                 "kind": "InfobloxIPPool", "name": "p"}},
        }))
        .unwrap()
    }

    fn address() -> IPAddress {
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"claimRef": {"name": "c"}, "address": "10.0.0.5", "prefix": 24,
                     "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io",
                                 "kind": "InfobloxIPPool", "name": "p"}},
        }))
        .unwrap()
    }

    fn location(view: &str) -> Location {
        Location {
            instance: "grid".into(),
            network_view: view.into(),
            kind: Kind::HostRecord,
        }
    }

    fn at() -> At<'static> {
        At {
            what: "host record",
            host: "c",
            network_view: "nv",
        }
    }

    fn reason(outcome: &Outcome) -> Option<&'static str> {
        outcome.reason()
    }

    #[test]
    fn a_missing_or_paused_cluster_is_shown_and_retried() {
        let c = claim(json!({}), true);
        let Start::Show(missing) = start(&c, &ClusterState::Missing("wl".into()), RETRY) else {
            panic!("a missing Cluster holds the claim")
        };
        assert_eq!(
            (reason(&missing), missing.retry),
            (Some("ClusterNotFound"), Some(RETRY))
        );
        let Start::Show(paused) = start(&c, &ClusterState::Paused("wl".into()), RETRY) else {
            panic!("a paused Cluster holds the claim")
        };
        assert_eq!(reason(&paused), Some("ClusterPaused"));
    }

    #[test]
    fn the_finalizer_is_the_first_step() {
        let fresh = claim(json!({}), false);
        assert_eq!(
            start(&fresh, &ClusterState::Usable, RETRY),
            Start::AddFinalizer
        );
        let finalized = claim(json!({}), true);
        assert_eq!(
            start(&finalized, &ClusterState::Usable, RETRY),
            Start::ReadPool
        );
    }

    #[test]
    fn a_missing_pool_says_which_and_what_to_fix() {
        let closed = pool_closed(&claim(json!({}), true), None).unwrap();
        assert_eq!(reason(&closed), Some("PoolNotFound"));
        assert_eq!(
            closed.ready.unwrap().message,
            "InfobloxIPPool ns/p does not exist; create it or fix spec.poolRef.name"
        );
    }

    #[test]
    fn a_pool_not_under_its_finalizer_hands_out_nothing() {
        let pool: InfobloxIPPool = serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InfobloxIPPool",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"instance": {"name": "grid"}, "subnets": []},
        }))
        .unwrap();
        let closed = pool_closed(&claim(json!({}), true), Some(&pool)).unwrap();
        assert_eq!(reason(&closed), Some("PoolNotReady"));
    }

    #[test]
    fn the_host_name_is_recorded_before_anything_is_reserved() {
        let fresh = claim(json!({}), true);
        let decided = next(&fresh, None);
        assert!(matches!(decided, Next::RecordHostname { recorded: None }));
        // A host name without the sharing (an earlier version) is recorded again, kept.
        let named = claim(json!({HOSTNAME_ANNOTATION: "h"}), true);
        let decided = next(&named, None);
        assert!(matches!(decided, Next::RecordHostname { recorded: Some(h) } if h == "h"));
    }

    #[test]
    fn with_host_and_sharing_recorded_the_claim_reserves_or_adopts() {
        let shared =
            json!({HOSTNAME_ANNOTATION: "h", sharing::OWNER_ANNOTATION: "IPAddressClaim/ns/c"});
        let c = claim(shared.clone(), true);
        assert!(matches!(next(&c, None), Next::Reserve { host } if host == "h"));
        let existing = address();
        // Allocated, but where is not recorded: the record is marked first.
        let decided = next(&c, Some(&existing));
        assert!(matches!(decided, Next::MarkHeld { host, .. } if host == "h"));
        let mut located = shared;
        for (k, v) in location("nv").annotations() {
            located[k] = json!(v);
        }
        let decided = next(&claim(located, true), Some(&existing));
        assert!(matches!(decided, Next::Adopt(_)));
        // An IPAddress without any host name (the upstream provider's) is adopted as it is.
        let decided = next(&claim(json!({}), true), Some(&existing));
        assert!(matches!(decided, Next::Adopt(_)));
    }

    #[test]
    fn a_location_is_recorded_once_and_a_moved_one_freed_first() {
        assert_eq!(
            place(Some(location("nv")), &location("nv")),
            Place::Recorded
        );
        assert_eq!(
            place(None, &location("nv")),
            Place::Record { free_first: None }
        );
        let moved = place(Some(location("old")), &location("nv"));
        assert_eq!(
            moved,
            Place::Record {
                free_first: Some(location("old"))
            }
        );
        let failed = moved_and_not_freed(&location("nv"), &location("old"), "down", RETRY);
        assert_eq!(
            (reason(&failed), failed.retry),
            (Some("ReleaseFailed"), Some(RETRY))
        );
    }

    #[test]
    fn a_release_infoblox_did_not_confirm_is_shown_warned_and_retried() {
        let why = "cannot release host record c1 in network view nv: timed out; retrying";
        let failed = release_failed(why.to_string(), RETRY);
        assert_eq!(reason(&failed), Some("ReleaseFailed"));
        assert_eq!(failed.warning, Some("ReleaseFailed"));
        assert_eq!(failed.retry, Some(RETRY));
        assert_eq!(failed.address, None);
        assert_eq!(failed.ready.unwrap().message, why);
    }

    #[test]
    fn wapi_failures_are_told_by_their_cause() {
        let unreachable = WapiError::Unreachable {
            endpoint: "https://grid".into(),
            detail: "refused".into(),
        };
        assert_eq!(
            wapi_failed(&at(), &unreachable).reason,
            "InfobloxUnreachable"
        );
        let unauthorized = WapiError::Unauthorized {
            endpoint: "https://grid".into(),
        };
        assert_eq!(
            wapi_failed(&at(), &unauthorized).reason,
            "AuthenticationFailed"
        );
    }

    #[test]
    fn a_record_of_another_owner_is_a_hostname_conflict() {
        let record = Reservation {
            kind: Kind::HostRecord,
            reference: "record:host/x".into(),
            addresses: vec!["10.0.0.5".into()],
            comment: None,
            entries: Vec::new(),
        };
        let refused = hostname_taken(&at(), &record, &Owner::Claim("ns/d".into()));
        assert_eq!(refused.reason, "HostnameConflict");
        assert!(
            refused.message.contains(HOSTNAME_ANNOTATION),
            "{}",
            refused.message
        );
        assert_eq!(record_elsewhere(&at(), &record).reason, "AllocationFailed");
        assert_eq!(many_records(&at(), 2).reason, "AllocationFailed");
    }

    #[test]
    fn a_record_that_cannot_be_checked_or_a_write_without_an_address_fails_the_claim() {
        let forbidden = kube::Error::Api(
            kube::core::Status::failure("ipaddresses is forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        );
        let unchecked = holders_unknown(&at(), &forbidden);
        assert_eq!(unchecked.reason, "AllocationFailed");
        assert!(
            unchecked.message.contains("cannot be listed"),
            "{}",
            unchecked.message
        );
        let subnet: ipnet::IpNet = "10.0.0.0/24".parse().unwrap();
        let unwritten = written_without_address(&at(), &subnet);
        assert_eq!(unwritten.reason, "AllocationFailed");
        assert!(
            unwritten
                .message
                .ends_with("without a new address in 10.0.0.0/24"),
            "{}",
            unwritten.message
        );
    }

    #[test]
    fn full_subnets_exhaust_the_pool_and_the_claim_retries() {
        let full = ["10.0.1.0/29".to_string(), "10.0.2.0/24".to_string()];
        let outcome = exhausted("nv", &full).retried(RETRY);
        assert_eq!(
            (reason(&outcome), outcome.retry),
            (Some("PoolExhausted"), Some(RETRY))
        );
        assert!(
            outcome
                .ready
                .unwrap()
                .message
                .contains("10.0.1.0/29, 10.0.2.0/24")
        );
    }

    #[test]
    fn allocated_names_the_reservation_and_the_address_object() {
        let found = Found {
            address: "10.0.0.5".into(),
            subnet: "10.0.0.0/24".parse().unwrap(),
            gateway: None,
        };
        let outcome = allocated(&claim(json!({}), true), &found, &at());
        assert_eq!(outcome.reason(), Some("Allocated"));
        assert_eq!(outcome.address.as_deref(), Some("c"));
        assert!(outcome.ready.unwrap().message.contains("network view nv"));
        // An adopted IPAddress is shown once; then nothing more is written.
        let adopted_now = adopted(&claim(json!({}), true), &address(), "p");
        assert_eq!(adopted_now.reason(), Some("Allocated"));
    }
}
