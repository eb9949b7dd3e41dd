//! What a pool hands out, compiled, whatever its kind — single addresses (the address pools,
//! Metal3's IPPool) or sub-prefixes (the prefix pools) — and the allocation state of either,
//! as the ledger's book and the pool controller read them. A prefix pool's allocation is known
//! by its first address, as its IPAddress and its ledger record name it.

use std::collections::HashMap;
use std::net::IpAddr;

use ipam_engine::{
    AllocateError, Allocation, Allocator, Attributes, Counts, Pool, PrefixAllocator, PrefixPool,
    RecordIssue, Style, parse_address,
};

/// A pool's spec, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiled {
    /// Single addresses.
    Addresses(Pool),
    /// Sub-prefixes of one length.
    Prefixes(PrefixPool),
}

impl From<Pool> for Compiled {
    fn from(pool: Pool) -> Self {
        Compiled::Addresses(pool)
    }
}

impl From<PrefixPool> for Compiled {
    fn from(pool: PrefixPool) -> Self {
        Compiled::Prefixes(pool)
    }
}

impl Compiled {
    /// Whether `address` is one the pool may hand out, or lies in a block it may: a record of
    /// another pool there keeps it (or its block) from being proposed.
    pub fn contains(&self, address: IpAddr) -> bool {
        match self {
            Compiled::Addresses(pool) => pool.contains(address),
            Compiled::Prefixes(pool) => pool.contains(address, pool.length()),
        }
    }

    /// What the pool hands out one of, as messages name it: "address", or "/64 prefix".
    pub fn unit(&self) -> String {
        match self {
            Compiled::Addresses(_) => "address".into(),
            Compiled::Prefixes(pool) => format!("/{} prefix", pool.length()),
        }
    }

    /// The pool's counts with `in_use` address objects as (address, prefix, holder): for a
    /// prefix pool in blocks, an allocation of another length or outside the blocks counting
    /// as used and out of range.
    pub fn counts(self, in_use: impl IntoIterator<Item = (String, i32, String)>) -> Counts {
        match self {
            Compiled::Addresses(pool) => {
                let held = in_use
                    .into_iter()
                    .map(|(address, _, holder)| (address, holder));
                Allocator::rebuild(pool, held).0.counts()
            }
            Compiled::Prefixes(pool) => {
                let mut allocator = PrefixAllocator::new(pool);
                let mut unreadable = 0u128;
                for (address, prefix, holder) in in_use {
                    let recorded = parse_address(&address)
                        .ok()
                        .zip(u8::try_from(prefix).ok())
                        .and_then(|(address, prefix)| allocator.record(&holder, address, prefix));
                    if recorded.is_none() {
                        unreadable += 1;
                    }
                }
                let counts = allocator.counts();
                Counts {
                    used: counts.used + unreadable,
                    out_of_range: counts.out_of_range + unreadable,
                    ..counts
                }
            }
        }
    }
}

/// The allocation state of a pool of either kind, with the calls of [`Allocator`] the book
/// makes. Addresses are the first addresses of the blocks for a prefix pool.
pub enum Holdings {
    /// Boxed: an address pool's state is four times a prefix pool's.
    Addresses(Box<Allocator>),
    Prefixes(PrefixHoldings),
}

impl Holdings {
    /// The state of `compiled` with `held` allocations (address, claim) recorded.
    pub fn rebuild(
        compiled: Compiled,
        held: impl IntoIterator<Item = (String, String)>,
    ) -> (Holdings, Vec<RecordIssue>) {
        match compiled {
            Compiled::Addresses(pool) => {
                let (allocator, issues) = Allocator::rebuild(pool, held);
                (Holdings::Addresses(Box::new(allocator)), issues)
            }
            Compiled::Prefixes(pool) => {
                let mut holdings = PrefixHoldings {
                    allocator: PrefixAllocator::new(pool),
                    second: HashMap::new(),
                };
                let issues = held
                    .into_iter()
                    .filter_map(|(address, claim)| holdings.record(&address, &claim).err())
                    .collect();
                (Holdings::Prefixes(holdings), issues)
            }
        }
    }

    pub fn counts(&self) -> Counts {
        match self {
            Holdings::Addresses(a) => a.counts(),
            Holdings::Prefixes(p) => p.allocator.counts(),
        }
    }

