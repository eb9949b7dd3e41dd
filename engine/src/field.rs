//! Rule violations in the shape Kubernetes reports them: a field path, the
//! offending value and a message. The messages are the upstream webhooks'
//! exact words, so an admission response reads as it did upstream.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::address::Family;
use crate::error::{AddressError, EntryError};
use crate::quote::go_quote;
use crate::validate::Overlap;

/// The value a [`FieldError`] reports, printed as the Go API machinery prints
/// it (`"text"`, `24`, `[]string{"a", "b"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// A string value.
    Text(String),
    /// An integer value.
    Number(i64),
    /// A list of strings.
    List(Vec<String>),
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Text(text) => f.write_str(&go_quote(text)),
            BadValue::Number(number) => write!(f, "{number}"),
            BadValue::List(items) => {
                let quoted: Vec<String> = items.iter().map(|item| go_quote(item)).collect();
                write!(f, "[]string{{{}}}", quoted.join(", "))
            }
        }
    }
}

/// One broken rule, at one field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: Invalid value: {value}: {violation}")]
pub struct FieldError {
    /// The field path, e.g. `spec.addresses` or `spec.pools[1].gateway`.
    pub field: String,
    /// The offending value.
    pub value: BadValue,
    /// The rule it breaks; its `Display` is the message alone.
    pub violation: Violation,
}

impl FieldError {
    pub(crate) fn new(
        field: impl Into<String>,
        value: BadValue,
        violation: Violation,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            value,
            violation,
        }
    }
}

