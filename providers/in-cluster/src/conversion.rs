//! Conversion between the v1alpha1 and v1alpha2 shapes of InClusterIPPool and
//! GlobalInClusterIPPool, as the in-cluster provider converts them, for the CRDs'
//! conversion webhook (`webhook::CONVERT_PATH`). Pure: JSON in, JSON out.
//!
//! v1alpha1 → v1alpha2 (every write through v1alpha1):
//! - `subnet` fills an unset `start` with its second address and an unset `end` with its last
//!   but one, and an unset `prefix` with its length;
//! - `start-end` (when both are set) is appended to `addresses`; `prefix` and `gateway` carry
//!   over;
//! - the v1alpha1 object, so filled in and without its metadata, is kept in the annotation
//!   `cluster.x-k8s.io/conversion-data` of the v1alpha2 object.
//!
//! v1alpha2 → v1alpha1 (every read through v1alpha1): `addresses`, `prefix` and `gateway`
//! carry over, unless the annotation holds a v1alpha1 spec that still converts to exactly
//! this object's `addresses`, `prefix` and `gateway`: then that spec is given back (`subnet`,
//! `start` and `end` included), and the annotation is not shown.
//!
//! Where this does better than upstream (each tested below):
//! - upstream gives a GlobalInClusterIPPool's remembered v1alpha1 spec back even after the
//!   pool was changed through v1alpha2, so v1alpha1 readers see a stale pool; here both kinds
//!   check that the remembered spec still matches;
//! - upstream loses `excludedAddresses`, `allocateReservedIPAddresses` and
//!   `addressReuseGracePeriodSeconds` when a v1alpha2 pool is written back through v1alpha1
//!   (a `kubectl apply` or a label patch through the old version is enough); here a v1alpha1
//!   view of a pool that has them carries them in the same annotation, and the next write
//!   through v1alpha1 restores them;
//! - an annotation that does not parse is ignored rather than failing every read.

use serde_json::{Map, Value, json};

use crate::api::PoolSpec;
use crate::api::v1alpha1::PoolSpecV1alpha1;
use ipam_engine::Cidr;

/// Cluster API's annotation for what one API version cannot express of another.
pub const DATA_ANNOTATION: &str = "cluster.x-k8s.io/conversion-data";
pub const V1ALPHA1: &str = "ipam.cluster.x-k8s.io/v1alpha1";
pub const V1ALPHA2: &str = "ipam.cluster.x-k8s.io/v1alpha2";
/// The kinds served in both versions.
pub const KINDS: [&str; 2] = ["InClusterIPPool", "GlobalInClusterIPPool"];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConversionError {
    #[error(
        "cannot convert to {0:?}: only {V1ALPHA1} and {V1ALPHA2} InClusterIPPool and GlobalInClusterIPPool are converted here"
    )]
    UnknownVersion(String),
    #[error(
        "cannot convert kind {0:?}: only InClusterIPPool and GlobalInClusterIPPool are converted here"
    )]
    UnknownKind(String),
    /// In the API server's words for a bad field, so the client sees which field and why.
    #[error("{field}: Invalid value: {value:?}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("the {kind} is not a valid {api_version} object: {reason}")]
    Malformed {
        kind: String,
        api_version: String,
        reason: String,
    },
}

