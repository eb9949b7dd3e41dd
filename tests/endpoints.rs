//! The HTTP endpoints of a running operator (controller-runtime's conventions), and its
//! JSON logs: `/healthz` answers at once, `/readyz` once the caches are synced, `/metrics`
//! shows the reconciles, the allocation latency and the pool gauges.

mod process;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::IPAddressClaim;
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use kube::api::PostParams;
use process::{Operator, eventually, http_get};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics_answer_and_logs_are_json() {
    let ns = TestNamespace::new("endpoints").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let operator = Operator::start(
        &ns.name,
        &["--namespace", &ns.name, "--log-format", "json"],
        &[],
    );
    let health = operator.health_port;
    eventually(30, "/healthz 200", || async {
        http_get(health, "/healthz")
            .await
            .filter(|(s, _)| *s == 200)
    })
    .await;
    eventually(30, "/readyz 200", || async {
        http_get(health, "/readyz").await.filter(|(s, _)| *s == 200)
    })
    .await;
    assert_eq!(http_get(health, "/nope").await.map(|r| r.0), Some(404));

    let pool: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "pool"},
        "spec": {"addresses": ["10.60.0.10-10.60.0.13"], "prefix": 24, "gateway": "10.60.0.1"}}))
    .unwrap();
    ns.api::<InClusterIPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .unwrap();
    let claim: IPAddressClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "c"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pool"}}}))
    .unwrap();
    ns.api::<IPAddressClaim>()
        .create(&PostParams::default(), &claim)
        .await
        .unwrap();

    let pool_free = format!(
        "ipam_pool_addresses{{kind=\"InClusterIPPool\",namespace=\"{}\",pool=\"pool\",state=\"free\"}} 3",
        ns.name
    );
    let metrics = operator.metrics_port;
    let text = eventually(30, &pool_free, || async {
        http_get(metrics, "/metrics")
            .await
            .filter(|(s, body)| *s == 200 && body.contains(&pool_free))
            .map(|(_, body)| body)
    })
    .await;
    for needle in [
        "ipam_reconciles_total{controller=\"ipam-operator-claims\",result=\"success\"}",
        "ipam_reconciles_total{controller=\"ipam-operator-pools\",result=\"success\"}",
        "ipam_reconcile_duration_seconds_bucket{le=",
        "ipam_allocation_duration_seconds_count{backend=\"in-cluster\"} 1",
        "# EOF",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from /metrics:\n{text}"
        );
    }

    // Every log line is one JSON object with a level and a message.
    let log = operator.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 3, "{log}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
    }
    drop(operator);
    ns.delete().await;
}
