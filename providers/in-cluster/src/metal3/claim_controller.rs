//! IPClaim → Metal3 IPAddress, one claim per reconcile (upstream reconciles whole pools).
//!
//! Fixes over metal3-io/ip-address-manager:
//! - the claim's finalizer is persisted before anything is taken, so a claim deleted at once
//!   never leaves an IPAddress behind (upstream issue #694);
//! - the address is taken in the ledger before the IPAddress is written, so an IPClaim and an
//!   IPAddressClaim on one pool never receive the same address;
//! - a claim that met an exhausted pool keeps waiting: it is retried when an address of the
//!   pool is released, when the pool changes, and on a capped backoff (upstream #1537).

use std::net::IpAddr;
use std::sync::Arc;

use futures::StreamExt;
use ipam_kube_support::claim_outcome::Outcome;
use ipam_kube_support::conditions::{self, READY};
use ipam_kube_support::drive::{Shutdown, drive};
use ipam_kube_support::finalizers;
use ipam_kube_support::reconcile_error::{RETRY, ReconcileError, Reconciling};
use ipam_kube_support::status;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::allocation::ClaimIdentity;
use crate::api::capi;
use crate::claim_controller::{ReleaseNotifier, Released};
use crate::config::Config;
use crate::ledger::{Ledger, PoolSource, Reservation, ReserveError};
use crate::metal3::addresses::{self, metal3_in_pool};
use crate::metal3::api::*;
use crate::metal3::claim_decision as decide;
use crate::metal3::pool;
use crate::pool_key::PoolKey;
use crate::settled::Settled;
use crate::stores;

pub const MANAGER: &str = "ipam-operator-metal3-claims";

pub struct Context {
    pub client: Client,
    pub ledger: Ledger,
    pub pools: Store<IPPool>,
    pub addresses: Store<IPAddress>,
    pub capi_addresses: Store<capi::IPAddress>,
    pub released: ReleaseNotifier,
    pub caches_ready: stores::CachesReady,
    pub settled: Settled,
}

pub fn pool_key(claim: &IPClaim) -> PoolKey {
    pool::key(
        &claim.namespace().unwrap_or_default(),
        claim.spec.pool.name.as_deref().unwrap_or_default(),
    )
}

pub fn identity(claim: &IPClaim) -> ClaimIdentity {
    ClaimIdentity {
        api_group: GROUP.into(),
        kind: "IPClaim".into(),
        namespace: claim.namespace().unwrap_or_default(),
        name: claim.name_any(),
        uid: claim.uid().unwrap_or_default(),
    }
}

pub async fn reconcile(claim: Arc<IPClaim>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let ns = claim.namespace().unwrap_or_default();
    let fail = Reconciling::new(claim.as_ref());
    ctx.caches_ready.wait().await;
    tracing::debug!(claim = %claim.name_any(), rv = ?claim.resource_version(), deleting = claim.meta().deletion_timestamp.is_some(), finalizers = ?claim.finalizers(), "reconcile");
    if claim.meta().deletion_timestamp.is_some() {
        return release(&claim, &ctx).await.map_err(fail.at("release"));
    }
    let claims = Api::<IPClaim>::namespaced(ctx.client.clone(), &ns);
    let claim = if finalizers::has(claim.as_ref(), CLAIM_FINALIZER) {
        claim
    } else if ctx.settled.knows(&claim.uid().unwrap_or_default()) {
        // A copy older than this process's own writes (the finalizer, then the address): a
        // patch based on it would only be refused. The newer copy is on its way.
        return Ok(Action::await_change());
    } else {
        // Persisted before anything is taken; the patched claim carries on at once.
        match finalizers::add(&claims, claim.as_ref(), CLAIM_FINALIZER).await {
            Ok(patched) => Arc::new(patched),
            // Deleted already: nothing was taken, nothing to do.
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Action::await_change()),
            Err(e) => return Err(fail.at("add the finalizer")(e)),
        }
    };
    let (outcome, held) = allocate(&claim, &ctx).await.map_err(fail.at("allocate"))?;
    write_status(&claims, &claim, &outcome)
        .await
        .map_err(fail.at("write status"))?;
    if let Some(address) = held {
        ctx.settled.mark(&identity(&claim).uid, address);
    }
    Ok(outcome.action())
}

/// What the claim's status should say, and the address it holds once allocated.
type Decided = (Outcome, Option<IpAddr>);

