//! The `/wapi/v<version>/…` endpoint: authentication, faults, routing to the object code, and
//! response encoding exactly as clients expect it (compact JSON, literal `[]`, 201 on create).

use crate::auth::{self, Auth};
use crate::client_certs::ClientCert;
use crate::errors::{WapiError, WapiResult};
use crate::faults::FaultAction;
use crate::objects::{self, ObjType, fields::Fields};
use crate::query::{self, Query};
use crate::refs::split_target;
use crate::reqlog::Entry;
use crate::search::{self, project, select_fields};
use crate::server::{Abort, PeerAddr};
use crate::sim::{Sim, SimState};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Response, StatusCode, header};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BODY_LIMIT: usize = 8 * 1024 * 1024;

pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `/wapi/v2.12/record:host/…` → (`2.12`, `record:host/…`).
pub fn split_wapi_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/wapi/v")?;
    let (version, target) = rest.split_once('/')?;
    let ok = !target.is_empty()
        && version.split('.').count() <= 3
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some((version, target))
}

fn json_text(v: &Value, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    };
    text.unwrap_or_default()
}

fn wrap(v: Value, as_object: bool) -> Value {
    if as_object {
        let mut m = Map::new();
        m.insert("result".into(), v);
        Value::Object(m)
    } else {
        v
    }
}

fn ok(status: StatusCode, v: Value, q: &Query) -> Reply {
    Reply {
        status,
        body: json_text(&wrap(v, q.return_as_object), q.pretty),
    }
}

/// A page: `result` first, then `next_page_id` unless this is the last page.
fn page_reply(items: Vec<Value>, next: Option<String>, pretty: bool) -> Reply {
    let result = json_text(&Value::Array(items), pretty);
    let body = match next {
        Some(id) => format!(
            "{{\"result\":{result},\"next_page_id\":{}}}",
            Value::String(id)
        ),
        None => format!("{{\"result\":{result}}}"),
    };
    Reply {
        status: StatusCode::OK,
        body,
    }
}

fn search_reply(st: &mut SimState, ty: ObjType, q: &Query) -> WapiResult<Reply> {
    if let Some(id) = &q.page_id {
        let (items, next) = st.pages.next(id)?;
        return Ok(page_reply(items, next, q.pretty));
    }
    let fields = select_fields(ty, q)?;
    let found = search::search(&st.store, ty, &q.filters)?;
    let mut items: Vec<Value> = found.iter().map(|o| project(o, &fields)).collect();
    if q.paging {
        if !q.return_as_object {
            return Err(WapiError::PagingNeedsObject);
        }
        let size = match q.max_results {
            Some(n) if n != 0 => n.unsigned_abs() as usize,
            _ => 1000,
        };
        let (page, next) = st.pages.start(items, size);
        return Ok(page_reply(page, next, q.pretty));
    }
    match q.max_results.unwrap_or(-1000) {
        n if n < 0 && items.len() as u64 > n.unsigned_abs() => {
            return Err(WapiError::TooManyResults(n.unsigned_abs()));
        }
        n if n > 0 => items.truncate(n as usize),
        _ => {}
    }
    Ok(ok(StatusCode::OK, Value::Array(items), q))
}

/// After a create or update: the ref as a JSON string, or the object when the request named
/// return fields (the Python object API always does).
fn written_reply(
    st: &SimState,
    ty: ObjType,
    id: &str,
    fields: &[String],
    q: &Query,
    status: StatusCode,
) -> Reply {
    let obj = objects::get(&st.store, ty, id).unwrap_or_default();
    let wants_object = q.return_fields.is_some() || !q.return_fields_plus.is_empty();
    let v = if wants_object {
        project(&obj, fields)
    } else {
        obj.get("_ref").cloned().unwrap_or(Value::Null)
    };
    ok(status, v, q)
}

fn parse_body(body: &[u8]) -> WapiResult<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|_| WapiError::InvalidValue {
            field: "body".into(),
            value: String::from_utf8_lossy(body).into_owned(),
        })
}

