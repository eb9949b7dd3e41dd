//! The Metal3 webhook (IPPool, IPClaim, IPAddress) behind the real API server: upstream's
//! rules and messages, plus the overlap check shared with the in-cluster pools.

mod common;
#[path = "common/webhook.rs"]
#[allow(dead_code)] // shared with tests/webhook.rs, which uses the rest
mod webhook_support;

use common::*;
use ipam_in_cluster::metal3::api::{IPAddress, IPClaim, IPPool};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use webhook_support::*;

fn ippool(name: &str, spec: serde_json::Value) -> IPPool {
    serde_json::from_value(
        json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

async fn refused<K>(api: &Api<K>, object: &K) -> String
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    refusal(api.create(&PostParams::default(), object).await).message
}

async fn patch_refused<K>(api: &Api<K>, name: &str, patch: serde_json::Value) -> String
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    refusal(
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await,
    )
    .message
}

fn assert_has(message: &str, part: &str) {
    assert!(
        message.contains(part),
        "{message:?} does not contain {part:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ippool_rules_and_messages() {
    let ns = setup("m3wh-pool").await;
    let webhook = Webhook::start(&ns).await;
    let _operator = operator(&ns);
    let pools = ns.api::<IPPool>();

    let m = refused(
        &pools,
        &ippool(
            "bad",
            json!({"namePrefix": "x",
        "pools": [{"start": "10.0.0.10", "end": "10.0.0.5"}],
        "preAllocations": {"c": "10.0.1.1"}}),
        ),
    )
    .await;
    assert_has(
        &m,
        "admission webhook \"validation.ippool.ipam.metal3.io\" denied the request",
    );
    assert_has(&m, "end IP 10.0.0.5 is before start IP 10.0.0.10");
    assert_has(
        &m,
        "spec.preAllocations: Invalid value: \"10.0.1.1\": is out of bonds of the pools given",
    );
    let m = refused(
        &pools,
        &ippool(
            "dup",
            json!({"namePrefix": "x",
        "pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}],
        "preAllocations": {"a": "10.0.0.11", "b": "10.0.0.11"}}),
        ),
    )
    .await;
    assert_has(&m, "IP address is already pre-allocated to claim \"a\"");

    pools
        .create(
            &PostParams::default(),
            &ippool(
                "p",
                json!({"namePrefix": "x", "prefix": 24,
            "pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]}),
            ),
        )
        .await
        .unwrap();
    let m = patch_refused(&pools, "p", json!({"spec": {"namePrefix": "y"}})).await;
    assert_has(
        &m,
        "spec.namePrefix: Invalid value: \"y\": cannot be modified",
    );
    let m = patch_refused(
        &pools,
        "p",
        json!({"spec": {"allocationStrategy": "random"}}),
    )
    .await;
    assert_has(
        &m,
        "spec.allocationStrategy: Invalid value: \"random\": cannot be modified after creation",
    );

    // Shrinking below an address in use is refused; growing is fine.
    let claims = ns.api::<IPClaim>();
    create(
        &claims,
        json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": "c"}, "spec": {"pool": {"name": "p"}}}),
    )
    .await;
    eventually(30, "claim bound", || async {
        claims.get("c").await.ok()?.status?.address.map(|_| ())
    })
    .await;
    let m = patch_refused(
        &pools,
        "p",
        json!({"spec": {"pools": [{"start": "10.0.0.15", "end": "10.0.0.20"}]}}),
    )
    .await;
    assert_has(
        &m,
        "spec.pools: Invalid value: \"10.0.0.10\": is in use but out of bounds of the pools given",
    );
    pools
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"spec": {"pools": [{"start": "10.0.0.10", "end": "10.0.0.30"}]}}),
            ),
        )
        .await
        .expect("growing is allowed");

    // Not upstream: two pools of a namespace may not hand out the same addresses.
    let m = refused(
        &pools,
        &ippool(
            "other",
            json!({"namePrefix": "o", "prefix": 24,
        "pools": [{"start": "10.0.0.25", "end": "10.0.0.40"}]}),
        ),
    )
    .await;
    assert_has(&m, "overlaps IPPool");
    webhook.remove().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ipclaim_and_ipaddress_rules_and_messages() {
    let ns = setup("m3wh-claim").await;
    let webhook = Webhook::start(&ns).await;
    let (claims, addresses) = (ns.api::<IPClaim>(), ns.api::<IPAddress>());
    let claim = |name: &str, pool: &str, annotations: serde_json::Value| -> IPClaim {
        serde_json::from_value(json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
            "metadata": {"name": name, "annotations": annotations}, "spec": {"pool": {"name": pool}}}))
        .unwrap()
    };
    let m = refused(&claims, &claim("empty", "", json!({}))).await;
    assert_has(&m, "spec.pool.name: Invalid value: \"\": cannot be empty");
    let m = refused(&claims, &claim("bad", "p", json!({"ipAddress": "nope"}))).await;
    assert_has(
        &m,
        "metadata.annotations.ipAddress: Invalid value: \"nope\": is not a valid IP address",
    );
    claims
        .create(&PostParams::default(), &claim("c", "p", json!({})))
        .await
        .unwrap();
    let m = patch_refused(&claims, "c", json!({"spec": {"pool": {"name": "q"}}})).await;
    assert_has(&m, "spec.pool: Invalid value: \"q\": cannot be modified");

    let address = |spec: serde_json::Value| -> IPAddress {
        serde_json::from_value(
            json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress",
            "metadata": {"name": "a"}, "spec": spec}),
        )
        .unwrap()
    };
    let m = refused(
        &addresses,
        &address(json!({"pool": {"name": "p"}, "claim": {"name": "c"}, "address": "x"})),
    )
    .await;
    assert_has(
        &m,
        "spec.address: Invalid value: \"x\": is not a valid IP address",
    );
    let m = refused(
        &addresses,
        &address(json!({"pool": {}, "claim": {"name": "c"}, "address": ""})),
    )
    .await;
    assert_has(&m, "spec.pool.name: Invalid value: \"\": cannot be empty");
    assert_has(&m, "spec.address: Invalid value: \"\": cannot be empty");
    addresses
        .create(
            &PostParams::default(),
            &address(json!({"pool": {"name": "p"}, "claim": {"name": "c"}, "address": "10.0.0.1"})),
        )
        .await
        .unwrap();
    let m = patch_refused(&addresses, "a", json!({"spec": {"address": "10.0.0.2"}})).await;
    assert_has(
        &m,
        "spec.address: Invalid value: \"10.0.0.2\": cannot be modified",
    );
    addresses
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"prefix": 24, "gateway": "10.0.0.254"}})),
        )
        .await
        .expect("prefix and gateway stay mutable");
    webhook.remove().await;
}
