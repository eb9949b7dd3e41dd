//! IPAddressClaim → Infoblox host record (or fixed address) → IPAddress, for claims whose pool is an
//! InfobloxIPPool, following the Cluster API IPAM contract.
//!
//! Per claim: the claim finalizer, then the host name (recorded on the claim), are persisted
//! before any WAPI write. The host record is then looked up by name and network view before
//! it is ever created, so a crash (or a lost answer) between the Infoblox write and the
//! IPAddress write finds the first record again instead of reserving a second address. Every
//! record is marked with its owner ([`crate::owner`]): the claim, or the Machine whose claims
//! share a host record named after it ([`crate::sharing`]), each adding its own address. One
//! found under the same name that another owner has is neither adopted (`HostnameConflict`)
//! nor freed. Release frees the claim's address, deleting the record with its last one, and
//! keeps the claim finalizer until Infoblox confirms. The
//! instance, network view and kind are recorded on the claim too ([`crate::location`]), and
//! release goes there, so it still frees the claim's address when the pool is gone or was
//! edited since.

use std::sync::Arc;

use ipam_kube_support::address_metadata::{self, copied_labels};
use ipam_kube_support::capi::keys::*;
use ipam_kube_support::capi::{IPAddress, IPAddressClaim, IPAddressSpec, LocalReference};
use ipam_kube_support::capi_cluster::{self, ClusterState};
use ipam_kube_support::claim_status;
use ipam_kube_support::conditions::{Decision, READY};
use ipam_kube_support::drive::drive;
use ipam_kube_support::finalizers;
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::{GROUP, InfobloxIPPool, InfobloxInstance};
use crate::config::Config;
use crate::hostname::{self, HOSTNAME_ANNOTATION};
use crate::location::Location;
use crate::orphan_release::{self, Outcome};
use crate::owner::{Claimant, Owner};
use crate::reserve_plan::{Found, Holder, Plan};
use crate::sharing::OWNER_ANNOTATION;
use crate::wapi::{HostRequest, Kind, Reservation, WapiClient, WapiError};
use crate::{api::Views, connect};
use crate::{holders, name_lock, release_plan, reserve_plan, sharing};

pub const MANAGER: &str = "ipam-operator-infoblox-claims";

/// Claims this controller serves: poolRef group and kind both match.
pub fn serves(claim: &IPAddressClaim) -> bool {
    let pool = &claim.spec.pool_ref;
    pool.api_group == GROUP && pool.kind == InfobloxIPPool::kind(&())
}

pub struct Context {
    client: Client,
    config: Config,
    recorder: Recorder,
    /// The Cluster API `Cluster` kind, when its CRD is installed.
    clusters: Option<kube::core::ApiResource>,
}

/// What a pass ended with when it could not finish: a condition to show, then a retry.
struct Blocked {
    decision: Decision,
    retry: bool,
}

impl Blocked {
    fn wait(reason: &'static str, message: String) -> Self {
        Blocked {
            decision: Decision::new(READY, false, reason, message),
            retry: false,
        }
    }
    fn retry(reason: &'static str, message: String) -> Self {
        Blocked {
            decision: Decision::new(READY, false, reason, message),
            retry: true,
        }
    }
}

/// A pool with everything the WAPI calls need.
struct Target {
    pool: InfobloxIPPool,
    /// The pool's InfobloxInstance, whose defaults other pools on it use too.
    instance: InfobloxInstance,
    kind: Kind,
    wapi: WapiClient,
    views: Views,
    subnets: Vec<(ipnet::IpNet, Option<String>)>,
}

