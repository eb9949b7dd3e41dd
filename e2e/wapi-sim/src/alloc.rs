//! The allocation engine: resolves every `func:nextavailableip` / `func:nextavailablenetwork`
//! form and the longhand object function to exactly one target, then picks the lowest free
//! address or subnet. Callers hold the one store lock, which is what makes a reservation atomic.

use crate::config::SimConfig;
use crate::errors::{WapiError, WapiResult};
use crate::ipspace::{
    Family, bounds, from_u128, lowest_free, next_subnet, parse_cidr, parse_ip, to_u128,
};
use crate::objects::ObjType;
use crate::objects::network::Network;
use crate::objects::range::Range;
use crate::query::parse_filter;
use crate::refs::split_target;
use crate::search;
use crate::state::Store;
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::net::IpAddr;

pub const FUNC_IP: &str = "func:nextavailableip:";
pub const FUNC_NET: &str = "func:nextavailablenetwork:";

/// Where a next-available address comes from.
#[derive(Debug, Clone)]
pub struct Target {
    pub netview: String,
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
    /// The leaf network around the target, whose edges and reserved offsets are never handed out.
    pub network: Option<IpNet>,
    /// A range target is itself a DHCP range, so ranges are not excluded from it.
    pub is_range: bool,
}

impl Target {
    pub fn of_network(n: &Network) -> Target {
        let (lo, hi) = bounds(&n.net);
        Target {
            netview: n.network_view.clone(),
            family: Family::of_net(&n.net),
            lo,
            hi,
            network: Some(n.net),
            is_range: false,
        }
    }

    pub fn of_range(store: &Store, r: &Range) -> Target {
        Target {
            netview: r.network_view.clone(),
            family: Family::of(&r.start),
            lo: to_u128(r.start),
            hi: to_u128(r.end),
            network: r.enclosing_network(store).map(|n| n.net),
            is_range: true,
        }
    }
}

/// An address field's value: a literal, or a request for the next free one.
#[derive(Debug, Clone)]
pub enum AddrSpec {
    Literal(IpAddr),
    Next {
        target: Target,
        exclude: Vec<IpAddr>,
    },
}

/// Reads an address field (`ipv4addr`, `ipv6addr`) of a create or update body.
pub fn parse_addr(store: &Store, v: &Value, family: Family, field: &str) -> WapiResult<AddrSpec> {
    let invalid = || WapiError::InvalidValue {
        field: field.into(),
        value: v.to_string(),
    };
    match v {
        Value::String(s) => {
            if let Some(arg) = s.strip_prefix(FUNC_IP) {
                let target = resolve_ip_target(store, arg, family, field)?;
                return Ok(AddrSpec::Next {
                    target,
                    exclude: Vec::new(),
                });
            }
            match parse_ip(s) {
                Some(ip) if Family::of(&ip) == family => Ok(AddrSpec::Literal(ip)),
                _ => Err(invalid()),
            }
        }
        Value::Object(o) => {
            let Longhand { ty, object, params } =
                resolve_longhand(store, o, "next_available_ip", field)?;
            let no_match = || WapiError::NoUniqueTarget {
                arg: Value::Object(o.clone()).to_string(),
                field: field.into(),
            };
            let id = id_of(&object);
            let target = match ty {
                ObjType::Range => store.ranges.get(id).map(|r| Target::of_range(store, r)),
                ObjType::Network | ObjType::Ipv6Network => {
                    store.networks.get(id).map(Target::of_network)
                }
                _ => None,
            }
            .ok_or_else(no_match)?;
            if target.family != family {
                return Err(no_match());
            }
            let exclude = exclude_ips(&params, field)?;
            Ok(AddrSpec::Next { target, exclude })
        }
        _ => Err(invalid()),
    }
}

fn id_of(obj: &Map<String, Value>) -> &str {
    let r = obj.get("_ref").and_then(Value::as_str).unwrap_or_default();
    split_target(r).1.unwrap_or_default()
}

