//! Request-level tests of the WAPI semantics, through `wapi::process` without HTTP.
//! (`http.rs` covers transport, authentication and faults on a real listener.)
//!
//! Each request is written as `st.post("network").query(..).body(json!(..))` and ended by
//! what the scenario expects of it: `.ok()` (a success, its JSON), `.err()` (an error, its
//! status and text), `.call()` (status and JSON, either way) or `.raw()` (status and body text).

use axum::http::Method;
use serde_json::{Value, json};
use wapi_sim::SimConfig;
use wapi_sim::sim::{Sim, SimState};
use wapi_sim::wapi::process;

fn sim() -> Sim {
    Sim::new(SimConfig::default(), Vec::new())
}

/// One WAPI request against the simulator's state, built up before it is sent.
struct Request<'a> {
    st: &'a mut SimState,
    method: Method,
    target: String,
    query: String,
    body: Value,
}

/// The four verbs the WAPI uses, each starting a request on the state.
trait Wapi {
    fn request(&mut self, method: Method, target: &str) -> Request<'_>;

    fn get(&mut self, target: &str) -> Request<'_> {
        self.request(Method::GET, target)
    }
    fn post(&mut self, target: &str) -> Request<'_> {
        self.request(Method::POST, target)
    }
    fn put(&mut self, target: &str) -> Request<'_> {
        self.request(Method::PUT, target)
    }
    fn delete(&mut self, target: &str) -> Request<'_> {
        self.request(Method::DELETE, target)
    }
}

impl Wapi for SimState {
    fn request(&mut self, method: Method, target: &str) -> Request<'_> {
        Request {
            st: self,
            method,
            target: target.to_string(),
            query: String::new(),
            body: Value::Null,
        }
    }
}

impl Request<'_> {
    fn query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = body;
        self
    }

    /// Sends the request; returns the status and the raw body text.
    fn raw(self) -> (u16, String) {
        let body = if self.body.is_null() {
            Vec::new()
        } else {
            self.body.to_string().into_bytes()
        };
        let query = (!self.query.is_empty()).then_some(self.query.as_str());
        match process(self.st, &self.method, &self.target, query, &body) {
            Ok(r) => (r.status.as_u16(), r.body),
            Err(e) => (e.status().as_u16(), e.body()),
        }
    }

    /// Sends the request; returns the status and the body as JSON (null when empty).
    fn call(self) -> (u16, Value) {
        let (status, text) = self.raw();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, v)
    }

    /// Sends a request that must succeed; returns its JSON.
    fn ok(self) -> Value {
        let what = format!("{} {}?{}", self.method, self.target, self.query);
        let (status, v) = self.call();
        assert!(status < 300, "{what} -> {status} {v}");
        v
    }

    /// Sends a request that must fail; returns its status and the error's text.
    fn err(self) -> (u16, String) {
        let (status, v) = self.call();
        assert!(status >= 400, "expected an error, got {status} {v}");
        (status, v["text"].as_str().unwrap_or_default().to_string())
    }
}

fn setup(st: &mut SimState, cidr: &str) {
    st.post("networkview").body(json!({"name": "nv"})).ok();
    let ty = if cidr.contains(':') {
        "ipv6network"
    } else {
        "network"
    };
    st.post(ty)
        .body(json!({"network": cidr, "network_view": "nv"}))
        .ok();
}

/// The body telekom's provider posts for a non-DNS host (§4.3).
fn telekom_host(name: &str, cidr: &str) -> Value {
    json!({"aliases": [], "configure_for_dns": false, "extattrs": {},
           "ipv4addrs": [{"configure_for_dhcp": false, "ipv4addr": format!("func:nextavailableip:{cidr},nv"), "mac": ""}],
           "ipv6addrs": [], "name": name, "network_view": "nv"})
}

fn first_ip(host: &Value) -> String {
    host["ipv4addrs"][0]["ipv4addr"]
        .as_str()
        .unwrap()
        .to_string()
}

