//! Release through the location the claim recorded at allocation: after the InfobloxIPPool is
//! gone (its finalizer stripped by hand) it still finds and frees the reservation, and only the
//! claim's own address of it; after the pool was pointed at another network view it frees the
//! reservation where it was made, also when the claim had reserved there without getting its
//! IPAddress.

mod common;

use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Deletes the pool the way a hand-stripped finalizer does: gone while claims still use it.
async fn force_delete_pool(env: &Env, name: &str) {
    eventually(30, &format!("pool {name} protected"), || async {
        let p = env.pools().get(name).await.ok()?;
        p.finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ProtectPool".to_string())
            .then_some(())
    })
    .await;
    env.pools().delete(name, &Default::default()).await.unwrap();
    env.pools()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    gone(&env.pools(), name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_pool_was_force_deleted_still_frees_its_reservation() {
    let env = setup("ib-orphan").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.pool(
        "pf",
        json!({"reservation": "FixedAddress", "subnets": [{"cidr": "10.0.2.0/24"}]}),
    )
    .await;
    env.claim("f1", "pf").await;
    env.allocated("c1").await;
    env.allocated("f1").await;
    let claim = env.claims().get("c1").await.unwrap();
    let recorded = |key: &str| claim.annotations().get(key).cloned();
    assert_eq!(
        recorded("ipam-operator.io/infoblox-instance").as_deref(),
        Some(env.instance.as_str())
    );
    assert_eq!(
        recorded("ipam-operator.io/infoblox-network-view").as_deref(),
        Some("nv")
    );
    assert_eq!(
        recorded("ipam-operator.io/infoblox-reservation").as_deref(),
        Some("HostRecord")
    );

    force_delete_pool(&env, "p").await;
    force_delete_pool(&env, "pf").await;
    for name in ["c1", "f1"] {
        env.claims()
            .delete(name, &Default::default())
            .await
            .unwrap();
        gone(&env.claims(), name).await;
        gone(&env.addresses(), name).await;
    }
    assert!(
        env.sim.hosts_named("c1").await.is_empty(),
        "host record freed"
    );
    assert!(
        env.sim.fixed_named("f1").await.is_empty(),
        "fixed address freed"
    );
    let events = env
        .ns
        .api::<Event>()
        .list(&Default::default())
        .await
        .unwrap();
    let skipped: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("ReleaseSkipped"))
        .map(|e| e.note.clone().unwrap_or_default())
        .collect();
    assert!(skipped.is_empty(), "nothing was skipped: {skipped:?}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_pool_only_the_claims_own_address_leaves_a_shared_host_record() {
    let env = setup("ib-orphan-shared").await;
    let ns = env.ns.name.clone();
    // The host record Machine m1's v4 and v6 claims share, each holding its address of it.
    env.sim
        .seed(json!({
            "networks": [{"network": "2001:db8::/64", "network_view": "nv"}],
            "hosts": [{"name": "m1.example.com", "view": "default.nv", "network_view": "nv",
                       "configure_for_dns": true, "comment": format!("ipam-operator: Machine {ns}/m1"),
                       "ipv4addrs": [{"ipv4addr": "10.0.1.5"}],
                       "ipv6addrs": [{"ipv6addr": "2001:db8::5"}]}]}))
        .await;
    env.pool("p4", json!({"dnsZone": "example.com"})).await;
    env.pool(
        "p6",
        json!({"dnsZone": "example.com", "subnets": [{"cidr": "2001:db8::/64"}]}),
    )
    .await;
    let m1 = env.machine_in(&ns, "m1").await;
    env.machine_claim_in(&ns, "m1-v4", "p4", &m1).await;
    env.machine_claim_in(&ns, "m1-v6", "p6", &m1).await;
    let _operator = env.operator();
    assert_eq!(env.allocated("m1-v4").await.spec.address, "10.0.1.5");
    assert_eq!(env.allocated("m1-v6").await.spec.address, "2001:db8::5");

    force_delete_pool(&env, "p4").await;
    force_delete_pool(&env, "p6").await;
    env.claims()
        .delete("m1-v4", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "m1-v4").await;
    let hosts = env.sim.hosts_named("m1.example.com").await;
    assert_eq!(hosts.len(), 1, "the record stays for m1-v6: {hosts:?}");
    assert!(
        hosts[0]["ipv4addrs"].as_array().is_none_or(Vec::is_empty),
        "m1-v4's address is freed: {hosts:?}"
    );
    assert_eq!(
        hosts[0]["ipv6addrs"][0]["ipv6addr"], "2001:db8::5",
        "{hosts:?}"
    );

    env.claims()
        .delete("m1-v6", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "m1-v6").await;
    let hosts = env.sim.hosts_named("m1.example.com").await;
    assert!(
        hosts.is_empty(),
        "the last address goes with the record: {hosts:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_without_pool_or_recorded_location_warns_and_lets_the_claim_go() {
    let env = setup("ib-orphan-old").await;
    let operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;
    // A claim allocated before locations were recorded. Stopped first, and waited for: a
    // running (or still draining) operator records the location again for an allocated claim
    // whose record it finds.
    operator.stop().await;
    env.claims()
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "ipam-operator.io/infoblox-instance": null,
                "ipam-operator.io/infoblox-network-view": null,
                "ipam-operator.io/infoblox-reservation": null}}})),
        )
        .await
        .unwrap();

    force_delete_pool(&env, "p").await;
    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    let _operator = env.operator();
    gone(&env.claims(), "c1").await;
    let events = env.ns.api::<Event>();
    let note = eventually(30, "a ReleaseSkipped event", || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items.into_iter().find_map(|e| {
            (e.reason.as_deref() == Some("ReleaseSkipped")).then_some(e.note.unwrap_or_default())
        })
    })
    .await;
    assert!(note.contains("c1") && note.contains("Infoblox"), "{note}");
    assert_eq!(
        env.sim.hosts_named("c1").await.len(),
        1,
        "nothing can tell which address to free, so nothing is"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_moved_to_another_network_view_releases_where_the_claim_was_allocated() {
    let env = setup("ib-moved").await;
    // The same network in a second view, so the edited pool is valid there too.
    env.sim
        .seed(json!({"network_views": ["nv2"],
                     "networks": [{"network": "10.0.1.0/29", "network_view": "nv2"}]}))
        .await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;
    let hosts = env.sim.hosts_named("c1").await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0]["network_view"], "nv");

    // Nothing in the CRD holds networkView still: the API server takes the edit.
    env.pools()
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"networkView": "nv2"}})),
        )
        .await
        .unwrap();
    eventually(30, "the pool Ready in nv2", || async {
        let p = env.pools().get("p").await.ok()?;
        let ready = p
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "True")?;
        (p.spec.network_view.as_deref() == Some("nv2")
            && ready.observed_generation == p.metadata.generation)
            .then_some(())
    })
    .await;

    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "c1").await;
    assert!(
        env.sim.hosts().await.is_empty(),
        "the record in nv is freed, not leaked: {:?}",
        env.sim.hosts().await
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_left_at_the_old_location_is_freed_before_the_new_one_is_made() {
    let env = setup("ib-moved-early").await;
    let ns = env.ns.name.clone();
    // A pass reserved c1 in nv, recorded there, then failed to write the IPAddress; the pool
    // was pointed at nv2 before the next pass.
    env.sim
        .seed(json!({"network_views": ["nv2"],
                     "networks": [{"network": "10.0.1.0/29", "network_view": "nv2"}],
                     "hosts": [{"name": "c1", "network_view": "nv", "configure_for_dns": false,
                                "comment": format!("ipam-operator: IPAddressClaim {ns}/c1"),
                                "ipv4addrs": [{"ipv4addr": "10.0.1.5"}]}]}))
        .await;
    env.pool("p", json!({"networkView": "nv2"})).await;
    env.claim("c1", "p").await;
    env.claims()
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "finalizers": ["ipam.cluster.x-k8s.io/ReleaseAddress"],
                "annotations": {
                    "ipam.cluster.x-k8s.io/hostname": "c1",
                    "ipam-operator.io/infoblox-owner": "IPAddressClaim/c1",
                    "ipam-operator.io/infoblox-instance": env.instance,
                    "ipam-operator.io/infoblox-network-view": "nv",
                    "ipam-operator.io/infoblox-reservation": "HostRecord"}}})),
        )
        .await
        .unwrap();
    let _operator = env.operator();

    env.allocated("c1").await;
    let hosts = env.sim.hosts_named("c1").await;
    assert_eq!(hosts.len(), 1, "the record in nv is freed: {hosts:?}");
    assert_eq!(hosts[0]["network_view"], "nv2", "{hosts:?}");
    let claim = env.claims().get("c1").await.unwrap();
    assert_eq!(
        claim
            .annotations()
            .get("ipam-operator.io/infoblox-network-view")
            .map(String::as_str),
        Some("nv2")
    );
    env.finish().await;
}

