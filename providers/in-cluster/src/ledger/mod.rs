//! The ledger: which address of a pool each claim holds, and the one place that hands
//! addresses out.
//!
//! Why no address is handed out twice:
//! 1. The API server arbitrates. Every address held is an [`AddressAllocation`] whose name
//!    derives from (address space, address); creating it is the act of taking the address,
//!    and a second create of the same name fails with 409 whichever worker, process, replica
//!    or overlapping pool of the same space tries it. A prefix pool's block is one record,
//!    named from the block's first address; prefix pools have spaces of their own
//!    ([`PoolKey::address_space`]), so a block and an address never compete for one name.
//! 2. Each pool's [`Book`] is only a cache that proposes candidates. It is loaded once from a
//!    fresh LIST (never from a possibly lagging watch cache), kept current by this process's
//!    own creates and deletes, corrected by every 409, and reloaded before a pool is declared
//!    exhausted, so releases made by another replica are seen.
//!
//! Why it is fast (one pool, a burst of claims):
//! - A claim costs one request here, the create of its record. Nothing is listed per claim:
//!   a claim's records, and their uids for a precise delete, are in the book.
//! - The pool's lock is held while the book proposes an address (microseconds), never across
//!   the create. While a create is in flight its address is pending in the book, so the
//!   claims behind it get the next addresses, and many creates of one pool run at once. A
//!   create refused with 409 gives its address back and the claim tries the next.
//! - A claim that holds its address already is answered from the book, without a request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use ipam_engine::{AllocateError, Attributes, Counts};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::api::allocation::{
    AddressAllocation, CLAIM_UID_LABEL, ClaimIdentity, POOL_LABEL, SPACE_LABEL, allocation_name,
};
use crate::compiled::Compiled;
use crate::pool_key::PoolKey;

mod book;
pub use book::{Book, Proposal, Record};

/// How many 409s one reservation tolerates before it reloads the pool from the API server.
const CONFLICTS_BEFORE_RELOAD: usize = 8;

/// How many records of existing address objects a load creates at once.
const RECORDING_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("{pool} has no free {unit}: {used} of {total} in use", used = counts.used, total = counts.total)]
    Exhausted {
        pool: PoolKey,
        counts: Counts,
        /// What the pool hands out one of: "address", or "/64 prefix".
        unit: String,
    },
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

/// What the ledger needs to know of a pool to load its book: its version (the pool object's
/// `metadata.generation`, so a spec change rebuilds the book), its compiled spec, and the
/// address objects of the pool that exist (from a synced cache), read only when the book is
/// (re)loaded, so that addresses handed out before this operator ran, or restored by
/// `clusterctl move`, are recorded before anything new is handed out. A prefix pool's are
/// `address/prefix`: one written with another length than the pool's keeps every block it
/// touches.
pub struct PoolSource<'a> {
    pub version: Option<i64>,
    pub build: &'a (dyn Fn() -> Compiled + Sync),
    pub existing: &'a (dyn Fn() -> Vec<(String, ClaimIdentity)> + Sync),
}

/// One pool's cached state.
#[derive(Default)]
struct Slot {
    version: Option<i64>,
    book: Option<Book>,
}