const TELEKOM_FIELDS: &str = "_return_fields=extattrs,ipv4addrs,ipv6addrs,name,view,zone,comment,network_view,aliases,use_ttl,ttl,configure_for_dns&_return_fields=ipv4addrs&_return_fields=ipv6addrs&_return_fields=name&_return_fields=view&_return_fields=zone&_return_fields=network_view&_return_fields=configure_for_dns";

#[test]
fn host_lifecycle_as_the_go_client_drives_it() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    st.post("network")
        .body(json!({"network": "10.0.1.0/24", "network_view": "nv"}))
        .ok();

    let (_, empty) = st
        .get("record:host")
        .query(&format!("{TELEKOM_FIELDS}&name=m1&network_view=nv"))
        .raw();
    assert_eq!(empty, "[]");

    let (status, r) = st
        .post("record:host")
        .body(telekom_host("m1", "10.0.0.0/24"))
        .call();
    assert_eq!(status, 201);
    let r = r.as_str().unwrap().to_string();
    assert!(
        r.starts_with("record:host/") && r.ends_with(":m1/%20"),
        "{r}"
    );

    // Re-read by ref: the name part is ignored, so the client's re-escaped form works too.
    let id = r.split(':').nth(1).unwrap().split('/').nth(1).unwrap();
    let host = st
        .get(&format!("record:host/{id}:whatever/%2520"))
        .query(TELEKOM_FIELDS)
        .ok();
    assert_eq!(host["view"], " ");
    assert_eq!(host["configure_for_dns"], false);
    assert_eq!(host["use_ttl"], false);
    assert_eq!(host["extattrs"], json!({}));
    assert!(
        host.get("zone").is_none() && host.get("aliases").is_none() && host.get("ttl").is_none()
    );
    assert!(
        host.get("ipv6addrs").is_none(),
        "empty lists are unset and omitted"
    );
    assert_eq!(first_ip(&host), "10.0.0.1");
    let entry = &host["ipv4addrs"][0];
    assert_eq!(entry["host"], "m1");
    assert!(entry.get("mac").is_none());
    let entry_ref = entry["_ref"].as_str().unwrap().to_string();
    assert!(
        entry_ref.starts_with("record:host_ipv4addr/") && entry_ref.ends_with(":10.0.0.1/m1/%20")
    );

    // PUT as telekom sends it: read-only fields dropped, refs echoed, a new func entry appended.
    let put = json!({"_ref": r, "aliases": [], "configure_for_dns": false, "extattrs": {},
        "ipv4addrs": [{"_ref": entry_ref, "configure_for_dhcp": false, "ipv4addr": "10.0.0.1"},
                      {"configure_for_dhcp": false, "ipv4addr": "func:nextavailableip:10.0.1.0/24,nv", "mac": ""}],
        "ipv6addrs": [], "name": "m1", "use_ttl": false, "ttl": 0, "view": " "});
    let (status, r2) = st.put(&r).body(put).call();
    assert_eq!((status, r2.as_str().unwrap()), (200, r.as_str()));
    let host = st.get(&r).ok();
    let ips: Vec<_> = host["ipv4addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ipv4addr"].clone())
        .collect();
    assert_eq!(ips, vec![json!("10.0.0.1"), json!("10.0.1.1")]);
    // The kept entry keeps its ref.
    assert_eq!(host["ipv4addrs"][0]["_ref"], json!(entry_ref));

    // Release one address by replacing the list, then delete.
    st.put(&r)
        .body(json!({"ipv4addrs": [{"ipv4addr": "10.0.1.1"}]}))
        .ok();
    assert_eq!(first_ip(&st.get(&r).ok()), "10.0.1.1");
    let deleted = st.delete(&r).ok();
    assert_eq!(deleted, json!(r));
    let (_, empty) = st.get("record:host").query("name=m1").raw();
    assert_eq!(empty, "[]");
    let (status, text) = st.delete(&r).err();
    assert_eq!((status, text), (404, format!("Reference {r} not found")));
    // The freed address is the lowest again.
    let again = st
        .post("record:host")
        .query("_return_fields=ipv4addrs")
        .body(telekom_host("m2", "10.0.0.0/24"))
        .ok();
    assert_eq!(first_ip(&again), "10.0.0.1");
}

