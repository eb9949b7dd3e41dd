//! `range`: an IPv4 DHCP range inside a leaf network. Network allocations skip it; a
//! `func:nextavailableip:<start>-<end>,<view>` allocates from it.

use super::{Meta, extattrs, extattrs::Eas, fields::Fields, network::Network, put_extra, put_opt};
use crate::alloc::{self, Target};
use crate::config::SimConfig;
use crate::errors::{WapiError, WapiResult};
use crate::ipspace::{Family, parse_cidr, parse_ip};
use crate::state::Store;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

pub const TAG: &str = "ZG5zLmRoY3BfcmFuZ2Uk";

pub const META: Meta = Meta {
    default_fields: &[
        "comment",
        "end_addr",
        "network",
        "network_view",
        "start_addr",
    ],
    returnable: &[
        "comment",
        "disable",
        "end_addr",
        "extattrs",
        "member",
        "name",
        "network",
        "network_view",
        "options",
        "server_association_type",
        "start_addr",
    ],
    searchable: &[
        "start_addr",
        "end_addr",
        "network",
        "network_view",
        "comment",
        "name",
    ],
};

const OPAQUE: &[&str] = &["disable", "member", "options", "server_association_type"];

#[derive(Debug, Clone)]
pub struct Range {
    pub id: String,
    pub start: IpAddr,
    pub end: IpAddr,
    pub network_view: String,
    pub name: Option<String>,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub extra: Map<String, Value>,
}

impl Range {
    pub fn reference(&self) -> String {
        format!(
            "range/{}:{}/{}/{}",
            self.id,
            self.start,
            self.end,
            crate::refs::escape(&self.network_view)
        )
    }

    pub fn enclosing_network<'s>(&self, store: &'s Store) -> Option<&'s Network> {
        store.networks.values().find(|n| {
            !n.container
                && n.network_view == self.network_view
                && n.net.contains(&self.start)
                && n.net.contains(&self.end)
        })
    }

    pub fn render(&self, store: &Store) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        put_opt(&mut m, "comment", &self.comment);
        m.insert("end_addr".into(), self.end.to_string().into());
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        put_opt(&mut m, "name", &self.name);
        if let Some(n) = self.enclosing_network(store) {
            m.insert("network".into(), n.net.to_string().into());
        }
        m.insert("network_view".into(), self.network_view.clone().into());
        m.insert("start_addr".into(), self.start.to_string().into());
        put_extra(&mut m, &self.extra);
        m
    }
}

fn v4(f: &mut Fields, k: &str) -> WapiResult<IpAddr> {
    let s = f.required_string(k)?;
    parse_ip(&s)
        .filter(|ip| Family::of(ip) == Family::V4)
        .ok_or(WapiError::InvalidValue {
            field: k.into(),
            value: s,
        })
}

pub fn create(store: &mut Store, mut f: Fields) -> WapiResult<String> {
    let start = v4(&mut f, "start_addr")?;
    let end = v4(&mut f, "end_addr")?;
    let view = f
        .nonempty_string("network_view")?
        .unwrap_or_else(|| "default".into());
    let network = f.nonempty_string("network")?;
    let name = f.nonempty_string("name")?;
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;
    if start > end {
        return Err(WapiError::InvalidValue {
            field: "end_addr".into(),
            value: end.to_string(),
        });
    }
    if store.netview(&view).is_none() {
        return Err(WapiError::NetworkViewNotFound(view));
    }
    let range = Range {
        id: String::new(),
        start,
        end,
        network_view: view,
        name,
        comment,
        extattrs,
        extra,
    };
    let Some(net) = range.enclosing_network(store) else {
        return Err(WapiError::RangeOutsideNetwork {
            range: format!("{start}-{end}"),
            network_view: range.network_view,
        });
    };
    if let Some(given) = network.as_deref()
        && parse_cidr(given) != Some(net.net)
    {
        return Err(WapiError::InvalidValue {
            field: "network".into(),
            value: given.into(),
        });
    }
    if store
        .ranges
        .values()
        .any(|r| r.network_view == range.network_view && r.start <= end && start <= r.end)
    {
        return Err(WapiError::RangeOverlap(format!("{start}-{end}")));
    }
    let id = store.new_id(TAG);
    store.ranges.insert(
        id.clone(),
        Range {
            id: id.clone(),
            ..range
        },
    );
    Ok(id)
}

pub fn update(store: &mut Store, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(&["start_addr", "end_addr", "network", "network_view"])?;
    let mut r = store.ranges[id].clone();
    f.update_string("name", &mut r.name)?;
    f.update_string("comment", &mut r.comment)?;
    extattrs::apply_update(store, &mut f, &mut r.extattrs)?;
    f.finish(OPAQUE, &mut r.extra)?;
    store.ranges.insert(id.to_string(), r);
    Ok(())
}

pub fn next_available_ip(
    store: &Store,
    cfg: &SimConfig,
    id: &str,
    mut args: Fields,
) -> WapiResult<Value> {
    let num = alloc::num_arg(args.uint("num")?)?;
    let exclude = args
        .strings("exclude")?
        .unwrap_or_default()
        .iter()
        .map(|s| {
            parse_ip(s).ok_or_else(|| WapiError::InvalidValue {
                field: "exclude".into(),
                value: s.clone(),
            })
        })
        .collect::<WapiResult<Vec<_>>>()?;
    args.finish(&[], &mut Map::new())?;
    let target = Target::of_range(store, &store.ranges[id]);
    let ips = alloc::next_ips(store, cfg, &target, num, &exclude, &[])?;
    let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
    Ok(json!({ "ips": ips }))
}
