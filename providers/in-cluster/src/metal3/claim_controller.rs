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
use std::time::Duration;

use futures::StreamExt;
use ipam_kube_support::conditions::{self, Decision, READY};
use ipam_kube_support::finalizers;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::allocation::ClaimIdentity;
use crate::api::capi;
use crate::api::capi::keys::PAUSED_ANNOTATION;
use crate::claim_controller::{ReleaseNotifier, Released};
use crate::config::Config;
use crate::ledger::{Ledger, PoolSource, ReserveError};
use crate::metal3::addresses::{self, metal3_in_pool};
use crate::metal3::api::*;
use crate::metal3::pool;
use crate::pool_key::PoolKey;
use crate::settled::Settled;
use crate::stores;

pub const MANAGER: &str = "ipam-operator-metal3-claims";
/// How often a claim that found its pool exhausted looks again, at most, besides the
/// releases and pool changes that wake it at once.
const EXHAUSTED_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("IPClaim {claim}: {source}")]
pub struct Error {
    claim: String,
    source: kube::Error,
}

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

/// What the claim's status should say.
struct Outcome {
    address: Option<String>,
    /// The address itself, once allocated.
    held: Option<IpAddr>,
    error_message: Option<String>,
    decision: Decision,
}

impl Outcome {
    fn failed(reason: &'static str, upstream: impl Into<String>, message: String) -> Self {
        Outcome {
            address: None,
            held: None,
            error_message: Some(upstream.into()),
            decision: Decision::new(READY, false, reason, message),
        }
    }
    /// `AllocationFailed`, the same words in `errorMessage` and the condition.
    fn allocation_failed(message: String) -> Self {
        Outcome::failed("AllocationFailed", message.clone(), message)
    }
    fn waiting(reason: &'static str, message: String) -> Self {
        Outcome {
            address: None,
            held: None,
            error_message: None,
            decision: Decision::new(READY, false, reason, message),
        }
    }
}

pub async fn reconcile(claim: Arc<IPClaim>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = claim.namespace().unwrap_or_default();
    let name = format!("{ns}/{}", claim.name_any());
    let err = |source| Error {
        claim: name.clone(),
        source,
    };
    ctx.caches_ready.wait().await;
    tracing::debug!(claim = %claim.name_any(), rv = ?claim.resource_version(), deleting = claim.meta().deletion_timestamp.is_some(), finalizers = ?claim.finalizers(), "reconcile");
    if claim.meta().deletion_timestamp.is_some() {
        return release(&claim, &ctx).await.map_err(err);
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
            Err(e) => return Err(err(e)),
        }
    };
    let (outcome, action) = allocate(&claim, &ctx).await.map_err(err)?;
    if let Some(outcome) = outcome {
        write_status(&claims, &claim, &outcome).await.map_err(err)?;
        if let Some(address) = outcome.held {
            ctx.settled.mark(&identity(&claim).uid, address);
        }
    }
    Ok(action)
}

/// What the claim's status should say (`None`: it says it already), and when to look again.
type Step = (Option<Outcome>, Action);

