//! IPAddressClaim → IPAddress for claims whose pool is an InClusterIPPool or a
//! GlobalInClusterIPPool, following the Cluster API IPAM contract.
//!
//! Per claim: fetch → decide → write. The claim's finalizer is persisted before any address
//! is taken, so a claim deleted at once can never leave an address behind; the address is
//! taken in the ledger (see `ledger.rs`) before the IPAddress is written, so two claims can
//! never receive the same one.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipam_kube_support::address_metadata::{self, copied_labels};
use ipam_kube_support::capi_cluster::{self, ClusterState, cluster_name};
use ipam_kube_support::conditions::{Decision, READY};
use ipam_kube_support::finalizers;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::allocation::ClaimIdentity;
use crate::api::capi::keys::*;
use crate::api::capi::{IPAddress, IPAddressClaim, IPAddressSpec, LocalReference};
use crate::api::{GROUP, GlobalInClusterIPPool, InClusterIPPool};
use crate::config::Config;
use crate::ledger::{Ledger, PoolSource, ReserveError};
use crate::metal3;
use crate::pool_key::PoolKey;
use crate::pool_object::PoolObject;
use crate::settled::Settled;
use crate::stores;

pub const MANAGER: &str = "ipam-operator-claims";

/// The pool kinds this controller serves: the in-cluster pools, and Metal3's IPPool when
/// the Metal3 face runs.
pub fn serves(claim: &IPAddressClaim, metal3: bool) -> bool {
    let pool = &claim.spec.pool_ref;
    (pool.api_group == GROUP
        && (pool.kind == InClusterIPPool::KIND || pool.kind == GlobalInClusterIPPool::KIND))
        || (metal3 && is_metal3(pool))
}

fn is_metal3(pool: &crate::api::PoolReference) -> bool {
    pool.api_group == metal3::api::GROUP && pool.kind == metal3::api::IPPool::kind(&())
}

/// How long a claim on an exhausted Metal3 pool waits at most before looking again: that
/// pool's addresses are also released by the IPClaim controller, whose releases this
/// controller hears of only through address deletions, which may precede the ledger's.
const METAL3_EXHAUSTED_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("claim {claim}: {source}")]
    Api { claim: String, source: kube::Error },
}

pub struct Context {
    pub client: Client,
    pub ledger: Ledger,
    pub recorder: Recorder,
    pub pools: Store<InClusterIPPool>,
    pub global_pools: Store<GlobalInClusterIPPool>,
    pub addresses: Store<IPAddress>,
    /// Only with the Metal3 face: without it, the operator may not read Metal3's kinds.
    pub metal3: Option<Metal3Caches>,
    pub released: ReleaseNotifier,
    pub caches_ready: stores::CachesReady,
    pub settled: Settled,
    /// The Cluster API `Cluster` kind, when its CRD is installed.
    pub clusters: Option<ApiResource>,
    /// Whether this process runs the global pools' controller (it serves every namespace),
    /// which puts their finalizer on them.
    pub global_pools_protected: bool,
}

/// Metal3's pools and addresses: Cluster API claims may draw from an IPPool, beside the
/// IPClaims that Metal3 serves from it.
pub struct Metal3Caches {
    pub pools: Store<metal3::api::IPPool>,
    pub addresses: Store<metal3::api::IPAddress>,
}

/// The pool a claim names, as this controller found it.
enum FoundPool {
    Missing,
    Namespaced(Arc<InClusterIPPool>),
    Global(Arc<GlobalInClusterIPPool>),
    Metal3(Arc<metal3::api::IPPool>),
}

