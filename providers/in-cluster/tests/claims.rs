//! The Cluster API IPAM contract, served from InClusterIPPools, on the real API server.

mod common;

use common::*;
use ipam_in_cluster::api::AddressAllocation;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_gets_the_lowest_free_address_as_an_ipaddress_named_after_it() {
    let ns = setup("alloc").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let pool = create(
        &pools(&ns),
        pool(
            "p",
            json!({
        "addresses": ["10.0.0.10-10.0.0.20", "10.0.0.2"], "prefix": 24, "gateway": "10.0.0.1",
        "excludedAddresses": ["10.0.0.10"]}),
        ),
    )
    .await;
    let mut labelled = claim("c1", "InClusterIPPool", "p");
    labelled["metadata"]["labels"] = json!({"cluster.x-k8s.io/cluster-name": "", "other": "x"});
    let c1 = create(&claims, labelled).await;

    let address = allocated(&addresses, &claims, "c1").await;
    assert_eq!(address.name_any(), "c1");
    assert_eq!(
        address.spec.address, "10.0.0.2",
        "lowest free address, whatever the entry order"
    );
    assert_eq!(address.spec.prefix, 24);
    assert_eq!(address.spec.gateway.as_deref(), Some("10.0.0.1"));
    assert_eq!(address.spec.claim_ref.name, "c1");
    assert_eq!(address.spec.pool_ref, c1.spec.pool_ref);
    assert!(
        address
            .finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ProtectAddress".to_string())
    );
    let owners = address.owner_references();
    let by_claim = owners
        .iter()
        .find(|o| o.kind == "IPAddressClaim")
        .expect("claim owner");
    assert_eq!(
        (
            by_claim.uid.as_str(),
            by_claim.controller,
            by_claim.block_owner_deletion
        ),
        (c1.uid().unwrap().as_str(), Some(true), Some(true))
    );
    let by_pool = owners
        .iter()
        .find(|o| o.kind == "InClusterIPPool")
        .expect("pool owner");
    assert_eq!(
        (
            by_pool.uid.as_str(),
            by_pool.controller,
            by_pool.block_owner_deletion
        ),
        (pool.uid().unwrap().as_str(), Some(false), Some(true))
    );
    assert!(
        !address.labels().contains_key("other"),
        "only the cluster-name label is copied"
    );

    let c1 = claims.get("c1").await.unwrap();
    assert!(
        c1.finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ReleaseAddress".to_string())
    );
    let (status, message) = ready_reason(&claims, "c1", "Allocated").await;
    assert_eq!(status, "True");
    assert!(message.contains("10.0.0.2"), "{message}");

    create(&claims, claim("c2", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "c2").await.spec.address,
        "10.0.0.11",
        "10.0.0.10 is excluded"
    );

    // Exact counts: 12 addresses, minus the exclusion; none reserved (network .0 and broadcast
    // .255 lie outside the entries); two used.
    let counted = eventually(30, "pool counts", || async {
        let status = pools(&ns).get("p").await.ok()?.status?;
        let counts = status.ip_addresses?;
        (counts.used == 2).then_some(counts)
    })
    .await;
    assert_eq!((counts_tuple(counted)), (11, 2, 9, 0));
    ns.delete().await;
}

