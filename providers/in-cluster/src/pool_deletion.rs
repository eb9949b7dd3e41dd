//! A pool being deleted, of either face (in-cluster or Metal3): it goes once no address of it
//! is left and no record of a claim that vanished mid-allocation blocks it; its ledger records
//! go with it, then its finalizer.

use std::fmt::Debug;
use std::time::Duration;

use ipam_kube_support::conditions::{Decision, READY};
use ipam_kube_support::finalizers;
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::ledger::Ledger;
use crate::pacer::Pacer;
use crate::pool_key::PoolKey;
use crate::stale_records::{self, Sweeper};

/// What a pool controller keeps across pools.
pub struct Keepers<'a> {
    pub client: &'a Client,
    pub ledger: &'a Ledger,
    pub sweeper: &'a Sweeper,
    pub pacer: &'a Pacer,
}

impl<'a> Keepers<'a> {
    pub fn new(
        client: &'a Client,
        ledger: &'a Ledger,
        sweeper: &'a Sweeper,
        pacer: &'a Pacer,
    ) -> Self {
        Keepers {
            client,
            ledger,
            sweeper,
            pacer,
        }
    }
}

/// The pool being deleted.
pub struct Going<'a, K> {
    pub pools: &'a Api<K>,
    pub pool: &'a K,
    pub key: &'a PoolKey,
    pub finalizer: &'static str,
    /// How many address objects of the pool exist, and what they are called.
    pub in_use: (usize, &'static str),
}

/// What the pool shows while it cannot go yet, and when it looks again; `None` once it has
/// gone (its records purged, its finalizer removed).
pub async fn finish<K>(
    keepers: Keepers<'_>,
    going: Going<'_, K>,
) -> Result<Option<(Decision, Action)>, ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let Going {
        pools,
        pool,
        key,
        finalizer,
        in_use: (count, addresses),
    } = going;
    if count > 0 {
        let message = format!("deletion waits for {count} {addresses} of {key} to be released");
        let in_use = Decision::new(READY, false, "PoolInUse", message);
        return Ok(Some((in_use, Action::await_change())));
    }
    let fail = Reconciling::new(pool);
    let blocked = stale_records::deletion_blocked(keepers.client, keepers.ledger, key)
        .await
        .map_err(fail.at("check stale records"))?;
    if let Some(blocked) = blocked {
        return Ok(Some((blocked, Action::requeue(Duration::from_secs(2)))));
    }
    // Records of claims that vanished mid-allocation must not outlive the pool.
    keepers
        .ledger
        .purge(key)
        .await
        .map_err(fail.at("purge the ledger"))?;
    keepers.sweeper.forget(key);
    keepers.pacer.forget(key);
    finalizers::remove(pools, pool, finalizer)
        .await
        .map_err(fail.at("remove the finalizer"))?;
    Ok(None)
}
