//! The decisions of the pool webhook, pure: each takes what was fetched and returns the
//! verdict with the upstream's code and exact message, or this project's where upstream
//! has no rule.

use std::collections::BTreeMap;

use ipam_engine::{
    BadValue, FieldError, Overlap, Pool, SpecError, Validation, Violation, invalid_message,
    overlap, stranded_addresses, validate_in_cluster,
};
use ipam_kube_support::webhook::{Denial, invalid_field};
use kube::core::GroupVersionKind;
use kube::core::admission::Operation;

use crate::api::capi::IPAddress;
use crate::api::capi::keys::{DELETE_FOR_MOVE_ANNOTATION, SKIP_DELETE_VALIDATION_ANNOTATION};
use crate::api::{GROUP, GlobalInClusterIPPool, InClusterIPPool, PoolSpec};
use crate::pool_key::PoolKey;
use crate::pool_object::{PoolObject, engine_spec};

/// The upstream's refusal to delete a pool that still has addresses.
pub const IN_USE: &str =
    "Pool has IPAddresses allocated. Cannot delete Pool until all IPAddresses have been removed.";

/// Either pool kind may come to either path, as upstream accepts; anything else means the
/// webhook configuration is wrong. Upstream's create and update wordings differ; both kept.
pub fn pool_kind(kind: &GroupVersionKind, operation: &Operation) -> Result<(), Denial> {
    let known = [InClusterIPPool::KIND, GlobalInClusterIPPool::KIND];
    if kind.group == GROUP && known.contains(&kind.kind.as_str()) {
        return Ok(());
    }
    Err(match operation {
        Operation::Create => Denial::forbidden(format!(
            "expected a InClusterIPPool or an GlobalInClusterIPPool but got a {}",
            kind.kind
        )),
        _ => Denial::bad_request(format!(
            "expected an InClusterIPPool or a GlobalInClusterIPPool but got a {}",
            kind.kind
        )),
    })
}

/// Upstream's create and update rules (first stage, then second), as a 422 `Invalid` naming
/// every broken rule. Passing, the pool compiled, and the warnings for the client: a gateway
/// outside the subnet is legal (an on-link gateway of a /32), so it is only pointed out.
pub fn spec(kind: &str, name: &str, spec: &PoolSpec) -> Result<(Pool, Vec<String>), Denial> {
    let engine = engine_spec(spec);
    validated(kind, name, validate_in_cluster(&engine), || {
        Pool::in_cluster(&engine)
    })
}

/// A spec's `validation` as the webhook answers it: a 422 `Invalid` naming every broken
/// rule, or what `compile` makes of the spec with the warnings for the client.
pub(crate) fn validated<T>(
    kind: &str,
    name: &str,
    validation: Validation,
    compile: impl FnOnce() -> Result<T, SpecError>,
) -> Result<(T, Vec<String>), Denial> {
    if !validation.is_valid() {
        return Err(invalid(kind, name, &validation.errors));
    }
    let compiled = compile().map_err(|SpecError(errors)| invalid(kind, name, &errors))?;
    let warnings = validation
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((compiled, warnings))
}

/// Upstream's update rule: every address in use must still be one the pool hands out
/// (400 `BadRequest`).
pub fn keeps_addresses_in_use(pool: &Pool, in_use: &[IPAddress]) -> Result<(), Denial> {
    stranded_addresses(pool, in_use.iter().map(|a| a.spec.address.as_str()))
        .map_err(|stranded| Denial::bad_request(stranded.to_string()))
}

/// Not upstream: a pool may not hand out an address another pool it is compared with may
/// hand out, or two claims could get the same address. 422 `Invalid` at `spec.addresses`,
/// one cause per pool overlapped.
pub fn overlaps_none(
    kind: &str,
    name: &str,
    spec: &PoolSpec,
    pool: &Pool,
    others: &[(PoolKey, Pool)],
) -> Result<(), Denial> {
    let found = others
        .iter()
        .filter_map(|(key, other)| Some((key, overlap(pool, other)?)));
    no_overlap(kind, name, ("spec.addresses", &spec.addresses), found)
}

