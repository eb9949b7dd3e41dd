//! The WAPI client against wapi-sim: TLS trust, error classes, paging, and retries of
//! idempotent calls only.

mod common;

use std::time::Duration;

use common::{PASSWORD, Sim, USERNAME};
use ipam_infoblox::wapi::{ClientConfig, Credentials, HostRequest, WapiClient, WapiError};
use serde_json::json;

fn config(sim: &Sim) -> ClientConfig {
    ClientConfig {
        host: "127.0.0.1".into(),
        port: sim.port(),
        wapi_version: "2.12".into(),
        credentials: Credentials {
            username: USERNAME.into(),
            password: PASSWORD.into(),
            client_identity_pem: None,
        },
        ca_bundle_pem: Some(sim.ca_pem.clone()),
        disable_tls_verification: false,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        attempts: 3,
        backoff: Duration::from_millis(50),
        page_size: 2,
    }
}

fn client(config: &ClientConfig) -> WapiClient {
    WapiClient::new(config).expect("a valid client configuration")
}

#[tokio::test]
async fn tls_is_verified_unless_disabled() {
    let sim = Sim::start(USERNAME, PASSWORD).await;
    let mut c = config(&sim);
    c.ca_bundle_pem = None;
    let err = client(&c).find_network_view("default").await.unwrap_err();
    assert!(matches!(err, WapiError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    c.disable_tls_verification = true;
    assert!(
        client(&c)
            .find_network_view("default")
            .await
            .unwrap()
            .is_some()
    );
    let mut bad = config(&sim);
    bad.ca_bundle_pem = Some(b"not pem".to_vec());
    assert!(
        WapiClient::new(&bad)
            .unwrap_err()
            .to_string()
            .contains("CA bundle")
    );
}

#[tokio::test]
async fn errors_are_classified_and_name_no_credential() {
    let sim = Sim::start(USERNAME, PASSWORD).await;
    let mut c = config(&sim);
    c.credentials.password = "wrong".into();
    let err = client(&c).find_network_view("default").await.unwrap_err();
    assert!(matches!(err, WapiError::Unauthorized { .. }), "{err}");
    assert!(
        !format!("{err} {err:?} {c:?}").contains("wrong"),
        "no password in messages"
    );

    let wapi = client(&config(&sim));
    sim.seed(json!({"network_views": ["nv"], "networks": [{"network": "10.0.0.0/30", "network_view": "nv"}]}))
        .await;
    let request = |name: &str| HostRequest {
        name: name.into(),
        network_view: "nv".into(),
        dns_view: None,
        subnet: "10.0.0.0/30".parse().unwrap(),
        exclude: vec![],
        comment: String::new(),
    };
    wapi.create_host(&request("a")).await.unwrap();
    let err = wapi.create_host(&request("a")).await.unwrap_err();
    assert!(matches!(err, WapiError::Conflict { .. }), "{err}");
    wapi.create_host(&request("b")).await.unwrap();
    let err = wapi.create_host(&request("c")).await.unwrap_err();
    assert!(matches!(err, WapiError::NetworkFull { .. }), "{err}");
    let err = wapi
        .get::<serde_json::Value>("record:host/nope", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, WapiError::NotFound { .. }), "{err}");
    let err = wapi
        .get::<serde_json::Value>("network", &[("bogus", "1".into())])
        .await
        .unwrap_err();
    assert!(matches!(err, WapiError::Validation { .. }), "{err}");
    let mut v = config(&sim);
    v.wapi_version = "9.9".into();
    let err = client(&v).find_network_view("default").await.unwrap_err();
    assert!(matches!(err, WapiError::UnsupportedVersion { .. }), "{err}");
}

#[tokio::test]
async fn a_client_certificate_alone_authenticates_and_no_key_is_ever_printed() {
    let sim = Sim::start_requiring_client_certs(USERNAME, PASSWORD).await;
    let certs = sim.client_certs.as_ref().unwrap();
    let identity = |pair: &ipam_test_support::wapi_sim::ClientPair| {
        let mut pem = pair.cert_pem.clone();
        pem.extend(&pair.key_pem);
        Credentials {
            username: String::new(),
            password: String::new(),
            client_identity_pem: Some(pem),
        }
    };
    let mut c = config(&sim);
    c.credentials = identity(&certs.trusted);
    let wapi = client(&c);
    assert!(wapi.find_network_view("default").await.unwrap().is_some());
    let log = sim.requests().await;
    assert_eq!(log[0]["auth"], "certificate", "no Basic sent: {log}");

    // Basic alone is not enough for a grid that requires certificates, and a certificate it
    // does not trust is refused as credentials, not as an unreachable server.
    let err = client(&config(&sim))
        .find_network_view("default")
        .await
        .unwrap_err();
    assert!(matches!(err, WapiError::Unauthorized { .. }), "{err}");
    c.credentials = identity(&certs.untrusted);
    let err = client(&c).find_network_view("default").await.unwrap_err();
    assert!(matches!(err, WapiError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");

    // The key's body never shows, whether the client works or the PEM is refused.
    let key_line = String::from_utf8_lossy(&certs.untrusted.key_pem)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let mut broken = c.clone();
    let mut pem = certs.untrusted.key_pem.clone();
    pem.extend(b"not a certificate");
    broken.credentials.client_identity_pem = Some(pem);
    let refused = WapiClient::new(&broken).unwrap_err();
    assert!(refused.to_string().contains("clientCert"), "{refused}");
    let printed = format!("{err} {err:?} {c:?} {:?} {refused} {refused:?}", client(&c));
    assert!(
        !printed.contains(&key_line),
        "key material printed: {printed}"
    );
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
}

#[tokio::test]
async fn searches_read_every_page() {
    let sim = Sim::start(USERNAME, PASSWORD).await;
    let networks: Vec<_> = (0..5)
        .map(|i| json!({"network": format!("10.0.{i}.0/24"), "network_view": "default"}))
        .collect();
    sim.seed(json!({"networks": networks})).await;
    let wapi = client(&config(&sim));
    let found: Vec<serde_json::Value> = wapi.search("network", &[], "network").await.unwrap();
    assert_eq!(found.len(), 5, "pages of 2: {found:?}");
    let log = sim.requests().await;
    let pages = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").ends_with("/network"))
        .count();
    assert_eq!(pages, 3, "three pages of at most two");
}

#[tokio::test]
async fn only_idempotent_calls_are_retried() {
    let sim = Sim::start(USERNAME, PASSWORD).await;
    sim.seed(json!({"network_views": ["nv"], "networks": [{"network": "10.0.0.0/24", "network_view": "nv"}]}))
        .await;
    let wapi = client(&config(&sim));
    // Two failures, then success: a GET gets there on its third attempt.
    sim.fault_n(
        "GET",
        "networkview",
        2,
        json!({"kind": "status", "status": 503}),
    )
    .await;
    assert!(wapi.find_network_view("nv").await.unwrap().is_some());
    // A POST is sent once, whatever happens.
    sim.fault_n(
        "POST",
        "record:host",
        1,
        json!({"kind": "status", "status": 503}),
    )
    .await;
    let request = HostRequest {
        name: "h".into(),
        network_view: "nv".into(),
        dns_view: None,
        subnet: "10.0.0.0/24".parse().unwrap(),
        exclude: vec![],
        comment: String::new(),
    };
    let err = wapi.create_host(&request).await.unwrap_err();
    assert!(
        matches!(err, WapiError::Server { status: 503, .. }),
        "{err}"
    );
    let log = sim.requests().await;
    let posts = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert_eq!(posts, 1, "no resend of a create");
    assert!(sim.hosts().await.is_empty());
    // A DELETE whose answer is lost is retried and finds the record gone: done.
    let host = wapi.create_host(&request).await.unwrap();
    sim.fault_n(
        "DELETE",
        "record:host",
        1,
        json!({"kind": "drop_after_commit"}),
    )
    .await;
    wapi.delete(&host.reference).await.unwrap();
    assert!(sim.hosts().await.is_empty());
}

#[tokio::test]
async fn every_request_is_counted_and_timed_by_outcome() {
    let sim = Sim::start(USERNAME, PASSWORD).await;
    let c = client(&config(&sim));
    c.find_network_view("default").await.unwrap();
    let text = ipam_kube_support::metrics::get().encode();
    for needle in [
        "ipam_wapi_requests_total{operation=\"GET networkview\",outcome=\"success\"}",
        "ipam_wapi_request_duration_seconds_count{outcome=\"success\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}
