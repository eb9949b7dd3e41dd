//! `network`, `ipv6network` and their containers. One table: creating a network inside a leaf
//! network turns that leaf into a container, as NIOS does.

use super::{Meta, ObjType, extattrs, extattrs::Eas, fields::Fields, put_extra, put_opt};
use crate::alloc::{self, Target};
use crate::config::SimConfig;
use crate::errors::{WapiError, WapiResult};
use crate::ipspace::{Family, parse_cidr, parse_ip};
use crate::refs::escape;
use crate::state::Store;
use ipnet::IpNet;
use serde_json::{Map, Value, json};

pub const TAG: &str = "ZG5zLm5ldHdvcmsk";

const RETURNABLE: &[&str] = &[
    "authority",
    "auto_create_reversezone",
    "comment",
    "ddns_domainname",
    "disable",
    "enable_ddns",
    "extattrs",
    "members",
    "network",
    "network_container",
    "network_view",
    "options",
    "unmanaged",
    "use_options",
];

const OPAQUE: &[&str] = &[
    "authority",
    "auto_create_reversezone",
    "ddns_domainname",
    "disable",
    "enable_ddns",
    "members",
    "options",
    "unmanaged",
    "use_options",
];

const DEFAULTS: &[&str] = &["comment", "network", "network_view"];

pub const META_V4: Meta = Meta {
    default_fields: DEFAULTS,
    returnable: RETURNABLE,
    searchable: &[
        "network",
        "network_view",
        "network_container",
        "comment",
        "ipv4addr",
        "unmanaged",
    ],
};

pub const META_V6: Meta = Meta {
    default_fields: DEFAULTS,
    returnable: RETURNABLE,
    searchable: &[
        "network",
        "network_view",
        "network_container",
        "comment",
        "unmanaged",
    ],
};

pub const META_CONTAINER: Meta = Meta {
    default_fields: DEFAULTS,
    returnable: RETURNABLE,
    searchable: &["network", "network_view", "network_container", "comment"],
};

#[derive(Debug, Clone)]
pub struct Network {
    pub id: String,
    pub net: IpNet,
    pub network_view: String,
    pub container: bool,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub extra: Map<String, Value>,
}

impl Network {
    pub fn family(&self) -> Family {
        Family::of_net(&self.net)
    }

    pub fn obj_type(&self) -> ObjType {
        match (self.family(), self.container) {
            (Family::V4, false) => ObjType::Network,
            (Family::V6, false) => ObjType::Ipv6Network,
            (Family::V4, true) => ObjType::NetworkContainer,
            (Family::V6, true) => ObjType::Ipv6NetworkContainer,
        }
    }

    /// IPv4 refs carry the CIDR unescaped (the Go client matches them with a regex);
    /// IPv6 refs escape the colons and put the prefix length in its own element.
    pub fn reference(&self) -> String {
        let ty = self.obj_type().name();
        let view = escape(&self.network_view);
        match self.family() {
            Family::V4 => format!("{ty}/{}:{}/{view}", self.id, self.net),
            Family::V6 => format!(
                "{ty}/{}:{}/{}/{view}",
                self.id,
                escape(&self.net.network().to_string()),
                self.net.prefix_len()
            ),
        }
    }

    /// The smallest container strictly around this network.
    pub fn parent<'s>(&self, store: &'s Store) -> Option<&'s Network> {
        store
            .networks
            .values()
            .filter(|n| n.container && n.network_view == self.network_view)
            .filter(|n| n.net != self.net && n.net.contains(&self.net))
            .max_by_key(|n| n.net.prefix_len())
    }

    pub fn render(&self, store: &Store) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        put_opt(&mut m, "comment", &self.comment);
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        m.insert("network".into(), self.net.to_string().into());
        let parent = self
            .parent(store)
            .map_or("/".to_string(), |p| p.net.to_string());
        m.insert("network_container".into(), parent.into());
        m.insert("network_view".into(), self.network_view.clone().into());
        put_extra(&mut m, &self.extra);
        m
    }
}

pub fn create(store: &mut Store, ty: ObjType, mut f: Fields) -> WapiResult<String> {
    let container = matches!(
        ty,
        ObjType::NetworkContainer | ObjType::Ipv6NetworkContainer
    );
    let family = match ty {
        ObjType::Network | ObjType::NetworkContainer => Family::V4,
        _ => Family::V6,
    };
    f.forbid(&["network_container"])?;
    let given_view = f.nonempty_string("network_view")?;
    let raw = f
        .take("network")
        .ok_or_else(|| WapiError::MissingField("network".into()))?;
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;
    let (net, carved_from) = alloc::parse_network(store, &raw, family)?;
    let view = match (given_view, carved_from) {
        (Some(given), Some(from)) if given != from => {
            return Err(WapiError::NoUniqueContainer {
                arg: raw.as_str().unwrap_or_default().to_string(),
                field: "network".into(),
            });
        }
        (Some(given), _) => given,
        (None, Some(from)) => from,
        (None, None) => "default".to_string(),
    };
    if store.netview(&view).is_none() {
        return Err(WapiError::NetworkViewNotFound(view));
    }
    insert(store, net, view, container, comment, extattrs, extra)
}

