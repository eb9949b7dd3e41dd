//! The in-cluster webhook's create and update rules.

use crate::address::{number, subnet_of};
use crate::field::{BadValue, FieldError, Validation, Violation, Warning};
use crate::pool::InClusterSpec;

/// Runs the in-cluster webhook's rules on a new or updated spec, in its
/// order and with its messages: first every syntax and family rule, then,
/// only if those pass, the prefix and the one-subnet rule. An update must
/// also keep its addresses in use: see
/// [`stranded_addresses`](crate::stranded_addresses).
///
/// One warning is added: a gateway outside the subnet (the upstream does not
/// check it, and some networks want it).
pub fn validate_in_cluster(spec: &InClusterSpec) -> Validation {
    let checked = match spec.check() {
        Ok(checked) => checked,
        Err(errors) => {
            return Validation {
                errors,
                warnings: Vec::new(),
            };
        }
    };
    let family = checked.family;
    let (first, last) = subnet_of(family, checked.lowest, checked.prefix);
    let errors = checked
        .entries
        .iter()
        .filter(|(_, range)| {
            let (low, high) = range.numbers();
            low < first || high > last
        })
        .map(|(text, _)| {
            FieldError::new(
                "spec.addresses",
                BadValue::Text(text.clone()),
                Violation::DifferentSubnet,
            )
        })
        .collect();
    let warnings = checked
        .gateway
        .filter(|&gateway| !(first..=last).contains(&number(gateway)))
        .map(|gateway| Warning::GatewayOutsideSubnet {
            field: "spec.gateway".into(),
            gateway,
            subnet: format!("{}/{}", family.address(first), checked.prefix),
        })
        .into_iter()
        .collect();
    Validation { errors, warnings }
}
