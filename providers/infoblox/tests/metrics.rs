//! The Infoblox backend's metrics after a real flow against wapi-sim: the instance reachable
//! and then not, an allocation with its time to Ready, a claim waiting on an exhausted pool,
//! a release. The controllers run in this process, so its registry is read directly (alone
//! in this binary, so the counts are exact).

mod common;

use common::{eventually, setup};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

fn metric(series: &str) -> Option<f64> {
    ipam_test_support::sample(&ipam_kube_support::metrics::get().encode(), series)
}

async fn until(series: &str, expected: f64) {
    eventually(30, &format!("{series} {expected}"), || async {
        metric(series).filter(|v| *v == expected)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reachability_allocations_waiting_claims_and_releases() {
    let env = setup("ib-metrics").await;
    let _operator = env.operator();
    let reachable = format!(
        "ipam_infoblox_instance_reachable{{name=\"{}\"}}",
        env.instance
    );
    until(&reachable, 1.0).await;

    env.pool("p", json!({})).await;
    env.claim("c1", "p").await;
    env.allocated("c1").await;
    assert_eq!(
        metric("ipam_allocations_total{backend=\"infoblox\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric("ipam_allocation_duration_seconds_count{backend=\"infoblox\"}"),
        Some(1.0)
    );
    until(
        "ipam_claim_ready_duration_seconds_count{backend=\"infoblox\"}",
        1.0,
    )
    .await;

    // Every subnet full: the claim waits on the pool, by that reason, until room appears.
    env.sim
        .fault("POST", "record:host", json!({"kind": "network_full"}))
        .await;
    env.claim("c2", "p").await;
    let waiting = format!(
        "ipam_claims_waiting{{kind=\"InfobloxIPPool\",namespace=\"{}\",pool=\"p\",reason=\"PoolExhausted\"}}",
        env.ns.name
    );
    until(&waiting, 1.0).await;
    env.sim.clear_faults().await;
    env.allocated("c2").await;
    eventually(30, "no claim waits", || async {
        metric(&waiting).is_none().then_some(())
    })
    .await;
    until(
        "ipam_claim_ready_duration_seconds_count{backend=\"infoblox\"}",
        2.0,
    )
    .await;

    env.claims()
        .delete("c1", &DeleteParams::default())
        .await
        .unwrap();
    until("ipam_releases_total{backend=\"infoblox\"}", 1.0).await;

    // The Grid Master out of reach: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.instances()
        .patch(
            &env.instance,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"port": closed.to_string()}})),
        )
        .await
        .unwrap();
    until(&reachable, 0.0).await;
    env.finish().await;
}