fn exclude_ips(params: &Map<String, Value>, field: &str) -> WapiResult<Vec<IpAddr>> {
    let Some(list) = params.get("exclude") else {
        return Ok(Vec::new());
    };
    let bad = || WapiError::InvalidValue {
        field: format!("{field}.exclude"),
        value: list.to_string(),
    };
    list.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().and_then(parse_ip).ok_or_else(bad))
        .collect()
}

/// Resolves the argument of the shorthand: a network ref, `<cidr>[,<view>]` or
/// `<start>-<end>[,<view>]`. It must name exactly one leaf network or range.
pub fn resolve_ip_target(
    store: &Store,
    arg: &str,
    family: Family,
    field: &str,
) -> WapiResult<Target> {
    let no_match = || WapiError::NoUniqueTarget {
        arg: arg.into(),
        field: field.into(),
    };
    let target = if let (ty, Some(id)) = split_target(arg)
        && let Some(ty) = ObjType::parse(ty)
    {
        match ty {
            ObjType::Network | ObjType::Ipv6Network => store
                .networks
                .get(id)
                .filter(|n| n.obj_type() == ty)
                .map(Target::of_network),
            ObjType::Range => store.ranges.get(id).map(|r| Target::of_range(store, r)),
            _ => None,
        }
        .ok_or_else(no_match)?
    } else {
        let (what, view) = match arg.split_once(',') {
            Some((w, v)) => (w.trim(), v.trim()),
            None => (arg.trim(), ""),
        };
        // Clients that build `<cidr>,<view>` from an empty view send a trailing comma.
        let view = if view.is_empty() { "default" } else { view };
        let range_bounds = what
            .split_once('-')
            .and_then(|(a, b)| Some((parse_ip(a)?, parse_ip(b)?)));
        if let Some((start, end)) = range_bounds {
            let found: Vec<&Range> = store
                .ranges
                .values()
                .filter(|r| r.network_view == view && r.start == start && r.end == end)
                .collect();
            match found.as_slice() {
                [r] => Target::of_range(store, r),
                _ => return Err(no_match()),
            }
        } else {
            let net = parse_cidr(what).ok_or_else(no_match)?;
            let found: Vec<&Network> = store
                .networks
                .values()
                .filter(|n| n.network_view == view && !n.container && n.net == net)
                .collect();
            match found.as_slice() {
                [n] => Target::of_network(n),
                _ => return Err(no_match()),
            }
        }
    };
    if target.family != family {
        return Err(no_match());
    }
    Ok(target)
}

/// The one object a longhand function names, and the function's `_parameters`.
pub struct Longhand {
    pub ty: ObjType,
    pub object: Map<String, Value>,
    pub params: Map<String, Value>,
}

/// Resolves the longhand object function: `_object` searched with `_object_parameters` must
/// give exactly one object.
pub fn resolve_longhand(
    store: &Store,
    o: &Map<String, Value>,
    function: &str,
    field: &str,
) -> WapiResult<Longhand> {
    let arg_text = Value::Object(o.clone()).to_string();
    let no_match = || WapiError::NoUniqueTarget {
        arg: arg_text.clone(),
        field: field.into(),
    };
    for k in o.keys() {
        if ![
            "_object_function",
            "_result_field",
            "_object",
            "_object_parameters",
            "_parameters",
        ]
        .contains(&k.as_str())
        {
            return Err(WapiError::UnknownField(k.clone()));
        }
    }
    let func = o
        .get("_object_function")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if func != function {
        return Err(WapiError::InvalidValue {
            field: format!("{field}._object_function"),
            value: func.into(),
        });
    }
    let obj_name = o.get("_object").and_then(Value::as_str).unwrap_or_default();
    let ty =
        ObjType::parse(obj_name).ok_or_else(|| WapiError::UnknownObjectType(obj_name.into()))?;
    let mut filters = Vec::new();
    if let Some(Value::Object(params)) = o.get("_object_parameters") {
        for (k, v) in params {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            filters.push(parse_filter(k, &text)?);
        }
    }
    let mut found = search::search(store, ty, &filters)?;
    if found.len() != 1 {
        return Err(no_match());
    }
    let params = match o.get("_parameters") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    Ok(Longhand {
        ty,
        object: found.remove(0),
        params,
    })
}

