//! IPPool: finalizer, Cluster labels and owner reference (for `clusterctl move`),
//! `status.indexes` rebuilt from both kinds of address, `Ready` and `Exhausted` conditions,
//! and deletion, which waits until no address of either kind uses the pool.

use std::sync::Arc;
use std::time::Duration;

use ipam_engine::Allocator;
use ipam_kube_support::conditions::{self, Decision, READY};
use ipam_kube_support::drive::{Shutdown, drive};
use ipam_kube_support::reconcile_error::{RETRY, ReconcileError, Reconciling};
use ipam_kube_support::{finalizers, status};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::api::capi;
use crate::api::capi::keys::{CLUSTER_NAME_LABEL, PAUSED_ANNOTATION};
use crate::claim_controller::ReleaseNotifier;
use crate::config::Config;
use crate::ledger::Ledger;
use crate::metal3::addresses;
use crate::metal3::api::*;
use crate::metal3::{orphans, pool};
use crate::pool_deletion::{self, Going, Keepers};
use crate::{stale_records, stores};

pub const MANAGER: &str = "ipam-operator-metal3-pools";
pub const EXHAUSTED: &str = "Exhausted";
/// Upstream's requeue while the pool's Cluster is paused.
const PAUSED_RETRY: Duration = Duration::from_secs(30);

pub struct Context {
    pub client: Client,
    pub ledger: Ledger,
    pub addresses: Store<IPAddress>,
    pub capi_addresses: Store<capi::IPAddress>,
    pub claims: Store<IPClaim>,
    pub caches_ready: stores::CachesReady,
    /// The Cluster API `Cluster` kind, when its CRD is installed.
    pub clusters: Option<ApiResource>,
    pub sweeper: stale_records::Sweeper,
    pub pacer: crate::pacer::Pacer,
    /// Told when a sweep frees an address: Cluster API claims and IPClaims both draw here.
    pub released: Vec<ReleaseNotifier>,
}

pub async fn reconcile(ippool: Arc<IPPool>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let key = pool::pool_key(&ippool);
    let fail = Reconciling::new(ippool.as_ref());
    ctx.caches_ready.wait().await;
    if ippool.meta().deletion_timestamp.is_none()
        && let Some(wait) = ctx.pacer.turn(
            &key,
            ippool.status.as_ref().map_or(&[][..], |s| &s.conditions),
            ippool.meta().generation,
        )
    {
        return Ok(Action::requeue(wait));
    }
    let ns = ippool.namespace().unwrap_or_default();
    let pools = Api::<IPPool>::namespaced(ctx.client.clone(), &ns);
    let freed = orphans::free(&ctx.client, &ctx.ledger, &key, &ctx.addresses, &ctx.claims)
        .await
        .map_err(fail.at("free orphaned addresses"))?;
    if freed > 0 {
        // The deletions bring the pool back with the addresses gone from the cache.
        return Ok(Action::await_change());
    }
    let existing = addresses::existing(&key, &ctx.addresses, &ctx.capi_addresses);

    if let Some(cluster) = ippool
        .spec
        .cluster_name
        .as_deref()
        .filter(|c| !c.is_empty())
    {
        match attach_to_cluster(&ctx, &pools, &ippool, cluster)
            .await
            .map_err(fail.at("attach to the Cluster"))?
        {
            ClusterState::Patched => return Ok(Action::await_change()),
            ClusterState::Paused if ippool.meta().deletion_timestamp.is_none() => {
                return Ok(Action::requeue(PAUSED_RETRY));
            }
            _ => {}
        }
    }

    if ippool.meta().deletion_timestamp.is_some() {
        let going = Going {
            pools: &pools,
            pool: ippool.as_ref(),
            key: &key,
            finalizer: POOL_FINALIZER,
            in_use: (existing.len(), "addresses"),
        };
        let keepers = Keepers::new(&ctx.client, &ctx.ledger, &ctx.sweeper, &ctx.pacer);
        let Some((d, action)) = pool_deletion::finish(keepers, going).await? else {
            gauges(&key, None);
            return Ok(Action::await_change());
        };
        write_status(&pools, &ippool, &existing, &[d])
            .await
            .map_err(fail.at("write status"))?;
        return Ok(action);
    }
    if !finalizers::has(ippool.as_ref(), POOL_FINALIZER) {
        finalizers::add(&pools, ippool.as_ref(), POOL_FINALIZER)
            .await
            .map_err(fail.at("add the finalizer"))?;
        return Ok(Action::await_change());
    }
    let decisions = match pool::compile(&ippool) {
        Ok(compiled) => {
            let held = existing.iter().map(|(a, c)| (a.clone(), c.engine_key()));
            let (allocator, _) = Allocator::rebuild(compiled, held);
            let c = allocator.counts();
            let s = c.saturated();
            gauges(&key, Some([s.total, s.used, s.free]));
            let exhausted = if c.free == 0 {
                Decision::new(
                    EXHAUSTED,
                    true,
                    "PoolExhausted",
                    format!(
                        "{key} has no free address: {} of {} in use; claims wait until one is released",
                        c.used, c.total
                    ),
                )
            } else {
                Decision::new(
                    EXHAUSTED,
                    false,
                    "FreeAddresses",
                    format!("{key} has {} free addresses of {}", c.free, c.total),
                )
            };
            vec![
                Decision::new(READY, true, "PoolReady", format!("{key} serves claims")),
                exhausted,
            ]
        }
        Err(e) => vec![Decision::new(
            READY,
            false,
            "InvalidSpec",
            format!("{key} is invalid: {e}"),
        )],
    };
    write_status(&pools, &ippool, &existing, &decisions)
        .await
        .map_err(fail.at("write status"))?;
    let present = existing
        .iter()
        .map(|(address, _)| address.clone())
        .collect();
    let next = ctx
        .sweeper
        .sweep(&ctx.client, &ctx.ledger, &key, &present, &ctx.released)
        .await
        .map_err(fail.at("sweep stale records"))?;
    Ok(Action::requeue(next))
}

