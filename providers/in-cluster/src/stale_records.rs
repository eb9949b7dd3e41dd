//! Allocation records that stand for no address object and whose claim is gone.
//!
//! A record is written before its address object. Were the claim deleted in between (the API
//! server can delete a claim whose finalizer is being added at that very moment), nothing else
//! would ever delete the record, and its address would stay taken for good. The pool
//! controllers sweep such records on every pass, and at least every [`SWEEP_INTERVAL`].

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipam_kube_support::conditions::{Decision, READY};
use kube::{Client, ResourceExt};

use crate::claim_controller::ReleaseNotifier;
use crate::holders;
use crate::ledger::Ledger;
use crate::pool_key::PoolKey;

/// How often a pool is swept when nothing else brings its controller back.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// A record younger than this is left alone: its address object may be written but not yet
/// in the controller's cache.
const SETTLED_AFTER: Duration = Duration::from_secs(30);

/// The least time between two sweeps of one pool.
const SWEEP_SPACING: Duration = Duration::from_secs(30);

/// Sweeps each pool at most once per [`SWEEP_SPACING`]: a pool's controller runs on every
/// change of its addresses, and a burst of claims must not mean a list of records per claim.
#[derive(Default)]
pub struct Sweeper {
    last: Mutex<HashMap<PoolKey, Instant>>,
}

impl Sweeper {
    /// Frees the records of `pool` whose address is not among `present` (the pool's address
    /// objects) and whose claim no longer exists, checked live, and tells `released` when it
    /// did. Returns when to look again: sooner than the sweep interval when this pass was
    /// skipped, or when a suspect record is still too young to judge.
    pub async fn sweep(
        &self,
        client: &Client,
        ledger: &Ledger,
        pool: &PoolKey,
        present: &HashSet<String>,
        released: &[ReleaseNotifier],
    ) -> Result<Duration, kube::Error> {
        {
            let mut last = self.last.lock().expect("sweeper lock");
            if let Some(at) = last.get(pool)
                && at.elapsed() < SWEEP_SPACING
            {
                return Ok(SWEEP_SPACING - at.elapsed());
            }
            last.insert(pool.clone(), Instant::now());
        }
        let mut next = SWEEP_INTERVAL;
        let now = k8s_openapi::jiff::Timestamp::now();
        for record in ledger.records(pool).await? {
            let claim = &record.spec.claim;
            // No uid: recorded from an address object before its claim existed (clusterctl
            // move); the claim adopts it when it comes.
            if claim.uid.is_empty() || present.contains(&record.spec.address) {
                continue;
            }
            let age = record
                .creation_timestamp()
                .and_then(|t| Duration::try_from(now.duration_since(t.0)).ok())
                .unwrap_or_default();
            if age < SETTLED_AFTER {
                next = next.min(SETTLED_AFTER - age);
                continue;
            }
            if holders::lives(client, claim).await? {
                continue;
            }
            tracing::info!(%pool, address = %record.spec.address, claim = %claim.engine_key(),
                "freeing an allocation record whose claim is gone");
            ledger.release(pool, claim).await?;
            for waiting in released {
                waiting.send(pool.clone());
            }
        }
        Ok(next)
    }

    /// Forgets a deleted pool.
    pub fn forget(&self, pool: &PoolKey) {
        self.last.lock().expect("sweeper lock").remove(pool);
    }
}

/// Why a pool being deleted must still wait, if it must: claims that still hold a record of
/// it, checked live. One may have taken its address from a cache that did not yet show the
/// deletion and be about to write its address object; purging its record then would free an
/// address about to be used.
pub async fn deletion_blocked(
    client: &Client,
    ledger: &Ledger,
    pool: &PoolKey,
) -> Result<Option<Decision>, kube::Error> {
    let mut holding = Vec::new();
    for record in ledger.records(pool).await? {
        if holders::lives(client, &record.spec.claim).await? {
            holding.push(record.spec.claim.engine_key());
        }
    }
    Ok((!holding.is_empty()).then(|| {
        Decision::new(
            READY,
            false,
            "PoolInUse",
            format!(
                "deletion waits for claims still holding addresses of {pool}: {}",
                holding.join(", ")
            ),
        )
    }))
}
