//! The load scenarios: N claims over P pools created at concurrency C, each timed from its
//! create request to the moment a watch sees it bound. Served by the system under test, or,
//! for the raw limit, by the driver itself making exactly a provider's writes per claim.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::face::{Face, PoolPlan};
use crate::measure::{Limits, Window};
use crate::ready_watch::ReadyWatch;
use crate::report::Report;
use crate::retry::{Call, retried};
use crate::{duplicates, kinds, setup};

#[derive(Debug, Clone)]
pub struct ClaimLoad {
    pub scenario: String,
    pub system: String,
    pub face: Face,
    /// The driver serves the claims itself (the raw limit) instead of a system under test.
    pub raw: bool,
    pub namespace: String,
    pub pools: usize,
    pub claims_per_pool: usize,
    pub concurrency: usize,
    pub limits: Limits,
}

/// What one claim's writers share.
struct Shared {
    face: Face,
    claims: Api<DynamicObject>,
    addresses: Api<DynamicObject>,
    pools: Vec<(PoolPlan, String)>,
    next_host: Vec<AtomicU32>,
    /// Claims are created with their finalizer, saving the patch: for writing existing state
    /// fast, not for the raw limit, where the claim is someone else's to create.
    finalizer_on_create: bool,
    window: Window,
}

pub async fn run(client: &Client, load: &ClaimLoad) -> anyhow::Result<Report> {
    let face = load.face;
    let n = load.pools * load.claims_per_pool;
    setup::namespace(client, &load.namespace).await?;
    let pools = create_pools(client, &load.namespace, face, load.pools, 16).await?;
    let mut notes = Vec::new();
    if !load.raw && !pools_protected(client, load).await? {
        notes.push("a pool had no finalizer 30s after its creation; the load ran anyway".into());
    }
    let claims = kinds::api(client, &load.namespace, &face.claim_kind());
    let watch = ReadyWatch::start(claims.clone(), face.is_bound()).await?;
    let shared = Arc::new(Shared {
        face,
        claims,
        addresses: kinds::api(client, &load.namespace, &face.address_kind()),
        next_host: pools.iter().map(|_| AtomicU32::new(2)).collect(),
        pools,
        finalizer_on_create: false,
        window: Window::open(client).await?,
    });

    let raw = load.raw;
    let failures: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let shared = shared.clone();
            async move {
                let result = if raw {
                    serve_raw(&shared, i).await
                } else {
                    create_claim(&shared, i)
                        .await
                        .map(|_| ())
                        .map_err(Into::into)
                };
                result.err().map(|e| format!("claim {i}: {e:#}"))
            }
        })
        .buffer_unordered(load.concurrency)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    if let Some(first) = failures.first() {
        notes.push(format!(
            "{} claims failed to be written, first: {first}",
            failures.len()
        ));
    }
    let report = shared
        .window
        .close(client, &watch, n, &load.limits, notes)
        .await?;
    let (addresses, duplicates) =
        duplicates::count(&shared.addresses, |a| face.pool_and_address(a)).await?;
    Ok(Report {
        scenario: load.scenario.clone(),
        system: load.system.clone(),
        concurrency: load.concurrency,
        pools: load.pools,
        addresses,
        duplicates,
        ..report
    })
}

async fn create_pools(
    client: &Client,
    namespace: &str,
    face: Face,
    count: usize,
    prefix: u8,
) -> anyhow::Result<Vec<(PoolPlan, String)>> {
    let api = kinds::api(client, namespace, &face.pool_kind());
    let mut pools = Vec::new();
    for index in 0..count {
        let plan = PoolPlan::nth(index, prefix);
        let created = api
            .create(&PostParams::default(), &face.pool(&plan))
            .await?;
        pools.push((plan, created.uid().unwrap_or_default()));
    }
    Ok(pools)
}