/// The pool's `ipam_pool_addresses` and utilisation, as the in-cluster pools have them.
fn gauges(key: &crate::pool_key::PoolKey, counts: Option<[i64; 3]>) {
    let namespace = key.namespace.as_deref().unwrap_or_default();
    ipam_kube_support::metrics::get().pool(&key.kind, namespace, &key.name, counts);
}

enum ClusterState {
    Missing,
    Usable,
    Paused,
    Patched,
}

/// Labels the pool with its Cluster and adds a non-controller owner reference to it, matched
/// by group, kind and name only: a pivoted Cluster has a new uid, and the reference found is
/// kept as it is.
async fn attach_to_cluster(
    ctx: &Context,
    pools: &Api<IPPool>,
    ippool: &IPPool,
    cluster: &str,
) -> Result<ClusterState, kube::Error> {
    let Some(resource) = &ctx.clusters else {
        return Ok(ClusterState::Missing);
    };
    let ns = ippool.namespace().unwrap_or_default();
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ns, resource);
    let Some(found) = api.get_opt(cluster).await? else {
        return Ok(ClusterState::Missing);
    };
    let labelled = ippool.labels().get(CLUSTER_NAME_LABEL).map(String::as_str) == Some(cluster)
        && ippool.labels().get(PROVIDER_LABEL).map(String::as_str) == Some(PROVIDER);
    let owned = ippool.owner_references().iter().any(|o| {
        o.kind == resource.kind
            && o.name == cluster
            && o.api_version.split('/').next() == Some(resource.group.as_str())
    });
    if !labelled || !owned {
        let mut owners = ippool.owner_references().to_vec();
        if !owned {
            owners.push(OwnerReference {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
                name: cluster.into(),
                uid: found.uid().unwrap_or_default(),
                controller: None,
                block_owner_deletion: None,
            });
        }
        let patch = json!({"metadata": {
            "resourceVersion": ippool.resource_version(),
            "labels": {CLUSTER_NAME_LABEL: cluster, PROVIDER_LABEL: PROVIDER},
            "ownerReferences": owners,
        }});
        pools
            .patch(
                &ippool.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        return Ok(ClusterState::Patched);
    }
    let paused = found
        .data
        .pointer("/spec/paused")
        .and_then(|p| p.as_bool())
        .unwrap_or(false)
        || ippool.annotations().contains_key(PAUSED_ANNOTATION);
    Ok(if paused {
        ClusterState::Paused
    } else {
        ClusterState::Usable
    })
}