/// What creating a record found.
enum Taken {
    /// The claim holds the address by this record (created now, or already its own).
    Mine(Record),
    /// Another claim holds it.
    Other(Record),
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
        pools.entry(pool.clone()).or_default().clone()
    }

    /// The pool's slot, locked, with a book loaded for the pool's current version.
    async fn loaded(
        &self,
        pool: &PoolKey,
        source: &PoolSource<'_>,
    ) -> Result<tokio::sync::OwnedMutexGuard<Slot>, kube::Error> {
        let mut slot = self.slot(pool).lock_owned().await;
        if slot.version != source.version || slot.book.is_none() {
            self.reload(pool, source, &mut slot).await?;
        }
        Ok(slot)
    }

    /// Replaces the slot's book with one read from the API server, keeping the proposals in
    /// flight.
    async fn reload(
        &self,
        pool: &PoolKey,
        source: &PoolSource<'_>,
        slot: &mut Slot,
    ) -> Result<(), kube::Error> {
        let pending = slot.book.as_ref().map(Book::pending).unwrap_or_default();
        slot.book = Some(self.load(pool, source, pending).await?);
        slot.version = source.version;
        Ok(())
    }

    /// The address `claim` holds in `pool` by a record, if any. Answered from the book once
    /// it is loaded.
    pub async fn holding(
        &self,
        pool: &PoolKey,
        source: &PoolSource<'_>,
        claim: &ClaimIdentity,
    ) -> Result<Option<IpAddr>, kube::Error> {
        let slot = self.loaded(pool, source).await?;
        Ok(slot.book.as_ref().and_then(|b| b.held_by(claim)))
    }

    /// Gives `claim` an address of `pool`: the one it holds already, else a new one, taken
    /// by creating its record.
    pub async fn reserve(
        &self,
        pool: &PoolKey,
        source: &PoolSource<'_>,
        claim: &ClaimIdentity,
        requested: Option<&str>,
    ) -> Result<Reservation, ReserveError> {
        let api_err = |source| ReserveError::Api {
            pool: pool.clone(),
            source,
        };
        let mut conflicts = 0;
        let mut reloaded = false;
        loop {
            let allocation = {
                let mut slot = self.loaded(pool, source).await.map_err(api_err)?;
                let book = slot.book.as_mut().expect("loaded");
                match book.propose(claim, requested) {
                    Ok(Proposal::Held(a)) => {
                        return Ok(Reservation {
                            address: a.address,
                            attributes: a.attributes,
                        });
                    }
                    Ok(Proposal::Create(a)) => a,
                    Err(e) if e.is_exhausted() && !reloaded => {
                        // Another replica may have released addresses this book never saw.
                        self.reload(pool, source, &mut slot)
                            .await
                            .map_err(api_err)?;
                        reloaded = true;
                        continue;
                    }
                    Err(e) if e.is_exhausted() => {
                        return Err(ReserveError::Exhausted {
                            pool: pool.clone(),
                            counts: book.counts(),
                            unit: book.unit().to_owned(),
                        });
                    }
                    Err(source) => {
                        return Err(ReserveError::Refused {
                            pool: pool.clone(),
                            source,
                        });
                    }
                }
            };
            // The lock is released: other claims of the pool propose and create meanwhile.
            let taken = self.take(pool, allocation.address, claim).await;
            let mut slot = self.slot(pool).lock_owned().await;
            let book = slot.book.as_mut();
            match taken {
                Ok(Taken::Mine(record)) => {
                    if let Some(book) = book {
                        book.confirm(allocation.address, record);
                    }
                    return Ok(Reservation {
                        address: allocation.address,
                        attributes: allocation.attributes,
                    });
                }
                Ok(Taken::Other(holder)) => {
                    let who = format!(
                        "{} {}/{}",
                        holder.claim.kind, holder.claim.namespace, holder.claim.name
                    );
                    if let Some(book) = book {
                        book.refuse(allocation.address, claim, holder);
                    }
                    if requested.is_some() {
                        return Err(ReserveError::Taken {
                            pool: pool.clone(),
                            address: allocation.address,
                            holder: who,
                        });
                    }
                    conflicts += 1;
                    if conflicts >= CONFLICTS_BEFORE_RELOAD {
                        self.reload(pool, source, &mut slot)
                            .await
                            .map_err(api_err)?;
                        conflicts = 0;
                    }
                }
                Err(source) => {
                    if let Some(book) = book {
                        book.abandon(allocation.address, claim);
                    }
                    return Err(api_err(source));
                }
            }
        }
    }

    /// Records that `claim` holds `address` and nothing else in `pool`: an address object
    /// adopted as it is. Anything else the claim had taken (in a pass that lost the race to
    /// write its IPAddress) goes back. Returns the other holder when the address is already
    /// someone else's; then nothing changes. Costs no request when the book agrees already.
    /// `prefix`: the length a prefix pool's address object holds, when it says one.
    pub async fn adopt(
        &self,
        pool: &PoolKey,
        source: &PoolSource<'_>,
        (address, prefix): (IpAddr, Option<u8>),
        claim: &ClaimIdentity,
    ) -> Result<Option<ClaimIdentity>, kube::Error> {
        {
            let slot = self.loaded(pool, source).await?;
            let book = slot.book.as_ref().expect("loaded");
            if book.held_by(claim) == Some(address) && book.records_of(claim).len() == 1 {
                return Ok(None);
            }
        }
        let taken = self.take(pool, address, claim).await?;
        let dropped = {
            let mut slot = self.slot(pool).lock_owned().await;
            match (taken, slot.book.as_mut()) {
                (Taken::Other(holder), book) => {
                    let other = holder.claim.clone();
                    if let Some(book) = book {
                        book.refuse(address, claim, holder);
                    }
                    return Ok(Some(other));
                }
                (Taken::Mine(record), Some(book)) => {
                    let dropped = book.adopt(address, record);
                    if let Some(prefix) = prefix {
                        book.widen(address, prefix);
                    }
                    dropped
                }
                (Taken::Mine(_), None) => Vec::new(),
            }
        };
        for (_, record) in dropped {
            self.delete_record(&record).await?;
        }
        Ok(None)
    }

    /// Frees everything `claim` holds in `pool`. Idempotent. The book names the claim's
    /// records; only when it knows none (not loaded here, or written by another replica) is
    /// the API server asked.
    pub async fn release(&self, pool: &PoolKey, claim: &ClaimIdentity) -> Result<(), kube::Error> {
        let slot = self.slot(pool);
        let known = {
            let slot = slot.lock().await;
            slot.book
                .as_ref()
                .map(|b| b.records_of(claim))
                .unwrap_or_default()
        };
        let records: Vec<(Option<IpAddr>, Record)> = if known.is_empty() {
            self.api()
                .list(&ListParams::default().labels(&format!("{CLAIM_UID_LABEL}={}", claim.uid)))
                .await?
                .into_iter()
                .filter(|r| r.spec.claim.uid == claim.uid && r.spec.pool == pool.identity())
                .map(|r| {
                    let address = r.spec.address.parse().ok();
                    (address, own_record(&r))
                })
                .collect()
        } else {
            known.into_iter().map(|(a, r)| (Some(a), r)).collect()
        };
        for (address, record) in records {
            self.delete_record(&record).await?;
            if let (Some(address), Some(book)) = (address, slot.lock().await.book.as_mut()) {
                book.forget(address);
            }
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
        for record in self.records(pool).await? {
            self.delete_record(&own_record(&record)).await?;
        }
        self.forget(pool);
        Ok(())
    }

    /// The records of `pool`, read from the API server.
    pub async fn records(&self, pool: &PoolKey) -> Result<Vec<AddressAllocation>, kube::Error> {
        let mut records = Vec::new();
        self.each_record(&format!("{POOL_LABEL}={}", pool.digest()), |r| {
            if r.spec.pool == pool.identity() {
                records.push(r);
            }
        })
        .await?;
        Ok(records)
    }

    /// Hands every record matching `labels` to `each`, read in pages of
    /// [`LIST_PAGE`](ipam_kube_support::scope::LIST_PAGE): a pool of 100,000 addresses never
    /// sits in memory as one list of objects, nor makes the API server build one answer of
    /// 100 MB.
    async fn each_record(
        &self,
        labels: &str,
        mut each: impl FnMut(AddressAllocation),
    ) -> Result<(), kube::Error> {
        let mut params = ListParams::default()
            .labels(labels)
            .limit(ipam_kube_support::scope::LIST_PAGE);
        loop {
            let page = self.api().list(&params).await?;
            let next = page.metadata.continue_.clone().unwrap_or_default();
            page.items.into_iter().for_each(&mut each);
            if next.is_empty() {
                return Ok(());
            }
            params = params.continue_token(&next);
        }
    }

    /// Creates the record for (pool, address) held by `claim`; on 409, finds out whose the
    /// existing record is (another claim's, of this pool or of another pool of the same
    /// address space).
    async fn take(
        &self,
        pool: &PoolKey,
        address: IpAddr,
        claim: &ClaimIdentity,
    ) -> Result<Taken, kube::Error> {
        let record = AddressAllocation::of(pool, address, claim);
        let name = record.name_any();
        let existing = match self.api().create(&PostParams::default(), &record).await {
            Ok(created) => return Ok(Taken::Mine(own_record(&created))),
            Err(kube::Error::Api(e)) if e.code == 409 => self.api().get(&name).await?,
            Err(e) => return Err(e),
        };
        // A record of another pool of the same space is another holder, whoever it names:
        // the address is that pool's.
        let same_pool = existing.spec.pool == pool.identity();
        let same_claim = existing.spec.claim.kind == claim.kind
            && existing.spec.claim.namespace == claim.namespace
            && existing.spec.claim.name == claim.name;
        if same_pool && existing.spec.claim.uid == claim.uid {
            return Ok(Taken::Mine(own_record(&existing)));
        }
        if same_pool && same_claim && existing.spec.claim.uid.is_empty() {
            // Recorded from an address object before its claim existed (clusterctl move):
            // the claim of that name now takes its record over, guarded by the record's
            // resourceVersion.
            let patch = serde_json::json!({
                "metadata": {
                    "resourceVersion": existing.resource_version(),
                    "labels": {CLAIM_UID_LABEL: claim.uid},
                },
                "spec": {"claim": claim},
            });
            let patched = self
                .api()
                .patch(
                    &name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                )
                .await?;
            return Ok(Taken::Mine(own_record(&patched)));
        }
        Ok(Taken::Other(Record {
            name,
            uid: existing.uid().unwrap_or_default(),
            claim: existing.spec.claim,
            own: same_pool,
        }))
    }

    /// Builds the pool's book from the API server's records, after recording every existing
    /// address object that has none.
    async fn load(
        &self,
        pool: &PoolKey,
        source: &PoolSource<'_>,
        pending: HashMap<IpAddr, String>,
    ) -> Result<Book, kube::Error> {
        self.rename_old_records(pool).await?;
        let compiled = (source.build)();
        // Every record of the address space: this pool's are its allocations; another
        // pool's, inside this pool's range, are addresses it must not propose (pools that
        // overlap, created too close together for admission to refuse one).
        let mut held: HashMap<IpAddr, Record> = HashMap::new();
        self.each_record(
            &format!("{SPACE_LABEL}={}", pool.address_space()),
            |record| {
                let Ok(address) = record.spec.address.parse::<IpAddr>() else {
                    return;
                };
                let own = record.spec.pool == pool.identity();
                if own || compiled.contains(address) {
                    held.insert(
                        address,
                        Record {
                            own,
                            ..own_record(&record)
                        },
                    );
                }
            },
        )
        .await?;
        // Address objects without a record (handed out before this operator ran): recorded
        // now, many at a time, as a provider switched to at 100,000 addresses has as many.
        let existing: Vec<(IpAddr, Option<u8>, ClaimIdentity)> = (source.existing)()
            .into_iter()
            .filter_map(|(text, claim)| {
                let (address, prefix) = held_at(&text)?;
                Some((address, prefix, claim))
            })
            .collect();
        let lengths: Vec<(IpAddr, u8)> = existing
            .iter()
            .filter_map(|(address, prefix, _)| Some((*address, (*prefix)?)))
            .collect();
        let unrecorded: Vec<(IpAddr, ClaimIdentity)> = existing
            .into_iter()
            .map(|(address, _, claim)| (address, claim))
            .filter(|(address, _)| !held.contains_key(address))
            .collect();
        let mut recording = futures::stream::iter(unrecorded)
            .map(|(address, claim)| async move {
                let taken = self.take(pool, address, &claim).await;
                (address, claim, taken)
            })
            .buffer_unordered(RECORDING_CONCURRENCY);
        while let Some((address, claim, taken)) = recording.next().await {
            let holder = match taken? {
                Taken::Mine(record) => record,
                Taken::Other(other) => {
                    tracing::warn!(%pool, %address, claim = %claim.engine_key(), holder = %other.claim.engine_key(),
                        "two address objects hold the same address; the first recorded keeps it");
                    other
                }
            };
            held.entry(address).or_insert(holder);
        }
        let (mut book, issues) = Book::new(compiled, held, pending);
        for issue in issues {
            tracing::warn!(%pool, %issue, "while loading the pool's allocations");
        }
        for (address, prefix) in lengths {
            book.widen(address, prefix);
        }
        Ok(book)
    }

    /// Deletes exactly this record: a precondition on its uid keeps a later holder's record
    /// of the same address safe.
    async fn delete_record(&self, record: &Record) -> Result<(), kube::Error> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(record.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api().delete(&record.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An existing address object's `address`, or a prefix pool's `address/prefix`.
fn held_at(text: &str) -> Option<(IpAddr, Option<u8>)> {
    match text.split_once('/') {
        Some((address, prefix)) => Some((address.parse().ok()?, prefix.parse().ok())),
        None => Some((text.parse().ok()?, None)),
    }
}

/// A record object of the pool it is read for, as the book keeps it.
fn own_record(record: &AddressAllocation) -> Record {
    Record {
        name: record.name_any(),
        uid: record.uid().unwrap_or_default(),
        claim: record.spec.claim.clone(),
        own: true,
    }
}

impl Ledger {
    /// Records written before records were named by address space (`<pool digest>-<address>`)
    /// move to their new name, so that they keep their address against every pool of the
    /// space. Taking the new name first means the address is never free in between.
    async fn rename_old_records(&self, pool: &PoolKey) -> Result<(), kube::Error> {
        // Only the old-named ones are kept: at 100,000 records the others would be a copy of
        // the pool for nothing.
        let mut old = Vec::new();
        self.each_record(&format!("{POOL_LABEL}={}", pool.digest()), |record| {
            let Ok(address) = record.spec.address.parse::<IpAddr>() else {
                return;
            };
            if record.spec.pool == pool.identity()
                && record.name_any() != allocation_name(pool, address)
            {
                old.push((address, record));
            }
        })
        .await?;
        for (address, record) in old {
            if let Taken::Other(other) = self.take(pool, address, &record.spec.claim).await? {
                tracing::warn!(%pool, %address, holder = %other.claim.engine_key(),
                    "an address recorded under an old name is held by another pool's claim; the old record stays until its claim releases it");
                continue;
            }
            self.delete_record(&own_record(&record)).await?;
        }
        Ok(())
    }
}