pub async fn reconcile(
    claim: Arc<IPAddressClaim>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    if !serves(&claim) {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    let fail = Reconciling::new(claim.as_ref());
    if claim.meta().deletion_timestamp.is_some() {
        return release(&claim, &ctx).await.map_err(fail.at("release"));
    }
    if claim.annotations().contains_key(PAUSED_ANNOTATION) {
        return Ok(Action::await_change());
    }
    let cluster = capi_cluster::state(&ctx.client, ctx.clusters.as_ref(), &claim)
        .await
        .map_err(fail.at("read the Cluster"))?;
    let held = match cluster {
        ClusterState::Usable => None,
        ClusterState::Missing(name) => Some(Blocked::retry(
            "ClusterNotFound",
            format!("waiting for Cluster {ns}/{name} to exist"),
        )),
        ClusterState::Paused(name) => Some(Blocked::retry(
            "ClusterPaused",
            format!("Cluster {ns}/{name} is paused; allocation waits until it resumes"),
        )),
    };
    if let Some(held) = held {
        claim_status::write_ready(&ctx.client, MANAGER, &claim, None, &held.decision)
            .await
            .map_err(fail.at("write status"))?;
        return Ok(Action::requeue(ctx.config.retry));
    }
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &ns);
    if !finalizers::has(claim.as_ref(), CLAIM_FINALIZER) {
        // Persisted before anything is reserved; the update event brings the claim back.
        finalizers::add(&claims, claim.as_ref(), CLAIM_FINALIZER)
            .await
            .map_err(fail.at("add the finalizer"))?;
        return Ok(Action::await_change());
    }
    match allocate(&claim, &ctx).await.map_err(fail.at("allocate"))? {
        Ok(action) => Ok(action),
        Err(blocked) => {
            let changed =
                claim_status::write_ready(&ctx.client, MANAGER, &claim, None, &blocked.decision)
                    .await
                    .map_err(fail.at("write status"))?;
            if changed {
                tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), reason = blocked.decision.reason, message = %blocked.decision.message, "claim not allocated");
                publish(
                    &ctx,
                    &claim,
                    EventType::Warning,
                    blocked.decision.reason,
                    &blocked.decision.message,
                )
                .await;
            }
            Ok(if blocked.retry {
                Action::requeue(ctx.config.retry)
            } else {
                Action::await_change()
            })
        }
    }
}

