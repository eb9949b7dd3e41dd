//! The allocation state of one pool: who holds which address, and the free
//! space as an interval set, so that the next address, a specific address, a
//! release and every lookup cost O(log n) in the number of free runs (or
//! O(1) for lookups by claim or address), whatever the pool's size.
//!
//! The state is a cache: a reconciler rebuilds it from the address objects
//! that exist ([`Allocator::rebuild`]) and keeps it current as it allocates
//! and releases. It is not what prevents duplicates across restarts; the API
//! server is.

use std::collections::HashMap;
use std::net::IpAddr;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::address::number;
use crate::counts::Counts;
use crate::error::{AllocateError, RecordIssue};
use crate::free_space::IntervalSet;
use crate::holders::Holders;
use crate::parse::parse_address;
use crate::pool::{AllocationStrategy, Attributes, Placement, Pool};

/// An address handed to a claim, with what it is handed out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The address.
    pub address: IpAddr,
    /// Prefix, gateway and DNS servers of the entry it came from.
    pub attributes: Attributes,
    /// False when the claim already held the address before this call.
    pub newly_allocated: bool,
}

/// One pool and the allocations recorded against it.
#[derive(Debug)]
pub struct Allocator {
    pool: Pool,
    /// Allocatable, not in use, not kept for a pre-allocated claim.
    free: IntervalSet,
    holders: Holders,
    /// Claims holding text that is no address: claim → text.
    unparsable: HashMap<String, String>,
    /// Allocatable addresses kept for pre-allocated claims: address → claim.
    held: HashMap<IpAddr, String>,
    out_of_range: u128,
    rng: StdRng,
}

impl Allocator {
    /// An allocator with no allocation yet. Random allocation (Metal3
    /// `random`) draws from an RNG seeded from the operating system; use
    /// [`Allocator::with_seed`] for a repeatable sequence.
    pub fn new(pool: Pool) -> Allocator {
        let mut free = pool.allocatable().clone();
        let mut held = HashMap::new();
        for (claim, &address) in pool.pre_allocations() {
            if pool.contains(address) && !held.contains_key(&address) {
                free.remove(number(address), number(address));
                held.insert(address, claim.clone());
            }
        }
        Allocator {
            pool,
            free,
            holders: Holders::default(),
            unparsable: HashMap::new(),
            held,
            out_of_range: 0,
            rng: rand::make_rng(),
        }
    }

    /// The same allocator drawing random starting points from a generator
    /// seeded with `seed`, so tests and replays are deterministic.
    pub fn with_seed(mut self, seed: u64) -> Allocator {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// An allocator for `pool` holding the allocations that already exist,
    /// given as (address text, claim) pairs. Allocations outside the pool
    /// (after a shrink) are kept and counted out of range. Anything odd is
    /// recorded as well as it can be and reported.
    pub fn rebuild<A, C>(
        pool: Pool,
        existing: impl IntoIterator<Item = (A, C)>,
    ) -> (Allocator, Vec<RecordIssue>)
    where
        A: AsRef<str>,
        C: AsRef<str>,
    {
        let mut allocator = Allocator::new(pool);
        let issues = existing
            .into_iter()
            .filter_map(|(address, claim)| allocator.record(address.as_ref(), claim.as_ref()).err())
            .collect();
        (allocator, issues)
    }

    /// Records an allocation that exists outside the engine (an address
    /// object seen by a watch). Recording the same pair twice changes
    /// nothing.
    ///
    /// # Errors
    /// A [`RecordIssue`] when the text is no address (recorded as used and
    /// out of range), the address already has another claim (not recorded:
    /// the first claim keeps it), or the claim already has another address
    /// (recorded: both stay in use).
    pub fn record(&mut self, address: &str, claim: &str) -> Result<(), RecordIssue> {
        let parsed = match parse_address(address) {
            Ok(parsed) => parsed,
            Err(source) => {
                if self
                    .unparsable
                    .insert(claim.to_owned(), address.to_owned())
                    .is_none()
                {
                    self.out_of_range += 1;
                }
                return Err(RecordIssue::Unparsable {
                    owner: claim.to_owned(),
                    address: address.to_owned(),
                    source,
                });
            }
        };
        if let Some(owner) = self.holders.claim_of(parsed) {
            if owner == claim {
                return Ok(());
            }
            return Err(RecordIssue::Duplicate {
                address: parsed,
                owner: owner.to_owned(),
                other: claim.to_owned(),
            });
        }
        let first = self.holders.address_of(claim);
        self.occupy(parsed, claim, first.is_none());
        match first {
            Some(first) => Err(RecordIssue::SecondAddress {
                owner: claim.to_owned(),
                first,
                second: parsed,
            }),
            None => Ok(()),
        }
    }

    /// Gives `claim` an address: the one it already holds; else its
    /// pre-allocation; else the `requested` address (Metal3's `ipAddress`
    /// annotation); else the next free address in the pool's order (lowest
    /// first for in-cluster; entry by entry, sequential or from a random
    /// point, for Metal3).
    ///
    /// # Errors
    /// An [`AllocateError`] saying why the claim gets nothing: the pool is
    /// exhausted, the requested text is no address, it conflicts with the
    /// pre-allocation, or the specific address lies outside the entries, is
    /// withheld, or is taken.
    pub fn allocate(
        &mut self,
        claim: &str,
        requested: Option<&str>,
    ) -> Result<Allocation, AllocateError> {
        if let Some(address) = self.holders.address_of(claim) {
            return Ok(self.allocation(address, false));
        }
        let requested = requested
            .map(|text| {
                parse_address(text).map_err(|source| AllocateError::InvalidRequest {
                    requested: text.to_owned(),
                    source,
                })
            })
            .transpose()?;
        let address = match (self.pool.pre_allocations().get(claim).copied(), requested) {
            (Some(preallocated), Some(requested)) if preallocated != requested => {
                return Err(AllocateError::PreAllocationConflict {
                    claim: claim.to_owned(),
                    preallocated,
                    requested,
                });
            }
            (Some(preallocated), _) => self.check_specific(claim, preallocated, true)?,
            (None, Some(requested)) => self.check_specific(claim, requested, false)?,
            (None, None) => self.next_free().ok_or_else(|| self.exhausted())?,
        };
        self.occupy(address, claim, true);
        Ok(self.allocation(address, true))
    }

    /// Frees the address `claim` holds and returns it. An address kept for a
    /// pre-allocation stays kept for its claim.
    pub fn release(&mut self, claim: &str) -> Option<IpAddr> {
        if self.unparsable.remove(claim).is_some() {
            self.out_of_range -= 1;
        }
        let address = self.holders.address_of(claim)?;
        self.vacate(address);
        Some(address)
    }

    /// Frees `address` whoever holds it, returning that claim: for address
    /// objects whose claim is gone, and for a claim's second address.
    pub fn release_address(&mut self, address: IpAddr) -> Option<String> {
        self.vacate(address)
    }

    /// The claim holding `address`.
    pub fn owner_of(&self, address: IpAddr) -> Option<&str> {
        self.holders.claim_of(address)
    }

    /// The address `claim` holds.
    pub fn address_of(&self, claim: &str) -> Option<IpAddr> {
        self.holders.address_of(claim)
    }

    /// Whether some claim holds `address`.
    pub fn is_allocated(&self, address: IpAddr) -> bool {
        self.holders.claim_of(address).is_some()
    }

    /// Every recorded allocation with a parsable address, in no particular
    /// order.
    pub fn allocations(&self) -> impl Iterator<Item = (IpAddr, &str)> + '_ {
        self.holders.iter()
    }

