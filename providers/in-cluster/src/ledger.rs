//! The ledger: which address of a pool each claim holds, and the one place that hands
//! addresses out.
//!
//! Why no address is handed out twice:
//! 1. The API server arbitrates. Every address held is an [`AddressAllocation`] whose name
//!    derives from (address space, address); creating it is the act of taking the address,
//!    and a second create of the same name fails with 409 whichever worker, process, replica
//!    or overlapping pool of the same space tries it.
//! 2. The engine's [`Allocator`] is only a cache that proposes candidates. It is loaded from a
//!    fresh LIST (never from a possibly lagging watch cache), kept current by this process's
//!    own writes, corrected by every 409, and reloaded before a pool is declared exhausted,
//!    so releases made by another replica are seen.
//! 3. Within one process, the claims of one pool take turns on that pool's mutex, while
//!    claims of different pools proceed in parallel.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipam_engine::{AllocateError, Allocator, Attributes, Counts, Pool};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::api::allocation::{
    AddressAllocation, CLAIM_UID_LABEL, ClaimIdentity, POOL_LABEL, SPACE_LABEL, allocation_name,
};
use crate::pool_key::PoolKey;

/// How many 409s one reservation tolerates before it reloads the pool from the API server.
const CONFLICTS_BEFORE_RELOAD: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("{pool} has no free address: {used} of {total} in use", used = counts.used, total = counts.total)]
    Exhausted { pool: PoolKey, counts: Counts },
    #[error("{pool} cannot give this claim an address: {source}")]
    Refused {
        pool: PoolKey,
        source: AllocateError,
    },
    #[error("{pool}: address {address} is already held by {holder}")]
    Taken {
        pool: PoolKey,
        address: IpAddr,
        holder: String,
    },
    #[error("{pool}: {source}")]
    Api { pool: PoolKey, source: kube::Error },
}

/// An address a claim holds, with what it is handed out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub address: IpAddr,
    pub attributes: Attributes,
}

/// One pool's cached state; `version` is the pool object's `metadata.generation`, so a spec
/// change rebuilds it.
struct Slot {
    version: Option<i64>,
    allocator: Option<Allocator>,
}

#[derive(Clone)]
pub struct Ledger {
    client: Client,
    pools: Arc<Mutex<HashMap<PoolKey, Arc<tokio::sync::Mutex<Slot>>>>>,
}

impl Ledger {
    pub fn new(client: Client) -> Self {
        Ledger {
            client,
            pools: Arc::default(),
        }
    }

    fn api(&self) -> Api<AddressAllocation> {
        Api::all(self.client.clone())
    }