async fn allocate(
    claim: &IPAddressClaim,
    ctx: &Context,
) -> Result<Result<Action, Blocked>, kube::Error> {
    let ns = claim.namespace().unwrap_or_default();
    let pools = Api::<InfobloxIPPool>::namespaced(ctx.client.clone(), &ns);
    let pool_name = &claim.spec.pool_ref.name;
    let Some(pool) = pools.get_opt(pool_name).await? else {
        return Ok(Err(Blocked::wait(
            "PoolNotFound",
            format!(
                "InfobloxIPPool {ns}/{pool_name} does not exist; create it or fix spec.poolRef.name"
            ),
        )));
    };
    if pool.annotations().contains_key(PAUSED_ANNOTATION) {
        return Ok(Ok(Action::await_change()));
    }
    if pool.meta().deletion_timestamp.is_some() {
        return Ok(Err(Blocked::wait(
            "PoolNotReady",
            format!("InfobloxIPPool {ns}/{pool_name} is being deleted"),
        )));
    }

    // An IPAddress named after the claim is the finished allocation: adopt it as it is.
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    let finished = addresses.get_opt(&claim.name_any()).await?;

    // The host name, and whether the claim shares its Machine's host record, are recorded
    // before any WAPI write: the name is the key that finds the record again after a crash
    // and at release, even once the Machine is gone. Claims allocated before the sharing was
    // recorded (by an earlier version, or the upstream provider) record it too, so a Machine's
    // claims agree on who owns its record.
    let shares_recorded = sharing::recorded(claim).is_some();
    let host = match (hostname::recorded(claim), finished) {
        (None, Some(existing)) => return adopt(claim, ctx, &pool, existing).await.map(Ok),
        (Some(host), Some(existing)) if shares_recorded => {
            // Allocated before reservations were marked and locations recorded (an earlier
            // version, or the upstream provider): its IPAddress proves the record is its own,
            // so it marks it now, before another claim of the same host name could take it.
            if Location::recorded(claim).is_none() {
                match mark_held(ctx, claim, pool.clone(), &host, &existing.spec.address).await? {
                    Held::Marked(location) => {
                        annotate(ctx, claim, json!(location.annotations())).await?;
                        return Ok(Ok(Action::await_change()));
                    }
                    Held::NotFound => {}
                    Held::Refused(message) => {
                        // Shown beside Ready (the claim keeps its address), and retried: the
                        // other claim may release, or a person fix the record.
                        let shown = Decision::new(
                            RECORD_MARKED,
                            false,
                            "HeldByAnotherClaim",
                            message.clone(),
                        );
                        let changed = claim_status::write_ready(
                            &ctx.client,
                            MANAGER,
                            claim,
                            Some(&existing.name_any()),
                            &shown,
                        )
                        .await?;
                        if changed {
                            tracing::warn!(claim = %format!("{ns}/{}", claim.name_any()), %message, "the claim's record is not marked");
                            publish(
                                ctx,
                                claim,
                                EventType::Warning,
                                "HeldByAnotherClaim",
                                &message,
                            )
                            .await;
                        } else {
                            adopt(claim, ctx, &pool, existing).await?;
                        }
                        return Ok(Ok(Action::requeue(ctx.config.retry)));
                    }
                    Held::Failed(message) => {
                        tracing::warn!(claim = %format!("{ns}/{}", claim.name_any()), %message, "cannot mark the claim's record yet; retrying");
                        adopt(claim, ctx, &pool, existing).await?;
                        return Ok(Ok(Action::requeue(ctx.config.retry)));
                    }
                }
            }
            return adopt(claim, ctx, &pool, existing).await.map(Ok);
        }
        (Some(host), None) if shares_recorded => host,
        (host, _) => {
            let zone = pool.spec.zone();
            let kind = Kind::from(pool.spec.reservation.unwrap_or_default());
            let machine = match sharing::names_after_machine(zone, kind) {
                true => hostname::machine(&ctx.client, claim).await?,
                false => None,
            };
            let name = host.unwrap_or_else(|| hostname::resolve(claim, zone, machine.as_deref()));
            let owner = sharing::decide(claim, &name, zone, machine.as_deref());
            annotate(
                ctx,
                claim,
                json!({HOSTNAME_ANNOTATION: name, OWNER_ANNOTATION: owner}),
            )
            .await?;
            return Ok(Ok(Action::await_change()));
        }
    };

    let target = match target(ctx, pool, Purpose::Allocate).await? {
        Ok(t) => t,
        Err(blocked) => return Ok(Err(blocked)),
    };
    // Recorded before any WAPI write, like the host name: with it, release finds the
    // reservation even if the pool is gone by then.
    let location = Location {
        instance: target.pool.spec.instance.name.clone(),
        network_view: target.views.network_view.clone(),
        kind: target.kind,
    };
    let recorded = Location::recorded(claim);
    if recorded.as_ref() != Some(&location) {
        // Another location recorded and no IPAddress: an earlier pass may have reserved there
        // before the IPAddress write failed and the pool was pointed elsewhere. Freed first,
        // by the rules of release, or recording the new location would leak it.
        let freed = match &recorded {
            Some(_) => free_in_infoblox(ctx, claim, target.pool.clone(), &host, None).await?,
            None => Freed::Done,
        };
        if let Freed::Skipped(note) = &freed {
            publish(ctx, claim, EventType::Warning, "ReleaseSkipped", note).await;
        }
        if let Some(old) = recorded
            && let Freed::Failed(mut blocked) = freed
        {
            blocked.decision.message = format!(
                "the pool now reserves in network view {} of InfobloxInstance {}; what this claim reserved in network view {} of InfobloxInstance {} is freed first: {}",
                location.network_view,
                location.instance,
                old.network_view,
                old.instance,
                blocked.decision.message
            );
            return Ok(Err(blocked));
        }
        annotate(ctx, claim, json!(location.annotations())).await?;
        return Ok(Ok(Action::await_change()));
    }
    // Held until the IPAddress is written (see name_lock): another claim of the Machine then
    // finds the address this one took either held by its IPAddress, or not yet in Infoblox.
    let _deciding =
        name_lock::lock(target.wapi.endpoint(), &target.views.network_view, &host).await;
    let me = sharing::load(&ctx.client, claim, target.kind).await?;
    let allocating = std::time::Instant::now();
    let reserved = match reserve(&ctx.client, &target, &host, &me).await {
        Ok(r) => r,
        Err(blocked) => return Ok(Err(blocked)),
    };

    let Found {
        address,
        subnet,
        gateway,
    } = reserved;
    let ip = IPAddress {
        metadata: kube::api::ObjectMeta {
            name: Some(claim.name_any()),
            namespace: Some(ns.clone()),
            labels: Some(copied_labels(claim)),
            finalizers: Some(vec![ADDRESS_FINALIZER.to_string()]),
            owner_references: Some(owner_references(claim, &target.pool)),
            ..Default::default()
        },
        spec: IPAddressSpec {
            claim_ref: LocalReference {
                name: claim.name_any(),
            },
            pool_ref: claim.spec.pool_ref.clone(),
            address: address.clone(),
            prefix: i32::from(subnet.prefix_len()),
            gateway: gateway.filter(|g| !g.is_empty()),
        },
    };
    match addresses.create(&PostParams::default(), &ip).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = addresses.get(&claim.name_any()).await?;
            return adopt(claim, ctx, &target.pool, existing).await.map(Ok);
        }
        Err(e) => return Err(e),
    }
    ipam_kube_support::metrics::get().allocation("infoblox", allocating.elapsed());
    let d = Decision::new(
        READY,
        true,
        "Allocated",
        format!(
            "{address} reserved in Infoblox as {} {host} (network view {}) from {subnet}",
            target.kind.describe(),
            target.views.network_view
        ),
    );
    claim_status::write_ready(&ctx.client, MANAGER, claim, Some(&claim.name_any()), &d).await?;
    tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), %address, host, "allocated");
    publish(
        ctx,
        claim,
        EventType::Normal,
        "AddressAllocated",
        &d.message,
    )
    .await;
    Ok(Ok(Action::await_change()))
}