/// The lowest `num` free addresses of a target, never one in `exclude` or `pending` (addresses
/// already taken earlier in the same request).
pub fn next_ips(
    store: &Store,
    cfg: &SimConfig,
    t: &Target,
    num: usize,
    exclude: &[IpAddr],
    pending: &[IpAddr],
) -> WapiResult<Vec<IpAddr>> {
    let mut used: Vec<(u128, u128)> = Vec::new();
    let mut point = |ip: IpAddr| {
        if Family::of(&ip) == t.family {
            let v = to_u128(ip);
            if t.lo <= v && v <= t.hi {
                used.push((v, v));
            }
        }
    };
    for h in store.hosts.values().filter(|h| h.network_view == t.netview) {
        h.v4.iter().chain(h.v6.iter()).for_each(|a| point(a.ip));
    }
    for f in store.fixed.values().filter(|f| f.network_view == t.netview) {
        point(f.ip);
    }
    exclude.iter().chain(pending).for_each(|ip| point(*ip));
    if let Some(net) = t.network {
        let (nlo, nhi) = bounds(&net);
        if cfg.first_usable_offset > 0 {
            let end = nlo
                .saturating_add(u128::from(cfg.first_usable_offset) - 1)
                .min(nhi);
            used.push((nlo, end));
        }
        // IPv4 broadcast; /31 and /32 have none.
        if t.family == Family::V4 && net.prefix_len() < 31 {
            used.push((nhi, nhi));
        }
        for off in &cfg.reserved_offsets {
            let v = if *off >= 0 {
                nlo.checked_add(off.unsigned_abs() as u128)
            } else {
                nhi.checked_sub(off.unsigned_abs() as u128 - 1)
            };
            if let Some(v) = v.filter(|v| nlo <= *v && *v <= nhi) {
                used.push((v, v));
            }
        }
        if !t.is_range {
            for r in store
                .ranges
                .values()
                .filter(|r| r.network_view == t.netview)
            {
                let (a, b) = (to_u128(r.start), to_u128(r.end));
                if Family::of(&r.start) == t.family && a <= nhi && b >= nlo {
                    used.push((a, b));
                }
            }
        }
    }
    let free = lowest_free(t.lo, t.hi, used, num);
    if free.len() < num {
        return Err(WapiError::NetworkFull(num));
    }
    Ok(free.into_iter().map(|v| from_u128(v, t.family)).collect())
}

/// Reads a `network` field of a network or container create: a CIDR, the shorthand
/// `func:nextavailablenetwork:<container>,<view>,<prefix>` or the longhand object function.
/// Returns the network and, when it was carved from a container, the container's view.
pub fn parse_network(
    store: &Store,
    v: &Value,
    family: Family,
) -> WapiResult<(IpNet, Option<String>)> {
    let invalid = || WapiError::InvalidValue {
        field: "network".into(),
        value: v.to_string(),
    };
    match v {
        Value::String(s) => {
            if let Some(arg) = s.strip_prefix(FUNC_NET) {
                let (container, prefix) = resolve_container_shorthand(store, arg)?;
                let net = next_networks(store, container, prefix, 1, &[])?.remove(0);
                return Ok((net, Some(container.network_view.clone())));
            }
            match parse_cidr(s) {
                Some(n) if Family::of_net(&n) == family => Ok((n, None)),
                _ => Err(invalid()),
            }
        }
        Value::Object(o) => {
            let Longhand { ty, object, params } =
                resolve_longhand(store, o, "next_available_network", "network")?;
            let container = match ty {
                ObjType::NetworkContainer
                | ObjType::Ipv6NetworkContainer
                | ObjType::Network
                | ObjType::Ipv6Network => store.networks.get(id_of(&object)),
                _ => None,
            }
            .ok_or_else(|| WapiError::NoUniqueContainer {
                arg: Value::Object(o.clone()).to_string(),
                field: "network".into(),
            })?;
            let prefix = params
                .get("cidr")
                .and_then(Value::as_u64)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or_else(invalid)?;
            let exclude: Vec<IpNet> = params
                .get("exclude")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|e| e.as_str().and_then(parse_cidr))
                        .collect()
                })
                .unwrap_or_default();
            let net = next_networks(store, container, prefix, 1, &exclude)?.remove(0);
            if Family::of_net(&net) != family {
                return Err(invalid());
            }
            Ok((net, Some(container.network_view.clone())))
        }
        _ => Err(invalid()),
    }
}

