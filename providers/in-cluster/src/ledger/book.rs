//! One pool's book: what this process knows of the pool's allocation records, and the
//! addresses it has proposed but not yet recorded. Pure: no I/O, no lock; the ledger owns
//! one book per pool behind a mutex that is never held across an API round trip.
//!
//! The book only proposes. An address is taken when its record is created (the API server
//! refuses a second record of the same name), so a book that is behind (another replica took
//! or freed an address) costs a conflict or a reload, never a duplicate.

use std::collections::HashMap;
use std::net::IpAddr;

use ipam_engine::{AllocateError, Allocation, Counts};

use crate::api::allocation::ClaimIdentity;
use crate::compiled::{Compiled, Holdings};

/// An allocation record known to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record object's name.
    pub name: String,
    /// The record object's uid: a delete is made on this uid, so a later record of the same
    /// address (another holder's) is never deleted by mistake.
    pub uid: String,
    pub claim: ClaimIdentity,
    /// Whether it is this pool's record; another pool of the same address space may hold an
    /// address inside this pool's range.
    pub own: bool,
}

/// What [`Book::propose`] answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Proposal {
    /// The claim holds this address already, by a record that exists.
    Held(Allocation),
    /// A free address, now kept for the claim until its record is created or refused.
    Create(Allocation),
}

pub struct Book {
    allocator: Holdings,
    /// What the pool hands out one of, for messages.
    unit: String,
    records: HashMap<IpAddr, Record>,
    /// Addresses proposed whose record is being created: address → engine key.
    pending: HashMap<IpAddr, String>,
}

impl Book {
    /// A book of `pool` holding `records`; `pending` carries the proposals of the book this
    /// one replaces, so that a reload in the middle of a create does not propose the same
    /// address to a second claim.
    pub fn new(
        pool: Compiled,
        records: impl IntoIterator<Item = (IpAddr, Record)>,
        pending: HashMap<IpAddr, String>,
    ) -> (Book, Vec<ipam_engine::RecordIssue>) {
        let records: HashMap<IpAddr, Record> = records.into_iter().collect();
        let held = records
            .iter()
            .map(|(address, r)| (address.to_string(), r.claim.engine_key()))
            .chain(pending.iter().map(|(a, k)| (a.to_string(), k.clone())));
        let unit = pool.unit();
        let (allocator, issues) = Holdings::rebuild(pool, held);
        (
            Book {
                allocator,
                unit,
                records,
                pending,
            },
            issues,
        )
    }

    /// What the pool hands out one of: "address", or "/64 prefix".
    pub fn unit(&self) -> &str {
        &self.unit
    }

    pub fn counts(&self) -> Counts {
        self.allocator.counts()
    }

    /// The proposals in flight, for a book built to replace this one.
    pub fn pending(&self) -> HashMap<IpAddr, String> {
        self.pending.clone()
    }

    /// The address `claim` holds by one of this pool's records, if any.
    pub fn held_by(&self, claim: &ClaimIdentity) -> Option<IpAddr> {
        let address = self.allocator.address_of(&claim.engine_key())?;
        self.records
            .get(&address)
            .filter(|r| r.own && r.claim.uid == claim.uid)
            .map(|_| address)
    }

    /// This pool's records of `claim` (same uid).
    pub fn records_of(&self, claim: &ClaimIdentity) -> Vec<(IpAddr, Record)> {
        self.records
            .iter()
            .filter(|(_, r)| r.own && r.claim.uid == claim.uid)
            .map(|(a, r)| (*a, r.clone()))
            .collect()
    }

    /// An address for `claim`: the one it holds, else a new one (kept as pending).
    pub fn propose(
        &mut self,
        claim: &ClaimIdentity,
        requested: Option<&str>,
    ) -> Result<Proposal, AllocateError> {
        let key = claim.engine_key();
        let allocation = self.allocator.allocate(&key, requested)?;
        if !allocation.newly_allocated && self.holds(allocation.address, claim) {
            return Ok(Proposal::Held(allocation));
        }
        // A new address, or one the engine keeps for this claim with no record of the claim
        // behind it: what a pass that failed left (one claim is reconciled by one task at a
        // time), or a record of another pool under the same claim name. Only a record
        // settles it, so it is created (or found to be the claim's) like any other.
        self.pending.insert(allocation.address, key);
        Ok(Proposal::Create(allocation))
    }

