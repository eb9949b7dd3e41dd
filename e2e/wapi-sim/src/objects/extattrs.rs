//! Extensible attributes: `{"Name": {"value": x}}` on every object that has them. A name must
//! have an `extensibleattributedef` first, as on a real grid.

use crate::errors::{WapiError, WapiResult};
use crate::objects::fields::Fields;
use crate::state::Store;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub type Eas = BTreeMap<String, Value>;

fn check_defined(store: &Store, name: &str) -> WapiResult<()> {
    if store.eadefs.values().any(|d| d.name == name) {
        Ok(())
    } else {
        Err(WapiError::UnknownEa(name.into()))
    }
}

fn parse(store: &Store, field: &str, v: Value, need_value: bool) -> WapiResult<Eas> {
    let Value::Object(map) = v else {
        return Err(WapiError::InvalidValue {
            field: field.into(),
            value: v.to_string(),
        });
    };
    let mut out = Eas::new();
    for (name, entry) in map {
        check_defined(store, &name)?;
        let value = match &entry {
            Value::Object(o) => o.get("value").cloned(),
            _ => None,
        };
        match value {
            Some(v) => {
                out.insert(name, v);
            }
            None if !need_value => {
                out.insert(name, Value::Null);
            }
            None => {
                return Err(WapiError::InvalidValue {
                    field: format!("{field}.{name}"),
                    value: entry.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Reads `extattrs` on create.
pub fn read_new(store: &Store, f: &mut Fields) -> WapiResult<Eas> {
    match f.take("extattrs") {
        None => Ok(Eas::new()),
        Some(v) => parse(store, "extattrs", v, true),
    }
}

/// Applies `extattrs` (replace), `extattrs+` (merge) and `extattrs-` (remove) on update.
pub fn apply_update(store: &Store, f: &mut Fields, eas: &mut Eas) -> WapiResult<()> {
    if let Some(v) = f.take("extattrs") {
        *eas = parse(store, "extattrs", v, true)?;
    }
    if let Some(v) = f.take("extattrs+") {
        eas.extend(parse(store, "extattrs+", v, true)?);
    }
    if let Some(v) = f.take("extattrs-") {
        for name in parse(store, "extattrs-", v, false)?.keys() {
            eas.remove(name);
        }
    }
    Ok(())
}

pub fn render(eas: &Eas) -> Value {
    let mut m = Map::new();
    for (k, v) in eas {
        let mut inner = Map::new();
        inner.insert("value".into(), v.clone());
        m.insert(k.clone(), Value::Object(inner));
    }
    Value::Object(m)
}