#[test]
fn exhaustion_and_reserved_addresses() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/29");
    let got: Vec<String> = (0..6)
        .map(|i| {
            first_ip(
                &st.post("record:host")
                    .query("_return_fields=ipv4addrs")
                    .body(telekom_host(&format!("h{i}"), "10.0.0.0/29"))
                    .ok(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"
        ]
    );
    let (status, v) = st
        .post("record:host")
        .body(telekom_host("h7", "10.0.0.0/29"))
        .call();
    assert_eq!(status, 400);
    assert_eq!(
        v,
        json!({"Error": "AdmConDataError: None (IBDataError: IB.Data:Cannot find 1 available IP address(es) in this network.)",
               "code": "Client.Ibap.Data", "text": "Cannot find 1 available IP address(es) in this network."})
    );
    assert!(
        st.get("record:host")
            .query("name=h7")
            .ok()
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Grid-style reservations: skip .1 (gateway) and the last usable address.
    st.config.reserved_offsets = vec![1, -2];
    st.post("network")
        .body(json!({"network": "10.0.1.0/29", "network_view": "nv"}))
        .ok();
    let net = st.get("network").query("network=10.0.1.0/29").ok()[0]["_ref"]
        .as_str()
        .unwrap()
        .to_string();
    let ips = st
        .post(&net)
        .query("_function=next_available_ip")
        .body(json!({"num": 4}))
        .ok();
    assert_eq!(
        ips,
        json!({"ips": ["10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5"]})
    );
    let (_, text) = st
        .post(&net)
        .query("_function=next_available_ip")
        .body(json!({"num": 5}))
        .err();
    assert_eq!(
        text,
        "Cannot find 5 available IP address(es) in this network."
    );
}

#[test]
fn a_slash_eight_allocates_without_walking_it() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/8");
    let net = st.get("network").query("network=10.0.0.0/8").ok()[0]["_ref"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"num": 2, "exclude": ["10.0.0.1", "10.0.0.3"]});
    assert_eq!(
        st.post(&net)
            .query("_function=next_available_ip")
            .body(body)
            .ok(),
        json!({"ips": ["10.0.0.2", "10.0.0.4"]})
    );
}

#[test]
fn ranges_are_skipped_by_networks_and_allocate_themselves() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    st.post("range")
        .body(json!({"start_addr": "10.0.0.1", "end_addr": "10.0.0.10", "network_view": "nv"}))
        .ok();
    let h = st
        .post("record:host")
        .query("_return_fields=ipv4addrs")
        .body(telekom_host("n", "10.0.0.0/24"))
        .ok();
    assert_eq!(first_ip(&h), "10.0.0.11");
    let h = st
        .post("record:host")
        .query("_return_fields=ipv4addrs")
        .body(telekom_host("r", "10.0.0.1-10.0.0.10"))
        .ok();
    assert_eq!(first_ip(&h), "10.0.0.1");
}