async fn allocate(claim: &IPClaim, ctx: &Context) -> Result<Step, kube::Error> {
    let ns = claim.namespace().unwrap_or_default();
    let key = pool_key(claim);
    let wait = Action::await_change();
    let Some(pool) = ctx.pools.get(&ObjectRef::new(&key.name).within(&ns)) else {
        let message = format!("{key} does not exist");
        return Ok((Some(Outcome::waiting("PoolNotFound", message)), wait));
    };
    if pool.annotations().contains_key(PAUSED_ANNOTATION) {
        let message = format!("{key} is paused");
        return Ok((Some(Outcome::waiting("PoolPaused", message)), wait));
    }
    let compiled = match pool::compile(&pool) {
        Ok(compiled) => compiled,
        // An address handed out before the pool turned invalid stays the claim's.
        Err(_) if claim.status.as_ref().is_some_and(|s| s.address.is_some()) => {
            return Ok((None, wait));
        }
        Err(e) => {
            let message = format!("{key} is invalid: {e}");
            return Ok((Some(Outcome::allocation_failed(message)), wait));
        }
    };
    let me = identity(claim);
    let build = || compiled.clone();
    let existing = || addresses::existing(&key, &ctx.addresses, &ctx.capi_addresses);
    let source = PoolSource {
        version: pool.meta().generation,
        build: &build,
        existing: &existing,
    };
    // An IPAddress already written for this claim is kept as it is (a restart, or
    // `clusterctl move`), once the ledger agrees that the claim holds its address.
    let mine = match ctx.ledger.holding(&key, &source, &me).await? {
        Some(address) => {
            let name = address_name(&pool.spec.name_prefix, &address.to_string());
            let stored = ctx.addresses.get(&ObjectRef::new(&name).within(&ns));
            // Done already (the claim, or this process's memory of its write, says so): no
            // request at all.
            if stored
                .as_ref()
                .is_none_or(|a| addresses::metal3_holder(a) == me)
                && (shows_allocated(claim, &name) || ctx.settled.is(&me.uid, address))
            {
                return Ok((None, wait));
            }
            stored.filter(|a| addresses::metal3_holder(a) == me)
        }
        // Written after the book was loaded (restored by `clusterctl move`): only a claim
        // holding nothing yet pays for this look through the pool's addresses.
        None => stores::filter(&ctx.addresses, |a| {
            metal3_in_pool(a, &key) && addresses::metal3_holder(a) == me
        })
        .into_iter()
        .next(),
    };
    if let Some(existing) = mine {
        return adopt(claim, ctx, &key, &source, &existing).await;
    }
    if pool.meta().deletion_timestamp.is_some() {
        // Unlike upstream, a deleting pool hands nothing out, so its deletion can finish.
        let message = format!("{key} is being deleted");
        return Ok((Some(Outcome::waiting("PoolNotReady", message)), wait));
    }
    // Nothing is handed out before the pool's finalizer protects it: deleted before that, it
    // would go at once, under the address just taken.
    if !ipam_kube_support::finalizers::has(pool.as_ref(), POOL_FINALIZER) {
        let message = format!("{key} is not protected by its finalizer yet");
        return Ok((Some(Outcome::waiting("PoolNotReady", message)), wait));
    }
    let requested = claim.annotations().get(IP_ADDRESS_ANNOTATION).cloned();
    let reservation = ctx
        .ledger
        .reserve(&key, &source, &me, requested.as_deref())
        .await;
    let reservation = match reservation {
        Ok(r) => r,
        Err(ReserveError::Api { source, .. }) => return Err(source),
        Err(e @ ReserveError::Exhausted { .. }) => {
            let outcome = Outcome::failed("PoolExhausted", "Exhausted IP Pools", e.to_string());
            return Ok((Some(outcome), Action::requeue(EXHAUSTED_RETRY)));
        }
        Err(ReserveError::Refused { source, .. }) => {
            let outcome = Outcome::failed(
                "AllocationFailed",
                source.upstream_message(),
                format!("{key}: {source}"),
            );
            return Ok((Some(outcome), wait));
        }
        Err(e @ ReserveError::Taken { .. }) => {
            let outcome = Outcome::failed(
                "AllocationFailed",
                "Requested IP not available",
                e.to_string(),
            );
            return Ok((Some(outcome), Action::requeue(EXHAUSTED_RETRY)));
        }
    };

    let address_text = reservation.address.to_string();
    let name = address_name(&pool.spec.name_prefix, &address_text);
    let attributes = &reservation.attributes;
    let address = IPAddress {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(claim.labels().clone()),
            finalizers: Some(vec![ADDRESS_FINALIZER.to_string()]),
            owner_references: Some(owners(claim, &pool)),
            ..Default::default()
        },
        spec: IPAddressSpec {
            claim: reference(claim),
            pool: reference(pool.as_ref()),
            address: address_text.clone(),
            prefix: i32::from(attributes.prefix),
            gateway: attributes.gateway.map(|g| g.to_string()),
            dns_servers: attributes
                .dns_servers
                .iter()
                .map(|d| d.to_string())
                .collect(),
        },
    };
    let api = Api::<IPAddress>::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &address).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = api.get(&name).await?;
            if addresses::metal3_holder(&existing) != me {
                // The name is another claim's: an object the ledger does not know (another
                // pool with the same namePrefix). Give the address back and say so.
                ctx.ledger.release(&key, &me).await?;
                let message = format!(
                    "IPAddress {ns}/{name} already exists for claim {}",
                    existing.spec.claim.name.as_deref().unwrap_or_default()
                );
                let outcome = Outcome::failed(
                    "AllocationFailed",
                    "Failed to create associated IPAddress object",
                    message,
                );
                return Ok((Some(outcome), Action::requeue(EXHAUSTED_RETRY)));
            }
        }
        Err(e) => return Err(e),
    }
    tracing::info!(claim = %format!("{ns}/{}", claim.name_any()), address = %address_text, pool = %key, "allocated");
    ipam_kube_support::metrics::get().allocated("metal3");
    Ok((Some(allocated(&name, reservation.address, &key)), wait))
}