/// A 422 `Invalid` at `field` (whose value is `values`), one cause per pool overlapped, or
/// nothing when `found` is empty.
pub(crate) fn no_overlap<'a>(
    kind: &str,
    name: &str,
    (field, values): (&str, &[String]),
    found: impl Iterator<Item = (&'a PoolKey, Overlap)>,
) -> Result<(), Denial> {
    let errors: Vec<FieldError> = found
        .map(|(key, overlap)| FieldError {
            field: field.into(),
            value: BadValue::List(values.to_vec()),
            violation: Violation::Overlaps {
                pool: key.to_string(),
                overlap,
            },
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid(kind, name, &errors))
    }
}

/// True when the pool's deletion is let through unchecked: upstream's skip annotation, and
/// clusterctl's `delete-for-move`, which upstream ignores, so `clusterctl move` can delete
/// the source's pools once their addresses exist on the target.
pub fn delete_unchecked(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(SKIP_DELETE_VALIDATION_ANNOTATION)
        || annotations.contains_key(DELETE_FOR_MOVE_ANNOTATION)
}

/// Upstream's delete rule: no IPAddress may still reference the pool (400 `BadRequest`).
pub fn deletable(in_use: &[IPAddress]) -> Result<(), Denial> {
    if in_use.is_empty() {
        Ok(())
    } else {
        Err(Denial::bad_request(IN_USE))
    }
}

fn invalid(kind: &str, name: &str, errors: &[FieldError]) -> Denial {
    invalid_in(GROUP, kind, name, errors)
}

