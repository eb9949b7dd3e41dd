//! The Metal3 face (IPPool, IPClaim, IPAddress in ipam.metal3.io/v1alpha1) on the real API
//! server, including the upstream defects fixed here.

mod common;

use std::time::Duration;

use common::*;
use ipam_in_cluster::api::AddressAllocation;
use ipam_in_cluster::api::allocation::POOL_LABEL;
use ipam_in_cluster::metal3::api::{IPAddress, IPClaim, IPPool};
use ipam_in_cluster::metal3::pool::key;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

fn ippool(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool", "metadata": {"name": name}, "spec": spec})
}

fn ipclaim(name: &str, pool: &str) -> serde_json::Value {
    json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim", "metadata": {"name": name},
           "spec": {"pool": {"name": pool}}})
}

/// The IPAddress of a bound IPClaim.
async fn bound(claims: &Api<IPClaim>, addresses: &Api<IPAddress>, name: &str) -> IPAddress {
    eventually(30, &format!("IPClaim {name} bound"), || async {
        let claim = claims.get(name).await.ok()?;
        let reference = claim.status?.address?.name?;
        addresses.get_opt(&reference).await.ok().flatten()
    })
    .await
}

/// The claim's `Ready` condition (status, reason) and `errorMessage`, once its reason is `reason`.
async fn claim_ready(claims: &Api<IPClaim>, name: &str, reason: &str) -> (String, Option<String>) {
    eventually(
        30,
        &format!("IPClaim {name} Ready reason {reason}"),
        || async {
            let status = claims.get(name).await.ok()?.status?;
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
            (ready.reason == reason).then(|| (ready.status.clone(), status.error_message.clone()))
        },
    )
    .await
}