/// Converts one pool object to `desired` (an apiVersion); an object already in that
/// version comes back unchanged.
pub fn convert(object: Value, desired: &str) -> Result<Value, ConversionError> {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    let (from, kind) = (text("apiVersion").to_owned(), text("kind").to_owned());
    if !KINDS.contains(&kind.as_str()) {
        return Err(ConversionError::UnknownKind(kind));
    }
    for version in [&from, desired] {
        if version != V1ALPHA1 && version != V1ALPHA2 {
            return Err(ConversionError::UnknownVersion(version.to_owned()));
        }
    }
    let Value::Object(mut object) = object else {
        unreachable!("an object with an apiVersion is a JSON object")
    };
    let malformed = |reason: String| ConversionError::Malformed {
        kind: kind.clone(),
        api_version: from.clone(),
        reason,
    };
    if from == desired {
        return Ok(Value::Object(object));
    }
    let spec = object.remove("spec").unwrap_or_else(|| json!({}));
    let mut annotations = take_annotations(&mut object).map_err(malformed)?;
    let spec = if desired == V1ALPHA2 {
        let old: PoolSpecV1alpha1 =
            serde_json::from_value(spec).map_err(|e| malformed(e.to_string()))?;
        let (filled, mut new) = to_v1alpha2(&old)?;
        // What an earlier read through v1alpha1 set aside of the v1alpha2 pool.
        if let Some(kept) = annotations
            .remove(DATA_ANNOTATION)
            .and_then(|data| remembered::<PoolSpec>(&data, V1ALPHA2))
        {
            new.excluded_addresses = kept.excluded_addresses;
            new.allocate_reserved_ip_addresses = kept.allocate_reserved_ip_addresses;
            new.address_reuse_grace_period_seconds = kept.address_reuse_grace_period_seconds;
        }
        let mut data = json!({"apiVersion": V1ALPHA1, "kind": kind, "spec": filled});
        if let Some(status) = object.get("status") {
            data["status"] = status.clone();
        }
        annotations.insert(DATA_ANNOTATION.into(), Value::String(data.to_string()));
        serde_json::to_value(new)
    } else {
        let new: PoolSpec = serde_json::from_value(spec).map_err(|e| malformed(e.to_string()))?;
        let remembered = annotations
            .remove(DATA_ANNOTATION)
            .and_then(|data| remembered::<PoolSpecV1alpha1>(&data, V1ALPHA1));
        let old = to_v1alpha1(&new, remembered);
        if has_v1alpha2_only_fields(&new) {
            let data = json!({"apiVersion": V1ALPHA2, "kind": kind, "spec": new});
            annotations.insert(DATA_ANNOTATION.into(), Value::String(data.to_string()));
        }
        serde_json::to_value(old)
    }
    .expect("a pool spec serializes");
    object.insert("apiVersion".into(), Value::String(desired.to_owned()));
    object.insert("spec".into(), spec);
    if !annotations.is_empty() {
        let metadata = object.entry("metadata").or_insert_with(|| json!({}));
        metadata["annotations"] = Value::Object(annotations);
    }
    Ok(Value::Object(object))
}

/// A v1alpha1 spec as v1alpha2 sees it, and the v1alpha1 spec with what `subnet` implies
/// filled in (the form upstream remembers).
pub fn to_v1alpha2(
    old: &PoolSpecV1alpha1,
) -> Result<(PoolSpecV1alpha1, PoolSpec), ConversionError> {
    let mut filled = old.clone();
    if !old.subnet.is_empty() {
        let invalid = |reason: String| ConversionError::Invalid {
            field: "spec.subnet",
            value: old.subnet.clone(),
            reason,
        };
        let subnet = Cidr::parse(&old.subnet).map_err(|e| invalid(e.to_string()))?;
        let range = subnet.range();
        // The subnet's first and last addresses are taken for its network and broadcast.
        let (Some(second), Some(last_but_one)) =
            (step(range.first(), true), step(range.last(), false))
        else {
            return Err(invalid(
                "the subnet has no address after its first or before its last; set start and end"
                    .into(),
            ));
        };
        if filled.start.is_empty() {
            filled.start = second.to_string();
        }
        if filled.end.is_empty() {
            filled.end = last_but_one.to_string();
        }
        if filled.prefix == 0 {
            filled.prefix = i32::from(subnet.prefix_len());
        }
    }
    let mut addresses = filled.addresses.clone();
    if !filled.start.is_empty() && !filled.end.is_empty() {
        addresses.push(format!("{}-{}", filled.start, filled.end));
    }
    let new = PoolSpec {
        addresses,
        prefix: filled.prefix,
        gateway: (!filled.gateway.is_empty()).then(|| filled.gateway.clone()),
        ..PoolSpec::default()
    };
    Ok((filled, new))
}

