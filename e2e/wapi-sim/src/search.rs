//! Searching and `_return_fields` over fully rendered objects, the same for every type.

use crate::errors::{WapiError, WapiResult};
use crate::ipspace::{parse_cidr, parse_ip};
use crate::objects::ObjType;
use crate::query::{Filter, Op, Query};
use crate::state::Store;
use serde_json::{Map, Value};
use std::cmp::Ordering;

const CIDR_FIELDS: &[&str] = &["network", "network_container"];
const IP_FIELDS: &[&str] = &["ipv4addr", "ipv6addr", "start_addr", "end_addr"];

/// Refuses filters on fields the type does not search, as NIOS does, before any matching.
pub fn check_filters(store: &Store, ty: ObjType, filters: &[Filter]) -> WapiResult<()> {
    let meta = ty.meta();
    for f in filters {
        if f.ea {
            if !store.eadefs.values().any(|d| d.name == f.field) {
                return Err(WapiError::UnknownEa(f.field.clone()));
            }
        } else if !meta.searchable.contains(&f.field.as_str()) {
            return Err(if meta.returnable.contains(&f.field.as_str()) {
                WapiError::NotSearchable(f.field.clone())
            } else {
                WapiError::UnknownField(f.field.clone())
            });
        }
    }
    Ok(())
}

/// Values a filter looks at. Some searchable fields (a host's `ipv4addr`, `mac`) are not
/// fields of the object itself but of its address entries.
fn search_values(ty: ObjType, obj: &Map<String, Value>, f: &Filter) -> Vec<Value> {
    let from_entries = |list: &str, key: &str| -> Vec<Value> {
        obj.get(list)
            .and_then(Value::as_array)
            .map(|entries| entries.iter().filter_map(|e| e.get(key).cloned()).collect())
            .unwrap_or_default()
    };
    if f.ea {
        return obj
            .get("extattrs")
            .and_then(|e| e.get(&f.field))
            .and_then(|e| e.get("value"))
            .cloned()
            .into_iter()
            .collect();
    }
    match (ty, f.field.as_str()) {
        (ObjType::Host, "ipv4addr") => from_entries("ipv4addrs", "ipv4addr"),
        (ObjType::Host, "ipv6addr") => from_entries("ipv6addrs", "ipv6addr"),
        (ObjType::Host, "mac") => from_entries("ipv4addrs", "mac"),
        (ObjType::Network, "ipv4addr") => obj
            .get("network")
            .and_then(Value::as_str)
            .and_then(parse_cidr)
            .map(|n| Value::String(n.network().to_string()))
            .into_iter()
            .collect(),
        _ => obj.get(&f.field).cloned().into_iter().collect(),
    }
}

fn ordered(ord: Ordering, op: Op) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Le => ord != Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        // `!=` is evaluated as "no value equals".
        Op::Ne | Op::Regex => false,
    }
}

fn string_matches(field: &str, s: &str, f: &Filter, op: Op) -> bool {
    if let Some(re) = &f.regex {
        return re.is_match(s);
    }
    if CIDR_FIELDS.contains(&field)
        && let (Some(a), Some(b)) = (parse_cidr(s), parse_cidr(&f.value))
    {
        return ordered(a.cmp(&b), op);
    }
    if IP_FIELDS.contains(&field)
        && let (Some(a), Some(b)) = (parse_ip(s), parse_ip(&f.value))
    {
        return ordered(a.cmp(&b), op);
    }
    if f.icase {
        return ordered(s.to_lowercase().cmp(&f.value.to_lowercase()), op);
    }
    ordered(s.cmp(f.value.as_str()), op)
}

fn value_matches(field: &str, v: &Value, f: &Filter, op: Op) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| value_matches(field, i, f, op)),
        Value::String(s) => string_matches(field, s, f, op),
        Value::Bool(b) => match f.value.to_ascii_lowercase().as_str() {
            "true" | "1" => ordered(b.cmp(&true), op),
            "false" | "0" => ordered(b.cmp(&false), op),
            _ => false,
        },
        Value::Number(n) => match (n.as_f64(), f.value.trim().parse::<f64>()) {
            (Some(a), Ok(b)) => a.partial_cmp(&b).is_some_and(|o| ordered(o, op)),
            _ => false,
        },
        _ => false,
    }
}

