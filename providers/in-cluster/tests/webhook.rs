//! The pool webhook, seen through the real API server: the upstream's refusals with their
//! exact messages and codes, and the rules upstream lacks.
//!
//! Namespaced pools are in 198.18.0.0/16, a block of its own per test. Global pools, which
//! every pool in the cluster is compared with and which outlive a failed test, are in an
//! IPv6 /64 drawn from the test namespace's name, so that no other test ever overlaps them.

mod common;
#[path = "common/webhook.rs"]
mod webhook_support;

use common::*;
use ipam_in_cluster::api::capi::IPAddress;
use ipam_in_cluster::api::{GlobalInClusterIPPool, InClusterIPPool};
use ipam_test_support::TestNamespace;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use serde_json::json;
use webhook_support::*;

const INVALID: &str = "InClusterIPPool.ipam.cluster.x-k8s.io";

/// Creates a namespaced pool; the refusal's Status when the API server refuses it.
async fn try_pool(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> kube::Result<InClusterIPPool> {
    let pool: InClusterIPPool = serde_json::from_value(pool(name, spec)).unwrap();
    pools(ns).create(&PostParams::default(), &pool).await
}

/// A global pool routed to this test's webhook.
fn labelled_global(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> GlobalInClusterIPPool {
    serde_json::from_value(global_pool(name, json!({GLOBAL_LABEL: ns.name}), spec)).unwrap()
}

/// Addresses of the test's own /64 (`fdXX:…::<host>`), in the canonical text the engine
/// prints.
fn own_v6(ns: &TestNamespace) -> impl Fn(u16) -> String + use<> {
    let hash = ns.name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let net = (0xfd00_u128 << 112) | (u128::from(hash >> 8) << 64);
    move |host| std::net::Ipv6Addr::from(net | u128::from(host)).to_string()
}

async fn try_global(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> kube::Result<GlobalInClusterIPPool> {
    global_pools(ns)
        .create(&PostParams::default(), &labelled_global(ns, name, spec))
        .await
}

/// An IPAddress of `pool`, as a provider would have written it.
async fn address(ns: &TestNamespace, name: &str, pool_kind: &str, pool: &str, address: &str) {
    create(
        &ns.api::<IPAddress>(),
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddress", "metadata": {"name": name},
               "spec": {"claimRef": {"name": name}, "address": address, "prefix": 24,
                        "poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": pool_kind, "name": pool}}}),
    )
    .await;
}

async fn patch_spec(
    ns: &TestNamespace,
    name: &str,
    spec: serde_json::Value,
) -> kube::Result<InClusterIPPool> {
    pools(ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
}

async fn annotate<K>(api: &Api<K>, name: &str, annotation: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {annotation: ""}}})),
    )
    .await
    .expect("annotations change nothing the webhook checks");
}