/// Writes `n` claims already bound to addresses of one pool (`10.0.0.0/prefix`), as a
/// provider would have left them, at `concurrency`: the state an operator restarts into.
pub async fn write_bound(
    client: &Client,
    namespace: &str,
    face: Face,
    prefix: u8,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    setup::namespace(client, namespace).await?;
    let pools = create_pools(client, namespace, face, 1, prefix).await?;
    let shared = Arc::new(Shared {
        face,
        claims: kinds::api(client, namespace, &face.claim_kind()),
        addresses: kinds::api(client, namespace, &face.address_kind()),
        next_host: vec![AtomicU32::new(2)],
        pools,
        finalizer_on_create: true,
        window: Window::open(client).await?,
    });
    futures::stream::iter(0..n)
        .map(|i| {
            let shared = shared.clone();
            async move { serve_raw(&shared, i).await }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Both providers put a finalizer on a pool before handing out from it; waiting for it keeps
/// the pool's own reconcile out of the measured window.
async fn pools_protected(client: &Client, load: &ClaimLoad) -> anyhow::Result<bool> {
    let api = kinds::api(client, &load.namespace, &load.face.pool_kind());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let pools = api.list(&Default::default()).await?;
        if pools.items.iter().all(|p| !p.finalizers().is_empty()) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(false)
}

fn claim_name(i: usize) -> String {
    format!("claim-{i:06}")
}

/// Claim `i` goes to pool `i mod P`, so that several pools are loaded at once.
async fn create_claim(shared: &Shared, i: usize) -> kube::Result<DynamicObject> {
    let name = claim_name(i);
    let (pool, _) = &shared.pools[i % shared.pools.len()];
    let mut body = shared.face.claim(&name, &pool.name);
    if shared.finalizer_on_create {
        body.metadata.finalizers = Some(vec![shared.face.claim_finalizer().into()]);
    }
    shared.window.sending(&name);
    let plural = shared.face.claim_kind().plural;
    let call = Call {
        verb: "POST",
        resource: &plural,
        ok: "201",
    };
    let params = PostParams::default();
    retried(&shared.window.tally, call, || {
        shared.claims.create(&params, &body)
    })
    .await
}

/// The raw limit: the writes a provider cannot avoid per claim, with the address taken from a
/// counter instead of a pool's free space: finalizer on the claim, the address object, the
/// claim's status.
async fn serve_raw(shared: &Shared, i: usize) -> anyhow::Result<()> {
    let face = shared.face;
    let name = claim_name(i);
    let claim = create_claim(shared, i).await?;
    let plural = face.claim_kind().plural;
    let finalizer = json!({"metadata": {"finalizers": [face.claim_finalizer()]}});
    let (finalizer, params) = (Patch::Merge(&finalizer), PatchParams::default());
    let call = Call {
        verb: "PATCH",
        resource: &plural,
        ok: "200",
    };
    if !shared.finalizer_on_create {
        retried(&shared.window.tally, call, || {
            shared.claims.patch(&name, &params, &finalizer)
        })
        .await?;
    }

    let index = i % shared.pools.len();
    let (pool, pool_uid) = &shared.pools[index];
    let host = shared.next_host[index].fetch_add(1, Ordering::Relaxed);
    let uid = claim.uid().unwrap_or_default();
    let address = face.address(&name, &uid, pool, pool_uid, pool.host(host));
    let plural_address = face.address_kind().plural;
    let call = Call {
        verb: "POST",
        resource: &plural_address,
        ok: "201",
    };
    let post = PostParams::default();
    retried(&shared.window.tally, call, || {
        shared.addresses.create(&post, &address)
    })
    .await?;

    let status = face.bound_status(&name);
    let status = Patch::Merge(&status);
    let status_resource = format!("{plural}/status");
    let call = Call {
        verb: "PATCH",
        resource: &status_resource,
        ok: "200",
    };
    retried(&shared.window.tally, call, || {
        shared.claims.patch_status(&name, &params, &status)
    })
    .await?;
    Ok(())
}
