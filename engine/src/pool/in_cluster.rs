//! In-cluster pools (`InClusterIPPool`, `GlobalInClusterIPPool` v1alpha2):
//! a list of IPs, CIDRs and ranges, exclusions in the same syntax, one prefix
//! and one gateway, and reserved addresses taken from one subnet.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::address::{AddressRange, Family, number, subnet_of};
use crate::field::{BadValue, FieldError, SpecError, Violation};
use crate::free_space::IntervalSet;
use crate::parse::parse_address;
use crate::pool::{Attributes, Parts, Pool, Segment, Style};
use crate::syntax::AddressEntry;

use super::metal3::AllocationStrategy;

/// The fields of an in-cluster pool spec, as strings and integers straight
/// from the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InClusterSpec {
    /// `spec.addresses`: IPs, CIDRs (host bits allowed) and `first-last`
    /// ranges, in any order.
    pub addresses: Vec<String>,
    /// `spec.prefix`: the prefix length handed out, which also picks the
    /// subnet whose reserved addresses are withheld.
    pub prefix: i64,
    /// `spec.gateway`; empty means none.
    pub gateway: Option<String>,
    /// `spec.excludedAddresses`, same syntax as `addresses`.
    pub excluded_addresses: Vec<String>,
    /// `spec.allocateReservedIPAddresses`: hand out the network and
    /// broadcast (IPv4) or anycast (IPv6) address too. The gateway stays
    /// withheld regardless.
    pub allocate_reserved_ip_addresses: bool,
    /// `spec.addressReuseGracePeriodSeconds`; only validated here.
    pub address_reuse_grace_period_seconds: Option<i64>,
}

/// A spec that passed the rules a pool cannot be built without.
pub(crate) struct Checked {
    pub(crate) family: Family,
    pub(crate) entries: Vec<(String, AddressRange)>,
    pub(crate) excluded: Vec<AddressRange>,
    pub(crate) gateway: Option<IpAddr>,
    pub(crate) prefix: u8,
    pub(crate) lowest: u128,
}

impl InClusterSpec {
    fn gateway_text(&self) -> Option<&str> {
        self.gateway.as_deref().filter(|g| !g.is_empty())
    }

    /// The upstream webhook's first stage, in its order, with every error
    /// collected; then the prefix check of its second stage. `Ok` only when a
    /// pool can be built.
    pub(crate) fn check(&self) -> Result<Checked, Vec<FieldError>> {
        let mut errors = Vec::new();
        let list = |items: &[String]| BadValue::List(items.to_vec());

        if self.addresses.is_empty() {
            errors.push(FieldError::new(
                "spec.addresses",
                list(&self.addresses),
                Violation::AddressesRequired,
            ));
        }
        if self.prefix < 0 {
            // Upstream reports the addresses as the bad value here; the prefix
            // is what is wrong, so it is what this reports.
            errors.push(FieldError::new(
                "spec.prefix",
                BadValue::Number(self.prefix),
                Violation::PrefixRequired,
            ));
        }

        let entries = parse_entries("spec.addresses", &self.addresses, &mut errors);
        let entry_families = families(&entries);
        if entry_families.len() > 1 {
            errors.push(FieldError::new(
                "spec.addresses",
                list(&self.addresses),
                Violation::MixedFamilies,
            ));
        }

        let mut gateway = None;
        if let Some(text) = self.gateway_text() {
            match parse_address(text) {
                Err(error) => errors.push(FieldError::new(
                    "spec.gateway",
                    BadValue::Text(text.to_owned()),
                    Violation::GatewayUnparsable(error),
                )),
                Ok(address) => {
                    if entry_families.iter().any(|&f| f != Family::of(address)) {
                        errors.push(FieldError::new(
                            "spec.gateway",
                            BadValue::Text(text.to_owned()),
                            Violation::GatewayFamily,
                        ));
                    }
                    gateway = Some(address);
                }
            }
        }

        let excluded = parse_entries(
            "spec.excludedAddresses",
            &self.excluded_addresses,
            &mut errors,
        );
        let excluded_families = families(&excluded);
        if excluded_families.len() > 1 {
            errors.push(FieldError::new(
                "spec.excludedAddresses",
                list(&self.excluded_addresses),
                Violation::MixedFamilies,
            ));
        }
        if excluded_families
            .iter()
            .any(|f| entry_families.iter().any(|g| g != f))
        {
            errors.push(FieldError::new(
                "spec.excludedAddresses",
                list(&self.excluded_addresses),
                Violation::ExcludedFamily,
            ));
        }

        if let Some(grace) = self.address_reuse_grace_period_seconds.filter(|&g| g < 0) {
            errors.push(FieldError::new(
                "spec.addressReuseGracePeriodSeconds",
                BadValue::Number(grace),
                Violation::NegativeGracePeriod,
            ));
        }

        if !errors.is_empty() {
            return Err(errors);
        }

        let family = entry_families[0];
        let lowest = entries
            .iter()
            .map(|(_, range)| range.numbers().0)
            .min()
            .expect("addresses is not empty once the checks passed");
        let prefix = match u8::try_from(self.prefix) {
            Ok(prefix) if prefix <= family.bits() => prefix,
            _ => {
                return Err(vec![FieldError::new(
                    "spec.prefix",
                    BadValue::Number(self.prefix),
                    Violation::PrefixNotValid,
                )]);
            }
        };
        Ok(Checked {
            family,
            excluded: excluded.into_iter().map(|(_, range)| range).collect(),
            entries,
            gateway,
            prefix,
            lowest,
        })
    }
}

