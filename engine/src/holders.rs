//! Who holds which address: one record per allocation, found by claim or by
//! address in O(1).
//!
//! A pool of a million allocations keeps a million claim names whatever the
//! layout, but the layout decides how much memory is touched to find them.
//! Two `HashMap`s of owned strings touch several times what this does: a
//! slab of records holding each name once, an open-addressing index of
//! 8-byte buckets by claim that rules out most non-matches without reading
//! a record, and an index by address that stores runs, not addresses. Measured on the project's machine, that is the difference between
//! a million allocations in well under a second and nearly three.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;

use crate::address::{Family, number};

/// An index from hashes to record ids: linear probing over a power of two
/// of buckets, at most half full, with backward-shift deletion so no
/// tombstones accumulate. Each bucket keeps 32 bits of its record's hash,
/// which both picks the home bucket and rules out most non-matching records
/// without touching them.
#[derive(Debug, Default)]
struct Index {
    buckets: Vec<Bucket>,
    len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    id: u32,
    hash: u32,
}

const EMPTY: Bucket = Bucket {
    id: u32::MAX,
    hash: 0,
};

impl Index {
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// The bucket of the first id with this hash for which `is_it` holds.
    fn find(&self, hash: u32, is_it: impl Fn(u32) -> bool) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut at = hash as usize & mask;
        loop {
            let bucket = self.buckets[at];
            if bucket == EMPTY {
                return None;
            }
            if bucket.hash == hash && is_it(bucket.id) {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
    }

    fn insert(&mut self, hash: u32, id: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            let size = (self.buckets.len() * 2).max(16);
            let old = std::mem::replace(&mut self.buckets, vec![EMPTY; size]);
            for bucket in old.into_iter().filter(|&bucket| bucket != EMPTY) {
                self.place(bucket);
            }
        }
        self.place(Bucket { id, hash });
        self.len += 1;
    }

