//! A pool definition, compiled from either upstream's spec into one shape:
//! the addresses its entries name (bounds), the ones it may hand out
//! (allocatable), why the others are withheld, the order to hand them out
//! in, and what each address is handed out with (prefix, gateway, DNS).

mod in_cluster;
pub(crate) mod metal3;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

pub use in_cluster::InClusterSpec;
pub use metal3::{AllocationStrategy, Metal3Entry, Metal3Spec};

use crate::address::{AddressRange, Family, number};
use crate::error::Withheld;
use crate::free_space::IntervalSet;

/// Which upstream a pool imitates. It decides the allocation order (lowest
/// free address for in-cluster, entry order for Metal3) and the wording of
/// refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// cluster-api-ipam-provider-in-cluster (`InClusterIPPool`,
    /// `GlobalInClusterIPPool`).
    InCluster,
    /// metal3-io/ip-address-manager (`IPPool`).
    Metal3,
}

impl Style {
    pub(crate) fn exhausted(self) -> &'static str {
        match self {
            Style::InCluster => "no address available",
            Style::Metal3 => "Exhausted IP Pools",
        }
    }
}

/// What an address is handed out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// Prefix length written next to the address.
    pub prefix: u8,
    /// Gateway written next to the address.
    pub gateway: Option<IpAddr>,
    /// DNS servers written next to the address (Metal3 only).
    pub dns_servers: Vec<IpAddr>,
}

/// Where an address stands with respect to a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The pool may hand it out.
    Allocatable,
    /// An entry names it, but it is never handed out.
    Withheld(Withheld),
    /// No entry names it (or it is of the other family).
    OutsideEntries,
}

/// One Metal3 entry's candidate addresses, or the span of an in-cluster
/// pool, with what its addresses are handed out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) first: u128,
    pub(crate) last: u128,
    pub(crate) attributes: Attributes,
}

/// A compiled pool definition. Build it with [`Pool::in_cluster`] or
/// [`Pool::metal3`]; hand it to an [`Allocator`](crate::Allocator) to
/// allocate from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    style: Style,
    strategy: AllocationStrategy,
    family: Family,
    /// In allocation order; each non-empty.
    segments: Vec<Segment>,
    defaults: Attributes,
    bounds: IntervalSet,
    allocatable: IntervalSet,
    gateways: Vec<u128>,
    reserved: Vec<u128>,
    excluded: IntervalSet,
    pre_allocations: BTreeMap<String, IpAddr>,
}

/// The pieces both builders produce; [`Pool::assemble`] derives the rest.
pub(crate) struct Parts {
    pub(crate) style: Style,
    pub(crate) strategy: AllocationStrategy,
    pub(crate) family: Family,
    pub(crate) segments: Vec<Segment>,
    pub(crate) defaults: Attributes,
    pub(crate) bounds: IntervalSet,
    pub(crate) gateways: Vec<u128>,
    pub(crate) reserved: Vec<u128>,
    pub(crate) excluded: IntervalSet,
    pub(crate) pre_allocations: BTreeMap<String, IpAddr>,
}

impl Pool {
    pub(crate) fn assemble(parts: Parts) -> Pool {
        let mut allocatable = parts.bounds.difference(&parts.excluded);
        for &value in parts.reserved.iter().chain(&parts.gateways) {
            allocatable.remove(value, value);
        }
        Pool {
            style: parts.style,
            strategy: parts.strategy,
            family: parts.family,
            segments: parts.segments,
            defaults: parts.defaults,
            bounds: parts.bounds,
            allocatable,
            gateways: parts.gateways,
            reserved: parts.reserved,
            excluded: parts.excluded,
            pre_allocations: parts.pre_allocations,
        }
    }

    /// The upstream this pool imitates.
    pub fn style(&self) -> Style {
        self.style
    }

    /// The allocation strategy (always sequential for in-cluster pools).
    pub fn strategy(&self) -> AllocationStrategy {
        self.strategy
    }

    /// The family of every address in the pool.
    pub fn family(&self) -> Family {
        self.family
    }

    /// How many addresses the pool may hand out: its entries minus
    /// exclusions, reserved addresses and gateways. Saturates at
    /// `u128::MAX` only for a pool of the whole IPv6 space.
    pub fn total(&self) -> u128 {
        self.allocatable.size()
    }

    /// Whether the pool may hand out `address`.
    pub fn contains(&self, address: IpAddr) -> bool {
        Family::of(address) == self.family && self.allocatable.contains(number(address))
    }

    /// Where `address` stands: allocatable, withheld (and why), or outside
    /// every entry.
    pub fn placement(&self, address: IpAddr) -> Placement {
        if Family::of(address) != self.family {
            return Placement::OutsideEntries;
        }
        let value = number(address);
        if self.allocatable.contains(value) {
            Placement::Allocatable
        } else if !self.bounds.contains(value) {
            Placement::OutsideEntries
        } else if self.gateways.contains(&value) {
            Placement::Withheld(Withheld::Gateway)
        } else if self.reserved.contains(&value) {
            Placement::Withheld(Withheld::Reserved)
        } else {
            Placement::Withheld(Withheld::Excluded)
        }
    }

    /// The allocatable addresses as ascending, disjoint, non-adjacent ranges.
    pub fn allocatable_ranges(&self) -> impl Iterator<Item = AddressRange> + '_ {
        let family = self.family;
        self.allocatable
            .runs()
            .map(move |(first, last)| AddressRange::from_numbers(family, first, last))
    }

    /// What `address` is handed out with: the attributes of the first entry
    /// that names it, else the pool's own.
    pub fn attributes(&self, address: IpAddr) -> &Attributes {
        let value = number(address);
        self.segments
            .iter()
            .find(|segment| {
                Family::of(address) == self.family
                    && (segment.first..=segment.last).contains(&value)
            })
            .map_or(&self.defaults, |segment| &segment.attributes)
    }

    /// Pre-allocations: claim name → the address kept for it.
    pub fn pre_allocations(&self) -> &BTreeMap<String, IpAddr> {
        &self.pre_allocations
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub(crate) fn allocatable(&self) -> &IntervalSet {
        &self.allocatable
    }
}

/// The allocatable ranges, the first few of them when there are many, for
/// messages.
impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 3;
        let count = self.allocatable.run_count();
        if count == 0 {
            return f.write_str("no allocatable address");
        }
        let shown: Vec<String> = self
            .allocatable_ranges()
            .take(SHOWN)
            .map(|r| r.to_string())
            .collect();
        f.write_str(&shown.join(", "))?;
        if count > SHOWN {
            write!(f, " and {} more ranges", count - SHOWN)?;
        }
        Ok(())
    }
}