pub fn matches(ty: ObjType, obj: &Map<String, Value>, f: &Filter) -> bool {
    let values = search_values(ty, obj, f);
    match f.op {
        Op::Ne => !values.iter().any(|v| value_matches(&f.field, v, f, Op::Eq)),
        op => values.iter().any(|v| value_matches(&f.field, v, f, op)),
    }
}

pub fn search(
    store: &Store,
    ty: ObjType,
    filters: &[Filter],
) -> WapiResult<Vec<Map<String, Value>>> {
    check_filters(store, ty, filters)?;
    Ok(crate::objects::list(store, ty)
        .into_iter()
        .filter(|o| filters.iter().all(|f| matches(ty, o, f)))
        .collect())
}

/// The fields a response carries: the defaults, or the union of every `_return_fields`,
/// plus any `_return_fields+`.
pub fn select_fields(ty: ObjType, q: &Query) -> WapiResult<Vec<String>> {
    let meta = ty.meta();
    let defaults = || meta.default_fields.iter().map(|s| s.to_string()).collect();
    let mut fields: Vec<String> = q.return_fields.clone().unwrap_or_else(defaults);
    fields.extend(q.return_fields_plus.iter().cloned());
    for f in &fields {
        if !meta.returnable.contains(&f.as_str()) {
            return Err(WapiError::UnknownField(f.clone()));
        }
    }
    fields.sort();
    fields.dedup();
    Ok(fields)
}

/// `_ref` plus the requested fields that are set; unset ones are omitted even when requested.
pub fn project(obj: &Map<String, Value>, fields: &[String]) -> Value {
    let mut out = Map::new();
    if let Some(r) = obj.get("_ref") {
        out.insert("_ref".into(), r.clone());
    }
    for f in fields {
        if let Some(v) = obj.get(f) {
            out.insert(f.clone(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_filter;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn host_searches_reach_into_address_entries() {
        let h = obj(
            json!({"name": "a", "ipv4addrs": [{"ipv4addr": "10.0.0.5", "mac": "aa:bb:cc:dd:ee:ff"}]}),
        );
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("ipv4addr", "10.0.0.5").unwrap()
        ));
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("mac", "aa:bb:cc:dd:ee:ff").unwrap()
        ));
        // The Python client's existence check sends the allocation function as the address.
        let func = parse_filter("ipv4addr", "func:nextavailableip:10.0.0.0/24,nv").unwrap();
        assert!(!matches(ObjType::Host, &h, &func));
    }

    #[test]
    fn cidrs_and_ips_compare_after_parsing() {
        let n = obj(json!({"network": "fd00::/64"}));
        assert!(matches(
            ObjType::Ipv6Network,
            &n,
            &parse_filter("network", "fd00:0::/64").unwrap()
        ));
        let r = obj(json!({"start_addr": "10.0.0.10"}));
        assert!(matches(
            ObjType::Range,
            &r,
            &parse_filter("start_addr>", "10.0.0.9").unwrap()
        ));
        assert!(!matches(
            ObjType::Range,
            &r,
            &parse_filter("start_addr>", "10.0.0.11").unwrap()
        ));
    }

    #[test]
    fn modifiers_and_eas() {
        let h = obj(
            json!({"name": "Web1.example.com", "extattrs": {"Site": {"value": "Lab"}}, "use_ttl": false}),
        );
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("name:", "web1.EXAMPLE.com").unwrap()
        ));
        assert!(!matches(
            ObjType::Host,
            &h,
            &parse_filter("name", "web1.example.com").unwrap()
        ));
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("name~", "^Web").unwrap()
        ));
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("name!", "x").unwrap()
        ));
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("*Site", "Lab").unwrap()
        ));
        assert!(matches(
            ObjType::Host,
            &h,
            &parse_filter("use_ttl", "false").unwrap()
        ));
    }
}