/// Merges `annotations` into the claim, on the version this pass read (a newer one means
/// another pass decides); the update event brings the claim back.
async fn annotate(
    ctx: &Context,
    claim: &IPAddressClaim,
    annotations: serde_json::Value,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "resourceVersion": claim.resource_version(),
        "annotations": annotations,
    }});
    Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &claim.namespace().unwrap_or_default())
        .patch(
            &claim.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

/// What a [`Target`] is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Allocate,
    /// Finds the reservation by host name: a subnet that does not parse, or one a
    /// FixedAddress pool cannot use, is left out rather than blocking the release.
    Release,
}

/// The pool's instance, a client for it, and its parsed subnets.
async fn target(
    ctx: &Context,
    pool: InfobloxIPPool,
    purpose: Purpose,
) -> Result<Result<Target, Blocked>, kube::Error> {
    let ns = pool.namespace().unwrap_or_default();
    let instance_name = &pool.spec.instance.name;
    let Some(instance) = Api::<InfobloxInstance>::all(ctx.client.clone())
        .get_opt(instance_name)
        .await?
    else {
        return Ok(Err(Blocked::retry(
            "PoolNotReady",
            format!(
                "InfobloxInstance {instance_name} (spec.instance of InfobloxIPPool {ns}/{}) does not exist",
                pool.name_any()
            ),
        )));
    };
    let wapi = match connect::client_for(&ctx.client, &instance, &ctx.config.secret_namespace).await
    {
        Ok(w) => w,
        Err(e) => return Ok(Err(Blocked::retry("PoolNotReady", e.to_string()))),
    };
    let mut subnets = Vec::new();
    for s in &pool.spec.subnets {
        match s.cidr.parse::<ipnet::IpNet>() {
            Ok(net) => subnets.push((net.trunc(), s.gateway.clone())),
            Err(_) if purpose == Purpose::Release => {}
            Err(_) => {
                return Ok(Err(Blocked::wait(
                    "PoolNotReady",
                    format!(
                        "InfobloxIPPool {ns}/{}: subnet {:?} is not a CIDR",
                        pool.name_any(),
                        s.cidr
                    ),
                )));
            }
        }
    }
    let kind = Kind::from(pool.spec.reservation.unwrap_or_default());
    if kind == Kind::FixedAddress {
        match purpose {
            Purpose::Release => subnets.retain(|(n, _)| n.addr().is_ipv4()),
            Purpose::Allocate => {}
        }
    }
    if kind == Kind::FixedAddress && subnets.iter().any(|(n, _)| n.addr().is_ipv6()) {
        return Ok(Err(Blocked::wait(
            "PoolNotReady",
            format!(
                "InfobloxIPPool {ns}/{}: FixedAddress reservations are IPv4 only; use HostRecord for IPv6 subnets",
                pool.name_any()
            ),
        )));
    }
    let views = pool.spec.views(&instance.spec);
    Ok(Ok(Target {
        pool,
        instance,
        kind,
        wapi,
        views,
        subnets,
    }))
}

/// What [`mark_held`] did.
enum Held {
    /// The record holding the claim's address is marked as its own (or its Machine's), at
    /// `Location`, the pool's.
    Marked(Location),
    /// No record of the host name at the pool's location holds the claim's address, or one
    /// another owner marked does: nothing written.
    NotFound,
    /// The record holds an address another claim's IPAddress holds: marking it as this
    /// claim's would let this claim's release free that address. Nothing written.
    Refused(String),
    /// Infoblox (or the pool's instance) could not be asked.
    Failed(String),
}

/// The condition that tells an allocated claim its record could not be marked as its own.
const RECORD_MARKED: &str = "InfobloxRecordMarked";