fn parse_entries(
    field: &str,
    texts: &[String],
    errors: &mut Vec<FieldError>,
) -> Vec<(String, AddressRange)> {
    let mut entries = Vec::with_capacity(texts.len());
    for text in texts {
        match AddressEntry::parse(text) {
            Ok(entry) => entries.push((text.clone(), entry.range())),
            Err(error) => errors.push(FieldError::new(
                field,
                BadValue::Text(text.clone()),
                Violation::NotAnEntry(error),
            )),
        }
    }
    entries
}

/// The families present, IPv4 first.
fn families(entries: &[(String, AddressRange)]) -> Vec<Family> {
    let mut found: Vec<Family> = entries.iter().map(|(_, range)| range.family()).collect();
    found.sort();
    found.dedup();
    found
}

impl Pool {
    /// Builds an in-cluster pool. The allocatable set is the union of the
    /// entries, minus exclusions, minus (unless
    /// `allocate_reserved_ip_addresses`) the reserved addresses of the one
    /// subnet `lowest address / prefix` (IPv4: first and last, IPv6: first),
    /// minus the gateway. Allocation takes the lowest free address.
    ///
    /// Entries reaching outside that subnet are accepted, as the upstream
    /// controller accepts them; the webhook rules refuse them
    /// ([`validate_in_cluster`](crate::validate_in_cluster)).
    ///
    /// # Errors
    /// [`SpecError`] with every broken rule when an entry, the gateway or an
    /// exclusion does not parse, families mix, or the prefix does not fit
    /// the family.
    pub fn in_cluster(spec: &InClusterSpec) -> Result<Pool, SpecError> {
        let checked = spec.check().map_err(SpecError)?;
        let family = checked.family;

        let mut bounds = IntervalSet::new();
        for (_, range) in &checked.entries {
            let (first, last) = range.numbers();
            bounds.insert(first, last);
        }
        let mut excluded = IntervalSet::new();
        for range in &checked.excluded {
            let (first, last) = range.numbers();
            excluded.insert(first, last);
        }

        let mut reserved = Vec::new();
        if !spec.allocate_reserved_ip_addresses {
            let (network, last) = subnet_of(family, checked.lowest, checked.prefix);
            reserved.push(network);
            if family == Family::V4 {
                reserved.push(last);
            }
        }
        let gateways: Vec<u128> = checked.gateway.map(number).into_iter().collect();

        let attributes = Attributes {
            prefix: checked.prefix,
            gateway: checked.gateway,
            dns_servers: Vec::new(),
        };
        let segments = match (bounds.first(), bounds.last()) {
            (Some(first), Some(last)) => vec![Segment {
                first,
                last,
                attributes: attributes.clone(),
            }],
            _ => Vec::new(),
        };

        Ok(Pool::assemble(Parts {
            style: Style::InCluster,
            strategy: AllocationStrategy::Sequential,
            family,
            segments,
            defaults: attributes,
            bounds,
            gateways,
            reserved,
            excluded,
            pre_allocations: BTreeMap::new(),
        }))
    }
}
