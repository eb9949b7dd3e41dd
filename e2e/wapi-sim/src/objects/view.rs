//! `view`: a DNS view, owned by exactly one network view.

use super::{Meta, extattrs, extattrs::Eas, fields::Fields, put_extra, put_opt};
use crate::errors::{WapiError, WapiResult};
use crate::refs::escape;
use crate::state::Store;
use serde_json::{Map, Value};

pub const TAG: &str = "ZG5zLnZpZXck";

pub const META: Meta = Meta {
    default_fields: &["is_default", "name"],
    returnable: &[
        "comment",
        "disable",
        "extattrs",
        "is_default",
        "name",
        "network_view",
        "recursion",
    ],
    searchable: &["name", "network_view", "is_default", "comment"],
};

const OPAQUE: &[&str] = &["disable", "recursion"];

#[derive(Debug, Clone)]
pub struct DnsView {
    pub id: String,
    pub name: String,
    pub network_view: String,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub is_default: bool,
    pub extra: Map<String, Value>,
}

impl DnsView {
    pub fn reference(&self) -> String {
        format!(
            "view/{}:{}/{}",
            self.id,
            escape(&self.name),
            self.is_default
        )
    }

    pub fn render(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        put_opt(&mut m, "comment", &self.comment);
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        m.insert("is_default".into(), self.is_default.into());
        m.insert("name".into(), self.name.clone().into());
        m.insert("network_view".into(), self.network_view.clone().into());
        put_extra(&mut m, &self.extra);
        m
    }
}

/// Adds a DNS view without checks, for the views NIOS creates by itself.
pub fn insert(store: &mut Store, name: &str, network_view: &str, is_default: bool) -> String {
    let id = store.new_id(TAG);
    store.views.insert(
        id.clone(),
        DnsView {
            id: id.clone(),
            name: name.into(),
            network_view: network_view.into(),
            comment: None,
            extattrs: Eas::new(),
            is_default,
            extra: Map::new(),
        },
    );
    id
}

pub fn create(store: &mut Store, mut f: Fields) -> WapiResult<String> {
    f.forbid(&["is_default"])?;
    let name = f.required_string("name")?;
    let network_view = f
        .nonempty_string("network_view")?
        .unwrap_or_else(|| "default".into());
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;
    if store.netview(&network_view).is_none() {
        return Err(WapiError::NetworkViewNotFound(network_view));
    }
    if store.view(&name).is_some() {
        return Err(WapiError::Duplicate(name));
    }
    let id = insert(store, &name, &network_view, false);
    let v = store.views.get_mut(&id).expect("just inserted");
    v.comment = comment;
    v.extattrs = extattrs;
    v.extra = extra;
    Ok(id)
}

pub fn update(store: &mut Store, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(&["is_default", "network_view"])?;
    let mut v = store.views[id].clone();
    let old_name = v.name.clone();
    if let Some(name) = f.nonempty_string("name")? {
        v.name = name;
    }
    f.update_string("comment", &mut v.comment)?;
    extattrs::apply_update(store, &mut f, &mut v.extattrs)?;
    f.finish(OPAQUE, &mut v.extra)?;
    if v.name != old_name {
        if store.view(&v.name).is_some() {
            return Err(WapiError::Duplicate(v.name));
        }
        store.rename_view(&old_name, &v.name);
    }
    store.views.insert(id.to_string(), v);
    Ok(())
}

pub fn delete(store: &mut Store, id: &str) -> WapiResult<()> {
    let v = store.views[id].clone();
    if v.is_default {
        return Err(WapiError::DefaultDnsView);
    }
    store.purge_view(&v.name);
    Ok(())
}
