//! The operator as users run it: the image of `make image` on the node of
//! `e2e/bin/cluster.sh`, installed by `helm install` as the README says. Nothing here starts
//! an operator process: whatever answers is the chart's pods. `make test` starts the cluster
//! (target/testnode); without one these tests fail.

mod node;
mod process;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::{IPAddress, IPAddressClaim};
use ipam_test_support::{TestNamespace, cluster_client, sample};
use kube::api::PostParams;
use process::eventually;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_are_ready_and_exactly_one_leads() {
    let client = cluster_client().await;
    let pods = eventually(120, "2 Ready pods of the release", || {
        node::ready(&client, 2)
    })
    .await;
    let leader = eventually(30, "a holder of the release's Lease", || {
        node::leader(&client)
    })
    .await;
    let names: Vec<String> = pods.iter().map(node::name).collect();
    assert!(
        names.contains(&leader),
        "the Lease is held by {leader}, not one of {names:?}"
    );
    // Each pod says, on its own /metrics, whether it leads: exactly the Lease's holder does.
    for pod in &pods {
        let scrape = eventually(30, &format!("/metrics of {}", node::name(pod)), || {
            node::metrics(pod)
        })
        .await;
        let leading = sample(&scrape, "ipam_leader_status");
        let expected = if node::name(pod) == leader { 1.0 } else { 0.0 };
        assert_eq!(
            leading,
            Some(expected),
            "ipam_leader_status of {}",
            node::name(pod)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_refuses_a_bad_pool_through_its_service() {
    let ns = TestNamespace::new_in(cluster_client().await, "node-webhook").await;
    // A range whose end comes before its start: the schema lets it through, the webhook
    // (reached by the API server through the chart's Service, with the chart's certificate)
    // refuses it with the upstream's message.
    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "backwards"},
        "spec": {"addresses": ["198.18.0.9-198.18.0.2"], "prefix": 24}}))
    .unwrap();
    let refused = ns
        .api::<InClusterIPPool>()
        .create(&PostParams::default(), &pool)
        .await;
    match refused {
        Err(kube::Error::Api(status)) => {
            assert!(
                status.message.starts_with("admission webhook \"")
                    && status.message.contains("\" denied the request: ")
                    && status.message.contains(
                        r#"spec.addresses: Invalid value: "198.18.0.9-198.18.0.2": provided address is not a valid IP, range, nor CIDR"#
                    ),
                "not the webhook's refusal: {status:?}"
            );
        }
        other => panic!("the bad pool was not refused: {other:?}"),
    }
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capi_claim_is_served_by_the_pods() {
    let ns = TestNamespace::new_in(cluster_client().await, "node-capi").await;
    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.70.0.10-10.70.0.20"], "prefix": 24, "gateway": "10.70.0.1"}}))
    .unwrap();
    ns.api::<InClusterIPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();
    let claim: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "machine-0"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    ns.api::<IPAddressClaim>()
        .create(&PostParams::default(), &claim)
        .await
        .unwrap();
    let claims = ns.api::<IPAddressClaim>();
    let address_name = eventually(60, "the claim's address", || async {
        claims
            .get("machine-0")
            .await
            .ok()?
            .status?
            .address_ref
            .map(|r| r.name)
    })
    .await;
    let address = ns.api::<IPAddress>().get(&address_name).await.unwrap();
    assert_eq!(
        address.spec.address, "10.70.0.10",
        "the pool's first free address"
    );
    assert_eq!(address.spec.prefix, 24);
    assert_eq!(address.spec.gateway.as_deref(), Some("10.70.0.1"));
    assert_eq!(address.spec.claim_ref.name, "machine-0");
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metal3_claim_is_served_by_the_pods() {
    use ipam_in_cluster::metal3::api::{IPAddress, IPClaim, IPPool};
    let ns = TestNamespace::new_in(cluster_client().await, "node-metal3").await;
    let pool: IPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool", "metadata": {"name": "pool"},
        "spec": {"namePrefix": "m3", "prefix": 24, "gateway": "10.71.0.1",
                 "pools": [{"start": "10.71.0.10", "end": "10.71.0.20"}]}}))
    .unwrap();
    ns.api::<IPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();
    let claim: IPClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim", "metadata": {"name": "host-0"},
        "spec": {"pool": {"name": "pool"}}}))
    .unwrap();
    ns.api::<IPClaim>()
        .create(&PostParams::default(), &claim)
        .await
        .unwrap();
    let claims = ns.api::<IPClaim>();
    let address_name = eventually(60, "the IPClaim's address", || async {
        claims.get("host-0").await.ok()?.status?.address?.name
    })
    .await;
    assert_eq!(
        address_name, "m3-10-71-0-10",
        "named after the pool's prefix and the address"
    );
    let address = ns.api::<IPAddress>().get(&address_name).await.unwrap();
    assert_eq!(
        (
            address.spec.address.as_str(),
            address.spec.prefix,
            address.spec.gateway.as_deref()
        ),
        ("10.71.0.10", 24, Some("10.71.0.1"))
    );
    assert_eq!(address.spec.claim.name.as_deref(), Some("host-0"));
    ns.delete().await;
}
