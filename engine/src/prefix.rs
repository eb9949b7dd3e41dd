//! Prefix pools: sub-prefixes (aligned blocks) of one length handed out of a set of prefixes,
//! as the in-cluster provider's InClusterPrefixPool does, for IPv6 and (beyond upstream)
//! IPv4.
//!
//! A block of length `L` is the subnet `base/L` with `base` aligned to `2^(bits − L)`. The
//! pool keeps its free space as an interval set whose runs start and end on block
//! boundaries: exclusions and blocks in use are widened to the blocks they touch before
//! they are taken out. So the lowest member of the set is the lowest free block's base, and
//! taking, giving back and finding a block cost O(log n) in the number of runs, however many
//! blocks the pool holds (a /32 cut into /64s holds 2^32).
//!
//! What a block may not do:
//! - overlap another block in use, of whatever length the in-use one was written with (an
//!   address object may hold a /60 or a /72 in a pool of /64s: the /64s it touches stay
//!   taken);
//! - touch an exclusion, even by one address;
//! - stick out of the prefixes (a prefix is never longer than the block length, so each is
//!   a whole number of blocks).
//!
//! The gateway is informational, as upstream's: it blocks nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::address::{Family, number};
use crate::counts::Counts;
use crate::free_space::IntervalSet;
use crate::syntax::{AddressEntry, Cidr};

/// Why a prefix pool cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrefixPoolError {
    /// No prefix to hand blocks out of.
    #[error("prefixes is required")]
    NoPrefixes,
    /// The block length is not a prefix length of the pool's family, or is 0.
    #[error("allocationPrefixLength {length} is not between 1 and {} for an {family} pool", .family.bits())]
    LengthOutOfRange {
        /// The length asked for.
        length: i64,
        /// The family of the pool's first prefix.
        family: Family,
    },
    /// A prefix of the other family than the first one.
    #[error("{entry} is {family}, but the pool's first prefix is {first}: a pool holds one family")]
    MixedFamilies {
        /// The prefix or exclusion of the other family.
        entry: String,
        /// Its family.
        family: Family,
        /// The family of the pool.
        first: Family,
    },
    /// A prefix shorter than a block: it would not hold one whole block.
    #[error("{prefix} is longer than allocationPrefixLength {length}")]
    PrefixLongerThanBlock {
        /// The prefix as written.
        prefix: String,
        /// The block length.
        length: u8,
    },
}

/// No free block is left.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "no free /{length} left in the pool: {in_use} of {total} in use{}",
    if *.out_of_range > 0 { format!(", and {} outside the pool", .out_of_range) } else { String::new() }
)]
pub struct PrefixExhausted {
    /// The block length.
    pub length: u8,
    /// Blocks of the pool in use.
    pub in_use: u128,
    /// Blocks of the pool.
    pub total: u128,
    /// Allocations recorded outside the pool's blocks.
    pub out_of_range: u128,
}

/// A sub-prefix: its first address and its length, as an IPAddress writes them
/// (`spec.address`, `spec.prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block {
    /// The first address of the block.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// A prefix pool's definition, compiled: its family, block length, and the blocks it may
/// hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixPool {
    family: Family,
    length: u8,
    /// The prefixes less every block an exclusion touches; block-aligned runs.
    allocatable: IntervalSet,
}

impl PrefixPool {
    /// Compiles `prefixes` (each at most `length` long; host bits are masked), cut into
    /// blocks of `length`, less the blocks any of `excluded` touches.
    ///
    /// # Errors
    /// A [`PrefixPoolError`] naming what is wrong.
    pub fn new(
        prefixes: &[Cidr],
        length: i64,
        excluded: &[AddressEntry],
    ) -> Result<PrefixPool, PrefixPoolError> {
        let first = prefixes.first().ok_or(PrefixPoolError::NoPrefixes)?;
        let family = first.family();
        let length = u8::try_from(length)
            .ok()
            .filter(|&l| l >= 1 && l <= family.bits())
            .ok_or(PrefixPoolError::LengthOutOfRange { length, family })?;
        let other_family = |entry: String, of: Family| PrefixPoolError::MixedFamilies {
            entry,
            family: of,
            first: family,
        };
        let mut allocatable = IntervalSet::new();
        for prefix in prefixes {
            if prefix.family() != family {
                return Err(other_family(prefix.to_string(), prefix.family()));
            }
            if prefix.prefix_len() > length {
                return Err(PrefixPoolError::PrefixLongerThanBlock {
                    prefix: prefix.to_string(),
                    length,
                });
            }
            let (first, last) = prefix.range().numbers();
            allocatable.insert(first, last);
        }
        let mut pool = PrefixPool {
            family,
            length,
            allocatable,
        };
        for entry in excluded {
            let range = entry.range();
            if range.family() != family {
                return Err(other_family(entry.range().to_string(), range.family()));
            }
            let (first, last) = pool.widen(range.numbers());
            pool.allocatable.remove(first, last);
        }
        Ok(pool)
    }

