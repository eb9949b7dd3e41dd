//! IPAddressClaim → IPAddress for claims whose pool is an InClusterIPPool, a
//! GlobalInClusterIPPool or (with the Metal3 face) a Metal3 IPPool, following the Cluster API
//! IPAM contract.
//!
//! Per claim: fetch (the Cluster, the pool and the address from the caches, the ledger's
//! book) → decide ([`crate::claim_decision`], pure) → apply. The claim's finalizer is
//! persisted before any address is taken, so a claim deleted at once can never leave an
//! address behind; the address is taken in the ledger (see `ledger.rs`) before the IPAddress
//! is written, so two claims can never receive the same one.
//!
//! A new claim costs four requests, in this order: the finalizer, the ledger's record, the
//! IPAddress and the status; a claim already settled costs none.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use ipam_kube_support::capi_cluster::{self, ClusterState, cluster_name};
use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::drive::{Shutdown, drive};
use ipam_kube_support::reconcile_error::{RETRY, ReconcileError, Reconciling};
use ipam_kube_support::{address_metadata, claim_status, finalizers};
use kube::api::PostParams;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::capi::keys::*;
use crate::api::capi::{IPAddress, IPAddressClaim};
use crate::claim_decision::{self as decide, Admission, Holding, identity};
use crate::claim_pool::{self, ClaimPool, PoolCaches, pool_key, serves};
use crate::config::Config;
use crate::ledger::{Ledger, PoolSource, ReserveError};
use crate::pool_key::PoolKey;
use crate::settled::Settled;
use crate::stores;

pub const MANAGER: &str = "ipam-operator-claims";

pub struct Context {
    pub client: Client,
    pub ledger: Ledger,
    pub recorder: Recorder,
    pub pools: PoolCaches,
    pub addresses: Store<IPAddress>,
    pub released: ReleaseNotifier,
    pub caches_ready: stores::CachesReady,
    pub settled: Settled,
    /// The Cluster API `Cluster` kind, when its CRD is installed.
    pub clusters: Option<ApiResource>,
}

pub async fn reconcile(
    claim: Arc<IPAddressClaim>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    // A claim on an IPPool that was served before the Metal3 face was switched off still
    // holds our finalizer: it must be able to go.
    let deleting = claim.meta().deletion_timestamp.is_some();
    let leaving = deleting && finalizers::has(claim.as_ref(), CLAIM_FINALIZER);
    if !serves(&claim, ctx.pools.metal3.is_some() || leaving) {
        return Ok(Action::await_change());
    }
    let fail = Reconciling::new(claim.as_ref());
    // Allocation reads the pool and address caches; never decide from a half-filled one.
    ctx.caches_ready.wait().await;
    if deleting {
        return release(&claim, &ctx).await.map_err(fail.at("release"));
    }
    // Not even the Cluster is read for a paused claim.
    if claim.annotations().contains_key(PAUSED_ANNOTATION) {
        return Ok(Action::await_change());
    }
    let cluster = cluster_state(&claim, &ctx)
        .await
        .map_err(fail.at("read the Cluster"))?;
    let pool = ctx.pools.find(&claim);
    let seen_through = ctx.settled.knows(&claim.uid().unwrap_or_default());
    let mut claim = claim;
    loop {
        match decide::admit(&claim, &cluster, pool.as_ref(), seen_through) {
            Admission::Show(outcome) => {
                return show(&ctx, &claim, &outcome)
                    .await
                    .map_err(fail.at("write status"));
            }
            // Persisted before anything is taken. The patched claim carries on at once rather
            // than waiting for its update event: half the latency of a fresh claim.
            Admission::AddFinalizer => match with_finalizer(&claim, &ctx).await {
                Ok(Some(patched)) => claim = Arc::new(patched),
                // Deleted meanwhile: nothing was taken, nothing to do.
                Ok(None) => return Ok(Action::await_change()),
                Err(e) => return Err(fail.at("add the finalizer")(e)),
            },
            Admission::Allocate(pool) => return allocate(&claim, pool, &ctx, &fail).await,
        }
    }
}

