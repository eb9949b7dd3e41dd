//! `fixedaddress` / `ipv6fixedaddress`: a DHCP reservation, the operator's optional
//! alternative to host records. Its address may be a `func:nextavailableip`.

use super::{
    Meta, ObjType, extattrs, extattrs::Eas, fields::Fields, network::Network, put_extra, put_opt,
};
use crate::alloc::{self, AddrSpec};
use crate::config::SimConfig;
use crate::errors::{WapiError, WapiResult};
use crate::ipspace::{Family, parse_cidr};
use crate::refs::escape;
use crate::state::Store;
use serde_json::{Map, Value};
use std::net::IpAddr;

pub const TAG: &str = "ZG5zLmZpeGVkX2FkZHJlc3Mk";

pub const META_V4: Meta = Meta {
    default_fields: &["ipv4addr", "network_view"],
    returnable: &[
        "comment",
        "device_description",
        "device_location",
        "device_type",
        "device_vendor",
        "disable",
        "extattrs",
        "ipv4addr",
        "mac",
        "match_client",
        "name",
        "network",
        "network_view",
        "options",
        "use_options",
    ],
    searchable: &[
        "ipv4addr",
        "mac",
        "network",
        "network_view",
        "comment",
        "name",
    ],
};

pub const META_V6: Meta = Meta {
    default_fields: &["duid", "ipv6addr", "network_view"],
    returnable: &[
        "comment",
        "device_description",
        "device_location",
        "device_type",
        "device_vendor",
        "disable",
        "duid",
        "extattrs",
        "ipv6addr",
        "name",
        "network",
        "network_view",
        "options",
        "use_options",
    ],
    searchable: &[
        "ipv6addr",
        "duid",
        "network",
        "network_view",
        "comment",
        "name",
    ],
};

const OPAQUE: &[&str] = &[
    "device_description",
    "device_location",
    "device_type",
    "device_vendor",
    "disable",
    "match_client",
    "options",
    "use_options",
];

#[derive(Debug, Clone)]
pub struct FixedAddress {
    pub id: String,
    pub ip: IpAddr,
    /// The MAC (IPv4) or DUID (IPv6).
    pub hw: Option<String>,
    pub network_view: String,
    pub name: Option<String>,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub extra: Map<String, Value>,
}

fn field_names(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::V4 => ("ipv4addr", "mac"),
        Family::V6 => ("ipv6addr", "duid"),
    }
}

impl FixedAddress {
    pub fn family(&self) -> Family {
        Family::of(&self.ip)
    }

    pub fn obj_type(&self) -> ObjType {
        match self.family() {
            Family::V4 => ObjType::FixedAddress,
            Family::V6 => ObjType::Ipv6FixedAddress,
        }
    }

    pub fn reference(&self) -> String {
        format!(
            "{}/{}:{}/{}",
            self.obj_type().name(),
            self.id,
            escape(&self.ip.to_string()),
            escape(&self.network_view)
        )
    }

    pub fn network<'s>(&self, store: &'s Store) -> Option<&'s Network> {
        store.networks.values().find(|n| {
            !n.container && n.network_view == self.network_view && n.net.contains(&self.ip)
        })
    }

    pub fn render(&self, store: &Store) -> Map<String, Value> {
        let (addr, hw) = field_names(self.family());
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        put_opt(&mut m, "comment", &self.comment);
        put_opt(&mut m, hw, &self.hw);
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        m.insert(addr.into(), self.ip.to_string().into());
        put_opt(&mut m, "name", &self.name);
        if let Some(n) = self.network(store) {
            m.insert("network".into(), n.net.to_string().into());
        }
        m.insert("network_view".into(), self.network_view.clone().into());
        put_extra(&mut m, &self.extra);
        m
    }
}

/// Turns an address spec into an address in `view`, allocating when asked to.
fn resolve(store: &Store, cfg: &SimConfig, spec: AddrSpec, view: &str) -> WapiResult<IpAddr> {
    match spec {
        AddrSpec::Literal(ip) => Ok(ip),
        AddrSpec::Next { target, exclude } => {
            if target.netview != view {
                return Err(alloc::view_mismatch(&target.netview, view));
            }
            Ok(alloc::next_ips(store, cfg, &target, 1, &exclude, &[])?[0])
        }
    }
}

