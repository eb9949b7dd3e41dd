//! The Helm chart's RBAC is enough, and exactly what the code calls: an operator running
//! as the chart's ServiceAccount (impersonated on the test API server) goes through a full
//! allocation flow — leader election, finalizers, allocation, event, release, pool
//! deletion — with no forbidden error.

mod chart;
mod process;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::IPAddressClaim;
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use process::{Operator, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_charts_service_account_can_do_a_full_allocation_flow() {
    let ns = TestNamespace::new("rbac").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    // The release is named after the namespace, so its cluster-scoped RBAC is its own.
    let user = chart::apply_rbac(&ns.name, &ns.name, &[]);
    // The controllers the chart's default switches start, as its Deployment passes them.
    let controllers = chart::controllers(&ns.name, &ns.name, &[]);
    // The impersonated account has what it needs and no more than that.
    let can = |verb: &str, what: &str| chart::can(&user, &ns.name, verb, what);
    assert!(can("create", "ipaddresses.ipam.cluster.x-k8s.io"));
    assert!(can("update", "leases.coordination.k8s.io"));
    assert!(
        !can("get", "secrets"),
        "secrets only with the Infoblox backend"
    );
    assert!(!can("delete", "ipaddressclaims.ipam.cluster.x-k8s.io"));

    let operator = Operator::start(
        &ns.name,
        &[
            "--namespace",
            &ns.name,
            "--controllers",
            &controllers,
            "--leader-elect",
            "--leader-election-namespace",
            &ns.name,
        ],
        &[("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)],
    );

    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.70.0.10-10.70.0.20"], "prefix": 24, "gateway": "10.70.0.1"}}))
    .unwrap();
    let pools = ns.api::<InClusterIPPool>();
    pools.create(&PostParams::default(), &pool).await.unwrap();
    let claim: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "c"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    let claims = ns.api::<IPAddressClaim>();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    eventually(30, "claim allocated", || async {
        claims.get("c").await.ok()?.status?.address_ref.map(|_| ())
    })
    .await;
    let events = Api::<Event>::namespaced(ns.client.clone(), &ns.name);
    eventually(15, "an AddressAllocated event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("AddressAllocated"))
            .then_some(())
    })
    .await;

    claims.delete("c", &DeleteParams::default()).await.unwrap();
    eventually(30, "claim released", || async {
        claims.get_opt("c").await.ok()?.is_none().then_some(())
    })
    .await;
    pools
        .delete("pool", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "pool deleted", || async {
        pools.get_opt("pool").await.ok()?.is_none().then_some(())
    })
    .await;

    let log = operator.log_text();
    assert!(log.contains("impersonating user"), "{log}");
    assert!(log.contains("leading"), "{log}");
    for word in ["forbidden", "Forbidden", "403"] {
        assert!(!log.contains(word), "{word} in the operator's log:\n{log}");
    }
    drop(operator);
    ns.delete().await;
}
