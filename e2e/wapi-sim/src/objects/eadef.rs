//! `extensibleattributedef`: an EA must be defined before any object carries it.

use super::{Meta, fields::Fields, put_extra, put_opt};
use crate::errors::{WapiError, WapiResult};
use crate::refs::escape;
use crate::state::Store;
use serde_json::{Map, Value};

pub const TAG: &str = "ZG5zLmV4dGVuc2libGVfYXR0cl9kZWYk";

pub const META: Meta = Meta {
    default_fields: &["comment", "default_value", "name", "type"],
    returnable: &[
        "allowed_object_types",
        "comment",
        "default_value",
        "flags",
        "list_values",
        "max",
        "min",
        "name",
        "type",
    ],
    searchable: &["name", "type", "comment"],
};

const OPAQUE: &[&str] = &[
    "allowed_object_types",
    "default_value",
    "flags",
    "list_values",
    "max",
    "min",
];
const TYPES: &[&str] = &["STRING", "INTEGER", "EMAIL", "ENUM", "DATE", "URL"];

#[derive(Debug, Clone)]
pub struct EaDef {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub comment: Option<String>,
    pub extra: Map<String, Value>,
}

impl EaDef {
    pub fn reference(&self) -> String {
        format!("extensibleattributedef/{}:{}", self.id, escape(&self.name))
    }

    pub fn render(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("_ref".into(), self.reference().into());
        put_opt(&mut m, "comment", &self.comment);
        m.insert("name".into(), self.name.clone().into());
        m.insert("type".into(), self.kind.clone().into());
        put_extra(&mut m, &self.extra);
        m
    }
}

pub fn create(store: &mut Store, mut f: Fields) -> WapiResult<String> {
    let name = f.required_string("name")?;
    let kind = f.required_string("type")?;
    if !TYPES.contains(&kind.as_str()) {
        return Err(WapiError::InvalidValue {
            field: "type".into(),
            value: kind,
        });
    }
    let comment = f.nonempty_string("comment")?;
    let mut extra = Map::new();
    f.finish(OPAQUE, &mut extra)?;
    if store.eadefs.values().any(|d| d.name == name) {
        return Err(WapiError::Duplicate(name));
    }
    let id = store.new_id(TAG);
    store.eadefs.insert(
        id.clone(),
        EaDef {
            id: id.clone(),
            name,
            kind,
            comment,
            extra,
        },
    );
    Ok(id)
}

pub fn update(store: &mut Store, id: &str, mut f: Fields) -> WapiResult<()> {
    f.forbid(&["name", "type"])?;
    let mut d = store.eadefs[id].clone();
    f.update_string("comment", &mut d.comment)?;
    f.finish(OPAQUE, &mut d.extra)?;
    store.eadefs.insert(id.to_string(), d);
    Ok(())
}