    /// The pool's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The length of the blocks handed out.
    pub fn length(&self) -> u8 {
        self.length
    }

    /// The addresses of the blocks the pool may hand out: block-aligned runs.
    pub(crate) fn allocatable(&self) -> &IntervalSet {
        &self.allocatable
    }

    /// Blocks the pool may hand out, in use or not.
    pub fn total(&self) -> u128 {
        self.blocks_in(&self.allocatable)
    }

    /// Whether the block `address/prefix` is one the pool may hand out: of the pool's
    /// length, within its prefixes, touching no exclusion.
    pub fn contains(&self, address: IpAddr, prefix: u8) -> bool {
        if Family::of(address) != self.family || prefix != self.length {
            return false;
        }
        let (first, _) = self.widen((number(address), number(address)));
        self.allocatable.contains(first)
    }

    /// Addresses in one block, less one (so it fits for a /0 block of IPv6).
    fn block_span(&self) -> u128 {
        let host_bits = u32::from(self.family.bits() - self.length);
        if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        }
    }

    /// `first..=last` widened to the blocks it touches.
    fn widen(&self, (first, last): (u128, u128)) -> (u128, u128) {
        let span = self.block_span();
        (first & !span, last | span)
    }

    /// The blocks in a block-aligned set, saturating at `u128::MAX`.
    fn blocks_in(&self, set: &IntervalSet) -> u128 {
        let shift = u32::from(self.family.bits() - self.length);
        set.runs().fold(0u128, |sum, (first, last)| {
            let blocks = (last - first).checked_shr(shift).unwrap_or(0) + 1;
            sum.saturating_add(blocks)
        })
    }

    fn block_at(&self, base: u128) -> Block {
        Block {
            address: self.family.address(base),
            prefix: self.length,
        }
    }
}

/// What one claim holds: a prefix of any length, masked, as `first..=last`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    first: u128,
    last: u128,
    /// `first` as an address of its own family, which may not be the pool's.
    address: IpAddr,
    prefix: u8,
    claim: String,
    in_range: bool,
}

/// The allocation state of one prefix pool.
#[derive(Debug, Clone)]
pub struct PrefixAllocator {
    pool: PrefixPool,
    /// Blocks of the pool no allocation touches: block-aligned runs.
    free: IntervalSet,
    /// Allocations by their first address; overlapping ones (foreign data) share a key.
    by_first: BTreeMap<u128, Vec<Held>>,
    by_claim: HashMap<String, u128>,
    /// The widest `last − first` of any allocation recorded: how far back an allocation
    /// overlapping a given address may start.
    widest: u128,
    out_of_range: u128,
}

impl PrefixAllocator {
    /// An allocator with no allocation yet.
    pub fn new(pool: PrefixPool) -> PrefixAllocator {
        PrefixAllocator {
            free: pool.allocatable.clone(),
            pool,
            by_first: BTreeMap::new(),
            by_claim: HashMap::new(),
            widest: 0,
            out_of_range: 0,
        }
    }

    /// The pool allocated from.
    pub fn pool(&self) -> &PrefixPool {
        &self.pool
    }

    /// Records that `claim` holds `address/prefix` (an IPAddress that exists), of whatever
    /// length: the blocks it touches are no longer handed out. Host bits are masked. A
    /// claim holds one prefix: recording another replaces it.
    ///
    /// Returns whether the prefix is one the pool would hand out (else it counts as out of
    /// range); `None` when `prefix` is longer than the address.
    pub fn record(&mut self, claim: &str, address: IpAddr, prefix: u8) -> Option<bool> {
        let family = Family::of(address);
        if prefix > family.bits() {
            return None;
        }
        let (first, last) = crate::address::subnet_of(family, number(address), prefix);
        self.release(claim);
        let in_range = self.pool.contains(address, prefix);
        if family == self.pool.family {
            let (from, to) = self.pool.widen((first, last));
            self.free.remove(from, to);
            self.widest = self.widest.max(last - first);
        }
        if !in_range {
            self.out_of_range += 1;
        }
        self.by_first.entry(first).or_default().push(Held {
            first,
            last,
            address: family.address(first),
            prefix,
            claim: claim.to_owned(),
            in_range,
        });
        self.by_claim.insert(claim.to_owned(), first);
        Some(in_range)
    }