fn check_unique(store: &Store, ip: IpAddr, view: &str, except: &str) -> WapiResult<()> {
    if store
        .fixed
        .values()
        .any(|f| f.id != except && f.ip == ip && f.network_view == view)
    {
        return Err(WapiError::Duplicate(ip.to_string()));
    }
    Ok(())
}

/// A `network` given with the address must be the leaf network that holds it.
fn check_network(store: &Store, given: Option<&str>, ip: IpAddr, view: &str) -> WapiResult<()> {
    let Some(given) = given else { return Ok(()) };
    let holds = parse_cidr(given).is_some_and(|net| {
        net.contains(&ip)
            && store
                .networks
                .values()
                .any(|n| !n.container && n.network_view == view && n.net == net)
    });
    if holds {
        Ok(())
    } else {
        Err(WapiError::InvalidValue {
            field: "network".into(),
            value: given.into(),
        })
    }
}

pub fn create(
    store: &mut Store,
    cfg: &SimConfig,
    ty: ObjType,
    mut f: Fields,
) -> WapiResult<String> {
    let family = if ty == ObjType::FixedAddress {
        Family::V4
    } else {
        Family::V6
    };
    let (addr_field, hw_field) = field_names(family);
    // The Go client names the network alongside the address; it must be the one around it.
    let network = f.nonempty_string("network")?;
    let given_view = f.nonempty_string("network_view")?;
    let raw = f
        .take(addr_field)
        .ok_or_else(|| WapiError::MissingField(addr_field.into()))?;
    let hw = f.nonempty_string(hw_field)?;
    let name = f.nonempty_string("name")?;
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;
    // A reservation matches its client by MAC unless `match_client` says otherwise.
    let by_hw = family == Family::V6
        || extra
            .get("match_client")
            .and_then(Value::as_str)
            .is_none_or(|m| m == "MAC_ADDRESS");
    if by_hw && hw.is_none() {
        return Err(WapiError::MissingField(hw_field.into()));
    }
    let spec = alloc::parse_addr(store, &raw, family, addr_field)?;
    let view = match (&given_view, &spec) {
        (Some(v), _) => v.clone(),
        (None, AddrSpec::Next { target, .. }) => target.netview.clone(),
        (None, AddrSpec::Literal(_)) => "default".into(),
    };
    if store.netview(&view).is_none() {
        return Err(WapiError::NetworkViewNotFound(view));
    }
    let ip = resolve(store, cfg, spec, &view)?;
    check_network(store, network.as_deref(), ip, &view)?;
    check_unique(store, ip, &view, "")?;
    let id = store.new_id(TAG);
    store.fixed.insert(
        id.clone(),
        FixedAddress {
            id: id.clone(),
            ip,
            hw,
            network_view: view,
            name,
            comment,
            extattrs,
            extra,
        },
    );
    Ok(id)
}

pub fn update(store: &mut Store, cfg: &SimConfig, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(&["network_view"])?;
    let mut fa = store.fixed[id].clone();
    let network = f.nonempty_string("network")?;
    let (addr_field, hw_field) = field_names(fa.family());
    if let Some(raw) = f.take(addr_field) {
        let spec = alloc::parse_addr(store, &raw, fa.family(), addr_field)?;
        fa.ip = resolve(store, cfg, spec, &fa.network_view)?;
    }
    f.update_string(hw_field, &mut fa.hw)?;
    f.update_string("name", &mut fa.name)?;
    f.update_string("comment", &mut fa.comment)?;
    extattrs::apply_update(store, &mut f, &mut fa.extattrs)?;
    f.finish(OPAQUE, &mut fa.extra)?;
    check_network(store, network.as_deref(), fa.ip, &fa.network_view)?;
    check_unique(store, fa.ip, &fa.network_view, id)?;
    store.fixed.insert(id.to_string(), fa);
    Ok(())
}