async fn allocation_records(ns: &ipam_test_support::TestNamespace, pool: &str) -> usize {
    let digest = key(&ns.name, pool).digest();
    Api::<AddressAllocation>::all(ns.client.clone())
        .list(&ListParams::default().labels(&format!("{POOL_LABEL}={digest}")))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn ipclaims_get_named_addresses_entry_by_entry_with_entry_attributes() {
    let ns = setup("m3alloc").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPClaim>(), ns.api::<IPAddress>());
    let pool = create(
        &ns.api::<IPPool>(),
        ippool("p", json!({
            "namePrefix": "pfx", "prefix": 24, "gateway": "10.0.0.1", "dnsServers": ["8.8.8.8"],
            "pools": [
                {"start": "10.0.0.10", "end": "10.0.0.11", "prefix": 25, "gateway": "10.0.0.126", "dnsServers": ["1.1.1.1"]},
                {"start": "10.0.1.20", "end": "10.0.1.30"},
            ]})),
    )
    .await;
    let mut labelled = ipclaim("c1", "p");
    labelled["metadata"]["labels"] = json!({"cluster.x-k8s.io/cluster-name": "x"});
    let c1 = create(&claims, labelled).await;
    let a1 = bound(&claims, &addresses, "c1").await;
    assert_eq!(a1.name_any(), "pfx-10-0-0-10");
    assert_eq!(
        (
            a1.spec.address.as_str(),
            a1.spec.prefix,
            a1.spec.gateway.as_deref()
        ),
        ("10.0.0.10", 25, Some("10.0.0.126"))
    );
    assert_eq!(a1.spec.dns_servers, vec!["1.1.1.1".to_string()]);
    assert_eq!(a1.spec.claim.name.as_deref(), Some("c1"));
    assert_eq!(a1.spec.pool.name.as_deref(), Some("p"));
    assert_eq!(
        a1.labels()
            .get("cluster.x-k8s.io/cluster-name")
            .map(String::as_str),
        Some("x")
    );
    assert!(
        a1.finalizers()
            .contains(&"ipaddress.ipam.metal3.io".to_string())
    );
    let owners: Vec<_> = a1
        .owner_references()
        .iter()
        .map(|o| (o.kind.as_str(), o.uid.clone(), o.controller))
        .collect();
    assert!(owners.contains(&("IPPool", pool.uid().unwrap(), None)));
    assert!(owners.contains(&("IPClaim", c1.uid().unwrap(), None)));
    let (status, error) = claim_ready(&claims, "c1", "Allocated").await;
    assert_eq!((status.as_str(), error), ("True", None));
    assert!(
        claims
            .get("c1")
            .await
            .unwrap()
            .finalizers()
            .contains(&"ipclaim.ipam.metal3.io".to_string())
    );

    create(&claims, ipclaim("c2", "p")).await;
    let a2 = bound(&claims, &addresses, "c2").await;
    assert_eq!(a2.spec.address, "10.0.0.11");
    create(&claims, ipclaim("c3", "p")).await;
    let a3 = bound(&claims, &addresses, "c3").await;
    assert_eq!(
        a3.name_any(),
        "pfx-10-0-1-20",
        "the second entry once the first is used up"
    );
    assert_eq!(
        (
            a3.spec.prefix,
            a3.spec.gateway.as_deref(),
            a3.spec.dns_servers.clone()
        ),
        (24, Some("10.0.0.1"), vec!["8.8.8.8".to_string()]),
        "the pool's attributes where the entry sets none"
    );
    let pools = ns.api::<IPPool>();
    eventually(30, "status.indexes", || async {
        let status = pools.get("p").await.ok()?.status?;
        let want = [
            ("c1", "10.0.0.10"),
            ("c2", "10.0.0.11"),
            ("c3", "10.0.1.20"),
        ]
        .map(|(c, a)| (c.to_string(), a.to_string()))
        .into_iter()
        .collect();
        (status.indexes == want && status.last_updated.is_some()).then_some(())
    })
    .await;
    assert!(
        pools
            .get("p")
            .await
            .unwrap()
            .finalizers()
            .contains(&"ippool.ipam.metal3.io".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pre_allocations_and_the_ip_address_annotation_are_honoured() {
    let ns = setup("m3pre").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPClaim>(), ns.api::<IPAddress>());
    create(
        &ns.api::<IPPool>(),
        ippool(
            "p",
            json!({"namePrefix": "p", "prefix": 24,
            "pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}],
            "preAllocations": {"pre": "10.0.0.10"}}),
        ),
    )
    .await;
    create(&claims, ipclaim("plain", "p")).await;
    assert_eq!(
        bound(&claims, &addresses, "plain").await.spec.address,
        "10.0.0.11",
        "a pre-allocated address is kept for its claim"
    );
    create(&claims, ipclaim("pre", "p")).await;
    assert_eq!(
        bound(&claims, &addresses, "pre").await.spec.address,
        "10.0.0.10"
    );
    let mut asking = ipclaim("asking", "p");
    asking["metadata"]["annotations"] = json!({"ipAddress": "10.0.0.15"});
    create(&claims, asking).await;
    assert_eq!(
        bound(&claims, &addresses, "asking").await.spec.address,
        "10.0.0.15"
    );

    let mut taken = ipclaim("taken", "p");
    taken["metadata"]["annotations"] = json!({"ipAddress": "10.0.0.15"});
    create(&claims, taken).await;
    let (status, error) = claim_ready(&claims, "taken", "AllocationFailed").await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("False", Some("Requested IP not available"))
    );
    let mut bad = ipclaim("bad", "p");
    bad["metadata"]["annotations"] = json!({"ipAddress": "nope"});
    create(&claims, bad).await;
    let (_, error) = claim_ready(&claims, "bad", "AllocationFailed").await;
    assert_eq!(
        error.as_deref(),
        Some("Invalid ipAddress annotation \"nope\": not a valid IP address")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn random_strategy_hands_out_distinct_addresses_of_the_entry() {
    let ns = setup("m3rand").await;
    let _operator = operator(&ns);
    let (claims, addresses) = (ns.api::<IPClaim>(), ns.api::<IPAddress>());
    create(
        &ns.api::<IPPool>(),
        ippool(
            "p",
            json!({"namePrefix": "p", "prefix": 24, "allocationStrategy": "random",
            "pools": [{"start": "10.0.0.10", "end": "10.0.0.250"}]}),
        ),
    )
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..8 {
        create(&claims, ipclaim(&format!("c{i}"), "p")).await;
    }
    for i in 0..8 {
        let address = bound(&claims, &addresses, &format!("c{i}"))
            .await
            .spec
            .address;
        let last: u8 = address.rsplit('.').next().unwrap().parse().unwrap();
        assert!(
            address.starts_with("10.0.0.") && (10..=250).contains(&last),
            "{address}"
        );
        assert!(seen.insert(address.clone()), "{address} handed out twice");
    }
    assert!(
        seen.iter().any(|a| a != "10.0.0.10" && a != "10.0.0.11"),
        "not sequential: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_created_and_deleted_at_once_never_leaks_200_times() {
    let ns = setup("m3leak").await;
    let _operator = operator(&ns);
    let (claims, addresses, pools) = (
        ns.api::<IPClaim>(),
        ns.api::<IPAddress>(),
        ns.api::<IPPool>(),
    );
    create(
        &pools,
        ippool(
            "p",
            json!({"namePrefix": "p", "prefix": 24, "pools": [{"subnet": "10.0.0.0/24"}]}),
        ),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    for i in 0..200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "200 iterations took too long ({i} done)"
        );
        let claim: IPClaim = serde_json::from_value(ipclaim(&format!("c{i}"), "p")).unwrap();
        claims.create(&PostParams::default(), &claim).await.unwrap();
        // Vary the gap so deletion lands before, during and after allocation.
        if i % 4 != 0 {
            tokio::time::sleep(Duration::from_millis((i % 7) as u64 * 5)).await;
        }
        claims
            .delete(&format!("c{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually(120, "every claim gone", || async {
        claims
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    eventually(30, "no IPAddress and no allocation record left", || async {
        let left = addresses
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .len();
        (left == 0 && allocation_records(&ns, "p").await == 0).then_some(())
    })
    .await;
    pools.delete("p", &DeleteParams::default()).await.unwrap();
    gone(&pools, "p").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_on_an_exhausted_pool_is_bound_when_an_address_frees() {
    let ns = setup("m3exh").await;
    let _operator = operator(&ns);
    let (claims, addresses, pools) = (
        ns.api::<IPClaim>(),
        ns.api::<IPAddress>(),
        ns.api::<IPPool>(),
    );
    create(
        &pools,
        ippool("p", json!({"namePrefix": "p", "prefix": 24, "pools": [{"start": "10.0.0.10", "end": "10.0.0.10"}]})),
    )
    .await;
    create(&claims, ipclaim("first", "p")).await;
    bound(&claims, &addresses, "first").await;
    create(&claims, ipclaim("second", "p")).await;
    let (status, error) = claim_ready(&claims, "second", "PoolExhausted").await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("False", Some("Exhausted IP Pools"))
    );
    eventually(30, "pool Exhausted condition", || async {
        let status = pools.get("p").await.ok()?.status?;
        let c = status.conditions.iter().find(|c| c.type_ == "Exhausted")?;
        (c.status == "True" && c.reason == "PoolExhausted").then_some(())
    })
    .await;

    claims
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    let address = bound(&claims, &addresses, "second").await;
    assert_eq!(address.spec.address, "10.0.0.10");
    let (status, error) = claim_ready(&claims, "second", "Allocated").await;
    assert_eq!(
        (status.as_str(), error),
        ("True", None),
        "errorMessage is cleared"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pool_deletion_waits_for_its_addresses_then_completes() {
    let ns = setup("m3del").await;
    let _operator = operator(&ns);
    let (claims, addresses, pools) = (
        ns.api::<IPClaim>(),
        ns.api::<IPAddress>(),
        ns.api::<IPPool>(),
    );
    create(
        &pools,
        ippool("p", json!({"namePrefix": "p", "prefix": 24, "pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]})),
    )
    .await;
    create(&claims, ipclaim("c", "p")).await;
    bound(&claims, &addresses, "c").await;
    pools.delete("p", &DeleteParams::default()).await.unwrap();
    eventually(30, "pool reports it is in use", || async {
        let status = pools.get("p").await.ok()?.status?;
        let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (c.reason == "PoolInUse").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        pools.get_opt("p").await.unwrap().is_some(),
        "held while an address exists"
    );
    claims.delete("c", &DeleteParams::default()).await.unwrap();
    gone(&pools, "p").await;
    assert!(
        addresses
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(allocation_records(&ns, "p").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn metal3_and_capi_claims_on_one_pool_get_unique_addresses() {
    use ipam_in_cluster::api::capi::{IPAddress as CapiAddress, IPAddressClaim};
    let ns = setup("m3mixed").await;
    let _operator = operator(&ns);
    let (claims, addresses, pools) = (
        ns.api::<IPClaim>(),
        ns.api::<IPAddress>(),
        ns.api::<IPPool>(),
    );
    let (capi_claims, capi_addresses) = (ns.api::<IPAddressClaim>(), ns.api::<CapiAddress>());
    create(
        &pools,
        ippool(
            "p",
            json!({"namePrefix": "p", "prefix": 24, "gateway": "10.0.0.1",
            "pools": [{"start": "10.0.0.10", "end": "10.0.0.15"}]}),
        ),
    )
    .await;
    let capi_claim = |name: &str| {
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim", "metadata": {"name": name},
               "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "p"}}})
    };
    // "same" exists as both kinds: upstream links the second to the first's address.
    for name in ["same", "m1", "m2"] {
        create(&claims, ipclaim(name, "p")).await;
        create(
            &capi_claims,
            capi_claim(if name == "same" { "same" } else { &name[1..] }),
        )
        .await;
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in ["same", "m1", "m2"] {
        assert!(seen.insert(bound(&claims, &addresses, name).await.spec.address));
    }
    for name in ["same", "1", "2"] {
        let address = allocated(&capi_addresses, &capi_claims, name).await;
        assert_eq!(
            (address.spec.prefix, address.spec.gateway.as_deref()),
            (24, Some("10.0.0.1"))
        );
        assert!(
            seen.insert(address.spec.address.clone()),
            "{} handed out twice",
            address.spec.address
        );
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(allocation_records(&ns, "p").await, 6);

    // The pool is now full for both kinds; freeing a Metal3 address lets a CAPI claim in.
    create(&capi_claims, capi_claim("late")).await;
    ready_reason(&capi_claims, "late", "PoolExhausted").await;
    claims.delete("m1", &DeleteParams::default()).await.unwrap();
    allocated(&capi_addresses, &capi_claims, "late").await;

    // Deletion waits for the addresses of both kinds.
    pools.delete("p", &DeleteParams::default()).await.unwrap();
    for name in ["same", "m2"] {
        claims.delete(name, &DeleteParams::default()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        pools.get_opt("p").await.unwrap().is_some(),
        "CAPI addresses still hold the pool"
    );
    for name in ["same", "1", "2", "late"] {
        capi_claims
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    gone(&pools, "p").await;
    assert_eq!(allocation_records(&ns, "p").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_with_a_cluster_is_labelled_and_owned_by_it_for_clusterctl_move() {
    let ns = setup("m3owner").await;
    let _operator = operator(&ns);
    let (claims, addresses, pools) = (
        ns.api::<IPClaim>(),
        ns.api::<IPAddress>(),
        ns.api::<IPPool>(),
    );
    let clusters = Api::<kube::core::DynamicObject>::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "cluster.x-k8s.io",
            "v1beta2",
            "Cluster",
        )),
    );
    let cluster: kube::core::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "wl"},
        "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}}}))
    .unwrap();
    let cluster = clusters
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    create(
        &pools,
        ippool(
            "p",
            json!({"clusterName": "wl", "namePrefix": "p", "prefix": 24,
            "pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]}),
        ),
    )
    .await;
    let pool = eventually(30, "pool attached to its Cluster", || async {
        let pool = pools.get("p").await.ok()?;
        let owned = pool.owner_references().iter().any(|o| {
            o.kind == "Cluster"
                && o.name == "wl"
                && Some(&o.uid) == cluster.uid().as_ref()
                && o.controller.is_none()
        });
        (owned
            && pool
                .labels()
                .get("cluster.x-k8s.io/cluster-name")
                .map(String::as_str)
                == Some("wl"))
        .then_some(pool)
    })
    .await;
    assert_eq!(
        pool.labels()
            .get("cluster.x-k8s.io/provider")
            .map(String::as_str),
        Some("ipam-metal3")
    );
    create(&claims, ipclaim("c", "p")).await;
    let address = bound(&claims, &addresses, "c").await;
    assert!(
        address
            .owner_references()
            .iter()
            .any(|o| o.kind == "IPPool" && Some(&o.uid) == pool.uid().as_ref()),
        "the address hangs off the pool, and through it off the Cluster"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn capi_claims_on_an_ippool_honour_pre_allocations_and_the_annotation() {
    use ipam_in_cluster::api::capi::{IPAddress as CapiAddress, IPAddressClaim};
    let ns = setup("m3capi").await;
    let _operator = operator(&ns);
    let (capi_claims, capi_addresses) = (ns.api::<IPAddressClaim>(), ns.api::<CapiAddress>());
    create(
        &ns.api::<IPPool>(),
        ippool("p", json!({"namePrefix": "p", "prefix": 24,
            "pools": [{"start": "10.0.0.10", "end": "10.0.0.20", "prefix": 26, "gateway": "10.0.0.1"}],
            "preAllocations": {"pre": "10.0.0.12"}})),
    )
    .await;
    let capi_claim = |name: &str, annotations: serde_json::Value| {
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
               "metadata": {"name": name, "annotations": annotations},
               "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "p"}}})
    };
    create(&capi_claims, capi_claim("pre", json!({}))).await;
    create(
        &capi_claims,
        capi_claim("asking", json!({"ipAddress": "10.0.0.14"})),
    )
    .await;
    create(&capi_claims, capi_claim("plain", json!({}))).await;
    let pre = allocated(&capi_addresses, &capi_claims, "pre").await;
    assert_eq!(
        (
            pre.spec.address.as_str(),
            pre.spec.prefix,
            pre.spec.gateway.as_deref()
        ),
        ("10.0.0.12", 26, Some("10.0.0.1")),
        "the entry's prefix and gateway"
    );
    assert_eq!(
        allocated(&capi_addresses, &capi_claims, "asking")
            .await
            .spec
            .address,
        "10.0.0.14"
    );
    assert_eq!(
        allocated(&capi_addresses, &capi_claims, "plain")
            .await
            .spec
            .address,
        "10.0.0.10"
    );
}