/// The rules pool specs are held to. Where an upstream webhook has the rule,
/// the message is its exact text; the rules this engine adds say so.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    /// in-cluster: `spec.addresses` is empty.
    #[error("addresses is required")]
    AddressesRequired,
    /// in-cluster: `spec.prefix` is negative.
    #[error("a valid prefix is required")]
    PrefixRequired,
    /// in-cluster: an entry of `addresses` or `excludedAddresses` does not
    /// parse; the source says why.
    #[error("provided address is not a valid IP, range, nor CIDR")]
    NotAnEntry(#[source] EntryError),
    /// in-cluster: IPv4 and IPv6 entries in one list.
    #[error("provided addresses are of mixed IP families")]
    MixedFamilies,
    /// in-cluster: the gateway does not parse; the message is Go's parser
    /// error, as the upstream webhook prints it.
    #[error("{0}")]
    GatewayUnparsable(AddressError),
    /// in-cluster: the gateway's family differs from the addresses'.
    #[error("provided gateway and addresses are of mixed IP families")]
    GatewayFamily,
    /// in-cluster: the exclusions' family differs from the addresses'.
    #[error("addresses and excluded addresses are of mixed IP families")]
    ExcludedFamily,
    /// in-cluster: negative `addressReuseGracePeriodSeconds`.
    #[error("addressReuseGracePeriodSeconds must not be negative")]
    NegativeGracePeriod,
    /// in-cluster: `spec.prefix` is longer than the family's addresses.
    #[error("provided prefix is not valid")]
    PrefixNotValid,
    /// in-cluster: an entry reaches outside `lowest address / prefix`.
    #[error("provided address belongs to a different subnet than others")]
    DifferentSubnet,

    /// in-cluster prefix pools: `spec.prefixes` is empty.
    #[error("prefixes is required")]
    PrefixesRequired,
    /// in-cluster prefix pools: the block length is outside 1..=128.
    #[error("allocationPrefixLength must be between 1 and 128")]
    AllocationLengthRange,
    /// in-cluster prefix pools: a prefix does not parse (upstream's words, which name IPv6
    /// although IPv4 prefixes are taken here); the source says why.
    #[error("provided entry is not a valid IPv6 CIDR")]
    NotAPrefix(#[source] crate::error::CidrError),
    /// in-cluster prefix pools: a prefix has host bits set.
    #[error("CIDR must be network-aligned")]
    NotNetworkAligned,
    /// in-cluster prefix pools: a prefix is longer than the blocks cut from it.
    #[error("CIDR prefix length must be <= allocationPrefixLength ({0})")]
    PrefixLongerThanAllocation(i64),
    /// in-cluster prefix pools: the gateway is of the other family. Upstream's words for an
    /// IPv6 pool (the only kind it has); the IPv4 form is added here.
    #[error("provided gateway must be {0}")]
    GatewayMustBe(Family),
    /// in-cluster prefix pools: an exclusion does not parse; the source says why.
    #[error("provided entry is not a valid IP, range, nor CIDR")]
    NotAnExcludedEntry(#[source] EntryError),
    /// in-cluster prefix pools: an exclusion of the other family. Upstream's words for an
    /// IPv6 pool; the IPv4 form is added here.
    #[error("only {0} excluded prefixes are supported")]
    ExcludedMustBe(Family),
    /// Added here (upstream takes IPv6 only): an IPv4 pool's blocks are at most /32.
    #[error("allocationPrefixLength must be between 1 and 32 for IPv4 prefixes")]
    AllocationLengthRangeV4,
    /// Added here (upstream takes IPv6 only): one prefix pool holds one family.
    #[error("provided prefixes are of mixed IP families")]
    PrefixesMixedFamilies,

    /// Metal3: an address field does not parse.
    #[error("is not a valid IP address")]
    NotAnAddress(#[source] AddressError),
    /// Metal3: two pre-allocations name the same address.
    #[error("IP address is already pre-allocated to claim {}", go_quote(.0))]
    AlreadyPreAllocated(String),
    /// Metal3: an entry with none of start, end and subnet.
    #[error("pool entry must specify at least one of start, end, or subnet")]
    EntryWithoutBounds,
    /// Metal3: `start` does not parse.
    #[error("invalid Start IP {}", go_quote(.0))]
    InvalidStart(String),
    /// Metal3: `end` does not parse.
    #[error("invalid End IP {}", go_quote(.0))]
    InvalidEnd(String),
    /// Metal3: `subnet` does not parse (Go's `net.ParseCIDR` wording).
    #[error("invalid Subnet {quoted}: invalid CIDR address: {raw}", quoted = go_quote(.0), raw = .0)]
    InvalidSubnet(String),
    /// Metal3: `end` lies before `start`.
    #[error("end IP {end} is before start IP {start}")]
    EndBeforeStart {
        /// The entry's start.
        start: IpAddr,
        /// The entry's end.
        end: IpAddr,
    },
    /// Metal3: the random strategy needs an entry whose size is known.
    #[error("cannot be used with allocationStrategy \"random\": {0}")]
    RandomNeedsSize(SizeUnknown),
    /// Metal3, on create: a pre-allocation lies in no entry ("bonds" sic).
    #[error("is out of bonds of the pools given")]
    PreAllocationOutOfBondsOnCreate,
    /// Metal3, on update: a pre-allocation lies in no entry.
    #[error("is out of bounds of the pools given")]
    PreAllocationOutOfBounds,
    /// Metal3, on update: an address in use lies in no entry of the new spec.
    #[error("is in use but out of bounds of the pools given")]
    InUseOutOfBounds,
    /// Metal3, on update: `namePrefix` changed.
    #[error("cannot be modified")]
    Immutable,

    /// A required name or address is empty (Metal3's IPClaim and IPAddress webhooks).
    #[error("cannot be empty")]
    Empty,
    /// Metal3, on update: `allocationStrategy` changed.
    #[error("cannot be modified after creation")]
    ImmutableAfterCreation,

    /// Added here (Metal3 does not check it): entries, gateways, DNS servers
    /// and pre-allocations of one pool must share a family.
    #[error(
        "is an {found} address but the pool's first address is {expected}: IPv4 and IPv6 never mix in one pool"
    )]
    FamilyMismatch {
        /// The pool's family, set by its first address.
        expected: Family,
        /// This field's family.
        found: Family,
    },
    /// Added here (Metal3 checks only 0..128): a prefix length must fit the
    /// pool's family.
    #[error("is not a prefix length for {family} (0 to {} bits)", .family.bits())]
    PrefixOutOfRange {
        /// The pool's family.
        family: Family,
    },
    /// Added here (the in-cluster provider does not check it): the gateway lies
    /// outside a subnet wide enough to hold it, so the hosts given addresses
    /// could not reach it. Point-to-point and host subnets (/31, /32, /127,
    /// /128) are exempt: an on-link gateway outside them is a real design,
    /// warned about instead.
    #[error(
        "gateway {gateway} lies outside the pool's subnet {subnet}, so hosts on it could not reach it"
    )]
    GatewayOutsideSubnet {
        /// The gateway.
        gateway: IpAddr,
        /// The subnet, as `network/prefix`.
        subnet: String,
    },
    /// Added here (neither upstream checks it): another pool may hand out
    /// some of the same addresses, so two claims could get one address.
    #[error("overlaps {pool}: {overlap}")]
    Overlaps {
        /// The other pool, as its owner would name it.
        pool: String,
        /// The addresses both may hand out.
        overlap: Overlap,
    },
}

