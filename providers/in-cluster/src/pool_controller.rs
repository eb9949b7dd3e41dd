//! Pool status (the upstream's exact counts, plus a `Ready` condition) and pool deletion,
//! which waits until no IPAddress uses the pool. One generic controller serves every
//! in-cluster kind: the pools of addresses, and the prefix pools, counted in sub-prefixes.

use std::sync::Arc;

use ipam_kube_support::conditions::{self, Decision, READY};
use ipam_kube_support::drive::drive;
use ipam_kube_support::reconcile_error::{RETRY, ReconcileError, Reconciling};
use ipam_kube_support::{finalizers, status};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::addresses::address_in_pool;
use crate::api::capi::IPAddress;
use crate::api::capi::keys::POOL_FINALIZER;
use crate::api::pool::AddressCounts;
use crate::claim_controller::ReleaseNotifier;
use crate::config::Config;
use crate::ledger::Ledger;
use crate::pacer::Pacer;
use crate::pool_deletion::{self, Going, Keepers};
use crate::pool_object::PoolObject;
use crate::{stale_records, stores};

pub const MANAGER: &str = "ipam-operator-pools";

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub ledger: Ledger,
    pub addresses: Store<IPAddress>,
    pub caches_ready: stores::CachesReady,
    pub sweeper: stale_records::Sweeper,
    pub pacer: Pacer,
    /// Told when a sweep frees an address, for the claims waiting on the pool.
    pub released: Vec<ReleaseNotifier>,
}

fn api<P: PoolObject>(client: &Client, pool: &P) -> Api<P> {
    P::api(client, pool.namespace().as_deref())
}

pub async fn reconcile<P: PoolObject>(
    pool: Arc<P>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let key = pool.key();
    let fail = Reconciling::new(pool.as_ref());
    ctx.caches_ready.wait().await;
    if pool.meta().deletion_timestamp.is_none()
        && let Some(wait) = ctx.pacer.turn(
            &key,
            pool.pool_status().map_or(&[][..], |s| &s.conditions),
            pool.meta().generation,
        )
    {
        return Ok(Action::requeue(wait));
    }
    let in_use = stores::filter(&ctx.addresses, |a| address_in_pool(a, &key));
    let suspects: Vec<&IPAddress> = in_use
        .iter()
        .map(AsRef::as_ref)
        .filter(|a| crate::orphans::suspect(a))
        .collect();
    if crate::orphans::free(&ctx.client, &ctx.ledger, &key, &suspects)
        .await
        .map_err(fail.at("free orphaned addresses"))?
        > 0
    {
        // The freed addresses' deletions bring the pool back with fresh counts.
        return Ok(Action::await_change());
    }
    let pools = api(&ctx.client, pool.as_ref());

    if pool.meta().deletion_timestamp.is_some() {
        let going = Going {
            pools: &pools,
            pool: pool.as_ref(),
            key: &key,
            finalizer: POOL_FINALIZER,
            in_use: (in_use.len(), "IPAddresses"),
        };
        let keepers = Keepers::new(&ctx.client, &ctx.ledger, &ctx.sweeper, &ctx.pacer);
        let Some((d, action)) = pool_deletion::finish(keepers, going).await? else {
            pool_gauges(&key, None);
            return Ok(Action::await_change());
        };
        write_status(&pools, pool.as_ref(), None, &d)
            .await
            .map_err(fail.at("write status"))?;
        return Ok(action);
    }
    if !finalizers::has(pool.as_ref(), POOL_FINALIZER) {
        finalizers::add(&pools, pool.as_ref(), POOL_FINALIZER)
            .await
            .map_err(fail.at("add the finalizer"))?;
        return Ok(Action::await_change());
    }
    let (counts, decision) = match pool.compiled() {
        Ok(compiled) => {
            let unit = compiled.unit();
            let existing = in_use.iter().map(|a| {
                (
                    a.spec.address.clone(),
                    a.spec.prefix,
                    format!("{}/{}", a.namespace().unwrap_or_default(), a.name_any()),
                )
            });
            let c = compiled.counts(existing).saturated();
            tracing::debug!(pool = %key, total = c.total, used = c.used, "counted");
            pool_gauges(&key, Some([c.total, c.used, c.free]));
            let counts = AddressCounts {
                total: c.total,
                used: c.used,
                free: c.free,
                out_of_range: c.out_of_range,
            };
            let decision = if c.free > 0 {
                Decision::new(READY, true, "PoolReady", format!("{key} has a free {unit}"))
            } else {
                Decision::new(
                    READY,
                    true,
                    "PoolExhausted",
                    format!("{key} has no free {unit}; claims wait until one is released"),
                )
            };
            (counts, decision)
        }
        Err(e) => {
            let used = i64::try_from(in_use.len()).unwrap_or(i64::MAX);
            let counts = AddressCounts {
                total: 0,
                used,
                free: 0,
                out_of_range: used,
            };
            (
                counts,
                Decision::new(
                    READY,
                    false,
                    "InvalidSpec",
                    format!("{key} is invalid: {e}"),
                ),
            )
        }
    };
    let written = write_status(&pools, pool.as_ref(), Some(counts), &decision)
        .await
        .map_err(fail.at("write status"))?;
    // A validation failure is told once, when the pool turns invalid, not on every pass.
    if written && decision.reason == "InvalidSpec" {
        let event = Event {
            type_: EventType::Warning,
            reason: "InvalidSpec".into(),
            note: Some(decision.message.chars().take(1000).collect()),
            action: "Validate".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &pool.object_ref(&())).await {
            tracing::warn!(error = %e, "cannot publish event");
        }
    }
    let present = in_use.iter().map(|a| a.spec.address.clone()).collect();
    let next = ctx
        .sweeper
        .sweep(&ctx.client, &ctx.ledger, &key, &present, &ctx.released)
        .await
        .map_err(fail.at("sweep stale records"))?;
    Ok(Action::requeue(next))
}

