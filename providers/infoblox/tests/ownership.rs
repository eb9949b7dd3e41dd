//! One host name, two claims: every reservation names its claim in its `comment`, so a claim
//! never adopts (nor frees) another claim's reservation that its host name happens to find,
//! while records the upstream provider left unmarked are still taken over.

mod common;

use common::*;
use ipam_infoblox::api::InfobloxIPPool;
use ipam_kube_support::capi::{IPAddress, IPAddressClaim};
use ipam_test_support::TestNamespace;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn mark(ns: &str, claim: &str) -> String {
    format!("ipam-operator: IPAddressClaim {ns}/{claim}")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_claim_name_in_another_namespace_waits_instead_of_sharing_the_address() {
    let env = setup("ib-owner").await;
    let other = TestNamespace::new("ib-owner-b").await;
    let (a, b) = (env.ns.name.as_str(), other.name.as_str());
    let _operator = env.operator_in_all_namespaces();
    // No dnsZone and one network view: both claims named "web" resolve to host name "web".
    for ns in [a, b] {
        env.pool_in(ns, "p", json!({})).await;
        env.pool_in(
            ns,
            "pf",
            json!({"reservation": "FixedAddress", "subnets": [{"cidr": "10.0.2.0/24"}]}),
        )
        .await;
    }
    env.claim_in(a, "web", "p").await;
    env.claim_in(a, "db", "pf").await;
    let web_a = env.allocated_in(a, "web").await;
    let db_a = env.allocated_in(a, "db").await;
    let hosts = env.sim.hosts_named("web").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["comment"], mark(a, "web"), "marked with its claim");
    let fixed = env.sim.fixed_named("db").await;
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(fixed[0]["comment"], mark(a, "db"), "marked with its claim");

    env.claim_in(b, "web", "p").await;
    env.claim_in(b, "db", "pf").await;
    for (name, what) in [("web", "host record"), ("db", "fixed address")] {
        let (status, message) = env.claim_reason_in(b, name, "HostnameConflict").await;
        assert_eq!(status, "False");
        for part in [
            format!("host name {name}"),
            "network view nv".into(),
            format!("{what} {name}"),
            format!("IPAddressClaim {a}/{name}"),
        ] {
            assert!(message.contains(&part), "{part:?} not in {message}");
        }
    }
    let events = Api::<Event>::namespaced(env.ns.client.clone(), b);
    let note = eventually(30, "a HostnameConflict warning", || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items.into_iter().find_map(|e| {
            (e.reason.as_deref() == Some("HostnameConflict")
                && e.type_.as_deref() == Some("Warning")
                && e.regarding.as_ref()?.name.as_deref() == Some("web"))
            .then_some(e.note.unwrap_or_default())
        })
    })
    .await;
    assert!(note.contains(&format!("{a}/web")), "{note}");
    let b_addresses = Api::<IPAddress>::namespaced(env.ns.client.clone(), b);
    for name in ["web", "db"] {
        assert!(
            b_addresses.get_opt(name).await.unwrap().is_none(),
            "no address for the second {name}"
        );
    }
    let hosts = env.sim.hosts_named("web").await;
    assert_eq!(hosts.len(), 1, "no second record: {hosts:?}");
    assert_eq!(hosts[0]["ipv4addrs"][0]["ipv4addr"], web_a.spec.address);
    assert_eq!(env.sim.fixed_named("db").await.len(), 1);

    // Releasing the waiting claim leaves the other claim's reservation alone.
    let b_claims = Api::<IPAddressClaim>::namespaced(env.ns.client.clone(), b);
    b_claims.delete("db", &Default::default()).await.unwrap();
    gone(&b_claims, "db").await;
    let fixed = env.sim.fixed_named("db").await;
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(fixed[0]["ipv4addr"], db_a.spec.address);

    // Once the first claim has released the name, the waiting one gets it.
    env.claims()
        .delete("web", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "web").await;
    let web_b = env.allocated_in(b, "web").await;
    let hosts = env.sim.hosts_named("web").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["comment"], mark(b, "web"));
    assert_eq!(hosts[0]["ipv4addrs"][0]["ipv4addr"], web_b.spec.address);

    b_claims.delete("web", &Default::default()).await.unwrap();
    gone(&b_claims, "web").await;
    assert!(env.sim.hosts_named("web").await.is_empty(), "released");
    // The pools go while the operator still runs to lift their finalizers.
    let b_pools = Api::<InfobloxIPPool>::namespaced(env.ns.client.clone(), b);
    for pool in ["p", "pf"] {
        b_pools.delete(pool, &Default::default()).await.unwrap();
        gone(&b_pools, pool).await;
    }
    other.delete().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reservations_the_upstream_provider_left_unmarked_are_taken_over_and_marked() {
    let env = setup("ib-owner-upstream").await;
    // What telekom's provider leaves: no comment. A person may have written one, which stays.
    env.sim
        .seed(json!({
            "hosts": [{"name": "c1", "network_view": "nv", "configure_for_dns": false,
                       "ipv4addrs": [{"ipv4addr": "10.0.1.5"}]}],
            "fixed_addresses": [{"name": "f1", "network_view": "nv", "ipv4addr": "10.0.2.7",
                                 "mac": "00:00:00:00:00:00", "comment": "racked by ops"}]}))
        .await;
    env.pool("p", json!({})).await;
    env.pool(
        "pf",
        json!({"reservation": "FixedAddress", "subnets": [{"cidr": "10.0.2.0/24"}]}),
    )
    .await;
    env.claim("c1", "p").await;
    env.claim("f1", "pf").await;
    // The same address held in another network view says nothing about c1's record.
    env.sim
        .seed(json!({"network_views": ["nv2"],
                     "networks": [{"network": "10.0.1.0/29", "network_view": "nv2"}]}))
        .await;
    env.pool("p2", json!({"networkView": "nv2"})).await;
    create(
        &env.addresses(),
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
               "metadata": {"name": "elsewhere"},
               "spec": {"claimRef": {"name": "elsewhere"}, "address": "10.0.1.5", "prefix": 29,
                        "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p2"}}}),
    )
    .await;
    let _operator = env.operator();

    let ns = &env.ns.name;
    assert_eq!(env.allocated("c1").await.spec.address, "10.0.1.5");
    assert_eq!(env.allocated("f1").await.spec.address, "10.0.2.7");
    let hosts = env.sim.hosts_named("c1").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["comment"], mark(ns, "c1"));
    let fixed = env.sim.fixed_named("f1").await;
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(
        fixed[0]["comment"],
        format!("{}; racked by ops", mark(ns, "f1"))
    );

    for name in ["c1", "f1"] {
        env.claims()
            .delete(name, &Default::default())
            .await
            .unwrap();
        gone(&env.claims(), name).await;
    }
    assert!(env.sim.hosts_named("c1").await.is_empty(), "released");
    assert!(env.sim.fixed_named("f1").await.is_empty(), "released");
    env.finish().await;
}