fn counts_tuple(c: ipam_in_cluster::api::pool::AddressCounts) -> (i64, i64, i64, i64) {
    (c.total, c.used, c.free, c.out_of_range)
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_for_other_pool_kinds_or_groups_are_left_alone() {
    let ns = setup("filter").await;
    let _operator = operator(&ns);
    let claims = ns.api::<IPAddressClaim>();
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.1.0/29"], "prefix": 29})),
    )
    .await;
    let mut other_group = claim("other-group", "InClusterIPPool", "p");
    other_group["spec"]["poolRef"]["apiGroup"] = json!("ipam.metal3.io");
    create(&claims, other_group).await;
    create(&claims, claim("other-kind", "InfobloxIPPool", "p")).await;
    // A claim this operator does serve, created last: once it is allocated, the others have
    // long been seen.
    create(&claims, claim("mine", "InClusterIPPool", "p")).await;
    allocated(&ns.api(), &claims, "mine").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for name in ["other-group", "other-kind"] {
        let untouched = claims.get(name).await.unwrap();
        assert!(untouched.finalizers().is_empty(), "{name} got a finalizer");
        assert!(untouched.status.is_none(), "{name} got a status");
    }
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_claim_releases_its_address_for_the_next_claim() {
    let ns = setup("release").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool(
            "p",
            json!({"addresses": ["10.0.2.1-10.0.2.3"], "prefix": 24}),
        ),
    )
    .await;
    create(&claims, claim("a", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "a").await.spec.address,
        "10.0.2.1"
    );
    create(&claims, claim("b", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "b").await.spec.address,
        "10.0.2.2"
    );

    claims.delete("a", &DeleteParams::default()).await.unwrap();
    gone(&claims, "a").await;
    gone(&addresses, "a").await;
    let records = Api::<AddressAllocation>::all(ns.client.clone());
    let held: Vec<_> = records
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.spec.claim.namespace == ns.name)
        .map(|r| r.spec.address)
        .collect();
    assert_eq!(
        held,
        vec!["10.0.2.2".to_string()],
        "a's record is gone, b's stays"
    );

    create(&claims, claim("c", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "c").await.spec.address,
        "10.0.2.1",
        "the lowest free address again"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_waiting_on_an_exhausted_pool_is_served_when_an_address_frees() {
    let ns = setup("exhausted").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.3.0/30"], "prefix": 30})),
    )
    .await;
    // /30: network and broadcast reserved, two usable.
    for name in ["a", "b"] {
        create(&claims, claim(name, "InClusterIPPool", "p")).await;
        allocated(&addresses, &claims, name).await;
    }
    create(&claims, claim("late", "InClusterIPPool", "p")).await;
    let (status, message) = ready_reason(&claims, "late", "PoolExhausted").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("no free address") && message.contains("2 of 2"),
        "{message}"
    );

    claims.delete("a", &DeleteParams::default()).await.unwrap();
    let address = allocated(&addresses, &claims, "late").await;
    assert_eq!(address.spec.address, "10.0.3.1");
    ns.delete().await;
}

/// Admission refuses overlapping pools in one namespace, but two created at the same instant
/// (or without the webhook, as here) both exist: they still never hand out one address twice,
/// and the second pool finds the few addresses the first left free, however many it holds.
#[tokio::test(flavor = "multi_thread")]
async fn overlapping_pools_of_one_namespace_never_share_an_address() {
    let ns = setup("overlap").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    for name in ["a", "b"] {
        create(
            &pools(&ns),
            pool(
                name,
                json!({"addresses": ["10.0.21.1-10.0.21.12"], "prefix": 24}),
            ),
        )
        .await;
    }
    // Pool a takes the ten lowest addresses, more than one pass of conflicts can learn.
    let mut taken = std::collections::BTreeSet::new();
    for i in 0..10 {
        let name = format!("a{i}");
        create(&claims, claim(&name, "InClusterIPPool", "a")).await;
        taken.insert(allocated(&addresses, &claims, &name).await.spec.address);
    }
    assert_eq!(taken.len(), 10);
    // Pool b starts from the same lowest address: only the shared records keep it off them.
    for name in ["b0", "b1"] {
        create(&claims, claim(name, "InClusterIPPool", "b")).await;
        let address = allocated(&addresses, &claims, name).await.spec.address;
        assert!(taken.insert(address.clone()), "{address} handed out twice");
    }
    create(&claims, claim("late", "InClusterIPPool", "b")).await;
    let (status, message) = ready_reason(&claims, "late", "PoolExhausted").await;
    assert_eq!(status, "False", "{message}");
    ns.delete().await;
}

