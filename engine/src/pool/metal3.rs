//! Metal3 pools (`IPPool`, ipam.metal3.io/v1alpha1): ordered entries of
//! start, end and subnet, each able to override prefix, gateway and DNS
//! servers, consumed one after the other, sequentially or from a random
//! starting point.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::address::{Family, number};
use crate::field::{BadValue, FieldError, SizeUnknown, SpecError, Violation};
use crate::free_space::IntervalSet;
use crate::parse::parse_address;
use crate::pool::{Attributes, Parts, Pool, Segment, Style};
use crate::syntax::Cidr;

/// How a Metal3 pool picks among an entry's free addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AllocationStrategy {
    /// The entry's first free address (upstream default, also what an empty
    /// `allocationStrategy` means).
    #[default]
    Sequential,
    /// The first free address at or after a random point of the entry,
    /// wrapping around to its start.
    Random,
}

impl std::fmt::Display for AllocationStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AllocationStrategy::Sequential => "sequential",
            AllocationStrategy::Random => "random",
        })
    }
}

/// One entry of `spec.pools`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metal3Entry {
    /// `start`: the first candidate address.
    pub start: Option<String>,
    /// `end`: the last candidate address, inclusive.
    pub end: Option<String>,
    /// `subnet`: bounds the entry; alone, candidates start one above the
    /// address as written (`10.0.0.10/24` starts at `.11`).
    pub subnet: Option<String>,
    /// `prefix`; 0 means the pool's.
    pub prefix: i64,
    /// `gateway`; `None` means the pool's.
    pub gateway: Option<String>,
    /// `dnsServers`; empty means the pool's.
    pub dns_servers: Vec<String>,
}

/// The fields of a Metal3 `IPPool` spec the engine uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metal3Spec {
    /// `spec.namePrefix`; only the update rules look at it.
    pub name_prefix: String,
    /// `spec.pools`, in order.
    pub pools: Vec<Metal3Entry>,
    /// `spec.prefix`, the default for entries.
    pub prefix: i64,
    /// `spec.gateway`, the default for entries.
    pub gateway: Option<String>,
    /// `spec.dnsServers`, the default for entries.
    pub dns_servers: Vec<String>,
    /// `spec.preAllocations`: claim name → address kept for that claim.
    pub pre_allocations: BTreeMap<String, String>,
    /// `spec.allocationStrategy`.
    pub allocation_strategy: AllocationStrategy,
}

/// One entry after parsing. Fields that failed to parse are `None` and mark
/// the entry `broken`; a pool is only built from specs without broken
/// entries, while the webhook's bounds check skips them as Metal3 does.
#[derive(Debug, Clone)]
pub(crate) struct CheckedEntry {
    pub(crate) start: Option<IpAddr>,
    pub(crate) end: Option<IpAddr>,
    pub(crate) subnet: Option<Cidr>,
    pub(crate) broken: bool,
    pub(crate) gateway: Option<IpAddr>,
    prefix: i64,
    dns_servers: Vec<IpAddr>,
}

impl CheckedEntry {
    pub(crate) fn has_bounds(&self) -> bool {
        self.start.is_some() || self.end.is_some() || self.subnet.is_some()
    }
}

/// A spec after parsing, with every broken rule of Metal3's range checks
/// plus the family and prefix rules added here.
pub(crate) struct Checked {
    pub(crate) family: Family,
    pub(crate) entries: Vec<CheckedEntry>,
    pub(crate) pre_allocations: BTreeMap<String, IpAddr>,
    pub(crate) errors: Vec<FieldError>,
    pub(crate) gateway: Option<IpAddr>,
    dns_servers: Vec<IpAddr>,
}

/// Collects errors and the pool's family, which the first address seen
/// (in entry order) sets.
struct Checker {
    errors: Vec<FieldError>,
    seen: Vec<(String, String, IpAddr)>,
}