async fn write_status(
    pools: &Api<IPPool>,
    ippool: &IPPool,
    existing: &[(String, crate::api::allocation::ClaimIdentity)],
    decisions: &[Decision],
) -> Result<(), kube::Error> {
    let current = ippool.status.clone().unwrap_or_default();
    let generation = ippool.meta().generation;
    let indexes = addresses::indexes(existing);
    let same_conditions = decisions
        .iter()
        .all(|d| conditions::matches(&current.conditions, d, generation));
    if same_conditions && indexes == current.indexes {
        return Ok(());
    }
    let mut updated = current.conditions.clone();
    for d in decisions {
        conditions::set(&mut updated, d, generation);
    }
    let last_updated = if indexes == current.indexes {
        current.last_updated
    } else {
        Some(Time(k8s_openapi::jiff::Timestamp::now()))
    };
    // Empty or unset fields are left out: the API server refuses a null map.
    let mut body = json!({"conditions": updated});
    if !indexes.is_empty() {
        body["indexes"] = json!(indexes);
    }
    if let Some(time) = last_updated {
        body["lastUpdated"] = json!(time);
    }
    status::unless_gone(status::apply(pools, MANAGER, &ippool.name_any(), body).await)
}

/// Builds the IPPool controller; the returned future runs it until `stop` says so.
pub fn run(
    client: Client,
    ledger: Ledger,
    released: Vec<ReleaseNotifier>,
    config: &Config,
    caches: &stores::Caches,
    clusters: Option<ApiResource>,
    stop: Shutdown,
) -> impl std::future::Future<Output = ()> + use<> {
    let (addresses, address_changes) = caches.reflect_bulk(config.api::<IPAddress>(&client));
    let (capi_addresses, capi_changes) =
        caches.reflect_bulk(config.api::<capi::IPAddress>(&client));
    let (claims, claim_changes) = caches.reflect_bulk(config.api::<IPClaim>(&client));
    let caches_ready = stores::CachesReady::spawn(vec![
        caches.ready::<IPAddress>(),
        caches.ready::<capi::IPAddress>(),
        caches.ready::<IPClaim>(),
    ]);
    let ctx = Arc::new(Context {
        client: client.clone(),
        ledger,
        addresses,
        capi_addresses,
        claims,
        caches_ready,
        clusters,
        sweeper: Default::default(),
        pacer: Default::default(),
        released,
    });
    let pools = config.api::<IPPool>(&client);
    let controller = config
        .controller("metal3", pools, config.metal3_concurrency())
        .watches_stream(address_changes, |a: IPAddress| pool_named(&a, &a.spec.pool))
        .watches_stream(capi_changes, |a: capi::IPAddress| {
            let r = &a.spec.pool_ref;
            (r.api_group == GROUP && r.kind == IPPool::kind(&()))
                .then(|| ObjectRef::new(&r.name).within(&a.namespace().unwrap_or_default()))
        })
        // A claim that vanished (deleted) may leave an address to free.
        .watches_stream(claim_changes, |c: IPClaim| pool_named(&c, &c.spec.pool));
    drive(controller, MANAGER, reconcile, ctx, RETRY, stop)
}

/// The IPPool an object of `owner`'s namespace names in `pool`, if it names one.
fn pool_named(owner: &impl ResourceExt, pool: &ObjectReference) -> Option<ObjectRef<IPPool>> {
    let ns = owner.namespace().unwrap_or_default();
    pool.name.as_ref().map(|p| ObjectRef::new(p).within(&ns))
}
