//! InClusterPrefixPool and GlobalInClusterPrefixPool through the real API server and the
//! operator's webhook: upstream's sample is accepted and defaulted, an IPv4 pool too (beyond
//! upstream), and the refusals carry upstream's codes and messages.

mod common;
#[path = "common/webhook.rs"]
mod webhook_support;

use common::*;
use ipam_in_cluster::api::capi::IPAddress;
use ipam_in_cluster::api::{GlobalInClusterPrefixPool, InClusterPrefixPool};
use ipam_test_support::TestNamespace;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use webhook_support::*;

fn prefix_pool(name: &str, spec: serde_json::Value) -> InClusterPrefixPool {
    serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterPrefixPool",
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

async fn try_create(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> kube::Result<InClusterPrefixPool> {
    ns.api::<InClusterPrefixPool>()
        .create(&PostParams::default(), &prefix_pool(name, spec))
        .await
}

async fn try_patch(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> kube::Result<InClusterPrefixPool> {
    ns.api::<InClusterPrefixPool>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_pools_are_admitted_as_upstream_admits_them_and_ipv4_too() {
    let ns = setup("prefix-webhook").await;
    let webhook = Webhook::start(&ns).await;

    // Upstream's README sample, allocationPrefixLength left out: the schema defaults it.
    let sample = try_create(
        &ns,
        "inclusterprefixpool-sample",
        json!({"prefixes": ["fd00::/48", "fd01::/48"],
            "excludedPrefixes": ["fd00:0:0:1::/64"], "gateway": "fd00::1"}),
    )
    .await
    .expect("upstream's sample is accepted");
    assert_eq!(sample.spec.pool.allocation_prefix_length, 64);
    // Beyond upstream: an IPv4 pool of /28s.
    try_create(
        &ns,
        "v4",
        json!({"prefixes": ["10.40.0.0/24"], "allocationPrefixLength": 28, "gateway": "10.40.0.1"}),
    )
    .await
    .expect("an IPv4 prefix pool is accepted");

    // Upstream's create rules, one 422 naming every broken field.
    let status = refusal(
        try_create(
            &ns,
            "bad",
            json!({"prefixes": ["fd00::1/48", "fd00::/72", "nonsense"], "gateway": "10.0.0.1",
                "excludedPrefixes": ["10.0.0.0/24"]}),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        denied_by(
            PREFIX_WEBHOOK,
            "InClusterPrefixPool.ipam.cluster.x-k8s.io \"bad\" is invalid: [\
             spec.prefixes: Invalid value: \"fd00::1/48\": CIDR must be network-aligned, \
             spec.prefixes: Invalid value: \"fd00::/72\": CIDR prefix length must be <= allocationPrefixLength (64), \
             spec.prefixes: Invalid value: \"nonsense\": provided entry is not a valid IPv6 CIDR, \
             spec.gateway: Invalid value: \"10.0.0.1\": provided gateway must be IPv6, \
             spec.excludedPrefixes: Invalid value: \"10.0.0.0/24\": only IPv6 excluded prefixes are supported]"
        )
    );
    let status = refusal(try_create(&ns, "empty", json!({"prefixes": []})).await);
    assert_eq!(
        status.message,
        denied_by(
            PREFIX_WEBHOOK,
            "InClusterPrefixPool.ipam.cluster.x-k8s.io \"empty\" is invalid: spec.prefixes: Invalid value: []string{}: prefixes is required"
        )
    );
    // The schema's own bounds come first: 0 and 129 never reach the webhook.
    let status = refusal(
        try_create(
            &ns,
            "long",
            json!({"prefixes": ["fd00::/48"], "allocationPrefixLength": 129}),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("spec.allocationPrefixLength: Invalid value: 129"),
        "{status:?}"
    );

    // Updates: the block length is immutable, and no allocation may be stranded.
    let status = refusal(
        try_patch(
            &ns,
            "inclusterprefixpool-sample",
            json!({"allocationPrefixLength": 56}),
        )
        .await,
    );
    assert_eq!(
        (status.code, status.message),
        (
            400,
            denied_by(PREFIX_WEBHOOK, "spec.allocationPrefixLength is immutable")
        )
    );
    create(
        &ns.api::<IPAddress>(),
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress",
            "metadata": {"name": "held"},
            "spec": {"claimRef": {"name": "held"}, "address": "fd01::", "prefix": 64,
                "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterPrefixPool",
                    "name": "inclusterprefixpool-sample"}}}),
    )
    .await;
    let status = refusal(
        try_patch(
            &ns,
            "inclusterprefixpool-sample",
            json!({"prefixes": ["fd00::/48"]}),
        )
        .await,
    );
    assert_eq!(
        (status.code, status.message),
        (
            400,
            denied_by(
                PREFIX_WEBHOOK,
                "existing allocations become non-allocatable: [fd01::]"
            )
        )
    );
    try_patch(
        &ns,
        "inclusterprefixpool-sample",
        json!({"gateway": "fd00::2"}),
    )
    .await
    .expect("an update keeping the allocation is accepted");

    // Delete: refused while an IPAddress is left, as for address pools.
    let pools = ns.api::<InClusterPrefixPool>();
    let status = refusal(
        pools
            .delete("inclusterprefixpool-sample", &DeleteParams::default())
            .await,
    );
    assert_eq!(status.code, 400);
    assert!(
        status
            .message
            .ends_with("Pool has IPAddresses allocated. Cannot delete Pool until all IPAddresses have been removed."),
        "{status:?}"
    );
    ns.api::<IPAddress>()
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();
    gone(&ns.api::<IPAddress>(), "held").await;
    pools
        .delete("inclusterprefixpool-sample", &DeleteParams::default())
        .await
        .expect("a pool without addresses is deleted");

    // A global pool at /128 is accepted with upstream's two warnings.
    let global = Api::<GlobalInClusterPrefixPool>::all(ns.client.clone());
    let name = format!("{}-hosts", ns.name);
    let (code, warnings) = create_with_warnings(
        &ns.client,
        "/apis/ipam.cluster.x-k8s.io/v1alpha2/globalinclusterprefixpools",
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "GlobalInClusterPrefixPool",
            "metadata": {"name": name, "labels": {GLOBAL_LABEL: ns.name}},
            "spec": {"prefixes": ["fd00:99::/120"], "allocationPrefixLength": 128,
                "gateway": "fd00:99::1"}}),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        warnings,
        [
            "spec.allocationPrefixLength=128 behaves like host-address allocation; consider InClusterIPPool for single-address semantics",
            "spec.gateway is within spec.prefixes and is not reserved; with /128 allocationPrefixLength it may also be allocated to claims",
        ]
    );
    global
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();

    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_pools_of_one_scope_may_not_share_an_address() {
    let ns = setup("prefix-overlap").await;
    let webhook = Webhook::start(&ns).await;
    try_create(
        &ns,
        "a",
        json!({"prefixes": ["10.61.0.0/24"], "allocationPrefixLength": 28}),
    )
    .await
    .expect("the first pool");
    // Another block length changes nothing: the addresses are shared.
    let wide = json!({"prefixes": ["10.61.0.128/25"], "allocationPrefixLength": 26});
    let status = refusal(try_create(&ns, "b", wide.clone()).await);
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        denied_by(
            PREFIX_WEBHOOK,
            &format!(
                "InClusterPrefixPool.ipam.cluster.x-k8s.io \"b\" is invalid: spec.prefixes: \
                 Invalid value: []string{{\"10.61.0.128/25\"}}: overlaps InClusterPrefixPool {}/a: \
                 both pools may hand out 128 addresses: 10.61.0.128-10.61.0.255",
                ns.name
            )
        )
    );
    // Once the first pool leaves that half to it, the second is accepted.
    try_patch(&ns, "a", json!({"excludedPrefixes": ["10.61.0.128/25"]}))
        .await
        .expect("an exclusion");
    try_create(&ns, "b", wide)
        .await
        .expect("pools that share no address");

    // A global pool is compared with every prefix pool.
    let global = Api::<GlobalInClusterPrefixPool>::all(ns.client.clone());
    let name = format!("{}-wide", ns.name);
    let pool: GlobalInClusterPrefixPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "GlobalInClusterPrefixPool",
        "metadata": {"name": name, "labels": {GLOBAL_LABEL: ns.name}},
        "spec": {"prefixes": ["10.61.0.0/23"], "allocationPrefixLength": 28}}))
    .unwrap();
    let status = refusal(global.create(&PostParams::default(), &pool).await);
    assert_eq!(status.code, 422);
    for other in ["a", "b"] {
        assert!(
            status
                .message
                .contains(&format!("overlaps InClusterPrefixPool {}/{other}", ns.name)),
            "{}",
            status.message
        );
    }
    webhook.remove().await;
    ns.delete().await;
}