    fn slot(&self, pool: &PoolKey) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut pools = self.pools.lock().expect("ledger map lock");
        pools
            .entry(pool.clone())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    version: None,
                    allocator: None,
                }))
            })
            .clone()
    }

    /// Gives `claim` an address of `pool`: the one it holds already, else a new one.
    ///
    /// `version` is the pool's generation; `build` compiles its spec; `existing` lists the
    /// address objects of the pool that exist (from a synced cache) and is read only when the
    /// pool is (re)loaded, so that addresses handed out before this operator ran, or restored
    /// by `clusterctl move`, are recorded before anything new is handed out.
    pub async fn reserve(
        &self,
        pool: &PoolKey,
        version: Option<i64>,
        build: impl Fn() -> Pool,
        existing: impl Fn() -> Vec<(String, ClaimIdentity)>,
        claim: &ClaimIdentity,
        requested: Option<&str>,
    ) -> Result<Reservation, ReserveError> {
        let slot = self.slot(pool);
        let mut slot = slot.lock().await;
        if slot.version != version || slot.allocator.is_none() {
            slot.allocator = Some(self.load(pool, build(), &existing()).await?);
            slot.version = version;
        }
        let key = claim.engine_key();
        let mut conflicts = 0;
        let mut reloaded = false;
        loop {
            let allocator = slot.allocator.as_mut().expect("loaded above");
            let allocation = match allocator.allocate(&key, requested) {
                Ok(allocation) => allocation,
                Err(e) if e.is_exhausted() && !reloaded => {
                    // Another replica may have released addresses this cache never saw.
                    slot.allocator = Some(self.load(pool, build(), &existing()).await?);
                    reloaded = true;
                    continue;
                }
                Err(e) if e.is_exhausted() => {
                    return Err(ReserveError::Exhausted {
                        pool: pool.clone(),
                        counts: allocator.counts(),
                    });
                }
                Err(source) => {
                    return Err(ReserveError::Refused {
                        pool: pool.clone(),
                        source,
                    });
                }
            };
            if !allocation.newly_allocated {
                return Ok(Reservation {
                    address: allocation.address,
                    attributes: allocation.attributes,
                });
            }
            match self.take(pool, allocation.address, claim).await {
                Ok(None) => {
                    return Ok(Reservation {
                        address: allocation.address,
                        attributes: allocation.attributes,
                    });
                }
                Ok(Some(holder)) => {
                    // Someone else holds it: learn that, and try the next candidate.
                    allocator.release(&key);
                    let _ = allocator.record(&allocation.address.to_string(), &holder.engine_key());
                    if requested.is_some() {
                        return Err(ReserveError::Taken {
                            pool: pool.clone(),
                            address: allocation.address,
                            holder: format!("{} {}/{}", holder.kind, holder.namespace, holder.name),
                        });
                    }
                    conflicts += 1;
                    if conflicts >= CONFLICTS_BEFORE_RELOAD {
                        slot.allocator = Some(self.load(pool, build(), &existing()).await?);
                        conflicts = 0;
                    }
                }
                Err(source) => {
                    allocator.release(&key);
                    return Err(ReserveError::Api {
                        pool: pool.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Records that `claim` holds `address` and nothing else in `pool`: an address object
    /// adopted as it is. Anything else the claim had taken (in a pass that lost the race to
    /// write its IPAddress) goes back. Returns the other holder when the address is already
    /// someone else's; then nothing changes.
    pub async fn adopt(
        &self,
        pool: &PoolKey,
        address: IpAddr,
        claim: &ClaimIdentity,
    ) -> Result<Option<ClaimIdentity>, kube::Error> {
        let slot = self.slot(pool);
        let mut slot = slot.lock().await;
        if let Some(other) = self.take(pool, address, claim).await? {
            return Ok(Some(other));
        }
        let kept = allocation_name(pool, address);
        let api = self.api();
        let held = api
            .list(&ListParams::default().labels(&format!("{CLAIM_UID_LABEL}={}", claim.uid)))
            .await?;
        for record in held {
            if record.name_any() != kept
                && record.spec.claim.uid == claim.uid
                && record.spec.pool == pool.identity()
            {
                delete_record(&api, &record).await?;
            }
        }
        if let Some(allocator) = slot.allocator.as_mut() {
            allocator.release(&claim.engine_key());
            let _ = allocator.record(&address.to_string(), &claim.engine_key());
        }
        Ok(None)
    }

    /// Frees everything `claim` holds in `pool`. Idempotent.
    pub async fn release(&self, pool: &PoolKey, claim: &ClaimIdentity) -> Result<(), kube::Error> {
        let slot = self.slot(pool);
        let mut slot = slot.lock().await;
        let api = self.api();
        let held = api
            .list(&ListParams::default().labels(&format!("{CLAIM_UID_LABEL}={}", claim.uid)))
            .await?;
        for record in held {
            if record.spec.claim.uid == claim.uid && record.spec.pool == pool.identity() {
                delete_record(&api, &record).await?;
            }
        }
        if let Some(allocator) = slot.allocator.as_mut() {
            allocator.release(&claim.engine_key());
        }
        Ok(())
    }

    /// Forgets a pool's cache (the pool was deleted).
    pub fn forget(&self, pool: &PoolKey) {
        self.pools.lock().expect("ledger map lock").remove(pool);
    }

    /// Deletes every record of `pool` and forgets its cache: for a pool being deleted once no
    /// address object uses it, so that records of releases still under way, or of claims
    /// that vanished, never outlive the pool and block a new pool of the same name.
    pub async fn purge(&self, pool: &PoolKey) -> Result<(), kube::Error> {
        let slot = self.slot(pool);
        let _slot = slot.lock().await;
        let api = self.api();
        for record in self.records(pool).await? {
            delete_record(&api, &record).await?;
        }
        self.forget(pool);
        Ok(())
    }

    /// The records of `pool`, read from the API server.
    pub async fn records(&self, pool: &PoolKey) -> Result<Vec<AddressAllocation>, kube::Error> {
        let records = self
            .api()
            .list(&ListParams::default().labels(&format!("{POOL_LABEL}={}", pool.digest())))
            .await?;
        Ok(records
            .into_iter()
            .filter(|r| r.spec.pool == pool.identity())
            .collect())
    }

    /// Creates the record for (pool, address) held by `claim`. `Ok(None)`: `claim` holds it
    /// (now or already). `Ok(Some(other))`: another claim does, of this pool or of another
    /// pool of the same address space.
    async fn take(
        &self,
        pool: &PoolKey,
        address: IpAddr,
        claim: &ClaimIdentity,
    ) -> Result<Option<ClaimIdentity>, kube::Error> {
        let record = AddressAllocation::of(pool, address, claim);
        let name = record.name_any();
        match self.api().create(&PostParams::default(), &record).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let existing = self.api().get(&name).await?;
                // A record of another pool of the same space is another holder, whoever it
                // names: the address is that pool's.
                let same_pool = existing.spec.pool == pool.identity();
                let same_claim = existing.spec.claim.kind == claim.kind
                    && existing.spec.claim.namespace == claim.namespace
                    && existing.spec.claim.name == claim.name;
                if same_pool && existing.spec.claim.uid == claim.uid {
                    Ok(None)
                } else if same_pool && same_claim && existing.spec.claim.uid.is_empty() {
                    // Recorded from an address object before its claim existed (clusterctl
                    // move): the claim of that name now takes its record over, guarded by
                    // the record's resourceVersion.
                    let patch = serde_json::json!({
                        "metadata": {
                            "resourceVersion": existing.resource_version(),
                            "labels": {CLAIM_UID_LABEL: claim.uid},
                        },
                        "spec": {"claim": claim},
                    });
                    self.api()
                        .patch(
                            &name,
                            &kube::api::PatchParams::default(),
                            &kube::api::Patch::Merge(&patch),
                        )
                        .await?;
                    Ok(None)
                } else {
                    Ok(Some(existing.spec.claim))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Builds the pool's allocator from the API server's records, after recording every
    /// existing address object that has none.
    async fn load(
        &self,
        pool: &PoolKey,
        compiled: Pool,
        existing: &[(String, ClaimIdentity)],
    ) -> Result<Allocator, ReserveError> {
        let api_err = |source| ReserveError::Api {
            pool: pool.clone(),
            source,
        };
        self.rename_old_records(pool).await.map_err(api_err)?;
        // Every record of the address space: this pool's are its allocations; another
        // pool's, inside this pool's range, are addresses it must not propose (pools that
        // overlap, created too close together for admission to refuse one).
        let space = self
            .api()
            .list(&ListParams::default().labels(&format!("{SPACE_LABEL}={}", pool.address_space())))
            .await
            .map_err(api_err)?;
        let mut held: HashMap<String, ClaimIdentity> = HashMap::new();
        for record in space {
            let own = record.spec.pool == pool.identity();
            let in_range = record
                .spec
                .address
                .parse::<IpAddr>()
                .is_ok_and(|ip| compiled.contains(ip));
            if own || in_range {
                held.insert(record.spec.address, record.spec.claim);
            }
        }
        for (address, claim) in existing {
            if held.contains_key(address) {
                continue;
            }
            let Ok(parsed) = address.parse::<IpAddr>() else {
                continue;
            };
            match self.take(pool, parsed, claim).await.map_err(api_err)? {
                None => {
                    held.insert(address.clone(), claim.clone());
                }
                Some(other) => {
                    tracing::warn!(%pool, %address, claim = %claim.engine_key(), holder = %other.engine_key(),
                        "two address objects hold the same address; the first recorded keeps it");
                    held.insert(address.clone(), other);
                }
            }
        }
        let (allocator, issues) = Allocator::rebuild(
            compiled,
            held.iter().map(|(a, c)| (a.clone(), c.engine_key())),
        );
        for issue in issues {
            tracing::warn!(%pool, %issue, "while loading the pool's allocations");
        }
        Ok(allocator)
    }
}

impl Ledger {
    /// Records written before records were named by address space (`<pool digest>-<address>`)
    /// move to their new name, so that they keep their address against every pool of the
    /// space. Taking the new name first means the address is never free in between.
    async fn rename_old_records(&self, pool: &PoolKey) -> Result<(), kube::Error> {
        let api = self.api();
        for record in self.records(pool).await? {
            let Ok(address) = record.spec.address.parse::<IpAddr>() else {
                continue;
            };
            if record.name_any() == allocation_name(pool, address) {
                continue;
            }
            if let Some(other) = self.take(pool, address, &record.spec.claim).await? {
                tracing::warn!(%pool, %address, holder = %other.engine_key(),
                    "an address recorded under an old name is held by another pool's claim; the old record stays until its claim releases it");
                continue;
            }
            delete_record(&api, &record).await?;
        }
        Ok(())
    }
}

/// Deletes exactly this record: a precondition on its uid keeps a later holder's record of the
/// same address safe.
async fn delete_record(
    api: &Api<AddressAllocation>,
    record: &AddressAllocation,
) -> Result<(), kube::Error> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: record.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&record.name_any(), &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