/// A claim allocated before records were marked (by an earlier version of this operator, or
/// the upstream provider): its host name recorded, its IPAddress written, its record unmarked.
async fn allocated_unmarked(env: &Env, ns: &str, name: &str, address: &str) {
    let claims = Api::<IPAddressClaim>::namespaced(env.ns.client.clone(), ns);
    env.claim_in(ns, name, "p").await;
    claims
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "finalizers": ["ipam.cluster.x-k8s.io/ReleaseAddress"],
                // Held back until the test lets it reconcile.
                "annotations": {"ipam.cluster.x-k8s.io/hostname": name,
                                "cluster.x-k8s.io/paused": ""}}})),
        )
        .await
        .unwrap();
    create(
        &Api::<IPAddress>::namespaced(env.ns.client.clone(), ns),
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
               "metadata": {"name": name},
               "spec": {"claimRef": {"name": name}, "address": address, "prefix": 29,
                        "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p"}}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmarked_record_another_claims_ipaddress_holds_is_not_taken_over() {
    let env = setup("ib-owner-held").await;
    let other = TestNamespace::new("ib-owner-held-b").await;
    let (a, b) = (env.ns.name.as_str(), other.name.as_str());
    env.sim
        .seed(json!({
            "hosts": [{"name": "web", "network_view": "nv", "configure_for_dns": false,
                       "ipv4addrs": [{"ipv4addr": "10.0.1.5"}]}]}))
        .await;
    for ns in [a, b] {
        env.pool_in(ns, "p", json!({})).await;
    }
    allocated_unmarked(&env, a, "web", "10.0.1.5").await;
    let _operator = env.operator_in_all_namespaces();

    // Before a/web has marked its record, b/web finds it unmarked by name: a/web's IPAddress
    // holding its address is what tells b/web it is not free.
    env.claim_in(b, "web", "p").await;
    let (status, message) = env.claim_reason_in(b, "web", "HostnameConflict").await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("IPAddressClaim {a}/web")),
        "{message}"
    );
    let b_addresses = Api::<IPAddress>::namespaced(env.ns.client.clone(), b);
    assert!(b_addresses.get_opt("web").await.unwrap().is_none());
    let hosts = env.sim.hosts_named("web").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert!(
        hosts[0]["comment"].as_str().is_none_or(str::is_empty),
        "still unmarked: {hosts:?}"
    );

    // a/web, reconciled, proves the record its own by its IPAddress and marks it.
    env.claims()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}})),
        )
        .await
        .unwrap();
    eventually(30, "the record marked as a/web's", || async {
        let hosts = env.sim.hosts_named("web").await;
        (hosts.len() == 1 && hosts[0]["comment"] == mark(a, "web")).then_some(())
    })
    .await;

    // a/web's release frees the record; only then does b/web get the name.
    env.claims()
        .delete("web", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "web").await;
    let web_b = env.allocated_in(b, "web").await;
    let hosts = env.sim.hosts_named("web").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["comment"], mark(b, "web"));
    assert_eq!(hosts[0]["ipv4addrs"][0]["ipv4addr"], web_b.spec.address);

    let b_claims = Api::<IPAddressClaim>::namespaced(env.ns.client.clone(), b);
    b_claims.delete("web", &Default::default()).await.unwrap();
    gone(&b_claims, "web").await;
    let b_pools = Api::<InfobloxIPPool>::namespaced(env.ns.client.clone(), b);
    b_pools.delete("p", &Default::default()).await.unwrap();
    gone(&b_pools, "p").await;
    other.delete().await;
    env.finish().await;
}