#[test]
fn duplicates_follow_the_reference() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    st.post("zone_auth")
        .body(json!({"fqdn": "example.com", "view": "default.nv"}))
        .ok();
    st.post("view")
        .body(json!({"name": "internal", "network_view": "nv"}))
        .ok();
    st.post("zone_auth")
        .body(json!({"fqdn": "example.com", "view": "internal"}))
        .ok();
    let dns = |view: &str| {
        json!({"name": "web.example.com", "view": view, "configure_for_dns": true,
               "ipv4addrs": [{"ipv4addr": "func:nextavailableip:10.0.0.0/24,nv"}]})
    };
    st.post("record:host").body(dns("default.nv")).ok();
    // A retried create (the Go client resends a POST that timed out) is refused, not doubled.
    let (status, v) = st.post("record:host").body(dns("default.nv")).call();
    assert_eq!(status, 400);
    assert_eq!(v["code"], "Client.Ibap.Data.Conflict");
    assert_eq!(
        v["Error"],
        "AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:The record 'web.example.com' already exists.)"
    );
    // Other views may reuse the name, and a search without a view returns both.
    st.post("record:host").body(dns("internal")).ok();
    assert_eq!(
        st.get("record:host")
            .query("name=web.example.com")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Non-DNS hosts: unique per network view by default, configurable.
    st.post("record:host")
        .body(telekom_host("m", "10.0.0.0/24"))
        .ok();
    let (_, text) = st
        .post("record:host")
        .body(telekom_host("m", "10.0.0.0/24"))
        .err();
    assert_eq!(text, "The record 'm' already exists.");
    st.config.allow_duplicate_non_dns_hosts = true;
    st.post("record:host")
        .body(telekom_host("m", "10.0.0.0/24"))
        .ok();

    // A specific address already used by another host is allowed, as on NIOS.
    let body = json!({"name": "x", "configure_for_dns": false, "network_view": "nv", "ipv4addrs": [{"ipv4addr": "10.0.0.1"}]});
    st.post("record:host").body(body).ok();

    let (_, text) = st.post("networkview").body(json!({"name": "nv"})).err();
    assert_eq!(text, "The record 'nv' already exists.");
}

#[test]
fn dns_hosts_need_a_view_and_a_parent_zone() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    let body = |name: &str, view: &str| json!({"name": name, "view": view, "ipv4addrs": [{"ipv4addr": "func:nextavailableip:10.0.0.0/24,nv"}]});
    let (status, v) = st
        .post("record:host")
        .body(body("a.example.com", "nope"))
        .call();
    assert_eq!(
        (status, v["Error"].as_str().unwrap()),
        (404, "AdmConDataNotFoundError: View nope not found")
    );
    let (_, text) = st
        .post("record:host")
        .body(body("a.example.com", "default.nv"))
        .err();
    assert_eq!(text, "The action is not allowed. A parent was not found.");
    st.post("zone_auth")
        .body(json!({"fqdn": "Example.com.", "view": "default.nv"}))
        .ok();
    let h = st
        .post("record:host")
        .query("_return_fields=zone,network_view,view")
        .body(body("a.example.com", "default.nv"))
        .ok();
    assert_eq!(
        (h["zone"].as_str(), h["network_view"].as_str()),
        (Some("example.com"), Some("nv"))
    );
    assert!(
        h["_ref"]
            .as_str()
            .unwrap()
            .ends_with(":a.example.com/default.nv")
    );
}

#[test]
fn the_allocation_target_must_be_one_leaf_network() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    let (_, text) = st
        .post("record:host")
        .body(telekom_host("a", "10.9.0.0/24"))
        .err();
    assert_eq!(
        text,
        "10.9.0.0/24,nv does not match any unique networks/ranges (ipv4addr)"
    );

    // A child network turns its parent into a container, which no longer allocates.
    st.post("network")
        .body(json!({"network": "10.0.0.0/28", "network_view": "nv"}))
        .ok();
    assert_eq!(
        st.get("network").query("network=10.0.0.0/24").ok(),
        json!([])
    );
    let c = st.get("networkcontainer").query("network=10.0.0.0/24").ok();
    assert!(
        c[0]["_ref"]
            .as_str()
            .unwrap()
            .starts_with("networkcontainer/")
    );
    let (_, text) = st
        .post("record:host")
        .body(telekom_host("a", "10.0.0.0/24"))
        .err();
    assert_eq!(
        text,
        "10.0.0.0/24,nv does not match any unique networks/ranges (ipv4addr)"
    );
    let child = st
        .get("network")
        .query("network_container=10.0.0.0/24&_return_fields%2B=network_container")
        .ok();
    assert_eq!(child[0]["network"], "10.0.0.0/28");
    assert_eq!(child[0]["network_container"], "10.0.0.0/24");
}

