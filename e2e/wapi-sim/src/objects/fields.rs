//! Reading a create or update body field by field, so that whatever is left at the end is, by
//! construction, a field the object does not know, and is refused as NIOS refuses it.

use crate::errors::{WapiError, WapiResult};
use serde_json::{Map, Value};

pub struct Fields {
    map: Map<String, Value>,
}

fn invalid(field: &str, v: &Value) -> WapiError {
    WapiError::InvalidValue {
        field: field.into(),
        value: v.to_string(),
    }
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Fields { map }
    }

    pub fn from_body(body: Option<Value>) -> WapiResult<Self> {
        match body {
            None | Some(Value::Null) => Ok(Fields::new(Map::new())),
            Some(Value::Object(map)) => Ok(Fields::new(map)),
            Some(other) => Err(invalid("body", &other)),
        }
    }

    pub fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    pub fn take(&mut self, k: &str) -> Option<Value> {
        self.map.remove(k).filter(|v| !v.is_null())
    }

    pub fn string(&mut self, k: &str) -> WapiResult<Option<String>> {
        match self.take(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(invalid(k, &v)),
        }
    }

    /// Clients send `""` for fields they leave unset (`mac`, `duid`, `comment`); NIOS treats
    /// those as absent, and so omits them on read.
    pub fn nonempty_string(&mut self, k: &str) -> WapiResult<Option<String>> {
        Ok(self.string(k)?.filter(|s| !s.is_empty()))
    }

    /// On update: a present field replaces the value; `""` or `null` clears it.
    pub fn update_string(&mut self, k: &str, slot: &mut Option<String>) -> WapiResult<()> {
        if self.has(k) {
            *slot = self.nonempty_string(k)?;
        }
        Ok(())
    }

    pub fn required_string(&mut self, k: &str) -> WapiResult<String> {
        self.nonempty_string(k)?
            .ok_or_else(|| WapiError::MissingField(k.into()))
    }

    pub fn boolean(&mut self, k: &str) -> WapiResult<Option<bool>> {
        match self.take(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(invalid(k, &v)),
        }
    }

    pub fn uint(&mut self, k: &str) -> WapiResult<Option<u64>> {
        match self.take(k) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            // Query-string arguments of function calls arrive as text.
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(v) => Err(invalid(k, &v)),
        }
    }

    pub fn strings(&mut self, k: &str) -> WapiResult<Option<Vec<String>>> {
        match self.take(k) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(invalid(k, &other)),
                })
                .collect::<WapiResult<Vec<_>>>()
                .map(Some),
            // A single value where a list is expected, as query arguments give it.
            Some(Value::String(s)) => Ok(Some(s.split(',').map(String::from).collect())),
            Some(v) => Err(invalid(k, &v)),
        }
    }

    /// Refuses fields that exist on the object but may not be written in this operation.
    pub fn forbid(&self, read_only: &[&str]) -> WapiResult<()> {
        match read_only.iter().find(|f| self.map.contains_key(**f)) {
            Some(f) => Err(WapiError::ReadOnlyField((*f).into())),
            None => Ok(()),
        }
    }

    /// Moves pass-through fields into `extra` and refuses anything else that is left.
    /// A `_ref` echoed back by a client is tolerated, as NIOS tolerates it.
    pub fn finish(mut self, opaque: &[&str], extra: &mut Map<String, Value>) -> WapiResult<()> {
        self.map.remove("_ref");
        for (k, v) in std::mem::take(&mut self.map) {
            if opaque.contains(&k.as_str()) {
                if v.is_null() {
                    extra.remove(&k);
                } else {
                    extra.insert(k, v);
                }
            } else {
                return Err(WapiError::UnknownField(k));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        Fields::from_body(Some(v)).unwrap()
    }

    #[test]
    fn empty_strings_read_as_unset() {
        let mut f = fields(json!({"mac": "", "comment": "c"}));
        assert_eq!(f.nonempty_string("mac").unwrap(), None);
        assert_eq!(f.nonempty_string("comment").unwrap(), Some("c".into()));
    }

    #[test]
    fn leftovers_are_refused_except_ref_and_opaque() {
        let mut extra = Map::new();
        fields(json!({"_ref": "x", "options": []}))
            .finish(&["options"], &mut extra)
            .unwrap();
        assert_eq!(extra["options"], json!([]));
        let err = fields(json!({"bogus": 1}))
            .finish(&[], &mut extra)
            .unwrap_err();
        assert_eq!(err, WapiError::UnknownField("bogus".into()));
    }
}