/// Marks the reservation at the pool's location that holds `address`, the address of the
/// claim's IPAddress, as the claim's (or its Machine's); one without a mark is taken over.
async fn mark_held(
    ctx: &Context,
    claim: &IPAddressClaim,
    pool: InfobloxIPPool,
    host: &str,
    address: &str,
) -> Result<Held, kube::Error> {
    let target = match target(ctx, pool, Purpose::Allocate).await? {
        Ok(t) => t,
        Err(blocked) => return Ok(Held::Failed(blocked.decision.message)),
    };
    let nv = &target.views.network_view;
    let _deciding = name_lock::lock(target.wapi.endpoint(), nv, host).await;
    let me = sharing::load(&ctx.client, claim, target.kind).await?;
    let records = match target.wapi.find_reservations(target.kind, host, nv).await {
        Ok(r) => r,
        Err(e) => return Ok(Held::Failed(e.to_string())),
    };
    let holders = holders_at(&ctx.client, &target).await?;
    let Some(record) = records.iter().find(|r| {
        r.addresses
            .iter()
            .any(|a| release_plan::same_address(a, address))
    }) else {
        return Ok(Held::NotFound);
    };
    if let Some(owner) = me.other_owner(record.comment.as_deref()) {
        tracing::warn!(host, network_view = %nv, %owner, address, "the claim's address is in a record another owner marked; left as it is");
        return Ok(Held::NotFound);
    }
    // The Machine's other claims hold their addresses of its record rightly.
    if let Some(other) = holders.iter().find(|h| {
        h.claim != me.claim
            && !me.siblings.contains(&h.claim)
            && record
                .addresses
                .iter()
                .any(|a| release_plan::same_address(a, &h.address))
    }) {
        return Ok(Held::Refused(format!(
            "{} {host} in network view {nv} holds this claim's address {address} and {}, which the IPAddress of claim {} holds; it is not marked as this claim's, so releasing this claim cannot free that address. Give each claim a record of its own in Infoblox",
            target.kind.describe(),
            other.address,
            other.claim
        )));
    }
    if let Err(e) = mark(&target, record, me.remark(record.comment.as_deref())).await {
        return Ok(Held::Failed(e.to_string()));
    }
    Ok(Held::Marked(Location {
        instance: target.pool.spec.instance.name.clone(),
        network_view: nv.clone(),
        kind: target.kind,
    }))
}

/// Writes `comment` to `record` when set: marked before it is used, so no claim of another
/// owner can take it too.
async fn mark(
    target: &Target,
    record: &Reservation,
    comment: Option<String>,
) -> Result<(), WapiError> {
    match comment {
        Some(comment) => target.wapi.set_comment(&record.reference, &comment).await,
        None => Ok(()),
    }
}

/// What the IPAddresses of InfobloxIPPools hold at `target`'s instance and network view.
async fn holders_at(client: &Client, target: &Target) -> Result<Vec<Holder>, kube::Error> {
    holders::load(
        client,
        &target.pool.namespace().unwrap_or_default(),
        &target.instance.name_any(),
        &target.instance.spec,
        &target.views.network_view,
    )
    .await
}

