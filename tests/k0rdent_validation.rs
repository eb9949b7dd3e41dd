//! The k0rdent kinds' admission rules, seen through the real API server.

use ipam_operator::api::*;
use ipam_operator::crds;
use ipam_test_support::{TestNamespace, create, install_crds};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use serde_json::json;

async fn setup(prefix: &str) -> TestNamespace {
    let ns = TestNamespace::new(prefix).await;
    install_crds(&ns.client, &crds::all()).await;
    ns
}

/// Asserts the API server refuses a write, with `message` in its answer.
fn assert_refused<T: std::fmt::Debug>(result: kube::Result<T>, message: &str) {
    match result {
        Ok(obj) => panic!("expected a refusal with {message:?}, but it was accepted: {obj:?}"),
        Err(e) => assert!(
            e.to_string().contains(message),
            "expected {message:?} in the refusal, got: {e}"
        ),
    }
}

/// A JSON merge patch of the spec, the way `kubectl patch --type merge` sends one.
async fn patch_spec<K>(api: &Api<K>, name: &str, spec: serde_json::Value) -> kube::Result<K>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": spec})),
    )
    .await
}

fn claim(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAMClaim",
           "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn claim_references_cannot_change_or_be_cleared_once_set() {
    let ns = setup("claim-immutable").await;
    let api = ns.api::<ClusterIPAMClaim>();
    create(
        &api,
        claim(
            "a",
            json!({"provider": "in-cluster", "nodeNetwork": {"cidr": "10.0.0.0/24"}}),
        ),
    )
    .await;

    // unset → value is allowed: the operator fills clusterIPAMRef after creation.
    patch_spec(&api, "a", json!({"cluster": "c1", "clusterIPAMRef": "a"}))
        .await
        .unwrap();

    assert_refused(
        patch_spec(&api, "a", json!({"cluster": "c2"})).await,
        "Cluster reference is immutable once set",
    );
    assert_refused(
        patch_spec(&api, "a", json!({"clusterIPAMRef": "b"})).await,
        "ClusterIPAM reference is immutable once set",
    );
    // kcm's rules let a removal through, and a later set then changed the value; not here.
    assert_refused(
        patch_spec(&api, "a", json!({"cluster": null})).await,
        "Cluster reference is immutable once set",
    );
    assert_refused(
        patch_spec(&api, "a", json!({"clusterIPAMRef": null})).await,
        "ClusterIPAM reference is immutable once set",
    );
    // provider stays mutable: switching backends is a feature.
    let switched = patch_spec(&api, "a", json!({"provider": "ipam-infoblox"}))
        .await
        .unwrap();
    assert_eq!(switched.spec.provider, IpamProviderName::Infoblox);
    assert_eq!(switched.spec.cluster.as_deref(), Some("c1"));
    ns.delete().await;
}

#[tokio::test]
async fn claim_address_spaces_are_checked_at_admission() {
    let ns = setup("claim-spaces").await;
    let api = ns.api::<ClusterIPAMClaim>();
    // Sent as raw JSON: some of these cannot even be expressed with the Rust types.
    let raw = Api::<DynamicObject>::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &ApiResource::erase::<ClusterIPAMClaim>(&()),
    );
    let refuse = |spec: serde_json::Value| {
        let raw = raw.clone();
        async move {
            let obj: DynamicObject = serde_json::from_value(claim("x", spec)).unwrap();
            raw.create(&PostParams::default(), &obj).await
        }
    };
    assert_refused(
        refuse(json!({"provider": "in-cluster",
                      "nodeNetwork": {"cidr": "10.0.0.0/24", "ipAddresses": ["10.0.0.5"]}}))
        .await,
        "cidr and ipAddresses are mutually exclusive",
    );
    assert_refused(
        refuse(json!({"provider": "in-cluster", "externalNetwork": {"gateway": "10.0.0.1", "prefix": 24}})).await,
        "cidr and ipAddresses are mutually exclusive: set exactly one of them",
    );
    assert_refused(
        refuse(json!({"provider": "in-cluster", "nodeNetwork": {"cidr": "10.0.0.0/33"}})).await,
        "cidr must be a CIDR",
    );
    assert_refused(
        refuse(json!({"provider": "in-cluster", "clusterNetwork": {"cidr": "10.1.0.0/16", "gateway": "gw"}})).await,
        "gateway must be an IP address",
    );
    assert_refused(
        refuse(json!({"provider": "in-cluster", "nodeNetwork": {"cidr": "10.0.0.0/24", "prefix": 129}})).await,
        "spec.nodeNetwork.prefix",
    );
    assert_refused(refuse(json!({"provider": "dhcp"})).await, "spec.provider");
    assert_refused(
        refuse(json!({"nodeNetwork": {"cidr": "10.0.0.0/24"}})).await,
        "spec.provider",
    );

    // kcm's Go clients write unset networks as {}: still accepted.
    create(
        &api,
        claim(
            "ok",
            json!({"provider": "ipam-infoblox", "nodeNetwork": {"ipAddresses": ["10.0.0.5"]},
                                     "clusterNetwork": {}, "externalNetwork": {}}),
        ),
    )
    .await;
    ns.delete().await;
}