    /// Whether the book has this pool's record of `address` held by `claim` (same uid).
    fn holds(&self, address: IpAddr, claim: &ClaimIdentity) -> bool {
        self.records
            .get(&address)
            .is_some_and(|r| r.own && r.claim.uid == claim.uid)
    }

    /// The record of a proposal was created (or found to be the claim's already).
    pub fn confirm(&mut self, address: IpAddr, record: Record) {
        self.pending.remove(&address);
        let key = record.claim.engine_key();
        if self.allocator.owner_of(address) != Some(key.as_str()) {
            let _ = self.allocator.record(&address.to_string(), &key);
        }
        self.records.insert(address, record);
    }

    /// Records that `claim` holds `address` (an address object adopted as it is) and nothing
    /// else: whatever else the book had for it goes. Returns the records dropped, for the
    /// caller to delete.
    pub fn adopt(&mut self, address: IpAddr, record: Record) -> Vec<(IpAddr, Record)> {
        let key = record.claim.engine_key();
        let others: Vec<(IpAddr, Record)> = self
            .records_of(&record.claim)
            .into_iter()
            .filter(|(a, _)| *a != address)
            .collect();
        for (other, _) in &others {
            self.forget(*other);
        }
        if let Some(previous) = self.allocator.address_of(&key)
            && previous != address
        {
            self.allocator.release(&key);
            self.pending.remove(&previous);
        }
        self.confirm(address, record);
        others
    }

    /// The allocation at `address` is `address/prefix` (see [`Holdings::widen`]).
    pub fn widen(&mut self, address: IpAddr, prefix: u8) {
        self.allocator.widen(address, prefix);
    }

    /// The proposal lost: `holder`'s record has the address. The claim gives it up and the
    /// book learns who holds it.
    pub fn refuse(&mut self, address: IpAddr, claim: &ClaimIdentity, holder: Record) {
        self.records.insert(address, holder);
        self.abandon(address, claim);
    }

    /// The proposal is given up (its create failed or lost): unless the book has the claim's
    /// own record of the address, the claim's hold on it goes, and the address goes back to
    /// the holder the book knows, or is free. (Keeping the hold would let the claim's next
    /// proposal answer "held" with an address someone else's record has.)
    pub fn abandon(&mut self, address: IpAddr, claim: &ClaimIdentity) {
        self.pending.remove(&address);
        let key = claim.engine_key();
        if self.allocator.owner_of(address) != Some(key.as_str()) || self.holds(address, claim) {
            return;
        }
        self.allocator.release_address(address);
        if let Some(holder) = self.records.get(&address) {
            let holder_key = holder.claim.engine_key();
            // A record of another pool under this same claim name would give the address
            // straight back to this claim's key: the book leaves it free, and the record
            // refuses it again should it be proposed.
            if holder_key != key {
                let _ = self.allocator.record(&address.to_string(), &holder_key);
            }
        }
    }

