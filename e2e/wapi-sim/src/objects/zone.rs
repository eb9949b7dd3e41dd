//! `zone_auth`: an authoritative zone. Its only job here is to be the parent a DNS-enabled
//! host record must have.

use super::{Meta, extattrs, extattrs::Eas, fields::Fields, put_extra, put_opt};
use crate::errors::{WapiError, WapiResult};
use crate::refs::escape;
use crate::state::Store;
use serde_json::{Map, Value};

pub const TAG: &str = "ZG5zLnpvbmUk";

pub const META: Meta = Meta {
    default_fields: &["fqdn", "view"],
    returnable: &[
        "comment",
        "disable",
        "extattrs",
        "fqdn",
        "grid_primary",
        "grid_secondaries",
        "locked",
        "ns_group",
        "prefix",
        "view",
        "zone_format",
    ],
    searchable: &["fqdn", "view", "zone_format", "comment"],
};

const OPAQUE: &[&str] = &[
    "disable",
    "grid_primary",
    "grid_secondaries",
    "locked",
    "ns_group",
    "prefix",
    "soa_default_ttl",
];

#[derive(Debug, Clone)]
pub struct Zone {
    pub id: String,
    pub fqdn: String,
    pub view: String,
    pub zone_format: String,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub extra: Map<String, Value>,
}

impl Zone {
    pub fn reference(&self) -> String {
        format!(
            "zone_auth/{}:{}/{}",
            self.id,
            escape(&self.fqdn),
            escape(&self.view)
        )
    }

    pub fn render(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        put_opt(&mut m, "comment", &self.comment);
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        m.insert("fqdn".into(), self.fqdn.clone().into());
        m.insert("view".into(), self.view.clone().into());
        m.insert("zone_format".into(), self.zone_format.clone().into());
        put_extra(&mut m, &self.extra);
        m
    }
}

pub fn create(store: &mut Store, mut f: Fields) -> WapiResult<String> {
    // `restart_if_needed` is a write-only flag: accept and forget it.
    f.take("restart_if_needed");
    let fqdn = f.required_string("fqdn")?;
    let view = f
        .nonempty_string("view")?
        .unwrap_or_else(|| "default".into());
    let zone_format = f
        .nonempty_string("zone_format")?
        .unwrap_or_else(|| "FORWARD".into());
    if !["FORWARD", "IPV4", "IPV6"].contains(&zone_format.as_str()) {
        return Err(WapiError::InvalidValue {
            field: "zone_format".into(),
            value: zone_format,
        });
    }
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;
    let fqdn = match zone_format.as_str() {
        "FORWARD" => fqdn.trim_end_matches('.').to_ascii_lowercase(),
        _ => fqdn,
    };
    if store.view(&view).is_none() {
        return Err(WapiError::ViewNotFound(view));
    }
    if store
        .zones
        .values()
        .any(|z| z.view == view && z.fqdn == fqdn)
    {
        return Err(WapiError::Duplicate(fqdn));
    }
    let id = store.new_id(TAG);
    store.zones.insert(
        id.clone(),
        Zone {
            id: id.clone(),
            fqdn,
            view,
            zone_format,
            comment,
            extattrs,
            extra,
        },
    );
    Ok(id)
}

pub fn update(store: &mut Store, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(&["fqdn", "view", "zone_format"])?;
    f.take("restart_if_needed");
    let mut z = store.zones[id].clone();
    f.update_string("comment", &mut z.comment)?;
    extattrs::apply_update(store, &mut f, &mut z.extattrs)?;
    f.finish(OPAQUE, &mut z.extra)?;
    store.zones.insert(id.to_string(), z);
    Ok(())
}

/// Deleting a zone deletes the DNS host records it holds (not those of its sub-zones).
pub fn delete(store: &mut Store, id: &str) -> WapiResult<()> {
    let z = store.zones[id].clone();
    let doomed: Vec<String> = store
        .hosts
        .values()
        .filter(|h| h.dns && h.view == z.view)
        .filter(|h| store.zone_for(&h.view, &h.name).map(|hz| hz.id.as_str()) == Some(id))
        .map(|h| h.id.clone())
        .collect();
    for h in doomed {
        store.hosts.remove(&h);
    }
    store.zones.remove(id);
    Ok(())
}