/// The notes of the test namespace's `ReleaseSkipped` events, once there is one.
async fn skipped_notes(env: &Env) -> Vec<String> {
    let events = env.ns.api::<Event>();
    eventually(30, "a ReleaseSkipped event", || async {
        let list = events.list(&Default::default()).await.ok()?;
        let notes: Vec<String> = list
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ReleaseSkipped"))
            .map(|e| e.note.unwrap_or_default())
            .collect();
        (!notes.is_empty()).then_some(notes)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_instance_is_gone_is_released_with_a_warning() {
    let env = setup("ib-no-instance").await;
    let _operator = env.operator();
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;

    env.instances()
        .delete(&env.instance, &Default::default())
        .await
        .unwrap();
    gone(&env.instances(), &env.instance).await;
    env.claims()
        .delete("c1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "c1").await;
    let notes = skipped_notes(&env).await;
    assert!(
        notes.iter().any(
            |n| n.contains(&format!("InfobloxInstance {}", env.instance))
                && n.contains("host record c1")
                && n.contains("network view nv")
        ),
        "{notes:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipv6_subnet_added_to_a_fixed_address_pool_does_not_block_release() {
    let env = setup("ib-release-bad-spec").await;
    let _operator = env.operator();
    env.pool(
        "pf",
        json!({"reservation": "FixedAddress", "subnets": [{"cidr": "10.0.2.0/24"}]}),
    )
    .await;
    env.claim("f1", "pf").await;
    env.allocated("f1").await;

    // Refused for allocation (fixed addresses are IPv4 only), and not where f1's address is.
    // (A subnet that is no CIDR is skipped too, but the CRD refuses one since it validates.)
    env.pools()
        .patch(
            "pf",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"subnets": [{"cidr": "10.0.2.0/24"}, {"cidr": "2001:db8::/64"}]}}),
            ),
        )
        .await
        .unwrap();
    env.claims()
        .delete("f1", &Default::default())
        .await
        .unwrap();
    gone(&env.claims(), "f1").await;
    assert!(
        env.sim.fixed_named("f1").await.is_empty(),
        "fixed address freed"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_old_instance_is_gone_warns_and_allocates_at_the_new_location() {
    let env = setup("ib-moved-no-instance").await;
    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    // A pass recorded a location on an instance deleted since, then failed.
    env.claims()
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {
                "finalizers": ["ipam.cluster.x-k8s.io/ReleaseAddress"],
                "annotations": {
                    "ipam.cluster.x-k8s.io/hostname": "c1",
                    "ipam-operator.io/infoblox-owner": "IPAddressClaim/c1",
                    "ipam-operator.io/infoblox-instance": "deleted-grid",
                    "ipam-operator.io/infoblox-network-view": "nv",
                    "ipam-operator.io/infoblox-reservation": "HostRecord"}}})),
        )
        .await
        .unwrap();
    let _operator = env.operator();

    env.allocated("c1").await;
    let claim = env.claims().get("c1").await.unwrap();
    assert_eq!(
        claim
            .annotations()
            .get("ipam-operator.io/infoblox-instance")
            .map(String::as_str),
        Some(env.instance.as_str())
    );
    let notes = skipped_notes(&env).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("InfobloxInstance deleted-grid")),
        "{notes:?}"
    );
    env.finish().await;
}