    /// A record that no longer exists: its address is free again.
    pub fn forget(&mut self, address: IpAddr) {
        if self.records.remove(&address).is_some() {
            self.allocator.release_address(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipam_engine::Pool;

    fn pool() -> Compiled {
        Pool::in_cluster(&ipam_engine::InClusterSpec {
            addresses: vec!["10.0.0.1-10.0.0.3".into()],
            prefix: 24,
            ..Default::default()
        })
        .expect("a valid pool")
        .into()
    }

    fn claim(name: &str) -> ClaimIdentity {
        ClaimIdentity {
            api_group: "ipam.cluster.x-k8s.io".into(),
            kind: "IPAddressClaim".into(),
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    fn record(name: &str) -> Record {
        Record {
            name: format!("record-of-{name}"),
            uid: format!("uid-of-record-of-{name}"),
            claim: claim(name),
            own: true,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn created(p: Proposal) -> IpAddr {
        match p {
            Proposal::Create(a) => a.address,
            other => panic!("expected a new address, got {other:?}"),
        }
    }

    #[test]
    fn a_pending_proposal_is_never_proposed_to_another_claim() {
        let (mut book, _) = Book::new(pool(), [], HashMap::new());
        let a = created(book.propose(&claim("a"), None).unwrap());
        let b = created(book.propose(&claim("b"), None).unwrap());
        assert_eq!((a, b), (ip("10.0.0.1"), ip("10.0.0.2")));
        // Still pending: a reload carries it over.
        let (mut reloaded, _) = Book::new(pool(), [], book.pending());
        assert_eq!(
            created(reloaded.propose(&claim("c"), None).unwrap()),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn held_only_once_the_record_is_confirmed() {
        let (mut book, _) = Book::new(pool(), [], HashMap::new());
        let a = created(book.propose(&claim("a"), None).unwrap());
        assert_eq!(book.held_by(&claim("a")), None);
        book.confirm(a, record("a"));
        assert_eq!(book.held_by(&claim("a")), Some(a));
        assert!(matches!(
            book.propose(&claim("a"), None).unwrap(),
            Proposal::Held(x) if x.address == a
        ));
        // A later claim of the same name (another uid) does not hold it.
        let mut later = claim("a");
        later.uid = "another".into();
        assert_eq!(book.held_by(&later), None);
    }

    #[test]
    fn a_refused_proposal_learns_the_holder_and_moves_on() {
        let (mut book, _) = Book::new(pool(), [], HashMap::new());
        let a = created(book.propose(&claim("a"), None).unwrap());
        book.refuse(a, &claim("a"), record("elsewhere"));
        let next = created(book.propose(&claim("a"), None).unwrap());
        assert_eq!(next, ip("10.0.0.2"));
        assert_eq!(book.held_by(&claim("elsewhere")), Some(a));
    }

    #[test]
    fn an_abandoned_proposal_is_free_again() {
        let (mut book, _) = Book::new(pool(), [], HashMap::new());
        let a = created(book.propose(&claim("a"), None).unwrap());
        book.abandon(a, &claim("a"));
        assert!(book.pending().is_empty());
        assert_eq!(created(book.propose(&claim("b"), None).unwrap()), a);
    }

    #[test]
    fn adopting_drops_every_other_record_of_the_claim() {
        let first = (ip("10.0.0.1"), record("a"));
        let (mut book, _) = Book::new(pool(), [first], HashMap::new());
        let dropped = book.adopt(ip("10.0.0.3"), record("a"));
        assert_eq!(dropped, vec![(ip("10.0.0.1"), record("a"))]);
        assert_eq!(book.held_by(&claim("a")), Some(ip("10.0.0.3")));
        assert_eq!(book.records_of(&claim("a")).len(), 1);
        assert_eq!(
            created(book.propose(&claim("b"), None).unwrap()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn another_pools_record_blocks_its_address_but_is_not_this_pools() {
        let foreign = Record {
            own: false,
            ..record("x")
        };
        let (mut book, _) = Book::new(pool(), [(ip("10.0.0.1"), foreign)], HashMap::new());
        assert_eq!(book.held_by(&claim("x")), None);
        assert!(book.records_of(&claim("x")).is_empty());
        assert_eq!(
            created(book.propose(&claim("a"), None).unwrap()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_forgotten_record_frees_its_address() {
        let (mut book, _) = Book::new(pool(), [(ip("10.0.0.1"), record("a"))], HashMap::new());
        book.forget(ip("10.0.0.1"));
        assert_eq!(book.held_by(&claim("a")), None);
        assert_eq!(
            created(book.propose(&claim("b"), None).unwrap()),
            ip("10.0.0.1")
        );
        assert_eq!(book.counts().used, 1);
    }

    #[test]
    fn an_address_adopted_by_another_claim_mid_proposal_is_never_held() {
        // Claim a's proposal of 10.0.0.1 is in flight when claim b's address object (written
        // by another replica) is adopted with the same address; a's create then loses.
        let (mut book, _) = Book::new(pool(), [], HashMap::new());
        let a = created(book.propose(&claim("a"), None).unwrap());
        book.adopt(a, record("b"));
        book.refuse(a, &claim("a"), record("b"));
        let next = book.propose(&claim("a"), None).unwrap();
        assert!(
            matches!(&next, Proposal::Create(x) if x.address != a),
            "a must not be told it holds b's address: {next:?}"
        );
        assert_eq!(book.held_by(&claim("b")), Some(a));
    }

    #[test]
    fn a_hold_without_the_claims_record_is_created_not_held() {
        // Another pool's record under the same claim name: the engine keeps the address for
        // the name, but this pool has no record of it.
        let foreign = Record {
            own: false,
            ..record("a")
        };
        let (mut book, _) = Book::new(pool(), [(ip("10.0.0.1"), foreign)], HashMap::new());
        assert!(matches!(
            book.propose(&claim("a"), None).unwrap(),
            Proposal::Create(_)
        ));
    }
}