#[test]
fn next_available_network_carves_subnets() {
    let sim = sim();
    let st = &mut sim.lock();
    st.post("networkview").body(json!({"name": "nv"})).ok();
    st.post("networkcontainer")
        .body(json!({"network": "192.168.200.0/24", "network_view": "nv"}))
        .ok();
    let carve = json!({"network": "func:nextavailablenetwork:192.168.200.0/24,nv,28", "network_view": "nv"});
    let a = st
        .post("network")
        .query("_return_fields=network")
        .body(carve.clone())
        .ok();
    let b = st
        .post("network")
        .query("_return_fields=network")
        .body(carve)
        .ok();
    assert_eq!(
        (a["network"].as_str(), b["network"].as_str()),
        (Some("192.168.200.0/28"), Some("192.168.200.16/28"))
    );
    assert!(
        a["_ref"]
            .as_str()
            .unwrap()
            .ends_with(":192.168.200.0/28/nv")
    );

    let container = st
        .get("networkcontainer")
        .query("network=192.168.200.0/24")
        .ok()[0]["_ref"]
        .as_str()
        .unwrap()
        .to_string();
    let free = st
        .post(&container)
        .query("_function=next_available_network")
        .body(json!({"cidr": 26, "num": 2}))
        .ok();
    assert_eq!(
        free,
        json!({"networks": ["192.168.200.64/26", "192.168.200.128/26"]})
    );

    let longhand = json!({"network": {"_object_function": "next_available_network", "_result_field": "networks",
        "_object": "networkcontainer", "_object_parameters": {"network": "192.168.200.0/24", "network_view": "nv"},
        "_parameters": {"cidr": 28}}, "network_view": "nv"});
    let c = st
        .post("network")
        .query("_return_fields=network")
        .body(longhand)
        .ok();
    assert_eq!(c["network"], "192.168.200.32/28");

    // IPv6, as telekom's suite sets it up.
    st.post("ipv6networkcontainer")
        .body(json!({"network": "fdf0:9824:ab5c:6f73::/120", "network_view": "nv"}))
        .ok();
    let v6 = st.post("ipv6network").query("_return_fields=network").body(json!({"network": "func:nextavailablenetwork:fdf0:9824:ab5c:6f73::/120,nv,124", "network_view": "nv"})).ok();
    assert_eq!(v6["network"], "fdf0:9824:ab5c:6f73::/124");
    assert!(
        v6["_ref"]
            .as_str()
            .unwrap()
            .ends_with(":fdf0%3A9824%3Aab5c%3A6f73%3A%3A/124/nv")
    );
    let h = st.post("record:host").query("_return_fields=ipv6addrs").body(json!({"name": "six", "configure_for_dns": false,
        "ipv6addrs": [{"configure_for_dhcp": false, "duid": "", "ipv6addr": "func:nextavailableip:fdf0:9824:ab5c:6f73::/124,nv"}]})).ok();
    assert_eq!(h["ipv6addrs"][0]["ipv6addr"], "fdf0:9824:ab5c:6f73::1");

    let (_, text) = st
        .post("network")
        .body(
            json!({"network": "func:nextavailablenetwork:10.1.0.0/16,nv,24", "network_view": "nv"}),
        )
        .err();
    assert_eq!(
        text,
        "10.1.0.0/16,nv,24 does not match any unique network containers (network)"
    );
}

