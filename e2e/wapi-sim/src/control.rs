//! The control API under `/_sim/`, outside WAPI and without authentication: seeding, reset,
//! state dump, request log, fault injection, session expiry and run-time settings.

use crate::config::SimConfig;
use crate::errors::WapiError;
use crate::faults::FaultRule;
use crate::objects::{self, ObjType, fields::Fields};
use crate::sim::{Sim, SimState, User};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::Arc;

type Shared = State<Arc<Sim>>;

pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/_sim/health", get(|| async { "ok" }))
        .route("/_sim/reset", post(reset))
        .route("/_sim/seed", post(seed))
        .route("/_sim/presets/telekom", post(preset_telekom))
        .route("/_sim/state", get(state))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route(
            "/_sim/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sim/sessions/expire", post(expire_sessions))
        .route("/_sim/config", get(config).put(put_config))
}

/// Why a control request failed; answered as 400 with a JSON body.
enum Failure {
    BadRequest(String),
    /// A seeded object was refused, with the WAPI error a client would have got.
    Wapi {
        what: String,
        error: WapiError,
    },
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = match self {
            Failure::BadRequest(message) => json!({ "error": message }),
            Failure::Wapi { what, error } => json!({
                "error": format!("{what}: {}", error.text()),
                "wapi": { "Error": error.error(), "code": error.code(), "text": error.text() },
            }),
        };
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// Bodies are read as JSON whatever the Content-Type, so `curl -d` works without `-H`.
fn json_body<T: DeserializeOwned>(bytes: &Bytes, empty: Option<T>) -> Result<T, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(v) = empty
    {
        return Ok(v);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::BadRequest(format!("invalid JSON body: {e}")))
}

async fn reset(State(sim): Shared) -> Json<Value> {
    sim.lock().reset();
    Json(json!({ "reset": true }))
}

/// A seed lists objects as WAPI create bodies. Plain strings are accepted as shorthands:
/// a network view or DNS view name, a zone fqdn, a network or container CIDR.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seed {
    pub users: Vec<User>,
    pub ea_definitions: Vec<Value>,
    pub network_views: Vec<Value>,
    pub dns_views: Vec<Value>,
    pub zones: Vec<Value>,
    pub network_containers: Vec<Value>,
    pub networks: Vec<Value>,
    pub ranges: Vec<Value>,
    pub hosts: Vec<Value>,
    pub fixed_addresses: Vec<Value>,
}

fn body_of(v: &Value, key: &str) -> Map<String, Value> {
    match v {
        Value::Object(m) => m.clone(),
        other => {
            let mut m = Map::new();
            m.insert(key.into(), other.clone());
            m
        }
    }
}

fn is_v6(body: &Map<String, Value>, key: &str) -> bool {
    let text = body.get(key).and_then(Value::as_str).unwrap_or_default();
    let text = text
        .strip_prefix(crate::alloc::FUNC_NET)
        .or_else(|| text.strip_prefix(crate::alloc::FUNC_IP))
        .unwrap_or(text);
    text.contains(':')
        || body
            .get(key)
            .is_some_and(|v| v.is_object() && v.to_string().contains("ipv6"))
}

fn create_all(st: &mut SimState, seed: &Seed) -> Result<Vec<String>, Failure> {
    let mut refs = Vec::new();
    let cfg = st.config.clone();
    let mut make =
        |st: &mut SimState, ty: ObjType, body: Map<String, Value>| -> Result<(), Failure> {
            let what = format!("{} {}", ty.name(), Value::Object(body.clone()));
            let id = objects::create(&mut st.store, &cfg, ty, Fields::new(body))
                .map_err(|error| Failure::Wapi { what, error })?;
            if let Some(r) = objects::get(&st.store, ty, &id).and_then(|o| o.get("_ref").cloned()) {
                refs.push(r.as_str().unwrap_or_default().to_string());
            }
            Ok(())
        };
    for v in &seed.ea_definitions {
        let mut body = body_of(v, "name");
        body.entry("type").or_insert_with(|| "STRING".into());
        make(st, ObjType::EaDef, body)?;
    }
    for v in &seed.network_views {
        make(st, ObjType::NetworkView, body_of(v, "name"))?;
    }
    for v in &seed.dns_views {
        make(st, ObjType::View, body_of(v, "name"))?;
    }
    for v in &seed.zones {
        make(st, ObjType::ZoneAuth, body_of(v, "fqdn"))?;
    }
    for v in &seed.network_containers {
        let body = body_of(v, "network");
        let ty = if is_v6(&body, "network") {
            ObjType::Ipv6NetworkContainer
        } else {
            ObjType::NetworkContainer
        };
        make(st, ty, body)?;
    }
    for v in &seed.networks {
        let body = body_of(v, "network");
        let ty = if is_v6(&body, "network") {
            ObjType::Ipv6Network
        } else {
            ObjType::Network
        };
        make(st, ty, body)?;
    }
    for v in &seed.ranges {
        make(st, ObjType::Range, body_of(v, "start_addr"))?;
    }
    for v in &seed.hosts {
        make(st, ObjType::Host, body_of(v, "name"))?;
    }
    for v in &seed.fixed_addresses {
        let body = body_of(v, "ipv4addr");
        let ty = if body.contains_key("ipv6addr") {
            ObjType::Ipv6FixedAddress
        } else {
            ObjType::FixedAddress
        };
        make(st, ty, body)?;
    }
    Ok(refs)
}