    /// The pool allocated from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Total, used, free and out-of-range counts, exact.
    pub fn counts(&self) -> Counts {
        let used = (self.holders.len() + self.unparsable.len()) as u128;
        let total = self.pool.total();
        Counts {
            total,
            used,
            free: total - (used - self.out_of_range),
            out_of_range: self.out_of_range,
        }
    }

    /// Records `claim` as holder of `address`; `first` says the claim holds
    /// nothing else yet.
    fn occupy(&mut self, address: IpAddr, claim: &str, first: bool) {
        if self.pool.contains(address) {
            self.free.remove(number(address), number(address));
        } else {
            self.out_of_range += 1;
        }
        self.holders.insert(claim, address, first);
    }

    /// Forgets the holder of `address`, returns the address to the free
    /// space unless a pre-allocation keeps it, and returns the holder.
    fn vacate(&mut self, address: IpAddr) -> Option<String> {
        let claim = self.holders.remove_address(address)?;
        if !self.pool.contains(address) {
            self.out_of_range -= 1;
        } else if !self.held.contains_key(&address) {
            self.free.insert(number(address), number(address));
        }
        Some(claim)
    }

    fn allocation(&self, address: IpAddr, newly_allocated: bool) -> Allocation {
        Allocation {
            address,
            attributes: self.pool.attributes(address).clone(),
            newly_allocated,
        }
    }

    /// A pre-allocated or requested address, if `claim` may have it.
    fn check_specific(
        &self,
        claim: &str,
        address: IpAddr,
        preallocated: bool,
    ) -> Result<IpAddr, AllocateError> {
        match self.pool.placement(address) {
            Placement::OutsideEntries if preallocated => {
                Err(AllocateError::PreAllocationOutOfBounds {
                    claim: claim.to_owned(),
                    address,
                })
            }
            Placement::OutsideEntries => Err(AllocateError::RequestOutOfBounds { address }),
            Placement::Withheld(reason) => Err(AllocateError::Withheld { address, reason }),
            Placement::Allocatable => {
                if let Some(owner) = self.holders.claim_of(address) {
                    return Err(AllocateError::Taken {
                        address,
                        owner: owner.to_owned(),
                        held: false,
                    });
                }
                // A pre-allocation may name one address for several claim keys (Metal3 keys
                // it by name alone, whatever the claim's kind): any of them may take it.
                match self.held.get(&address) {
                    Some(holder) if holder != claim && !preallocated => Err(AllocateError::Taken {
                        address,
                        owner: holder.clone(),
                        held: true,
                    }),
                    _ => Ok(address),
                }
            }
        }
    }

    /// The next free address in the pool's order. An in-cluster pool is one
    /// segment spanning all its addresses, so "first free in the first
    /// segment that has one" is the lowest free address there.
    fn next_free(&mut self) -> Option<IpAddr> {
        let family = self.pool.family();
        let random = self.pool.strategy() == AllocationStrategy::Random;
        for segment in self.pool.segments() {
            let found = if random {
                let start = segment.first + self.rng.random_range(0..=segment.last - segment.first);
                self.free.first_within(start, segment.last).or_else(|| {
                    (start > segment.first)
                        .then(|| self.free.first_within(segment.first, start - 1))
                        .flatten()
                })
            } else {
                self.free.first_within(segment.first, segment.last)
            };
            if let Some(value) = found {
                return Some(family.address(value));
            }
        }
        None
    }

    fn exhausted(&self) -> AllocateError {
        let total = self.pool.total();
        let held = self
            .held
            .keys()
            .filter(|&&address| self.holders.claim_of(address).is_none())
            .count() as u128;
        AllocateError::Exhausted {
            style: self.pool.style(),
            used: total - self.free.size() - held,
            total,
            held,
            ranges: self.pool.to_string(),
        }
    }
}