impl Checker {
    fn address(&mut self, field: String, text: &str) -> Option<IpAddr> {
        match parse_address(text) {
            Ok(address) => {
                self.seen.push((field, text.to_owned(), address));
                Some(address)
            }
            Err(error) => {
                self.errors.push(FieldError::new(
                    field,
                    BadValue::Text(text.to_owned()),
                    Violation::NotAnAddress(error),
                ));
                None
            }
        }
    }

    fn addresses(&mut self, field: &str, texts: &[String]) -> Vec<IpAddr> {
        texts
            .iter()
            .enumerate()
            .filter_map(|(i, text)| self.address(format!("{field}[{i}]"), text))
            .collect()
    }
}

impl Metal3Spec {
    /// Metal3's `validatePoolRanges`, in its order (pre-allocations in claim
    /// name order, where Go's map order is random), then the rules added
    /// here: one family per pool and prefixes that fit it.
    pub(crate) fn check(&self) -> Checked {
        let mut checker = Checker {
            errors: Vec::new(),
            seen: Vec::new(),
        };
        let gateway = self
            .gateway
            .as_deref()
            .and_then(|text| checker.address("spec.gateway".into(), text));
        let dns_servers = checker.addresses("spec.dnsServers", &self.dns_servers);

        let mut pre_allocations = BTreeMap::new();
        let mut claim_of: BTreeMap<IpAddr, &str> = BTreeMap::new();
        for (claim, text) in &self.pre_allocations {
            let field = format!("spec.preAllocations.{claim}");
            let Some(address) = checker.address(field.clone(), text) else {
                continue;
            };
            if let Some(other) = claim_of.get(&address) {
                checker.errors.push(FieldError::new(
                    field,
                    BadValue::Text(text.clone()),
                    Violation::AlreadyPreAllocated((*other).to_owned()),
                ));
            } else {
                claim_of.insert(address, claim);
            }
            pre_allocations.insert(claim.clone(), address);
        }

        let mut entries = Vec::with_capacity(self.pools.len());
        for (i, entry) in self.pools.iter().enumerate() {
            entries.push(self.check_entry(i, entry, &mut checker));
        }

        // The first address in entry order sets the family; without entries,
        // the first address anywhere does.
        let mut seen = checker.seen;
        let in_entries = |field: &str| field.starts_with("spec.pools[");
        seen.sort_by_key(|(field, _, _)| !in_entries(field));
        let family = seen
            .first()
            .map_or(Family::V4, |(_, _, address)| Family::of(*address));
        for (field, text, address) in &seen {
            if Family::of(*address) != family {
                checker.errors.push(FieldError::new(
                    field.clone(),
                    BadValue::Text(text.clone()),
                    Violation::FamilyMismatch {
                        expected: family,
                        found: Family::of(*address),
                    },
                ));
            }
        }
        let prefix_fields = std::iter::once(("spec.prefix".to_owned(), self.prefix)).chain(
            self.pools
                .iter()
                .enumerate()
                .map(|(i, entry)| (format!("spec.pools[{i}].prefix"), entry.prefix)),
        );
        for (field, prefix) in prefix_fields {
            if !(0..=i64::from(family.bits())).contains(&prefix) {
                checker.errors.push(FieldError::new(
                    field,
                    BadValue::Number(prefix),
                    Violation::PrefixOutOfRange { family },
                ));
            }
        }

        Checked {
            family,
            entries,
            pre_allocations,
            errors: checker.errors,
            gateway,
            dns_servers,
        }
    }

