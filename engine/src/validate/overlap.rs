//! Rules that compare a pool with what lies outside its own spec: another
//! pool's addresses, and the addresses already handed out.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::address::{AddressRange, Family, number};
use crate::free_space::IntervalSet;
use crate::parse::parse_address;
use crate::pool::Pool;
use crate::prefix::PrefixPool;

/// Addresses two pools could both hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The shared addresses, ascending.
    pub ranges: Vec<AddressRange>,
    /// How many addresses they hold.
    pub addresses: u128,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 3;
        let shown: Vec<String> = self
            .ranges
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect();
        write!(
            f,
            "both pools may hand out {} addresses: {}",
            self.addresses,
            shown.join(", ")
        )?;
        if self.ranges.len() > SHOWN {
            write!(f, " and {} more ranges", self.ranges.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// The addresses both pools may hand out, if any: two such pools would hand
/// the same address to two claims. Neither upstream checks this. Costs
/// O(n + m) in the pools' numbers of ranges.
pub fn overlap(a: &Pool, b: &Pool) -> Option<Overlap> {
    shared(a.family(), a.allocatable(), b.family(), b.allocatable())
}

/// The addresses two prefix pools' blocks share, if any: two such pools could hand out
/// overlapping sub-prefixes, whatever their block lengths. Costs O(n + m) in their runs.
pub fn prefix_overlap(a: &PrefixPool, b: &PrefixPool) -> Option<Overlap> {
    shared(a.family(), a.allocatable(), b.family(), b.allocatable())
}

fn shared(family: Family, a: &IntervalSet, other: Family, b: &IntervalSet) -> Option<Overlap> {
    if family != other {
        return None;
    }
    let shared = a.intersection(b);
    if shared.is_empty() {
        return None;
    }
    Some(Overlap {
        ranges: shared
            .runs()
            .map(|(first, last)| AddressRange::from_numbers(family, first, last))
            .collect(),
        addresses: shared.size(),
    })
}

/// In-use addresses a (new) pool would no longer hand out, merged into
/// ranges; the in-cluster webhook's refusal of an update, with its exact
/// message (a `BadRequest`, 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("pool addresses do not contain allocated addresses: [{}]", join(.ranges))]
pub struct StrandedAddresses {
    /// The stranded addresses, IPv4 before IPv6, ascending.
    pub ranges: Vec<AddressRange>,
}

fn join(ranges: &[AddressRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that `pool` still hands out every address in `in_use`; addresses
/// that became excluded, reserved or the gateway count as stranded.
/// Unparsable texts are skipped, as upstream skips them.
///
/// # Errors
/// [`StrandedAddresses`] listing the addresses the pool no longer covers.
pub fn stranded_addresses<A: AsRef<str>>(
    pool: &Pool,
    in_use: impl IntoIterator<Item = A>,
) -> Result<(), StrandedAddresses> {
    let mut stranded = [IntervalSet::new(), IntervalSet::new()];
    for text in in_use {
        let Ok(address) = parse_address(text.as_ref()) else {
            continue;
        };
        if !pool.contains(address) {
            let value = number(address);
            stranded[usize::from(matches!(address, IpAddr::V6(_)))].insert(value, value);
        }
    }
    let ranges: Vec<AddressRange> = [Family::V4, Family::V6]
        .into_iter()
        .zip(&stranded)
        .flat_map(|(family, set)| {
            set.runs()
                .map(move |(first, last)| AddressRange::from_numbers(family, first, last))
        })
        .collect();
    if ranges.is_empty() {
        Ok(())
    } else {
        Err(StrandedAddresses { ranges })
    }
}