fn allocated(name: &str, address: IpAddr, key: &PoolKey) -> Outcome {
    Outcome {
        address: Some(name.to_string()),
        held: Some(address),
        error_message: None,
        decision: Decision::new(
            READY,
            true,
            "Allocated",
            format!("{address} allocated from {key}"),
        ),
    }
}

async fn adopt(
    claim: &IPClaim,
    ctx: &Context,
    key: &PoolKey,
    source: &PoolSource<'_>,
    existing: &IPAddress,
) -> Result<Step, kube::Error> {
    let wait = Action::await_change();
    let Ok(address) = existing.spec.address.parse::<IpAddr>() else {
        let message = format!(
            "IPAddress {} holds {:?}, which is no IP address",
            existing.name_any(),
            existing.spec.address
        );
        return Ok((Some(Outcome::allocation_failed(message)), wait));
    };
    if let Some(other) = ctx
        .ledger
        .adopt(key, source, address, &identity(claim))
        .await?
    {
        let message = format!(
            "IPAddress {} holds {address}, which {key} already gave to {} {}/{}",
            existing.name_any(),
            other.kind,
            other.namespace,
            other.name
        );
        return Ok((Some(Outcome::allocation_failed(message)), wait));
    }
    Ok((Some(allocated(&existing.name_any(), address, key)), wait))
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
        finalizers::remove(&api, address, ADDRESS_FINALIZER).await?;
        match api
            .delete(&address.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
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
    let current = claim.status.clone().unwrap_or_default();
    let generation = claim.meta().generation;
    let current_address = current.address.as_ref().and_then(|a| a.name.clone());
    ipam_kube_support::metrics::get().domain.claim(
        claim.meta(),
        "IPPool",
        &pool_key(claim).name,
        &current.conditions,
        &outcome.decision,
    );
    // A failure leaves an existing address reference alone; only success sets it.
    let address = outcome.address.clone().or(current_address.clone());
    if conditions::matches(&current.conditions, &outcome.decision, generation)
        && current.error_message == outcome.error_message
        && current_address == address
    {
        return Ok(());
    }
    let mut updated = current.conditions.clone();
    conditions::set(&mut updated, &outcome.decision, generation);
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
    match claims
        .patch_status(&claim.name_any(), &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

fn error_policy(claim: Arc<IPClaim>, error: &Error, _: Arc<Context>) -> Action {
    let conflict = matches!(&error.source, kube::Error::Api(e) if e.code == 409 || e.code == 422);
    if conflict {
        tracing::debug!(claim = %claim.name_any(), %error, "conflict; retrying");
        Action::requeue(Duration::from_millis(200))
    } else {
        tracing::warn!(claim = %claim.name_any(), %error, "reconcile failed; retrying");
        Action::requeue(Duration::from_secs(2))
    }
}

/// Builds the IPClaim controller; the returned future runs it until `shutdown` resolves.
pub fn run<S>(
    client: Client,
    ledger: Ledger,
    config: &Config,
    caches: &stores::Caches,
    released: Released,
    notifier: ReleaseNotifier,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
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
    let controller = ipam_kube_support::readiness::controller(
        "metal3",
        config.api::<IPClaim>(&client),
        config.watcher(),
    )
    .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency));
    let store = controller.store();
    let waiting = move |key: PoolKey| waiting_claims(&store, &key);
    let (w_pool, w_addr, w_capi) = (waiting.clone(), waiting.clone(), waiting.clone());
    controller
        .watches_stream(pool_changes, move |p: IPPool| w_pool(pool::pool_key(&p)))
        // An address going away (of either kind) is a chance for the claims waiting on its pool.
        .watches_stream(address_changes, move |a: IPAddress| {
            let ns = a.namespace().unwrap_or_default();
            let mut refs = a
                .spec
                .pool
                .name
                .as_deref()
                .filter(|_| going(&a))
                .map(|p| w_addr(pool::key(&ns, p)))
                .unwrap_or_default();
            if let Some(claim) = &a.spec.claim.name {
                refs.push(ObjectRef::new(claim).within(&ns));
            }
            refs
        })
        .watches_stream(capi_changes, move |a: capi::IPAddress| {
            let r = &a.spec.pool_ref;
            if r.api_group == GROUP && r.kind == IPPool::kind(&()) && going(&a) {
                w_capi(pool::key(&a.namespace().unwrap_or_default(), &r.name))
            } else {
                Vec::new()
            }
        })
        .reconcile_on(
            released
                .into_stream()
                .flat_map(move |key| futures::stream::iter(waiting(key))),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            ipam_kube_support::metrics::instrument(MANAGER, reconcile),
            error_policy,
            ctx,
        )
        .for_each(|_| futures::future::ready(()))
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