impl FoundPool {
    fn paused(&self) -> bool {
        match self {
            FoundPool::Missing => false,
            FoundPool::Namespaced(p) => p.annotations().contains_key(PAUSED_ANNOTATION),
            FoundPool::Global(p) => p.annotations().contains_key(PAUSED_ANNOTATION),
            FoundPool::Metal3(p) => p.annotations().contains_key(PAUSED_ANNOTATION),
        }
    }
    fn deleting(&self) -> bool {
        match self {
            FoundPool::Missing => false,
            FoundPool::Namespaced(p) => p.meta().deletion_timestamp.is_some(),
            FoundPool::Global(p) => p.meta().deletion_timestamp.is_some(),
            FoundPool::Metal3(p) => p.meta().deletion_timestamp.is_some(),
        }
    }
    /// Whether the pool controller has put its finalizer on the pool.
    fn protected(&self) -> bool {
        match self {
            FoundPool::Missing => false,
            FoundPool::Namespaced(p) => finalizers::has(p.as_ref(), POOL_FINALIZER),
            FoundPool::Global(p) => finalizers::has(p.as_ref(), POOL_FINALIZER),
            FoundPool::Metal3(p) => finalizers::has(p.as_ref(), metal3::api::POOL_FINALIZER),
        }
    }
    /// The in-cluster spec; a Metal3 pool has none (its attributes come per entry).
    fn spec(&self) -> Option<&crate::api::PoolSpec> {
        match self {
            FoundPool::Missing | FoundPool::Metal3(_) => None,
            FoundPool::Namespaced(p) => Some(p.pool_spec()),
            FoundPool::Global(p) => Some(p.pool_spec()),
        }
    }
}

pub fn pool_key(claim: &IPAddressClaim) -> PoolKey {
    let pool = &claim.spec.pool_ref;
    if is_metal3(pool) {
        metal3::pool::key(&claim.namespace().unwrap_or_default(), &pool.name)
    } else if pool.kind == GlobalInClusterIPPool::KIND {
        PoolKey::global(GROUP, &pool.kind, &pool.name)
    } else {
        PoolKey::namespaced(
            GROUP,
            &pool.kind,
            &claim.namespace().unwrap_or_default(),
            &pool.name,
        )
    }
}

fn find_pool(claim: &IPAddressClaim, ctx: &Context) -> FoundPool {
    let key = pool_key(claim);
    if is_metal3(&claim.spec.pool_ref) {
        let ns = key.namespace.unwrap_or_default();
        return ctx
            .metal3
            .as_ref()
            .and_then(|m3| m3.pools.get(&ObjectRef::new(&key.name).within(&ns)))
            .map_or(FoundPool::Missing, FoundPool::Metal3);
    }
    match key.namespace {
        None => ctx
            .global_pools
            .get(&ObjectRef::new(&key.name))
            .map_or(FoundPool::Missing, FoundPool::Global),
        Some(ns) => ctx
            .pools
            .get(&ObjectRef::new(&key.name).within(&ns))
            .map_or(FoundPool::Missing, FoundPool::Namespaced),
    }
}

fn identity(claim: &IPAddressClaim) -> ClaimIdentity {
    ClaimIdentity {
        api_group: GROUP.into(),
        kind: "IPAddressClaim".into(),
        namespace: claim.namespace().unwrap_or_default(),
        name: claim.name_any(),
        uid: claim.uid().unwrap_or_default(),
    }
}

/// Whether the claim's Cluster lets it allocate (shared with the other backends).
async fn cluster_state(claim: &IPAddressClaim, ctx: &Context) -> Result<ClusterState, kube::Error> {
    capi_cluster::state(&ctx.client, ctx.clusters.as_ref(), claim).await
}