    fn check_entry(&self, i: usize, entry: &Metal3Entry, checker: &mut Checker) -> CheckedEntry {
        let path = format!("spec.pools[{i}]");
        let errors_before = checker.errors.len();
        let entry_error =
            |violation| FieldError::new(path.clone(), BadValue::Text(String::new()), violation);

        if entry.start.is_none() && entry.end.is_none() && entry.subnet.is_none() {
            checker
                .errors
                .push(entry_error(Violation::EntryWithoutBounds));
        }
        let start = entry
            .start
            .as_deref()
            .map(|text| parse_address(text).map_err(|_| Violation::InvalidStart(text.to_owned())));
        let end = entry
            .end
            .as_deref()
            .map(|text| parse_address(text).map_err(|_| Violation::InvalidEnd(text.to_owned())));
        let subnet = entry.subnet.as_deref().map(|text| {
            Cidr::parse_lenient(text).map_err(|_| Violation::InvalidSubnet(text.to_owned()))
        });
        // Metal3 reports only the first bad bound of an entry.
        let first_bad = [
            start.as_ref().and_then(|r| r.as_ref().err()),
            end.as_ref().and_then(|r| r.as_ref().err()),
            subnet.as_ref().and_then(|r| r.as_ref().err()),
        ]
        .into_iter()
        .flatten()
        .next()
        .cloned();
        let broken = first_bad.is_some();
        if let Some(violation) = first_bad {
            checker.errors.push(entry_error(violation));
        }
        let start = start.and_then(Result::ok);
        let end = end.and_then(Result::ok);
        let subnet = subnet.and_then(Result::ok);
        let written = [
            ("start", &entry.start, start),
            ("end", &entry.end, end),
            ("subnet", &entry.subnet, subnet.map(|cidr| cidr.address())),
        ];
        for (field, text, address) in written {
            if let (Some(text), Some(address)) = (text, address) {
                checker
                    .seen
                    .push((format!("{path}.{field}"), text.clone(), address));
            }
        }
        if let (Some(start), Some(end)) = (start, end)
            && number(start) > number(end)
            && Family::of(start) == Family::of(end)
        {
            checker
                .errors
                .push(entry_error(Violation::EndBeforeStart { start, end }));
        }

        let gateway = entry
            .gateway
            .as_deref()
            .and_then(|text| checker.address(format!("{path}.gateway"), text));
        let dns_servers = checker.addresses(&format!("{path}.dnsServers"), &entry.dns_servers);

        if self.allocation_strategy == AllocationStrategy::Random
            && checker.errors.len() == errors_before
            && let Some(reason) = size_unknown(start, end, subnet)
        {
            checker
                .errors
                .push(entry_error(Violation::RandomNeedsSize(reason)));
        }

        CheckedEntry {
            start,
            end,
            subnet,
            broken,
            prefix: entry.prefix,
            gateway,
            dns_servers,
        }
    }
}

/// Why Metal3 could not size an entry for random allocation, if it could
/// not. Metal3 also refuses entries of more than 2^63 addresses; sizes here
/// are exact in `u128`, so large IPv6 entries work with `random` too.
fn size_unknown(
    start: Option<IpAddr>,
    end: Option<IpAddr>,
    subnet: Option<Cidr>,
) -> Option<SizeUnknown> {
    match (start, end, subnet) {
        (None, _, None) => Some(SizeUnknown::NoStartOrSubnet),
        (Some(_), None, None) => Some(SizeUnknown::StartWithoutEnd),
        (Some(start), None, Some(subnet)) if number(start) > number(subnet.range().last()) => {
            Some(SizeUnknown::StartPastSubnet {
                start,
                last: subnet.range().last(),
            })
        }
        _ => None,
    }
}

/// Whether a broken rule leaves the engine unable to tell what the pool
/// means. The other Metal3 rules describe pools the upstream controller
/// still serves (an empty entry, a reversed range), so the engine serves
/// them the same way and leaves refusing them to the webhook.
fn blocks_building(violation: &Violation) -> bool {
    matches!(
        violation,
        Violation::NotAnAddress(_)
            | Violation::InvalidStart(_)
            | Violation::InvalidEnd(_)
            | Violation::InvalidSubnet(_)
            | Violation::FamilyMismatch { .. }
            | Violation::PrefixOutOfRange { .. }
    )
}

