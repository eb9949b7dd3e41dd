//! The Cluster API IPAM contract served from InClusterPrefixPools and
//! GlobalInClusterPrefixPools on the real API server: each claim gets one sub-prefix, lowest
//! free first, as an IPAddress holding the block's first address and its length; the pools
//! count in blocks and are kept while a block is in use.

mod common;

use std::collections::BTreeSet;

use common::*;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_in_cluster::api::pool::AddressCounts;
use ipam_in_cluster::api::{AddressAllocation, GlobalInClusterPrefixPool, InClusterPrefixPool};
use ipam_test_support::TestNamespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};
use serde_json::json;

const KIND: &str = "InClusterPrefixPool";
const SAMPLE: &str = "inclusterprefixpool-sample";

fn prefix_pool(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": KIND,
           "metadata": {"name": name}, "spec": spec})
}

fn prefix_pools(ns: &TestNamespace) -> Api<InClusterPrefixPool> {
    ns.api()
}

/// The pool's counts as (total, used, free, outOfRange), once `used` is as given.
async fn counted(pools: &Api<InClusterPrefixPool>, name: &str, used: i64) -> AddressCounts {
    eventually(30, &format!("{name} counts {used} used"), || async {
        let counts = pools.get(name).await.ok()?.status?.ip_addresses?;
        (counts.used == used).then_some(counts)
    })
    .await
}

fn tuple(c: AddressCounts) -> (i64, i64, i64, i64) {
    (c.total, c.used, c.free, c.out_of_range)
}