    /// See [`Allocator::allocate`]; a prefix pool gives the lowest free block and takes no
    /// request.
    pub fn allocate(
        &mut self,
        claim: &str,
        requested: Option<&str>,
    ) -> Result<Allocation, AllocateError> {
        match self {
            Holdings::Addresses(a) => a.allocate(claim, requested),
            Holdings::Prefixes(p) => p.allocate(claim),
        }
    }

    pub fn record(&mut self, address: &str, claim: &str) -> Result<(), RecordIssue> {
        match self {
            Holdings::Addresses(a) => a.record(address, claim),
            Holdings::Prefixes(p) => p.record(address, claim),
        }
    }

    pub fn owner_of(&self, address: IpAddr) -> Option<&str> {
        match self {
            Holdings::Addresses(a) => a.owner_of(address),
            Holdings::Prefixes(p) => p.owner_of(address),
        }
    }

    pub fn address_of(&self, claim: &str) -> Option<IpAddr> {
        match self {
            Holdings::Addresses(a) => a.address_of(claim),
            Holdings::Prefixes(p) => p.allocator.block_of(claim).map(|b| b.address),
        }
    }

    pub fn release(&mut self, claim: &str) -> Option<IpAddr> {
        match self {
            Holdings::Addresses(a) => a.release(claim),
            Holdings::Prefixes(p) => p.allocator.release(claim).map(|b| b.address),
        }
    }

    pub fn release_address(&mut self, address: IpAddr) -> Option<String> {
        match self {
            Holdings::Addresses(a) => a.release_address(address),
            Holdings::Prefixes(p) => p.release_address(address),
        }
    }

    /// Says that the allocation starting at `address` is `address/prefix`, not a block of the
    /// pool's length (an address object written so): every block it touches stays taken.
    /// Nothing changes for a pool of addresses, or an address nobody holds.
    pub fn widen(&mut self, address: IpAddr, prefix: u8) {
        if let Holdings::Prefixes(p) = self
            && prefix != p.allocator.pool().length()
            && let Some(key) = p.allocator.owner_of(address).map(str::to_owned)
        {
            p.allocator.record(&key, address, prefix);
        }
    }
}

/// A prefix pool's blocks in use. The engine lets a claim hold one block; a second record of
/// the same claim (a pass that lost a race, until its record is deleted) is kept under a key
/// of its own, so its block stays taken and the book never proposes it to another claim.
pub struct PrefixHoldings {
    allocator: PrefixAllocator,
    /// Engine key of a second hold → its claim.
    second: HashMap<String, String>,
}

impl PrefixHoldings {
    fn allocate(&mut self, claim: &str) -> Result<Allocation, AllocateError> {
        match self.allocator.allocate(claim) {
            Ok((block, newly_allocated)) => Ok(Allocation {
                address: block.address,
                attributes: Attributes {
                    prefix: block.prefix,
                    gateway: None,
                    dns_servers: Vec::new(),
                },
                newly_allocated,
            }),
            // The ledger words exhaustion from the counts; only the kind of error is read.
            Err(e) => Err(AllocateError::Exhausted {
                style: Style::InCluster,
                used: e.in_use,
                total: e.total,
                held: 0,
                ranges: String::new(),
            }),
        }
    }

    fn record(&mut self, text: &str, claim: &str) -> Result<(), RecordIssue> {
        let address = parse_address(text).map_err(|source| RecordIssue::Unparsable {
            owner: claim.to_owned(),
            address: text.to_owned(),
            source,
        })?;
        match self.owner_of(address) {
            Some(owner) if owner == claim => return Ok(()),
            Some(owner) => {
                return Err(RecordIssue::Duplicate {
                    address,
                    owner: owner.to_owned(),
                    other: claim.to_owned(),
                });
            }
            None => {}
        }
        let length = self.allocator.pool().length();
        let Some(first) = self.allocator.block_of(claim) else {
            self.allocator.record(claim, address, length);
            return Ok(());
        };
        let key = format!("{claim} {address}");
        self.allocator.record(&key, address, length);
        self.second.insert(key, claim.to_owned());
        Err(RecordIssue::SecondAddress {
            owner: claim.to_owned(),
            first: first.address,
            second: address,
        })
    }

