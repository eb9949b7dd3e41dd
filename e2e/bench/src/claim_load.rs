//! The load scenarios: N claims over P pools created at concurrency C, each timed from its
//! create request to the moment a watch sees it bound. Served by the system under test, or,
//! for the raw limit, by the driver itself making exactly a provider's writes per claim.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::apiserver_metrics;
use crate::face::{Face, PoolPlan};
use crate::latency::Latency;
use crate::ready_watch::ReadyWatch;
use crate::report::{Report, Requests};
use crate::retry::{Call, retried};
use crate::tally::Tally;
use crate::{duplicates, kinds, process_stats, setup};

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
    /// The system under test, for its RSS and CPU time.
    pub pid: Option<u32>,
    /// Give up waiting after this long in all, or after this long without a claim bound.
    pub timeout: Duration,
    pub stall: Duration,
    /// Pause between the last claim bound and the final metrics scrape, so that writes the
    /// system under test defers (a coalesced pool status) are counted.
    pub settle: Duration,
}

impl ClaimLoad {
    fn claims(&self) -> usize {
        self.pools * self.claims_per_pool
    }
}

/// What one claim's writers share.
struct Shared {
    face: Face,
    claims: Api<DynamicObject>,
    addresses: Api<DynamicObject>,
    pools: Vec<(PoolPlan, String)>,
    next_host: Vec<AtomicU32>,
    sent: Mutex<HashMap<String, Instant>>,
    tally: Tally,
}

pub async fn run(client: &Client, load: &ClaimLoad) -> anyhow::Result<Report> {
    let face = load.face;
    let n = load.claims();
    setup::namespace(client, &load.namespace).await?;
    let pools = create_pools(client, load).await?;
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
        sent: Mutex::new(HashMap::new()),
        tally: Tally::default(),
    });

    let before = apiserver_metrics::scrape(client).await?;
    let started = Instant::now();
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
    let ready = wait(&watch, n, load, &mut notes).await;
    tokio::time::sleep(load.settle).await;
    let during = apiserver_metrics::scrape(client).await?.since(&before);

    let sent = shared.sent.lock().unwrap().clone();
    let bound = watch.times();
    let latencies: Vec<Duration> = bound
        .iter()
        .filter_map(|(name, at)| Some(at.saturating_duration_since(*sent.get(name)?)))
        .collect();
    let last = bound.values().max().copied().unwrap_or(started);
    let wall = last.saturating_duration_since(started).as_secs_f64();
    let process = load.pid.map(process_stats::read).transpose()?;
    let (addresses, duplicates) =
        duplicates::count(&shared.addresses, |a| face.pool_and_address(a)).await?;
    Ok(Report {
        scenario: load.scenario.clone(),
        system: load.system.clone(),
        claims: n,
        ready,
        concurrency: load.concurrency,
        pools: load.pools,
        claims_per_second: if wall > 0.0 { ready as f64 / wall } else { 0.0 },
        wall_seconds: wall,
        latency: Latency::of(&latencies),
        requests: Requests::new(&during, &shared.tally.counts(), n),
        process,
        addresses,
        duplicates,
        restart: None,
        notes,
    })
}

async fn create_pools(
    client: &Client,
    load: &ClaimLoad,
) -> anyhow::Result<Vec<(PoolPlan, String)>> {
    let api = kinds::api(client, &load.namespace, &load.face.pool_kind());
    let mut pools = Vec::new();
    for index in 0..load.pools {
        let plan = PoolPlan::nth(index, 16);
        let created = api
            .create(&PostParams::default(), &load.face.pool(&plan))
            .await?;
        pools.push((plan, created.uid().unwrap_or_default()));
    }
    Ok(pools)
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

/// Waits for `n` bound claims; stops early, with a note, when the time is up, when nothing
/// was bound for `load.stall`, or when the system under test is gone.
async fn wait(watch: &ReadyWatch, n: usize, load: &ClaimLoad, notes: &mut Vec<String>) -> usize {
    let deadline = Instant::now() + load.timeout;
    let (mut seen, mut progressed) = (0, Instant::now());
    loop {
        let ready = watch.wait_for(n, Duration::from_secs(2)).await;
        if ready >= n {
            return ready;
        }
        if ready > seen {
            (seen, progressed) = (ready, Instant::now());
        }
        let why = if Instant::now() >= deadline {
            Some(format!("gave up after {:?}", load.timeout))
        } else if progressed.elapsed() >= load.stall {
            Some(format!("no claim bound for {:?}", load.stall))
        } else if load
            .pid
            .is_some_and(|pid| process_stats::read(pid).is_err())
        {
            Some("the system under test exited".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            notes.push(format!("{why}: {ready} of {n} claims bound"));
            return ready;
        }
    }
}

fn claim_name(i: usize) -> String {
    format!("claim-{i:06}")
}

/// Claim `i` goes to pool `i mod P`, so that several pools are loaded at once.
async fn create_claim(shared: &Shared, i: usize) -> kube::Result<DynamicObject> {
    let name = claim_name(i);
    let (pool, _) = &shared.pools[i % shared.pools.len()];
    let body = shared.face.claim(&name, &pool.name);
    shared.sent.lock().unwrap().insert(name, Instant::now());
    let plural = shared.face.claim_kind().plural;
    let call = Call {
        verb: "POST",
        resource: &plural,
        ok: "201",
    };
    let params = PostParams::default();
    retried(&shared.tally, call, || shared.claims.create(&params, &body)).await
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
    retried(&shared.tally, call, || {
        shared.claims.patch(&name, &params, &finalizer)
    })
    .await?;

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
    retried(&shared.tally, call, || {
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
    retried(&shared.tally, call, || {
        shared.claims.patch_status(&name, &params, &status)
    })
    .await?;
    Ok(())
}