/// The pool's `Ready` condition as (status, reason, message), once its reason is `reason`.
async fn pool_ready(
    pools: &Api<InClusterPrefixPool>,
    name: &str,
    reason: &str,
) -> (String, String) {
    eventually(
        30,
        &format!("pool {name} Ready reason {reason}"),
        || async {
            let status = pools.get(name).await.ok()?.status?;
            let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
            (ready.reason == reason).then_some((ready.status, ready.message))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn upstreams_sample_serves_sub_prefixes_as_upstream_does() {
    let ns = setup("prefix-sample").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    apply(&ns.client, &ns.name, "readme_inclusterprefixpool.yaml").await;
    let pool = prefix_pools(&ns).get(SAMPLE).await.unwrap();

    let mut labelled = claim("c1", KIND, SAMPLE);
    // An empty cluster name: the claim belongs to no Cluster, yet the label is copied.
    labelled["metadata"]["labels"] = json!({"cluster.x-k8s.io/cluster-name": ""});
    let c1 = create(&claims, labelled).await;
    let first = allocated(&addresses, &claims, "c1").await;
    assert_eq!(
        (
            first.spec.address.as_str(),
            first.spec.prefix,
            first.spec.gateway.as_deref()
        ),
        ("fd00::", 64, Some("fd00::1")),
        "the lowest /64, its first address, and the pool's gateway, which blocks nothing"
    );
    assert_eq!(first.spec.pool_ref, c1.spec.pool_ref);
    assert!(
        first
            .finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ProtectAddress".to_string())
    );
    let owners = first.owner_references();
    let by_claim = owners.iter().find(|o| o.kind == "IPAddressClaim").unwrap();
    assert_eq!(
        (by_claim.uid.as_str(), by_claim.controller),
        (c1.uid().unwrap().as_str(), Some(true))
    );
    let by_pool = owners.iter().find(|o| o.kind == KIND).expect("pool owner");
    assert_eq!(
        (by_pool.uid.as_str(), by_pool.controller),
        (pool.uid().unwrap().as_str(), Some(false))
    );
    assert_eq!(
        first.labels().get("cluster.x-k8s.io/cluster-name"),
        Some(&String::new())
    );
    let (status, message) = ready_reason(&claims, "c1", "Allocated").await;
    assert_eq!(status, "True");
    assert!(message.contains("fd00::"), "{message}");

    create(&claims, claim("c2", KIND, SAMPLE)).await;
    assert_eq!(
        allocated(&addresses, &claims, "c2").await.spec.address,
        "fd00:0:0:2::",
        "fd00:0:0:1::/64 is excluded"
    );

    // Two /48s of /64s, less the excluded one; counted in blocks.
    let pools = prefix_pools(&ns);
    assert_eq!(
        tuple(counted(&pools, SAMPLE, 2).await),
        (131_071, 2, 131_069, 0)
    );
    let (status, _) = pool_ready(&pools, SAMPLE, "PoolReady").await;
    assert_eq!(status, "True");
    assert!(
        pools
            .get(SAMPLE)
            .await
            .unwrap()
            .finalizers()
            .contains(&"ipam.cluster.x-k8s.io/ProtectPool".to_string())
    );

    // Released, the lowest block is handed out again, and the release is told.
    claims.delete("c1", &DeleteParams::default()).await.unwrap();
    gone(&claims, "c1").await;
    create(&claims, claim("c3", KIND, SAMPLE)).await;
    assert_eq!(
        allocated(&addresses, &claims, "c3").await.spec.address,
        "fd00::"
    );
    let events = Api::<Event>::namespaced(ns.client.clone(), &ns.name);
    eventually(30, "an AddressReleased event for c1", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("AddressReleased")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("c1")
            })
            .then_some(())
    })
    .await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipv4_prefix_pool_hands_out_its_blocks_lowest_first_until_exhausted() {
    let ns = setup("prefix-v4").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let pools = prefix_pools(&ns);
    // A /24 cut into /28s; one address excluded takes its whole block: 15 blocks.
    create(
        &pools,
        prefix_pool(
            "v4",
            json!({"prefixes": ["10.40.0.0/24"], "allocationPrefixLength": 28,
                "gateway": "10.40.0.1", "excludedPrefixes": ["10.40.0.20"]}),
        ),
    )
    .await;
    create(&claims, claim("first", KIND, "v4")).await;
    let first = allocated(&addresses, &claims, "first").await;
    assert_eq!(
        (
            first.spec.address.as_str(),
            first.spec.prefix,
            first.spec.gateway.as_deref()
        ),
        ("10.40.0.0", 28, Some("10.40.0.1"))
    );
    // Fourteen at once: together they take every other block, none twice.
    for i in 0..14 {
        create(&claims, claim(&format!("c{i}"), KIND, "v4")).await;
    }
    let mut taken = BTreeSet::new();
    for i in 0..14 {
        let address = allocated(&addresses, &claims, &format!("c{i}")).await;
        assert_eq!(address.spec.prefix, 28);
        assert!(taken.insert(address.spec.address), "a block given twice");
    }
    let expected: BTreeSet<String> = (2..16).map(|b| format!("10.40.0.{}", b * 16)).collect();
    assert_eq!(taken, expected, "every block but the excluded one");

    // Exhausted: the claim waits with the address pools' reason, and the pool says why.
    create(&claims, claim("late", KIND, "v4")).await;
    let (status, message) = ready_reason(&claims, "late", "PoolExhausted").await;
    assert_eq!(status, "False");
    assert!(
        message.contains("has no free /28 prefix: 15 of 15 in use"),
        "{message}"
    );
    assert_eq!(tuple(counted(&pools, "v4", 15).await), (15, 15, 0, 0));
    let (status, message) = pool_ready(&pools, "v4", "PoolExhausted").await;
    assert_eq!(status, "True");
    assert!(message.contains("no free /28 prefix"), "{message}");

    // A release frees the block for the claim waiting.
    let holder = eventually(10, "the holder of 10.40.0.48", || async {
        let list = addresses.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|a| a.spec.address == "10.40.0.48")
            .map(|a| a.name_any())
    })
    .await;
    claims
        .delete(&holder, &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        allocated(&addresses, &claims, "late").await.spec.address,
        "10.40.0.48"
    );
    let (status, _) = ready_reason(&claims, "late", "Allocated").await;
    assert_eq!(status, "True");
    assert_eq!(tuple(counted(&pools, "v4", 15).await), (15, 15, 0, 0));
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_prefix_pool_serves_claims_of_any_namespace() {
    let ns = setup("prefix-global").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let global = Api::<GlobalInClusterPrefixPool>::all(ns.client.clone());
    let name = format!("{}-blocks", ns.name);
    create(
        &global,
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "GlobalInClusterPrefixPool",
            "metadata": {"name": name},
            "spec": {"prefixes": ["fd10:40::/62"], "allocationPrefixLength": 63}}),
    )
    .await;
    for claim_name in ["a", "b"] {
        create(
            &claims,
            claim(claim_name, "GlobalInClusterPrefixPool", &name),
        )
        .await;
    }
    let got: BTreeSet<(String, i32)> = [
        allocated(&addresses, &claims, "a").await,
        allocated(&addresses, &claims, "b").await,
    ]
    .into_iter()
    .map(|a| (a.spec.address, a.spec.prefix))
    .collect();
    assert_eq!(
        got,
        BTreeSet::from([
            ("fd10:40::".to_string(), 63),
            ("fd10:40:0:2::".to_string(), 63)
        ])
    );
    for claim_name in ["a", "b"] {
        claims
            .delete(claim_name, &DeleteParams::default())
            .await
            .unwrap();
        gone(&claims, claim_name).await;
    }
    global
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    gone(&global, &name).await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allocation_of_another_length_keeps_every_block_it_touches() {
    let ns = setup("prefix-wide").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let pools = prefix_pools(&ns);
    create(
        &pools,
        prefix_pool(
            "q",
            json!({"prefixes": ["10.51.0.0/26"], "allocationPrefixLength": 28}),
        ),
    )
    .await;
    // A /27 restored before its claim: it spans the blocks .32 and .48.
    create(
        &addresses,
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
            "metadata": {"name": "wide"},
            "spec": {"claimRef": {"name": "wide"}, "address": "10.51.0.32", "prefix": 27,
                "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": KIND, "name": "q"}}}),
    )
    .await;
    let mut got = BTreeSet::new();
    for name in ["a", "b"] {
        create(&claims, claim(name, KIND, "q")).await;
        got.insert(allocated(&addresses, &claims, name).await.spec.address);
    }
    assert_eq!(
        got,
        BTreeSet::from(["10.51.0.0".to_string(), "10.51.0.16".to_string()])
    );
    create(&claims, claim("wide", KIND, "q")).await;
    assert_eq!(
        allocated(&addresses, &claims, "wide").await.spec.prefix,
        27,
        "adopted as it is"
    );
    // Both blocks under the /27 stay taken, through the reload an exhausted pool makes.
    create(&claims, claim("late", KIND, "q")).await;
    ready_reason(&claims, "late", "PoolExhausted").await;
    assert_eq!(tuple(counted(&pools, "q", 3).await), (4, 3, 0, 1));
    claims
        .delete("wide", &DeleteParams::default())
        .await
        .unwrap();
    // The /27's two blocks come back one record at a time, so the waiting claim gets
    // whichever of them was free first: either is right, nothing else is.
    let late = allocated(&addresses, &claims, "late").await.spec.address;
    assert!(
        ["10.51.0.32", "10.51.0.48"].contains(&late.as_str()),
        "late got {late}, not a block the /27 held"
    );
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_pool_stays_while_blocks_are_in_use_and_adopts_restored_ones() {
    let ns = setup("prefix-keep").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPAddressClaim>(), ns.api::<IPAddress>());
    let pools = prefix_pools(&ns);
    create(
        &pools,
        prefix_pool(
            "p",
            json!({"prefixes": ["10.50.0.0/26"], "allocationPrefixLength": 28}),
        ),
    )
    .await;
    // Restored before its claim (clusterctl move): its block is nobody else's.
    create(
        &addresses,
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
            "metadata": {"name": "moved"},
            "spec": {"claimRef": {"name": "moved"}, "address": "10.50.0.16", "prefix": 28,
                "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": KIND, "name": "p"}}}),
    )
    .await;
    create(&claims, claim("first", KIND, "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "first").await.spec.address,
        "10.50.0.0"
    );
    let moved = create(&claims, claim("moved", KIND, "p")).await;
    let adopted = allocated(&addresses, &claims, "moved").await;
    assert_eq!(
        (adopted.spec.address.as_str(), adopted.spec.prefix),
        ("10.50.0.16", 28)
    );
    let adopted = eventually(30, "the restored IPAddress owned by its claim", || async {
        let a = addresses.get("moved").await.ok()?;
        let owned = a
            .owner_references()
            .iter()
            .any(|o| o.uid == moved.uid().unwrap_or_default());
        owned.then_some(a)
    })
    .await;
    assert_eq!(adopted.spec.address, "10.50.0.16");
    create(&claims, claim("third", KIND, "p")).await;
    assert_eq!(
        allocated(&addresses, &claims, "third").await.spec.address,
        "10.50.0.32"
    );
    assert_eq!(tuple(counted(&pools, "p", 3).await), (4, 3, 1, 0));

    // Deleted while its blocks are in use, the pool waits and says why.
    pools.delete("p", &DeleteParams::default()).await.unwrap();
    let (status, message) = pool_ready(&pools, "p", "PoolInUse").await;
    assert_eq!(status, "False");
    assert!(message.contains("3 IPAddresses"), "{message}");
    assert!(pools.get_opt("p").await.unwrap().is_some());
    for name in ["first", "moved", "third"] {
        claims.delete(name, &DeleteParams::default()).await.unwrap();
    }
    gone(&pools, "p").await;
    // Its ledger records went with it.
    let records = Api::<AddressAllocation>::all(ns.client.clone());
    let left: Vec<String> = records
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|r| r.spec.pool.namespace.as_deref() == Some(ns.name.as_str()))
        .map(|r| r.spec.address)
        .collect();
    assert!(left.is_empty(), "{left:?}");
    ns.delete().await;
}
