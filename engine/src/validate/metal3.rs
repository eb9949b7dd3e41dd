//! The Metal3 `IPPool` webhook's create and update rules.

use std::net::IpAddr;

use crate::address::{Family, number, subnet_of};
use crate::field::{BadValue, FieldError, Validation, Violation, Warning};
use crate::parse::parse_address;
use crate::pool::metal3::Checked;
use crate::pool::{Metal3Spec, Placement, Pool};

/// Runs the Metal3 webhook's create rules: the range rules
/// (`validatePoolRanges`), then every pre-allocation must lie in some entry
/// (Metal3's message says "bonds"). Adds the rules that one pool holds one
/// family and that prefixes fit it, and warns about pre-allocations the
/// pool will refuse, entries that never yield, and gateways outside their
/// subnet.
pub fn validate_metal3_create(spec: &Metal3Spec) -> Validation {
    let checked = spec.check();
    let mut errors = checked.errors.clone();
    errors.extend(out_of_bounds_pre_allocations(
        spec,
        &checked,
        Violation::PreAllocationOutOfBondsOnCreate,
    ));
    Validation {
        errors,
        warnings: warnings(spec, &checked),
    }
}

/// Runs the Metal3 webhook's update rules: `namePrefix` and
/// `allocationStrategy` are immutable, the range rules hold for the new
/// spec, its pre-allocations lie in its entries, and every address in
/// `in_use` still lies in one. Metal3 takes `in_use` from the old pool's
/// status; pass the addresses of the live address objects instead, which a
/// stale status cannot hide.
pub fn validate_metal3_update<A: AsRef<str>>(
    old: &Metal3Spec,
    new: &Metal3Spec,
    in_use: impl IntoIterator<Item = A>,
) -> Validation {
    let mut errors = Vec::new();
    if new.name_prefix != old.name_prefix {
        errors.push(FieldError::new(
            "spec.namePrefix",
            BadValue::Text(new.name_prefix.clone()),
            Violation::Immutable,
        ));
    }
    if new.allocation_strategy != old.allocation_strategy {
        errors.push(FieldError::new(
            "spec.allocationStrategy",
            BadValue::Text(new.allocation_strategy.to_string()),
            Violation::ImmutableAfterCreation,
        ));
    }
    let checked = new.check();
    errors.extend(checked.errors.iter().cloned());
    errors.extend(out_of_bounds_pre_allocations(
        new,
        &checked,
        Violation::PreAllocationOutOfBounds,
    ));
    for text in in_use {
        let text = text.as_ref();
        if !in_bounds(&checked, text) {
            errors.push(FieldError::new(
                "spec.pools",
                BadValue::Text(text.to_owned()),
                Violation::InUseOutOfBounds,
            ));
        }
    }
    Validation {
        errors,
        warnings: warnings(new, &checked),
    }
}

fn out_of_bounds_pre_allocations(
    spec: &Metal3Spec,
    checked: &Checked,
    violation: Violation,
) -> Vec<FieldError> {
    spec.pre_allocations
        .values()
        .filter(|text| !in_bounds(checked, text))
        .map(|text| {
            FieldError::new(
                "spec.preAllocations",
                BadValue::Text(text.clone()),
                violation.clone(),
            )
        })
        .collect()
}

/// Metal3's notion of "in bounds": the address satisfies every one of
/// start, end and subnet that some entry sets. Unparsable text and broken
/// entries never are.
fn in_bounds(checked: &Checked, text: &str) -> bool {
    let Ok(address) = parse_address(text) else {
        return false;
    };
    let value = number(address);
    let same_family = |other: IpAddr| Family::of(other) == Family::of(address);
    checked
        .entries
        .iter()
        .filter(|entry| !entry.broken && entry.has_bounds())
        .any(|entry| {
            entry
                .start
                .is_none_or(|start| same_family(start) && number(start) <= value)
                && entry
                    .end
                    .is_none_or(|end| same_family(end) && value <= number(end))
                && entry.subnet.is_none_or(|subnet| subnet.contains(address))
        })
}

fn warnings(spec: &Metal3Spec, checked: &Checked) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for (i, entry) in checked.entries.iter().enumerate() {
        if entry.end.is_some() && entry.start.is_none() && entry.subnet.is_none() {
            warnings.push(Warning::EntryNeverYields {
                field: format!("spec.pools[{i}]"),
            });
        }
        let (field, gateway) = match (entry.gateway, checked.gateway) {
            (Some(gateway), _) => (format!("spec.pools[{i}].gateway"), gateway),
            (None, Some(gateway)) => ("spec.gateway".to_owned(), gateway),
            (None, None) => continue,
        };
        let Some(subnet) = entry.subnet.filter(|s| s.family() == Family::of(gateway)) else {
            continue;
        };
        if !subnet.contains(gateway) {
            let (network, _) = subnet_of(
                subnet.family(),
                number(subnet.address()),
                subnet.prefix_len(),
            );
            warnings.push(Warning::GatewayOutsideSubnet {
                field,
                gateway,
                subnet: format!(
                    "{}/{}",
                    subnet.family().address(network),
                    subnet.prefix_len()
                ),
            });
        }
    }
    if let Ok(pool) = Pool::metal3(spec) {
        for (claim, &address) in pool.pre_allocations() {
            if let Placement::Withheld(reason) = pool.placement(address) {
                warnings.push(Warning::PreAllocationWithheld {
                    field: format!("spec.preAllocations.{claim}"),
                    address,
                    reason,
                });
            }
        }
    }
    warnings
}