#[test]
fn longhand_object_function_with_exclusions() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    let body = json!({"name": "l", "configure_for_dns": false, "ipv4addrs": [{"ipv4addr": {
        "_object_function": "next_available_ip", "_result_field": "ips", "_object": "network",
        "_object_parameters": {"network": "10.0.0.0/24", "network_view": "nv"},
        "_parameters": {"exclude": ["10.0.0.1", "10.0.0.2"], "num": 1}}}]});
    let h = st
        .post("record:host")
        .query("_return_fields=ipv4addrs,network_view")
        .body(body)
        .ok();
    assert_eq!(
        (first_ip(&h).as_str(), h["network_view"].as_str()),
        ("10.0.0.3", Some("nv"))
    );

    // The function must name something addresses (or subnets) can come from.
    let odd = json!({"name": "o", "configure_for_dns": false, "ipv4addrs": [{"ipv4addr": {
        "_object_function": "next_available_ip", "_object": "networkview",
        "_object_parameters": {"name": "nv"}}}]});
    let (_, text) = st.post("record:host").body(odd).err();
    assert!(
        text.ends_with("does not match any unique networks/ranges (ipv4addr)"),
        "{text}"
    );
    let odd = json!({"network": {"_object_function": "next_available_network", "_object": "record:host",
        "_object_parameters": {"name": "l"}, "_parameters": {"cidr": 28}}});
    let (_, text) = st.post("network").body(odd).err();
    assert!(
        text.ends_with("does not match any unique network containers (network)"),
        "{text}"
    );
}

#[test]
fn several_function_entries_in_one_body_get_different_addresses() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    let f = "func:nextavailableip:10.0.0.0/24,nv";
    let body = json!({"name": "multi", "configure_for_dns": false, "network_view": "nv",
        "ipv4addrs": [{"ipv4addr": f}, {"ipv4addr": f}, {"ipv4addr": "10.0.0.3"}]});
    let h = st
        .post("record:host")
        .query("_return_fields=ipv4addrs")
        .body(body)
        .ok();
    let ips: Vec<_> = h["ipv4addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ipv4addr"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);

    // ipv4addrs+ / ipv4addrs- edit the list in place.
    let r = h["_ref"].as_str().unwrap().to_string();
    st.put(&r)
        .body(json!({"ipv4addrs+": [{"ipv4addr": f}]}))
        .ok();
    st.put(&r)
        .body(json!({"ipv4addrs-": [{"ipv4addr": "10.0.0.1"}]}))
        .ok();
    let h = st.get(&r).ok();
    let ips: Vec<_> = h["ipv4addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ipv4addr"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
}

#[test]
fn fixed_addresses_and_hosts_share_the_free_space() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    st.post("record:host")
        .body(telekom_host("h", "10.0.0.0/24"))
        .ok();
    let fa = st.post("fixedaddress").query("_return_fields=ipv4addr,mac,network,network_view").body(json!({"ipv4addr": "func:nextavailableip:10.0.0.0/24,nv", "mac": "00:00:00:00:00:00", "network_view": "nv"})).ok();
    assert_eq!(fa["ipv4addr"], "10.0.0.2");
    assert_eq!(fa["network"], "10.0.0.0/24");
    assert!(fa["_ref"].as_str().unwrap().ends_with(":10.0.0.2/nv"));
    let h = st
        .post("record:host")
        .query("_return_fields=ipv4addrs")
        .body(telekom_host("h2", "10.0.0.0/24"))
        .ok();
    assert_eq!(first_ip(&h), "10.0.0.3");
    let (_, text) = st
        .post("fixedaddress")
        .body(json!({"ipv4addr": "10.0.0.9", "network_view": "nv"}))
        .err();
    assert_eq!(text, "Required field missing: mac");

    // The Go client's body: network alongside the function, comment always, match_client.
    let go = json!({"network_view": "nv", "network": "10.0.0.0/24", "comment": "",
        "ipv4addr": "func:nextavailableip:10.0.0.0/24,nv", "mac": "00:00:00:00:00:00",
        "name": "claim-1", "match_client": "MAC_ADDRESS", "extattrs": {}});
    let fa = st
        .post("fixedaddress")
        .query("_return_fields=ipv4addr,name,comment")
        .body(go.clone())
        .ok();
    assert_eq!(fa["ipv4addr"], "10.0.0.4");
    assert!(fa.get("comment").is_none());
    let mut wrong = go;
    wrong["network"] = json!("10.9.0.0/24");
    let (_, text) = st.post("fixedaddress").body(wrong).err();
    assert_eq!(text, "Invalid value for network: 10.9.0.0/24");
}