/// Why a Metal3 entry's size cannot be known, in Metal3's words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeUnknown {
    /// Only `end` is set.
    #[error("either Start or Subnet is required for ipAddress")]
    NoStartOrSubnet,
    /// Only `start` is set.
    #[error("pool with Start requires End or Subnet to determine size")]
    StartWithoutEnd,
    /// `start` lies beyond the subnet's last address.
    #[error("end IP {last} is before start IP {start}")]
    StartPastSubnet {
        /// The entry's start.
        start: IpAddr,
        /// The subnet's last address.
        last: IpAddr,
    },
}

/// Something legal but probably unintended; a webhook returns these as
/// admission warnings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Warning {
    /// The gateway lies outside the subnet its addresses are handed out
    /// with. Some networks route this way on purpose (a /32 with an on-link
    /// gateway), so it is not refused.
    #[error("{field}: gateway {gateway} lies outside the pool's subnet {subnet}")]
    GatewayOutsideSubnet {
        /// The gateway field.
        field: String,
        /// The gateway.
        gateway: IpAddr,
        /// The subnet, as `network/prefix`.
        subnet: String,
    },
    /// A Metal3 entry with only `end`, which never yields an address.
    #[error(
        "{field}: an entry with only an end address never yields an address; set start or subnet"
    )]
    EntryNeverYields {
        /// The entry's field path.
        field: String,
    },
    /// A prefix pool whose blocks are single addresses (upstream's words for IPv6).
    #[error(
        "spec.allocationPrefixLength={0} behaves like host-address allocation; consider InClusterIPPool for single-address semantics"
    )]
    HostLengthBlocks(u8),
    /// ... whose gateway lies in its prefixes, so a claim may get the gateway's block.
    #[error(
        "spec.gateway is within spec.prefixes and is not reserved; with /{0} allocationPrefixLength it may also be allocated to claims"
    )]
    GatewayMayBeAllocated(u8),
    /// A pre-allocation of an address the pool never hands out.
    #[error("{field}: {address} is never handed out because {reason}; the claim will be refused")]
    PreAllocationWithheld {
        /// The pre-allocation's field path.
        field: String,
        /// The address.
        address: IpAddr,
        /// Why it is withheld.
        reason: crate::error::Withheld,
    },
}

/// The outcome of running a webhook's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Broken rules; any makes the request invalid.
    pub errors: Vec<FieldError>,
    /// Things worth telling the author that do not block the request.
    pub warnings: Vec<Warning>,
}

impl Validation {
    /// True when no rule is broken.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A pool spec that cannot be turned into a pool; it lists every broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", join(.0))]
pub struct SpecError(pub Vec<FieldError>);

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The message the Kubernetes API machinery builds for an `Invalid` (422)
/// status: `<Kind>.<group> "<name>" is invalid: <errors>`, with the errors in
/// square brackets, comma separated and without repeats, when there is more
/// than one.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let mut messages: Vec<String> = Vec::with_capacity(errors.len());
    for error in errors {
        let message = error.to_string();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let body = match messages.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    format!("{qualified} {} is invalid: {body}", go_quote(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_print_like_the_api_machinery() {
        let error = FieldError::new(
            "spec.addresses",
            BadValue::Text("10.0.0.x".into()),
            Violation::MixedFamilies,
        );
        assert_eq!(
            error.to_string(),
            "spec.addresses: Invalid value: \"10.0.0.x\": provided addresses are of mixed IP families"
        );
        let list = BadValue::List(vec!["10.0.0.1".into(), "fd00::1".into()]);
        assert_eq!(list.to_string(), "[]string{\"10.0.0.1\", \"fd00::1\"}");
        assert_eq!(BadValue::Number(-1).to_string(), "-1");
    }

    #[test]
    fn invalid_message_brackets_only_several_errors() {
        let one = FieldError::new(
            "spec.addresses",
            BadValue::List(vec![]),
            Violation::AddressesRequired,
        );
        let two = FieldError::new(
            "spec.prefix",
            BadValue::Number(-1),
            Violation::PrefixRequired,
        );
        assert_eq!(
            invalid_message(
                "InClusterIPPool",
                "ipam.cluster.x-k8s.io",
                "pool",
                std::slice::from_ref(&one)
            ),
            "InClusterIPPool.ipam.cluster.x-k8s.io \"pool\" is invalid: spec.addresses: Invalid value: []string{}: addresses is required"
        );
        assert_eq!(
            invalid_message(
                "InClusterIPPool",
                "ipam.cluster.x-k8s.io",
                "pool",
                &[one.clone(), two, one]
            ),
            "InClusterIPPool.ipam.cluster.x-k8s.io \"pool\" is invalid: [spec.addresses: Invalid value: []string{}: addresses is required, spec.prefix: Invalid value: -1: a valid prefix is required]"
        );
    }
}
