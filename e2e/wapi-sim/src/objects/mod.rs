//! The WAPI object types the simulator serves, their field tables, and one dispatch point per
//! operation. Each object renders to a full JSON map; searching and `_return_fields` work on
//! that map generically (see `search.rs`), so an object module only says what its fields are.

pub mod eadef;
pub mod extattrs;
pub mod fields;
pub mod fixed;
pub mod host;
pub mod network;
pub mod networkview;
pub mod range;
pub mod view;
pub mod zone;

use crate::config::SimConfig;
use crate::errors::{WapiError, WapiResult};
use crate::state::Store;
use fields::Fields;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjType {
    NetworkView,
    View,
    ZoneAuth,
    Network,
    Ipv6Network,
    NetworkContainer,
    Ipv6NetworkContainer,
    Range,
    Host,
    HostIpv4Addr,
    HostIpv6Addr,
    FixedAddress,
    Ipv6FixedAddress,
    EaDef,
}

/// What a client may ask of an object type.
pub struct Meta {
    /// Returned when the request names no `_return_fields`.
    pub default_fields: &'static [&'static str],
    /// Everything `_return_fields` may name; unset ones are simply omitted.
    pub returnable: &'static [&'static str],
    pub searchable: &'static [&'static str],
}

impl ObjType {
    pub const ALL: [ObjType; 14] = [
        ObjType::NetworkView,
        ObjType::View,
        ObjType::ZoneAuth,
        ObjType::Network,
        ObjType::Ipv6Network,
        ObjType::NetworkContainer,
        ObjType::Ipv6NetworkContainer,
        ObjType::Range,
        ObjType::Host,
        ObjType::HostIpv4Addr,
        ObjType::HostIpv6Addr,
        ObjType::FixedAddress,
        ObjType::Ipv6FixedAddress,
        ObjType::EaDef,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ObjType::NetworkView => "networkview",
            ObjType::View => "view",
            ObjType::ZoneAuth => "zone_auth",
            ObjType::Network => "network",
            ObjType::Ipv6Network => "ipv6network",
            ObjType::NetworkContainer => "networkcontainer",
            ObjType::Ipv6NetworkContainer => "ipv6networkcontainer",
            ObjType::Range => "range",
            ObjType::Host => "record:host",
            ObjType::HostIpv4Addr => "record:host_ipv4addr",
            ObjType::HostIpv6Addr => "record:host_ipv6addr",
            ObjType::FixedAddress => "fixedaddress",
            ObjType::Ipv6FixedAddress => "ipv6fixedaddress",
            ObjType::EaDef => "extensibleattributedef",
        }
    }

    pub fn parse(s: &str) -> Option<ObjType> {
        ObjType::ALL.into_iter().find(|t| t.name() == s)
    }

    pub fn meta(self) -> &'static Meta {
        match self {
            ObjType::NetworkView => &networkview::META,
            ObjType::View => &view::META,
            ObjType::ZoneAuth => &zone::META,
            ObjType::Network => &network::META_V4,
            ObjType::Ipv6Network => &network::META_V6,
            ObjType::NetworkContainer | ObjType::Ipv6NetworkContainer => &network::META_CONTAINER,
            ObjType::Range => &range::META,
            ObjType::Host => &host::META,
            ObjType::HostIpv4Addr => &host::META_V4ADDR,
            ObjType::HostIpv6Addr => &host::META_V6ADDR,
            ObjType::FixedAddress => &fixed::META_V4,
            ObjType::Ipv6FixedAddress => &fixed::META_V6,
            ObjType::EaDef => &eadef::META,
        }
    }
}

/// Every object of a type, fully rendered, in creation order.
pub fn list(store: &Store, ty: ObjType) -> Vec<Map<String, Value>> {
    match ty {
        ObjType::NetworkView => store.netviews.values().map(|o| o.render(store)).collect(),
        ObjType::View => store.views.values().map(|o| o.render()).collect(),
        ObjType::ZoneAuth => store.zones.values().map(|o| o.render()).collect(),
        ObjType::Network
        | ObjType::Ipv6Network
        | ObjType::NetworkContainer
        | ObjType::Ipv6NetworkContainer => store
            .networks
            .values()
            .filter(|n| n.obj_type() == ty)
            .map(|n| n.render(store))
            .collect(),
        ObjType::Range => store.ranges.values().map(|o| o.render(store)).collect(),
        ObjType::Host => store.hosts.values().map(|o| o.render(store)).collect(),
        ObjType::HostIpv4Addr | ObjType::HostIpv6Addr => host::list_addrs(store, ty),
        ObjType::FixedAddress | ObjType::Ipv6FixedAddress => store
            .fixed
            .values()
            .filter(|f| f.obj_type() == ty)
            .map(|f| f.render(store))
            .collect(),
        ObjType::EaDef => store.eadefs.values().map(|o| o.render()).collect(),
    }
}