/// A 422 `Invalid` naming every broken rule, as the API machinery words it.
pub(crate) fn invalid_in(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Denial {
    let causes = errors
        .iter()
        .map(|e| {
            invalid_field(
                &e.field,
                format!("Invalid value: {}: {}", e.value, e.violation),
            )
        })
        .collect();
    Denial::invalid(
        group,
        kind,
        name,
        invalid_message(kind, group, name, errors),
        causes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(addresses: &[&str], prefix: i32) -> PoolSpec {
        PoolSpec {
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            prefix,
            ..PoolSpec::default()
        }
    }

    #[test]
    fn spec_refusals_carry_the_aggregate_message_and_one_cause_per_error() {
        let Denial(status) = spec("InClusterIPPool", "p", &spec_of(&["10.0.0.1", "x"], 24))
            .err()
            .unwrap();
        assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
        assert_eq!(
            status.message,
            "InClusterIPPool.ipam.cluster.x-k8s.io \"p\" is invalid: spec.addresses: Invalid value: \"x\": \
             provided address is not a valid IP, range, nor CIDR"
        );
        let details = status.details.unwrap();
        assert_eq!(
            (
                details.group.as_str(),
                details.kind.as_str(),
                details.name.as_str()
            ),
            ("ipam.cluster.x-k8s.io", "InClusterIPPool", "p")
        );
        assert_eq!(details.causes.len(), 1);
        assert_eq!(details.causes[0].field, "spec.addresses");
        assert_eq!(
            details.causes[0].message,
            "Invalid value: \"x\": provided address is not a valid IP, range, nor CIDR"
        );
    }

    #[test]
    fn a_gateway_outside_the_subnet_is_refused_but_only_warned_about_for_a_host_subnet() {
        let outside = PoolSpec {
            gateway: Some("10.0.1.1".into()),
            ..spec_of(&["10.0.0.10-10.0.0.20"], 24)
        };
        let denial = spec("GlobalInClusterIPPool", "g", &outside).unwrap_err();
        assert!(
            denial
                .message()
                .contains("gateway 10.0.1.1 lies outside the pool's subnet 10.0.0.0/24"),
            "{}",
            denial.message()
        );
        let on_link = PoolSpec {
            gateway: Some("10.0.1.1".into()),
            ..spec_of(&["10.0.0.5"], 32)
        };
        let (_, warnings) = spec("GlobalInClusterIPPool", "g", &on_link).unwrap();
        assert_eq!(
            warnings,
            ["spec.gateway: gateway 10.0.1.1 lies outside the pool's subnet 10.0.0.5/32"]
        );
    }

    #[test]
    fn an_overlap_names_every_pool_overlapped() {
        let mine = spec_of(&["10.0.0.8/29"], 24);
        let (pool, _) = spec("InClusterIPPool", "b", &mine).unwrap();
        let (a, _) = spec("InClusterIPPool", "a", &spec_of(&["10.0.0.0-10.0.0.9"], 24)).unwrap();
        let (g, _) = spec("GlobalInClusterIPPool", "g", &spec_of(&["10.0.0.15"], 24)).unwrap();
        let (far, _) = spec("InClusterIPPool", "far", &spec_of(&["10.0.1.0/24"], 24)).unwrap();
        let others = [
            (PoolKey::namespaced(GROUP, "InClusterIPPool", "ns", "a"), a),
            (PoolKey::global(GROUP, "GlobalInClusterIPPool", "g"), g),
            (
                PoolKey::namespaced(GROUP, "InClusterIPPool", "ns", "far"),
                far,
            ),
        ];
        let denial = overlaps_none("InClusterIPPool", "b", &mine, &pool, &others)
            .err()
            .unwrap();
        assert_eq!(
            denial.message(),
            "InClusterIPPool.ipam.cluster.x-k8s.io \"b\" is invalid: [\
             spec.addresses: Invalid value: []string{\"10.0.0.8/29\"}: overlaps InClusterIPPool ns/a: \
             both pools may hand out 2 addresses: 10.0.0.8-10.0.0.9, \
             spec.addresses: Invalid value: []string{\"10.0.0.8/29\"}: overlaps GlobalInClusterIPPool g: \
             both pools may hand out 1 addresses: 10.0.0.15-10.0.0.15]"
        );
        assert_eq!(denial.0.details.unwrap().causes.len(), 2);
        assert!(overlaps_none("InClusterIPPool", "b", &mine, &pool, &others[2..]).is_ok());
    }

    #[test]
    fn delete_checks_are_skipped_for_either_annotation() {
        let with = |key: &str| BTreeMap::from([(key.to_string(), String::new())]);
        assert!(delete_unchecked(&with(SKIP_DELETE_VALIDATION_ANNOTATION)));
        assert!(delete_unchecked(&with(DELETE_FOR_MOVE_ANNOTATION)));
        assert!(!delete_unchecked(&with("cluster.x-k8s.io/paused")));
        assert!(deletable(&[]).is_ok());
        let Denial(status) = deletable(&[IPAddress::new("a", Default::default())])
            .err()
            .unwrap();
        assert_eq!(
            (status.code, status.reason.as_str(), status.message.as_str()),
            (400, "BadRequest", IN_USE)
        );
    }

    #[test]
    fn only_the_two_pool_kinds_are_validated() {
        let gvk = |kind: &str| GroupVersionKind::gvk(GROUP, "v1alpha2", kind);
        assert!(pool_kind(&gvk("GlobalInClusterIPPool"), &Operation::Create).is_ok());
        assert!(pool_kind(&gvk("InClusterIPPool"), &Operation::Delete).is_ok());
        let Denial(create) = pool_kind(&gvk("IPAddress"), &Operation::Create)
            .err()
            .unwrap();
        assert_eq!(
            (create.code, create.message.as_str()),
            (
                403,
                "expected a InClusterIPPool or an GlobalInClusterIPPool but got a IPAddress"
            )
        );
        let Denial(update) = pool_kind(&gvk("IPAddress"), &Operation::Update)
            .err()
            .unwrap();
        assert!(
            update
                .message
                .starts_with("expected an InClusterIPPool or a GlobalInClusterIPPool")
        );
        assert_eq!(update.code, 400);
    }
}
