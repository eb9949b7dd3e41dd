//! Failover on the node of `e2e/bin/cluster.sh`: the leading pod's process is killed (SIGKILL,
//! so it hands nothing over) in the middle of a burst of claims. The other replica must take
//! the Lease within 20 s (the chart's leaseDuration is 15 s, its retryPeriod 2 s) and serve
//! every claim: each Ready with an address of its own, no address twice, none left over.
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
    let leader = eventually(30, "a holder of the release's Lease", || {
        node::leader(&client)
    })
    .await;
    let (killed, standby): (Vec<_>, Vec<_>) =
        pods.into_iter().partition(|p| node::name(p) == leader);
    let (killed, standby) = (&killed[0], node::name(&standby[0]));

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
    eventually(60, &format!("{standby} holding the Lease"), || async {
        (node::leader(&client).await? == standby).then_some(())
    })
    .await;
    let takeover = killed_at.elapsed();
    println!(
        "{standby} took the Lease {takeover:?} after {} was killed",
        node::name(killed)
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
    // The killed replica comes back (the kubelet restarts its container) as the standby.
    eventually(120, "2 Ready pods again", || node::ready(&client, 2)).await;
}