/// A claim deleted while it was being given an address can leave an allocation record with no
/// IPAddress behind; the pool's sweep frees it, and a claim waiting for the address gets it.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_left_by_a_vanished_claim_is_swept_and_its_address_reused() {
    use ipam_in_cluster::api::allocation::ClaimIdentity;
    use ipam_in_cluster::pool_key::PoolKey;

    let ns = setup("sweep").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.23.1"], "prefix": 24})),
    )
    .await;
    // What the vanished claim left: its record, and nothing else.
    let key = PoolKey::namespaced("ipam.cluster.x-k8s.io", "InClusterIPPool", &ns.name, "p");
    let ip = "10.0.23.1".parse().unwrap();
    let ghost = ClaimIdentity {
        api_group: "ipam.cluster.x-k8s.io".into(),
        kind: "IPAddressClaim".into(),
        namespace: ns.name.clone(),
        name: "ghost".into(),
        uid: "4b1d0000-0000-4000-8000-000000000000".into(),
    };
    let record = AddressAllocation::of(&key, ip, &ghost);
    let records = Api::<AddressAllocation>::all(ns.client.clone());
    let record = records.create(&Default::default(), &record).await.unwrap();

    create(&claims, claim("late", "InClusterIPPool", "p")).await;
    let (status, _) = ready_reason(&claims, "late", "PoolExhausted").await;
    assert_eq!(status, "False", "the record holds the only address");
    // Within the settling time plus a margin, the sweep frees it and the waiting claim gets it.
    let address = eventually(60, "the late claim allocated", || async {
        let reference = claims.get("late").await.ok()?.status?.address_ref?;
        addresses.get_opt(&reference.name).await.ok().flatten()
    })
    .await;
    assert_eq!(address.spec.address, "10.0.23.1");
    let now = records.get(&record.name_any()).await.unwrap();
    assert_ne!(now.uid(), record.uid(), "the ghost's record was replaced");
    assert_eq!(now.spec.claim.name, "late");
    ns.delete().await;
}