/// The claim with its finalizer persisted, or `None` when it is gone.
async fn with_finalizer(
    claim: &IPAddressClaim,
    ctx: &Context,
) -> Result<Option<IPAddressClaim>, kube::Error> {
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &namespace(claim));
    match finalizers::add(&claims, claim, CLAIM_FINALIZER).await {
        Ok(patched) => Ok(Some(patched)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Asks the ledger what the claim holds, then settles, adopts or reserves as decided.
async fn allocate(
    claim: &IPAddressClaim,
    pool: &ClaimPool,
    ctx: &Context,
    fail: &Reconciling,
) -> Result<Action, ReconcileError> {
    let compiled = pool.compiled.as_ref().expect("admitted pools compile");
    let build = || compiled.clone();
    let existing = || ctx.pools.existing(pool, &ctx.addresses);
    let source = PoolSource {
        version: pool.meta.generation,
        build: &build,
        existing: &existing,
    };
    let me = identity(claim);
    let held = ctx
        .ledger
        .holding(&pool.key, &source, &me)
        .await
        .map_err(fail.at("read the ledger"))?;
    let at = ObjectRef::new(&claim.name_any()).within(&namespace(claim));
    let stored = ctx.addresses.get(&at);
    let settled = ctx.settled.address(&me.uid);
    match decide::holding(claim, pool, held, stored.as_deref(), settled) {
        Holding::Settled => Ok(Action::await_change()),
        Holding::Adopt(existing) => adopt(claim, pool, &source, existing, ctx)
            .await
            .map_err(fail.at("adopt the IPAddress")),
        Holding::Reserve { requested } => {
            reserve(claim, pool, &source, requested.as_deref(), ctx, fail).await
        }
    }
}

/// Takes an address in the ledger, then writes the IPAddress and the status that hand it out.
async fn reserve(
    claim: &IPAddressClaim,
    pool: &ClaimPool,
    source: &PoolSource<'_>,
    requested: Option<&str>,
    ctx: &Context,
    fail: &Reconciling,
) -> Result<Action, ReconcileError> {
    let allocating = Instant::now();
    let me = identity(claim);
    let reservation = match ctx.ledger.reserve(&pool.key, source, &me, requested).await {
        Ok(reservation) => reservation,
        Err(ReserveError::Api { source, .. }) => return Err(fail.at("reserve")(source)),
        Err(e) => {
            tracing::info!(claim = %claim.name_any(), %e, "no address for the claim; it waits");
            let outcome = decide::not_reserved(pool, &e);
            return show(ctx, claim, &outcome)
                .await
                .map_err(fail.at("write status"));
        }
    };
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &namespace(claim));
    let address = decide::address_object(claim, pool, &reservation);
    match addresses.create(&PostParams::default(), &address).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            // Written by someone else since our cache saw the claim without one (another
            // replica, or `clusterctl move`): adopt theirs, free ours if it differs.
            let step = fail.at("adopt the IPAddress");
            let existing = addresses.get(&claim.name_any()).await.map_err(step)?;
            return adopt(claim, pool, source, &existing, ctx)
                .await
                .map_err(fail.at("adopt the IPAddress"));
        }
        Err(e) => return Err(fail.at("write the IPAddress")(e)),
    }
    ipam_kube_support::metrics::get().allocation("in-cluster", allocating.elapsed());
    let outcome = decide::allocated(&claim.name_any(), reservation.address, &pool.key);
    // No event: the Ready condition says the same, upstream writes none, and an event per
    // claim would be a fifth write on the path every claim takes.
    let action = show(ctx, claim, &outcome)
        .await
        .map_err(fail.at("write status"))?;
    ctx.settled.mark(&me.uid, reservation.address);
    tracing::info!(claim = %format!("{}/{}", namespace(claim), claim.name_any()), address = %reservation.address, pool = %pool.key, "allocated");
    Ok(action)
}

/// Makes an IPAddress written for the claim its own: recorded in the ledger, owned and
/// labelled as this controller writes them, and shown on the claim.
async fn adopt(
    claim: &IPAddressClaim,
    pool: &ClaimPool,
    source: &PoolSource<'_>,
    existing: &IPAddress,
    ctx: &Context,
) -> Result<Action, kube::Error> {
    let Ok(address) = existing.spec.address.parse() else {
        return show(ctx, claim, &decide::unusable(existing)).await;
    };
    // A prefix pool's IPAddress may hold another length than the pool hands out.
    let prefix = pool
        .prefixes
        .as_ref()
        .and_then(|_| u8::try_from(existing.spec.prefix).ok());
    let other = ctx
        .ledger
        .adopt(&pool.key, source, (address, prefix), &identity(claim))
        .await?;
    let outcome = decide::adopted(existing, address, &pool.key, other);
    if outcome.address.is_some() {
        let owners = address_metadata::owner_references(claim, pool.owner.clone());
        let labels = address_metadata::copied_labels(claim);
        address_metadata::adopt(&ctx.client, existing, owners, labels).await?;
    }
    let action = show(ctx, claim, &outcome).await?;
    if outcome.address.is_some() {
        ctx.settled.mark(&identity(claim).uid, address);
    }
    Ok(action)
}

