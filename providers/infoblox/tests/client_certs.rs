//! Client-certificate authentication on the real API server: a credentials Secret holding
//! only clientCert + clientKey serves claims from a grid that requires certificates, and a
//! certificate the grid does not trust is reported as an authentication failure without the
//! key ever showing.

mod common;

use common::*;
use ipam_test_support::wapi_sim::ClientPair;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// The Secret body of a client certificate pair, without username and password.
fn certificate_only(pair: &ClientPair) -> Value {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    json!({"type": "Opaque",
           "stringData": {"clientCert": text(&pair.cert_pem), "clientKey": text(&pair.key_pem)}})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_with_only_a_client_certificate_is_ready_and_serves_claims() {
    let sim = Sim::start_requiring_client_certs(USERNAME, PASSWORD).await;
    let secret = certificate_only(&sim.client_certs.as_ref().unwrap().trusted);
    let env = setup_with("ib-cert", sim, secret).await;
    let _operator = env.operator();
    let api = env.instances();
    let (reason, _) = instance_condition(&api, &env.instance, "Ready", "True").await;
    assert_eq!(reason, "ConfigurationValid");
    instance_condition(&api, &env.instance, "Authenticated", "True").await;

    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    let address = env.allocated("c1").await;
    let hosts = env.sim.hosts_named("c1").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        hosts[0]["ipv4addrs"][0]["ipv4addr"],
        address.spec.address.as_str()
    );
    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "c1").await;
    assert!(env.sim.hosts_named("c1").await.is_empty(), "released");

    // Every WAPI call was authenticated by the certificate: no password exists to send.
    let log = env.sim.requests().await;
    let auths: std::collections::BTreeSet<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["auth"].as_str())
        .collect();
    assert_eq!(auths, ["certificate"].into(), "{log}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_client_certificate_is_authentication_failed_and_never_shown() {
    let sim = Sim::start_requiring_client_certs(USERNAME, PASSWORD).await;
    let certs = sim.client_certs.as_ref().unwrap();
    let secret = certificate_only(&certs.untrusted);
    let trusted = certificate_only(&certs.trusted);
    // A line of the key's base64 body: enough to tell if any of it leaked.
    let key_line = String::from_utf8_lossy(&certs.untrusted.key_pem)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let env = setup_with("ib-badcert", sim, secret).await;
    let _operator = env.operator();
    let api = env.instances();
    let (reason, message) = instance_condition(&api, &env.instance, "Authenticated", "False").await;
    assert_eq!(reason, "AuthenticationFailed");
    assert!(
        message.contains("client certificate") && message.contains("credentials Secret"),
        "{message}"
    );
    let (reason, _) = instance_condition(&api, &env.instance, "Ready", "False").await;
    assert_eq!(reason, "AuthenticationFailed");

    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    let (status, message) = env.claim_reason("c1", "AuthenticationFailed").await;
    assert_eq!(status, "False");
    assert!(message.contains("client certificate"), "{message}");
    assert!(env.sim.hosts().await.is_empty(), "nothing reserved");

    // Nothing of the key in the statuses, in any event, or in the operator's log.
    let instance = serde_json::to_string(&api.get(&env.instance).await.unwrap().status).unwrap();
    let claim = serde_json::to_string(&env.claims().get("c1").await.unwrap().status).unwrap();
    let events = Api::<Event>::all(env.ns.client.clone())
        .list(&Default::default())
        .await
        .unwrap();
    let events = serde_json::to_string(&events.items).unwrap();
    for (what, text) in [
        ("instance status", &instance),
        ("claim status", &claim),
        ("events", &events),
        ("logs", &logs()),
    ] {
        assert!(
            !text.contains(&key_line) && !text.contains("PRIVATE KEY"),
            "key material in {what}: {text}"
        );
    }

    // The trusted pair put in the Secret fixes both.
    env.ns
        .api::<Secret>()
        .patch(
            "infoblox-credentials",
            &PatchParams::default(),
            &Patch::Merge(&trusted),
        )
        .await
        .unwrap();
    instance_condition(&api, &env.instance, "Ready", "True").await;
    env.allocated("c1").await;
    env.finish().await;
}
