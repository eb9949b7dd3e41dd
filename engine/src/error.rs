//! Every way a piece of text or a request can be refused. Each message names
//! the input it refuses and the rule it broke; where an upstream provider has
//! wording for the same refusal, the message starts with those exact words.

use std::net::IpAddr;

use thiserror::Error;

use crate::address::Family;
use crate::pool::Style;
use crate::quote::go_quote;

fn at_suffix(at: &Option<String>) -> String {
    at.as_deref()
        .map(|at| format!(" (at {})", go_quote(at)))
        .unwrap_or_default()
}

/// Text that is not one IP address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Go's `netip.ParseAddr` refuses the text; the message is Go's, to the
    /// letter, including the part of the input where parsing stopped.
    #[error("ParseAddr({}): {reason}{}", go_quote(.input), at_suffix(.at))]
    Malformed {
        /// The whole text given.
        input: String,
        /// Go's explanation.
        reason: &'static str,
        /// The unparsed rest where the failure was noticed, when Go names it.
        at: Option<String>,
    },
    /// An IPv6 address with a zone; a zone only means something to the host
    /// that wrote it, never in a pool.
    #[error("ParseAddr({}): IPv6 zone {} is not allowed in an address pool", go_quote(.input), go_quote(.zone))]
    Zone {
        /// The whole text given.
        input: String,
        /// The zone after `%`.
        zone: String,
    },
}

/// Text that is not a CIDR (`address/length`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CidrError {
    /// No `/` separates address and length.
    #[error("netip.ParsePrefix({}): no '/'", go_quote(.input))]
    NoSlash {
        /// The whole text given.
        input: String,
    },
    /// The part before `/` is not an address.
    #[error("netip.ParsePrefix({}): {source}", go_quote(.input))]
    Address {
        /// The whole text given.
        input: String,
        /// Why the address part was refused.
        source: AddressError,
    },
    /// The part after `/` is not a decimal length (Go's strict parser also
    /// refuses signs and leading zeros).
    #[error("netip.ParsePrefix({}): bad bits after slash: {}", go_quote(.input), go_quote(.bits))]
    BadBits {
        /// The whole text given.
        input: String,
        /// The text after the slash.
        bits: String,
    },
    /// The length is longer than the address.
    #[error("netip.ParsePrefix({}): prefix length out of range (an {family} prefix is 0 to {} bits)", go_quote(.input), .family.bits())]
    LengthOutOfRange {
        /// The whole text given.
        input: String,
        /// The family of the address part.
        family: Family,
    },
}

/// An in-cluster address entry (`IP`, `CIDR` or `first-last`) that does not
/// parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryError {
    /// Neither a range nor a CIDR, and not an address either.
    #[error("{} is not a valid IP, range, nor CIDR: {source}", go_quote(.input))]
    Address {
        /// The entry.
        input: String,
        /// Why the address was refused.
        source: AddressError,
    },
    /// Contains `/` but is not a CIDR.
    #[error("{} is not a valid IP, range, nor CIDR: {source}", go_quote(.input))]
    Cidr {
        /// The entry.
        input: String,
        /// Why the CIDR was refused.
        source: CidrError,
    },
    /// Contains `-` and the part before the first `-` is not an address.
    #[error("invalid From IP {} in range {}: {source}", go_quote(.first), go_quote(.input))]
    RangeFirst {
        /// The entry.
        input: String,
        /// The text before the first `-`.
        first: String,
        /// Why it was refused.
        source: AddressError,
    },
    /// Contains `-` and the part after the first `-` is not an address.
    #[error("invalid To IP {} in range {}: {source}", go_quote(.last), go_quote(.input))]
    RangeLast {
        /// The entry.
        input: String,
        /// The text after the first `-`.
        last: String,
        /// Why it was refused.
        source: AddressError,
    },
    /// A range whose ends are of different families.
    #[error("range {first} to {last} not valid: its ends are of different IP families (entry {})", go_quote(.input))]
    RangeMixedFamilies {
        /// The entry.
        input: String,
        /// Its first address.
        first: IpAddr,
        /// Its last address.
        last: IpAddr,
    },
    /// A range that runs downwards.
    #[error("range {first} to {last} not valid: the first address is above the last (entry {})", go_quote(.input))]
    RangeDescending {
        /// The entry.
        input: String,
        /// Its first address.
        first: IpAddr,
        /// Its last address.
        last: IpAddr,
    },
}

/// Why an address that lies within a pool's entries is still never handed
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// It is a gateway of the pool.
    Gateway,
    /// It is the network or broadcast address of the pool's subnet (IPv4),
    /// or the subnet-router anycast address (IPv6).
    Reserved,
    /// An exclusion of the pool covers it.
    Excluded,
}

impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Withheld::Gateway => "it is the pool's gateway",
            Withheld::Reserved => "it is a reserved address of the pool's subnet",
            Withheld::Excluded => "it is excluded from the pool",
        })
    }
}