/// All or nothing: a seed that fails half-way leaves the grid as it was.
async fn seed(State(sim): Shared, body: Bytes) -> Response {
    let seed: Seed = match json_body(&body, None) {
        Ok(s) => s,
        Err(failure) => return failure.into_response(),
    };
    let mut st = sim.lock();
    let backup = st.store.clone();
    match create_all(&mut st, &seed) {
        Ok(refs) => {
            for u in seed.users {
                st.users.retain(|x| x.username != u.username);
                st.users.push(u);
            }
            Json(json!({ "created": refs })).into_response()
        }
        Err(failure) => {
            st.store = backup;
            failure.into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelekomPreset {
    pub network_view: String,
    pub zone: String,
}

impl Default for TelekomPreset {
    fn default() -> Self {
        TelekomPreset {
            network_view: "default".into(),
            zone: "example.com".into(),
        }
    }
}

/// What telekom's `pkg/infoblox` suite assumes exists: the network view, a DNS view named
/// like it, and a zone for its DNS-enabled host names. The suite makes its own containers.
/// Existing objects are kept, so the preset can be applied twice.
async fn preset_telekom(State(sim): Shared, body: Bytes) -> Response {
    let p: TelekomPreset = match json_body(&body, Some(TelekomPreset::default())) {
        Ok(p) => p,
        Err(failure) => return failure.into_response(),
    };
    let mut st = sim.lock();
    let mut seed = Seed::default();
    if st.store.netview(&p.network_view).is_none() {
        seed.network_views.push(json!(p.network_view));
    }
    if st.store.view(&p.network_view).is_none() {
        seed.dns_views
            .push(json!({ "name": p.network_view, "network_view": p.network_view }));
    }
    let zone = p.zone.to_ascii_lowercase();
    if !st
        .store
        .zones
        .values()
        .any(|z| z.fqdn == zone && z.view == p.network_view)
    {
        seed.zones
            .push(json!({ "fqdn": zone, "view": p.network_view }));
    }
    let backup = st.store.clone();
    match create_all(&mut st, &seed) {
        Ok(refs) => Json(json!({ "created": refs })).into_response(),
        Err(failure) => {
            st.store = backup;
            failure.into_response()
        }
    }
}

async fn state(State(sim): Shared) -> Json<Value> {
    let st = sim.lock();
    let mut out = Map::new();
    for ty in ObjType::ALL {
        if matches!(ty, ObjType::HostIpv4Addr | ObjType::HostIpv6Addr) {
            continue;
        }
        let all: Vec<Value> = objects::list(&st.store, ty)
            .into_iter()
            .map(Value::Object)
            .collect();
        out.insert(ty.name().into(), Value::Array(all));
    }
    Json(Value::Object(out))
}

#[derive(Debug, Deserialize)]
pub struct Since {
    #[serde(default)]
    since: u64,
}

async fn requests(State(sim): Shared, Query(s): Query<Since>) -> Json<Value> {
    Json(json!(sim.lock().log.since(s.since)))
}

async fn clear_requests(State(sim): Shared) -> StatusCode {
    sim.lock().log.clear();
    StatusCode::NO_CONTENT
}

async fn faults(State(sim): Shared) -> Json<Value> {
    Json(json!(sim.lock().faults.list()))
}

async fn add_fault(State(sim): Shared, body: Bytes) -> Response {
    let rule: FaultRule = match json_body(&body, None) {
        Ok(r) => r,
        Err(failure) => return failure.into_response(),
    };
    match sim.lock().faults.add(rule) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => Failure::BadRequest(e).into_response(),
    }
}

async fn clear_faults(State(sim): Shared) -> StatusCode {
    sim.lock().faults.clear();
    StatusCode::NO_CONTENT
}

async fn expire_sessions(State(sim): Shared) -> StatusCode {
    sim.lock().sessions.expire_all();
    StatusCode::NO_CONTENT
}

async fn config(State(sim): Shared) -> Json<SimConfig> {
    Json(sim.lock().config.clone())
}

/// Merges the given keys into the current settings.
async fn put_config(State(sim): Shared, body: Bytes) -> Response {
    let patch = match json_body(&body, None) {
        Ok(Value::Object(p)) => p,
        Ok(_) => return Failure::BadRequest("expected a JSON object".into()).into_response(),
        Err(failure) => return failure.into_response(),
    };
    let mut st = sim.lock();
    let mut current = match serde_json::to_value(&st.config) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    current.extend(patch);
    match serde_json::from_value::<SimConfig>(Value::Object(current)) {
        Ok(c) => {
            st.config = c.clone();
            Json(c).into_response()
        }
        Err(e) => Failure::BadRequest(e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_seeds_are_told_apart() {
        assert!(is_v6(&body_of(&json!("fd00::/64"), "network"), "network"));
        assert!(!is_v6(
            &body_of(&json!("10.0.0.0/24"), "network"),
            "network"
        ));
        assert!(!is_v6(
            &body_of(
                &json!("func:nextavailablenetwork:10.0.0.0/16,default,24"),
                "network"
            ),
            "network"
        ));
    }
}