fn insert(
    store: &mut Store,
    net: IpNet,
    view: String,
    container: bool,
    comment: Option<String>,
    extattrs: Eas,
    extra: Map<String, Value>,
) -> WapiResult<String> {
    let same_view = |n: &&Network| n.network_view == view;
    if store
        .networks
        .values()
        .filter(same_view)
        .any(|n| n.net == net)
    {
        return Err(WapiError::Duplicate(net.to_string()));
    }
    if !container
        && store
            .networks
            .values()
            .filter(same_view)
            .any(|n| net.contains(&n.net))
    {
        return Err(WapiError::LeafOverNetworks(net.to_string()));
    }
    let parents: Vec<String> = store
        .networks
        .values()
        .filter(same_view)
        .filter(|n| !n.container && n.net.contains(&net))
        .map(|n| n.id.clone())
        .collect();
    for id in parents {
        if let Some(p) = store.networks.get_mut(&id) {
            p.container = true;
        }
    }
    let id = store.new_id(TAG);
    store.networks.insert(
        id.clone(),
        Network {
            id: id.clone(),
            net,
            network_view: view,
            container,
            comment,
            extattrs,
            extra,
        },
    );
    Ok(id)
}

pub fn update(store: &mut Store, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(&["network", "network_view", "network_container"])?;
    let mut n = store.networks[id].clone();
    f.update_string("comment", &mut n.comment)?;
    extattrs::apply_update(store, &mut f, &mut n.extattrs)?;
    f.finish(OPAQUE, &mut n.extra)?;
    store.networks.insert(id.to_string(), n);
    Ok(())
}

/// Deleting a network deletes the ranges and fixed addresses in it; deleting a container
/// deletes every network below it too. Host records are DNS objects and stay.
pub fn delete(store: &mut Store, id: &str) -> WapiResult<()> {
    let n = store.networks[id].clone();
    let inside = |view: &str, ip: &std::net::IpAddr| view == n.network_view && n.net.contains(ip);
    store
        .networks
        .retain(|_, m| !(m.network_view == n.network_view && n.net.contains(&m.net)));
    store
        .ranges
        .retain(|_, r| !inside(&r.network_view, &r.start));
    store.fixed.retain(|_, f| !inside(&f.network_view, &f.ip));
    Ok(())
}

fn exclude_list<T>(args: &mut Fields, parse: impl Fn(&str) -> Option<T>) -> WapiResult<Vec<T>> {
    args.strings("exclude")?
        .unwrap_or_default()
        .iter()
        .map(|s| {
            parse(s).ok_or_else(|| WapiError::InvalidValue {
                field: "exclude".into(),
                value: s.clone(),
            })
        })
        .collect()
}

/// `_function=next_available_ip`: free addresses, not reserved.
pub fn next_available_ip(
    store: &Store,
    cfg: &SimConfig,
    id: &str,
    mut args: Fields,
) -> WapiResult<Value> {
    let num = alloc::num_arg(args.uint("num")?)?;
    let exclude = exclude_list(&mut args, parse_ip)?;
    args.finish(&[], &mut Map::new())?;
    let target = Target::of_network(&store.networks[id]);
    let ips = alloc::next_ips(store, cfg, &target, num, &exclude, &[])?;
    let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
    Ok(json!({ "ips": ips }))
}

/// `_function=next_available_network`: free subnets of length `cidr`, not reserved.
pub fn next_available_network(store: &Store, id: &str, mut args: Fields) -> WapiResult<Value> {
    let prefix = args
        .uint("cidr")?
        .ok_or_else(|| WapiError::MissingField("cidr".into()))?;
    let prefix = u8::try_from(prefix).map_err(|_| WapiError::InvalidValue {
        field: "cidr".into(),
        value: prefix.to_string(),
    })?;
    let num = alloc::num_arg(args.uint("num")?)?;
    let exclude = exclude_list(&mut args, parse_cidr)?;
    args.finish(&[], &mut Map::new())?;
    let nets = alloc::next_networks(store, &store.networks[id], prefix, num, &exclude)?;
    let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
    Ok(json!({ "networks": nets }))
}