pub async fn reconcile(claim: Arc<IPAddressClaim>, ctx: Arc<Context>) -> Result<Action, Error> {
    // A claim on an IPPool that was served before the Metal3 face was switched off still
    // holds our finalizer: it must be able to go.
    let leaving = claim.meta().deletion_timestamp.is_some()
        && finalizers::has(claim.as_ref(), CLAIM_FINALIZER);
    if !serves(&claim, ctx.metal3.is_some() || leaving) {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    tracing::debug!(claim = %format!("{ns}/{}", claim.name_any()), "reconcile");
    let name = format!("{ns}/{}", claim.name_any());
    let api_err = |source| Error::Api {
        claim: name.clone(),
        source,
    };
    // Allocation reads the pool and address caches; never decide from a half-filled one.
    ctx.caches_ready.wait().await;

    if claim.meta().deletion_timestamp.is_some() {
        return release(&claim, &ctx).await.map_err(api_err);
    }
    if claim.annotations().contains_key(PAUSED_ANNOTATION) {
        return Ok(Action::await_change());
    }
    match cluster_state(&claim, &ctx).await.map_err(api_err)? {
        ClusterState::Usable => {}
        ClusterState::Missing(name) => {
            return wait(
                &claim,
                &ctx,
                "ClusterNotFound",
                format!("waiting for Cluster {ns}/{name} to exist"),
            )
            .await
            .map_err(api_err);
        }
        ClusterState::Paused(name) => {
            return wait(
                &claim,
                &ctx,
                "ClusterPaused",
                format!("Cluster {ns}/{name} is paused; allocation waits until it resumes"),
            )
            .await
            .map_err(api_err);
        }
    }
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &ns);
    let claim = if finalizers::has(claim.as_ref(), CLAIM_FINALIZER) {
        claim
    } else if ctx.settled.knows(&claim.uid().unwrap_or_default()) {
        // A copy older than this process's own writes (the finalizer, then the address): a
        // patch based on it would only be refused. The newer copy is on its way.
        return Ok(Action::await_change());
    } else {
        // Persisted before anything is taken. The patched claim carries on at once rather
        // than waiting for its update event: half the latency of a fresh claim.
        match finalizers::add(&claims, claim.as_ref(), CLAIM_FINALIZER).await {
            Ok(patched) => Arc::new(patched),
            // Deleted meanwhile: nothing was taken, nothing to do.
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Action::await_change()),
            Err(e) => return Err(api_err(e)),
        }
    };

    let pool = find_pool(&claim, &ctx);
    let key = pool_key(&claim);
    if pool.paused() {
        return Ok(Action::await_change());
    }
    if let FoundPool::Missing = pool {
        return wait(
            &claim,
            &ctx,
            "PoolNotFound",
            format!("{key} does not exist"),
        )
        .await
        .map_err(api_err);
    };
    if pool.deleting() {
        return wait(
            &claim,
            &ctx,
            "PoolNotReady",
            format!("{key} is being deleted"),
        )
        .await
        .map_err(api_err);
    }
    // Nothing is handed out from a pool before its finalizer protects it: deleted before
    // that, it would go at once, under the address just taken. Global pools are protected by
    // a cluster-wide instance only.
    let protects = !matches!(pool, FoundPool::Global(_)) || ctx.global_pools_protected;
    if protects && !pool.protected() {
        return wait(
            &claim,
            &ctx,
            "PoolNotReady",
            format!("{key} is not protected by its finalizer yet"),
        )
        .await
        .map_err(api_err);
    }

    let compiled = match &pool {
        FoundPool::Namespaced(p) => p.compile(),
        FoundPool::Global(p) => p.compile(),
        FoundPool::Metal3(p) => metal3::pool::compile(p),
        FoundPool::Missing => unreachable!("the pool exists"),
    };
    let compiled = match compiled {
        Ok(compiled) => compiled,
        Err(e) => {
            let d = Decision::new(
                READY,
                false,
                "PoolNotReady",
                format!("{key} is invalid: {e}"),
            );
            if write_status(&claim, &ctx, None, &d)
                .await
                .map_err(api_err)?
            {
                publish(
                    &ctx,
                    claim.as_ref(),
                    EventType::Warning,
                    "InvalidPool",
                    &d.message,
                )
                .await;
            }
            return Ok(Action::await_change());
        }
    };
    let generation = match &pool {
        FoundPool::Namespaced(p) => p.meta().generation,
        FoundPool::Global(p) => p.meta().generation,
        FoundPool::Metal3(p) => p.meta().generation,
        FoundPool::Missing => None,
    };
    let metal3_pool = matches!(pool, FoundPool::Metal3(_));
    let existing = || match (&pool, &ctx.metal3) {
        (FoundPool::Metal3(_), Some(m3)) => {
            metal3::addresses::existing(&key, &m3.addresses, &ctx.addresses)
        }
        _ => existing_addresses(&ctx.addresses, &key),
    };
    let build = || compiled.clone();
    let source = PoolSource {
        version: generation,
        build: &build,
        existing: &existing,
    };
    let me = identity(&claim);
    let stored = ctx
        .addresses
        .get(&ObjectRef::new(&claim.name_any()).within(&ns));
    // Done already: the book says the claim holds its address, the IPAddress (when cached
    // yet) says the same, and the claim shows it (or this process wrote that and the claim
    // seen here is older than the write). No request at all.
    let held = ctx
        .ledger
        .holding(&key, &source, &me)
        .await
        .map_err(api_err)?;
    if let Some(address) = held
        && stored
            .as_ref()
            .is_none_or(|a| a.spec.address == address.to_string() && address_holder(a) == me)
        && (shows_allocated(&claim) || ctx.settled.is(&me.uid, address))
    {
        return Ok(Action::await_change());
    }
    // An IPAddress named after the claim is adopted as it is: its spec is immutable, and
    // `clusterctl move` re-creates it before the claim is reconciled again.
    if let Some(existing) = stored {
        return adopt(&claim, &ctx, &key, &source, existing.as_ref().clone())
            .await
            .map_err(api_err);
    }
    // Metal3 honours the `ipAddress` annotation on IPAddressClaims too.
    let requested = metal3_pool
        .then(|| claim.annotations().get(metal3::api::IP_ADDRESS_ANNOTATION))
        .flatten();
    let allocating = std::time::Instant::now();
    let reservation = ctx
        .ledger
        .reserve(&key, &source, &me, requested.map(String::as_str))
        .await;
    let reservation = match reservation {
        Ok(r) => r,
        Err(ReserveError::Api { source, .. }) => return Err(api_err(source)),
        Err(e @ ReserveError::Exhausted { .. }) => {
            tracing::info!(claim = %claim.name_any(), %e, "pool exhausted; the claim waits");
            let d = Decision::new(READY, false, "PoolExhausted", e.to_string());
            if write_status(&claim, &ctx, None, &d)
                .await
                .map_err(api_err)?
            {
                publish(
                    &ctx,
                    claim.as_ref(),
                    EventType::Warning,
                    "PoolExhausted",
                    &d.message,
                )
                .await;
            }
            // A release in the pool brings the claim back (pool watch).
            if metal3_pool {
                return Ok(Action::requeue(METAL3_EXHAUSTED_RETRY));
            }
            return Ok(Action::await_change());
        }
        Err(e) => {
            let d = Decision::new(READY, false, "AllocationFailed", e.to_string());
            write_status(&claim, &ctx, None, &d)
                .await
                .map_err(api_err)?;
            return Ok(Action::await_change());
        }
    };

    let address = IPAddress {
        metadata: kube::api::ObjectMeta {
            name: Some(claim.name_any()),
            namespace: Some(ns.clone()),
            labels: Some(copied_labels(&claim)),
            finalizers: Some(vec![ADDRESS_FINALIZER.to_string()]),
            owner_references: Some(owner_references(&claim, &pool)),
            ..Default::default()
        },
        spec: IPAddressSpec {
            claim_ref: LocalReference {
                name: claim.name_any(),
            },
            pool_ref: claim.spec.pool_ref.clone(),
            address: reservation.address.to_string(),
            // Metal3 pools hand out the prefix and gateway of the entry the address is from.
            prefix: pool
                .spec()
                .map_or(i32::from(reservation.attributes.prefix), |s| s.prefix),
            gateway: match pool.spec() {
                Some(spec) => spec.gateway.clone().filter(|g| !g.is_empty()),
                None => reservation.attributes.gateway.map(|g| g.to_string()),
            },
        },
    };
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    match addresses.create(&PostParams::default(), &address).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            // Written by someone else since our cache saw the claim without one (another
            // replica, or `clusterctl move`): adopt theirs, free ours if it differs.
            let existing = addresses.get(&claim.name_any()).await.map_err(api_err)?;
            return adopt(&claim, &ctx, &key, &source, existing)
                .await
                .map_err(api_err);
        }
        Err(e) => return Err(api_err(e)),
    }
    ipam_kube_support::metrics::get().allocation("in-cluster", allocating.elapsed());
    let d = Decision::new(
        READY,
        true,
        "Allocated",
        format!("{} allocated from {key}", reservation.address),
    );
    write_status(&claim, &ctx, Some(&claim.name_any()), &d)
        .await
        .map_err(api_err)?;
    ctx.settled.mark(&me.uid, reservation.address);
    // No event: the Ready condition says the same, upstream writes none, and an event per
    // claim would be a fifth write on the path every claim takes.
    tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), address = %reservation.address, pool = %key, "allocated");
    Ok(Action::await_change())
}

