//! `networkview`: a routing domain. `default` always exists; creating `X` also creates the DNS
//! view `default.X`, and deleting `X` deletes everything in it.

use super::{Meta, extattrs, extattrs::Eas, fields::Fields, put_opt};
use crate::errors::{WapiError, WapiResult};
use crate::refs::escape;
use crate::state::Store;
use serde_json::{Map, Value};

pub const TAG: &str = "ZG5zLm5ldHdvcmtfdmlldyQ";

pub const META: Meta = Meta {
    default_fields: &["comment", "is_default", "name"],
    returnable: &[
        "associated_dns_views",
        "comment",
        "extattrs",
        "is_default",
        "name",
    ],
    searchable: &["name", "is_default", "comment"],
};

const READ_ONLY: &[&str] = &["is_default", "associated_dns_views"];

#[derive(Debug, Clone)]
pub struct NetworkView {
    pub id: String,
    pub name: String,
    pub comment: Option<String>,
    pub extattrs: Eas,
    pub is_default: bool,
}

impl NetworkView {
    pub fn reference(&self) -> String {
        format!(
            "networkview/{}:{}/{}",
            self.id,
            escape(&self.name),
            self.is_default
        )
    }

    pub fn render(&self, store: &Store) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        let views: Vec<Value> = store
            .views
            .values()
            .filter(|v| v.network_view == self.name)
            .map(|v| v.name.clone().into())
            .collect();
        m.insert("associated_dns_views".into(), Value::Array(views));
        put_opt(&mut m, "comment", &self.comment);
        m.insert("extattrs".into(), extattrs::render(&self.extattrs));
        m.insert("is_default".into(), self.is_default.into());
        m.insert("name".into(), self.name.clone().into());
        m
    }
}

pub fn create(store: &mut Store, mut f: Fields) -> WapiResult<String> {
    f.forbid(READ_ONLY)?;
    let name = f.required_string("name")?;
    let comment = f.nonempty_string("comment")?;
    let extattrs = extattrs::read_new(store, &mut f)?;
    f.finish(&[], &mut Map::new())?;
    if store.netview(&name).is_some() {
        return Err(WapiError::Duplicate(name));
    }
    let dns_view = format!("default.{name}");
    if store.view(&dns_view).is_some() {
        return Err(WapiError::Duplicate(dns_view));
    }
    let id = store.new_id(TAG);
    store.netviews.insert(
        id.clone(),
        NetworkView {
            id: id.clone(),
            name: name.clone(),
            comment,
            extattrs,
            is_default: false,
        },
    );
    super::view::insert(store, &dns_view, &name, false);
    Ok(id)
}

pub fn update(store: &mut Store, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(READ_ONLY)?;
    let mut nv = store.netviews[id].clone();
    let old_name = nv.name.clone();
    if let Some(name) = f.nonempty_string("name")? {
        nv.name = name;
    }
    f.update_string("comment", &mut nv.comment)?;
    extattrs::apply_update(store, &mut f, &mut nv.extattrs)?;
    f.finish(&[], &mut Map::new())?;
    if nv.name != old_name {
        if store.netview(&nv.name).is_some() {
            return Err(WapiError::Duplicate(nv.name));
        }
        store.rename_network_view(&old_name, &nv.name);
    }
    store.netviews.insert(id.to_string(), nv);
    Ok(())
}

pub fn delete(store: &mut Store, id: &str) -> WapiResult<()> {
    let nv = store.netviews[id].clone();
    if nv.is_default {
        return Err(WapiError::DefaultNetworkView);
    }
    store.purge_network_view(&nv.name);
    store.netviews.remove(id);
    Ok(())
}