#[tokio::test]
async fn cluster_ipam_claim_reference_is_immutable_once_set() {
    let ns = setup("ipam-immutable").await;
    let api = ns.api::<ClusterIPAM>();
    create(&api, json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterIPAM",
                        "metadata": {"name": "a"}, "spec": {"provider": "in-cluster", "clusterIPAMClaimRef": "a"}}))
    .await;
    assert_refused(
        patch_spec(&api, "a", json!({"clusterIPAMClaimRef": "b"})).await,
        "Claim reference is immutable once set",
    );
    assert_refused(
        patch_spec(&api, "a", json!({"clusterIPAMClaimRef": null})).await,
        "Claim reference is immutable once set",
    );
    ns.delete().await;
}

#[tokio::test]
async fn deployment_takes_an_inline_claim_or_a_reference_not_both() {
    let ns = setup("cd-ipamclaim").await;
    let api = ns.api::<ClusterDeployment>();
    let cd = |name: &str, ipam: serde_json::Value| {
        json!({"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterDeployment",
               "metadata": {"name": name}, "spec": {"template": "t", "ipamClaim": ipam}})
    };
    let inline = json!({"provider": "in-cluster", "nodeNetwork": {"cidr": "10.0.0.0/24"}});

    let both: ClusterDeployment =
        serde_json::from_value(cd("both", json!({"spec": inline, "ref": "other"}))).unwrap();
    assert_refused(
        api.create(&PostParams::default(), &both).await,
        "spec.ipamClaim: set either spec (an inline claim) or ref (an existing claim), not both",
    );
    // What the operator writes back for an inline claim, as kcm does.
    create(
        &api,
        cd("inline", json!({"spec": inline, "ref": "inline-ipam"})),
    )
    .await;
    create(&api, cd("by-ref", json!({"ref": "shared-claim"}))).await;
    // kcm writes `ipamClaim: {}` when IPAM is unused.
    create(&api, cd("none", json!({}))).await;
    // The inline spec carries the claim's own rules.
    let bad: ClusterDeployment = serde_json::from_value(cd(
        "bad",
        json!({"spec": {"provider": "in-cluster", "nodeNetwork": {"cidr": "10.0.0.0/24", "ipAddresses": ["10.0.0.1"]}}}),
    ))
    .unwrap();
    assert_refused(
        api.create(&PostParams::default(), &bad).await,
        "cidr and ipAddresses are mutually exclusive",
    );

    let no_template: ClusterDeployment = serde_json::from_value(json!({
        "apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterDeployment",
        "metadata": {"name": "no-template"}, "spec": {"template": ""}}))
    .unwrap();
    assert_refused(
        api.create(&PostParams::default(), &no_template).await,
        "spec.template",
    );
    ns.delete().await;
}

#[tokio::test]
async fn cluster_template_rules_match_kcm() {
    let ns = setup("templates").await;
    let api = ns.api::<ClusterTemplate>();
    let template = |name: &str, helm: serde_json::Value| {
        serde_json::from_value::<ClusterTemplate>(json!({
            "apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterTemplate",
            "metadata": {"name": name}, "spec": {"helm": helm}}))
        .unwrap()
    };
    let chart_spec = json!({"chart": "c", "interval": "10m", "sourceRef": {"kind": "HelmRepository", "name": "r"}});
    let chart_ref = json!({"kind": "HelmChart", "name": "c"});
    let pp = PostParams::default();

    assert_refused(
        api.create(
            &pp,
            &template(
                "two",
                json!({"chartSpec": chart_spec, "chartRef": chart_ref}),
            ),
        )
        .await,
        "chartSpec, chartSource and chartRef are mutually exclusive",
    );
    assert_refused(
        api.create(&pp, &template("none", json!({}))).await,
        "one of chartSpec, chartRef or chartSource must be set",
    );
    assert_refused(
        api.create(
            &pp,
            &template(
                "source",
                json!({"chartSource": {"localSourceRef": {"kind": "ConfigMap", "name": "x"}}}),
            ),
        )
        .await,
        ".spec.helm.chartSource is not supported for ClusterTemplates",
    );
    assert_refused(
        api.create(
            &pp,
            &template(
                "verify",
                json!({"chartSpec": {
            "chart": "c", "interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "r"},
            "verify": {"provider": "cosign"}}}),
            ),
        )
        .await,
        "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
    );
    assert_refused(
        api.create(&pp, &template("interval", json!({"chartSpec": {
            "chart": "c", "interval": "ten minutes", "sourceRef": {"kind": "HelmRepository", "name": "r"}}})))
        .await,
        "spec.helm.chartSpec.interval",
    );

    api.create(&pp, &template("ok", json!({"chartSpec": chart_spec})))
        .await
        .unwrap();
    assert_refused(
        patch_spec(&api, "ok", json!({"k8sVersion": "v1.36.3"})).await,
        "Spec is immutable",
    );
    ns.delete().await;
}
