//! A Machine's claims on pools with one `dnsZone` and network view resolve to one host name,
//! `<machine>.<zone>`, and share one host record as the upstream provider does: each claim
//! adds its own address to the record, frees only that address, and the last one deletes it.

mod common;

use common::*;
use ipam_infoblox::api::InfobloxIPPool;
use ipam_kube_support::capi::IPAddressClaim;
use ipam_test_support::TestNamespace;
use kube::Api;
use serde_json::{Value, json};

const V6_NET: &str = "2001:db8::/120";

/// Pools `p4` (10.0.1.0/29, gateway 10.0.1.1) and `p6` (2001:db8::/120), both in zone
/// example.com, in namespace `ns`.
async fn dual_stack_pools(env: &Env, ns: &str) {
    env.pool_in(ns, "p4", json!({"dnsZone": "example.com"}))
        .await;
    env.pool_in(
        ns,
        "p6",
        json!({"dnsZone": "example.com", "subnets": [{"cidr": V6_NET}]}),
    )
    .await;
}

async fn seed_v6_network(env: &Env) {
    env.sim
        .seed(json!({"networks": [{"network": V6_NET, "network_view": "nv"}]}))
        .await;
}

fn addresses(host: &Value, list: &str, field: &str) -> Vec<String> {
    host[list]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e[field].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn v4s(host: &Value) -> Vec<String> {
    addresses(host, "ipv4addrs", "ipv4addr")
}

fn v6s(host: &Value) -> Vec<String> {
    addresses(host, "ipv6addrs", "ipv6addr")
}

async fn the_host(env: &Env, name: &str) -> Value {
    let hosts = env.sim.hosts_named(name).await;
    assert_eq!(hosts.len(), 1, "one host record {name}: {hosts:?}");
    hosts.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_machines_v4_and_v6_claims_share_one_host_record() {
    let env = setup("ib-dual").await;
    seed_v6_network(&env).await;
    let ns = env.ns.name.clone();
    dual_stack_pools(&env, &ns).await;
    let m1 = env.machine_in(&ns, "m1").await;
    env.machine_claim_in(&ns, "m1-v4", "p4", &m1).await;
    env.machine_claim_in(&ns, "m1-v6", "p6", &m1).await;
    let _operator = env.operator();

    let v4 = env.allocated("m1-v4").await;
    let v6 = env.allocated("m1-v6").await;
    assert!(v4.spec.address.starts_with("10.0.1."), "{:?}", v4.spec);
    assert_eq!(v4.spec.prefix, 29);
    assert!(v6.spec.address.starts_with("2001:db8::"), "{:?}", v6.spec);
    assert_eq!(v6.spec.prefix, 120);
    let host = the_host(&env, "m1.example.com").await;
    assert_eq!(v4s(&host), [v4.spec.address.as_str()]);
    assert_eq!(v6s(&host), [v6.spec.address.as_str()]);
    assert_eq!(host["comment"], format!("ipam-operator: Machine {ns}/m1"));
    assert_eq!(host["view"], "default.nv");

    // The second claim added its address with a PUT of its family's list alone: the other
    // list and every field not listed stay as they are (infoblox-wapi.md §7.5).
    let log = env.sim.requests().await;
    let adds: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PUT")
        .map(|r| &r["body"])
        .collect();
    assert_eq!(adds.len(), 1, "one PUT adds an address: {log}");
    let body = adds[0].as_object().unwrap();
    assert_eq!(body.len(), 1, "only the list it adds to: {body:?}");
    let (list, entries) = body.iter().next().unwrap();
    assert!(
        ["ipv4addrs", "ipv6addrs"].contains(&list.as_str()),
        "{body:?}"
    );
    assert_eq!(
        entries.as_array().unwrap().len(),
        1,
        "that family's list held nothing yet: {body:?}"
    );

    // Each claim frees its own address; the last one deletes the record.
    let claims = env.claims();
    claims.delete("m1-v6", &Default::default()).await.unwrap();
    gone(&claims, "m1-v6").await;
    let host = the_host(&env, "m1.example.com").await;
    assert_eq!(v4s(&host), [v4.spec.address.as_str()]);
    assert!(v6s(&host).is_empty(), "{host}");
    claims.delete("m1-v4", &Default::default()).await.unwrap();
    gone(&claims, "m1-v4").await;
    assert!(env.sim.hosts_named("m1.example.com").await.is_empty());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_of_one_machine_on_two_ipv4_pools_get_an_address_in_each() {
    let env = setup("ib-multi").await;
    let ns = env.ns.name.clone();
    env.pool("pa", json!({"dnsZone": "example.com"})).await;
    env.pool(
        "pb",
        json!({"dnsZone": "example.com", "subnets": [{"cidr": "10.0.2.0/24"}]}),
    )
    .await;
    let m1 = env.machine_in(&ns, "m1").await;
    env.machine_claim_in(&ns, "m1-a", "pa", &m1).await;
    env.machine_claim_in(&ns, "m1-b", "pb", &m1).await;
    let _operator = env.operator();

    let a = env.allocated("m1-a").await;
    let b = env.allocated("m1-b").await;
    assert!(a.spec.address.starts_with("10.0.1."), "{:?}", a.spec);
    assert!(b.spec.address.starts_with("10.0.2."), "{:?}", b.spec);
    let mut both = v4s(&the_host(&env, "m1.example.com").await);
    both.sort();
    assert_eq!(both, [a.spec.address.clone(), b.spec.address.clone()]);

    let claims = env.claims();
    claims.delete("m1-a", &Default::default()).await.unwrap();
    gone(&claims, "m1-a").await;
    assert_eq!(
        v4s(&the_host(&env, "m1.example.com").await),
        [b.spec.address.as_str()]
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_machine_of_the_same_name_in_another_namespace_gets_a_hostname_conflict() {
    let env = setup("ib-dual-owner").await;
    let other = TestNamespace::new("ib-dual-owner-b").await;
    let (a, b) = (env.ns.name.clone(), other.name.clone());
    let _operator = env.operator_in_all_namespaces();
    for ns in [&a, &b] {
        env.pool_in(ns, "p4", json!({"dnsZone": "example.com"}))
            .await;
    }
    let m1_a = env.machine_in(&a, "m1").await;
    env.machine_claim_in(&a, "m1-v4", "p4", &m1_a).await;
    let taken = env.allocated_in(&a, "m1-v4").await;

    let m1_b = env.machine_in(&b, "m1").await;
    env.machine_claim_in(&b, "m1-v4", "p4", &m1_b).await;
    let (status, message) = env.claim_reason_in(&b, "m1-v4", "HostnameConflict").await;
    assert_eq!(status, "False");
    for part in [
        "host name m1.example.com".to_string(),
        "network view nv".into(),
        format!("belongs to Machine {a}/m1"),
    ] {
        assert!(message.contains(&part), "{part:?} not in {message}");
    }
    let host = the_host(&env, "m1.example.com").await;
    assert_eq!(v4s(&host), [taken.spec.address.as_str()], "untouched");

    let b_claims = Api::<IPAddressClaim>::namespaced(env.ns.client.clone(), &b);
    b_claims.delete("m1-v4", &Default::default()).await.unwrap();
    gone(&b_claims, "m1-v4").await;
    assert_eq!(
        v4s(&the_host(&env, "m1.example.com").await),
        [taken.spec.address.as_str()],
        "the waiting claim's release leaves the other Machine's record alone"
    );
    let b_pools = Api::<InfobloxIPPool>::namespaced(env.ns.client.clone(), &b);
    b_pools.delete("p4", &Default::default()).await.unwrap();
    gone(&b_pools, "p4").await;
    other.delete().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_added_before_a_crash_is_adopted_not_added_again() {
    let env = setup("ib-dual-crash").await;
    seed_v6_network(&env).await;
    let ns = env.ns.name.clone();
    // As a crash leaves it: the v4 claim created the record, the v6 claim's PUT added its
    // address, and neither IPAddress was written.
    env.sim
        .seed(json!({"hosts": [{
            "name": "m1.example.com", "view": "default.nv", "network_view": "nv",
            "configure_for_dns": true, "comment": format!("ipam-operator: Machine {ns}/m1"),
            "ipv4addrs": [{"ipv4addr": "10.0.1.2"}],
            "ipv6addrs": [{"ipv6addr": "2001:db8::1"}]}]}))
        .await;
    dual_stack_pools(&env, &ns).await;
    let m1 = env.machine_in(&ns, "m1").await;
    env.machine_claim_in(&ns, "m1-v4", "p4", &m1).await;
    env.machine_claim_in(&ns, "m1-v6", "p6", &m1).await;
    let _operator = env.operator();

    assert_eq!(env.allocated("m1-v4").await.spec.address, "10.0.1.2");
    assert_eq!(env.allocated("m1-v6").await.spec.address, "2001:db8::1");
    let host = the_host(&env, "m1.example.com").await;
    assert_eq!(v4s(&host), ["10.0.1.2"]);
    assert_eq!(v6s(&host), ["2001:db8::1"]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_an_earlier_version_marked_with_the_v4_claim_becomes_the_machines() {
    let env = setup("ib-dual-upgrade").await;
    seed_v6_network(&env).await;
    let ns = env.ns.name.clone();
    // Before Machines owned records: the v4 claim's record carries its claim mark, and its
    // IPAddress and host name are recorded, but not whether it shares.
    env.sim
        .seed(json!({"hosts": [{
            "name": "m1.example.com", "view": "default.nv", "network_view": "nv",
            "configure_for_dns": true, "comment": format!("ipam-operator: IPAddressClaim {ns}/m1-v4"),
            "ipv4addrs": [{"ipv4addr": "10.0.1.2"}]}]}))
        .await;
    dual_stack_pools(&env, &ns).await;
    let m1 = env.machine_in(&ns, "m1").await;
    env.machine_claim_in(&ns, "m1-v4", "p4", &m1).await;
    let claims = env.claims();
    let hostname =
        json!({"metadata": {"annotations": {"ipam.cluster.x-k8s.io/hostname": "m1.example.com"}}});
    claims
        .patch(
            "m1-v4",
            &Default::default(),
            &kube::api::Patch::Merge(&hostname),
        )
        .await
        .unwrap();
    create(
        &env.addresses(),
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
               "metadata": {"name": "m1-v4"},
               "spec": {"claimRef": {"name": "m1-v4"}, "address": "10.0.1.2", "prefix": 29,
                        "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p4"}}}),
    )
    .await;
    env.machine_claim_in(&ns, "m1-v6", "p6", &m1).await;
    let _operator = env.operator();

    let v6 = env.allocated("m1-v6").await;
    assert_eq!(env.allocated("m1-v4").await.spec.address, "10.0.1.2");
    let host = the_host(&env, "m1.example.com").await;
    assert_eq!(v4s(&host), ["10.0.1.2"]);
    assert_eq!(v6s(&host), [v6.spec.address.as_str()]);
    assert_eq!(host["comment"], format!("ipam-operator: Machine {ns}/m1"));
    let v4_claim = claims.get("m1-v4").await.unwrap();
    assert_eq!(
        v4_claim.metadata.annotations.unwrap()["ipam-operator.io/infoblox-owner"],
        "Machine/m1"
    );

    claims.delete("m1-v4", &Default::default()).await.unwrap();
    gone(&claims, "m1-v4").await;
    let host = the_host(&env, "m1.example.com").await;
    assert!(v4s(&host).is_empty(), "{host}");
    assert_eq!(v6s(&host), [v6.spec.address.as_str()]);
    env.finish().await;
}
