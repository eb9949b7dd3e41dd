//! The server on a real loopback listener, driven with reqwest over HTTPS: authentication,
//! encoding, atomic allocation under concurrency, paging, faults and the control API.

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use wapi_sim::{ClientCertMode, Options, Running, SimConfig, User};

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

struct Harness {
    server: Running,
    dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start() -> Harness {
    start_with(ClientCertMode::Off).await
}

async fn start_with(client_certs: ClientCertMode) -> Harness {
    let dir = std::env::temp_dir().join(format!(
        "wapi-sim-test-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::SeqCst)
    ));
    let server = wapi_sim::start(Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_dir: dir.clone(),
        users: vec![User {
            username: "admin".into(),
            password: "infoblox".into(),
        }],
        config: SimConfig::default(),
        cert_names: Vec::new(),
        client_certs,
    })
    .await
    .expect("server starts");
    Harness { server, dir }
}

impl Harness {
    fn client_with(&self, cookies: bool, timeout: Option<Duration>) -> Client {
        let ca = std::fs::read(&self.server.certs.ca).unwrap();
        let mut b = Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .cookie_store(cookies)
            .pool_max_idle_per_host(0);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    fn client(&self) -> Client {
        self.client_with(false, None)
    }

    /// A client presenting the certificate and key in these two files of the cert directory.
    fn client_presenting(&self, cert: &std::path::Path, key: &std::path::Path) -> Client {
        let ca = std::fs::read(&self.server.certs.ca).unwrap();
        let mut pem = std::fs::read(cert).unwrap();
        pem.extend(std::fs::read(key).unwrap());
        Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.server.addr)
    }