/// The reserved address, its subnet and gateway: found by name first, created (or added to
/// the Machine's host record) otherwise ([`reserve_plan`]). `me` is who a found record must
/// belong to, and who a new one will; `client` finds which claims' IPAddresses hold the found
/// record's addresses, none of which is adopted. Called under the name lock.
async fn reserve(
    client: &Client,
    target: &Target,
    host: &str,
    me: &Claimant,
) -> Result<Found, Blocked> {
    let nv = &target.views.network_view;
    let what = target.kind.describe();
    let wapi_failed = |e: WapiError| {
        let reason = match &e {
            WapiError::Unreachable { .. } | WapiError::Timeout { .. } => "InfobloxUnreachable",
            WapiError::Unauthorized { .. } => "AuthenticationFailed",
            _ => "AllocationFailed",
        };
        Blocked::retry(
            reason,
            format!("cannot reserve {what} {host} in network view {nv}: {e}"),
        )
    };
    let existing = target
        .wapi
        .find_reservations(target.kind, host, nv)
        .await
        .map_err(wapi_failed)?;
    // Nothing found, nothing to check: a new reservation holds only the address it is given.
    let holders = if existing.is_empty() {
        Vec::new()
    } else {
        holders_at(client, target).await.map_err(|e| {
            Blocked::retry(
                "AllocationFailed",
                format!("{what} {host} exists in network view {nv}, and the IPAddresses that could hold its addresses cannot be listed: {e}"),
            )
        })?
    };
    let taken = holders::taken(&holders, &me.claim);
    let taken = taken.as_slice();
    let extend = match reserve_plan::plan(&existing, me, &target.subnets, taken, &holders) {
        Plan::Create => None,
        Plan::Adopt {
            record,
            address,
            remark: comment,
        } => {
            mark(target, record, comment).await.map_err(wapi_failed)?;
            return Ok(address);
        }
        Plan::Extend {
            record,
            remark: comment,
        } => {
            mark(target, record, comment).await.map_err(wapi_failed)?;
            Some(record)
        }
        Plan::Conflict { record, owner } => {
            return Err(Blocked::retry(
                "HostnameConflict",
                format!(
                    "host name {host} in network view {nv} is taken: {what} {host} ({}) belongs to {owner}; this claim allocates once that {} has released it, or set the annotation {HOSTNAME_ANNOTATION} on this claim to another name",
                    record.addresses.join(", "),
                    match owner {
                        Owner::Claim(_) => "claim",
                        Owner::Machine(_) => "Machine's claims",
                    }
                ),
            ));
        }
        Plan::Elsewhere { record } => {
            return Err(Blocked::retry(
                "AllocationFailed",
                format!(
                    "{what} {host} exists in network view {nv} without an address in the pool's subnets ({}); delete it in Infoblox or use another claim name",
                    record.addresses.join(", ")
                ),
            ));
        }
        Plan::Many(n) => {
            return Err(Blocked::retry(
                "AllocationFailed",
                format!(
                    "{n} {what}es named {host} exist in network view {nv}; delete all but one in Infoblox"
                ),
            ));
        }
    };
    let zone = target.pool.spec.zone();
    let mut full = Vec::new();
    for (subnet, gateway) in &target.subnets {
        let request = HostRequest {
            name: host.to_string(),
            network_view: nv.clone(),
            dns_view: zone.map(|_| target.views.dns_view.clone()),
            subnet: *subnet,
            exclude: gateway
                .iter()
                .filter(|g| {
                    g.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| subnet.contains(&ip))
                })
                .cloned()
                .collect(),
            comment: me.owner().mark(),
        };
        let written = match extend {
            Some(record) => target.wapi.add_address(record, &request).await,
            None => target.wapi.reserve(target.kind, &request).await,
        };
        match written {
            Ok(record) => {
                return reserve_plan::in_subnets(&record, &[(*subnet, gateway.clone())], taken)
                    .ok_or_else(|| {
                        Blocked::retry(
                            "AllocationFailed",
                            format!(
                                "Infoblox wrote {what} {host} without a new address in {subnet}"
                            ),
                        )
                    });
            }
            // A full subnet falls through to the next one, as in telekom's provider.
            Err(WapiError::NetworkFull { .. }) => full.push(subnet.to_string()),
            Err(e) => return Err(wapi_failed(e)),
        }
    }
    Err(Blocked::retry(
        "PoolExhausted",
        format!(
            "no free address in network view {nv}: subnet(s) {} are full; add a subnet to the pool or free addresses in Infoblox",
            full.join(", ")
        ),
    ))
}

async fn adopt(
    claim: &IPAddressClaim,
    ctx: &Context,
    pool: &InfobloxIPPool,
    existing: IPAddress,
) -> Result<Action, kube::Error> {
    let ns = claim.namespace().unwrap_or_default();
    address_metadata::adopt(
        &ctx.client,
        &existing,
        owner_references(claim, pool),
        copied_labels(claim),
    )
    .await?;
    // The allocating pass wrote the fuller message; keep it rather than flip between two.
    let status = claim.status.as_ref();
    let shown = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
        .is_some_and(|c| c.status == "True" && c.reason == "Allocated");
    let referenced = status
        .and_then(|s| s.address_ref.as_ref())
        .is_some_and(|r| r.name == existing.name_any());
    if shown && referenced {
        return Ok(Action::await_change());
    }
    let d = Decision::new(
        READY,
        true,
        "Allocated",
        format!(
            "{} allocated from InfobloxIPPool {ns}/{}",
            existing.spec.address,
            pool.name_any()
        ),
    );
    claim_status::write_ready(&ctx.client, MANAGER, claim, Some(&existing.name_any()), &d).await?;
    Ok(Action::await_change())
}