#[tokio::test(flavor = "multi_thread")]
async fn first_stage_refusals_carry_the_upstream_messages() {
    let ns = setup("wh-first").await;
    let webhook = Webhook::start(&ns).await;

    let status = refusal(try_pool(&ns, "empty", json!({"addresses": [], "prefix": 24})).await);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        denied_by(
            IN_CLUSTER_WEBHOOK,
            &format!(
                "{INVALID} \"empty\" is invalid: spec.addresses: Invalid value: []string{{}}: addresses is required"
            )
        )
    );
    let details = status
        .details
        .expect("the API server keeps the webhook's details");
    assert_eq!(
        (
            details.kind.as_str(),
            details.name.as_str(),
            details.causes.len()
        ),
        ("InClusterIPPool", "empty", 1)
    );
    assert_eq!(details.causes[0].field, "spec.addresses");

    // Every first-stage rule at once: upstream reports them all, in its order.
    let status = refusal(
        try_pool(
            &ns,
            "many",
            json!({"addresses": ["198.18.0.1", "fd00::1", "198.18.0.9-198.18.0.2"], "prefix": 24,
                   "gateway": "invalid", "excludedAddresses": ["y", "198.18.0.3", "fd00::3"]}),
        )
        .await,
    );
    let many = [
        r#"spec.addresses: Invalid value: "198.18.0.9-198.18.0.2": provided address is not a valid IP, range, nor CIDR"#,
        r#"spec.addresses: Invalid value: []string{"198.18.0.1", "fd00::1", "198.18.0.9-198.18.0.2"}: provided addresses are of mixed IP families"#,
        r#"spec.gateway: Invalid value: "invalid": ParseAddr("invalid"): unable to parse IP"#,
        r#"spec.excludedAddresses: Invalid value: "y": provided address is not a valid IP, range, nor CIDR"#,
        r#"spec.excludedAddresses: Invalid value: []string{"y", "198.18.0.3", "fd00::3"}: provided addresses are of mixed IP families"#,
        r#"spec.excludedAddresses: Invalid value: []string{"y", "198.18.0.3", "fd00::3"}: addresses and excluded addresses are of mixed IP families"#,
    ];
    assert_eq!(
        status.message,
        denied_by(
            IN_CLUSTER_WEBHOOK,
            &format!("{INVALID} \"many\" is invalid: [{}]", many.join(", "))
        )
    );
    assert_eq!(status.details.unwrap().causes.len(), many.len());

    let families = [
        (
            json!({"addresses": ["198.18.0.0/24"], "prefix": 24, "gateway": "fd00::1"}),
            "spec.gateway: Invalid value: \"fd00::1\": provided gateway and addresses are of mixed IP families",
        ),
        (
            json!({"addresses": ["198.18.0.0/24"], "prefix": 24, "excludedAddresses": ["fd00::1"]}),
            "spec.excludedAddresses: Invalid value: []string{\"fd00::1\"}: addresses and excluded addresses are of mixed IP families",
        ),
    ];
    for (spec, message) in families {
        let status = refusal(try_pool(&ns, "family", spec).await);
        assert_eq!(
            status.message,
            denied_by(
                IN_CLUSTER_WEBHOOK,
                &format!("{INVALID} \"family\" is invalid: {message}")
            )
        );
    }
    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rules_the_schema_checks_first_still_answer_with_the_upstream_messages() {
    let ns = setup("wh-schema").await;
    let webhook = Webhook::start(&ns).await;
    // The CRD's minimums refuse these before any webhook is called...
    for spec in [
        json!({"addresses": ["198.18.1.1"], "prefix": -1}),
        json!({"addresses": ["198.18.1.1"], "prefix": 24, "addressReuseGracePeriodSeconds": -5}),
    ] {
        let status = refusal(try_pool(&ns, "schema", spec).await);
        assert!(
            !status.message.contains("admission webhook"),
            "{}",
            status.message
        );
    }
    // ...so the webhook's answer is seen only by a client that calls it directly. (Upstream
    // reports the addresses as the prefix's bad value; the engine reports the prefix.)
    let review: AdmissionReview<InClusterIPPool> = serde_json::from_value(json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "1", "operation": "CREATE", "name": "negative", "namespace": ns.name, "userInfo": {},
            "kind": {"group": "ipam.cluster.x-k8s.io", "version": "v1alpha2", "kind": "InClusterIPPool"},
            "resource": {"group": "ipam.cluster.x-k8s.io", "version": "v1alpha2", "resource": "inclusterippools"},
            "object": pool("negative", json!({"addresses": ["198.18.1.1"], "prefix": -1,
                                              "addressReuseGracePeriodSeconds": -5})),
        }
    }))
    .unwrap();
    let request: AdmissionRequest<InClusterIPPool> = review.try_into().unwrap();
    let denial = ipam_in_cluster::webhook::admit(&ns.client, &request)
        .await
        .unwrap_err();
    assert_eq!(
        denial.message(),
        format!(
            "{INVALID} \"negative\" is invalid: [spec.prefix: Invalid value: -1: a valid prefix is required, \
             spec.addressReuseGracePeriodSeconds: Invalid value: -5: addressReuseGracePeriodSeconds must not be negative]"
        )
    );
    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn second_stage_refusals_carry_the_upstream_messages() {
    let ns = setup("wh-second").await;
    let webhook = Webhook::start(&ns).await;
    let status = refusal(
        try_pool(
            &ns,
            "long",
            json!({"addresses": ["198.18.2.1"], "prefix": 33}),
        )
        .await,
    );
    assert_eq!(
        status.message,
        denied_by(
            IN_CLUSTER_WEBHOOK,
            &format!(
                "{INVALID} \"long\" is invalid: spec.prefix: Invalid value: 33: provided prefix is not valid"
            )
        )
    );
    let status = refusal(
        try_pool(
            &ns,
            "apart",
            json!({"addresses": ["198.18.2.10", "198.18.3.0/30", "198.18.2.20"], "prefix": 24}),
        )
        .await,
    );
    assert_eq!(
        status.message,
        denied_by(
            IN_CLUSTER_WEBHOOK,
            &format!(
                "{INVALID} \"apart\" is invalid: spec.addresses: Invalid value: \"198.18.3.0/30\": \
                 provided address belongs to a different subnet than others"
            )
        )
    );
    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_outside_the_subnet_is_refused_except_on_link_for_a_host_subnet() {
    let ns = setup("wh-gateway").await;
    let webhook = Webhook::start(&ns).await;
    let path = format!(
        "/apis/ipam.cluster.x-k8s.io/v1alpha2/namespaces/{}/inclusterippools",
        ns.name
    );
    let (code, warnings) = create_with_warnings(
        &ns.client,
        &path,
        pool(
            "on-link",
            json!({"addresses": ["198.18.4.5"], "prefix": 32, "gateway": "198.18.4.1"}),
        ),
    )
    .await;
    assert_eq!(code, 201, "an on-link gateway of a /32 is legal");
    assert_eq!(
        warnings,
        ["spec.gateway: gateway 198.18.4.1 lies outside the pool's subnet 198.18.4.5/32"]
    );
    let (code, warnings) = create_with_warnings(
        &ns.client,
        &path,
        pool("inside", json!({"addresses": ["198.18.5.10-198.18.5.20"], "prefix": 24, "gateway": "198.18.5.1"})),
    )
    .await;
    assert_eq!((code, warnings.len()), (201, 0));
    let refused = pools(&ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(pool(
                "unreachable",
                json!({"addresses": ["198.18.6.10-198.18.6.20"], "prefix": 24, "gateway": "198.18.7.1"}),
            ))
            .unwrap(),
        )
        .await;
    let message = refused
        .expect_err("a gateway outside a /24 is refused")
        .to_string();
    assert!(
        message.contains(
            "spec.gateway: Invalid value: \"198.18.7.1\": gateway 198.18.7.1 lies outside the pool's subnet 198.18.6.0/24, so hosts on it could not reach it"
        ),
        "{message}"
    );
    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_may_not_strand_an_address_in_use() {
    let ns = setup("wh-strand").await;
    let webhook = Webhook::start(&ns).await;
    try_pool(
        &ns,
        "p",
        json!({"addresses": ["198.18.6.0/24"], "prefix": 24}),
    )
    .await
    .unwrap();
    address(&ns, "a", "InClusterIPPool", "p", "198.18.6.10").await;
    address(&ns, "b", "InClusterIPPool", "p", "198.18.6.11").await;
    // Another pool's address does not hold this one.
    address(&ns, "other", "InClusterIPPool", "q", "198.18.6.200").await;

    let stranded = |message: &str| denied_by(IN_CLUSTER_WEBHOOK, message);
    for (change, message) in [
        (
            json!({"addresses": ["198.18.6.100-198.18.6.254"]}),
            "pool addresses do not contain allocated addresses: [198.18.6.10-198.18.6.11]",
        ),
        (
            json!({"excludedAddresses": ["198.18.6.11"]}),
            "pool addresses do not contain allocated addresses: [198.18.6.11-198.18.6.11]",
        ),
        (
            json!({"gateway": "198.18.6.10"}),
            "pool addresses do not contain allocated addresses: [198.18.6.10-198.18.6.10]",
        ),
    ] {
        let status = refusal(patch_spec(&ns, "p", change).await);
        assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
        assert_eq!(status.message, stranded(message));
    }
    patch_spec(
        &ns,
        "p",
        json!({"addresses": ["198.18.6.10-198.18.6.11"], "gateway": "198.18.6.1"}),
    )
    .await
    .expect("a shrink that keeps every address in use is allowed");

    // An address the pool lost before the webhook was there blocks no metadata write, so
    // the pool's finalizer can still be removed.
    address(&ns, "outside", "InClusterIPPool", "p", "198.18.6.99").await;
    annotate(&pools(&ns), "p", "example.com/note").await;
    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_in_use_is_deleted_only_with_the_skip_or_the_move_annotation() {
    let ns = setup("wh-delete").await;
    let webhook = Webhook::start(&ns).await;
    for (name, addresses) in [
        ("skip", "198.18.7.0/24"),
        ("move", "198.18.8.0/24"),
        ("free", "198.18.9.0/24"),
    ] {
        try_pool(&ns, name, json!({"addresses": [addresses], "prefix": 24}))
            .await
            .unwrap();
    }
    address(&ns, "s", "InClusterIPPool", "skip", "198.18.7.10").await;
    address(&ns, "m", "InClusterIPPool", "move", "198.18.8.10").await;
    let api = pools(&ns);
    for name in ["skip", "move"] {
        let status = refusal(api.delete(name, &DeleteParams::default()).await);
        assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
        assert_eq!(
            status.message,
            denied_by(
                IN_CLUSTER_WEBHOOK,
                "Pool has IPAddresses allocated. Cannot delete Pool until all IPAddresses have been removed."
            )
        );
    }
    annotate(
        &api,
        "skip",
        "ipam.cluster.x-k8s.io/skip-validate-delete-webhook",
    )
    .await;
    annotate(&api, "move", "clusterctl.cluster.x-k8s.io/delete-for-move").await;
    for name in ["skip", "move", "free"] {
        api.delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("{name} may be deleted: {e}"));
    }
    webhook.remove().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_pool_in_use_in_any_namespace_is_not_deleted() {
    let ns = setup("wh-gdelete").await;
    let other = TestNamespace::new("wh-gdelete-other").await;
    let webhook = Webhook::start(&ns).await;
    let v6 = own_v6(&ns);
    let name = format!("g-{}", ns.name);
    try_global(
        &ns,
        &name,
        json!({"addresses": [format!("{}-{}", v6(0x10), v6(0x20))], "prefix": 64}),
    )
    .await
    .unwrap();
    address(&other, "a", "GlobalInClusterIPPool", &name, &v6(0x10)).await;
    let api = global_pools(&ns);
    let status = refusal(api.delete(&name, &DeleteParams::default()).await);
    assert_eq!(
        (status.code, status.message),
        (
            400,
            denied_by(
                GLOBAL_WEBHOOK,
                "Pool has IPAddresses allocated. Cannot delete Pool until all IPAddresses have been removed."
            )
        )
    );
    annotate(&api, &name, "clusterctl.cluster.x-k8s.io/delete-for-move").await;
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("clusterctl move deletes the source's pool");
    webhook.remove().await;
    other.delete().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pools_of_one_namespace_may_not_overlap() {
    let ns = setup("wh-overlap").await;
    let elsewhere = setup("wh-overlap-other").await;
    let webhook = Webhook::start(&ns).await;
    // Pools of different namespaces are never compared: tenants reuse private ranges.
    try_pool(
        &elsewhere,
        "a",
        json!({"addresses": ["198.18.12.0/28"], "prefix": 24}),
    )
    .await
    .unwrap();
    try_pool(
        &ns,
        "a",
        json!({"addresses": ["198.18.12.0/28"], "prefix": 24}),
    )
    .await
    .unwrap();

    let status = refusal(
        try_pool(
            &ns,
            "b",
            json!({"addresses": ["198.18.12.8/29"], "prefix": 24}),
        )
        .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    let overlap = |name: &str, addresses: &str| {
        denied_by(
            IN_CLUSTER_WEBHOOK,
            &format!(
                "{INVALID} \"{name}\" is invalid: spec.addresses: Invalid value: []string{{\"{addresses}\"}}: \
                 overlaps InClusterIPPool {}/a: both pools may hand out 8 addresses: 198.18.12.8-198.18.12.15",
                ns.name
            ),
        )
    };
    assert_eq!(status.message, overlap("b", "198.18.12.8/29"));

    // Excluded addresses are not handed out, so a pool may take them.
    try_pool(
        &ns,
        "b",
        json!({"addresses": ["198.18.12.8/29"], "prefix": 24, "excludedAddresses": ["198.18.12.8-198.18.12.15"]}),
    )
    .await
    .expect("a pool whose exclusions cover the overlap is admitted");
    try_pool(
        &ns,
        "c",
        json!({"addresses": ["198.18.12.16/28"], "prefix": 24}),
    )
    .await
    .unwrap();
    let status =
        refusal(patch_spec(&ns, "c", json!({"addresses": ["198.18.12.8-198.18.12.20"]})).await);
    assert_eq!(status.message, overlap("c", "198.18.12.8-198.18.12.20"));
    webhook.remove().await;
    elsewhere.delete().await;
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_pool_may_overlap_a_global_pool() {
    let ns = setup("wh-goverlap").await;
    let webhook = Webhook::start(&ns).await;
    let v6 = own_v6(&ns);
    let range = |first: u16, last: u16| format!("{}-{}", v6(first), v6(last));
    let global = format!("g-{}", ns.name);
    try_global(
        &ns,
        &global,
        json!({"addresses": [range(0x200, 0x2ff)], "prefix": 64}),
    )
    .await
    .unwrap();

    let status = refusal(
        try_pool(
            &ns,
            "p",
            json!({"addresses": [range(0x280, 0x28a)], "prefix": 64}),
        )
        .await,
    );
    assert_eq!(
        status.message,
        denied_by(
            IN_CLUSTER_WEBHOOK,
            &format!(
                "{INVALID} \"p\" is invalid: spec.addresses: Invalid value: []string{{\"{p}\"}}: \
                 overlaps GlobalInClusterIPPool {global}: both pools may hand out 11 addresses: {p}",
                p = range(0x280, 0x28a)
            )
        )
    );

    try_pool(
        &ns,
        "q",
        json!({"addresses": [range(0x300, 0x3ff)], "prefix": 64}),
    )
    .await
    .unwrap();
    let second = format!("g2-{}", ns.name);
    let status = refusal(
        try_global(
            &ns,
            &second,
            json!({"addresses": [range(0x2fb, 0x304)], "prefix": 64}),
        )
        .await,
    );
    assert_eq!(
        status.message,
        denied_by(
            GLOBAL_WEBHOOK,
            &format!(
                "GlobalInClusterIPPool.ipam.cluster.x-k8s.io \"{second}\" is invalid: [\
                 spec.addresses: Invalid value: []string{{\"{asked}\"}}: overlaps InClusterIPPool {ns}/q: \
                 both pools may hand out 5 addresses: {with_q}, \
                 spec.addresses: Invalid value: []string{{\"{asked}\"}}: overlaps GlobalInClusterIPPool {global}: \
                 both pools may hand out 5 addresses: {with_global}]",
                asked = range(0x2fb, 0x304),
                ns = ns.name,
                with_q = range(0x300, 0x304),
                with_global = range(0x2fb, 0x2ff),
            )
        )
    );
    // Deleted while the webhook is still registered: the API server may call it for a
    // moment after the configuration is gone, and would find no server.
    global_pools(&ns)
        .delete(&global, &DeleteParams::default())
        .await
        .unwrap();
    webhook.remove().await;
    ns.delete().await;
}