    fn place(&mut self, bucket: Bucket) {
        let mask = self.mask();
        let mut at = bucket.hash as usize & mask;
        while self.buckets[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.buckets[at] = bucket;
    }

    /// Empties bucket `at`, moving later buckets of the same probe run back
    /// so every id stays reachable from its home bucket.
    fn remove(&mut self, at: usize) {
        let mask = self.mask();
        let mut hole = at;
        let mut next = (hole + 1) & mask;
        loop {
            let bucket = self.buckets[next];
            if bucket == EMPTY {
                break;
            }
            let home = bucket.hash as usize & mask;
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.buckets[hole] = bucket;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
    }
}

/// Address → record id, kept as runs in which consecutive addresses map to
/// consecutive ids. Allocation in address order appends both, so a million
/// sequential allocations are one run: the index follows fragmentation, as
/// the free space does, and its lookups stay in cache.
#[derive(Debug, Default)]
struct RunIndex {
    /// First address of a run → the run.
    runs: BTreeMap<IpAddr, Run>,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    len: u32,
    first_id: u32,
}

impl RunIndex {
    /// The run holding `address`, with the address's offset in it.
    fn run_of(&self, address: IpAddr) -> Option<(IpAddr, Run, u32)> {
        let (&first, &run) = self.runs.range(..=address).next_back()?;
        if Family::of(first) != Family::of(address) {
            return None;
        }
        let offset = u32::try_from(number(address) - number(first)).ok()?;
        (offset < run.len).then_some((first, run, offset))
    }

    fn get(&self, address: IpAddr) -> Option<u32> {
        self.run_of(address)
            .map(|(_, run, offset)| run.first_id + offset)
    }

    fn insert(&mut self, address: IpAddr, id: u32) {
        if let Some((first, run)) = self.runs.range_mut(..address).next_back()
            && Family::of(*first) == Family::of(address)
            && number(*first).checked_add(u128::from(run.len)) == Some(number(address))
            && run.first_id.checked_add(run.len) == Some(id)
        {
            run.len += 1;
            return;
        }
        self.runs.insert(
            address,
            Run {
                len: 1,
                first_id: id,
            },
        );
    }

    fn remove(&mut self, address: IpAddr) -> Option<u32> {
        let (first, run, offset) = self.run_of(address)?;
        self.runs.remove(&first);
        if offset > 0 {
            self.runs.insert(
                first,
                Run {
                    len: offset,
                    first_id: run.first_id,
                },
            );
        }
        if offset + 1 < run.len {
            let family = Family::of(address);
            self.runs.insert(
                family.address(number(address) + 1),
                Run {
                    len: run.len - offset - 1,
                    first_id: run.first_id + offset + 1,
                },
            );
        }
        Some(run.first_id + offset)
    }
}

#[derive(Debug)]
struct Record {
    claim: Box<str>,
    address: IpAddr,
    /// Whether the claim index points here; a claim's second address (seen
    /// only when rebuilding from a cluster with a duplicate) is found by
    /// address alone.
    claim_indexed: bool,
}

/// The allocations of one pool.
#[derive(Debug, Default)]
pub(crate) struct Holders {
    records: Vec<Option<Record>>,
    vacant: Vec<u32>,
    by_claim: Index,
    by_address: RunIndex,
    hasher: RandomState,
    len: usize,
}

impl Holders {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn record(&self, id: u32) -> &Record {
        self.records[id as usize]
            .as_ref()
            .expect("indexes point at live records")
    }

    /// Thirty-two bits of a keyed hash: keyed so that nobody choosing claim
    /// names or addresses can make them collide on purpose.
    fn hash(&self, value: impl Hash) -> u32 {
        self.hasher.hash_one(value) as u32
    }

    fn claim_bucket(&self, claim: &str) -> Option<usize> {
        self.by_claim
            .find(self.hash(claim), |id| &*self.record(id).claim == claim)
    }

    /// The address `claim` holds (the first, should it hold several).
    pub(crate) fn address_of(&self, claim: &str) -> Option<IpAddr> {
        self.claim_bucket(claim)
            .map(|at| self.record(self.by_claim.buckets[at].id).address)
    }

    /// The claim holding `address`.
    pub(crate) fn claim_of(&self, address: IpAddr) -> Option<&str> {
        self.by_address
            .get(address)
            .map(|id| &*self.record(id).claim)
    }

    /// Records that `claim` holds `address`, which nobody holds yet;
    /// `first` says the claim holds nothing else, so lookups by claim find
    /// this address.
    pub(crate) fn insert(&mut self, claim: &str, address: IpAddr, first: bool) {
        debug_assert!(self.claim_of(address).is_none());
        debug_assert_eq!(first, self.address_of(claim).is_none());
        let record = Record {
            claim: claim.into(),
            address,
            claim_indexed: first,
        };
        let id = match self.vacant.pop() {
            Some(id) => {
                self.records[id as usize] = Some(record);
                id
            }
            None => {
                self.records.push(Some(record));
                u32::try_from(self.records.len() - 1).expect("fewer than 2^32 allocations per pool")
            }
        };
        if first {
            self.by_claim.insert(self.hash(claim), id);
        }
        self.by_address.insert(address, id);
        self.len += 1;
    }

    /// Forgets the record of `address` and returns its claim.
    pub(crate) fn remove_address(&mut self, address: IpAddr) -> Option<String> {
        let id = self.by_address.remove(address)?;
        let record = self.records[id as usize]
            .take()
            .expect("indexes point at live records");
        if record.claim_indexed {
            let at = self
                .by_claim
                .find(self.hash(&*record.claim), |other| other == id)
                .expect("an indexed claim is in the claim index");
            self.by_claim.remove(at);
        }
        self.vacant.push(id);
        self.len -= 1;
        Some(record.claim.into())
    }

    /// Every allocation, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IpAddr, &str)> + '_ {
        self.records
            .iter()
            .flatten()
            .map(|record| (record.address, &*record.claim))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::Holders;

    fn ip(n: u8) -> std::net::IpAddr {
        Ipv4Addr::new(10, 0, 0, n).into()
    }

    #[test]
    fn the_top_of_the_ipv6_space_closes_a_run() {
        let top: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let below: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".parse().unwrap();
        let mut holders = Holders::default();
        holders.insert("a", below, true);
        holders.insert("b", top, true);
        holders.insert("c", ip(1), true);
        assert_eq!(holders.claim_of(top), Some("b"));
        assert_eq!(holders.remove_address(below), Some("a".to_string()));
        assert_eq!(holders.claim_of(top), Some("b"));
        assert_eq!(holders.claim_of(ip(1)), Some("c"));
    }

    fn check(
        holders: &Holders,
        by_address: &HashMap<u8, String>,
        first_of: &HashMap<String, u8>,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(holders.len(), by_address.len());
        for address in 0u8..=255 {
            prop_assert_eq!(
                holders.claim_of(ip(address)),
                by_address.get(&address).map(String::as_str)
            );
        }
        for (claim, &address) in first_of {
            prop_assert_eq!(holders.address_of(claim), Some(ip(address)));
        }
        prop_assert_eq!(holders.address_of("nobody"), None);
        prop_assert_eq!(holders.iter().count(), by_address.len());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Against two plain maps, starting from a sequential block (one run
        /// in the address index) and then inserting and removing anywhere.
        #[test]
        fn behaves_like_two_maps(
            block in 0u8..64,
            ops in proptest::collection::vec((any::<bool>(), any::<u8>(), 0u8..12), 0..200),
        ) {
            let mut holders = Holders::default();
            let mut by_address: HashMap<u8, String> = HashMap::new();
            let mut first_of: HashMap<String, u8> = HashMap::new();
            for address in 0..block {
                let name = format!("s{address}");
                holders.insert(&name, ip(address), true);
                by_address.insert(address, name.clone());
                first_of.insert(name, address);
            }
            check(&holders, &by_address, &first_of)?;
            for (insert, address, claim) in ops {
                let name = format!("c{claim}");
                if insert {
                    if by_address.contains_key(&address) { continue; }
                    holders.insert(&name, ip(address), !first_of.contains_key(&name));
                    by_address.insert(address, name.clone());
                    first_of.entry(name).or_insert(address);
                } else {
                    let removed = holders.remove_address(ip(address));
                    let expected = by_address.remove(&address);
                    prop_assert_eq!(&removed, &expected);
                    if let Some(claim) = expected && first_of.get(&claim) == Some(&address) {
                        first_of.remove(&claim);
                    }
                }
                check(&holders, &by_address, &first_of)?;
            }
        }
    }
}