    fn owner_of(&self, address: IpAddr) -> Option<&str> {
        let key = self.allocator.owner_of(address)?;
        Some(self.second.get(key).map_or(key, String::as_str))
    }

    fn release_address(&mut self, address: IpAddr) -> Option<String> {
        let key = self.allocator.owner_of(address)?.to_owned();
        self.allocator.release(&key);
        Some(self.second.remove(&key).unwrap_or(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipam_engine::{Cidr, PrefixPool};

    fn pool() -> Compiled {
        let prefixes = [Cidr::parse("10.0.0.0/26").unwrap()];
        Compiled::Prefixes(PrefixPool::new(&prefixes, 28, &[]).unwrap())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_are_handed_out_lowest_first_by_their_first_address() {
        let (mut holdings, issues) = Holdings::rebuild(pool(), [("10.0.0.0".into(), "a".into())]);
        assert!(issues.is_empty());
        let b = holdings.allocate("b", None).unwrap();
        assert_eq!((b.address, b.attributes.prefix), (ip("10.0.0.16"), 28));
        assert_eq!(holdings.owner_of(ip("10.0.0.0")), Some("a"));
        assert_eq!(
            holdings.release_address(ip("10.0.0.0")).as_deref(),
            Some("a")
        );
        assert_eq!(
            holdings.allocate("c", None).unwrap().address,
            ip("10.0.0.0")
        );
    }

    #[test]
    fn a_second_record_of_a_claim_keeps_its_block_taken() {
        let held = [
            ("10.0.0.0".to_string(), "a".to_string()),
            ("10.0.0.16".to_string(), "a".to_string()),
        ];
        let (mut holdings, issues) = Holdings::rebuild(pool(), held);
        assert!(matches!(issues[..], [RecordIssue::SecondAddress { .. }]));
        assert_eq!(holdings.owner_of(ip("10.0.0.16")), Some("a"));
        assert_eq!(
            holdings.allocate("b", None).unwrap().address,
            ip("10.0.0.32")
        );
        assert_eq!(
            holdings.release_address(ip("10.0.0.16")).as_deref(),
            Some("a")
        );
        assert_eq!(holdings.address_of("a"), Some(ip("10.0.0.0")));
        assert_eq!(
            holdings.allocate("c", None).unwrap().address,
            ip("10.0.0.16")
        );
    }

    #[test]
    fn a_wider_allocation_keeps_every_block_it_touches_until_released() {
        let (mut holdings, _) = Holdings::rebuild(pool(), [("10.0.0.32".into(), "w".into())]);
        holdings.widen(ip("10.0.0.32"), 27);
        assert_eq!(
            holdings.allocate("a", None).unwrap().address,
            ip("10.0.0.0")
        );
        assert_eq!(
            holdings.allocate("b", None).unwrap().address,
            ip("10.0.0.16")
        );
        assert!(holdings.allocate("c", None).unwrap_err().is_exhausted());
        assert_eq!(
            holdings.release_address(ip("10.0.0.32")).as_deref(),
            Some("w")
        );
        assert_eq!(
            holdings.allocate("c", None).unwrap().address,
            ip("10.0.0.32")
        );
        assert_eq!(
            holdings.allocate("d", None).unwrap().address,
            ip("10.0.0.48")
        );
    }

    #[test]
    fn exhaustion_is_the_engines_exhaustion() {
        let held = (0..4).map(|i| (format!("10.0.0.{}", i * 16), format!("c{i}")));
        let (mut holdings, _) = Holdings::rebuild(pool(), held);
        assert!(holdings.allocate("late", None).unwrap_err().is_exhausted());
        assert_eq!(holdings.counts().free, 0);
    }

    #[test]
    fn counts_are_in_blocks_and_odd_allocations_are_out_of_range() {
        let in_use = [
            ("10.0.0.0".to_string(), 28, "a".to_string()),
            // Another length: its /27 takes two blocks, and is out of range.
            ("10.0.0.32".to_string(), 27, "b".to_string()),
            ("nonsense".to_string(), 28, "c".to_string()),
        ];
        let counts = pool().counts(in_use);
        assert_eq!(
            (counts.total, counts.used, counts.free, counts.out_of_range),
            (4, 3, 1, 2)
        );
    }
}