/// Function arguments come in the body, or as plain query pairs.
fn function_args(body: Option<Value>, q: &Query) -> WapiResult<Fields> {
    let mut map = match body {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(WapiError::InvalidValue {
                field: "body".into(),
                value: other.to_string(),
            });
        }
    };
    for (k, v) in &q.plain {
        map.entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    Ok(Fields::new(map))
}

/// Runs one WAPI request against the grid. The caller holds the lock for the whole call.
pub fn process(
    st: &mut SimState,
    method: &Method,
    target: &str,
    raw_query: Option<&str>,
    body: &[u8],
) -> WapiResult<Reply> {
    let q = query::parse(raw_query)?;
    let (ty_name, id) = split_target(target);
    let ty = ObjType::parse(ty_name).ok_or_else(|| WapiError::UnknownObjectType(ty_name.into()))?;
    let body = parse_body(body)?;
    let not_found = || WapiError::RefNotFound(target.into());
    let bad_method = || WapiError::BadMethod {
        method: method.to_string(),
        target: target.into(),
    };
    let exists = |st: &SimState, id: &str| objects::get(&st.store, ty, id).is_some();
    match (method.clone(), id) {
        (Method::GET, None) => search_reply(st, ty, &q),
        (Method::GET, Some(id)) => {
            let obj = objects::get(&st.store, ty, id).ok_or_else(not_found)?;
            let fields = select_fields(ty, &q)?;
            Ok(ok(StatusCode::OK, project(&obj, &fields), &q))
        }
        (Method::POST, None) => {
            if let Some(f) = q.filters.first() {
                return Err(WapiError::UnknownField(f.field.clone()));
            }
            if q.function.is_some() {
                return Err(bad_method());
            }
            let fields = select_fields(ty, &q)?;
            let cfg = st.config.clone();
            let id = objects::create(&mut st.store, &cfg, ty, Fields::from_body(body)?)?;
            Ok(written_reply(st, ty, &id, &fields, &q, StatusCode::CREATED))
        }
        (Method::POST, Some(id)) => {
            let func = q.function.clone().ok_or_else(bad_method)?;
            if !exists(st, id) {
                return Err(not_found());
            }
            let args = function_args(body, &q)?;
            let v = objects::call(&st.store, &st.config, ty, id, &func, args)?;
            Ok(ok(StatusCode::OK, v, &q))
        }
        (Method::PUT, Some(id)) => {
            if !exists(st, id) {
                return Err(not_found());
            }
            let fields = select_fields(ty, &q)?;
            let cfg = st.config.clone();
            objects::update(&mut st.store, &cfg, ty, id, Fields::from_body(body)?)?;
            Ok(written_reply(st, ty, id, &fields, &q, StatusCode::OK))
        }
        (Method::DELETE, Some(id)) => {
            let obj = objects::get(&st.store, ty, id).ok_or_else(not_found)?;
            objects::delete(&mut st.store, ty, id)?;
            let r = obj.get("_ref").cloned().unwrap_or(Value::Null);
            Ok(ok(StatusCode::OK, r, &q))
        }
        _ => Err(bad_method()),
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    set_cookie: Option<&str>,
) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

fn not_found_html() -> Response<Body> {
    let body = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n<p>Nothing is served at this URL.</p>\n</body></html>\n";
    respond(
        StatusCode::NOT_FOUND,
        "text/html; charset=iso-8859-1",
        body.into(),
        None,
    )
}

fn error_response(e: &WapiError, set_cookie: Option<&str>) -> Response<Body> {
    respond(e.status(), "application/json", e.body(), set_cookie)
}

/// The fallback handler: every request outside the control API lands here.
pub async fn handle(State(sim): State<Arc<Sim>>, req: Request) -> Response<Body> {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |p| p.0.ip());
    let cert = req
        .extensions()
        .get::<ClientCert>()
        .cloned()
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let path = percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let raw_query = parts.uri.query().map(str::to_string);
    let mut entry = Entry {
        seq: 0,
        at_ms: now_ms(),
        method: parts.method.to_string(),
        path: path.clone(),
        version: None,
        object: None,
        query: raw_query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        body: parse_body(&bytes)
            .unwrap_or_else(|_| Some(Value::String(String::from_utf8_lossy(&bytes).into_owned()))),
        status: 0,
        auth: "none",
        fault: None,
        duration_ms: 0,
    };
    let finish = |mut entry: Entry, status: StatusCode, sim: &Sim| {
        entry.status = status.as_u16();
        entry.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(method = %entry.method, path = %entry.path, status = entry.status, auth = entry.auth, fault = entry.fault, "request");
        sim.lock().log.push(entry);
    };

    let Some((version, target)) = split_wapi_path(&path) else {
        let resp = not_found_html();
        finish(entry, resp.status(), &sim);
        return resp;
    };
    let object = split_target(target).0.to_string();
    entry.version = Some(version.to_string());
    entry.object = Some(object.clone());

    let (auth, version_ok, fault) = {
        let mut st = sim.lock();
        let auth = auth::authenticate(&mut st, &parts.headers, &cert, peer, now_secs());
        let version_ok = st.config.accepts_version(version);
        // Requests refused before they reach the grid do not use up a fault.
        let fault = if auth == Auth::Denied || !version_ok {
            None
        } else {
            st.faults.take(parts.method.as_str(), &object, target)
        };
        (auth, version_ok, fault)
    };
    entry.auth = auth.label();
    entry.fault = fault.as_ref().map(FaultAction::name);
    if auth == Auth::Denied || fault == Some(FaultAction::Unauthorized) {
        let resp = auth::unauthorized();
        finish(entry, resp.status(), &sim);
        return resp;
    }
    let set_cookie = match &auth {
        Auth::Basic { set_cookie, .. } => Some(set_cookie.as_str()),
        _ => None,
    };
    if !version_ok {
        let resp = error_response(&WapiError::UnsupportedVersion(version.into()), set_cookie);
        finish(entry, resp.status(), &sim);
        return resp;
    }
    if let Some(e) = fault.as_ref().and_then(FaultAction::error) {
        let resp = error_response(&e, set_cookie);
        finish(entry, resp.status(), &sim);
        return resp;
    }
    if let Some(FaultAction::Latency { ms }) = fault {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    let result = {
        let mut st = sim.lock();
        if parts.method == Method::POST && target == "logout" {
            if let Some(token) = auth::cookie_token(&parts.headers) {
                st.sessions.revoke(&token);
            }
            Ok(Reply {
                status: StatusCode::OK,
                body: String::new(),
            })
        } else {
            process(&mut st, &parts.method, target, raw_query.as_deref(), &bytes)
        }
    };
    let resp = match result {
        Ok(r) => respond(r.status, "application/json", r.body, set_cookie),
        Err(e) => error_response(&e, set_cookie),
    };
    // Logged before any stall, so a test sees the committed write while its client still waits.
    finish(entry, resp.status(), &sim);
    match fault {
        Some(FaultAction::TimeoutAfterCommit { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp
        }
        Some(FaultAction::DropAfterCommit) => {
            let mut dropped = Response::new(Body::empty());
            dropped.extensions_mut().insert(Abort);
            dropped
        }
        _ => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wapi_paths() {
        assert_eq!(
            split_wapi_path("/wapi/v2.12/network"),
            Some(("2.12", "network"))
        );
        assert_eq!(
            split_wapi_path("/wapi/v2.11.2/record:host/x:y/%20"),
            Some(("2.11.2", "record:host/x:y/%20"))
        );
        assert_eq!(split_wapi_path("/wapi/v2.12/"), None);
        assert_eq!(split_wapi_path("/wapi/vX/network"), None);
        assert_eq!(split_wapi_path("/other"), None);
    }
}