async fn allocate(claim: &IPClaim, ctx: &Context) -> Result<Decided, kube::Error> {
    let key = pool_key(claim);
    let at = ObjectRef::new(&key.name).within(&claim.namespace().unwrap_or_default());
    let pool = ctx.pools.get(&at);
    if let Some(closed) = decide::pool_closed(&key, pool.as_deref()) {
        return Ok((closed, None));
    }
    let pool = pool.expect("the gate lets no missing pool through");
    let compiled = match pool::compile(&pool) {
        Ok(compiled) => compiled,
        Err(e) => return Ok((decide::invalid_pool(claim, &key, &e), None)),
    };
    let build = || crate::compiled::Compiled::from(compiled.clone());
    let existing = || addresses::existing(&key, &ctx.addresses, &ctx.capi_addresses);
    let source = PoolSource {
        version: pool.meta().generation,
        build: &build,
        existing: &existing,
    };
    match holding(claim, ctx, &key, &pool, &source).await? {
        Holding::Settled => Ok((Outcome::quiet(), None)),
        Holding::Written(existing) => adopt(claim, ctx, &key, &source, &existing).await,
        Holding::Nothing => reserve(claim, ctx, &key, &pool, &source).await,
    }
}

/// What the claim holds already.
enum Holding {
    /// Done: the claim, or this process's memory of its write, says so. No request at all.
    Settled,
    /// An IPAddress written for the claim, kept as it is (a restart, or `clusterctl move`).
    Written(Arc<IPAddress>),
    Nothing,
}

async fn holding(
    claim: &IPClaim,
    ctx: &Context,
    key: &PoolKey,
    pool: &IPPool,
    source: &PoolSource<'_>,
) -> Result<Holding, kube::Error> {
    let me = identity(claim);
    let mine = |a: &IPAddress| addresses::metal3_holder(a) == me;
    let Some(address) = ctx.ledger.holding(key, source, &me).await? else {
        // Written after the book was loaded (restored by `clusterctl move`): only a claim
        // holding nothing yet pays for this look through the pool's addresses.
        let found = stores::filter(&ctx.addresses, |a| metal3_in_pool(a, key) && mine(a));
        return Ok(found
            .into_iter()
            .next()
            .map_or(Holding::Nothing, Holding::Written));
    };
    let name = address_name(&pool.spec.name_prefix, &address.to_string());
    let ns = claim.namespace().unwrap_or_default();
    let stored = ctx.addresses.get(&ObjectRef::new(&name).within(&ns));
    if stored.as_deref().is_none_or(mine)
        && (shows_allocated(claim, &name) || ctx.settled.is(&me.uid, address))
    {
        return Ok(Holding::Settled);
    }
    Ok(stored
        .filter(|a| mine(a))
        .map_or(Holding::Nothing, Holding::Written))
}

/// Takes an address in the ledger and writes the IPAddress that hands it out.
async fn reserve(
    claim: &IPClaim,
    ctx: &Context,
    key: &PoolKey,
    pool: &IPPool,
    source: &PoolSource<'_>,
) -> Result<Decided, kube::Error> {
    let me = identity(claim);
    let requested = claim.annotations().get(IP_ADDRESS_ANNOTATION).cloned();
    let reservation = match ctx
        .ledger
        .reserve(key, source, &me, requested.as_deref())
        .await
    {
        Ok(r) => r,
        Err(ReserveError::Api { source, .. }) => return Err(source),
        Err(e) => return Ok((decide::not_reserved(key, &e), None)),
    };
    let ns = claim.namespace().unwrap_or_default();
    let name = address_name(&pool.spec.name_prefix, &reservation.address.to_string());
    let api = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    let object = address(claim, pool, &name, &reservation);
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api.get(&name).await?;
            if addresses::metal3_holder(&existing) != me {
                // Not this claim's: give the address back and say so.
                ctx.ledger.release(key, &me).await?;
                return Ok((decide::name_taken(&existing), None));
            }
        }
        Err(e) => return Err(e),
    }
    tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), address = %reservation.address, pool = %key, "allocated");
    ipam_kube_support::metrics::get().allocated("metal3");
    let outcome = decide::allocated(&name, reservation.address, key);
    Ok((outcome, Some(reservation.address)))
}

/// The IPAddress `name` that hands `reservation` to the claim.
fn address(claim: &IPClaim, pool: &IPPool, name: &str, reservation: &Reservation) -> IPAddress {
    let attributes = &reservation.attributes;
    IPAddress {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: claim.namespace(),
            labels: Some(claim.labels().clone()),
            finalizers: Some(vec![ADDRESS_FINALIZER.to_string()]),
            owner_references: Some(owners(claim, pool)),
            ..Default::default()
        },
        spec: IPAddressSpec {
            claim: reference(claim),
            pool: reference(pool),
            address: reservation.address.to_string(),
            prefix: i32::from(attributes.prefix),
            gateway: attributes.gateway.map(|g| g.to_string()),
            dns_servers: attributes
                .dns_servers
                .iter()
                .map(|d| d.to_string())
                .collect(),
        },
    }
}

