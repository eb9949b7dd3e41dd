//! Failover on the node of `e2e/bin/cluster.sh`: the leading pod's process is killed (SIGKILL,
//! so it hands nothing over) in the middle of a burst of claims. Another process must hold
//! the Lease within 20 s (the chart's leaseDuration is 15 s, its retryPeriod 2 s) and serve
//! every claim: each Ready with an address of its own, no address twice, none left over.
//! Which one is a race, as in any cluster: the standby replica, or the killed pod's container
//! restarted by the kubelet, whichever asks first once the Lease has expired.
//! A file of its own: it kills a pod, which the tests of tests/cluster.rs must not see.

mod node;
mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_test_support::{TestNamespace, cluster_client};
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use process::eventually;
use serde_json::json;

const CLAIMS: usize = 300;
const KILL_AFTER: usize = 100;
const TAKEOVER_BUDGET: Duration = Duration::from_secs(20);

fn claim(name: &str) -> IPAddressClaim {
    serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": name},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap()
}

fn is_ready(claim: &IPAddressClaim) -> bool {
    claim.status.as_ref().is_some_and(|s| {
        s.address_ref.is_some()
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leader_is_replaced_within_20s_mid_burst_and_no_claim_is_lost_or_doubled() {
    let client = cluster_client().await;
    let pods = eventually(120, "2 Ready pods of the release", || {
        node::ready(&client, 2)
    })
    .await;
    let dead = eventually(30, "a holder of the release's Lease", || {
        node::holder(&client)
    })
    .await;
    let killed = pods
        .iter()
        .find(|p| dead.starts_with(&format!("{}_", node::name(p))))
        .unwrap_or_else(|| panic!("the Lease's holder {dead} is none of the release's pods"));

    let ns = TestNamespace::new_in(client.clone(), "node-failover").await;
    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.80.0.10-10.80.1.250"], "prefix": 23, "gateway": "10.80.0.1"}}))
    .unwrap();
    ns.api::<InClusterIPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();

    let claims = ns.api::<IPAddressClaim>();
    let created = Arc::new(AtomicUsize::new(0));
    let burst = tokio::spawn({
        let (claims, created) = (claims.clone(), created.clone());
        async move {
            futures::stream::iter(0..CLAIMS)
                .for_each_concurrent(16, |i| {
                    let (claims, created) = (claims.clone(), created.clone());
                    async move {
                        let name = format!("machine-{i}");
                        claims
                            .create(&PostParams::default(), &claim(&name))
                            .await
                            .unwrap_or_else(|e| panic!("create claim {name}: {e}"));
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
        }
    });
    eventually(60, &format!("{KILL_AFTER} claims created"), || async {
        (created.load(Ordering::Relaxed) >= KILL_AFTER).then_some(())
    })
    .await;
    node::kill(killed);
    let killed_at = Instant::now();
    let successor = eventually(60, "a new holder of the Lease", || async {
        node::holder(&client).await.filter(|h| *h != dead)
    })
    .await;
    let takeover = killed_at.elapsed();
    println!("{successor} took the Lease {takeover:?} after {dead} was killed");
    let names: Vec<String> = pods.iter().map(node::name).collect();
    assert!(
        names
            .iter()
            .any(|n| successor.starts_with(&format!("{n}_"))),
        "the Lease went to {successor}, none of {names:?}"
    );
    assert!(takeover < TAKEOVER_BUDGET, "the takeover took {takeover:?}");
    burst.await.expect("the burst of claims");

    let served = eventually(180, &format!("{CLAIMS} claims Ready"), || async {
        let all = claims.list(&ListParams::default()).await.ok()?.items;
        (all.len() == CLAIMS && all.iter().all(is_ready)).then_some(all)
    })
    .await;
    let address_of: BTreeMap<String, String> = served
        .iter()
        .map(|c| {
            (
                c.name_any(),
                c.status
                    .as_ref()
                    .unwrap()
                    .address_ref
                    .as_ref()
                    .unwrap()
                    .name
                    .clone(),
            )
        })
        .collect();
    let addresses = ns
        .api::<IPAddress>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        addresses.len(),
        CLAIMS,
        "one IPAddress per claim, none left over"
    );
    let distinct: BTreeSet<&str> = addresses.iter().map(|a| a.spec.address.as_str()).collect();
    assert_eq!(distinct.len(), CLAIMS, "an address handed out twice");
    for address in &addresses {
        assert_eq!(
            address_of.get(&address.spec.claim_ref.name),
            Some(&address.name_any()),
            "IPAddress {} is not the one its claim {} points at",
            address.name_any(),
            address.spec.claim_ref.name
        );
    }
    ns.delete().await;
    // The killed replica is back (the kubelet restarted its container).
    eventually(120, "2 Ready pods again", || node::ready(&client, 2)).await;
}