/// Frees the reservation in Infoblox, then the IPAddress, then the claim finalizer. A WAPI
/// failure keeps the finalizer and retries: a record is never left behind silently.
async fn release(claim: &IPAddressClaim, ctx: &Context) -> Result<Action, kube::Error> {
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    // A paused Cluster holds the release (clusterctl move); a missing one never does.
    if let ClusterState::Paused(_) =
        capi_cluster::state(&ctx.client, ctx.clusters.as_ref(), claim).await?
    {
        return Ok(Action::requeue(ctx.config.retry));
    }
    let pool = Api::<InfobloxIPPool>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&claim.spec.pool_ref.name)
        .await?;
    if pool
        .as_ref()
        .is_some_and(|p| p.annotations().contains_key(PAUSED_ANNOTATION))
    {
        return Ok(Action::await_change());
    }
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    if let Some(host) = hostname::recorded(claim) {
        let own_address = addresses
            .get_opt(&claim.name_any())
            .await?
            .filter(|a| a.spec.claim_ref.name == claim.name_any())
            .map(|a| a.spec.address);
        let own_address = own_address.as_deref();
        let failure = match pool {
            Some(pool) => match free_in_infoblox(ctx, claim, pool, &host, own_address).await? {
                Freed::Done => None,
                Freed::Skipped(note) => {
                    publish(ctx, claim, EventType::Warning, "ReleaseSkipped", &note).await;
                    None
                }
                Freed::Failed(blocked) => Some(blocked.decision.message),
            },
            None => without_pool(ctx, claim, &host, own_address).await?,
        };
        if let Some(message) = failure {
            let decision = Decision::new(READY, false, "ReleaseFailed", message);
            claim_status::write_ready(&ctx.client, MANAGER, claim, None, &decision).await?;
            tracing::warn!(claim = %format!("{ns}/{}", claim.name_any()), message = %decision.message, "release failed; retrying");
            publish(
                ctx,
                claim,
                EventType::Warning,
                "ReleaseFailed",
                &decision.message,
            )
            .await;
            return Ok(Action::requeue(ctx.config.retry));
        }
    }
    if let Some(address) = addresses.get_opt(&claim.name_any()).await?
        && address.spec.claim_ref.name == claim.name_any()
    {
        finalizers::remove_and_delete(&addresses, &address, ADDRESS_FINALIZER).await?;
        let note = format!("{} released", address.spec.address);
        ipam_kube_support::metrics::get().release("infoblox");
        publish(ctx, claim, EventType::Normal, "AddressReleased", &note).await;
    }
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &ns);
    finalizers::remove(&claims, claim, CLAIM_FINALIZER).await?;
    Ok(Action::await_change())
}

/// Release once the pool is gone: through the location recorded on the claim, else only a
/// warning, since a missing pool must not block teardown (CAPI contract §5.3). `own_address`
/// is the claim's IPAddress's. `Some` when Infoblox could not confirm.
async fn without_pool(
    ctx: &Context,
    claim: &IPAddressClaim,
    host: &str,
    own_address: Option<&str>,
) -> Result<Option<String>, kube::Error> {
    let ns = claim.namespace().unwrap_or_default();
    Ok(match Location::recorded(claim) {
        Some(location) => {
            match orphan_release::release(
                &ctx.client,
                &ctx.config.secret_namespace,
                &location,
                claim,
                host,
                own_address,
            )
            .await?
            {
                Outcome::Released => None,
                Outcome::Failed(message) => Some(message),
                Outcome::Skipped(note) => {
                    publish(ctx, claim, EventType::Warning, "ReleaseSkipped", &note).await;
                    None
                }
            }
        }
        None => {
            let note = format!(
                "InfobloxIPPool {ns}/{} is gone and the claim records no Infoblox location, so the reservation {host} could not be looked up; delete its host record or fixed address in Infoblox if it remains",
                claim.spec.pool_ref.name
            );
            publish(ctx, claim, EventType::Warning, "ReleaseSkipped", &note).await;
            None
        }
    })
}