async fn adopt(
    claim: &IPClaim,
    ctx: &Context,
    key: &PoolKey,
    source: &PoolSource<'_>,
    existing: &IPAddress,
) -> Result<Decided, kube::Error> {
    let Ok(address) = existing.spec.address.parse() else {
        return Ok((decide::unusable(existing), None));
    };
    let other = ctx
        .ledger
        .adopt(key, source, (address, None), &identity(claim))
        .await?;
    let held = other.is_none().then_some(address);
    Ok((decide::adopted(existing, address, key, other), held))
}

/// Whether the claim shows the address object `name`, `Ready=True`.
fn shows_allocated(claim: &IPClaim, name: &str) -> bool {
    let Some(status) = claim.status.as_ref() else {
        return false;
    };
    status
        .address
        .as_ref()
        .is_some_and(|a| a.name.as_deref() == Some(name))
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == READY && c.status == "True")
}

async fn release(claim: &IPClaim, ctx: &Context) -> Result<Action, kube::Error> {
    if !finalizers::has(claim, CLAIM_FINALIZER) {
        return Ok(Action::await_change());
    }
    // Upstream semantics: another finalizer means the claim is still in use.
    if claim.finalizers().iter().any(|f| f != CLAIM_FINALIZER) {
        tracing::info!(claim = %claim.name_any(), "IPClaim is still in use (has other finalizers). Cannot delete IPAddress.");
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    let key = pool_key(claim);
    let me = identity(claim);
    let api = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    // Read live, not from the cache: an IPAddress just written may not be cached yet.
    let held = api.list(&Default::default()).await?;
    tracing::debug!(claim = %claim.name_any(), listed = held.items.len(), "releasing");
    for address in held
        .items
        .iter()
        .filter(|a| metal3_in_pool(a, &key) && addresses::metal3_holder(a) == me)
    {
        finalizers::remove_and_delete(&api, address, ADDRESS_FINALIZER).await?;
        tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), address = %address.spec.address, "released");
        ipam_kube_support::metrics::get().release("metal3");
    }
    ctx.ledger.release(&key, &me).await?;
    ctx.settled.forget(&me.uid);
    ctx.released.send(key);
    let claims = Api::<IPClaim>::namespaced(ctx.client.clone(), &ns);
    finalizers::remove(&claims, claim, CLAIM_FINALIZER).await?;
    Ok(Action::await_change())
}

fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into()),
        kind: Some(K::kind(&()).into()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        ..Default::default()
    }
}

/// Owned by the pool and the claim, neither as controller, as upstream does: CAPM3 and
/// `clusterctl move` rely on this graph.
pub fn owners(claim: &IPClaim, pool: &IPPool) -> Vec<OwnerReference> {
    let owner = |r: ObjectReference| OwnerReference {
        api_version: r.api_version.unwrap_or_default(),
        kind: r.kind.unwrap_or_default(),
        name: r.name.unwrap_or_default(),
        uid: r.uid.unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    };
    vec![owner(reference(pool)), owner(reference(claim))]
}

/// Writes the status when it differs from what the claim shows.
async fn write_status(
    claims: &Api<IPClaim>,
    claim: &IPClaim,
    outcome: &Outcome,
) -> Result<(), kube::Error> {
    let Some(decision) = &outcome.ready else {
        return Ok(());
    };
    let current = claim.status.clone().unwrap_or_default();
    let generation = claim.meta().generation;
    let current_address = current.address.as_ref().and_then(|a| a.name.clone());
    ipam_kube_support::metrics::get().domain.claim(
        claim.meta(),
        "IPPool",
        &pool_key(claim).name,
        &current.conditions,
        decision,
    );
    // A failure leaves an existing address reference alone; only success sets it.
    let address = outcome.address.clone().or(current_address.clone());
    if conditions::matches(&current.conditions, decision, generation)
        && current.error_message == outcome.error_message
        && current_address == address
    {
        return Ok(());
    }
    let mut updated = current.conditions.clone();
    conditions::set(&mut updated, decision, generation);
    let address_ref = address.map(|name| {
        json!({"apiVersion": IPAddress::api_version(&()), "kind": "IPAddress",
               "name": name, "namespace": claim.namespace()})
    });
    let patch = json!({
        "metadata": {"resourceVersion": claim.resource_version()},
        "status": {"conditions": updated, "errorMessage": outcome.error_message, "address": address_ref},
    });
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let patch = Patch::Merge(&patch);
    status::unless_gone(
        claims
            .patch_status(&claim.name_any(), &params, &patch)
            .await,
    )
}