/// The pool's IPAddresses as (address, holder), for recording addresses this operator did not
/// hand out (an earlier provider, or `clusterctl move`).
fn existing_addresses(store: &Store<IPAddress>, pool: &PoolKey) -> Vec<(String, ClaimIdentity)> {
    stores::filter(store, |a| address_in_pool(a, pool))
        .into_iter()
        .map(|a| (a.spec.address.clone(), address_holder(&a)))
        .collect()
}

/// The claim an IPAddress was written for, as the ledger knows it.
pub fn address_holder(address: &IPAddress) -> ClaimIdentity {
    ClaimIdentity {
        api_group: GROUP.into(),
        kind: "IPAddressClaim".into(),
        namespace: address.namespace().unwrap_or_default(),
        name: address.spec.claim_ref.name.clone(),
        uid: owner_uid(address).unwrap_or_default(),
    }
}

pub fn address_in_pool(address: &IPAddress, pool: &PoolKey) -> bool {
    let r = &address.spec.pool_ref;
    r.api_group == pool.group
        && r.kind == pool.kind
        && r.name == pool.name
        && (pool.namespace.is_none() || address.namespace() == pool.namespace)
}

fn owner_uid(address: &IPAddress) -> Option<String> {
    address
        .owner_references()
        .iter()
        .find(|o| o.kind == "IPAddressClaim" && o.name == address.spec.claim_ref.name)
        .map(|o| o.uid.clone())
}