/// Gives the claim's address back: the IPAddress, then the ledger's record, then the
/// finalizer. A paused Cluster or pool holds it (`clusterctl move`), a missing one never does,
/// and the pool's reuse grace period delays it.
async fn release(claim: &IPAddressClaim, ctx: &Context) -> Result<Action, kube::Error> {
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return Ok(Action::await_change());
    }
    if let ClusterState::Paused(_) = cluster_state(claim, ctx).await? {
        return Ok(Action::await_change());
    }
    let pool = ctx.pools.find(claim);
    let paused = |p: &ClaimPool| {
        p.meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(PAUSED_ANNOTATION))
    };
    if pool.as_ref().is_some_and(paused) {
        return Ok(Action::await_change());
    }
    let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    if let Some(left) = decide::grace_left(claim, pool.as_ref(), now) {
        return Ok(Action::requeue(left));
    }
    let ns = namespace(claim);
    let addresses = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    let mut released = None;
    if let Some(address) = addresses.get_opt(&claim.name_any()).await?
        && address.spec.claim_ref.name == claim.name_any()
    {
        released = Some(address.spec.address.clone());
        finalizers::remove_and_delete(&addresses, &address, ADDRESS_FINALIZER).await?;
    }
    let key = pool_key(claim);
    ctx.ledger.release(&key, &identity(claim)).await?;
    ctx.settled.forget(&claim.uid().unwrap_or_default());
    ctx.released.send(key.clone());
    if let Some(address) = released {
        tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), %address, "released");
        ipam_kube_support::metrics::get().release("in-cluster");
        let note = format!("{address} released to {key}");
        let recorder = &ctx.recorder;
        ipam_kube_support::events::publish(
            recorder,
            claim,
            EventType::Normal,
            "AddressReleased",
            "Allocate",
            &note,
        )
        .await;
    }
    let claims = Api::<IPAddressClaim>::namespaced(ctx.client.clone(), &ns);
    finalizers::remove(&claims, claim, CLAIM_FINALIZER).await?;
    Ok(Action::await_change())
}

/// Whether the claim's Cluster lets it allocate (shared with the other backends).
async fn cluster_state(claim: &IPAddressClaim, ctx: &Context) -> Result<ClusterState, kube::Error> {
    capi_cluster::state(&ctx.client, ctx.clusters.as_ref(), claim).await
}

/// Writes what `outcome` says (once, and only what changed), and says when to look again.
async fn show(
    ctx: &Context,
    claim: &IPAddressClaim,
    outcome: &Outcome,
) -> Result<Action, kube::Error> {
    claim_status::show(&ctx.client, MANAGER, &ctx.recorder, claim, outcome).await?;
    Ok(outcome.action())
}

fn namespace(claim: &IPAddressClaim) -> String {
    claim.namespace().unwrap_or_default()
}

/// What the claim controller is given; it builds its caches itself (see `stores.rs`).
pub struct Parts {
    pub client: Client,
    pub ledger: Ledger,
    pub recorder: Recorder,
    pub clusters: Option<ApiResource>,
}

/// Builds the claim controller; the returned future runs it until `stop` says so.
pub fn run(
    parts: Parts,
    config: &Config,
    caches: &stores::Caches,
    released: Released,
    notifier: ReleaseNotifier,
    stop: Shutdown,
) -> impl std::future::Future<Output = ()> + use<> {
    let client = parts.client.clone();
    let (addresses, address_changes) = caches.reflect_bulk(config.api::<IPAddress>(&client));
    let claims = config.api::<IPAddressClaim>(&client);
    let controller = config.controller("in-cluster", claims, config.concurrency);
    let claim_store = controller.store();
    let with_metal3 = config.metal3;
    let waiting = move |key: PoolKey| waiting_claims(&claim_store, &key, with_metal3);
    let waiting_released = waiting.clone();
    let (controller, pools, mut ready) =
        claim_pool::watch(controller, config, &client, caches, waiting);
    ready.push(caches.ready::<IPAddress>());
    let mut controller = controller
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
        );
    if let Some(resource) = &parts.clusters {
        controller = watch_clusters(controller, config, &client, resource);
    }
    let ctx = Arc::new(Context {
        caches_ready: stores::CachesReady::spawn(ready),
        client: parts.client,
        ledger: parts.ledger,
        recorder: parts.recorder,
        pools,
        addresses,
        released: notifier,
        settled: Settled::default(),
        clusters: parts.clusters,
    });
    drive(controller, MANAGER, reconcile, ctx, RETRY, stop)
}

/// A Cluster that appears, resumes or goes is a chance for the claims that name it.
fn watch_clusters(
    controller: Controller<IPAddressClaim>,
    config: &Config,
    client: &Client,
    resource: &ApiResource,
) -> Controller<IPAddressClaim> {
    let claim_store = controller.store();
    let api = match &config.namespace {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource),
        None => Api::<DynamicObject>::all_with(client.clone(), resource),
    };
    controller.watches_with(
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
    )
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