impl CheckedEntry {
    /// The entry's candidate addresses as Metal3 generates them: from
    /// `start`, or from one above the subnet address as written, up to
    /// `end`, the subnet's last address, or the family's last address,
    /// whichever comes first. Metal3 ignores `end` when only a subnet starts
    /// the entry; here `end` always bounds it.
    fn candidates(&self, family: Family) -> Option<(u128, u128)> {
        let subnet = self.subnet.map(|subnet| subnet.range().numbers());
        let mut last = self.end.map_or(family.max(), number);
        let first = match (self.start, self.subnet) {
            (Some(start), _) => {
                let start = number(start);
                if subnet.is_some_and(|(low, high)| !(low..=high).contains(&start)) {
                    return None;
                }
                start
            }
            (None, Some(cidr)) => number(cidr.address()).checked_add(1)?,
            (None, None) => return None,
        };
        if let Some((_, high)) = subnet {
            last = last.min(high);
        }
        (first <= last).then_some((first, last))
    }

    /// The subnet addresses nobody should be handed: IPv4 network and
    /// broadcast, IPv6 subnet-router anycast. Subnets of one or two
    /// addresses (/31, /32, /127, /128) have none.
    fn reserved(&self, family: Family) -> Vec<u128> {
        let Some(subnet) = self.subnet else {
            return Vec::new();
        };
        if subnet.prefix_len() + 1 >= family.bits() {
            return Vec::new();
        }
        let (network, broadcast) = subnet.range().numbers();
        match family {
            Family::V4 => vec![network, broadcast],
            Family::V6 => vec![network],
        }
    }
}

impl Pool {
    /// Builds a Metal3 pool. Entries are used in order; within an entry,
    /// addresses go sequentially or from a random point, as the spec says.
    /// Unlike Metal3, the pool never hands out a gateway (the pool's or an
    /// entry's), nor the network and broadcast (IPv4) or anycast (IPv6)
    /// address of an entry's subnet.
    ///
    /// # Errors
    /// [`SpecError`] when an address, bound or subnet does not parse, IPv4
    /// and IPv6 mix, or a prefix does not fit the family. Rules that leave
    /// the pool meaningful (an entry without bounds, an end before its
    /// start, a random pool that Metal3 cannot size) do not stop the build;
    /// [`validate_metal3_create`](crate::validate_metal3_create) reports them.
    pub fn metal3(spec: &Metal3Spec) -> Result<Pool, SpecError> {
        let checked = spec.check();
        let fatal: Vec<FieldError> = checked
            .errors
            .iter()
            .filter(|error| blocks_building(&error.violation))
            .cloned()
            .collect();
        if !fatal.is_empty() {
            return Err(SpecError(fatal));
        }
        let family = checked.family;
        let prefix_of = |prefix: i64| u8::try_from(prefix).expect("prefixes were checked");
        let defaults = Attributes {
            prefix: prefix_of(spec.prefix),
            gateway: checked.gateway,
            dns_servers: checked.dns_servers.clone(),
        };

        let mut segments = Vec::new();
        let mut bounds = IntervalSet::new();
        let mut reserved = Vec::new();
        let mut gateways: Vec<u128> = checked.gateway.map(number).into_iter().collect();
        for entry in &checked.entries {
            gateways.extend(entry.gateway.map(number));
            reserved.extend(entry.reserved(family));
            let Some((first, last)) = entry.candidates(family) else {
                continue;
            };
            bounds.insert(first, last);
            segments.push(Segment {
                first,
                last,
                attributes: Attributes {
                    prefix: if entry.prefix != 0 {
                        prefix_of(entry.prefix)
                    } else {
                        defaults.prefix
                    },
                    gateway: entry.gateway.or(defaults.gateway),
                    dns_servers: if entry.dns_servers.is_empty() {
                        defaults.dns_servers.clone()
                    } else {
                        entry.dns_servers.clone()
                    },
                },
            });
        }

        Ok(Pool::assemble(Parts {
            style: Style::Metal3,
            strategy: spec.allocation_strategy,
            family,
            segments,
            defaults,
            bounds,
            gateways,
            reserved,
            excluded: IntervalSet::new(),
            pre_allocations: checked.pre_allocations,
        }))
    }
}