async fn write_status<P: PoolObject>(
    pools: &Api<P>,
    pool: &P,
    counts: Option<AddressCounts>,
    decision: &Decision,
) -> Result<bool, kube::Error> {
    let current = pool.pool_status();
    let generation = pool.meta().generation;
    let current_conditions = current.map(|s| s.conditions.clone()).unwrap_or_default();
    let current_counts = current.and_then(|s| s.ip_addresses);
    if conditions::matches(&current_conditions, decision, generation)
        && (counts.is_none() || counts == current_counts)
    {
        return Ok(false);
    }
    let mut updated: Vec<_> = current_conditions
        .into_iter()
        .filter(|c| c.type_ == READY)
        .collect();
    conditions::set(&mut updated, decision, generation);
    let mut body = json!({"conditions": updated});
    if let Some(counts) = counts.or(current_counts) {
        body["ipAddresses"] = serde_json::to_value(counts).expect("counts serialize");
    }
    match status::apply(pools, MANAGER, &pool.name_any(), body).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

fn pool_gauges(key: &crate::pool_key::PoolKey, counts: Option<[i64; 3]>) {
    let namespace = key.namespace.as_deref().unwrap_or_default();
    ipam_kube_support::metrics::get().pool(&key.kind, namespace, &key.name, counts);
}

/// What a pool controller is given besides its configuration and caches.
pub struct Parts {
    pub client: Client,
    pub ledger: Ledger,
    pub recorder: Recorder,
    /// Told when a sweep frees an address, for the claims waiting on the pool.
    pub released: ReleaseNotifier,
}

/// Builds the pool controller for kind `P`; the returned future runs it until `shutdown`
/// resolves.
pub fn run<P: PoolObject, S>(
    parts: Parts,
    config: &Config,
    caches: &stores::Caches,
    pools: Api<P>,
    shutdown: S,
) -> impl std::future::Future<Output = ()> + use<P, S>
where
    S: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let Parts {
        client,
        ledger,
        recorder,
        released,
    } = parts;
    let (addresses, address_changes) = caches.reflect_bulk(config.api::<IPAddress>(&client));
    let caches_ready = stores::CachesReady::spawn(vec![caches.ready::<IPAddress>()]);
    let ctx = Arc::new(Context {
        client,
        recorder,
        ledger,
        addresses,
        caches_ready,
        sweeper: Default::default(),
        pacer: Default::default(),
        released: vec![released],
    });
    let controller =
        ipam_kube_support::readiness::controller("in-cluster", pools, config.watcher())
            .with_config(
                kube::runtime::controller::Config::default().concurrency(config.concurrency),
            )
            .watches_stream(address_changes, move |address: IPAddress| {
                let r = &address.spec.pool_ref;
                (r.api_group == crate::api::GROUP && r.kind == P::KIND).then(|| {
                    let pool = ObjectRef::<P>::new(&r.name);
                    if P::NAMESPACED {
                        pool.within(&address.namespace().unwrap_or_default())
                    } else {
                        pool
                    }
                })
            });
    drive(controller, MANAGER, reconcile::<P>, ctx, RETRY, shutdown)
}
