//! WAPI query arguments: the `_`-prefixed controls and the search filters, decoded as form data
//! because clients percent-encode `*`, `+`, `:` and `,` and send spaces as `+`.

use crate::errors::{WapiError, WapiResult};
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Regex,
}

#[derive(Debug, Clone)]
pub struct Filter {
    /// Field name without modifiers; for an extensible attribute, its name without `*`.
    pub field: String,
    pub ea: bool,
    pub op: Op,
    pub icase: bool,
    pub value: String,
    pub regex: Option<Regex>,
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Every pair as decoded, in order, for the request log.
    pub pairs: Vec<(String, String)>,
    /// Union of every `_return_fields`; `None` when absent.
    pub return_fields: Option<Vec<String>>,
    pub return_fields_plus: Vec<String>,
    pub max_results: Option<i64>,
    pub return_as_object: bool,
    pub paging: bool,
    pub page_id: Option<String>,
    pub pretty: bool,
    pub function: Option<String>,
    pub filters: Vec<Filter>,
    /// Non-argument pairs, kept verbatim for function calls that take arguments in the query.
    pub plain: Vec<(String, String)>,
}

fn flag(key: &str, v: &str) -> WapiResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(WapiError::InvalidValue {
            field: key.into(),
            value: v.into(),
        }),
    }
}

fn field_list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// Splits `name~:` into the field and its modifiers. Modifiers are the characters NIOS allows
/// before the `=`: `~` regex, `:` case-insensitive, `<`, `>`, `!`.
pub fn parse_filter(key: &str, value: &str) -> WapiResult<Filter> {
    let trimmed = key.trim_end_matches(['~', ':', '<', '>', '!']);
    let mods = &key[trimmed.len()..];
    let (ea, field) = match trimmed.strip_prefix('*') {
        Some(name) => (true, name),
        None => (false, trimmed),
    };
    if field.is_empty() {
        return Err(WapiError::UnknownField(key.into()));
    }
    let icase = mods.contains(':');
    let op = match (
        mods.contains('~'),
        mods.contains('!'),
        mods.contains('<'),
        mods.contains('>'),
    ) {
        (true, false, false, false) => Op::Regex,
        (false, true, false, false) => Op::Ne,
        (false, false, true, false) => Op::Le,
        (false, false, false, true) => Op::Ge,
        (false, false, false, false) => Op::Eq,
        _ => return Err(WapiError::UnknownField(key.into())),
    };
    let regex = if op == Op::Regex {
        let pattern = if icase {
            format!("(?i){value}")
        } else {
            value.to_string()
        };
        Some(Regex::new(&pattern).map_err(|_| WapiError::InvalidValue {
            field: key.into(),
            value: value.into(),
        })?)
    } else {
        None
    };
    Ok(Filter {
        field: field.into(),
        ea,
        op,
        icase,
        value: value.into(),
        regex,
    })
}

pub fn parse(raw: Option<&str>) -> WapiResult<Query> {
    let mut q = Query::default();
    let Some(raw) = raw else { return Ok(q) };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        q.pairs.push((k.clone(), v.clone()));
        if !k.starts_with('_') {
            q.filters.push(parse_filter(&k, &v)?);
            q.plain.push((k, v));
            continue;
        }
        match k.as_str() {
            "_return_fields" => q
                .return_fields
                .get_or_insert_with(Vec::new)
                .extend(field_list(&v)),
            "_return_fields+" => q.return_fields_plus.extend(field_list(&v)),
            "_max_results" => {
                q.max_results = Some(v.trim().parse().map_err(|_| WapiError::InvalidValue {
                    field: k.clone(),
                    value: v.clone(),
                })?)
            }
            "_return_as_object" => q.return_as_object = flag(&k, &v)?,
            "_paging" => q.paging = flag(&k, &v)?,
            "_page_id" => q.page_id = Some(v),
            "_function" => q.function = Some(v),
            "_return_type" => match v.as_str() {
                "json" => q.pretty = false,
                "json-pretty" => q.pretty = true,
                _ => {
                    return Err(WapiError::InvalidValue { field: k, value: v });
                }
            },
            // Grid-member proxying and inheritance are meaningless on a single fake appliance.
            "_proxy_search" | "_inheritance" => {}
            _ => return Err(WapiError::UnknownField(k)),
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_python_style_encoding() {
        let q = parse(Some(
            "%2ASite=Lab+1&name%7E=%5Eh&_return_fields%2B=aliases%2Cextattrs&_proxy_search=GM",
        ))
        .unwrap();
        assert_eq!(q.filters.len(), 2);
        assert!(q.filters[0].ea);
        assert_eq!(q.filters[0].field, "Site");
        assert_eq!(q.filters[0].value, "Lab 1");
        assert_eq!(q.filters[1].op, Op::Regex);
        assert_eq!(q.return_fields_plus, vec!["aliases", "extattrs"]);
    }

    #[test]
    fn repeated_return_fields_are_a_union() {
        let q = parse(Some("_return_fields=a,b&_return_fields=c&_return_fields=")).unwrap();
        assert_eq!(q.return_fields.unwrap(), vec!["a", "b", "c"]);
    }

    #[test]
    fn modifiers() {
        let q = parse(Some("name:=H&name!=x&ttl<=5&ttl>=1&name~:=^h")).unwrap();
        let ops: Vec<_> = q.filters.iter().map(|f| (f.op, f.icase)).collect();
        assert_eq!(
            ops,
            vec![
                (Op::Eq, true),
                (Op::Ne, false),
                (Op::Le, false),
                (Op::Ge, false),
                (Op::Regex, true)
            ]
        );
    }

    #[test]
    fn unknown_argument_is_rejected() {
        assert_eq!(
            parse(Some("_bogus=1")).unwrap_err(),
            WapiError::UnknownField("_bogus".into())
        );
    }
}