    fn wapi(&self, rest: &str) -> String {
        self.url(&format!("/wapi/v2.12/{rest}"))
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client()
            .request(method, self.url(&format!("/_sim/{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    async fn seed(&self, body: Value) {
        self.control(reqwest::Method::POST, "seed", Some(body))
            .await;
    }

    async fn log(&self) -> Vec<Value> {
        let v = self.control(reqwest::Method::GET, "requests", None).await;
        v.as_array().unwrap().clone()
    }

    async fn fault(&self, rule: Value) {
        self.control(reqwest::Method::POST, "faults", Some(rule))
            .await;
    }

    async fn post_host(
        &self,
        client: &Client,
        name: &str,
        cidr: &str,
    ) -> reqwest::Result<reqwest::Response> {
        client
            .post(self.wapi("record:host?_return_fields=ipv4addrs"))
            .basic_auth("admin", Some("infoblox"))
            .json(&host_body(name, cidr))
            .send()
            .await
    }
}

fn host_body(name: &str, cidr: &str) -> Value {
    json!({"aliases": [], "configure_for_dns": false, "extattrs": {},
           "ipv4addrs": [{"configure_for_dhcp": false, "ipv4addr": format!("func:nextavailableip:{cidr},nv"), "mac": ""}],
           "ipv6addrs": [], "name": name, "network_view": "nv"})
}

fn nv_with(networks: &[&str]) -> Value {
    let nets: Vec<Value> = networks
        .iter()
        .map(|n| json!({"network": n, "network_view": "nv"}))
        .collect();
    json!({"network_views": ["nv"], "networks": nets})
}

#[tokio::test]
async fn basic_auth_then_cookie_then_logout() {
    let h = start().await;
    let anon = h.client();
    let resp = anon.get(h.wapi("networkview")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"InfoBlox ONE Platform\""
    );
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<title>401 Authorization Required</title>")
    );
    let wrong = anon
        .get(h.wapi("networkview"))
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let jar = h.client_with(true, None);
    let resp = jar
        .get(h.wapi("networkview?name=default"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("ibapauth=\"group="), "{cookie}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body[0]["is_default"], true);

    // The cookie alone now authenticates.
    let resp = jar.get(h.wapi("networkview")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let auths: Vec<Value> = h.log().await.iter().map(|e| e["auth"].clone()).collect();
    assert_eq!(
        auths,
        vec![
            json!("denied"),
            json!("denied"),
            json!("basic"),
            json!("cookie")
        ]
    );

    let out = jar.post(h.wapi("logout")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let resp = jar.get(h.wapi("networkview")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A fresh cookie dies when the control API expires every session.
    jar.get(h.wapi("networkview"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        jar.get(h.wapi("networkview"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    h.control(reqwest::Method::POST, "sessions/expire", None)
        .await;
    assert_eq!(
        jar.get(h.wapi("networkview"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_required_client_certificate_authenticates_alone_and_anything_else_is_401() {
    let h = start_with(ClientCertMode::Required).await;
    let files = h
        .server
        .certs
        .client
        .clone()
        .expect("client certificates written");
    for f in [
        &files.ca,
        &files.cert,
        &files.key,
        &files.untrusted_cert,
        &files.untrusted_key,
    ] {
        assert!(
            f.starts_with(&h.dir),
            "{} lies in the cert directory",
            f.display()
        );
    }
    let trusted = h.client_presenting(&files.cert, &files.key);
    let resp = trusted.get(h.wapi("networkview")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "no Basic needed");
    assert!(
        resp.headers().get(header::SET_COOKIE).is_none(),
        "no session for a certificate"
    );
    // Basic beside the certificate is checked too.
    let resp = trusted
        .get(h.wapi("networkview"))
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The handshake succeeds either way; the answer is the usual 401.
    let untrusted = h.client_presenting(&files.untrusted_cert, &files.untrusted_key);
    let resp = untrusted
        .get(h.wapi("networkview"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"InfoBlox ONE Platform\""
    );
    let resp = h
        .client()
        .get(h.wapi("networkview"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "required means required"
    );
    // The control API needs no certificate (h.log uses a client without one).
    let auths: Vec<Value> = h.log().await.iter().map(|e| e["auth"].clone()).collect();
    assert_eq!(
        auths,
        vec![
            json!("certificate"),
            json!("denied"),
            json!("denied"),
            json!("denied")
        ]
    );
}

#[tokio::test]
async fn an_optional_client_certificate_leaves_basic_auth_working() {
    let h = start_with(ClientCertMode::Optional).await;
    let files = h
        .server
        .certs
        .client
        .clone()
        .expect("client certificates written");
    let resp = h
        .client()
        .get(h.wapi("networkview"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let trusted = h.client_presenting(&files.cert, &files.key);
    let resp = trusted.get(h.wapi("networkview")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let untrusted = h.client_presenting(&files.untrusted_cert, &files.untrusted_key);
    let resp = untrusted
        .get(h.wapi("networkview"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "an untrusted certificate is never ignored"
    );
    assert!(
        start().await.server.certs.client.is_none(),
        "off by default"
    );
}

#[tokio::test]
async fn host_create_search_delete_with_client_encodings() {
    let h = start().await;
    h.seed(nv_with(&["10.0.0.0/24"])).await;
    let c = h.client();

    // An empty search is exactly the two bytes `[]`.
    let resp = c
        .get(h.wapi("record%3Ahost?name=m1&network_view=nv"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"[]");

    let resp = c
        .post(h.wapi("record%3Ahost"))
        .basic_auth("admin", Some("infoblox"))
        .json(&host_body("m1", "10.0.0.0/24"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let r: String = resp.json().await.unwrap();
    assert!(r.ends_with(":m1/%20"));

    let found: Value = c
        .get(h.wapi("record%3Ahost?name=m1&_return_fields%2B=network_view%2Cconfigure_for_dns"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["ipv4addrs"][0]["ipv4addr"], "10.0.0.1");
    assert_eq!(found[0]["network_view"], "nv");
    assert_eq!(found[0]["view"], " ");

    // The Python client quotes the ref: `:` as %3A and the `%` of %20 as %25.
    let quoted = r.replace(':', "%3A").replace("%20", "%2520");
    let one = c
        .get(h.wapi(&quoted))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    let del = c
        .delete(h.wapi(&quoted))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    assert_eq!(del.json::<String>().await.unwrap(), r);
    let gone = c
        .get(h.wapi(&quoted))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["code"], "Client.Ibap.Data.NotFound");

    // The log shows what was routed, decoded once, with query pairs form-decoded.
    let log = h.log().await;
    let search = &log[2];
    assert_eq!(search["path"], "/wapi/v2.12/record:host");
    assert_eq!(
        search["query"][1],
        json!(["_return_fields+", "network_view,configure_for_dns"])
    );
    assert!(
        log.iter().all(|e| !e.to_string().contains("infoblox")),
        "no password in the log"
    );
}

#[tokio::test]
async fn concurrent_allocations_never_hand_out_an_address_twice() {
    let h = std::sync::Arc::new(start().await);
    h.seed(nv_with(&["10.0.0.0/26", "10.0.1.0/29"])).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let resp = h
                .post_host(&h.client(), &format!("c{i}"), "10.0.0.0/26")
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED);
            let v: Value = resp.json().await.unwrap();
            v["ipv4addrs"][0]["ipv4addr"].as_str().unwrap().to_string()
        }));
    }
    let mut ips = Vec::new();
    for t in tasks {
        ips.push(t.await.unwrap());
    }
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 40);

    // A /29 has six addresses to give: six creates win, the rest get "network full".
    let mut tasks = Vec::new();
    for i in 0..10 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let resp = h
                .post_host(&h.client(), &format!("s{i}"), "10.0.1.0/29")
                .await
                .unwrap();
            (resp.status(), resp.text().await.unwrap())
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(body.contains("Cannot find 1 available IP address(es) in this network."));
        }
    }
    assert_eq!(created, 6);
}

#[tokio::test]
async fn paging_over_https() {
    let h = start().await;
    let views: Vec<Value> = (0..7).map(|i| json!(format!("nv{i}"))).collect();
    h.seed(json!({"network_views": views})).await;
    let c = h.client();
    let get = |url: String| {
        let c = c.clone();
        async move {
            let resp = c
                .get(url)
                .basic_auth("admin", Some("infoblox"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Value>().await.unwrap()
        }
    };
    let mut page = get(h.wapi("networkview?_paging=1&_return_as_object=1&_max_results=3")).await;
    let mut names = Vec::new();
    loop {
        names.extend(
            page["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_string()),
        );
        let Some(next) = page.get("next_page_id").and_then(Value::as_str) else {
            break;
        };
        page = get(h.wapi(&format!("networkview?_page_id={next}"))).await;
    }
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "default");
}

#[tokio::test]
async fn injected_faults() {
    let h = start().await;
    h.seed(nv_with(&["10.0.0.0/24"])).await;
    let c = h.client();
    let auth_get = |path: &str| {
        c.get(h.wapi(path))
            .basic_auth("admin", Some("infoblox"))
            .send()
    };

    // 5xx with a WAPI body, for the next matching request only.
    h.fault(
        json!({"method": "GET", "object": "network", "action": {"kind": "status", "status": 503}}),
    )
    .await;
    let resp = auth_get("network").await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["text"], "Injected fault (HTTP 503)");
    assert_eq!(auth_get("network").await.unwrap().status(), StatusCode::OK);

    // A forced 401 despite good credentials.
    h.fault(json!({"path": "^networkview", "action": {"kind": "unauthorized"}}))
        .await;
    assert_eq!(
        auth_get("networkview").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        auth_get("networkview").await.unwrap().status(),
        StatusCode::OK
    );

    // Added latency.
    h.fault(json!({"action": {"kind": "latency", "ms": 300}}))
        .await;
    let t = Instant::now();
    assert_eq!(auth_get("network").await.unwrap().status(), StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));

    // Network full without touching the grid.
    h.fault(json!({"method": "POST", "object": "record:host", "action": {"kind": "network_full"}}))
        .await;
    let resp = h.post_host(&c, "full", "10.0.0.0/24").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["text"],
        "Cannot find 1 available IP address(es) in this network."
    );

    // The write commits, the answer comes too late: the client times out, the host exists,
    // and a blind retry of the POST is refused as a duplicate.
    h.fault(json!({"method": "POST", "action": {"kind": "timeout_after_commit", "ms": 3000}}))
        .await;
    let impatient = h.client_with(false, Some(Duration::from_millis(500)));
    let err = h
        .post_host(&impatient, "slow", "10.0.0.0/24")
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let found: Value = auth_get("record:host?name=slow")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["ipv4addrs"][0]["ipv4addr"], "10.0.0.1");
    let retry = h.post_host(&c, "slow", "10.0.0.0/24").await.unwrap();
    assert_eq!(retry.status(), StatusCode::BAD_REQUEST);
    assert!(
        retry
            .text()
            .await
            .unwrap()
            .contains("The record 'slow' already exists.")
    );

    // The write commits and the connection closes without an answer.
    h.fault(json!({"method": "POST", "action": {"kind": "drop_after_commit"}}))
        .await;
    let err = h.post_host(&c, "dropped", "10.0.0.0/24").await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err}");
    let found: Value = auth_get("record:host?name=dropped")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["ipv4addrs"][0]["ipv4addr"], "10.0.0.2");

    let faults: Vec<String> = h
        .log()
        .await
        .iter()
        .filter_map(|e| e["fault"].as_str().map(String::from))
        .collect();
    assert_eq!(
        faults,
        [
            "status",
            "unauthorized",
            "latency",
            "network_full",
            "timeout_after_commit",
            "drop_after_commit"
        ]
    );

    // A standing rule lasts until cleared.
    h.fault(json!({"object": "view", "count": 0, "action": {"kind": "status", "status": 500, "text": "boom"}})).await;
    for _ in 0..2 {
        assert_eq!(
            auth_get("view").await.unwrap().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(
        h.control(reqwest::Method::GET, "faults", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.control(reqwest::Method::DELETE, "faults", None).await;
    assert_eq!(auth_get("view").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn versions_and_foreign_paths() {
    let h = start().await;
    let c = h.client();
    for v in ["2.5", "2.11.2", "2.13.6"] {
        let url = h.url(&format!("/wapi/v{v}/networkview"));
        let resp = c
            .get(url)
            .basic_auth("admin", Some("infoblox"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{v}");
    }
    let resp = c
        .get(h.url("/wapi/v2.99/networkview"))
        .basic_auth("admin", Some("infoblox"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["text"], "Version 2.99 not supported");
    let resp = c.get(h.url("/index.html")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<title>404 Not Found</title>")
    );
}

#[tokio::test]
async fn control_api_seed_is_all_or_nothing_and_reset_empties() {
    let h = start().await;
    let c = h.client();
    let bad = json!({"network_views": ["a"], "networks": [{"network": "10.0.0.0/24", "network_view": "missing"}]});
    let resp = c
        .post(h.url("/_sim/seed"))
        .body(bad.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["wapi"]["text"], "Network View missing not found");
    let state = h.control(reqwest::Method::GET, "state", None).await;
    assert_eq!(
        state["networkview"].as_array().unwrap().len(),
        1,
        "the half-applied seed was rolled back"
    );

    h.seed(
        json!({"network_views": ["a"], "zones": [{"fqdn": "example.com", "view": "default.a"}],
                  "users": [{"username": "ops", "password": "secret"}]}),
    )
    .await;
    let resp = c
        .get(h.wapi("zone_auth"))
        .basic_auth("ops", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    h.control(
        reqwest::Method::POST,
        "presets/telekom",
        Some(json!({"network_view": "a", "zone": "capi.test"})),
    )
    .await;
    let state = h.control(reqwest::Method::GET, "state", None).await;
    assert_eq!(state["zone_auth"].as_array().unwrap().len(), 2);
    assert!(
        state["view"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "a" && v["network_view"] == "a")
    );

    h.control(reqwest::Method::POST, "reset", None).await;
    let state = h.control(reqwest::Method::GET, "state", None).await;
    assert_eq!(state["networkview"].as_array().unwrap().len(), 1);
    assert_eq!(state["view"].as_array().unwrap().len(), 1);
    assert!(h.log().await.is_empty());

    let cfg = h
        .control(
            reqwest::Method::PUT,
            "config",
            Some(json!({"first_usable_offset": 10})),
        )
        .await;
    assert_eq!(cfg["first_usable_offset"], 10);
    h.seed(nv_with(&["10.0.0.0/24"])).await;
    let v: Value = h
        .post_host(&c, "ten", "10.0.0.0/24")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ipv4addrs"][0]["ipv4addr"], "10.0.0.10");
}

#[test]
fn help_documents_the_wire_and_control_apis() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wapi-sim"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--cert-dir",
        "--addr-file",
        "func:nextavailableip",
        "/_sim/seed",
        "/_sim/faults",
        "timeout_after_commit",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