/// A claim that cannot get an address. Messages start with Metal3's or the
/// in-cluster provider's words for the same situation, so a face can show
/// them as they are; [`AllocateError::upstream_message`] gives those words
/// alone.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllocateError {
    /// Every allocatable address is in use or held for a pre-allocated claim.
    #[error("{}: {}", .style.exhausted(), exhausted_detail(*.used, *.total, *.held, .ranges))]
    Exhausted {
        /// Which upstream's wording to use.
        style: Style,
        /// In-range addresses in use.
        used: u128,
        /// Allocatable addresses of the pool.
        total: u128,
        /// Free addresses kept for pre-allocated claims that have not taken
        /// them yet.
        held: u128,
        /// The pool's allocatable ranges, abbreviated.
        ranges: String,
    },
    /// The requested address is not an IP address.
    #[error("Invalid ipAddress annotation {}: not a valid IP address ({source})", go_quote(.requested))]
    InvalidRequest {
        /// The requested text.
        requested: String,
        /// Why it does not parse.
        source: AddressError,
    },
    /// The claim has a pre-allocation and asks for another address.
    #[error("PreAllocation and requested ip address are conflicting: claim {} is pre-allocated {preallocated} but requests {requested}", go_quote(.claim))]
    PreAllocationConflict {
        /// The claim.
        claim: String,
        /// Its pre-allocated address.
        preallocated: IpAddr,
        /// The address it requests.
        requested: IpAddr,
    },
    /// The claim's pre-allocated address lies in none of the pool's entries.
    #[error("Pre-allocated IP out of bounds: {address}, pre-allocated to claim {}, lies in no entry of the pool", go_quote(.claim))]
    PreAllocationOutOfBounds {
        /// The claim.
        claim: String,
        /// Its pre-allocated address.
        address: IpAddr,
    },
    /// The requested address lies in none of the pool's entries. Metal3 calls
    /// this `Exhausted IP Pools`, which sends people looking for a full pool;
    /// it is told apart here.
    #[error("Requested IP out of bounds: {address} lies in no entry of the pool")]
    RequestOutOfBounds {
        /// The requested address.
        address: IpAddr,
    },
    /// The requested (or pre-allocated) address is in the pool's entries
    /// but is never handed out.
    #[error("Requested IP not available: {address} is never handed out because {reason}")]
    Withheld {
        /// The address.
        address: IpAddr,
        /// Why.
        reason: Withheld,
    },
    /// The requested (or pre-allocated) address is in use by another claim,
    /// or kept for another claim's pre-allocation.
    #[error("Requested IP not available: {address} is {} claim {}", if *.held { "pre-allocated to" } else { "in use by" }, go_quote(.owner))]
    Taken {
        /// The address.
        address: IpAddr,
        /// The claim that has it.
        owner: String,
        /// True when `owner` only holds it through a pre-allocation.
        held: bool,
    },
}

fn exhausted_detail(used: u128, total: u128, held: u128, ranges: &str) -> String {
    if total == 0 {
        return "the pool has no allocatable address".to_owned();
    }
    let mut detail = format!("{used} of {total} allocatable addresses in {ranges} are in use");
    if held > 0 {
        detail.push_str(&format!(", {held} more are held for pre-allocated claims"));
    }
    detail
}

impl AllocateError {
    /// The upstream provider's exact words for this refusal, for a face that
    /// must write them unchanged (Metal3's `status.errorMessage`).
    pub fn upstream_message(&self) -> String {
        let words = match self {
            AllocateError::Exhausted { style, .. } => style.exhausted(),
            AllocateError::InvalidRequest { requested, .. } => {
                return format!(
                    "Invalid ipAddress annotation {}: not a valid IP address",
                    go_quote(requested)
                );
            }
            AllocateError::PreAllocationConflict { .. } => {
                "PreAllocation and requested ip address are conflicting"
            }
            AllocateError::PreAllocationOutOfBounds { .. } => "Pre-allocated IP out of bounds",
            AllocateError::RequestOutOfBounds { .. } => "Exhausted IP Pools",
            AllocateError::Withheld { .. } | AllocateError::Taken { .. } => {
                "Requested IP not available"
            }
        };
        words.to_owned()
    }

    /// Whether the pool simply has no room (CAPI reason `PoolExhausted`)
    /// rather than the request being wrong (`AllocationFailed`).
    pub fn is_exhausted(&self) -> bool {
        matches!(self, AllocateError::Exhausted { .. })
    }
}

/// An existing allocation that could not be recorded as given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordIssue {
    /// The address text does not parse. The allocation still counts as used
    /// and out of range, as the object holding it still exists.
    #[error("claim {} holds {}, which is not an IP address: {source}", go_quote(.owner), go_quote(.address))]
    Unparsable {
        /// The claim.
        owner: String,
        /// The text it holds.
        address: String,
        /// Why it does not parse.
        source: AddressError,
    },
    /// Two claims hold the same address: a duplicate that must be resolved by
    /// hand or by deleting one of them. The first recorded owner keeps it.
    #[error("address {address} is held by claim {} and also by claim {}", go_quote(.owner), go_quote(.other))]
    Duplicate {
        /// The address.
        address: IpAddr,
        /// The claim recorded first.
        owner: String,
        /// The claim seen second.
        other: String,
    },
    /// One claim holds two addresses. Both stay in use; the claim is answered
    /// with the first one.
    #[error("claim {} holds {first} and also {second}", go_quote(.owner))]
    SecondAddress {
        /// The claim.
        owner: String,
        /// The address recorded first.
        first: IpAddr,
        /// The further address.
        second: IpAddr,
    },
}