/// Builds the IPClaim controller; the returned future runs it until `stop` says so.
pub fn run(
    client: Client,
    ledger: Ledger,
    config: &Config,
    caches: &stores::Caches,
    released: Released,
    notifier: ReleaseNotifier,
    stop: Shutdown,
) -> impl std::future::Future<Output = ()> + use<> {
    let (pools, pool_changes) = caches.reflect(config.api::<IPPool>(&client), config.watcher());
    let (addresses, address_changes) = caches.reflect_bulk(config.api::<IPAddress>(&client));
    let (capi_addresses, capi_changes) =
        caches.reflect_bulk(config.api::<capi::IPAddress>(&client));
    let caches_ready = stores::CachesReady::spawn(vec![
        caches.ready::<IPPool>(),
        caches.ready::<IPAddress>(),
        caches.ready::<capi::IPAddress>(),
    ]);
    let ctx = Arc::new(Context {
        client: client.clone(),
        ledger,
        pools,
        addresses,
        capi_addresses,
        released: notifier,
        caches_ready,
        settled: Settled::default(),
    });
    let claims = config.api::<IPClaim>(&client);
    let controller = config.controller("metal3", claims, config.metal3_concurrency());
    let store = controller.store();
    let waiting = move |key: PoolKey| waiting_claims(&store, &key);
    let (w_pool, w_addr, w_capi) = (waiting.clone(), waiting.clone(), waiting.clone());
    let controller = controller
        .watches_stream(pool_changes, move |p: IPPool| w_pool(pool::pool_key(&p)))
        // An address going away (of either kind) is a chance for the claims waiting on its pool.
        .watches_stream(address_changes, move |a: IPAddress| {
            address_changed(&a, &w_addr)
        })
        .watches_stream(capi_changes, move |a: capi::IPAddress| {
            capi_address_changed(&a, &w_capi)
        })
        .reconcile_on(
            released
                .into_stream()
                .flat_map(move |key| futures::stream::iter(waiting(key))),
        );
    drive(controller, MANAGER, reconcile, ctx, RETRY, stop)
}

/// The IPClaims waiting on a pool.
trait Waiting: Fn(PoolKey) -> Vec<ObjectRef<IPClaim>> {}
impl<F: Fn(PoolKey) -> Vec<ObjectRef<IPClaim>>> Waiting for F {}

/// The claims an IPClaim's address concerns: its own, and those waiting on its pool when it
/// goes (an address going away, of either kind, is a chance for them).
fn address_changed(address: &IPAddress, waiting: &impl Waiting) -> Vec<ObjectRef<IPClaim>> {
    let ns = address.namespace().unwrap_or_default();
    let mut refs = address
        .spec
        .pool
        .name
        .as_deref()
        .filter(|_| going(address))
        .map(|p| waiting(pool::key(&ns, p)))
        .unwrap_or_default();
    if let Some(claim) = &address.spec.claim.name {
        refs.push(ObjectRef::new(claim).within(&ns));
    }
    refs
}

/// The IPClaims waiting on an IPPool whose Cluster API address goes away.
fn capi_address_changed(
    address: &capi::IPAddress,
    waiting: &impl Waiting,
) -> Vec<ObjectRef<IPClaim>> {
    let r = &address.spec.pool_ref;
    if r.api_group == GROUP && r.kind == IPPool::kind(&()) && going(address) {
        waiting(pool::key(&address.namespace().unwrap_or_default(), &r.name))
    } else {
        Vec::new()
    }
}

/// Whether an address is going away (our finalizer keeps every one until it is released):
/// only that can let a waiting claim through. Waking every waiting claim of a pool on each
/// new address would cost a pass per claim per allocation in a burst.
pub fn going<K: Resource>(address: &K) -> bool {
    address.meta().deletion_timestamp.is_some()
}

/// Claims of `pool` without an address yet, failed ones included: they are retried.
fn waiting_claims(store: &Store<IPClaim>, pool: &PoolKey) -> Vec<ObjectRef<IPClaim>> {
    stores::filter(store, |c| {
        &pool_key(c) == pool && c.status.as_ref().and_then(|s| s.address.as_ref()).is_none()
    })
    .into_iter()
    .map(|c| ObjectRef::from_obj(c.as_ref()))
    .collect()
}