async fn adopt(
    claim: &IPAddressClaim,
    ctx: &Context,
    key: &PoolKey,
    source: &PoolSource<'_>,
    existing: IPAddress,
) -> Result<Action, kube::Error> {
    let ns = claim.namespace().unwrap_or_default();
    let me = identity(claim);
    let Ok(address) = existing.spec.address.parse::<IpAddr>() else {
        let d = Decision::new(
            READY,
            false,
            "AllocationFailed",
            format!(
                "IPAddress {ns}/{} holds {:?}, which is no IP address",
                existing.name_any(),
                existing.spec.address
            ),
        );
        write_status(claim, ctx, None, &d).await?;
        return Ok(Action::await_change());
    };
    if let Some(other) = ctx.ledger.adopt(key, source, address, &me).await? {
        let d = Decision::new(
            READY,
            false,
            "AllocationFailed",
            format!(
                "IPAddress {ns}/{} holds {address}, which {key} already gave to {} {}/{}",
                existing.name_any(),
                other.kind,
                other.namespace,
                other.name
            ),
        );
        write_status(claim, ctx, None, &d).await?;
        return Ok(Action::await_change());
    }

    let pool = find_pool(claim, ctx);
    address_metadata::adopt(
        &ctx.client,
        &existing,
        owner_references(claim, &pool),
        copied_labels(claim),
    )
    .await?;
    let d = Decision::new(
        READY,
        true,
        "Allocated",
        format!("{address} allocated from {key}"),
    );
    write_status(claim, ctx, Some(&existing.name_any()), &d).await?;
    ctx.settled.mark(&me.uid, address);
    Ok(Action::await_change())
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

async fn release(claim: &IPAddressClaim, ctx: &Context) -> Result<Action, kube::Error> {
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    // A paused Cluster or pool holds the release (clusterctl move); a missing one never does.
    if let ClusterState::Paused(_) = cluster_state(claim, ctx).await? {
        return Ok(Action::await_change());
    }
    let pool = find_pool(claim, ctx);
    if pool.paused() {
        return Ok(Action::await_change());
    }
    if let (Some(spec), false) = (pool.spec(), pool.deleting()) {
        let grace = i64::from(spec.address_reuse_grace_period_seconds.unwrap_or(0));
        if grace > 0 {
            let deleted = claim
                .meta()
                .deletion_timestamp
                .as_ref()
                .expect("deleting")
                .0;
            // deletionTimestamp is cut to the second: count from the end of that second, so
            // that the address is held at least `grace` seconds whenever the claim went.
            let until = deleted.as_millisecond() + (grace + 1) * 1000;
            let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
            if now < until {
                return Ok(Action::requeue(Duration::from_millis((until - now) as u64)));
            }
        }
    }
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    let mut released = None;
    if let Some(address) = addresses.get_opt(&claim.name_any()).await?
        && address.spec.claim_ref.name == claim.name_any()
    {
        released = Some(address.spec.address.clone());
        finalizers::remove(&addresses, &address, ADDRESS_FINALIZER).await?;
        match addresses
            .delete(&address.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    ctx.ledger
        .release(&pool_key(claim), &identity(claim))
        .await?;
    ctx.settled.forget(&claim.uid().unwrap_or_default());
    let _ = ctx.released.0.send(pool_key(claim));
    if let Some(address) = released {
        tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), %address, "released");
        ipam_kube_support::metrics::get().release("in-cluster");
        let note = format!("{address} released to {}", pool_key(claim));
        publish(ctx, claim, EventType::Normal, "AddressReleased", &note).await;
    }
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &ns);
    finalizers::remove(&claims, claim, CLAIM_FINALIZER).await?;
    Ok(Action::await_change())
}