/// A v1alpha2 spec as v1alpha1 sees it: the `remembered` v1alpha1 spec when it still
/// describes the same pool, else `addresses`, `prefix` and `gateway` as they are.
pub fn to_v1alpha1(new: &PoolSpec, remembered: Option<PoolSpecV1alpha1>) -> PoolSpecV1alpha1 {
    let gateway = new.gateway.clone().unwrap_or_default();
    if let Some(Ok((filled, again))) = remembered.as_ref().map(to_v1alpha2)
        && again.addresses == new.addresses
        && again.prefix == new.prefix
        && again.gateway.unwrap_or_default() == gateway
    {
        return filled;
    }
    PoolSpecV1alpha1 {
        addresses: new.addresses.clone(),
        prefix: new.prefix,
        gateway,
        ..PoolSpecV1alpha1::default()
    }
}

fn has_v1alpha2_only_fields(spec: &PoolSpec) -> bool {
    !spec.excluded_addresses.is_empty()
        || spec.allocate_reserved_ip_addresses
        || spec.address_reuse_grace_period_seconds.is_some()
}

/// The spec kept in a conversion-data annotation written for `api_version` (or, as upstream
/// writes it in unit tests, for none); `None` for anything else.
fn remembered<S: serde::de::DeserializeOwned>(data: &Value, api_version: &str) -> Option<S> {
    let data: Value = serde_json::from_str(data.as_str()?).ok()?;
    match data.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => None,
        _ => serde_json::from_value(data.get("spec")?.clone()).ok(),
    }
}

fn take_annotations(object: &mut Map<String, Value>) -> Result<Map<String, Value>, String> {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Ok(Map::new());
    };
    match metadata.remove("annotations") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(annotations)) => Ok(annotations),
        Some(other) => Err(format!("metadata.annotations is not a map: {other}")),
    }
}