pub fn get(store: &Store, ty: ObjType, id: &str) -> Option<Map<String, Value>> {
    match ty {
        ObjType::NetworkView => store.netviews.get(id).map(|o| o.render(store)),
        ObjType::View => store.views.get(id).map(|o| o.render()),
        ObjType::ZoneAuth => store.zones.get(id).map(|o| o.render()),
        ObjType::Network
        | ObjType::Ipv6Network
        | ObjType::NetworkContainer
        | ObjType::Ipv6NetworkContainer => store
            .networks
            .get(id)
            .filter(|n| n.obj_type() == ty)
            .map(|n| n.render(store)),
        ObjType::Range => store.ranges.get(id).map(|o| o.render(store)),
        ObjType::Host => store.hosts.get(id).map(|o| o.render(store)),
        ObjType::HostIpv4Addr | ObjType::HostIpv6Addr => host::get_addr(store, ty, id),
        ObjType::FixedAddress | ObjType::Ipv6FixedAddress => store
            .fixed
            .get(id)
            .filter(|f| f.obj_type() == ty)
            .map(|f| f.render(store)),
        ObjType::EaDef => store.eadefs.get(id).map(|o| o.render()),
    }
}

fn read_only_type(ty: ObjType, method: &str) -> WapiError {
    WapiError::BadMethod {
        method: method.into(),
        target: ty.name().into(),
    }
}

/// Creates an object and returns its id.
pub fn create(store: &mut Store, cfg: &SimConfig, ty: ObjType, f: Fields) -> WapiResult<String> {
    match ty {
        ObjType::NetworkView => networkview::create(store, f),
        ObjType::View => view::create(store, f),
        ObjType::ZoneAuth => zone::create(store, f),
        ObjType::Network
        | ObjType::Ipv6Network
        | ObjType::NetworkContainer
        | ObjType::Ipv6NetworkContainer => network::create(store, ty, f),
        ObjType::Range => range::create(store, f),
        ObjType::Host => host::create(store, cfg, f),
        ObjType::FixedAddress | ObjType::Ipv6FixedAddress => fixed::create(store, cfg, ty, f),
        ObjType::EaDef => eadef::create(store, f),
        ObjType::HostIpv4Addr | ObjType::HostIpv6Addr => Err(read_only_type(ty, "POST")),
    }
}

/// Updates an object the caller has checked exists; returns its id.
pub fn update(
    store: &mut Store,
    cfg: &SimConfig,
    ty: ObjType,
    id: &str,
    f: Fields,
) -> WapiResult<()> {
    match ty {
        ObjType::NetworkView => networkview::update(store, id, f),
        ObjType::View => view::update(store, id, f),
        ObjType::ZoneAuth => zone::update(store, id, f),
        ObjType::Network
        | ObjType::Ipv6Network
        | ObjType::NetworkContainer
        | ObjType::Ipv6NetworkContainer => network::update(store, id, f),
        ObjType::Range => range::update(store, id, f),
        ObjType::Host => host::update(store, cfg, id, f),
        ObjType::FixedAddress | ObjType::Ipv6FixedAddress => fixed::update(store, cfg, id, f),
        ObjType::EaDef => eadef::update(store, id, f),
        ObjType::HostIpv4Addr | ObjType::HostIpv6Addr => Err(read_only_type(ty, "PUT")),
    }
}

/// Deletes an object the caller has checked exists, with whatever NIOS deletes alongside.
pub fn delete(store: &mut Store, ty: ObjType, id: &str) -> WapiResult<()> {
    match ty {
        ObjType::NetworkView => networkview::delete(store, id),
        ObjType::View => view::delete(store, id),
        ObjType::ZoneAuth => zone::delete(store, id),
        ObjType::Network
        | ObjType::Ipv6Network
        | ObjType::NetworkContainer
        | ObjType::Ipv6NetworkContainer => network::delete(store, id),
        ObjType::Range => {
            store.ranges.remove(id);
            Ok(())
        }
        ObjType::Host => {
            store.hosts.remove(id);
            Ok(())
        }
        ObjType::FixedAddress | ObjType::Ipv6FixedAddress => {
            store.fixed.remove(id);
            Ok(())
        }
        ObjType::EaDef => {
            store.eadefs.remove(id);
            Ok(())
        }
        ObjType::HostIpv4Addr | ObjType::HostIpv6Addr => Err(read_only_type(ty, "DELETE")),
    }
}

/// `POST <ref>?_function=<name>` on an object the caller has checked exists.
pub fn call(
    store: &Store,
    cfg: &SimConfig,
    ty: ObjType,
    id: &str,
    func: &str,
    args: Fields,
) -> WapiResult<Value> {
    match (ty, func) {
        (ObjType::Network | ObjType::Ipv6Network, "next_available_ip") => {
            network::next_available_ip(store, cfg, id, args)
        }
        (ObjType::Range, "next_available_ip") => range::next_available_ip(store, cfg, id, args),
        (
            ObjType::NetworkContainer
            | ObjType::Ipv6NetworkContainer
            | ObjType::Network
            | ObjType::Ipv6Network,
            "next_available_network",
        ) => network::next_available_network(store, id, args),
        _ => Err(WapiError::UnknownFunction {
            func: func.into(),
            object: ty.name().into(),
        }),
    }
}

/// Inserts an optional string only when set, so unset fields stay omitted on read.
pub fn put_opt(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.into(), Value::String(v.clone()));
    }
}

/// Adds pass-through fields a client stored, without letting them shadow real ones.
pub fn put_extra(m: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
}
