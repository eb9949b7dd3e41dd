//! Every injected WAPI fault shows as a clear condition, then clears into success with no
//! leaked or duplicated record; no credential ever shows in a log, an event or a status.

mod common;

use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Patch, PatchParams};
use serde_json::json;

async fn patch_instance(env: &Env, spec: serde_json::Value) {
    env.instances()
        .patch(
            &env.instance,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_conditions_name_what_is_wrong_and_clear_when_fixed() {
    let env = setup("ib-inst").await;
    let _operator = env.operator();
    let api = env.instances();
    let (reason, _) = instance_condition(&api, &env.instance, "Ready", "True").await;
    assert_eq!(reason, "ConfigurationValid");
    for t in ["Reachable", "Authenticated", "WAPIVersionSupported"] {
        instance_condition(&api, &env.instance, t, "True").await;
    }

    // Unsupported version.
    patch_instance(&env, json!({"wapiVersion": "9.9"})).await;
    let (reason, message) =
        instance_condition(&api, &env.instance, "WAPIVersionSupported", "False").await;
    assert_eq!(reason, "WAPIVersionUnsupported");
    assert!(
        message.contains("9.9") && message.contains("spec.wapiVersion"),
        "{message}"
    );
    patch_instance(&env, json!({"wapiVersion": "2.12"})).await;
    instance_condition(&api, &env.instance, "WAPIVersionSupported", "True").await;

    // Refused credentials.
    env.sim
        .fault("GET", "networkview", json!({"kind": "unauthorized"}))
        .await;
    let (reason, message) = instance_condition(&api, &env.instance, "Authenticated", "False").await;
    assert_eq!(reason, "AuthenticationFailed");
    assert!(message.contains("credentials Secret"), "{message}");
    env.sim.clear_faults().await;
    instance_condition(&api, &env.instance, "Authenticated", "True").await;

    // Unreachable: nothing listens on the port.
    patch_instance(&env, json!({"port": "1"})).await;
    let (reason, message) = instance_condition(&api, &env.instance, "Reachable", "False").await;
    assert_eq!(reason, "Unreachable");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    patch_instance(&env, json!({"port": env.sim.port()})).await;
    instance_condition(&api, &env.instance, "Ready", "True").await;

    // Without the CA bundle the generated certificate is not trusted.
    patch_instance(&env, json!({"caBundleRef": null})).await;
    let (reason, message) = instance_condition(&api, &env.instance, "Reachable", "False").await;
    assert_eq!(reason, "Unreachable");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    // A CA path is refused with what to do instead.
    patch_instance(&env, json!({"customCAPath": "/etc/ca.pem"})).await;
    let message = eventually(30, "Ready reason ConfigurationInvalid", || async {
        let i = api.get(&env.instance).await.ok()?;
        let c = i
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (c.reason == "ConfigurationInvalid").then_some(c.message)
    })
    .await;
    assert!(message.contains("caBundleRef"), "{message}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_reports_a_missing_network_view_or_network() {
    let env = setup("ib-pool").await;
    let _operator = env.operator();
    env.pool("nv-missing", json!({"networkView": "nope"})).await;
    env.pool("net-missing", json!({"subnets": [{"cidr": "10.9.0.0/24"}]}))
        .await;
    let condition = |name: &'static str| {
        let api = env.pools();
        async move {
            eventually(30, &format!("pool {name} Ready=False"), || async {
                let p = api.get(name).await.ok()?;
                let c = p
                    .status?
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Ready")?;
                (c.status == "False").then_some((c.reason, c.message))
            })
            .await
        }
    };
    let (reason, message) = condition("nv-missing").await;
    assert_eq!(reason, "NetworkViewNotFound");
    assert!(message.contains("\"nope\""), "{message}");
    let (reason, message) = condition("net-missing").await;
    assert_eq!(reason, "NetworkNotFound");
    assert!(
        message.contains("10.9.0.0/24") && message.contains("network view nv"),
        "{message}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_allocation_fault_shows_a_condition_then_allocates_once_cleared() {
    let env = setup("ib-faults").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    let cases = [
        (
            "c-503",
            "GET",
            json!({"kind": "status", "status": 503}),
            "AllocationFailed",
            "HTTP 503",
        ),
        (
            "c-401",
            "GET",
            json!({"kind": "unauthorized"}),
            "AuthenticationFailed",
            "refused the credentials",
        ),
        (
            "c-slow",
            "GET",
            json!({"kind": "latency", "ms": 4000}),
            "InfobloxUnreachable",
            "no answer within 2s",
        ),
        (
            "c-full",
            "POST",
            json!({"kind": "network_full"}),
            "PoolExhausted",
            "10.0.1.0/29",
        ),
        (
            "c-500",
            "POST",
            json!({"kind": "status", "status": 500}),
            "AllocationFailed",
            "HTTP 500",
        ),
    ];
    let count = cases.len();
    for (claim, method, action, reason, text) in cases {
        env.sim.fault(method, "record:host", action).await;
        env.claim(claim, "p").await;
        let (status, message) = env.claim_reason(claim, reason).await;
        assert_eq!(status, "False", "{claim}");
        assert!(message.contains(text), "{claim}: {message}");
        env.sim.clear_faults().await;
        let address = env.allocated(claim).await;
        let hosts = env.sim.hosts_named(claim).await;
        assert_eq!(hosts.len(), 1, "{claim}: {hosts:?}");
        assert_eq!(
            hosts[0]["ipv4addrs"][0]["ipv4addr"],
            address.spec.address.as_str()
        );
    }
    assert_eq!(env.sim.hosts().await.len(), count, "no leaked record");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_release_keeps_the_claim_until_infoblox_confirms() {
    let env = setup("ib-release").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;

    env.sim
        .fault(
            "DELETE",
            "record:host",
            json!({"kind": "status", "status": 503}),
        )
        .await;
    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    let (status, message) = env.claim_reason("c1", "ReleaseFailed").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("host record c1") && message.contains("HTTP 503"),
        "{message}"
    );
    assert_eq!(env.sim.hosts_named("c1").await.len(), 1, "not released yet");
    assert!(
        env.claims().get_opt("c1").await.unwrap().is_some(),
        "the finalizer holds the claim"
    );

    env.sim.clear_faults().await;
    gone(&env.claims(), "c1").await;
    gone(&env.addresses(), "c1").await;
    assert!(env.sim.hosts().await.is_empty(), "released, nothing leaked");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credential_appears_in_logs_events_or_status() {
    let env = setup("ib-secret").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;
    // Failures, whose messages are the likeliest place for a leak.
    env.sim
        .fault("GET", "", json!({"kind": "unauthorized"}))
        .await;
    env.claim("c2", "p").await;
    env.claim_reason("c2", "AuthenticationFailed").await;
    instance_condition(&env.instances(), &env.instance, "Authenticated", "False").await;
    env.sim.clear_faults().await;
    env.allocated("c2").await;

    let events = env
        .ns
        .api::<Event>()
        .list(&Default::default())
        .await
        .unwrap();
    assert!(!events.items.is_empty(), "events were published");
    let mut seen = serde_json::to_string(&events.items).unwrap();
    seen += &serde_json::to_string(&env.claims().list(&Default::default()).await.unwrap().items)
        .unwrap();
    seen += &serde_json::to_string(&env.pools().list(&Default::default()).await.unwrap().items)
        .unwrap();
    seen += &serde_json::to_string(&env.instances().get(&env.instance).await.unwrap()).unwrap();
    seen += &logs();
    assert!(
        seen.contains("refused the credentials"),
        "the failure was reported"
    );
    assert!(!seen.contains(PASSWORD), "the password leaked");
    let basic = format!("{USERNAME}:{PASSWORD}");
    assert!(!seen.contains(&basic));
    env.finish().await;
}