#[test]
fn paging_needs_return_as_object_and_keeps_state_server_side() {
    let sim = sim();
    let st = &mut sim.lock();
    for i in 0..5 {
        st.post("networkview")
            .body(json!({"name": format!("nv{i}")}))
            .ok();
    }
    let (_, text) = st
        .get("networkview")
        .query("_paging=1&_max_results=2")
        .err();
    assert_eq!(
        text,
        "_return_as_object needs to be enabled for paging requests."
    );

    let q = "_paging=1&_return_as_object=1&_max_results=2";
    let (_, first) = st.get("networkview").query(q).raw();
    assert!(
        first.starts_with("{\"result\":[{"),
        "result comes first: {first}"
    );
    let first: Value = serde_json::from_str(&first).unwrap();
    let mut names: Vec<Value> = first["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    let mut next = first["next_page_id"].as_str().unwrap().to_string();
    assert!(next.starts_with("789c"));
    // Page ids alone (Posh-IBWAPI) and with the whole query again (Python) both work.
    let page = st
        .get("networkview")
        .query(&format!("_page_id={next}"))
        .ok();
    names.extend(
        page["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].clone()),
    );
    next = page["next_page_id"].as_str().unwrap().to_string();
    let last = st
        .get("networkview")
        .query(&format!("{q}&_page_id={next}"))
        .ok();
    assert!(last.get("next_page_id").is_none());
    names.extend(
        last["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].clone()),
    );
    assert_eq!(
        names,
        vec![
            json!("default"),
            json!("nv0"),
            json!("nv1"),
            json!("nv2"),
            json!("nv3"),
            json!("nv4")
        ]
    );

    let (_, text) = st.get("networkview").query("_max_results=-3").err();
    assert_eq!(text, "Result set too large (> 3)");
    assert_eq!(
        st.get("networkview")
            .query("_max_results=2")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn return_fields_and_wrapping() {
    let sim = sim();
    let st = &mut sim.lock();
    st.post("networkview")
        .body(json!({"name": "nv", "comment": "c"}))
        .ok();
    let (_, text) = st.get("networkview").query("name=nv").raw();
    assert!(text.starts_with("[{\"_ref\":\"networkview/"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v[0].as_object().unwrap().len(),
        4,
        "defaults: comment, is_default, name + _ref: {v}"
    );
    let v = st
        .get("networkview")
        .query("name=nv&_return_fields=name&_return_fields=extattrs")
        .ok();
    assert_eq!(
        v[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["_ref", "extattrs", "name"]
    );
    let v = st
        .get("networkview")
        .query("name=default&_return_fields%2B=extattrs")
        .ok();
    assert!(
        v[0].get("comment").is_none(),
        "unset fields are omitted even when requested"
    );
    assert!(v[0].get("extattrs").is_some() && v[0].get("is_default").is_some());
    let v = st
        .get("networkview")
        .query("name=nv&_return_as_object=1")
        .ok();
    assert_eq!(v["result"][0]["name"], "nv");
    let (_, text) = st.get("networkview").query("_return_fields=bogus").err();
    assert_eq!(text, "Unknown argument/field: bogus");
    let r = v["result"][0]["_ref"].as_str().unwrap().to_string();
    let one = st.get(&r).query("_return_as_object=1").ok();
    assert_eq!(one["result"]["name"], "nv");
    let (_, text) = st
        .get("networkview")
        .query("name=nv&_return_type=json-pretty")
        .raw();
    assert!(text.contains('\n'));
}

#[test]
fn protocol_errors_use_the_catalogue() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    let (status, v) = st.get("record:bogus").call();
    assert_eq!(
        (status, v["Error"].as_str().unwrap()),
        (400, "AdmConProtoError: Unknown object type (record:bogus)")
    );
    assert_eq!(v["code"], "Client.Ibap.Proto");
    assert_eq!(
        st.get("record:host").query("_bogus=1").err().1,
        "Unknown argument/field: _bogus"
    );
    assert_eq!(
        st.get("record:host").query("nonsense=1").err().1,
        "Unknown argument/field: nonsense"
    );
    assert_eq!(
        st.get("record:host")
            .query("configure_for_dns=false")
            .err()
            .1,
        "Field is not searchable: configure_for_dns"
    );
    assert_eq!(
        st.get("record:host").query("*Site=x").err().1,
        "Unknown extensible attribute: Site"
    );
    assert_eq!(
        st.post("record:host")
            .body(json!({"name": "a", "bogus": 1}))
            .err()
            .1,
        "Unknown argument/field: bogus"
    );
    let (status, text) = st
        .get("network/ZG5zLm5ldHdvcmsk99999999:10.0.0.0/24/nv")
        .err();
    assert_eq!(
        (status, text.as_str()),
        (
            404,
            "Reference network/ZG5zLm5ldHdvcmsk99999999:10.0.0.0/24/nv not found"
        )
    );

    let r = st
        .post("record:host")
        .body(telekom_host("h", "10.0.0.0/24"))
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        st.put(&r).body(json!({"zone": "x"})).err().1,
        "Field is not writable: zone"
    );
    assert_eq!(
        st.put(&r).body(json!({"network_view": "nv"})).err().1,
        "Field is not writable: network_view"
    );
    let with_host = json!({"ipv4addrs": [{"ipv4addr": "10.0.0.1", "host": "h"}]});
    assert_eq!(
        st.put(&r).body(with_host).err().1,
        "Field is not writable: host"
    );
    let (_, text) = st
        .post("network")
        .body(json!({"network": "10.5.0.0/24", "network_view": "nope"}))
        .err();
    assert_eq!(text, "Network View nope not found");
}

#[test]
fn deleting_a_network_view_deletes_what_is_in_it() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    st.post("record:host")
        .body(telekom_host("h", "10.0.0.0/24"))
        .ok();
    assert_eq!(
        st.get("view")
            .query("name=default.nv")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let nv = st.get("networkview").query("name=nv").ok()[0]["_ref"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(nv.ends_with(":nv/false"));
    st.delete(&nv).ok();
    for (ty, q) in [
        ("view", "name=default.nv"),
        ("network", ""),
        ("record:host", ""),
    ] {
        assert_eq!(st.get(ty).query(q).ok(), json!([]), "{ty}");
    }
    let default = st.get("networkview").query("is_default=true").ok()[0]["_ref"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        st.delete(&default).err().1,
        "The default network view cannot be deleted."
    );
}

#[test]
fn extensible_attributes_need_a_definition() {
    let sim = sim();
    let st = &mut sim.lock();
    setup(st, "10.0.0.0/24");
    let mut body = telekom_host("h", "10.0.0.0/24");
    body["extattrs"] = json!({"Owner": {"value": "claim-1"}});
    assert_eq!(
        st.post("record:host").body(body.clone()).err().1,
        "Unknown extensible attribute: Owner"
    );
    st.post("extensibleattributedef")
        .body(json!({"name": "Owner", "type": "STRING"}))
        .ok();
    let r = st
        .post("record:host")
        .body(body)
        .ok()
        .as_str()
        .unwrap()
        .to_string();
    let found = st
        .get("record:host")
        .query("%2AOwner=claim-1&_return_fields%2B=extattrs")
        .ok();
    assert_eq!(found[0]["extattrs"], json!({"Owner": {"value": "claim-1"}}));
    st.put(&r).body(json!({"extattrs-": {"Owner": {}}})).ok();
    assert_eq!(
        st.get("record:host").query("%2AOwner=claim-1").ok(),
        json!([])
    );
}
