//! `record:host`: the object the operator allocates with. Addresses may be
//! `func:nextavailableip` entries, reserved atomically within the request; DNS-enabled hosts
//! need a parent zone; non-DNS hosts live in a hidden root whose view reads `" "`.

use super::{Meta, ObjType, extattrs, extattrs::Eas, fields::Fields, put_extra, put_opt};
use crate::alloc::{self, AddrSpec};
use crate::config::SimConfig;
use crate::errors::{WapiError, WapiResult};
use crate::ipspace::Family;
use crate::refs::escape;
use crate::state::Store;
use serde_json::{Map, Value};
use std::net::IpAddr;

pub const TAG: &str = "ZG5zLmhvc3Qk";
const ADDR_TAG: &str = "ZG5zLmhvc3RfYWRkcmVzcyQ";

pub const META: Meta = Meta {
    default_fields: &["ipv4addrs", "ipv6addrs", "name", "view"],
    returnable: &[
        "aliases",
        "allow_telnet",
        "comment",
        "configure_for_dns",
        "creation_time",
        "ddns_protected",
        "device_description",
        "device_location",
        "device_type",
        "device_vendor",
        "disable",
        "disable_discovery",
        "dns_name",
        "extattrs",
        "ipv4addrs",
        "ipv6addrs",
        "name",
        "network_view",
        "rrset_order",
        "ttl",
        "use_ttl",
        "view",
        "zone",
    ],
    searchable: &[
        "name",
        "view",
        "zone",
        "network_view",
        "comment",
        "device_description",
        "device_location",
        "device_type",
        "device_vendor",
        "ipv4addr",
        "ipv6addr",
        "mac",
    ],
};

pub const META_V4ADDR: Meta = Meta {
    default_fields: &["configure_for_dhcp", "host", "ipv4addr", "mac"],
    returnable: &[
        "configure_for_dhcp",
        "host",
        "ipv4addr",
        "mac",
        "network_view",
        "use_for_ea_inheritance",
    ],
    searchable: &["ipv4addr", "mac", "network_view"],
};

pub const META_V6ADDR: Meta = Meta {
    default_fields: &["configure_for_dhcp", "duid", "host", "ipv6addr"],
    returnable: &[
        "configure_for_dhcp",
        "duid",
        "host",
        "ipv6addr",
        "network_view",
        "use_for_ea_inheritance",
    ],
    searchable: &["ipv6addr", "duid", "network_view"],
};

const OPAQUE: &[&str] = &[
    "allow_telnet",
    "ddns_protected",
    "device_description",
    "device_location",
    "device_type",
    "device_vendor",
    "disable_discovery",
    "rrset_order",
];

/// Fields a client reads but may never write; `mac`, `ipv4addr`, `ipv6addr` are search-only.
const READ_ONLY: &[&str] = &[
    "zone",
    "dns_name",
    "creation_time",
    "host",
    "mac",
    "ipv4addr",
    "ipv6addr",
];

#[derive(Debug, Clone)]
pub struct HostAddr {
    pub id: String,
    pub ip: IpAddr,
    pub dhcp: bool,
    /// MAC for IPv4 entries, DUID for IPv6 ones.
    pub hw: Option<String>,
    pub ea_inherit: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub id: String,
    pub name: String,
    pub dns: bool,
    /// The DNS view; meaningless (and empty) when `dns` is false.
    pub view: String,
    pub network_view: String,
    pub v4: Vec<HostAddr>,
    pub v6: Vec<HostAddr>,
    pub aliases: Vec<String>,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub ttl: Option<u64>,
    pub use_ttl: bool,
    pub disable: bool,
    pub creation_time: u64,
    pub extra: Map<String, Value>,
}

fn names(family: Family) -> (&'static str, &'static str, &'static str) {
    match family {
        Family::V4 => ("ipv4addrs", "ipv4addr", "mac"),
        Family::V6 => ("ipv6addrs", "ipv6addr", "duid"),
    }
}

impl Host {
    /// Non-DNS hosts read back with view `" "`, which makes refs end in `/%20`.
    pub fn view_text(&self) -> &str {
        if self.dns { &self.view } else { " " }
    }

    pub fn reference(&self) -> String {
        format!(
            "record:host/{}:{}/{}",
            self.id,
            escape(&self.name),
            escape(self.view_text())
        )
    }