fn owner_references(claim: &IPAddressClaim, pool: &FoundPool) -> Vec<OwnerReference> {
    let pool_owner = match pool {
        FoundPool::Namespaced(p) => p.controller_owner_ref(&()),
        FoundPool::Global(p) => p.controller_owner_ref(&()),
        FoundPool::Metal3(p) => p.controller_owner_ref(&()),
        FoundPool::Missing => None,
    };
    address_metadata::owner_references(claim, pool_owner)
}

/// Writes `Ready` (and the address reference once allocated) when it differs from what the
/// claim shows. Returns whether anything was written.
/// Tells the claim why it gets no address yet (`Ready=False` with `reason`), then waits for
/// a change of the claim, its pool or its Cluster.
async fn wait(
    claim: &IPAddressClaim,
    ctx: &Context,
    reason: &'static str,
    message: String,
) -> Result<Action, kube::Error> {
    let d = Decision::new(READY, false, reason, message);
    write_status(claim, ctx, None, &d).await?;
    Ok(Action::await_change())
}

async fn write_status(
    claim: &IPAddressClaim,
    ctx: &Context,
    address_ref: Option<&str>,
    decision: &Decision,
) -> Result<bool, kube::Error> {
    ipam_kube_support::claim_status::write_ready(&ctx.client, MANAGER, claim, address_ref, decision)
        .await
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

fn error_policy(claim: Arc<IPAddressClaim>, error: &Error, _: Arc<Context>) -> Action {
    let Error::Api { source, .. } = error;
    // A conflict only means a newer version exists (another worker or replica wrote first):
    // look again at once. Anything else waits a little.
    let conflict = matches!(source, kube::Error::Api(e) if e.code == 409 || e.code == 422);
    if conflict {
        tracing::debug!(claim = %claim.name_any(), %error, "conflict; retrying");
        Action::requeue(Duration::from_millis(200))
    } else {
        tracing::warn!(claim = %claim.name_any(), %error, "reconcile failed; retrying");
        Action::requeue(Duration::from_secs(2))
    }
}

/// What the claim controller is given; it builds its caches itself (see `stores.rs`).
pub struct Parts {
    pub client: Client,
    pub ledger: Ledger,
    pub recorder: Recorder,
    pub clusters: Option<ApiResource>,
}

/// Builds the claim controller; the returned future runs it until `shutdown` resolves.
pub fn run<S>(
    parts: Parts,
    config: &Config,
    caches: &stores::Caches,
    released: Released,
    notifier: ReleaseNotifier,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let client = parts.client.clone();
    let (pools, pool_changes) =
        caches.reflect(config.api::<InClusterIPPool>(&client), config.watcher());
    // Global pools are cluster-scoped: a namespace scope does not narrow them.
    let (global_pools, global_changes) = caches.reflect(
        Api::<GlobalInClusterIPPool>::all(client.clone()),
        config.watcher(),
    );
    let (addresses, address_changes) = caches.reflect_bulk(config.api::<IPAddress>(&client));
    let mut ready = vec![
        caches.ready::<InClusterIPPool>(),
        caches.ready::<GlobalInClusterIPPool>(),
        caches.ready::<IPAddress>(),
    ];
    let (metal3, metal3_changes) = if config.metal3 {
        let (pools, pool_changes) =
            caches.reflect(config.api::<metal3::api::IPPool>(&client), config.watcher());
        let (addresses, address_changes) =
            caches.reflect_bulk(config.api::<metal3::api::IPAddress>(&client));
        ready.extend([
            caches.ready::<metal3::api::IPPool>(),
            caches.ready::<metal3::api::IPAddress>(),
        ]);
        (
            Some(Metal3Caches { pools, addresses }),
            Some((pool_changes, address_changes)),
        )
    } else {
        (None, None)
    };
    let caches_ready = stores::CachesReady::spawn(ready);
    let ctx = Arc::new(Context {
        caches_ready,
        client: parts.client,
        ledger: parts.ledger,
        recorder: parts.recorder,
        pools,
        global_pools,
        addresses,
        metal3,
        released: notifier,
        settled: Settled::default(),
        clusters: parts.clusters,
        global_pools_protected: config.namespace.is_none(),
    });
    let controller = ipam_kube_support::readiness::controller(
        "in-cluster",
        config.api::<IPAddressClaim>(&client),
        config.watcher(),
    )
    .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency));
    let claim_store = controller.store();
    let with_metal3 = config.metal3;
    let waiting = move |key: PoolKey| waiting_claims(&claim_store, &key, with_metal3);
    let (waiting_global, waiting_metal3) = (waiting.clone(), waiting.clone());
    let waiting_released = waiting.clone();
    let mut controller = controller
        .watches_stream(pool_changes, move |pool: InClusterIPPool| {
            waiting(pool.key())
        })
        .watches_stream(global_changes, move |pool: GlobalInClusterIPPool| {
            waiting_global(pool.key())
        })
        .watches_stream(address_changes, |address: IPAddress| {
            Some(
                ObjectRef::new(&address.spec.claim_ref.name)
                    .within(&address.namespace().unwrap_or_default()),
            )
        })
        // An address released in a pool is a chance for the claims waiting on it.
        .reconcile_on(
            released
                .into_stream()
                .flat_map(move |key| futures::stream::iter(waiting_released(key))),
        )
        .graceful_shutdown_on(shutdown);
    if let Some((pool_changes, address_changes)) = metal3_changes {
        let (waiting_pool, waiting_address) = (waiting_metal3.clone(), waiting_metal3);
        controller = controller
            .watches_stream(pool_changes, move |pool: metal3::api::IPPool| {
                waiting_pool(metal3::pool::pool_key(&pool))
            })
            // Metal3 IPClaims share IPPools with these claims: their addresses going away
            // may let a waiting claim through.
            .watches_stream(address_changes, move |address: metal3::api::IPAddress| {
                let ns = address.namespace().unwrap_or_default();
                address
                    .spec
                    .pool
                    .name
                    .as_deref()
                    .filter(|_| metal3::claim_controller::going(&address))
                    .map(|pool| waiting_address(metal3::pool::key(&ns, pool)))
                    .unwrap_or_default()
            });
    }
    if let Some(resource) = &ctx.clusters {
        let claim_store = controller.store();
        let api = match &config.namespace {
            Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource),
            None => Api::<DynamicObject>::all_with(client.clone(), resource),
        };
        controller = controller.watches_with(
            api,
            resource.clone(),
            Default::default(),
            move |cluster: DynamicObject| {
                let (ns, name) = (cluster.namespace(), cluster.name_any());
                stores::filter(&claim_store, |c| {
                    c.namespace() == ns && cluster_name(c).as_deref() == Some(name.as_str())
                })
                .into_iter()
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
            },
        );
    }
    controller
        .run(
            ipam_kube_support::metrics::instrument(MANAGER, reconcile),
            error_policy,
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
}