    /// Gives `claim` a block: the one it holds, else the lowest free one. The boolean says
    /// whether it is new.
    ///
    /// # Errors
    /// [`PrefixExhausted`] when no block is free.
    pub fn allocate(&mut self, claim: &str) -> Result<(Block, bool), PrefixExhausted> {
        if let Some(block) = self.block_of(claim) {
            return Ok((block, false));
        }
        let Some(base) = self.free.first() else {
            let counts = self.counts();
            return Err(PrefixExhausted {
                length: self.pool.length,
                in_use: counts.used - counts.out_of_range,
                total: counts.total,
                out_of_range: counts.out_of_range,
            });
        };
        let block = self.pool.block_at(base);
        self.record(claim, block.address, block.prefix);
        Ok((block, true))
    }

    /// Frees what `claim` holds and returns it. The blocks it touched are free again unless
    /// another allocation still touches them.
    pub fn release(&mut self, claim: &str) -> Option<Block> {
        let first = self.by_claim.remove(claim)?;
        let held = self.by_first.get_mut(&first)?;
        let at = held.iter().position(|h| h.claim == claim)?;
        let held_one = held.swap_remove(at);
        if held.is_empty() {
            self.by_first.remove(&first);
        }
        if !held_one.in_range {
            self.out_of_range -= 1;
        }
        if Family::of(held_one.address) == self.pool.family {
            self.give_back(self.pool.widen((held_one.first, held_one.last)));
        }
        Some(Block {
            address: held_one.address,
            prefix: held_one.prefix,
        })
    }

    /// The block `claim` holds, of whatever length it was recorded with.
    pub fn block_of(&self, claim: &str) -> Option<Block> {
        let first = self.by_claim.get(claim)?;
        let held = self
            .by_first
            .get(first)?
            .iter()
            .find(|h| h.claim == claim)?;
        Some(Block {
            address: held.address,
            prefix: held.prefix,
        })
    }

    /// The claim holding the prefix that starts at `address`, if any.
    pub fn owner_of(&self, address: IpAddr) -> Option<&str> {
        self.by_first
            .get(&number(address))?
            .iter()
            .find(|h| h.address == address)
            .map(|h| h.claim.as_str())
    }

    /// Every allocation, lowest first.
    pub fn allocations(&self) -> impl Iterator<Item = (Block, &str)> + '_ {
        self.by_first.values().flatten().map(|h| {
            (
                Block {
                    address: h.address,
                    prefix: h.prefix,
                },
                h.claim.as_str(),
            )
        })
    }

    /// Counts in blocks: `total` blocks of the pool, `used` allocations recorded, in range
    /// or not, `out_of_range` those the pool would not hand out (outside the prefixes,
    /// touching an exclusion, or of another length), and `free` the pool's blocks nothing
    /// touches.
    pub fn counts(&self) -> Counts {
        Counts {
            total: self.pool.total(),
            used: self.by_claim.len() as u128,
            free: self.pool.blocks_in(&self.free),
            out_of_range: self.out_of_range,
        }
    }

    /// Returns the pool's blocks in `from..=to` (block-aligned) to the free set, less those
    /// another allocation still touches.
    fn give_back(&mut self, (from, to): (u128, u128)) {
        let mut back = IntervalSet::new();
        back.insert(from, to);
        let mut back = back.intersection(&self.pool.allocatable);
        if back.is_empty() {
            return;
        }
        let start = from.saturating_sub(self.widest);
        let family = self.pool.family;
        for held in self.by_first.range(start..=to).flat_map(|(_, h)| h) {
            if held.last >= from && Family::of(held.address) == family {
                let (a, b) = self.pool.widen((held.first, held.last));
                back.remove(a.max(from), b.min(to));
            }
        }
        for (first, last) in back.runs() {
            self.free.insert(first, last);
        }
    }
}