/// Deletes the claim's reservation(s) where it was made: at the location recorded on the claim,
/// else (claims allocated before locations were recorded) at the pool's. A host record that
/// also holds addresses outside the pool's subnets keeps those, and one another claim owns is
/// left alone ([`release_plan`]).
async fn free_in_infoblox(
    ctx: &Context,
    claim: &IPAddressClaim,
    mut pool: InfobloxIPPool,
    host: &str,
    own_address: Option<&str>,
) -> Result<Freed, kube::Error> {
    // The pool may have been pointed at another instance or network view since allocation.
    if let Some(location) = Location::recorded(claim) {
        location.applied_to(&mut pool.spec);
    }
    // Without its instance nothing tells where the grid is, and no retry brings it back: as
    // without the pool (orphan_release), a warning says what may remain, and the claim goes on.
    let instance = &pool.spec.instance.name;
    if Api::<InfobloxInstance>::all(ctx.client.clone())
        .get_opt(instance)
        .await?
        .is_none()
    {
        let kind = Kind::from(pool.spec.reservation.unwrap_or_default());
        let nv = pool
            .spec
            .network_view
            .as_deref()
            .unwrap_or("(the instance's default)");
        return Ok(Freed::Skipped(format!(
            "InfobloxInstance {instance} is gone, so {} {host} in network view {nv} could not be freed; delete it in Infoblox if it remains",
            kind.describe()
        )));
    }
    let target = match target(ctx, pool, Purpose::Release).await? {
        Ok(t) => t,
        Err(mut blocked) => {
            blocked.decision.reason = "ReleaseFailed";
            blocked.decision.message = format!(
                "cannot release the reservation {host}: {}",
                blocked.decision.message
            );
            return Ok(Freed::Failed(blocked));
        }
    };
    let nv = &target.views.network_view;
    let what = target.kind.describe();
    let failed = |e: WapiError| {
        Freed::Failed(Blocked::retry(
            "ReleaseFailed",
            format!("cannot release {what} {host} in network view {nv}: {e}; retrying"),
        ))
    };
    // A PUT replaces the address lists: no other claim of the Machine may add its address
    // between this read and that write.
    let _deciding = name_lock::lock(target.wapi.endpoint(), nv, host).await;
    let me = sharing::load(&ctx.client, claim, target.kind).await?;
    let records = match target.wapi.find_reservations(target.kind, host, nv).await {
        Ok(r) => r,
        Err(e) => return Ok(failed(e)),
    };
    let taken = match records.is_empty() {
        true => Vec::new(),
        false => holders::taken(&holders_at(&ctx.client, &target).await?, &me.claim),
    };
    let subnets: Vec<ipnet::IpNet> = target.subnets.iter().map(|(n, _)| *n).collect();
    for record in &records {
        let Some(keep) = release_plan::keep(record, &me, own_address, &subnets, &taken) else {
            tracing::info!(host, network_view = %nv, kind = what, comment = ?record.comment, "not this claim's; left in Infoblox");
            continue;
        };
        if let Err(e) = target.wapi.release(record, &keep).await {
            return Ok(failed(e));
        }
        tracing::info!(host, network_view = %nv, kind = what, "released in Infoblox");
    }
    Ok(Freed::Done)
}

/// What [`free_in_infoblox`] did.
enum Freed {
    /// Infoblox confirmed, or held nothing of the claim's.
    Done,
    /// Nothing could be freed, and no retry would change that (the instance is gone): what
    /// may remain, for a Warning event. The claim goes on.
    Skipped(String),
    /// Infoblox could not confirm: keep the claim and retry.
    Failed(Blocked),
}

fn owner_references(claim: &IPAddressClaim, pool: &InfobloxIPPool) -> Vec<OwnerReference> {
    address_metadata::owner_references(claim, pool.controller_owner_ref(&()))
}

async fn publish(
    ctx: &Context,
    claim: &IPAddressClaim,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    ipam_kube_support::events::publish(&ctx.recorder, claim, type_, reason, "Allocate", note).await;
}

pub fn run<S>(
    client: Client,
    config: &Config,
    recorder: Recorder,
    clusters: Option<kube::core::ApiResource>,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        recorder,
        clusters,
    });
    let controller = ipam_kube_support::readiness::controller(
        "infoblox",
        config.api::<IPAddressClaim>(&client),
        config.watcher(),
    );
    let claims = controller.store();
    let controller = controller
        // A pool that appears or changes is a chance for the claims waiting on it.
        .watches(
            config.api::<InfobloxIPPool>(&client),
            config.watcher(),
            move |pool: InfobloxIPPool| {
                let (ns, name) = (pool.namespace(), pool.name_any());
                claims
                    .state()
                    .into_iter()
                    .filter(|c| serves(c) && c.namespace() == ns && c.spec.pool_ref.name == name)
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            config.api::<IPAddress>(&client),
            Default::default(),
            |address: IPAddress| {
                Some(
                    ObjectRef::new(&address.spec.claim_ref.name)
                        .within(&address.namespace().unwrap_or_default()),
                )
            },
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency));
    drive(controller, MANAGER, reconcile, ctx, config.retry, shutdown)
}
