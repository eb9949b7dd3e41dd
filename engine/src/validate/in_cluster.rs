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
/// Added here: a gateway outside the subnet is refused, except for
/// point-to-point and host subnets (the last two prefix lengths of the
/// family), where an on-link gateway is a real design and only warned about.
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
    let mut errors: Vec<FieldError> = checked
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
    let mut warnings = Vec::new();
    if let Some(gateway) = checked
        .gateway
        .filter(|&gateway| !(first..=last).contains(&number(gateway)))
    {
        let subnet = format!("{}/{}", family.address(first), checked.prefix);
        if checked.prefix + 2 > family.bits() {
            warnings.push(Warning::GatewayOutsideSubnet {
                field: "spec.gateway".into(),
                gateway,
                subnet,
            });
        } else {
            errors.push(FieldError::new(
                "spec.gateway",
                BadValue::Text(gateway.to_string()),
                Violation::GatewayOutsideSubnet { gateway, subnet },
            ));
        }
    }
    Validation { errors, warnings }
}