    fn addrs(&self, family: Family) -> &Vec<HostAddr> {
        match family {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn addrs_mut(&mut self, family: Family) -> &mut Vec<HostAddr> {
        match family {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    fn render_addr(&self, a: &HostAddr) -> Map<String, Value> {
        let family = Family::of(&a.ip);
        let (_, ip_field, hw_field) = names(family);
        let kind = if family == Family::V4 {
            "ipv4addr"
        } else {
            "ipv6addr"
        };
        let mut m = Map::new();
        let r = format!(
            "record:host_{kind}/{}:{}/{}/{}",
            a.id,
            escape(&a.ip.to_string()),
            escape(&self.name),
            escape(self.view_text())
        );
        m.insert("_ref".into(), r.into());
        m.insert("configure_for_dhcp".into(), a.dhcp.into());
        put_opt(&mut m, hw_field, &a.hw);
        m.insert("host".into(), self.name.clone().into());
        m.insert(ip_field.into(), a.ip.to_string().into());
        if let Some(b) = a.ea_inherit {
            m.insert("use_for_ea_inheritance".into(), b.into());
        }
        m
    }

    pub fn render(&self, store: &Store) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        if !self.aliases.is_empty() {
            m.insert("aliases".into(), self.aliases.clone().into());
        }
        put_opt(&mut m, "comment", &self.comment);
        m.insert("configure_for_dns".into(), self.dns.into());
        m.insert("creation_time".into(), self.creation_time.into());
        m.insert("disable".into(), self.disable.into());
        m.insert("dns_name".into(), self.name.clone().into());
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        for family in [Family::V4, Family::V6] {
            let list = self.addrs(family);
            if !list.is_empty() {
                let rendered = list
                    .iter()
                    .map(|a| Value::Object(self.render_addr(a)))
                    .collect();
                m.insert(names(family).0.into(), Value::Array(rendered));
            }
        }
        m.insert("name".into(), self.name.clone().into());
        m.insert("network_view".into(), self.network_view.clone().into());
        if let Some(ttl) = self.ttl {
            m.insert("ttl".into(), ttl.into());
        }
        m.insert("use_ttl".into(), self.use_ttl.into());
        m.insert("view".into(), self.view_text().into());
        if self.dns
            && let Some(z) = store.zone_for(&self.view, &self.name)
        {
            m.insert("zone".into(), z.fqdn.clone().into());
        }
        put_extra(&mut m, &self.extra);
        m
    }
}

/// One address entry of a body, before its address is known.
struct Entry {
    spec: AddrSpec,
    dhcp: bool,
    hw: Option<String>,
    ea_inherit: Option<bool>,
}

fn read_entries(
    store: &Store,
    v: Value,
    family: Family,
    list_field: &str,
) -> WapiResult<Vec<Entry>> {
    let (_, ip_field, hw_field) = names(family);
    let Value::Array(items) = v else {
        return Err(WapiError::InvalidValue {
            field: list_field.into(),
            value: v.to_string(),
        });
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(map) = item else {
                return Err(WapiError::InvalidValue {
                    field: list_field.into(),
                    value: item.to_string(),
                });
            };
            let mut ef = Fields::new(map);
            ef.forbid(&["host"])?;
            let raw = ef
                .take(ip_field)
                .ok_or_else(|| WapiError::MissingField(ip_field.into()))?;
            let dhcp = ef.boolean("configure_for_dhcp")?.unwrap_or(false);
            let hw = ef.nonempty_string(hw_field)?;
            let ea_inherit = ef.boolean("use_for_ea_inheritance")?;
            ef.finish(&[], &mut Map::new())?;
            if dhcp && hw.is_none() {
                return Err(WapiError::MissingField(hw_field.into()));
            }
            let spec = alloc::parse_addr(store, &raw, family, ip_field)?;
            Ok(Entry {
                spec,
                dhcp,
                hw,
                ea_inherit,
            })
        })
        .collect()
}

/// Gives every entry its address. Literal addresses are claimed first, so a function never
/// hands out an address that the same body lists explicitly further down.
fn resolve_entries(
    store: &Store,
    cfg: &SimConfig,
    network_view: &str,
    entries: Vec<Entry>,
    pending: &mut Vec<IpAddr>,
) -> WapiResult<Vec<(IpAddr, Entry)>> {
    for e in &entries {
        if let AddrSpec::Literal(ip) = e.spec {
            pending.push(ip);
        }
    }
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let ip = match &e.spec {
            AddrSpec::Literal(ip) => *ip,
            AddrSpec::Next { target, exclude } => {
                if target.netview != network_view {
                    return Err(alloc::view_mismatch(&target.netview, network_view));
                }
                let ip = alloc::next_ips(store, cfg, target, 1, exclude, pending)?[0];
                pending.push(ip);
                ip
            }
        };
        out.push((ip, e));
    }
    Ok(out)
}

/// Entries keep their id when their address is unchanged, so their `_ref` stays stable.
fn assign_ids(
    store: &mut Store,
    resolved: Vec<(IpAddr, Entry)>,
    keep: &[HostAddr],
) -> Vec<HostAddr> {
    resolved
        .into_iter()
        .map(|(ip, e)| HostAddr {
            id: keep
                .iter()
                .find(|a| a.ip == ip)
                .map(|a| a.id.clone())
                .unwrap_or_else(|| store.new_id(ADDR_TAG)),
            ip,
            dhcp: e.dhcp,
            hw: e.hw,
            ea_inherit: e.ea_inherit,
        })
        .collect()
}

fn validate(store: &Store, cfg: &SimConfig, h: &Host) -> WapiResult<()> {
    if store.netview(&h.network_view).is_none() {
        return Err(WapiError::NetworkViewNotFound(h.network_view.clone()));
    }
    let others = || store.hosts.values().filter(|o| o.id != h.id);
    if h.dns {
        if store.view(&h.view).is_none() {
            return Err(WapiError::ViewNotFound(h.view.clone()));
        }
        if store.zone_for(&h.view, &h.name).is_none() {
            return Err(WapiError::NoParentZone);
        }
        if others().any(|o| o.dns && o.view == h.view && o.name.eq_ignore_ascii_case(&h.name)) {
            return Err(WapiError::Duplicate(h.name.clone()));
        }
    } else if !cfg.allow_duplicate_non_dns_hosts
        && others().any(|o| {
            !o.dns && o.network_view == h.network_view && o.name.eq_ignore_ascii_case(&h.name)
        })
    {
        return Err(WapiError::Duplicate(h.name.clone()));
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Clients that do not use a TTL send `ttl: 0` with `use_ttl: false`; that means "unset".
fn normalise_ttl(h: &mut Host) {
    if h.ttl == Some(0) && !h.use_ttl {
        h.ttl = None;
    }
}

pub fn create(store: &mut Store, cfg: &SimConfig, mut f: Fields) -> WapiResult<String> {
    f.forbid(READ_ONLY)?;
    f.take("restart_if_needed");
    let name = f.required_string("name")?;
    let dns = f.boolean("configure_for_dns")?.unwrap_or(true);
    let view_given = f
        .string("view")?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let netview_given = f.nonempty_string("network_view")?;
    let v4 = match f.take("ipv4addrs") {
        Some(v) => read_entries(store, v, Family::V4, "ipv4addrs")?,
        None => Vec::new(),
    };
    let v6 = match f.take("ipv6addrs") {
        Some(v) => read_entries(store, v, Family::V6, "ipv6addrs")?,
        None => Vec::new(),
    };
    let aliases = f.strings("aliases")?.unwrap_or_default();
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    let ttl = f.uint("ttl")?;
    let use_ttl = f.boolean("use_ttl")?.unwrap_or(false);
    let disable = f.boolean("disable")?.unwrap_or(false);
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;

    let view = if dns {
        view_given.unwrap_or_else(|| "default".into())
    } else {
        String::new()
    };
    // Without an explicit network view a host takes its DNS view's, or that of the network
    // its first address is allocated from, or `default`.
    let network_view = match netview_given {
        Some(nv) => nv,
        None if dns => store
            .view(&view)
            .map(|v| v.network_view.clone())
            .ok_or_else(|| WapiError::ViewNotFound(view.clone()))?,
        None => v4
            .iter()
            .chain(&v6)
            .find_map(|e| match &e.spec {
                AddrSpec::Next { target, .. } => Some(target.netview.clone()),
                AddrSpec::Literal(_) => None,
            })
            .unwrap_or_else(|| "default".into()),
    };
    let mut h = Host {
        id: String::new(),
        name,
        dns,
        view,
        network_view,
        v4: Vec::new(),
        v6: Vec::new(),
        aliases,
        comment,
        extattrs,
        ttl,
        use_ttl,
        disable,
        creation_time: now(),
        extra,
    };
    normalise_ttl(&mut h);
    validate(store, cfg, &h)?;
    let mut pending = Vec::new();
    let r4 = resolve_entries(store, cfg, &h.network_view, v4, &mut pending)?;
    let r6 = resolve_entries(store, cfg, &h.network_view, v6, &mut pending)?;
    h.id = store.new_id(TAG);
    h.v4 = assign_ids(store, r4, &[]);
    h.v6 = assign_ids(store, r6, &[]);
    let id = h.id.clone();
    store.hosts.insert(id.clone(), h);
    Ok(id)
}

/// `ipv4addrs` replaces the list (entries matched by address), `ipv4addrs+` appends and
/// `ipv4addrs-` removes by address; the same for IPv6.
fn update_addrs(
    store: &mut Store,
    cfg: &SimConfig,
    f: &mut Fields,
    family: Family,
    h: &mut Host,
    pending: &mut Vec<IpAddr>,
) -> WapiResult<()> {
    let (list, _, _) = names(family);
    if let Some(v) = f.take(list) {
        let entries = read_entries(store, v, family, list)?;
        let resolved = resolve_entries(store, cfg, &h.network_view, entries, pending)?;
        let current = h.addrs(family).clone();
        *h.addrs_mut(family) = assign_ids(store, resolved, &current);
    }
    let plus = format!("{list}+");
    if let Some(v) = f.take(&plus) {
        let entries = read_entries(store, v, family, &plus)?;
        let resolved = resolve_entries(store, cfg, &h.network_view, entries, pending)?;
        let added = assign_ids(store, resolved, &[]);
        h.addrs_mut(family).extend(added);
    }
    let minus = format!("{list}-");
    if let Some(v) = f.take(&minus) {
        for e in read_entries(store, v, family, &minus)? {
            let AddrSpec::Literal(ip) = e.spec else {
                return Err(WapiError::InvalidValue {
                    field: minus.clone(),
                    value: "func:nextavailableip".into(),
                });
            };
            h.addrs_mut(family).retain(|a| a.ip != ip);
        }
    }
    Ok(())
}

pub fn update(store: &mut Store, cfg: &SimConfig, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(READ_ONLY)?;
    f.forbid(&["network_view"])?;
    f.take("restart_if_needed");
    let mut h = store.hosts[id].clone();
    if let Some(name) = f.nonempty_string("name")? {
        h.name = name;
    }
    if let Some(dns) = f.boolean("configure_for_dns")? {
        h.dns = dns;
    }
    // A non-DNS host read back with `view: " "` sends that view again; it means "no view".
    if let Some(view) = f.string("view")?.map(|v| v.trim().to_string())
        && !view.is_empty()
    {
        h.view = view;
    }
    if h.dns && h.view.is_empty() {
        h.view = "default".into();
    }
    if f.has("aliases") {
        h.aliases = f.strings("aliases")?.unwrap_or_default();
    }
    f.update_string("comment", &mut h.comment)?;
    extattrs::apply_update(store, &mut f, &mut h.extattrs)?;
    if f.has("ttl") {
        h.ttl = f.uint("ttl")?;
    }
    if let Some(u) = f.boolean("use_ttl")? {
        h.use_ttl = u;
    }
    if let Some(d) = f.boolean("disable")? {
        h.disable = d;
    }
    let mut pending = Vec::new();
    update_addrs(store, cfg, &mut f, Family::V4, &mut h, &mut pending)?;
    update_addrs(store, cfg, &mut f, Family::V6, &mut h, &mut pending)?;
    f.finish(OPAQUE, &mut h.extra)?;
    normalise_ttl(&mut h);
    validate(store, cfg, &h)?;
    store.hosts.insert(id.to_string(), h);
    Ok(())
}

fn addr_family(ty: ObjType) -> Family {
    if ty == ObjType::HostIpv4Addr {
        Family::V4
    } else {
        Family::V6
    }
}

fn render_sub(h: &Host, a: &HostAddr) -> Map<String, Value> {
    let mut m = h.render_addr(a);
    m.insert("network_view".into(), h.network_view.clone().into());
    m
}

/// `record:host_ipv4addr` / `record:host_ipv6addr`: the address entries as objects of their own.
pub fn list_addrs(store: &Store, ty: ObjType) -> Vec<Map<String, Value>> {
    let family = addr_family(ty);
    store
        .hosts
        .values()
        .flat_map(|h| h.addrs(family).iter().map(move |a| render_sub(h, a)))
        .collect()
}

pub fn get_addr(store: &Store, ty: ObjType, id: &str) -> Option<Map<String, Value>> {
    let family = addr_family(ty);
    store.hosts.values().find_map(|h| {
        h.addrs(family)
            .iter()
            .find(|a| a.id == id)
            .map(|a| render_sub(h, a))
    })
}