/// The address after (`up`) or before `address`, if the family has one.
fn step(address: std::net::IpAddr, up: bool) -> Option<std::net::IpAddr> {
    use std::net::IpAddr;
    match address {
        IpAddr::V4(a) => {
            let n = u32::from(a);
            let n = if up {
                n.checked_add(1)
            } else {
                n.checked_sub(1)
            }?;
            Some(IpAddr::V4(n.into()))
        }
        IpAddr::V6(a) => {
            let n = u128::from(a);
            let n = if up {
                n.checked_add(1)
            } else {
                n.checked_sub(1)
            }?;
            Some(IpAddr::V6(n.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(spec: Value) -> Value {
        json!({"apiVersion": V1ALPHA1, "kind": "InClusterIPPool",
            "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    fn v2(spec: Value) -> Value {
        json!({"apiVersion": V1ALPHA2, "kind": "InClusterIPPool",
            "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    fn up(spec: Value) -> Value {
        convert(v1(spec), V1ALPHA2).unwrap()
    }

    fn annotation(object: &Value) -> Option<Value> {
        let data = object["metadata"]["annotations"][DATA_ANNOTATION].as_str()?;
        Some(serde_json::from_str(data).unwrap())
    }

    // Upstream's own table (api/v1alpha1/conversion_test.go), v1alpha1 → v1alpha2.

    #[test]
    fn start_end_and_subnet_become_one_range() {
        let out = up(json!({"gateway": "1.1.1.1", "subnet": "1.1.1.1/28",
            "start": "1.1.1.1", "end": "1.1.1.10", "prefix": 28}));
        assert_eq!(
            out["spec"],
            json!({"addresses": ["1.1.1.1-1.1.1.10"], "prefix": 28, "gateway": "1.1.1.1"})
        );
        assert_eq!(out["apiVersion"], V1ALPHA2);
    }

    #[test]
    fn addresses_alone_carry_over() {
        let spec = json!({"addresses": ["1.1.1.1-1.1.1.10"], "prefix": 28, "gateway": "1.1.1.1"});
        assert_eq!(up(spec.clone())["spec"], spec);
    }

    #[test]
    fn prefix_comes_from_the_subnet_when_unset() {
        let out = up(
            json!({"subnet": "1.1.1.0/24", "start": "1.1.1.10", "end": "1.1.1.15",
            "gateway": "1.1.1.1"}),
        );
        assert_eq!(
            out["spec"],
            json!({"addresses": ["1.1.1.10-1.1.1.15"], "prefix": 24, "gateway": "1.1.1.1"})
        );
    }

    #[test]
    fn start_and_end_come_from_the_subnet_without_its_first_and_last() {
        let out = up(json!({"subnet": "1.1.1.0/24", "gateway": "1.1.1.1"}));
        assert_eq!(
            out["spec"],
            json!({"addresses": ["1.1.1.1-1.1.1.254"], "prefix": 24, "gateway": "1.1.1.1"})
        );
        // Host bits of the subnet are ignored, as netipx.RangeOfPrefix masks them.
        let out = up(json!({"subnet": "1.1.1.77/24"}));
        assert_eq!(out["spec"]["addresses"], json!(["1.1.1.1-1.1.1.254"]));
        let out = up(json!({"subnet": "fd00::/64", "addresses": ["fd01::1"]}));
        assert_eq!(
            out["spec"],
            json!({"addresses": ["fd01::1", "fd00::1-fd00::ffff:ffff:ffff:fffe"], "prefix": 64})
        );
    }

    #[test]
    fn the_filled_in_v1alpha1_object_is_remembered_without_metadata() {
        let out = up(json!({"subnet": "1.1.1.1/24", "gateway": "1.1.1.1"}));
        assert_eq!(
            annotation(&out).unwrap(),
            json!({"apiVersion": V1ALPHA1, "kind": "InClusterIPPool", "spec": {
                "subnet": "1.1.1.1/24", "start": "1.1.1.1", "end": "1.1.1.254", "prefix": 24,
                "gateway": "1.1.1.1"}})
        );
        assert_eq!(out["metadata"]["name"], "p");
    }

    // v1alpha2 → v1alpha1 → and back.

    #[test]
    fn a_v1alpha2_pool_reads_as_its_addresses() {
        let spec = json!({"addresses": ["1.1.1.1-1.1.1.10"], "prefix": 10, "gateway": "1.2.3.5"});
        let out = convert(v2(spec.clone()), V1ALPHA1).unwrap();
        assert_eq!(out["spec"], spec);
        assert_eq!(out["apiVersion"], V1ALPHA1);
        assert_eq!(out["metadata"].get("annotations"), None);
    }

    #[test]
    fn a_pool_written_as_v1alpha1_reads_back_as_written_filled_in() {
        for (written, read) in [
            (
                json!({"gateway": "1.1.1.1", "subnet": "1.1.1.1/16", "start": "1.1.1.2",
                    "end": "1.1.1.10", "prefix": 16}),
                None,
            ),
            (
                json!({"gateway": "1.1.1.1", "subnet": "1.1.1.1/24"}),
                Some(
                    json!({"gateway": "1.1.1.1", "subnet": "1.1.1.1/24", "start": "1.1.1.1",
                    "end": "1.1.1.254", "prefix": 24}),
                ),
            ),
            (
                json!({"gateway": "1.1.1.1", "addresses": ["1.1.1.1-1.1.1.10"], "prefix": 16}),
                None,
            ),
        ] {
            let stored = up(written.clone());
            let back = convert(stored, V1ALPHA1).unwrap();
            assert_eq!(back["spec"], read.unwrap_or(written));
            assert_eq!(back["metadata"].get("annotations"), None, "{back}");
        }
    }

    #[test]
    fn a_remembered_spec_that_no_longer_matches_is_not_given_back() {
        for kind in KINDS {
            let mut written = v1(json!({"subnet": "10.0.0.0/24"}));
            written["kind"] = json!(kind);
            let mut stored = convert(written, V1ALPHA2).unwrap();
            stored["spec"]["addresses"] = json!(["10.0.0.10-10.0.0.20"]);
            let read = convert(stored, V1ALPHA1).unwrap();
            assert_eq!(
                read["spec"],
                json!({"addresses": ["10.0.0.10-10.0.0.20"], "prefix": 24}),
                "{kind}"
            );
        }
    }

    #[test]
    fn v1alpha2_only_fields_survive_a_write_through_v1alpha1() {
        let spec = json!({"addresses": ["10.0.0.0/24"], "prefix": 24, "gateway": "10.0.0.1",
            "excludedAddresses": ["10.0.0.5"], "allocateReservedIPAddresses": true,
            "addressReuseGracePeriodSeconds": 30});
        let mut stored = v2(spec.clone());
        stored["metadata"]["annotations"] = json!({"keep": "me"});
        let read = convert(stored.clone(), V1ALPHA1).unwrap();
        assert_eq!(
            read["spec"],
            json!({"addresses": ["10.0.0.0/24"], "prefix": 24, "gateway": "10.0.0.1"})
        );
        assert_eq!(read["metadata"]["annotations"]["keep"], "me");
        assert_eq!(annotation(&read).unwrap()["spec"], spec);
        let written = convert(read, V1ALPHA2).unwrap();
        assert_eq!(written["spec"], spec);
        assert_eq!(written["metadata"]["annotations"]["keep"], "me");
        // What the v1alpha2 object remembers now is the v1alpha1 spec, which reads back alike.
        assert_eq!(annotation(&written).unwrap()["apiVersion"], V1ALPHA1);
        let again = convert(written, V1ALPHA1).unwrap();
        assert_eq!(annotation(&again).unwrap()["spec"], spec);
    }

    #[test]
    fn status_and_metadata_pass_through() {
        let mut stored = v2(json!({"addresses": ["10.0.0.1"], "prefix": 24}));
        stored["status"] =
            json!({"ipAddresses": {"total": 1, "free": 0, "used": 1, "outOfRange": 0}});
        stored["metadata"]["labels"] = json!({"a": "b"});
        let read = convert(stored.clone(), V1ALPHA1).unwrap();
        assert_eq!(read["status"], stored["status"]);
        assert_eq!(read["metadata"]["labels"], stored["metadata"]["labels"]);
        assert_eq!(read["kind"], "InClusterIPPool");
    }

    #[test]
    fn an_unreadable_annotation_is_ignored() {
        let mut stored = v2(json!({"addresses": ["10.0.0.1"], "prefix": 24}));
        stored["metadata"]["annotations"] = json!({DATA_ANNOTATION: "{not json"});
        let read = convert(stored, V1ALPHA1).unwrap();
        assert_eq!(
            read["spec"],
            json!({"addresses": ["10.0.0.1"], "prefix": 24})
        );
        assert_eq!(read["metadata"].get("annotations"), None);
    }

    #[test]
    fn same_version_is_unchanged() {
        let object = v2(json!({"addresses": ["10.0.0.1"], "prefix": 24}));
        assert_eq!(convert(object.clone(), V1ALPHA2).unwrap(), object);
    }

    // Refusals.

    #[test]
    fn a_bad_subnet_is_named_with_the_reason() {
        let error = convert(v1(json!({"subnet": "10.0.0.0/33"})), V1ALPHA2).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.subnet: Invalid value: \"10.0.0.0/33\": netip.ParsePrefix(\"10.0.0.0/33\"): \
             prefix length out of range (an IPv4 prefix is 0 to 32 bits)"
        );
        let error = convert(v1(json!({"subnet": "nonsense"})), V1ALPHA2).unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.subnet: Invalid value: \"nonsense\": netip.ParsePrefix(\"nonsense\"): no '/'"
        );
        let error = convert(v1(json!({"subnet": "0.0.0.0/32"})), V1ALPHA2).unwrap_err();
        assert!(error.to_string().contains("set start and end"), "{error}");
    }

    #[test]
    fn unknown_versions_kinds_and_shapes_are_refused() {
        let mut other = v1(json!({}));
        other["kind"] = json!("IPAddress");
        assert!(matches!(
            convert(other, V1ALPHA2),
            Err(ConversionError::UnknownKind(_))
        ));
        assert!(matches!(
            convert(v1(json!({})), "ipam.cluster.x-k8s.io/v1beta1"),
            Err(ConversionError::UnknownVersion(_))
        ));
        let error = convert(v1(json!({"prefix": "24"})), V1ALPHA2).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the InClusterIPPool is not a valid ipam.cluster.x-k8s.io/v1alpha1 object: invalid type"),
            "{error}"
        );
    }
}