/// Claims of `pool` still waiting for an address: an allocated one has nothing to gain.
fn waiting_claims(
    store: &Store<IPAddressClaim>,
    pool: &PoolKey,
    metal3: bool,
) -> Vec<ObjectRef<IPAddressClaim>> {
    stores::filter(store, |c| {
        serves(c, metal3)
            && &pool_key(c) == pool
            && c.status
                .as_ref()
                .and_then(|s| s.address_ref.as_ref())
                .is_none()
    })
    .into_iter()
    .map(|c| ObjectRef::from_obj(c.as_ref()))
    .collect()
}

/// Tells the claim controller which pools just got an address back.
#[derive(Clone)]
pub struct ReleaseNotifier(tokio::sync::mpsc::UnboundedSender<PoolKey>);

impl ReleaseNotifier {
    pub fn send(&self, pool: PoolKey) {
        let _ = self.0.send(pool);
    }
}

pub struct Released(tokio::sync::mpsc::UnboundedReceiver<PoolKey>);

impl Released {
    pub fn into_stream(self) -> impl futures::Stream<Item = PoolKey> {
        futures::stream::unfold(self.0, |mut rx| async move {
            rx.recv().await.map(|key| (key, rx))
        })
    }
}

pub fn release_channel() -> (ReleaseNotifier, Released) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (ReleaseNotifier(tx), Released(rx))
}