/// `<container cidr>,<view>,<prefix>`, `<container cidr>,<prefix>` or `<container ref>,<prefix>`.
fn resolve_container_shorthand<'s>(store: &'s Store, arg: &str) -> WapiResult<(&'s Network, u8)> {
    let no_match = || WapiError::NoUniqueContainer {
        arg: arg.into(),
        field: "network".into(),
    };
    let parts: Vec<&str> = arg.split(',').map(str::trim).collect();
    let (what, view, prefix) = match parts.as_slice() {
        [w, p] => (*w, "default", *p),
        [w, v, p] => (*w, if v.is_empty() { "default" } else { *v }, *p),
        _ => return Err(no_match()),
    };
    let prefix: u8 = prefix
        .trim_start_matches('/')
        .parse()
        .map_err(|_| no_match())?;
    let container = if let (ty, Some(id)) = split_target(what)
        && ObjType::parse(ty).is_some()
    {
        store.networks.get(id).filter(|n| n.container)
    } else {
        let net = parse_cidr(what).ok_or_else(no_match)?;
        let found: Vec<&Network> = store
            .networks
            .values()
            .filter(|n| n.container && n.network_view == view && n.net == net)
            .collect();
        match found.as_slice() {
            [n] => Some(*n),
            _ => None,
        }
    };
    Ok((container.ok_or_else(no_match)?, prefix))
}

/// The lowest `num` free subnets of `prefix` length in a container, avoiding every network
/// and container already inside it and the `exclude` list.
pub fn next_networks(
    store: &Store,
    container: &Network,
    prefix: u8,
    num: usize,
    exclude: &[IpNet],
) -> WapiResult<Vec<IpNet>> {
    let family = Family::of_net(&container.net);
    let mut taken: Vec<(u128, u128)> = store
        .networks
        .values()
        .filter(|n| n.id != container.id && n.network_view == container.network_view)
        .filter(|n| Family::of_net(&n.net) == family && container.net.contains(&n.net))
        .map(|n| bounds(&n.net))
        .collect();
    taken.extend(exclude.iter().map(bounds));
    let mut out = Vec::with_capacity(num);
    for _ in 0..num {
        match next_subnet(&container.net, prefix, taken.clone()) {
            Some(net) => {
                taken.push(bounds(&net));
                out.push(net);
            }
            None => return Err(WapiError::ContainerFull(num)),
        }
    }
    Ok(out)
}

/// Allocation function arguments shared by `next_available_ip` calls: `num` and `exclude`.
pub fn num_arg(v: Option<u64>) -> WapiResult<usize> {
    match v.unwrap_or(1) {
        n @ 1..=1000 => Ok(n as usize),
        n => Err(WapiError::InvalidValue {
            field: "num".into(),
            value: n.to_string(),
        }),
    }
}

/// An allocation from one network view for an object that lives in another.
pub fn view_mismatch(target_view: &str, object_view: &str) -> WapiError {
    WapiError::ViewMismatch {
        target: target_view.into(),
        object: object_view.into(),
    }
}