/// An IPAddress of claim `claim` holding `address` on pool `p`, as another claim's allocation
/// leaves it.
async fn held_by(env: &Env, claim: &str, address: &str) {
    create(
        &env.addresses(),
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
               "metadata": {"name": claim},
               "spec": {"claimRef": {"name": claim}, "address": address, "prefix": 29,
                        "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p"}}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_another_claims_ipaddress_holds_is_neither_adopted_nor_freed() {
    let env = setup("ib-owner-taken").await;
    let ns = env.ns.name.clone();
    // The Machine's record holds an address that claim "other" (no claim of the Machine) has.
    env.sim
        .seed(json!({"hosts": [{
            "name": "m1.example.com", "view": "default.nv", "network_view": "nv",
            "configure_for_dns": true, "comment": format!("ipam-operator: Machine {ns}/m1"),
            "ipv4addrs": [{"ipv4addr": "10.0.1.2"}]}]}))
        .await;
    env.pool("p", json!({"dnsZone": "example.com"})).await;
    held_by(&env, "other", "10.0.1.2").await;
    let m1 = env.machine_in(&ns, "m1").await;
    env.machine_claim_in(&ns, "m1-v4", "p", &m1).await;
    let _operator = env.operator();

    let mine = env.allocated("m1-v4").await.spec.address;
    assert_ne!(mine, "10.0.1.2", "one address, two claims");
    let hosts = env.sim.hosts_named("m1.example.com").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        hosts[0]["ipv4addrs"].as_array().unwrap().len(),
        2,
        "{hosts:?}"
    );

    env.claims()
        .delete("m1-v4", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "m1-v4").await;
    let hosts = env.sim.hosts_named("m1.example.com").await;
    assert_eq!(hosts.len(), 1, "the other claim's address stays: {hosts:?}");
    assert_eq!(
        hosts[0]["ipv4addrs"][0]["ipv4addr"], "10.0.1.2",
        "{hosts:?}"
    );
    assert_eq!(
        hosts[0]["ipv4addrs"].as_array().unwrap().len(),
        1,
        "{hosts:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_holding_another_claims_address_is_not_marked_as_the_claims() {
    let env = setup("ib-owner-mixed").await;
    let ns = env.ns.name.clone();
    // An unmarked record (upstream, or by hand) holds web's address and other's.
    env.sim
        .seed(json!({"hosts": [{"name": "web", "network_view": "nv", "configure_for_dns": false,
                                "ipv4addrs": [{"ipv4addr": "10.0.1.5"}, {"ipv4addr": "10.0.1.6"}]}]}))
        .await;
    env.pool("p", json!({})).await;
    allocated_unmarked(&env, &ns, "web", "10.0.1.5").await;
    held_by(&env, "other", "10.0.1.6").await;
    let _operator = env.operator();
    env.claims()
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}})),
        )
        .await
        .unwrap();

    let message = eventually(
        30,
        "the claim told why its record is not marked",
        || async {
            let claim = env.claims().get("web").await.ok()?;
            let c = claim
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "InfobloxRecordMarked" && c.status == "False")?;
            Some(c.message)
        },
    )
    .await;
    assert!(
        message.contains("10.0.1.6") && message.contains(&format!("{ns}/other")),
        "{message}"
    );
    let hosts = env.sim.hosts_named("web").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert!(
        hosts[0]["comment"].as_str().is_none_or(str::is_empty),
        "not marked: {hosts:?}"
    );
    env.finish().await;
}
