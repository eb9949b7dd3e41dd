//! Cluster API claims served from Infoblox (wapi-sim) on the real API server: allocation,
//! DNS registration, release, and recovery of a reservation whose Kubernetes write was lost.

mod common;

use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_gets_a_host_record_and_release_deletes_it() {
    let env = setup("ib-alloc").await;
    let _operator = env.operator();
    let pool = env.pool("p", json!({})).await;
    env.claim("c1", "p").await;

    let address = env.allocated("c1").await;
    assert_eq!(address.name_any(), "c1");
    assert_eq!(address.spec.prefix, 29);
    assert_eq!(address.spec.gateway.as_deref(), Some("10.0.1.1"));
    assert_eq!(
        address.spec.address, "10.0.1.2",
        "the lowest free address but the gateway"
    );
    assert_eq!(address.spec.pool_ref.kind, "InfobloxIPPool");
    let owners = address.owner_references();
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "IPAddressClaim" && o.controller == Some(true))
    );
    assert!(
        owners
            .iter()
            .any(|o| o.uid == pool.uid().unwrap() && o.controller == Some(false))
    );
    assert!(
        address
            .finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ProtectAddress".into())
    );

    let hosts = env.sim.hosts_named("c1").await;
    assert_eq!(hosts.len(), 1, "exactly one host record: {hosts:?}");
    assert_eq!(hosts[0]["network_view"], "nv");
    assert_eq!(
        hosts[0]["ipv4addrs"][0]["ipv4addr"],
        address.spec.address.as_str()
    );
    assert_eq!(hosts[0]["configure_for_dns"], false);
    let claim = env.claims().get("c1").await.unwrap();
    assert_eq!(
        claim
            .annotations()
            .get("ipam.cluster.x-k8s.io/hostname")
            .map(String::as_str),
        Some("c1"),
        "the host name is recorded for release"
    );
    let (status, message) = env.claim_reason("c1", "Allocated").await;
    assert_eq!(status, "True");
    assert!(
        message.contains(&address.spec.address) && message.contains("network view nv"),
        "{message}"
    );

    // The pool's networks exist: Ready.
    let pool_ready = eventually(30, "pool Ready", || async {
        let p = env.pools().get("p").await.ok()?;
        p.status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "True")
    })
    .await;
    assert_eq!(pool_ready.reason, "Ready");

    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "c1").await;
    gone(&env.addresses(), "c1").await;
    assert!(
        env.sim.hosts_named("c1").await.is_empty(),
        "the host record is deleted"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_with_a_dns_zone_registers_the_host_in_dns() {
    let env = setup("ib-dns").await;
    let _operator = env.operator();
    env.pool("p", json!({"dnsZone": "example.com"})).await;
    env.claim("web", "p").await;

    let address = env.allocated("web").await;
    let hosts = env.sim.hosts_named("web.example.com").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        hosts[0]["view"], "default.nv",
        "the pool's network view's DNS view"
    );
    assert_eq!(hosts[0]["configure_for_dns"], true);
    assert_eq!(
        hosts[0]["ipv4addrs"][0]["ipv4addr"],
        address.spec.address.as_str()
    );

    env.claims()
        .delete("web", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "web").await;
    assert!(env.sim.hosts_named("web.example.com").await.is_empty());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_subnet_falls_through_and_all_full_is_pool_exhausted() {
    let env = setup("ib-full").await;
    let _operator = env.operator();
    env.pool(
        "p",
        json!({"subnets": [{"cidr": "10.0.1.0/29"}, {"cidr": "10.0.2.0/24", "gateway": "10.0.2.1"}]}),
    )
    .await;
    // The first subnet is full once: the second one serves.
    env.sim
        .fault_n("POST", "record:host", 1, json!({"kind": "network_full"}))
        .await;
    env.claim("c1", "p").await;
    let address = env.allocated("c1").await;
    assert!(
        address.spec.address.starts_with("10.0.2."),
        "{}",
        address.spec.address
    );
    assert_eq!(address.spec.prefix, 24);
    assert_eq!(address.spec.gateway.as_deref(), Some("10.0.2.1"));

    // Every subnet full: PoolExhausted, then allocated once room appears.
    env.sim
        .fault("POST", "record:host", json!({"kind": "network_full"}))
        .await;
    env.claim("c2", "p").await;
    let (status, message) = env.claim_reason("c2", "PoolExhausted").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("10.0.1.0/29") && message.contains("10.0.2.0/24"),
        "{message}"
    );
    env.sim.clear_faults().await;
    env.allocated("c2").await;
    assert_eq!(env.sim.hosts_named("c2").await.len(), 1);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_left_by_a_crash_before_the_kubernetes_write_is_adopted_not_duplicated() {
    let env = setup("ib-crash").await;
    // The operator reserved 10.0.1.5 for c1, marked as c1's, then died before writing the
    // IPAddress.
    let mark = format!("ipam-operator: IPAddressClaim {}/c1", env.ns.name);
    env.sim
        .seed(
            json!({"hosts": [{"name": "c1", "network_view": "nv", "configure_for_dns": false,
                                "ipv4addrs": [{"ipv4addr": "10.0.1.5"}], "comment": mark}]}),
        )
        .await;
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    let _operator = env.operator();

    let address = env.allocated("c1").await;
    assert_eq!(address.spec.address, "10.0.1.5", "the existing reservation");
    let hosts = env.sim.hosts_named("c1").await;
    assert_eq!(hosts.len(), 1, "no second record: {hosts:?}");
    assert_eq!(hosts[0]["comment"], mark, "left as it was");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_is_lost_is_found_again_exactly_once() {
    let env = setup("ib-lost").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    // Committed, then no answer within the request timeout (2s).
    env.sim
        .fault_n(
            "POST",
            "record:host",
            1,
            json!({"kind": "timeout_after_commit", "ms": 5000}),
        )
        .await;
    // Committed, then the connection drops.
    env.sim
        .fault_n(
            "POST",
            "record:host",
            1,
            json!({"kind": "drop_after_commit"}),
        )
        .await;
    env.claim("c1", "p").await;
    let a1 = env.allocated("c1").await;
    // The failure was shown (the condition itself lasts only until the next pass).
    let events = env.ns.api::<Event>();
    let note = eventually(30, "a warning event for c1", || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items.into_iter().find_map(|e| {
            (e.regarding.as_ref()?.name.as_deref() == Some("c1")
                && e.reason.as_deref() == Some("InfobloxUnreachable"))
            .then_some(e.note.unwrap_or_default())
        })
    })
    .await;
    assert!(note.contains("host record c1"), "{note}");
    assert_eq!(
        env.sim.hosts_named("c1").await.len(),
        1,
        "one record, found by name"
    );
    assert_eq!(
        env.sim.hosts_named("c1").await[0]["ipv4addrs"][0]["ipv4addr"],
        a1.spec.address.as_str()
    );

    env.claim("c2", "p").await;
    let a2 = env.allocated("c2").await;
    assert_eq!(env.sim.hosts_named("c2").await.len(), 1);
    assert_ne!(a1.spec.address, a2.spec.address);
    assert_eq!(env.sim.hosts().await.len(), 2, "no leaked record");
    // A create is never resent: recovery searches instead.
    let log = env.sim.requests().await;
    let posts = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("record:host")
        })
        .count();
    assert_eq!(posts, 2, "one create per claim: {log}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_address_pool_reserves_and_releases_a_fixed_address() {
    let env = setup("ib-fixed").await;
    let _operator = env.operator();
    env.pool("p", json!({"reservation": "FixedAddress"})).await;
    env.claim("c1", "p").await;

    let address = env.allocated("c1").await;
    assert_eq!(address.spec.address, "10.0.1.2", "the gateway is skipped");
    let fixed = env.sim.fixed_named("c1").await;
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(fixed[0]["ipv4addr"], "10.0.1.2");
    assert_eq!(fixed[0]["network_view"], "nv");
    assert!(env.sim.hosts().await.is_empty(), "no host record");

    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "c1").await;
    assert!(env.sim.fixed_named("c1").await.is_empty(), "released");

    // Fixed addresses never go to DNS: refused at admission.
    let refused = env
        .pools()
        .create(
            &Default::default(),
            &serde_json::from_value(
                json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InfobloxIPPool",
                "metadata": {"name": "bad"},
                "spec": {"instance": {"name": env.instance}, "subnets": [{"cidr": "10.0.1.0/29"}],
                         "reservation": "FixedAddress", "dnsZone": "example.com"}}),
            )
            .unwrap(),
        )
        .await
        .expect_err("the API server refuses it");
    assert!(
        refused.to_string().contains("cannot register names in DNS"),
        "{refused}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_paused_cluster_holds_the_allocation() {
    let env = setup("ib-cluster").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    let mut claim: ipam_kube_support::capi::IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "c", "labels": {"cluster.x-k8s.io/watch-filter": env.ns.name}},
        "spec": {"clusterName": "wl", "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p"}}}))
    .unwrap();
    claim = env
        .claims()
        .create(&Default::default(), &claim)
        .await
        .unwrap();
    let (_, message) = env.claim_reason("c", "ClusterNotFound").await;
    assert!(message.contains("wl"), "{message}");

    let clusters = kube::Api::<kube::core::DynamicObject>::namespaced_with(
        env.ns.client.clone(),
        &env.ns.name,
        &kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "cluster.x-k8s.io",
            "v1beta2",
            "Cluster",
        )),
    );
    let cluster: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
        "metadata": {"name": "wl", "annotations": {"cluster.x-k8s.io/paused": ""}},
        "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}}}))
    .unwrap();
    clusters
        .create(&Default::default(), &cluster)
        .await
        .unwrap();
    env.claim_reason("c", "ClusterPaused").await;
    assert!(
        env.sim.hosts().await.is_empty(),
        "nothing reserved while paused"
    );

    clusters
        .patch(
            "wl",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}}),
            ),
        )
        .await
        .unwrap();
    env.allocated("c").await;
    assert_eq!(env.sim.hosts_named(&claim.name_any()).await.len(), 1);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_in_use_stays_until_its_claims_have_released() {
    let env = setup("ib-protect").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;
    eventually(30, "pool finalizer", || async {
        let p = env.pools().get("p").await.ok()?;
        p.finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ProtectPool".to_string())
            .then_some(())
    })
    .await;

    env.pools().delete("p", &Default::default()).await.unwrap();
    let message = eventually(30, "pool PoolInUse", || async {
        let p = env.pools().get("p").await.ok()?;
        let c = p
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (c.reason == "PoolInUse").then_some(c.message)
    })
    .await;
    assert!(message.contains("c1"), "{message}");

    // The claim's release still finds its instance through the pool: nothing leaks.
    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "c1").await;
    gone(&env.pools(), "p").await;
    assert!(
        env.sim.hosts().await.is_empty(),
        "released before the pool went"
    );
    env.finish().await;
}