/// Records written before they were named by address space keep their address, under the
/// new name, once the pool is next loaded.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_under_its_old_name_keeps_its_address_and_is_renamed() {
    use ipam_in_cluster::api::allocation::{ClaimIdentity, allocation_name};
    use ipam_in_cluster::pool_key::PoolKey;

    let ns = setup("rename").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool(
            "p",
            json!({"addresses": ["10.0.24.1-10.0.24.2"], "prefix": 24}),
        ),
    )
    .await;
    let key = PoolKey::namespaced("ipam.cluster.x-k8s.io", "InClusterIPPool", &ns.name, "p");
    let ip: std::net::IpAddr = "10.0.24.1".parse().unwrap();
    let holder = ClaimIdentity {
        api_group: "ipam.cluster.x-k8s.io".into(),
        kind: "IPAddressClaim".into(),
        namespace: ns.name.clone(),
        name: "earlier".into(),
        uid: "0ld00000-0000-4000-8000-000000000000".into(),
    };
    let mut record = AddressAllocation::of(&key, ip, &holder);
    let old_name = format!("{}-0a001801", key.digest());
    record.metadata.name = Some(old_name.clone());
    let records = Api::<AddressAllocation>::all(ns.client.clone());
    records.create(&Default::default(), &record).await.unwrap();

    create(&claims, claim("c", "InClusterIPPool", "p")).await;
    let address = allocated(&addresses, &claims, "c").await;
    assert_eq!(address.spec.address, "10.0.24.2", "10.0.24.1 is still held");
    assert!(records.get_opt(&old_name).await.unwrap().is_none());
    let renamed = records.get(&allocation_name(&key, ip)).await.unwrap();
    assert_eq!(renamed.spec.claim, holder);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_pool_is_reported_and_the_claim_served_once_it_exists() {
    let ns = setup("nopool").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(&claims, claim("c", "InClusterIPPool", "later")).await;
    let (status, message) = ready_reason(&claims, "c", "PoolNotFound").await;
    assert_eq!(status, "False");
    assert!(message.contains("later"), "{message}");
    create(
        &pools(&ns),
        pool(
            "later",
            json!({"addresses": ["fd00::10-fd00::20"], "prefix": 64}),
        ),
    )
    .await;
    assert_eq!(
        allocated(&addresses, &claims, "c").await.spec.address,
        "fd00::10"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_or_missing_cluster_holds_allocation_until_it_resumes() {
    let ns = setup("cluster").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.4.0/24"], "prefix": 24})),
    )
    .await;
    let mut c = claim("c", "InClusterIPPool", "p");
    c["spec"]["clusterName"] = json!("wl");
    create(&claims, c).await;
    let (_, message) = ready_reason(&claims, "c", "ClusterNotFound").await;
    assert!(message.contains("wl"), "{message}");

    let clusters = kube::Api::<kube::core::DynamicObject>::namespaced_with(
        ns.client.clone(),
        &ns.name,
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
        .expect("create the Cluster");
    ready_reason(&claims, "c", "ClusterPaused").await;
    assert!(
        addresses.get_opt("c").await.unwrap().is_none(),
        "nothing allocated while paused"
    );

    clusters
        .patch(
            "wl",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}})),
        )
        .await
        .unwrap();
    allocated(&addresses, &claims, "c").await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_ipaddress_is_adopted_unchanged_and_its_address_never_reused() {
    let ns = setup("adopt").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool(
            "p",
            json!({"addresses": ["10.0.5.1-10.0.5.3"], "prefix": 24}),
        ),
    )
    .await;
    // As clusterctl move leaves things: the IPAddress exists before its claim is reconciled,
    // holding an address that is not the lowest free one.
    create(&addresses, json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
        "metadata": {"name": "moved"},
        "spec": {"claimRef": {"name": "moved"}, "address": "10.0.5.1", "prefix": 24,
                 "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "p"}}})).await;
    create(&claims, claim("moved", "InClusterIPPool", "p")).await;
    let adopted = allocated(&addresses, &claims, "moved").await;
    assert_eq!(adopted.spec.address, "10.0.5.1");
    eventually(30, "adopted metadata", || async {
        let a = addresses.get("moved").await.ok()?;
        (a.finalizers()
            .iter()
            .any(|f| f == "ipam.cluster.x-k8s.io/ProtectAddress")
            && a.owner_references()
                .iter()
                .any(|o| o.kind == "IPAddressClaim" && o.controller == Some(true)))
        .then_some(())
    })
    .await;
    create(&claims, claim("fresh", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "fresh").await.spec.address,
        "10.0.5.2"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_deletion_waits_for_its_addresses() {
    let ns = setup("pool-delete").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.6.0/29"], "prefix": 29})),
    )
    .await;
    create(&claims, claim("c", "InClusterIPPool", "p")).await;
    allocated(&addresses, &claims, "c").await;
    eventually(30, "pool finalizer", || async {
        pools(&ns)
            .get("p")
            .await
            .ok()?
            .finalizers()
            .iter()
            .any(|f| f == "ipam.cluster.x-k8s.io/ProtectPool")
            .then_some(())
    })
    .await;

    pools(&ns)
        .delete("p", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let held = pools(&ns)
        .get("p")
        .await
        .expect("the pool stays while an address is in use");
    assert!(held.metadata.deletion_timestamp.is_some());

    claims.delete("c", &DeleteParams::default()).await.unwrap();
    gone(&addresses, "c").await;
    gone(&pools(&ns), "p").await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_pool_serves_claims_of_every_namespace_without_duplicates() {
    let ns_a = setup("global-a").await;
    let ns_b = ipam_test_support::TestNamespace::new("global-b").await;
    let filter = ns_a.name.clone();
    let _operator = operator_with(
        &ns_a,
        ipam_in_cluster::Config {
            scope: ipam_in_cluster::config::Scope {
                namespace: None,
                watch_filter: Some(filter.clone()),
            },
            concurrency: 16,
            ..Default::default()
        },
    );
    let labels = json!({"cluster.x-k8s.io/watch-filter": filter});
    let name = format!("g-{}", ns_a.name);
    create(
        &global_pools(&ns_a),
        global_pool(
            &name,
            labels.clone(),
            json!({"addresses": ["10.0.7.1-10.0.7.4"], "prefix": 24}),
        ),
    )
    .await;
    let mut seen = Vec::new();
    for (ns, claim_name) in [(&ns_a, "x"), (&ns_b, "x"), (&ns_a, "y")] {
        let mut c = claim(claim_name, "GlobalInClusterIPPool", &name);
        c["metadata"]["labels"] = labels.clone();
        create(&ns.api::<IPAddressClaim>(), c).await;
        let address = allocated(&ns.api(), &ns.api(), claim_name).await;
        assert_eq!(
            address.namespace().as_deref(),
            Some(ns.name.as_str()),
            "the IPAddress lives with its claim"
        );
        seen.push(address.spec.address);
    }
    assert_eq!(seen, vec!["10.0.7.1", "10.0.7.2", "10.0.7.3"]);
    let counts = eventually(30, "global pool counts", || async {
        let c = global_pools(&ns_a)
            .get(&name)
            .await
            .ok()?
            .status?
            .ip_addresses?;
        (c.used == 3).then_some(c)
    })
    .await;
    assert_eq!(counts_tuple(counts), (4, 3, 1, 0));
    for ns in [&ns_a, &ns_b] {
        for c in ns
            .api::<IPAddressClaim>()
            .list(&ListParams::default())
            .await
            .unwrap()
        {
            ns.api::<IPAddressClaim>()
                .delete(&c.name_any(), &DeleteParams::default())
                .await
                .unwrap();
        }
    }
    global_pools(&ns_a)
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    gone(&global_pools(&ns_a), &name).await;
    ns_a.delete().await;
    ns_b.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn release_and_exhaustion_are_reported_as_events() {
    let ns = setup("events").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.8.1"], "prefix": 24})),
    )
    .await;
    create(&claims, claim("a", "InClusterIPPool", "p")).await;
    allocated(&addresses, &claims, "a").await;
    create(&claims, claim("b", "InClusterIPPool", "p")).await;
    ready_reason(&claims, "b", "PoolExhausted").await;
    claims.delete("a", &DeleteParams::default()).await.unwrap();
    allocated(&addresses, &claims, "b").await;

    let events =
        Api::<k8s_openapi::api::events::v1::Event>::namespaced(ns.client.clone(), &ns.name);
    let seen = eventually(30, "events", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let seen: Vec<(String, String, String)> = list
            .into_iter()
            .map(|e| {
                (
                    e.regarding.and_then(|r| r.name).unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.type_.unwrap_or_default(),
                )
            })
            .collect();
        let has = |name: &str, reason: &str| seen.iter().any(|(n, r, _)| n == name && r == reason);
        (has("a", "AddressReleased") && has("b", "PoolExhausted")).then_some(seen)
    })
    .await;
    // An allocation is told by the claim's Ready condition alone, as upstream does: an event
    // per claim would be one more write on the path every claim takes.
    assert!(
        !seen.iter().any(|(_, r, _)| r == "AddressAllocated"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(n, r, t)| n == "b" && r == "PoolExhausted" && t == "Warning"),
        "{seen:?}"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_pool_or_claim_gets_no_address_until_resumed() {
    let ns = setup("paused").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let mut paused_pool = pool("p", json!({"addresses": ["10.0.9.0/29"], "prefix": 29}));
    paused_pool["metadata"]["annotations"] = json!({"cluster.x-k8s.io/paused": ""});
    create(&pools(&ns), paused_pool).await;
    create(&claims, claim("c", "InClusterIPPool", "p")).await;
    let mut paused_claim = claim("held", "InClusterIPPool", "p");
    paused_claim["metadata"]["annotations"] = json!({"cluster.x-k8s.io/paused": ""});
    create(&claims, paused_claim).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        addresses.get_opt("c").await.unwrap().is_none(),
        "a paused pool hands out nothing"
    );

    let unpause = json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}});
    pools(&ns)
        .patch("p", &PatchParams::default(), &Patch::Merge(&unpause))
        .await
        .unwrap();
    allocated(&addresses, &claims, "c").await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        addresses.get_opt("held").await.unwrap().is_none(),
        "a paused claim waits even when its pool changes"
    );
    claims
        .patch("held", &PatchParams::default(), &Patch::Merge(&unpause))
        .await
        .unwrap();
    allocated(&addresses, &claims, "held").await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_released_address_is_held_for_the_reuse_grace_period() {
    let ns = setup("grace").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool(
            "p",
            json!({"addresses": ["10.0.10.1-10.0.10.2"], "prefix": 24,
                                         "addressReuseGracePeriodSeconds": 3}),
        ),
    )
    .await;
    create(&claims, claim("old", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "old").await.spec.address,
        "10.0.10.1"
    );
    let deleted = std::time::Instant::now();
    claims
        .delete("old", &DeleteParams::default())
        .await
        .unwrap();
    create(&claims, claim("new", "InClusterIPPool", "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "new").await.spec.address,
        "10.0.10.2",
        "the held address is not reused"
    );
    assert!(
        addresses.get_opt("old").await.unwrap().is_some(),
        "still held within the grace period"
    );
    gone(&claims, "old").await;
    assert!(
        deleted.elapsed() >= std::time::Duration::from_secs(3),
        "released after {:?}",
        deleted.elapsed()
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_v1beta1_claim_is_served_like_a_v1beta2_one() {
    let ns = setup("v1beta1").await;
    let _operator = operator(&ns);
    create(
        &pools(&ns),
        pool(
            "p",
            json!({"addresses": ["10.0.11.0/24"], "prefix": 24, "gateway": "10.0.11.1"}),
        ),
    )
    .await;
    let raw = Api::<kube::core::DynamicObject>::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "ipam.cluster.x-k8s.io",
            "v1beta1",
            "IPAddressClaim",
        )),
    );
    let old: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta1", "kind": "IPAddressClaim", "metadata": {"name": "old-style"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "p"}}}))
    .unwrap();
    raw.create(&Default::default(), &old).await.unwrap();
    let address = allocated(&ns.api(), &ns.api(), "old-style").await;
    assert_eq!(address.spec.address, "10.0.11.2");
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_created_and_deleted_at_once_never_leak_an_address() {
    let ns = setup("flash").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    create(
        &pools(&ns),
        pool("p", json!({"addresses": ["10.0.12.0/24"], "prefix": 24})),
    )
    .await;
    for i in 0..100 {
        let name = format!("flash-{i}");
        create(&claims, claim(&name, "InClusterIPPool", "p")).await;
        claims
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually(120, "every claim, address and record gone", || async {
        let left_claims = claims.list(&ListParams::default()).await.ok()?.items.len();
        let left_addresses = addresses
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .len();
        let left_records = Api::<AddressAllocation>::all(ns.client.clone())
            .list(&ListParams::default())
            .await
            .ok()?
            .into_iter()
            .filter(|r| r.spec.claim.namespace == ns.name)
            .count();
        (left_claims + left_addresses + left_records == 0).then_some(())
    })
    .await;
    pools(&ns)
        .delete("p", &DeleteParams::default())
        .await
        .unwrap();
    gone(&pools(&ns), "p").await;
    ns.delete().await;
}
